"""The trade loop's order group (runner/execution/order_group.py): every order of a session goes
into one group on the exchange, the kill switch triggers it from another process even after the
loop was SIGKILLed, a clean stop deletes it, and a group the exchange triggers halts the loop."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import TradeConfig
from kalshi_cli.runner.execution.order_group import (
    SessionGroups,
    end_session_group,
    open_session_group,
)
from kalshi_cli.runner.lifecycle.session_group import join_session_group
from kalshi_cli.services.killswitch.order_groups import session_order_groups
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.errors import ApiError
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.runner.fakes import group_trigger, make_rig
from tests.runner.simproc import (
    Book,
    client_for,
    log_events,
    observer_for,
    trade_command,
    trade_env,
)
from tests.waiting import stderr_tail, wait_until, while_running

TICKER = "KXOGLOOP-SIM-A"


def _event(log: Path, name: str) -> dict[str, object] | None:
    return next((e for e in log_events(log) if e["event"] == name), None)


def _start_loop(sim: SimHarness, tmp_path: Path, *extra: str):
    sim.create_market(TICKER)
    account = sim.new_account(balance_cents=10_000_000)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, TICKER).quote("0.40", "0.60")
    state = tmp_path / "state.db"
    log = tmp_path / "trade.log"
    env = trade_env(account, tmp_path / "home", state)
    command = [*trade_command("market-maker", TICKER, log, "--duration", "120"), *extra]
    return account, other, state, log, env, command


@pytest.mark.slow
def test_cancel_all_triggers_the_group_of_a_sigkilled_loop(sim: SimHarness, tmp_path: Path) -> None:
    account, other, state, log, env, command = _start_loop(sim, tmp_path)
    trader = observer_for(account)  # not the loop's whole read budget
    err = tmp_path / "stderr.txt"
    with (
        err.open("w") as stderr,
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr) as proc,
    ):
        try:
            wait_until(
                lambda: _event(log, "order_group_created") is not None,
                stderr_tail(err),
                between=while_running(proc, err),
            )
            created = _event(log, "order_group_created")
            assert created is not None
            group = str(created["order_group_id"])

            def quoting() -> bool:
                orders = list(trader.orders.iter_orders(ticker=TICKER, status="resting"))
                return bool(orders) and all(o.raw["order_group_id"] == group for o in orders)

            wait_until(quoting, stderr_tail(err), between=while_running(proc, err))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    # nothing cleaned up after the kill: the quotes rest and the group takes orders
    quotes = [o.order_id for o in trader.orders.iter_orders(ticker=TICKER, status="resting")]
    assert quotes
    with Store.open(state) as store:
        assert session_order_groups(store) == [group]

    done = subprocess.run(
        [sys.executable, "-m", "kalshi_cli", "cancel-all", "--yes", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["order_groups_triggered"] == [group]

    # the simulator's word: the group is triggered, its orders cancelled, new ones refused
    for order_id in quotes:
        assert trader.orders.get_order(order_id).status == "canceled"
    with pytest.raises(ApiError) as refused:
        trader.orders.create_order(
            CreateOrder(
                ticker=TICKER,
                book_side=BookSide.BID,
                price=Decimal("0.30"),
                count=Decimal(1),
                order_group_id=group,
            )
        )
    assert (refused.value.status, refused.value.code) == (409, "order_group_triggered")
    other.close()
    trader.close()


@pytest.mark.slow
def test_a_clean_stop_deletes_the_group_and_no_order_group_places_none(
    sim: SimHarness, tmp_path: Path
) -> None:
    account, other, state, log, env, command = _start_loop(sim, tmp_path)
    trader = observer_for(account)  # not the loop's whole read budget
    err = tmp_path / "stderr.txt"
    with (
        err.open("w") as stderr,
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr) as proc,
    ):
        wait_until(
            lambda: bool(list(trader.orders.iter_orders(ticker=TICKER, status="resting"))),
            stderr_tail(err),
            between=while_running(proc, err),
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, err.read_text()[-2000:]
    assert _event(log, "order_group_deleted") is not None
    assert trader.order_groups.list_order_groups() == []
    with Store.open(state) as store:
        assert session_order_groups(store) == []
    first_run = {o.order_id for o in trader.orders.iter_orders(ticker=TICKER)}

    with (
        err.open("w") as stderr,
        subprocess.Popen(
            [*command, "--no-order-group"], env=env, stdout=subprocess.DEVNULL, stderr=stderr
        ) as proc,
    ):
        wait_until(
            lambda: bool(list(trader.orders.iter_orders(ticker=TICKER, status="resting"))),
            stderr_tail(err),
            between=while_running(proc, err),
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, err.read_text()[-2000:]
    placed = [o for o in trader.orders.iter_orders(ticker=TICKER) if o.order_id not in first_run]
    assert placed and all(o.raw["order_group_id"] is None for o in placed)
    assert trader.order_groups.list_order_groups() == []
    other.close()
    trader.close()


def test_a_group_the_exchange_triggered_halts_the_loop(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db", strategy="market-maker")
    me = rig.client.account_id
    group = rig.exchange.groups.create_order_group(me, Decimal(1000)).order_group_id
    rig.loop.executor.answers.order_groups = {0: group}
    rig.step(0.1)
    quotes = [o for o in rig.exchange.history.orders(me) if o.status == "resting"]
    assert quotes and {o.order_group_id for o in quotes} == {group}

    rig.exchange.groups.trigger_order_group(me, group)
    assert all(rig.exchange.history.order(me, o.order_id).status == "canceled" for o in quotes)
    rig.step(0.1)
    assert rig.store.trading.trading_state().state == "HALTED"
    assert rig.loop.log.counts.get("order_group_triggered") == 1
    before = len(rig.client.requests)
    rig.step(0.1)
    assert len(rig.client.requests) == before, "HALTED: nothing more is sent"


def _in_group(group: str) -> CreateOrder:
    return CreateOrder(
        ticker=TICKER,
        book_side=BookSide.BID,
        price=Decimal("0.30"),
        count=Decimal(1),
        order_group_id=group,
    )


@pytest.mark.parametrize(
    "unknown", [["the-lost-order"], []], ids=["an-order-may-still-land", "nothing-may-land"]
)
def test_a_group_kept_after_the_stop_is_triggered_while_a_lost_order_may_still_land(
    sim: SimHarness, tmp_path: Path, unknown: list[str]
) -> None:
    """A review's find: a group kept after the stop (one of the loop's cancels failed, the
    delete failed) stayed live, and the loop's order of unknown outcome landed in it and
    rested. Kept while such an order may still land, it is triggered: the exchange cancels its
    orders and refuses the late one. With nothing that may land, it is only kept, its orders
    left for the kill switch."""
    sim.create_market(TICKER)
    trader = client_for(sim.new_account(balance_cents=10_000_000))
    log_path = tmp_path / "trade.log"
    log = EntryLog(SystemClock(), path=log_path, stderr=None)
    with Store.open(tmp_path / "state.db") as store:
        groups = open_session_group(trader, store, TradeConfig(), log)
        group = groups.by_shard[0]
        # its cancel failed at the stop
        kept = trader.orders.create_order(_in_group(group)).order_id
        end_session_group(trader, store, groups, log, own_resting=1, unknown=unknown)
        assert session_order_groups(store) == [group], "listed for the kill switch"
    log.close()
    if unknown:
        assert trader.orders.get_order(kept).status == "canceled"
        with pytest.raises(ApiError) as refused:
            trader.orders.create_order(_in_group(group))  # the lost order, landing after the stop
        assert (refused.value.status, refused.value.code) == (409, "order_group_triggered")
        triggered = _event(log_path, "order_group_triggered")
        assert triggered is not None and triggered["unknown_left"] == unknown
    else:
        assert trader.orders.get_order(kept).status == "resting"
        assert _event(log_path, "order_group_triggered") is None
    assert _event(log_path, "order_group_deleted") is None
    trader.close()


def test_a_group_deleted_at_the_stop_is_not_triggered_after_it(
    sim: SimHarness, tmp_path: Path
) -> None:
    """None of the loop's orders rests, and one of unknown outcome may still land: the
    group's delete refuses it, so nothing more is asked. Taken as kept, the deleted group was
    triggered too, and the log said the trigger failed while nothing was left to trigger."""
    sim.create_market(TICKER)
    trader = client_for(sim.new_account(balance_cents=10_000_000))
    log_path = tmp_path / "trade.log"
    log = EntryLog(SystemClock(), path=log_path, stderr=None)
    with Store.open(tmp_path / "state.db") as store:
        groups = open_session_group(trader, store, TradeConfig(), log)
        end_session_group(trader, store, groups, log, own_resting=0, unknown=["the-lost-order"])
        assert session_order_groups(store) == []
    log.close()
    assert _event(log_path, "order_group_deleted") is not None
    assert _event(log_path, "order_group_triggered") is None
    assert _event(log_path, "order_group_trigger_failed") is None
    trader.close()


def test_a_stop_given_up_asks_no_trigger_of_its_kept_group(sim: SimHarness, tmp_path: Path) -> None:
    """A second interrupt gave the stop up: the group kept (an order of the loop's still
    rests) is not triggered, though a lost order may still land, as nothing more is asked once
    the person will not wait. It stays listed for the kill switch, its order resting."""
    sim.create_market(TICKER)
    trader = client_for(sim.new_account(balance_cents=10_000_000))
    log_path = tmp_path / "trade.log"
    log = EntryLog(SystemClock(), path=log_path, stderr=None)
    abandon = threading.Event()
    abandon.set()
    with Store.open(tmp_path / "state.db") as store:
        groups = open_session_group(trader, store, TradeConfig(), log)
        group = groups.by_shard[0]
        kept = trader.orders.create_order(_in_group(group)).order_id
        end_session_group(
            trader, store, groups, log, own_resting=1, unknown=["the-lost-order"], abandon=abandon
        )
        assert session_order_groups(store) == [group], "listed for the kill switch"
    log.close()
    assert trader.orders.get_order(kept).status == "resting"
    assert _event(log_path, "order_group_triggered") is None
    trader.close()


def test_a_requote_of_an_earlier_runs_quote_goes_into_the_sessions_group(tmp_path: Path) -> None:
    """A restart adopts the quotes the earlier run left resting (here a run without a group):
    the new session's group does not hold them, and an amend keeps an order where it is. A
    requote of one goes as a cancel and a new order in the group, so once the exchange
    triggers the group (its limit hit, a kill switch) no quote the session moved rests. Before,
    the requote amended it in place, outside the group: it kept resting after the trigger."""
    first = make_rig(tmp_path / "s.db", strategy="market-maker")
    first.step(0.1)
    me = first.client.account_id
    earlier = {
        o.order_id: o.price for o in first.exchange.history.orders(me) if o.status == "resting"
    }
    assert earlier
    first.store.close()
    rig = make_rig(
        tmp_path / "s.db",
        strategy="market-maker",
        exchange=first.exchange,
        clock=first.clock,
        account_id=me,
    )
    assert set(rig.loop.portfolio.orders) == set(earlier), "adopted"
    group = rig.exchange.groups.create_order_group(me, Decimal(1000)).order_group_id
    join_session_group(rig.loop.executor, SessionGroups({0: group}))

    def moved() -> set[str]:
        return {
            order_id
            for order_id, price in earlier.items()
            if (o := rig.exchange.history.order(me, order_id)).status != "resting"
            or o.price != price
        }

    for _ in range(60):
        rig.step(1.0)
        if moved():
            break
    assert moved(), "the market moved and the loop requoted an earlier run's quote"
    rig.step(0.1)  # the new quote placed after its cancel
    resting = [o for o in rig.exchange.history.orders(me) if o.status == "resting"]
    assert any(o.order_group_id == group for o in resting), "the requote, in the group"

    rig.exchange.groups.trigger_order_group(me, group)
    left = {o.order_id: o.price for o in rig.exchange.history.orders(me) if o.status == "resting"}
    assert left, "the earlier run's quotes the session never moved still rest"
    assert all(earlier.get(order_id) == price for order_id, price in left.items())


def test_the_stop_withdraws_an_earlier_runs_quote_the_session_never_moved(tmp_path: Path) -> None:
    """A quote the earlier run left resting, adopted and never requoted, is outside the
    session's group, so the trigger that opens the stop does not cancel it, and the stop,
    its group triggered, sends no batch cancel. Its listing finds the quote still resting and
    cancels it: the stop is proven, nothing of the loop's left."""
    first = make_rig(tmp_path / "s.db", strategy="market-maker")
    first.step(0.1)
    me = first.client.account_id
    earlier = {o.order_id for o in first.exchange.history.orders(me) if o.status == "resting"}
    assert earlier
    first.store.close()
    rig = make_rig(
        tmp_path / "s.db",
        strategy="market-maker",
        exchange=first.exchange,
        clock=first.clock,
        account_id=me,
    )
    assert set(rig.loop.portfolio.orders) == earlier, "adopted"
    group = rig.exchange.groups.create_order_group(me, Decimal(1000)).order_group_id
    join_session_group(rig.loop.executor, SessionGroups({0: group}))
    rig.loop.stop.trigger_group = group_trigger(rig.exchange, me)

    rig.loop.stop.shutdown(cancel_resting=True)  # no pass first: the session never moved them
    assert rig.loop.log.counts.get("stop_group_triggered") == 1
    assert rig.loop.log.counts.get("stop_proven") == 1
    assert rig.loop.stop.not_proven == ()
    for order_id in earlier:
        order = rig.exchange.history.order(me, order_id)
        assert (order.status, order.order_group_id) == ("canceled", None)


def test_a_group_deleted_under_the_loop_halts_it_instead_of_refusal_after_refusal(
    tmp_path: Path,
) -> None:
    """The session's group deleted while the loop runs (`kalshi order-group delete` by hand):
    the exchange cancels its quotes and refuses every order naming it (the simulator's 400
    `invalid_order_group`). The loop halts at the first refusal, says why, and sends nothing
    more. Before, it took each for an ordinary refusal (which the API error guard does not
    count) and sent its quotes again on every pass, each refused, for as long as it ran."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker")
    me = rig.client.account_id
    group = rig.exchange.groups.create_order_group(me, Decimal(1000)).order_group_id
    join_session_group(rig.loop.executor, SessionGroups({0: group}))
    rig.step(0.1)
    assert any(o.status == "resting" for o in rig.exchange.history.orders(me))

    rig.exchange.groups.delete_order_group(me, group)
    rig.step(0.1)
    assert rig.store.trading.trading_state().state == "HALTED"
    assert group in (rig.store.trading.trading_state().reason or "")
    assert rig.loop.log.counts.get("order_group_gone") == 1
    before = len(rig.client.requests)
    for _ in range(5):
        rig.step(1.0)
    assert len(rig.client.requests) == before, "HALTED: nothing more is sent"

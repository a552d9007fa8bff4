"""A market that settles while the trade loop runs: the loop books the settlement as a restart
would book it from the state file. The account's position there ends (no exposure left on a
market that paid out), each strategy's part is closed at the payout and its day counts the loss
(its daily loss limit stops it), the account's day counts it (the daily circuit breaker), and
`kalshi pnl --by strategy` adds up to the account's realized P&L and the cash it moved.

On the old code the running loop never read a settlement: the settled market's 12 YES stayed
in its books at their cost ($5.40 of exposure), each strategy's day held only its fees, and the
account's day did not count the $5.40 lost until a restart."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.services.owner_parts import realized_by_owner
from kalshi_cli.services.pnl import summarize_store
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, utc_day
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce
from tests.runner.crash_rig import copy_committed, restart
from tests.runner.fakes import START, Rig, make_rig, new_exchange, swap_decide, trader
from tests.runner.test_strategies_share_a_loop import (
    MM,
    MR,
    Recorder,
    _hand_buy,
    _log,
    _order,
    _rig,
)
from tests.runner.test_strategy_scenarios import SCENARIO, TICKER, Mover

D = Decimal
LAL = "KXNBAGAME-SIM-LALGSW-LAL"


def _bought(rig: Rig, mm: str, mr: str) -> None:
    """Market-maker buys `mm` YES and mean-reversion `mr` at 0.45 (taking the ask); a person
    buys 2 by hand."""
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.45", mm, TimeInForce.IOC)), MM)
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.45", mr, TimeInForce.IOC)), MR)
    rig.step(1.0)
    rig.step(1.0)
    _hand_buy(rig, "0.45", "2")
    rig.step(1.0)
    assert rig.loop.portfolio.view_for(TICKER, MM).position == D(mm)
    assert rig.loop.portfolio.view_for(TICKER, MR).position == D(mr)


def _fees(store: Store, strategy: str | None) -> Decimal:
    return sum((f.fee for f in store.fills.iter_fills() if f.strategy == strategy), D(0))


@pytest.mark.parametrize("result", ["no", "yes"])
def test_a_market_settling_while_the_loop_runs_is_booked_for_each_strategy(
    tmp_path: Path, result: Any
) -> None:
    clock = ManualClock(START)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    exchange = new_exchange(scenario, clock)
    account = trader(exchange)
    cash = exchange.accounts.cash_dollars(account)
    rig = _rig(tmp_path, MM, MR, clock=clock, exchange=exchange, account_id=account)
    Mover(exchange).quote("0.40", "0.45")
    _bought(rig, "6", "4")
    exchange.settlement.settle(TICKER, result)
    rig.step(1.0)
    rig.step(1.0)

    portfolio, store = rig.loop.portfolio, rig.store
    today = utc_day(clock.wall())
    paid = D(1) if result == "yes" else D(0)
    assert portfolio.position(TICKER) == 0
    assert portfolio.total_exposure() == 0
    for name, count in ((MM, 6), (MR, 4)):
        expected = count * (paid - D("0.45")) - _fees(store, name)
        assert portfolio.owners.realized_today(name, today) == expected, name
    (settlement,) = store.settlements.read()
    assert settlement.ticker == TICKER
    # the account's day (the daily circuit breaker's) counts what the settlement realized
    fills_net = sum((f.realized_pnl or D(0) for f in store.fills.iter_fills()), D(0))
    account_day = fills_net + settlement.realized_pnl
    assert store.trading.daily_realized_pnl(today) == account_day
    assert rig.loop.questions.records.daily_realized_pnl(today) == account_day
    assert portfolio.pnl.realized == account_day

    # `kalshi pnl` sums the account's realized P&L, which is the cash it gained or lost, and
    # `--by strategy` each strategy's own part, as its limit reads it
    assert summarize_store(store).realized == account_day
    assert exchange.accounts.cash_dollars(account) - cash == account_day
    owned = realized_by_owner(store)
    assert {name: owned[name] for name in (MM, MR)} == {
        name: portfolio.owners.realized_today(name, today) for name in (MM, MR)
    }

    # a loop started again on the same state file holds the same books
    rig.store.close()
    again = _rig(tmp_path, MM, MR, clock=clock, exchange=exchange, account_id=account)
    for name in (MM, MR):
        assert again.loop.portfolio.owners.realized_today(
            name, today
        ) == portfolio.owners.realized_today(name, today)
    assert again.loop.portfolio.position(TICKER) == 0
    assert len(again.store.settlements.read()) == 1


def test_a_strategy_whose_contracts_settle_at_nothing_is_stopped_at_its_daily_limit(
    tmp_path: Path,
) -> None:
    """Market-maker's 6 YES at 0.45 settle NO: it lost $2.70 and its fees, past its daily loss
    limit of $2.50, though no fill of its own lost it. Mean-reversion's $1.80 is under its own
    limit of $2."""
    log = tmp_path / "log.jsonl"
    budgets = {MM: {"daily_loss_limit": "2.50"}, MR: {"daily_loss_limit": "2"}}
    rig = _rig(tmp_path, MM, MR, trade={"budgets": budgets}, log_path=log)
    Mover(rig.exchange).quote("0.40", "0.45")
    _bought(rig, "6", "4")
    assert rig.loop.log.counts.get("strategy_stopped", 0) == 0
    rig.exchange.settlement.settle(TICKER, "no")
    rig.step(1.0)
    rig.step(1.0)
    (stopped,) = _log(rig, log, "strategy_stopped")
    assert stopped["strategy"] == MM


def test_a_settlement_not_listed_yet_is_read_again_until_it_is(tmp_path: Path) -> None:
    """Kalshi may announce a result before it lists the payout (reads lag writes, and a market
    is determined before it settles): the loop keeps reading the market's settlement with its
    fill reads until it is listed, and books it once."""
    rig = _rig(tmp_path, MM, MR)
    Mover(rig.exchange).quote("0.40", "0.45")
    _bought(rig, "6", "4")
    listing = rig.client.iter_settlements
    asked: list[Any] = []

    def not_yet(**kw: Any) -> Any:
        asked.append(kw)
        return iter(()) if len(asked) <= 2 else listing(**kw)

    rig.client.iter_settlements = not_yet  # type: ignore[method-assign]
    rig.exchange.settlement.settle(TICKER, "no")
    rig.step(1.0)
    assert asked and rig.loop.portfolio.position(TICKER) == 12
    for _ in range(20):  # the fills' fallback read comes every few seconds
        rig.step(1.0)
    assert rig.loop.portfolio.position(TICKER) == 0
    assert asked[0] == {"ticker": TICKER, "subaccount": 0}
    assert len(asked) == 3, "read until listed, then no more"
    assert len(rig.store.settlements.read()) == 1
    today = utc_day(rig.clock.wall())
    assert rig.loop.portfolio.owners.realized_today(MM, today) == -D("2.70") - _fees(rig.store, MM)


def test_a_settlement_another_process_copied_first_is_still_booked_once(tmp_path: Path) -> None:
    """`kalshi pnl` in another terminal copies the settlement into the state file before the
    loop reads it: the loop still books it into its own books, and the account's day counts
    it once."""
    from kalshi_cli.services.reconcile import catch_up

    rig = _rig(tmp_path, MM, MR)
    Mover(rig.exchange).quote("0.40", "0.45")
    _bought(rig, "6", "4")
    today = utc_day(rig.clock.wall())
    before = rig.loop.questions.records.daily_realized_pnl(today)  # kept by the loop from here
    rig.exchange.settlement.settle(TICKER, "no")
    with Store.open(tmp_path / "state.db", clock=rig.clock) as other:
        catch_up(rig.client, other, now=rig.clock.wall())
    rig.step(1.0)
    rig.step(1.0)
    (settlement,) = rig.store.settlements.read()
    assert rig.loop.portfolio.position(TICKER) == 0
    assert rig.loop.questions.records.daily_realized_pnl(today) == before + settlement.realized_pnl
    assert rig.loop.portfolio.owners.realized_today(MR, today) == -D("1.80") - _fees(rig.store, MR)


def test_a_market_settling_where_the_loop_holds_nothing_costs_no_settlement_read(
    tmp_path: Path,
) -> None:
    """A series of hundreds of markets settles at once: the loop lists the settlement only of
    a market where the account holds contracts (nothing else pays it or costs it), not one
    read per market announced; a market still held after its fills are read is asked."""
    rig = _rig(tmp_path, MM, MR)
    Mover(rig.exchange).quote("0.40", "0.45")
    swap_decide(rig.loop, Recorder(), MM)
    swap_decide(rig.loop, Recorder(), MR)
    rig.step(1.0)
    listing = rig.client.iter_settlements
    asked: list[Any] = []

    def counted(**kw: Any) -> Any:
        asked.append(kw)
        return listing(**kw)

    rig.client.iter_settlements = counted  # type: ignore[method-assign]
    rig.exchange.settlement.settle(TICKER, "no")
    for _ in range(12):  # past the fills' fallback read
        rig.step(1.0)
    assert rig.loop.portfolio.position(TICKER) == 0
    assert asked == []
    assert rig.loop.executor.fills.settlements.awaited == set()


def test_a_settlement_another_process_copied_is_not_counted_twice_once_the_day_is_read_again(
    tmp_path: Path,
) -> None:
    """The loop reads the day's P&L again after `kalshi pnl` in another terminal copied the
    settlement (the circuit breaker asks it every tick): the day then holds the settlement
    already, and the loop's own read of it must not add it a second time."""
    from kalshi_cli.services.reconcile import catch_up

    rig = _rig(tmp_path, MM, MR)
    Mover(rig.exchange).quote("0.40", "0.45")
    _bought(rig, "6", "4")
    today = utc_day(rig.clock.wall())
    rig.exchange.settlement.settle(TICKER, "no")
    with Store.open(tmp_path / "state.db", clock=rig.clock) as other:
        catch_up(rig.client, other, now=rig.clock.wall())
    records = rig.loop.questions.records
    with records.tick(full=True):  # another connection's commit seen, the day read again
        in_file = records.daily_realized_pnl(today)
    rig.step(1.0)
    rig.step(1.0)
    assert rig.loop.portfolio.position(TICKER) == 0
    assert len(rig.store.settlements.read()) == 1
    assert (
        records.daily_realized_pnl(today) == in_file == rig.store.trading.daily_realized_pnl(today)
    )


def test_a_settlement_waits_for_the_fill_held_for_its_orders_answer(tmp_path: Path) -> None:
    """The strategy's 3 YES were listed before its order's answer was booked, and the market
    settles meanwhile: its settlement is booked after that fill (a settlement comes after
    every fill of its market), so the account and the strategy end flat, the strategy's part
    paid out. Booked first, it would close only the person's 2 and leave the strategy's 3
    held in a market that no longer trades."""
    from kalshi_cli.vocabulary.clock import SystemClock
    from tests.runner.execution.test_fill_read_before_its_answer import (
        _a_buy_listed_before_its_answer,
    )
    from tests.waiting import poll_until

    with _a_buy_listed_before_its_answer(tmp_path, hand_bought=2) as (rig, ticker, release):
        dispatch, fills = rig.loop.dispatch, rig.loop.executor.fills
        assert {f.ticker for f in fills.held.values()} == {ticker}
        rig.exchange.settlement.settle(ticker, "no")
        fills.settlements.result_known(ticker)
        fills.read_for()  # lists the settlement, and waits for the held fill to book it
        assert poll_until(lambda: dispatch.answered)
        dispatch.drain()
        assert ticker in fills.settlements.awaited
        release.set()  # the order's answer comes back, and asks for a read
        for _ in range(2):
            assert dispatch.settle(SystemClock(), 30)
            dispatch.drain()
    today = utc_day(rig.clock.wall())
    assert fills.held == {}
    assert rig.loop.portfolio.position(ticker) == 0
    assert rig.loop.portfolio.view_for(ticker, "market-maker").position == 0
    (settlement,) = rig.store.settlements.read()
    assert settlement.yes_count == 5
    bought = sum(
        (
            f.yes_price * f.count + f.fee
            for f in rig.store.fills.read()
            if f.strategy == "market-maker"
        ),
        D(0),
    )
    assert rig.loop.portfolio.owners.realized_today("market-maker", today) == -bought


def test_a_settlement_of_contracts_told_filled_and_not_read_yet_is_awaited_until_listed(
    tmp_path: Path,
) -> None:
    """A bid takes HOLD's ask at once while a fill read made before it is out; HOLD settles,
    and that read comes back listing neither the fill nor a settlement. The account holds the
    10 YES told filled all the same, so the settlement is awaited until a read lists it, and
    booked after the fill: the account ends flat, the strategy's part paid out."""
    from kalshi_cli.vocabulary.clock import SystemClock
    from tests.runner.execution.test_limits_count_fills_not_yet_read import (
        HOLD,
        RISK,
        _bid,
        _until_booked,
    )
    from tests.runner.fakes import quiet_market_maker

    rig = quiet_market_maker(tmp_path, risk=RISK, send_workers=2)
    fills, dispatch = rig.loop.executor.fills, rig.loop.dispatch
    made, release = threading.Event(), threading.Event()
    listed = rig.client.iter_fills

    def held(**kw: Any) -> Any:
        seen = list(listed(**kw))  # as the exchange lists them when the read is made
        made.set()
        release.wait(30)
        return iter(seen)

    rig.client.iter_fills = held  # type: ignore[method-assign]
    once = [_bid(HOLD, "0.62", 10, time_in_force=TimeInForce.IOC)]
    swap_decide(rig.loop, lambda snap, pos, params: [once.pop()] if once else [])
    try:
        fills.read_for()
        assert made.wait(30), "the read was made before the bid"
        rig.step(0.5)
        _until_booked(rig, "order_placed")
        view = rig.loop.portfolio.view(HOLD)
        assert (view.position, sum(o.remaining for o in view.unbooked)) == (0, 10)
        rig.exchange.settlement.settle(HOLD, "no")
        rig.step(0.5)
    finally:
        release.set()
    rig.client.iter_fills = listed  # type: ignore[method-assign]
    for _ in range(12):  # past the fills' fallback read
        while dispatch.in_flight:
            assert dispatch.settle(SystemClock(), 30)
        rig.step(1.0)
    dispatch.close()
    assert rig.loop.portfolio.position(HOLD) == 0
    (settlement,) = rig.store.settlements.read()
    assert settlement.yes_count == 10
    today = utc_day(rig.clock.wall())
    paid = D("6.20") + _fees(rig.store, "market-maker")
    assert rig.loop.portfolio.owners.realized_today("market-maker", today) == -paid


@pytest.mark.parametrize("told", ["by its message", "by the read after a gap"])
def test_a_market_that_closed_while_the_loop_was_down_is_booked_when_it_settles(
    tmp_path: Path, told: str
) -> None:
    """Spike holds 10 YES of LAL when the loop is killed; LAL closes before the next start (a
    market awaiting its result: an hourly crypto market is for minutes), so the restarted loop
    does not trade it, and it settles NO while that loop runs. The loop must book the settlement
    as it books one of a market it trades: the account's day (the daily circuit breaker's) and
    Spike's (its daily loss limit's) count the $5.10 it cost, and the contracts leave the exposure.
    On the old code the restarted loop followed only the markets it trades: the settlement was
    never read, the day lacked the loss, and the 10 YES stayed in its books until the next
    start. Its result lost in a lifecycle gap is found by the read the gap makes, as a traded
    market's is."""
    state, left = tmp_path / "state.db", tmp_path / "left.db"
    rig = make_rig(state, strategy="spike", params={"spike_share": 5})
    swap_decide(rig.loop, lambda *_: [])
    rig.step(0.5)
    buy = Intent(
        LAL, Side.YES, Action.BUY, D("0.70"), D(10), D("0.75"), "a buy",
        strategy="spike", time_in_force=TimeInForce.IOC,
    )  # fmt: skip
    assert rig.loop.executor.execute(buy, last_data_at=rig.clock.wall())
    rig.step(1.0)
    assert rig.loop.portfolio.view_for(LAL, "spike").position == 10
    copy_committed(state, left)  # killed here
    rig.exchange.settlement.set_market_status(LAL, "closed")
    rig.clock.advance(5.0)

    again = restart(rig, left, strategies=("spike",))
    swap_decide(again.loop, lambda *_: [])
    assert LAL not in again.loop.portfolio.markets
    assert LAL in again.feed.followed  # the feed passes its lifecycle on
    again.step(1.0)
    rig.exchange.settlement.settle(LAL, "no")
    if told == "by the read after a gap":
        again.feed.messages = [
            e for e in again.feed.messages if e.kind is not MessageKind.LIFECYCLE
        ]
        again.feed.messages.append(FeedMessage(MessageKind.GAP, reason="market_lifecycle_v2"))
    for _ in range(3):
        again.step(1.0)

    store, portfolio = again.store, again.loop.portfolio
    (settlement,) = store.settlements.read()
    assert settlement.ticker == LAL
    today = utc_day(rig.clock.wall())
    fills_net = sum((f.realized_pnl or D(0) for f in store.fills.iter_fills()), D(0))
    assert store.trading.daily_realized_pnl(today) == fills_net + settlement.realized_pnl
    assert (
        again.loop.questions.records.daily_realized_pnl(today)
        == fills_net + settlement.realized_pnl
    )
    cost = sum((f.count * f.yes_price for f in store.fills.iter_fills()), D(0))
    assert cost == D("5.10")  # 10 at the book's ask, 0.51, every fill the strategy's
    assert portfolio.owners.realized_today("spike", today) == -cost - _fees(store, "spike")
    assert portfolio.position(LAL) == 0
    assert portfolio.total_exposure() == 0

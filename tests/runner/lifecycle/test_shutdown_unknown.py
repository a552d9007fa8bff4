"""A `kalshi trade` stopped (SIGTERM) while one of its orders is of unknown outcome (its answer
lost, the request still in the network) must not leave that order resting once it lands: the
shutdown cancels the orders the loop placed, and an order the loop sent is one of them whether
its answer came back or not. Without an order group (`--no-order-group`) nothing on the
exchange's side stops it, so the loop itself must see it through."""

from __future__ import annotations

import signal
import subprocess
import threading
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from kalshi_cli.client.client import LANDING_WINDOW_S
from kalshi_cli.runner.execution.stop_shares import STOP_SHARES
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.errors import ApiError, ServerError
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.runner.fakes import Held, Rig, group_trigger, make_rig
from tests.runner.sim_rig import rig
from tests.runner.simproc import (
    Book,
    client_for,
    log_events,
    observer_for,
    trade_command,
    trade_env,
)
from tests.waiting import poll_until, stderr_tail, wait_until, while_running

TICKER = "KXSTOPUNK-SIM-A"


def _events(log: Path, name: str) -> list[dict[str, object]]:
    return [e for e in log_events(log) if e["event"] == name]


def _lost(log: Path) -> set[str]:
    """The orders of unknown outcome the stopped loop logged: the one request held in the
    network carried the market maker's bid and ask, as one batch."""
    lost = {str(e["client_order_id"]) for e in _events(log, "order_unknown")}
    assert lost
    return lost


@pytest.mark.slow
def test_sigterm_while_an_order_is_in_the_network_leaves_nothing_resting_when_it_lands(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The loop's first create is held in the network (the client gives up after 1 s) until
    the stopping loop waits for it; SIGTERM comes while it is held. A stop that cancelled only
    the orders whose answers it had exited 0 saying `resting orders 0`, and the held order
    landed and rested with nobody managing it."""
    sim.create_market(TICKER)
    account = sim.new_account(balance_cents=10_000_000)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, TICKER).quote("0.40", "0.60")
    trader = observer_for(account)  # not the loop's whole read budget
    state, log, err = tmp_path / "state.db", tmp_path / "trade.log", tmp_path / "stderr.txt"
    env = {**trade_env(account, tmp_path / "home", state), "KALSHI_TIMEOUT": "1"}
    command = [
        *trade_command("market-maker", TICKER, log, "--duration", "120"),
        "--no-order-group",
    ]
    sim.set_faults(hold_request_s=600)  # cleared once the stop waits for it
    try:
        with (
            err.open("w") as stderr,
            subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr) as proc,
        ):
            try:
                wait_until(
                    lambda: bool(_events(log, "order_unknown")),
                    stderr_tail(err),
                    between=while_running(proc, err),
                )
                proc.send_signal(signal.SIGTERM)
                wait_until(
                    lambda: bool(_events(log, "shutdown_waits_unknown")),
                    stderr_tail(err),
                    between=while_running(proc, err),
                )
                sim.clear_faults()  # the held request reaches the exchange while it waits
                assert proc.wait(timeout=90) == 0, err.read_text()[-2000:]
            finally:
                if proc.poll() is None:
                    proc.kill()
        lost = _lost(log)
        wait_until(
            lambda: lost <= {o.client_order_id for o in trader.orders.iter_orders(ticker=TICKER)},
            stderr_tail(err),
        )
        resting = [o for o in trader.orders.iter_orders(ticker=TICKER, status="resting")]
        assert resting == [], f"left resting after the loop stopped: {resting}"
        with Store.open(state) as store:
            intents = [store.orders.get_intent(coid) for coid in lost]
        assert all(i is not None and i.status == "canceled" for i in intents), intents
    finally:
        other.close()
        trader.close()


# the default cap of orders a minute is no part of these tests
RISK = {"max_orders_per_minute": 1000}


# a stop deadline longer than an order's landing window, for the tests of that wait (the
# default 20 s ends the wait first: see the test of the stop deadline below)
PAST_THE_WINDOW = {"stop_deadline_s": LANDING_WINDOW_S + 20}


def _lose_next_create(rig: Rig, error: str | Held, *, lookups_missing: int = 0) -> str:
    """Quote once, then lose the answer of the loop's next create; returns its client order
    id, left unknown in the loop."""
    rig.step(0.1)
    rig.client.create_errors.append(error)
    rig.client.lookup_errors.extend(["missing"] * lookups_missing)
    sent = len(rig.client.requests)
    while len(rig.client.requests) == sent:
        rig.step(0.5)
    coid = rig.client.requests[sent].client_order_id
    assert coid in rig.loop.executor.unknown_orders.unknown
    return coid


def test_an_order_found_only_at_shutdown_is_cancelled(tmp_path: Path) -> None:
    """The exchange took the order, its answer was lost and the lookups did not show it yet
    (reads lag writes): the shutdown looks again until it shows, then cancels it."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK)
    coid = _lose_next_create(rig, "unknown", lookups_missing=3)
    rig.loop.stop.shutdown(cancel_resting=True)
    me = rig.client.account_id
    assert [o.order_id for o in rig.exchange.history.orders(me) if o.status == "resting"] == []
    (order,) = [o for o in rig.exchange.history.orders(me) if o.client_order_id == coid]
    assert order.status == "canceled"
    assert rig.store.orders.get_intent(coid).status == "canceled"
    assert rig.loop.log.counts.get("shutdown_waits_unknown") == 1


def test_an_order_that_never_lands_is_waited_for_only_until_it_cannot(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK, settings=PAST_THE_WINDOW)
    coid = _lose_next_create(rig, Held(10_000.0))  # lost for good
    failed_at = rig.loop.executor.unknown_orders.unknown[coid].since
    summary = rig.loop.stop.shutdown(cancel_resting=True)
    assert rig.clock.monotonic() - failed_at >= LANDING_WINDOW_S
    assert rig.store.orders.get_intent(coid).status == "rejected"
    assert rig.loop.executor.unknown_orders.unknown == {}
    assert summary.not_proven == ()  # it can no longer land: proven


def test_the_stop_deadline_ends_the_wait_and_names_the_order(tmp_path: Path) -> None:
    """The wait for an order that may still land is held to the stop's one deadline (20 s by
    default, inside the shipped unit's 30 s), not LANDING_WINDOW_S: the stop ends then and
    names the order it could not prove gone, for `kalshi trade` to exit 11 on."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK)
    coid = _lose_next_create(rig, Held(10_000.0))
    started = rig.clock.monotonic()
    summary = rig.loop.stop.shutdown(cancel_resting=True)
    assert rig.clock.monotonic() - started <= rig.loop.settings.stop_deadline_s
    assert summary.not_proven == (coid,)
    assert rig.store.orders.get_intent(coid).status == "unknown", "kalshi reconcile settles it"
    assert rig.loop.log.counts.get("stop_not_proven") == 1


@pytest.mark.parametrize("deadline", [20.0, 1.0])
def test_the_wait_for_an_order_of_unknown_outcome_leaves_the_proof_its_share_of_the_deadline(
    tmp_path: Path, deadline: float
) -> None:
    """A wait that could last the whole deadline (an order that never lands) ends where the
    proof's share of it begins, with the default deadline and with a short one: the proving
    listing always has time to look, however slowly the withdrawal goes. The withdrawal once
    ran under the whole deadline and left the proof nothing against an exchange answering
    slowly."""
    rig = make_rig(
        tmp_path / "s.db",
        strategy="market-maker",
        risk=RISK,
        settings={"stop_deadline_s": deadline},
    )
    _lose_next_create(rig, Held(10_000.0))
    started = rig.clock.monotonic()
    rig.loop.stop.shutdown(cancel_resting=True)
    left = deadline - (rig.clock.monotonic() - started)
    kept = min(STOP_SHARES.proof_most_s, deadline * STOP_SHARES.proof)
    assert left >= kept - 1e-9  # (the manual clock's float sums)
    assert rig.loop.log.counts.get("stop_not_proven") == 1, "and the proof looked"


def test_a_second_interrupt_stops_the_wait_and_leaves_the_order_unknown(tmp_path: Path) -> None:
    """Given up, the order that may still land is not proven gone: the stop names it, so
    `kalshi trade` exits 11 (on the old code it exited 0 with the order free to land)."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK)
    coid = _lose_next_create(rig, Held(10_000.0))
    me = rig.client.account_id
    abandon = threading.Event()
    lookup = rig.client.find_order_by_client_id

    def interrupted(client_order_id: str, ticker: str) -> Order | None:
        abandon.set()  # the person presses Ctrl-C again while the stop waits
        return lookup(client_order_id, ticker)

    rig.client.find_order_by_client_id = interrupted  # type: ignore[method-assign]
    before = rig.clock.monotonic()
    summary = rig.loop.stop.shutdown(cancel_resting=True, abandon=abandon)
    assert rig.clock.monotonic() - before <= 1.0, "the wait ends at the next look"
    assert summary.not_proven == (coid,)
    assert rig.store.orders.get_intent(coid).status == "unknown", "kalshi reconcile settles it"
    assert rig.loop.log.counts.get("shutdown_abandoned") == 1
    assert [o for o in rig.exchange.history.orders(me) if o.status == "resting"] == [], (
        "the known quotes were cancelled before the wait"
    )


def test_a_stop_given_up_reads_no_fills_again(tmp_path: Path) -> None:
    """A second interrupt gives the stop up: the person will not wait for an exchange that
    answers slowly, so its last read of the fills is not made either (it would wait on the
    same exchange)."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK)
    _lose_next_create(rig, Held(10_000.0))
    abandon = threading.Event()
    lookup = rig.client.find_order_by_client_id

    def interrupted(client_order_id: str, ticker: str) -> Order | None:
        abandon.set()  # the person presses Ctrl-C again while the stop waits
        return lookup(client_order_id, ticker)

    rig.client.find_order_by_client_id = interrupted  # type: ignore[method-assign]
    rig.client.fills_error = ServerError("down", status=503)  # a read made would say so
    summary = rig.loop.stop.shutdown(cancel_resting=True, abandon=abandon)
    assert summary.unlisted
    assert rig.loop.log.counts.get("fill_sync_failed") is None, "no read of the fills was made"


def test_a_stop_given_up_with_the_group_triggered_does_not_name_the_order_it_refuses(
    tmp_path: Path,
) -> None:
    """Given up right after the session's order group was triggered: the order of unknown
    outcome, which the triggered group refuses when it lands, is not named; the quotes the
    trigger cancelled, which no listing showed gone, are."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK)
    me = rig.client.account_id
    group = rig.exchange.groups.create_order_group(me, Decimal(1000)).order_group_id
    rig.loop.executor.answers.order_groups = {0: group}
    abandon = threading.Event()

    def trigger_then_interrupted(group: str, *, exchange_index: int | None = None) -> None:
        rig.exchange.groups.trigger_order_group(me, group)
        abandon.set()  # the person presses Ctrl-C again

    rig.loop.stop.trigger_group = trigger_then_interrupted
    coid = _lose_next_create(rig, Held(5.0))
    quotes = {o.order_id for o in rig.loop.stop.own.resting()}
    assert quotes
    summary = rig.loop.stop.shutdown(cancel_resting=True, abandon=abandon)
    assert set(summary.not_proven) == quotes
    assert coid not in summary.not_proven
    # one line says the stop was given up, naming the quotes: the order the group refuses is
    # not looked up once the person interrupted again, nor said left
    assert rig.loop.log.counts.get("shutdown_abandoned") == 1


def test_an_exchange_that_does_not_answer_the_lookups_bounds_the_wait(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK, settings=PAST_THE_WINDOW)
    coid = _lose_next_create(rig, Held(10_000.0))
    failed_at = rig.loop.executor.unknown_orders.unknown[coid].since
    rig.client.lookup_errors.extend([ServerError("down", status=503)] * 1000)
    rig.loop.stop.shutdown(cancel_resting=True)
    waited = rig.clock.monotonic() - failed_at
    assert LANDING_WINDOW_S <= waited < LANDING_WINDOW_S + 5, "no longer than the window"
    assert rig.store.orders.get_intent(coid).status == "unknown", "kalshi reconcile settles it"
    assert rig.loop.log.counts.get("shutdown_unknown_left") == 1


def test_the_known_quotes_are_cancelled_before_the_wait(tmp_path: Path) -> None:
    """The wait for an order of unknown outcome can take LANDING_WINDOW_S, longer than a
    service manager waits after its stop signal (the shipped unit: 30 s, then SIGKILL): the
    quotes whose answers the loop has are cancelled first."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK, settings=PAST_THE_WINDOW)
    coid = _lose_next_create(rig, Held(10_000.0))
    me = rig.client.account_id
    quotes = [o.order_id for o in rig.exchange.history.orders(me) if o.status == "resting"]
    assert quotes, "the loop has quotes resting besides the lost order"
    resting_at_first_lookup: list[list[str]] = []
    lookup = rig.client.find_order_by_client_id

    def watched(client_order_id: str, ticker: str) -> Order | None:
        if not resting_at_first_lookup:
            resting_at_first_lookup.append(
                [o.order_id for o in rig.exchange.history.orders(me) if o.status == "resting"]
            )
        return lookup(client_order_id, ticker)

    rig.client.find_order_by_client_id = watched  # type: ignore[method-assign]
    rig.loop.stop.shutdown(cancel_resting=True)
    assert resting_at_first_lookup == [[]], "the quotes were cancelled before the wait began"
    assert rig.store.orders.get_intent(coid).status == "rejected"


def test_with_the_sessions_order_group_the_stop_looks_once_and_does_not_wait(
    tmp_path: Path,
) -> None:
    """The group is deleted after a clean stop and the exchange refuses an order that lands in
    a deleted group (tests/runner/execution/test_order_group_session.py), so the stop stays
    quick."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK)
    coid = _lose_next_create(rig, Held(10_000.0))
    rig.loop.executor.answers.order_groups = {0: "the-session-group"}
    before = rig.clock.monotonic()
    rig.loop.stop.shutdown(cancel_resting=True)
    assert rig.clock.monotonic() == before, "no wait"
    assert rig.store.orders.get_intent(coid).status == "unknown", "kalshi reconcile settles it"
    assert rig.loop.log.counts.get("shutdown_unknown_left") == 1, "what the look left is said"


def test_with_the_group_triggered_an_order_of_unknown_outcome_the_listing_lacks_is_proven_gone(
    tmp_path: Path,
) -> None:
    """The stop triggered the session's order group while an order of the loop's was still in
    the network: the exchange refuses it when it lands, so a proving listing that does not
    show it proves it gone, and the stop is proven (exit 0). Naming it anyway (as a stop
    without a group must) would make every clean stop with the group exit 11."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK)
    me = rig.client.account_id
    group = rig.exchange.groups.create_order_group(me, Decimal(1000)).order_group_id
    rig.loop.executor.answers.order_groups = {0: group}
    rig.loop.stop.trigger_group = group_trigger(rig.exchange, me)
    coid = _lose_next_create(rig, Held(5.0))
    summary = rig.loop.stop.shutdown(cancel_resting=True)
    assert rig.loop.log.counts.get("stop_group_triggered") == 1
    assert summary.not_proven == ()
    assert rig.loop.log.counts.get("stop_proven") == 1
    rig.clock.advance(5.0)
    with pytest.raises(ApiError) as refused:
        rig.client.deliver_held()  # the held order lands after the stop
    assert refused.value.code == "order_group_triggered"
    assert coid not in {o.client_order_id for o in rig.exchange.history.orders(me)}
    assert [o for o in rig.exchange.history.orders(me) if o.status == "resting"] == []


@pytest.mark.slow
def test_sigterm_with_the_group_and_an_order_placed_by_hand_leaves_nothing_of_the_loop_resting(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The loop's first create held in the network under the default order group, and an
    order placed by hand resting: the stop looks once (the lost order is not there yet),
    deletes the group, exits 0 at once; the held request reaches the exchange after the stop
    and is refused (its group no longer exists), and the hand-placed order is left alone. The
    group's deletion is decided on the loop's own orders (a hand-placed one is not in the
    group): deleted only when no order at all rested, the group was kept live and the lost
    order landed in it and rested."""
    sim.create_market(TICKER)
    account = sim.new_account(balance_cents=10_000_000)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, TICKER).quote("0.40", "0.60")
    trader = observer_for(account)  # not the loop's whole read budget
    # the person's own order, far from the market: the loop must leave it alone
    by_hand = Book(trader, TICKER).order(BookSide.BID, "0.05", "1", TimeInForce.GTC)
    log, err = tmp_path / "trade.log", tmp_path / "stderr.txt"
    env = {**trade_env(account, tmp_path / "home", tmp_path / "state.db"), "KALSHI_TIMEOUT": "1"}
    command = trade_command("market-maker", TICKER, log, "--duration", "120")
    # the loop's first create is held, set before the loop starts (a hold set once the group
    # was created raced the loop's two quotes), until the loop has exited: the test clears it
    sim.set_faults(hold_request_s=600)
    try:
        with (
            err.open("w") as stderr,
            subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr) as proc,
        ):
            try:
                wait_until(
                    lambda: bool(_events(log, "order_unknown")),
                    stderr_tail(err),
                    between=while_running(proc, err),
                )
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=90) == 0, err.read_text()[-2000:]
            finally:
                if proc.poll() is None:
                    proc.kill()
        creates = sim.stats()["order_create_requests"]
        sim.clear_faults()  # the held request reaches the exchange after the stop
        wait_until(lambda: sim.stats()["order_create_requests"] > creates, stderr_tail(err))
        resting = list(trader.orders.iter_orders(ticker=TICKER, status="resting"))
        groups = [e["event"] for e in log_events(log) if str(e["event"]).startswith("order_group")]
        assert [o.order_id for o in resting] == [by_hand], (
            f"the loop's lost order landed after the stop and rests: {resting}; group: {groups}"
        )
        lost = _lost(log)
        # refused, not placed and cancelled: its group was gone when it arrived
        assert not any(o.client_order_id in lost for o in trader.orders.iter_orders(ticker=TICKER))
        assert groups[-1] == "order_group_deleted"
    finally:
        other.close()
        trader.close()


class LostCreates(httpx.HTTPTransport):
    """The real transport; the order requests of market `landed` reach the exchange
    `LANDS_AFTER_S` late, after the client gave up on their answers; those of market `never`
    are lost before they reach it."""

    def __init__(self, landed: str, never: str) -> None:
        super().__init__()
        self.landed, self.never = landed, never
        self.arrived = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and "/portfolio/events/orders" in request.url.path:
            if self.landed.encode() in request.content:
                threading.Timer(LANDS_AFTER_S, self._arrive, (request,)).start()
                raise httpx.ReadTimeout("no answer", request=request)
            if self.never.encode() in request.content:
                raise httpx.ReadTimeout("no answer", request=request)
        return super().handle_request(request)

    def _arrive(self, request: httpx.Request) -> None:
        super().handle_request(request)
        self.arrived.set()


LANDS_AFTER_S = 3.0


def test_an_order_found_during_the_wait_for_another_is_cancelled_at_once(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Two orders of unknown outcome at a stop without an order group: one lands during the
    stop, the other never will. The stop finds the first at its next look and cancels it then,
    not after waiting for the second: that wait spends the withdrawal's share of the deadline,
    and on the old code nothing was left to cancel the found order with, so it rested after
    the stop."""
    landed, never = "KXSTOPUNK-SIM-L", "KXSTOPUNK-SIM-N"
    transport = LostCreates(landed, never)
    with rig(
        sim, tmp_path, [landed, never], strategy="market-maker", params={},
        batch_wait_s=0.0, transport=transport,
        settings={"stop_deadline_s": 8.0, "resolve_s": 3600.0},
    ) as r:  # fmt: skip
        r.loop._next_resolve = r.loop.clock.monotonic() + 3600.0
        unknown = r.loop.executor.unknown_orders.unknown

        def both_lost() -> bool:
            r.loop.tick(r.feed.drain_messages(), full=True)
            return {u.ticker for u in unknown.values()} == {landed, never}

        # the second market's orders go out once the backoff after the first loss is over
        assert poll_until(both_lost)
        assert not transport.arrived.is_set()
        lost_for_good = {c for c, u in unknown.items() if u.ticker == never}
        summary = r.loop.stop.shutdown(cancel_resting=True)
        assert transport.arrived.is_set(), "the late orders landed during the stop"
        assert list(r.client.orders.iter_orders(status="resting")) == []
        found = list(r.client.orders.iter_orders(ticker=landed))
        assert len(found) == 2 and {o.status for o in found} == {"canceled"}
        assert set(summary.not_proven) == lost_for_good

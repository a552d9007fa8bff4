"""The stop's proof is the exchange's listing, not the loop's belief: an order resting under
the name of one of the loop's strategies is the loop's, whether its view still holds it or
not (one loop per account: no other loop places orders under those names)."""

from __future__ import annotations

import io
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.runner.config import TradeConfig
from kalshi_cli.runner.lifecycle import running
from kalshi_cli.runner.loop.stop_proof import StopNotProven, not_proven_text
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.store.records import RESTING, IntentRecord
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.order_terms import owned_client_order_id
from kalshi_cli.vocabulary.units import ZERO, Action, BookSide, Side
from tests.conftest import SimHarness
from tests.runner.sim_rig import rig
from tests.runner.simproc import (
    Book,
    client_for,
    log_events,
    market_maker_session,
    observer_for,
)
from tests.waiting import PATIENCE_S, wait_until

TICKER = "KXSTOPPROOF-SIM-A"


def test_a_quote_the_loops_view_lost_track_of_is_named_by_the_stop(
    sim: SimHarness, tmp_path: Path
) -> None:
    with rig(sim, tmp_path, [TICKER], strategy="market-maker", params={}) as r:
        r.loop.tick(r.feed.drain_messages(), full=True)
        _, lost = sorted(o.order_id for o in r.loop.stop.own.resting())
        # a slip of the loop's own books (a missed or misread message): the view no longer
        # counts the quote as resting, though it rests on the exchange
        r.loop.portfolio.update_order(lost, remaining=ZERO, status="canceled")
        summary = r.loop.stop.shutdown(cancel_resting=True)
        resting = {o.order_id for o in r.client.orders.iter_orders(status="resting")}
        assert resting == {lost}, "the stop withdrew what it believed resting, and only that"
        assert summary.not_proven == (lost,)
        # runbook 14: the event names, apart, what the loop's view did not hold
        (said,) = r.events("stop_not_proven")
        assert said["left_resting"] == [lost] and said["not_in_view"] == [lost]


def test_an_order_placed_by_hand_in_the_loops_market_is_not_the_stops_to_name(
    sim: SimHarness, tmp_path: Path
) -> None:
    with rig(sim, tmp_path, [TICKER], strategy="market-maker", params={}) as r:
        r.loop.tick(r.feed.drain_messages(), full=True)
        by_hand = r.client.orders.create_order(_a_bid_by_hand())
        summary = r.loop.stop.shutdown(cancel_resting=True)
        resting = {o.order_id for o in r.client.orders.iter_orders(status="resting")}
        assert resting == {by_hand.order_id}
        assert summary.not_proven == ()


def _a_bid_by_hand() -> CreateOrder:
    return CreateOrder(
        ticker=TICKER, book_side=BookSide.BID, price=Decimal("0.30"), count=Decimal(1)
    )


def test_an_earlier_runs_quote_in_a_market_this_run_does_not_trade_is_told_and_named(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A quote an earlier run of the strategy left in another market rests with nobody
    managing it: the start says so, and the stop names it (exit 11), as it names any order of
    the loop's it cannot prove gone."""
    traded, elsewhere = "KXSTOPPROOF-SIM-B", "KXSTOPPROOF-SIM-C"
    other = client_for(sim.new_account(balance_cents=10_000_000))
    for ticker in (traded, elsewhere):
        sim.create_market(ticker)
        Book(other, ticker).quote("0.40", "0.60")
    account = sim.new_account(balance_cents=10_000_000)
    key, _ = load_private_key(path=Path(account.private_key_path))
    client = KalshiClient(api_base=account.api_base, key_id=account.key_id, private_key=key)
    left = client.orders.create_order(
        replace(
            _a_bid_by_hand(),
            ticker=elsewhere,
            client_order_id=owned_client_order_id("market-maker"),
        )
    )
    out = io.StringIO()
    try:
        with client, pytest.raises(StopNotProven) as stopped:
            market_maker_session(
                account,
                client,
                traded,
                tmp_path,
                TradeConfig(strategies={"market-maker": {}}),
                duration_s=1.0,
                out=out,
            )
    finally:
        other.close()
    assert stopped.value.left == (left.order_id,)
    assert stopped.value.unlisted == ""
    assert stopped.value.message == (
        f"the stop could not prove 1 order(s) of the loop gone: {left.order_id}"
    )
    told = " ".join(out.getvalue().split())
    assert f"1 resting order of market-maker in markets this run does not trade: {elsewhere}" in (
        told
    )


def test_the_quotes_of_a_strategy_the_run_no_longer_runs_are_told_at_the_start(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Mean-reversion's quotes rest from an earlier run, one in the market this run trades and
    one elsewhere, and the run starts market-maker alone: nobody manages them (they are not
    the loop's to cancel, and its stop leaves them), so the start says so, naming the strategy
    and the markets. On the old code they rested on without a word: the start named only the
    quotes of the strategies it runs."""
    traded, elsewhere = "KXSTOPPROOF-SIM-F", "KXSTOPPROOF-SIM-G"
    other = client_for(sim.new_account(balance_cents=10_000_000))
    for ticker in (traded, elsewhere):
        sim.create_market(ticker)
        Book(other, ticker).quote("0.40", "0.60")
    account = sim.new_account(balance_cents=10_000_000)
    key, _ = load_private_key(path=Path(account.private_key_path))
    client = KalshiClient(api_base=account.api_base, key_id=account.key_id, private_key=key)
    left = {
        client.orders.create_order(
            replace(
                _a_bid_by_hand(),
                ticker=ticker,
                client_order_id=owned_client_order_id("mean-reversion"),
            )
        ).order_id
        for ticker in (traded, elsewhere)
    }
    # and the assistant's, which `kalshi mcp` manages: not a strategy's left to nobody
    client.orders.create_order(
        replace(_a_bid_by_hand(), ticker=traded, client_order_id=owned_client_order_id("agent"))
    )
    out = io.StringIO()
    try:
        with client:
            market_maker_session(
                account,
                client,
                traded,
                tmp_path,
                TradeConfig(strategies={"market-maker": {}}),
                duration_s=1.0,
                out=out,
            )
            resting = {o.order_id for o in client.orders.iter_orders(status="resting")}
    finally:
        other.close()
    assert left <= resting, "not the loop's to cancel"
    told = " ".join(out.getvalue().split())
    assert (
        "2 resting orders of mean-reversion, which this run does not run, in "
        f"{traded}, {elsewhere}" in told
    ), told
    assert "of agent" not in told
    (event,) = [e for e in log_events(tmp_path / "trade.log") if e["event"] == "resting_not_run"]
    assert (event["strategy"], event["orders"]) == ("mean-reversion", 2)


def _held_while(held: threading.Event, interrupt: Callable[[], None]) -> None:
    """A listing's answer held back from the moment of the second interrupt (`interrupt`) until
    the test clears `held`, once the stop is over: the interrupt comes while the listing is
    out, whatever the machine's load. Let go at once, its answer could reach the stop before
    the stop next looks at its interrupt, and the stop takes an answer that is back."""
    held.set()
    interrupt()
    wait_until(lambda: not held.is_set(), "the stop to give the listing up")


class NoListingAfterTheBatchCancel(httpx.HTTPTransport):
    """The real transport; once the stop's batch cancel has been answered (the exchange
    cancelled what it named), the stop has no listing to prove with: either a second SIGINT
    or SIGTERM comes as its listing leaves (`abandon`), and that listing is answered only once
    the stop has given it up (`answer_held`, `_held_while`), or every listing of the orders is
    answered 503 without reaching the exchange. (Not as the batch's answer comes back: the
    stop takes that answer or gives it up by whether it reached the loop before the loop's
    next look at `abandon`, a race a loaded machine loses.)"""

    def __init__(self, way: str) -> None:
        super().__init__()
        self.way = way
        self.abandon = threading.Event()
        self.cancelled = threading.Event()
        self.answer_held = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        listing = request.method == "GET" and path.endswith("/orders")
        if listing and self.cancelled.is_set() and self.way == "listing_refused":
            return httpx.Response(503, json={"code": "service_unavailable", "message": "x"})
        if listing and self.cancelled.is_set() and not self.abandon.is_set():
            _held_while(self.answer_held, self.abandon.set)
        response = super().handle_request(request)
        if request.method == "DELETE" and path.endswith("/orders/batched"):
            self.cancelled.set()
        return response


@pytest.mark.parametrize("way", ["interrupted", "listing_refused"])
def test_a_stop_with_no_listing_to_prove_with_still_names_an_earlier_runs_quote(
    sim: SimHarness, tmp_path: Path, way: str
) -> None:
    """A stop given up by a second interrupt before its proving listing, or whose listing
    fails, names every order of the loop it believes resting, and that includes a quote an
    earlier run of the strategy left in a market this run does not trade, which the state file
    holds (the start said the stop names it). On the old code the stop named only its view's
    orders, all confirmed cancelled by the batch: nothing was named, and `kalshi trade` exited
    0 with that quote resting. A quote the state file holds on another subaccount is another
    loop's, under the same strategy's name: not named."""
    traded, elsewhere = "KXSTOPPROOF-SIM-D", "KXSTOPPROOF-SIM-E"
    sim.create_market(elsewhere)
    transport = NoListingAfterTheBatchCancel(way)
    with rig(
        sim,
        tmp_path,
        [traded],
        strategy="market-maker",
        params={},
        transport=transport,
        settings={"stop_deadline_s": 4.0},
    ) as r:
        left = r.client.orders.create_order(
            replace(
                _a_bid_by_hand(),
                ticker=elsewhere,
                client_order_id=owned_client_order_id("market-maker"),
            )
        )
        # the earlier run's state file: its quote, recorded as resting
        OrderService(r.client, r.store, clock=r.loop.clock).reconcile()
        # and a quote of the same strategy another loop keeps on subaccount 1: that loop's
        _record_resting_on_subaccount_1(r.store, elsewhere)
        r.loop.tick(r.feed.drain_messages(), full=True)
        assert len(r.loop.stop.own.resting()) == 2
        try:
            summary = r.loop.stop.shutdown(cancel_resting=True, abandon=transport.abandon)
        finally:
            transport.answer_held.clear()
        assert transport.cancelled.is_set()
        transport.cancelled.clear()  # the test's own listing below reaches the exchange
        resting = {o.order_id for o in r.client.orders.iter_orders(status="resting")}
        assert resting == {left.order_id}, "the quotes went, the earlier run's stayed"
        assert summary.not_proven == (left.order_id,)


def test_a_quote_the_state_file_knows_cancelled_is_not_named_though_a_lagging_listing_shows_it(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Reads lag writes: the proof's listing, asked just after the batch cancel, still shows
    the two quotes it cancelled, under the loop's names. The state file records each cancelled
    (the batch's answer said so), so neither is a stray: the stop is proven. Named, it made a
    clean stop exit 11."""
    with rig(sim, tmp_path, [TICKER], strategy="market-maker", params={}) as r:
        sim.set_faults(read_lag_ms=1000)
        r.loop.tick(r.feed.drain_messages(), full=True)
        placed = {o.order_id for o in r.loop.stop.own.resting()}
        assert len(placed) == 2
        wait_until(
            lambda: {o.order_id for o in r.client.orders.iter_orders(status="resting")} == placed,
            "the listing to show both quotes",
        )
        summary = r.loop.stop.shutdown(cancel_resting=True)
        listed_after = {o.order_id for o in r.client.orders.iter_orders(status="resting")}
        sim.clear_faults()
        assert listed_after == placed, "the listing still lagged the cancels"
        assert {o.order_id for o in r.client.orders.iter_orders(status="resting")} == set()
        assert summary.not_proven == ()


def _record_resting_on_subaccount_1(store: Store, ticker: str) -> None:
    coid = owned_client_order_id("market-maker")
    store.orders.record_intent(
        IntentRecord(
            coid, ticker, BookSide.BID, Decimal("0.30"), Decimal(1), Side.YES, Action.BUY,
            strategy="market-maker", subaccount=1,
        )
    )  # fmt: skip
    store.orders.mark_sent(
        coid, order_id="on-subaccount-1", status=RESTING, fill_count=ZERO,
        remaining_count=Decimal(1),
    )  # fmt: skip


class NoListingOnceWithdrawn(httpx.HTTPTransport):
    """The real transport; the person presses Ctrl-C once the loop's quotes are placed (the
    batch create answered: the stop begins; a run of a fixed length could end, on a loaded
    machine, before the loop placed any, and then nothing is withdrawn). Once the stop's
    withdrawal has been answered (the session's order group triggered, or without one the batch
    cancel: the exchange cancelled every quote), either the person presses Ctrl-C again as the
    proving listing leaves (`interrupted`: it gives the stop up before that listing's answer,
    held until the stop is over: `_held_while`), or every listing of the orders is answered
    503 without reaching the exchange (`listing_refused`)."""

    def __init__(self, way: str) -> None:
        super().__init__()
        self.way = way
        self.withdrawn = threading.Event()
        self.answer_held = threading.Event()
        # the session's own stop and abandon events, which its SIGINT handler sets (`watch`)
        self.stop = self.abandon = threading.Event()

    def watch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Know the events the session's signal handlers set, to see each Ctrl-C taken."""
        installed = running.signals

        @contextmanager
        def watched(
            stop: threading.Event, on_pause: Callable[[], None], **kw: Any
        ) -> Iterator[None]:
            self.stop, self.abandon = stop, kw["abandon"]
            with installed(stop, on_pause, **kw):
                yield

        monkeypatch.setattr(running, "signals", watched)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        listing = request.method == "GET" and path.endswith("/orders")
        if listing and self.withdrawn.is_set() and self.way == "listing_refused":
            return httpx.Response(503, json={"code": "service_unavailable", "message": "x"})
        interrupting = self.way == "interrupted" and not self.abandon.is_set()
        if listing and self.withdrawn.is_set() and interrupting:
            # the loop's own handler takes it
            _held_while(self.answer_held, lambda: self._ctrl_c(self.abandon))
        response = super().handle_request(request)
        placed = request.method == "POST" and path.endswith("/orders/batched")
        if placed and not self.stop.is_set():
            self._ctrl_c(self.stop)
        trigger = request.method == "PUT" and path.endswith("/trigger")
        if trigger or (request.method == "DELETE" and path.endswith("/orders/batched")):
            self.withdrawn.set()
        return response

    @staticmethod
    def _ctrl_c(taken: threading.Event) -> None:
        """One Ctrl-C, waited for until the loop's handler took it (`taken` set): the loop
        makes this call on a thread of its own, and two signals raised at once from there may
        reach the main thread's handler as one."""
        signal.raise_signal(signal.SIGINT)
        wait_until(taken.is_set, "the loop's handler to take the Ctrl-C")


@pytest.mark.parametrize(
    ("way", "order_group"), [("listing_refused", True), ("interrupted", False)]
)
def test_a_stop_no_listing_proved_is_not_proven_though_every_order_it_knew_went(
    sim: SimHarness, tmp_path: Path, way: str, order_group: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stop's withdrawal cancelled every quote the loop knew (the order group's trigger,
    or without one a batch cancel whose answer the state file books), and the state file holds
    none resting, but no listing looked: its listing failed, or a second Ctrl-C gave the stop
    up before it. An order no record knows (an earlier run's whose state file was lost, one
    whose answer was lost) could rest all the same, so the stop is not proven: exit 11, saying
    why and what to run. On the old code `kalshi trade` exited 0, a proof never made. (With
    the group and given up, the quotes its trigger cancelled are still believed resting, and
    named: not the case here.)"""
    sim.create_market(TICKER)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, TICKER).quote("0.40", "0.60")
    account = sim.new_account(balance_cents=10_000_000)
    key, _ = load_private_key(path=Path(account.private_key_path))
    transport = NoListingOnceWithdrawn(way)
    transport.watch(monkeypatch)
    client = KalshiClient(
        api_base=account.api_base, key_id=account.key_id, private_key=key, transport=transport
    )
    out = io.StringIO()
    config = TradeConfig(strategies={"market-maker": {}}, trade={"stop_deadline_s": 4.0})
    try:
        with client, pytest.raises(StopNotProven) as stopped:
            market_maker_session(
                account, client, TICKER, tmp_path, config,
                duration_s=PATIENCE_S, out=out, order_group=order_group,
            )  # fmt: skip
    finally:
        transport.answer_held.clear()
        other.close()
    assert transport.withdrawn.is_set()
    mine = list(observer_for(account).orders.iter_orders(ticker=TICKER))
    assert mine and {o.status for o in mine} == {"canceled"}, "every quote it knew went"
    assert stopped.value.exit_code == ExitCode.NOT_PROVEN
    assert stopped.value.left == ()
    why = {
        "listing_refused": "its listing failed: GET /portfolio/orders failed: HTTP 503 "
        "service_unavailable: x",
        "interrupted": "given up by a second interrupt before its listing",
    }[way]
    assert stopped.value.unlisted == why
    assert stopped.value.message == (
        f"no listing proved the stop ({why}): an order of the loop's that no record knows may rest"
    )
    assert stopped.value.hint == (
        "`kalshi order list --status resting` shows what rests, `kalshi cancel-all` withdraws "
        "and proves; runbooks/14-stop-not-proven.md"
    )
    assert f"NOT PROVEN no listing proved the stop: {why}" in " ".join(out.getvalue().split())
    events = log_events(tmp_path / "trade.log")
    if way == "listing_refused":
        (said,) = [e for e in events if e["event"] == "stop_not_proven"]
        assert said["left_resting"] == [] and said["unknown"] == []
        assert "HTTP 503" in str(said["error"])
    else:
        (said,) = [e for e in events if e["event"] == "shutdown_abandoned"]
        assert said["left_resting"] == []


def test_a_stop_not_proven_says_what_it_names_and_why_no_listing_looked() -> None:
    """Both at once (an earlier run's quote named, the listing failed), one line; the alert
    names at most ten, with the count of all."""
    both = StopNotProven(("a", "b"), "its listing failed: x")
    assert both.message == (
        "the stop could not prove 2 order(s) of the loop gone: a, b; no listing proved the stop "
        "(its listing failed: x): an order of the loop's that no record knows may rest"
    )
    ids = tuple(f"o{n}" for n in range(12))
    assert not_proven_text(ids, "", most=10) == (
        "the stop could not prove 12 order(s) of the loop gone: " + ", ".join(ids[:10])
    )

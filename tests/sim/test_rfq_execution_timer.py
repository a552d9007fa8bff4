"""A confirmed RFQ quote executes when its execution timer runs out, on the public book.

Kalshi's RFQ guide (docs.kalshi.com "Request for Quote (RFQ)", Flow and Timing): "Once
confirmed, neither party can withdraw", "Upon confirmation, the platform begins the execution
timer" (15 s on a standard market), "After the execution timeout, orders are placed on the
public book"; the spec's ConfirmQuote "will start a timer for order execution"; asyncapi's
`quote_executed` is sent "when a quote is executed and orders are placed". The timer runs on the
exchange's clock and `Exchange.tick()` ends it, as it expires orders, so these tests move a
`ManualClock` instead of waiting.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.sim.core.communications import QuoteRequest, RfqRequest, SimQuote, SimRfq
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import ExchangeError, SimEvent, SimSeries
from kalshi_cli.sim.core.scenarios import ScenarioError, build_exchange
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import STANDARD_FEES, SimHarness
from tests.runner.fakes import place_on_desk
from tests.sim.test_core import market
from tests.sim.test_spec_audit import ws_problems
from tests.sim.wsutil import Ws

T = "M"
TIMER_S = 15  # the guide's execution timer of a standard market


class Rfqs:
    """An exchange with one market, a requester, a maker and a bystander (journaled when given
    a journal; a restart on the same journal finds the same accounts)."""

    def __init__(self, journal: Path | None = None, clock: ManualClock | None = None) -> None:
        self.clock = clock or ManualClock()
        self.ex = Exchange(self.clock, fees=STANDARD_FEES, journal=journal)
        if not self.ex.restored:
            self.ex.reference.add_series(SimSeries("SER", "series"))
            self.ex.reference.add_event(SimEvent("EV", "SER", "event"))
            self.ex.add_market(market(T))
            for key in ("requester", "maker", "bystander"):
                self.ex.accounts.create_account(key_id=key, public_key_pem="", cash_cents=100_00)
        self.comms = self.ex.communications

    def id_of(self, key: str) -> str:
        account = self.ex.subaccounts.account_by_key(key)
        assert account is not None
        return account.account_id

    @property
    def requester(self) -> str:
        return self.id_of("requester")

    @property
    def maker(self) -> str:
        return self.id_of("maker")

    @property
    def bystander(self) -> str:
        return self.id_of("bystander")

    def rfq(self, count: int = 10, *, rest_remainder: bool = False) -> SimRfq:
        return self.comms.create_rfq(
            self.requester,
            RfqRequest(
                market_ticker=T, contracts=D(count), target_cost=None, rest_remainder=rest_remainder
            ),
        )

    def accepted(
        self, rfq: SimRfq, maker: str | None = None, yes: str = "0.40", **quote: Any
    ) -> SimQuote:
        made = self.comms.create_quote(
            maker or self.maker,
            QuoteRequest(
                rfq_id=rfq.rfq_id,
                yes_bid=D(yes),
                no_bid=D("0.55"),
                rest_remainder=quote.pop("rest_remainder", False),
                **quote,
            ),
        )
        return self.comms.accept_quote(self.requester, made.quote_id, "yes")

    def confirmed(self, count: int = 10, **quote: Any) -> SimQuote:
        """An RFQ for `count` contracts whose quote (YES at 0.40) the requester accepted on the
        YES side and the maker confirmed just now."""
        rfq = self.rfq(count, rest_remainder=quote.pop("rfq_rest_remainder", False))
        accepted = self.accepted(rfq, **quote)
        return self.comms.confirm_quote(self.maker, accepted.quote_id)

    def after(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.ex.tick()

    def rest(self, who: str, side: BookSide, price: str, count: int) -> None:
        place_on_desk(self.ex, who, T, side, price, count)

    def position(self, who: str) -> D:
        return sum((p.position for p in self.ex.accounts.positions(who) if p.ticker == T), D(0))

    def seen(self) -> dict[str, Any]:
        """Everything an execution changes, for the three accounts."""
        return {
            key: (
                [
                    (o.order_id, o.status, o.fill_count)
                    for o in self.ex.history.orders(self.id_of(key))
                ],
                [
                    (f.trade_id, f.price, f.count, f.is_taker)
                    for f in self.ex.history.fills(self.id_of(key))
                ],
                self.position(self.id_of(key)),
                self.ex.accounts.account(self.id_of(key)).cash_cents,
            )
            for key in ("requester", "maker", "bystander")
        }


def test_a_confirmed_quote_executes_when_its_execution_timer_runs_out_and_not_before() -> None:
    env = Rfqs()
    quote = env.confirmed()
    confirmed_at = env.clock.wall()
    assert (quote.status, quote.confirmed_ts, quote.executed_ts) == (
        "confirmed",
        confirmed_at,
        None,
    )
    assert env.ex.history.orders(env.requester) == env.ex.history.orders(env.maker) == []

    env.after(TIMER_S - 1)
    assert quote.status == "confirmed"
    assert env.ex.history.orders(env.requester) == env.ex.history.orders(env.maker) == []
    assert env.comms.rfq(quote.rfq_id).status == "open"

    env.after(1)
    assert (quote.status, quote.executed_ts) == ("executed", confirmed_at + TIMER_S)
    assert (env.position(env.requester), env.position(env.maker)) == (D(10), D(-10))
    assert quote.order_id and quote.rfq_order_id
    assert env.comms.rfq(quote.rfq_id).status == "closed"


def test_the_orders_are_placed_on_the_public_book_where_a_better_price_comes_first() -> None:
    """The maker's order is placed first and rests; the requester's order then meets the whole
    public book in price-time priority: the bystander's better ask fills half of it, the maker
    the rest, and the maker's unfilled remainder, with `rest_remainder` false, is cancelled."""
    env = Rfqs()
    env.rest(env.bystander, BookSide.ASK, "0.30", 5)
    book_before = env.ex.engine.book(T)
    quote = env.confirmed()
    assert env.ex.engine.book(T) == book_before  # nothing is placed before the timer runs out

    env.after(TIMER_S)
    assert quote.status == "executed"
    taken = sorted((f.price, f.count, f.is_taker) for f in env.ex.history.fills(env.requester))
    assert taken == [(D("0.30"), D(5), True), (D("0.40"), D(5), True)]
    made = [(f.price, f.count, f.is_taker) for f in env.ex.history.fills(env.maker)]
    assert made == [(D("0.40"), D(5), False)]
    assert (env.position(env.requester), env.position(env.maker)) == (D(10), D(-5))
    maker_order = env.ex.history.order(env.maker, quote.order_id)
    assert (maker_order.status, maker_order.fill_count) == ("canceled", D(5))
    assert env.ex.accounts.resting_orders(env.maker) == []
    assert sorted((t.price, t.count) for t in env.ex.history.trades(T)) == [
        (D("0.30"), D(5)),
        (D("0.40"), D(5)),
    ]


def test_a_quote_that_rests_its_remainder_leaves_it_on_the_public_book() -> None:
    env = Rfqs()
    env.rest(env.bystander, BookSide.ASK, "0.30", 4)
    quote = env.confirmed(rest_remainder=True)
    env.after(TIMER_S)
    [resting] = env.ex.accounts.resting_orders(env.maker)
    assert resting.order_id == quote.order_id
    assert (resting.book_side, resting.price, resting.remaining_count) == (
        BookSide.ASK,
        D("0.40"),
        D(4),
    )
    # it is an ordinary order of the public book: anyone's bid at its price takes it
    env.rest(env.bystander, BookSide.BID, "0.40", 4)
    assert env.ex.accounts.resting_orders(env.maker) == []


def test_a_post_only_quote_whose_order_would_cross_the_public_book_is_not_executed() -> None:
    """The maker's order is post-only (`Quote.post_only`); a bid of the public book at 0.45
    crosses its ask at 0.40, so it is refused as any post-only order would be, the quote is
    cancelled with the reason, and nothing trades."""
    env = Rfqs()
    env.rest(env.bystander, BookSide.BID, "0.45", 3)
    quote = env.confirmed(post_only=True)
    env.after(TIMER_S)
    assert quote.status == "cancelled"
    assert "post only cross" in quote.cancellation_reason
    assert env.ex.history.orders(env.requester) == env.ex.history.orders(env.maker) == []
    assert env.comms.rfq(quote.rfq_id).status == "open"


def test_an_execution_refused_at_the_timer_cancels_the_quote_and_leaves_no_order() -> None:
    """The requester cannot pay when the timer runs out: the confirmation was answered already,
    so the refusal shows only in the quote, cancelled with its reason; the maker's order, placed
    for a trade that did not happen, is withdrawn."""
    env = Rfqs()
    poor = env.ex.accounts.create_account(
        key_id="poor", public_key_pem="", cash_cents=100
    ).account_id
    # 10 at 0.40 is $4.00, with $1.00 of cash
    rfq = env.comms.create_rfq(
        poor, RfqRequest(market_ticker=T, contracts=D(10), target_cost=None, rest_remainder=False)
    )
    offered = env.comms.create_quote(
        env.maker,
        QuoteRequest(rfq_id=rfq.rfq_id, yes_bid=D("0.40"), no_bid=D("0.55"), rest_remainder=False),
    )
    env.comms.accept_quote(poor, offered.quote_id, "yes")
    quote = env.comms.confirm_quote(env.maker, offered.quote_id)
    assert quote.status == "confirmed"  # the confirmation itself is accepted

    env.after(TIMER_S)
    assert quote.status == "cancelled"
    assert quote.cancellation_reason.startswith("execution refused:")
    assert "balance" in quote.cancellation_reason
    assert env.ex.history.orders(poor) == []
    assert env.ex.accounts.resting_orders(env.maker) == []
    assert (env.position(poor), env.position(env.maker)) == (0, 0)
    assert env.comms.rfq(rfq.rfq_id).status == "open"


def test_once_confirmed_neither_party_can_withdraw_and_no_other_quote_can_execute() -> None:
    env = Rfqs()
    rfq = env.rfq()
    other = env.comms.create_quote(
        env.bystander,
        QuoteRequest(rfq_id=rfq.rfq_id, yes_bid=D("0.39"), no_bid=D("0.55"), rest_remainder=False),
    )
    accepted = env.accepted(rfq)
    quote = env.comms.confirm_quote(env.maker, accepted.quote_id)
    with pytest.raises(ExchangeError) as info:
        env.comms.delete_quote(env.maker, quote.quote_id)
    assert info.value.status == 404
    for withdraw in (
        lambda: env.comms.delete_rfq(env.requester, rfq.rfq_id),
        lambda: env.comms.create_rfq(
            env.requester,
            RfqRequest(
                market_ticker=T,
                contracts=D(1),
                target_cost=None,
                rest_remainder=False,
                replace_existing=True,
            ),
        ),
        lambda: env.comms.accept_quote(env.requester, other.quote_id, "yes"),
    ):
        with pytest.raises(ExchangeError) as info:
            withdraw()
        assert info.value.status == 400
    assert (env.comms.rfq(rfq.rfq_id).status, quote.status) == ("open", "confirmed")

    env.after(TIMER_S)
    assert quote.status == "executed"
    assert other.status == "cancelled"
    assert env.position(env.requester) == D(10)  # once


def test_a_restart_keeps_the_running_timer_and_replays_the_execution(tmp_path: Path) -> None:
    journal = tmp_path / "exchange.journal"
    env = Rfqs(journal)
    env.rest(env.bystander, BookSide.ASK, "0.30", 5)
    quote_id = env.confirmed().quote_id
    env.after(TIMER_S - 5)
    env.ex.close()

    restarted = Rfqs(journal, env.clock)
    assert restarted.comms.quote(quote_id).status == "confirmed"
    assert restarted.ex.history.orders(restarted.requester) == []
    restarted.after(5)
    assert restarted.comms.quote(quote_id).status == "executed"
    seen = restarted.seen()
    assert seen["requester"][2] == D(10) and seen["bystander"][2] == D(-5)
    restarted.ex.close()

    again = Rfqs(journal, env.clock)
    try:
        assert again.seen() == seen
        assert again.comms.quote(quote_id).status == "executed"
    finally:
        again.ex.close()


def test_a_scenario_sets_the_execution_timer(tmp_path: Path) -> None:
    scenario = tmp_path / "fast.yaml"
    scenario.write_text("base: empty\nrfq: {execution_timer_seconds: 1}\n")
    clock = ManualClock()
    ex = build_exchange(scenario, clock=clock)
    ex.reference.add_series(SimSeries("SER", "series"))
    ex.reference.add_event(SimEvent("EV", "SER", "event"))
    ex.add_market(market(T))
    a = ex.accounts.create_account(key_id="a", public_key_pem="", cash_cents=100_00).account_id
    b = ex.accounts.create_account(key_id="b", public_key_pem="", cash_cents=100_00).account_id
    rfq = ex.communications.create_rfq(
        a, RfqRequest(market_ticker=T, contracts=D(2), target_cost=None, rest_remainder=False)
    )
    quote = ex.communications.create_quote(
        b,
        QuoteRequest(rfq_id=rfq.rfq_id, yes_bid=D("0.40"), no_bid=D("0.55"), rest_remainder=False),
    )
    ex.communications.accept_quote(a, quote.quote_id, "yes")
    ex.communications.confirm_quote(b, quote.quote_id)
    clock.advance(1)
    ex.tick()
    assert quote.status == "executed"

    for bad in ("-1", "soon", "{seconds: 1}"):
        scenario.write_text(f"base: empty\nrfq: {{execution_timer_seconds: {bad}}}\n")
        with pytest.raises(ScenarioError, match="execution_timer_seconds"):
            build_exchange(scenario, clock=ManualClock())


def test_the_wire_shows_the_confirmation_then_the_execution_on_the_book_and_channel(
    manual_sim: SimHarness, manual_clock: ManualClock
) -> None:
    """Over HTTP and the WebSocket: the confirmed quote reads `confirmed` with no order ids and
    the book is unchanged until the timer runs out; then each party's `quote_executed` (valid
    against asyncapi.yaml, its own order ids) and the book's deltas of the maker's order placed
    and taken."""
    sim = manual_sim
    ticker = "KXRFQ-26JAN01-T"
    sim.create_market(ticker)
    requester, maker = sim.account, sim.new_account()
    now_ms = int(manual_clock.wall() * 1000)
    sockets = {who.key_id: Ws(who, timeout=20, now_ms=now_ms) for who in (requester, maker)}
    book = Ws(requester, timeout=20, now_ms=now_ms)
    try:
        for ws in sockets.values():
            ws.subscribe(["communications"])
        book.subscribe(["orderbook_delta"], market_ticker=ticker)
        assert book.recv()["type"] == "orderbook_snapshot"
        body = {"market_ticker": ticker, "contracts_fp": "10", "rest_remainder": False}
        answer = sim.signed(requester, "POST", "/communications/rfqs", json=body)
        rfq_id = answer.json()["id"]
        body = {"rfq_id": rfq_id, "yes_bid": "0.40", "no_bid": "0.55", "rest_remainder": False}
        quote_id = sim.signed(maker, "POST", "/communications/quotes", json=body).json()["id"]
        path = f"/communications/rfqs/{rfq_id}/quotes/{quote_id}"
        accept = sim.signed(requester, "PUT", path + "/accept", json={"accepted_side": "yes"})
        assert accept.status_code == 204
        assert sim.signed(maker, "PUT", path + "/confirm").status_code == 204

        pending = sim.signed(maker, "GET", path).json()["quote"]
        assert pending["status"] == "confirmed" and "confirmed_ts" in pending
        assert "executed_ts" not in pending and "creator_order_id" not in pending
        orders = sim.signed(requester, "GET", "/portfolio/orders").json()["orders"]
        assert orders == []
        for ws in sockets.values():
            ws.recv_until(lambda m: m["type"] == "quote_accepted")

        manual_clock.advance(TIMER_S)
        executed = {key: ws.recv() for key, ws in sockets.items()}
        done = {
            who.key_id: sim.signed(who, "GET", path).json()["quote"] for who in (requester, maker)
        }
        assert done[maker.key_id]["status"] == "executed"
        mine = {
            requester.key_id: done[requester.key_id]["rfq_creator_order_id"],
            maker.key_id: done[maker.key_id]["creator_order_id"],
        }
        for key, message in executed.items():
            assert (message["type"], message["seq"]) == ("quote_executed", 4)
            assert ws_problems(message) == [], message
            assert message["msg"]["order_id"] == mine[key]
        # the maker's order (NO at 0.60, the YES ask at 0.40) rested on the book, then was taken
        deltas = [book.recv_until(lambda m: m["type"] == "orderbook_delta") for _ in range(2)]
        assert [(d["msg"]["price_dollars"], d["msg"]["delta_fp"]) for d in deltas] == [
            ("0.6000", "10.00"),
            ("0.6000", "-10.00"),
        ]
    finally:
        for ws in (*sockets.values(), book):
            ws.close()

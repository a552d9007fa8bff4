"""The position and exposure limits count a fill from the moment the exchange tells of it, not
from the moment a fill read brings it into the position. An order's answer, a `user_orders`
message or a cancel may say contracts filled while the fill read that lists them is still out (on
a send worker, or held in the network): the view no longer has them resting, and the position
does not hold them yet. Counted nowhere, they left room for orders that took the account past its
limits once the read came back."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace as struct_replace

from kalshi_cli.client.requests import CancelResult, CreateOrder, CreateOrderResult
from kalshi_cli.feed.book import MessageKind
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.models import Fill
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.runner.fakes import (
    Rig,
    another_trader_places,
    quiet_market_maker,
    swap_decide,
)
from tests.runner.simproc import log_events
from tests.waiting import pause, poll_until

# the quiet scenario's books stand still: HOLD's YES bid 0.60 and ask 0.62, CUT's bid 0.33
HOLD = "KXFEDDECISION-SIM-DEC-H0"
CUT = "KXFEDDECISION-SIM-DEC-C25"
RISK = {"max_orders_per_minute": 1000, "min_edge": "0"}


def _rig(tmp_path: Path, risk: dict[str, str], **kw: Any) -> Rig:
    return quiet_market_maker(tmp_path, risk={**RISK, **risk}, send_workers=2, **kw)


def _bid(ticker: str, price: str, count: int, **kw: Any) -> Intent:
    return Intent(
        ticker, Side.YES, Action.BUY, Decimal(price), Decimal(count), Decimal("0.90"), "test", **kw
    )


Decide = Callable[[MarketSnapshot, PositionView, Any], Sequence[Intent]]


def _by_turn(turn: list[str], answer: Callable[[str, PositionView], Sequence[Intent]]) -> Decide:
    """A strategy that decides on a market only while it is in `turn`, once for each time it is
    put there (its ask takes it out): what `answer` says for that market and position."""

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Intent]:
        if snap.ticker not in turn:
            return []
        turn.remove(snap.ticker)
        return answer(snap.ticker, pos)

    return decide


def _asked_about_cut(
    rig: Rig, turn: list[str], decide: Decide, step: Callable[[Rig], None]
) -> None:
    """CUT put in `turn`, the strategy asked afresh (not skipped as a quiet market) in one
    `step`: it was asked about CUT."""
    turn.append(CUT)
    swap_decide(rig.loop, decide)
    step(rig)
    assert not turn, "the strategy was asked about CUT"


def _takes_holds_ask_then_bids_cut(turn: list[str]) -> Decide:
    """By `turn`: in HOLD a bid of 10 at 0.62 that takes its ask at once ($6.20), in CUT a bid of
    13 at 0.30 ($3.90)."""

    def answer(ticker: str, pos: PositionView) -> Sequence[Intent]:
        if ticker == HOLD:
            return [_bid(HOLD, "0.62", 10, time_in_force=TimeInForce.IOC)]
        return [_bid(CUT, "0.30", 13)]

    return _by_turn(turn, answer)


def _requotes_hold_then_bids_cut(turn: list[str], first: str, then: str) -> Decide:
    """By `turn`: in HOLD a bid of 10 at `first`, and once it rests, one at `then` replacing it;
    in CUT a bid of 13 at 0.30 ($3.90)."""

    def answer(ticker: str, pos: PositionView) -> Sequence[Intent]:
        if ticker == CUT:
            return [_bid(CUT, "0.30", 13)]
        if not pos.resting:
            return [_bid(HOLD, first, 10)]
        (old,) = pos.resting
        return [_bid(HOLD, then, 10, replaces=(old.order_id,))]

    return _by_turn(turn, answer)


def _settle(rig: Rig) -> None:
    dispatch = rig.loop.dispatch
    while dispatch.in_flight:
        assert dispatch.settle(SystemClock(), 30)


def _step_without_order_messages(rig: Rig, seconds: float = 0.5) -> None:
    """`Rig.step`, with the `user_orders` channel lagging: none of its messages is seen."""
    rig.clock.advance(seconds)
    rig.client.deliver_held()
    rig.exchange.tick()
    events = rig.feed.drain_messages()
    rig.loop.tick([e for e in events if e.kind is not MessageKind.USER_ORDER], full=True)


def _until_booked(rig: Rig, event: str) -> None:
    """The answers drained as they come back until one is booked that logs `event`."""
    dispatch = rig.loop.dispatch

    def drained() -> None:
        pause()
        dispatch.drain()

    assert poll_until(lambda: rig.loop.log.counts.get(event), between=drained), event


def _fill_reads_held(rig: Rig) -> threading.Event:
    """Every fill read waits in the network until the event returned is set."""
    release = threading.Event()
    listed = rig.client.iter_fills

    def held(**kw: Any) -> Iterator[Fill]:
        release.wait(30)
        return listed(**kw)

    rig.client.iter_fills = held  # type: ignore[method-assign]
    return release


def _resting(rig: Rig, ticker: str) -> Decimal:
    orders = rig.exchange.history.orders(rig.client.account_id)
    return sum(
        (o.remaining_count for o in orders if o.ticker == ticker and o.status == "resting"),
        Decimal(0),
    )


def _held_yes(rig: Rig, ticker: str) -> Decimal:
    positions = rig.exchange.accounts.positions(rig.client.account_id)
    return sum((p.position for p in positions if p.ticker == ticker), Decimal(0))


def _sales(rig: Rig) -> list[CreateOrder]:
    """The orders sent that sell HOLD."""
    return [r for r in rig.client.requests if r.ticker == HOLD and r.book_side is BookSide.ASK]


def _sold_with_the_read_out(rig: Rig, stepped: Callable[[], None]) -> list[CreateOrder]:
    """The sales of HOLD sent, stepping until there is one, while the fill read is still out
    and the fill not read."""
    sold = poll_until(lambda: _sales(rig), between=stepped)
    assert rig.loop.executor.fills.reading, "the fill read is still out"
    assert rig.loop.portfolio.position(HOLD) == 0, "the fill is not read yet"
    return sold or []


def _closed_once_answered(rig: Rig, sold: list[CreateOrder]) -> None:
    """Everything answered and booked: the sale was one of 10, reduce-only, and HOLD is flat
    at the exchange."""
    _settle(rig)
    rig.loop.dispatch.close()
    assert [(s.count, s.reduce_only) for s in sold] == [(Decimal(10), True)]
    assert _held_yes(rig, HOLD) == 0


def _bid_filled_with_reads_held(rig: Rig, *, again: bool) -> threading.Event:
    """A strategy's bid of 10 in HOLD rests, then another trader fills it, every fill read held
    from then on (until the event returned is set). `again`: the strategy bids whenever it has
    no bid resting, else only while it holds nothing at all."""

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Intent]:
        if snap.ticker != HOLD or pos.resting or (not again and (pos.unbooked or pos.position)):
            return []
        return [_bid(HOLD, "0.61", 10)]

    swap_decide(rig.loop, decide)
    rig.step(0.5)
    _settle(rig)
    rig.step(0.5)
    assert _resting(rig, HOLD) == 10
    release = _fill_reads_held(rig)
    another_trader_places(rig.exchange, HOLD, BookSide.ASK, Decimal("0.61"), Decimal(10))
    return release


def _filled_then_bid_again(rig: Rig) -> None:
    """A bid of 10 in HOLD rests, then fills; the `user_orders` message says so, and the fill
    read it calls for is held while HOLD is decided on again (a strategy that bids 10 whenever
    it has no bid resting), then everything is answered and booked."""
    release = threading.Event()
    try:
        release = _bid_filled_with_reads_held(rig, again=True)
        rig.step(0.5)  # the message and the book change: HOLD is decided on again
        rig.step(0.5)
        assert rig.loop.executor.fills.reading, "the fill read is still out"
        assert rig.loop.portfolio.position(HOLD) == 0, "the fill is not read yet"
    finally:
        release.set()
    _settle(rig)
    rig.step(0.5)
    rig.loop.dispatch.close()
    assert _held_yes(rig, HOLD) == 10


def test_a_quote_told_filled_before_its_fill_is_read_counts_toward_the_position_limit(
    tmp_path: Path,
) -> None:
    """A bid of 10 against a position limit of 10 fills; the `user_orders` message says so and
    the fill read it calls for is held in the network. The view dropped the bid at once and its
    position stayed flat until the read, so the strategy's next bid of 10 went out: 10 YES held
    and 10 more resting against a limit of 10."""
    rig = _rig(tmp_path, {"max_position_per_market": "10"})
    _filled_then_bid_again(rig)
    assert _resting(rig, HOLD) == 0, "a second bid would have carried HOLD past the limit"
    assert rig.loop.log.counts.get("risk_denied", 0) >= 1


def test_a_strategys_quote_told_filled_and_not_read_counts_toward_its_own_budget(
    tmp_path: Path,
) -> None:
    """The same with the account's limit far off and the strategy's own budget of 10
    contracts: the second bid is refused for the budget."""
    log = tmp_path / "trade.log"
    budgets = {"market-maker": {"max_contracts": "10"}}
    rig = _rig(tmp_path, {}, trade={"budgets": budgets}, log_path=log)
    _filled_then_bid_again(rig)
    rig.loop.log.close()
    assert _resting(rig, HOLD) == 0, "a second bid would have carried it past its budget"
    codes = {e.get("code") for e in log_events(log) if e["event"] == "risk_denied"}
    assert codes == {"STRATEGY_BUDGET"}


def test_an_order_filled_at_once_counts_toward_the_exposure_while_its_fill_read_is_out(
    tmp_path: Path,
) -> None:
    """A bid takes HOLD's ask at once ($6.20 of YES, against a total exposure of $10) and the fill
    read its answer calls for is held. HOLD waits for the read, but CUT does not: its bid of
    $3.90 was judged with the $6.20 nowhere (no longer on its way, not yet in the position),
    and went out: $10.10 at risk."""
    rig = _rig(tmp_path, {"max_total_exposure": "10"})
    turn = [HOLD]
    decide = _takes_holds_ask_then_bids_cut(turn)

    swap_decide(rig.loop, decide)
    release = _fill_reads_held(rig)
    dispatch = rig.loop.dispatch
    try:
        rig.step(0.5)
        _until_booked(rig, "order_placed")  # filled at once: its fill read sent, and held
        assert rig.loop.executor.fills.reading
        _asked_about_cut(rig, turn, decide, Rig.step)
    finally:
        release.set()
    _settle(rig)
    rig.step(0.5)
    dispatch.close()
    assert _held_yes(rig, HOLD) == 10
    assert [r.ticker for r in rig.client.requests] == [HOLD]
    assert rig.loop.executor.outbox.total_exposure() == Decimal("6.20")


def test_a_cancel_that_found_less_resting_counts_what_filled_until_it_is_read(
    tmp_path: Path,
) -> None:
    """A bid of 10 at 0.61 is replaced; while its cancel is out, 6 of it fill, and the
    `user_orders` message saying so is still on its way when the cancel's answer (4 cancelled)
    is booked. The fill read the shortfall calls for is held: HOLD waits for it, but CUT's bid of
    $3.90 was judged beside nothing in HOLD (the bid cancelled, its $3.66 filled not read) and
    went out against a total exposure of $7: $7.56 at risk."""
    rig = _rig(tmp_path, {"max_total_exposure": "7"}, trade={"amend_requotes": False})
    turn = [HOLD]
    decide = _requotes_hold_then_bids_cut(turn, "0.61", "0.60")

    swap_decide(rig.loop, decide)
    _step_without_order_messages(rig)
    _settle(rig)
    _step_without_order_messages(rig)
    assert _resting(rig, HOLD) == 10
    cancel_out, let_cancel = threading.Event(), threading.Event()
    cancel = rig.client.cancel_order

    def held_cancel(order_id: str, **kw: Any) -> CancelResult:
        cancel_out.set()
        let_cancel.wait(30)
        return cancel(order_id, **kw)

    rig.client.cancel_order = held_cancel  # type: ignore[method-assign]
    release = threading.Event()
    dispatch = rig.loop.dispatch
    try:
        turn.append(HOLD)
        swap_decide(rig.loop, decide)
        _step_without_order_messages(rig)
        assert cancel_out.wait(30), "the replaced bid's cancel is out"
        another_trader_places(rig.exchange, HOLD, BookSide.ASK, Decimal("0.61"), Decimal(6))
        release = _fill_reads_held(rig)
        let_cancel.set()
        _until_booked(rig, "order_cancelled")  # 4 of the 10 the view held; the read is held
        assert rig.loop.executor.cancels.shortfalls == 1
        assert rig.loop.executor.fills.reading
        _asked_about_cut(rig, turn, decide, _step_without_order_messages)
    finally:
        let_cancel.set()
        release.set()
    _settle(rig)
    _step_without_order_messages(rig)
    dispatch.close()
    assert _held_yes(rig, HOLD) == 6
    assert _resting(rig, CUT) == 0, "CUT's bid would have taken the account past $7"


def test_a_requote_amend_that_filled_at_once_counts_toward_the_exposure_until_read(
    tmp_path: Path,
) -> None:
    """A bid of 10 at 0.55 is requoted to 0.62, which takes HOLD's ask: the amend fills at once
    ($6.20), and the fill read its answer calls for is held. The view took the order's new
    remaining (none) from the answer while the position stayed flat, so CUT's bid of $3.90 went
    out against a total exposure of $10."""
    rig = _rig(tmp_path, {"max_total_exposure": "10"})
    turn = [HOLD]
    decide = _requotes_hold_then_bids_cut(turn, "0.55", "0.62")

    swap_decide(rig.loop, decide)
    rig.step(0.5)
    _settle(rig)
    rig.step(0.5)
    assert _resting(rig, HOLD) == 10
    release = _fill_reads_held(rig)
    dispatch = rig.loop.dispatch
    try:
        turn.append(HOLD)
        swap_decide(rig.loop, decide)
        rig.step(0.5)
        _until_booked(rig, "order_amended")  # filled at once: its fill read sent, and held
        assert rig.client.amends == 1
        assert rig.loop.executor.fills.reading
        _asked_about_cut(rig, turn, decide, Rig.step)
    finally:
        release.set()
    _settle(rig)
    rig.step(0.5)
    dispatch.close()
    assert _held_yes(rig, HOLD) == 10
    assert _resting(rig, CUT) == 0, "CUT's bid would have taken the account past $10"


def test_an_order_of_unknown_outcome_found_filled_counts_until_its_fill_is_read(
    tmp_path: Path,
) -> None:
    """A bid that takes HOLD's ask ($6.20) has its answer lost; the exchange filled it. While it
    was unknown it counted as resting; the lookup that found it filled ended that, and with the
    fill read held (and the `user_orders` message saying it filled still on its way) CUT's bid
    of $3.90 went out against a total exposure of $10."""
    rig = _rig(tmp_path, {"max_total_exposure": "10"})
    turn = [HOLD]
    decide = _takes_holds_ask_then_bids_cut(turn)

    swap_decide(rig.loop, decide)
    release = _fill_reads_held(rig)
    unknown = rig.loop.executor.unknown_orders
    rig.client.create_errors.append("unknown")  # placed and filled; the answer lost
    dispatch = rig.loop.dispatch
    try:
        _step_without_order_messages(rig, 0.5)
        _until_booked(rig, "order_unknown")
        # past the API error guard's backoff: the lookups find it, filled
        _step_without_order_messages(rig, 2.0)
        _until_booked(rig, "order_resolved")
        assert not unknown.unknown, "the lookup found it"
        assert rig.loop.executor.fills.reading, "its fill read is still out"
        _asked_about_cut(rig, turn, decide, _step_without_order_messages)
    finally:
        release.set()
    _settle(rig)
    _step_without_order_messages(rig, 0.5)
    dispatch.close()
    assert _held_yes(rig, HOLD) == 10
    assert _resting(rig, CUT) == 0, "CUT's bid would have taken the account past $10"


def test_a_strategy_sees_only_what_its_own_orders_filled_that_is_not_read_yet(
    tmp_path: Path,
) -> None:
    """Two strategies in HOLD: the market maker's bid fills while the fill read is held. Its
    view holds the 10 told filled; the other strategy's holds none (they are not its own)."""
    rig = _rig(tmp_path, {}, strategies=("market-maker", "mean-reversion"))
    seen: dict[str, list[PositionView]] = {"market-maker": [], "mean-reversion": []}

    def deciding(name: str) -> Any:
        def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Intent]:
            if snap.ticker != HOLD:
                return []
            seen[name].append(pos)
            if name == "market-maker" and not pos.resting and not pos.unbooked:
                return [_bid(HOLD, "0.61", 10)] if len(seen[name]) == 1 else []
            return []

        return decide

    for name in seen:
        swap_decide(rig.loop, deciding(name), name)
    release = threading.Event()
    try:
        rig.step(0.5)
        _settle(rig)
        rig.step(0.5)
        assert _resting(rig, HOLD) == 10
        release = _fill_reads_held(rig)
        another_trader_places(rig.exchange, HOLD, BookSide.ASK, Decimal("0.61"), Decimal(10))
        for name in seen:
            swap_decide(rig.loop, deciding(name), name)  # asked afresh
        rig.step(0.5)
        assert rig.loop.executor.fills.reading, "the fill read is still out"
        account = rig.loop.portfolio.view(HOLD).unbooked
    finally:
        release.set()
    _settle(rig)
    rig.loop.dispatch.close()
    (mine,) = seen["market-maker"][-1].unbooked
    assert (mine.remaining, mine.price) == (Decimal(10), Decimal("0.61"))
    assert seen["mean-reversion"][-1].unbooked == ()
    assert account == (mine,)
    assert rig.loop.portfolio.view(HOLD).unbooked == (), "read, they are in the position"
    assert rig.loop.portfolio.position(HOLD) == 10


def test_an_order_on_its_way_told_filled_counts_once(tmp_path: Path) -> None:
    """The exchange fills a bid at once and the `user_orders` message saying so arrives before
    the create's answer: the order, still on its way, counts as resting, and the message does
    not count it a second time."""
    rig = _rig(tmp_path, {})
    turn = [HOLD]
    decide = _takes_holds_ask_then_bids_cut(turn)  # HOLD alone is ever in turn

    placed, answer = threading.Event(), threading.Event()
    create = rig.client.create_order

    def answered_late(request: CreateOrder) -> CreateOrderResult:
        result = create(request)
        placed.set()
        answer.wait(30)
        return result

    rig.client.create_order = answered_late  # type: ignore[method-assign]
    swap_decide(rig.loop, decide)
    outbox = rig.loop.executor.outbox
    try:
        rig.step(0.5)
        assert placed.wait(30), "the exchange took the order"
        rig.step(0.5)  # its message: executed, 10 filled
        assert rig.loop.log.counts.get("order_placed") is None, "its answer is not back"
        assert outbox.total_exposure() == Decimal("6.20")
    finally:
        answer.set()
    _settle(rig)
    rig.step(0.5)
    rig.loop.dispatch.close()
    assert rig.loop.portfolio.position(HOLD) == 10
    assert outbox.total_exposure() == Decimal("6.20")


@pytest.mark.parametrize("full", [True, False], ids=["every-market", "held-first"])
def test_the_stop_loss_closes_a_position_told_filled_while_its_fill_read_is_out(
    tmp_path: Path, full: bool
) -> None:
    """A bid of 10 at 0.61 fills and the fill read is held (the fills listing slow or failing):
    the position is the exchange's at once, and its mark (HOLD's bid 0.60 x 10) is under 0.99
    of its cost. The stop-loss read the position flat and let it be until the read came back,
    however far the market fell meanwhile; and a tick that visits only what is held first (no
    book change, no sweep) did not count it as held."""
    rig = _rig(tmp_path, {})
    release = threading.Event()
    try:
        release = _bid_filled_with_reads_held(rig, again=False)
        # raised once the bid rests: the stop-loss at entry would have refused it
        risk = rig.loop.questions.risk
        risk.limits = struct_replace(risk.limits, stop_loss_share=Decimal("0.99"))

        held_back: list[Any] = []  # the message, then nothing once it was delivered

        def stepped() -> None:
            """Without `full`, the book change is decided on in a tick of its own, and the
            `user_orders` message saying the bid filled comes in the next one alone."""
            rig.clock.advance(0.5)
            rig.exchange.tick()
            events = rig.feed.drain_messages()
            told = [e for e in events if e.kind is MessageKind.USER_ORDER]
            if held_back:
                events, held_back[:] = [*held_back, *events], ()
            elif told and not full:
                held_back.extend(told)
                events = [e for e in events if e not in told]
            rig.loop.tick(events, full=full)
            rig.loop.dispatch.drain()

        sold = _sold_with_the_read_out(rig, stepped)
    finally:
        release.set()
    _closed_once_answered(rig, sold)


@pytest.mark.parametrize("told_by", ["answer", "book-change"])
def test_the_stop_loss_closes_a_position_filled_at_once_while_its_fill_read_is_out(
    tmp_path: Path, told_by: str
) -> None:
    """A bid takes HOLD's ask at once (10 at 0.62) and the fill read its answer calls for is
    held (the fills listing slow or failing: the client's timeout and retries, seconds). The
    position is the exchange's from the answer, and its mark (HOLD's bid 0.60 x 10) is under
    0.99 of its cost: the stop-loss asks on the answer's view, or once the view was looked at,
    on HOLD's book changes while the read is out (the take's own, another trader's bid: each
    tick asks again until HOLD takes its turn). HOLD waited for the read to take any turn,
    its stop-loss's too, however far the market fell meanwhile."""
    rig = _rig(tmp_path, {})
    turn = [HOLD]
    decide = _takes_holds_ask_then_bids_cut(turn)  # HOLD alone is ever in turn

    swap_decide(rig.loop, decide)
    release = _fill_reads_held(rig)

    def stepped() -> None:
        rig.step(0.5)
        rig.loop.dispatch.drain()

    try:
        rig.step(0.5)
        _until_booked(rig, "order_placed")  # filled at once: its fill read sent, and held
        if told_by == "book-change":
            for _ in range(3):  # the answer's view and the order's messages looked at
                stepped()
            assert not _sales(rig), "the stop-loss does not ask yet"
        # raised once the bid is filled: the stop-loss at entry would have refused it
        risk = rig.loop.questions.risk
        risk.limits = struct_replace(risk.limits, stop_loss_share=Decimal("0.99"))
        if told_by == "book-change":
            another_trader_places(rig.exchange, HOLD, BookSide.BID, Decimal("0.50"), Decimal(1))
        sold = _sold_with_the_read_out(rig, stepped)
    finally:
        release.set()
    _closed_once_answered(rig, sold)

"""A strategy's order resting from before the account held contracts that are not its own never
closes them. Kalshi nets YES and NO of one market: a NO bid (a YES ask) resting while the account
was flat sells YES once it fills, and after a person (or another strategy) bought YES, those
are the contracts it sells. Once the account holds such contracts, the loop withdraws what its
strategies' resting orders would take of them beyond each strategy's own part, as it cuts a new
order (`OwnPart`); an order within its strategy's own part stays."""

from __future__ import annotations

import threading
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from kalshi_cli.client.requests import CreateOrder, CreateOrderResult
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.order_terms import owner_in
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.runner.fakes import another_trader_places, swap_decide
from tests.runner.test_strategies_share_a_loop import (
    MM,
    MR,
    Recorder,
    Turns,
    _hand_buy,
    _moves_then_quotes,
    _order,
    _resting_of,
    _rig,
)
from tests.runner.test_strategy_scenarios import TICKER, Mover
from tests.waiting import PATIENCE_S, pause, poll_until


def _sweep_yes(rig: object, price: str) -> None:
    """Another trader buys every YES offered up to `price` (the book's 100 and anything else)."""
    another_trader_places(
        rig.exchange,  # type: ignore[attr-defined]
        TICKER,
        BookSide.BID,
        Decimal(price),
        Decimal("200"),
    )


def test_a_resting_no_bid_is_withdrawn_once_the_account_holds_a_persons_yes(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path, MM)
    Mover(rig.exchange).quote("0.40", "0.45")
    # a NO bid at 0.50 is a YES ask at 0.50: it rests above the book's ask
    swap_decide(rig.loop, Recorder(_order(Side.NO, Action.BUY, "0.50", "4")), MM)
    rig.step(1.0)
    assert [o.yes_price for o in _resting_of(rig, MM)] == [Decimal("0.50")]
    _hand_buy(rig, "0.45", "10")
    for _ in range(3):
        rig.step(1.0)
    assert _resting_of(rig, MM) == []
    _sweep_yes(rig, "0.50")
    (held,) = [p for p in rig.client.get_positions() if p.ticker == TICKER]
    assert held.position == Decimal("10")  # the person's 10 YES, none sold


def test_a_resting_order_of_one_strategy_never_sells_anothers_contracts(tmp_path: Path) -> None:
    rig = _rig(tmp_path, MM, MR)
    Mover(rig.exchange).quote("0.40", "0.45")
    swap_decide(rig.loop, Recorder(_order(Side.NO, Action.BUY, "0.50", "4")), MM)
    buy = _order(Side.YES, Action.BUY, "0.45", "10", TimeInForce.IOC)
    swap_decide(rig.loop, Recorder(), MR)
    rig.step(1.0)
    assert [o.yes_price for o in _resting_of(rig, MM)] == [Decimal("0.50")]
    swap_decide(rig.loop, Recorder(buy), MR)  # mean-reversion buys 10 YES
    for _ in range(3):
        rig.step(1.0)
    assert rig.loop.portfolio.view_for(TICKER, MR).position == Decimal("10")
    assert _resting_of(rig, MM) == []
    _sweep_yes(rig, "0.50")
    assert rig.loop.portfolio.view_for(TICKER, MR).position == Decimal("10")


def test_a_resting_sale_within_the_strategys_own_part_stays(tmp_path: Path) -> None:
    rig = _rig(tmp_path, MM)
    Mover(rig.exchange).quote("0.40", "0.45")
    buy = _order(Side.YES, Action.BUY, "0.45", "4", TimeInForce.IOC)
    sale = _order(Side.NO, Action.BUY, "0.50", "4")  # a YES ask of its 4
    swap_decide(rig.loop, _moves_then_quotes([buy], sale), MM)
    for _ in range(3):
        rig.step(1.0)
    assert rig.loop.portfolio.view_for(TICKER, MM).position == Decimal("4")
    assert [o.yes_price for o in _resting_of(rig, MM)] == [Decimal("0.50")]
    _hand_buy(rig, "0.45", "6")
    for _ in range(3):
        rig.step(1.0)
    assert [o.remaining_count for o in _resting_of(rig, MM)] == [Decimal("4")]


def test_a_sale_resting_by_hand_stays_whatever_the_account_holds(tmp_path: Path) -> None:
    """A person's own YES ask rests beside the strategy's 4 YES and is still resting when the
    person buys 2 more: it takes the strategy's contracts once it fills, but it is the person's
    order, never the loop's to withdraw."""
    rig = _rig(tmp_path, MM)
    Mover(rig.exchange).quote("0.40", "0.45")
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.45", "4", TimeInForce.IOC)), MM)
    for _ in range(2):
        rig.step(1.0)
    assert rig.loop.portfolio.view_for(TICKER, MM).position == Decimal("4")
    _hand_buy(rig, "0.60", "4", BookSide.ASK, TimeInForce.GTC)  # a YES ask at 0.60, by hand
    rig.step(1.0)
    _hand_buy(rig, "0.45", "2")
    for _ in range(3):
        rig.step(1.0)
    assert rig.loop.portfolio.position(TICKER) == Decimal("6")
    by_hand = [o for o in rig.client.iter_orders(status="resting") if o.ticker == TICKER]
    assert [(o.book_side, o.remaining_count) for o in by_hand] == [(BookSide.ASK, Decimal(4))]


def test_a_withdrawal_that_failed_is_sent_again_on_the_next_turn(tmp_path: Path) -> None:
    """The exchange refuses the first cancel of the strategy's NO bid (a 503): nothing about
    the position changes after it, and the order is still withdrawn, on the next turn."""
    rig = _rig(tmp_path, MM)
    Mover(rig.exchange).quote("0.40", "0.45")
    swap_decide(rig.loop, Recorder(_order(Side.NO, Action.BUY, "0.50", "4")), MM)
    rig.step(1.0)
    assert [o.yes_price for o in _resting_of(rig, MM)] == [Decimal("0.50")]
    swap_decide(rig.loop, Recorder(), MM)  # quotes nothing more
    rig.client.cancel_errors.append(ServerError("down", status=503))
    _hand_buy(rig, "0.45", "10")
    for _ in range(4):
        rig.step(1.0)
    assert rig.client.cancel_errors == [], "the first cancel was refused"
    assert _resting_of(rig, MM) == []


def test_every_resting_order_beyond_the_strategys_part_is_withdrawn_at_once(
    tmp_path: Path,
) -> None:
    """Two NO bids rest when a person buys YES: the turn that sees the person's contracts
    withdraws both, not one a turn."""
    rig = _rig(tmp_path, MM)
    Mover(rig.exchange).quote("0.40", "0.45")
    bids = (_order(Side.NO, Action.BUY, "0.50", "2"), _order(Side.NO, Action.BUY, "0.48", "2"))
    swap_decide(rig.loop, Recorder(*bids), MM)
    rig.step(1.0)
    assert len(_resting_of(rig, MM)) == 2
    swap_decide(rig.loop, Recorder(), MM)
    _hand_buy(rig, "0.45", "10")
    for _ in range(3):
        rig.step(1.0)
        if len(_resting_of(rig, MM)) < 2:
            break
    assert _resting_of(rig, MM) == []


def test_a_resting_sale_is_withdrawn_once_anothers_contracts_are_told_filled(
    tmp_path: Path,
) -> None:
    """Mean-reversion's bid is told filled (its `user_orders` message) while the fill read is
    still out: the account holds its 10 YES from then on, so market-maker's NO bid, which
    would sell them, is withdrawn then, not once the read comes back."""
    from tests.runner.execution.test_limits_count_fills_not_yet_read import (
        _fill_reads_held,
        _until_booked,
    )

    rig = _rig(tmp_path, MM, MR, send_workers=2)
    Mover(rig.exchange).quote("0.40", "0.45")
    swap_decide(rig.loop, Recorder(_order(Side.NO, Action.BUY, "0.50", "4")), MM)
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.42", "10")), MR)
    rig.step(1.0)

    def drained() -> None:  # both orders go out on the send workers: their answers booked
        pause()
        rig.loop.dispatch.drain()

    # the loop's view, not the exchange's: the exchange lists an order as soon as it took it,
    # while the worker may not have handed its answer back yet on a busy machine. A placement
    # not booked keeps the market busy, so the step below would skip its turn, and the fill
    # told meanwhile is left to the (held) fill read
    both = poll_until(
        lambda: (
            rig.loop.dispatch.in_flight == 0
            and len(_resting_of(rig, MM)) == 1
            and len(_resting_of(rig, MR)) == 1
        ),
        between=drained,
    )
    assert both, "each strategy's order rests, its answer booked"
    release = _fill_reads_held(rig)
    try:
        another_trader_places(rig.exchange, TICKER, BookSide.ASK, Decimal("0.42"), Decimal(10))
        rig.step(1.0)
        assert rig.loop.executor.fills.reading, "the fill read is still out"
        assert rig.loop.portfolio.position(TICKER) == 0, "the fill is not read yet"
        _until_booked(rig, "order_cancelled")
        assert _resting_of(rig, MM) == []
    finally:
        release.set()
        rig.loop.dispatch.close()


def test_a_resting_sale_is_withdrawn_once_a_fill_given_late_cuts_its_strategys_part(
    tmp_path: Path,
) -> None:
    """Mean-reversion buys 6 YES, then market-maker 4, and market-maker rests an ask for its 4.
    Mean-reversion's buy of 3 more fills and its answer is lost: the fill read comes before a
    lookup finds the order, so the 3 are booked as nobody's. A person then sells 3 YES by hand,
    which cuts no part (the parts hold 10 of the account's 10). Once the lookup finds the buy,
    its 3 are mean-reversion's, and the market is replayed: the person's sale came when the
    account held 13, so it cut the newest part, market-maker's, to 1. The account still holds
    10; only whose they are changed, and market-maker's ask of 4 would sell 3 of
    mean-reversion's contracts once it fills. It is withdrawn on that turn."""
    rig = _rig(tmp_path, MM, MR, risk={"min_edge": "0"})
    mover = Mover(rig.exchange)
    mover.quote("0.40", "0.45")
    mean_reversion, market_maker = Turns(), Turns()
    swap_decide(rig.loop, mean_reversion, MR)
    swap_decide(rig.loop, market_maker, MM)
    mean_reversion.then([_order(Side.YES, Action.BUY, "0.45", "6", TimeInForce.IOC)])
    rig.step(1.0)
    market_maker.then([_order(Side.YES, Action.BUY, "0.45", "4", TimeInForce.IOC)])
    mover.quote("0.40", "0.45")  # a new book: each strategy is asked again
    rig.step(1.0)
    ask = replace(_order(Side.YES, Action.SELL, "0.70", "4"), model_fair=Decimal("0.30"))
    market_maker.then([ask])
    mover.quote("0.41", "0.45")
    rig.step(1.0)
    assert [o.remaining_count for o in _resting_of(rig, MM)] == [Decimal("4")]

    def parts() -> dict[str, Decimal]:
        return {n: rig.loop.portfolio.view_for(TICKER, n).position for n in (MM, MR)}

    rig.client.create_errors.append("unknown")
    # the exchange took the buy but does not list it until the test says so
    rig.client.lookup_errors.extend("missing" for _ in range(100))
    mean_reversion.then([_order(Side.YES, Action.BUY, "0.45", "3", TimeInForce.IOC)])
    mover.quote("0.40", "0.45")
    rig.step(1.0)
    rig.feed.drain_messages()  # and its messages are lost too
    for _ in range(3):
        rig.step(1.0)
    assert rig.loop.executor.unknown_orders.unknown, "not found yet"
    assert rig.loop.portfolio.position(TICKER) == Decimal("13")
    assert parts() == {MM: 4, MR: 6}, "the 3 are nobody's"
    _hand_buy(rig, "0.40", "3", BookSide.ASK)  # the person sells 3 YES
    for _ in range(3):
        rig.step(1.0)
    assert rig.loop.portfolio.position(TICKER) == Decimal("10")
    assert parts() == {MM: 4, MR: 6}
    assert [o.remaining_count for o in _resting_of(rig, MM)] == [Decimal("4")]
    rig.client.lookup_errors.clear()
    for _ in range(3):
        rig.step(1.0)
    assert rig.loop.executor.unknown_orders.unknown == {}
    assert rig.loop.portfolio.position(TICKER) == Decimal("10")
    assert parts() == {MM: 1, MR: 9}
    assert _resting_of(rig, MM) == []
    _sweep_yes(rig, "0.70")
    rig.step(1.0)
    (held,) = [p for p in rig.client.get_positions() if p.ticker == TICKER]
    assert held.position == Decimal("10")
    assert parts() == {MM: 1, MR: 9}


def test_a_fill_told_while_the_order_is_on_its_way_counts_once_its_answer_is_booked(
    tmp_path: Path,
) -> None:
    """Mean-reversion's bid rests on the exchange and fills there while its answer is still on
    its way to the loop (a worker not scheduled again on a busy machine): the `user_orders`
    message saying so comes first, and the answer, given before the fill, says it rests. Once
    the answer is booked the message still counts: market-maker's NO bid, which would sell
    those 10 YES, is withdrawn with the fill read still out, not once it comes back."""
    from tests.runner.execution.test_limits_count_fills_not_yet_read import (
        _fill_reads_held,
        _until_booked,
    )

    rig = _rig(tmp_path, MM, MR, send_workers=2)
    answered = threading.Event()
    create = rig.client.create_order

    def late(request: CreateOrder) -> CreateOrderResult:
        answer = create(request)
        if owner_in(request.client_order_id or "") == MR:
            answered.wait(PATIENCE_S)  # placed on the exchange; the answer held back
        return answer

    rig.client.create_order = late  # type: ignore[method-assign]
    Mover(rig.exchange).quote("0.40", "0.45")
    swap_decide(rig.loop, Recorder(_order(Side.NO, Action.BUY, "0.50", "4")), MM)
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.42", "10")), MR)
    rig.step(1.0)

    def drained() -> None:
        pause()
        rig.loop.dispatch.drain()

    both = poll_until(
        lambda: (
            rig.loop.dispatch.in_flight == 1
            and len(_resting_of(rig, MM)) == 1
            and len(_resting_of(rig, MR)) == 1
        ),
        between=drained,
    )
    assert both, "market-maker's bid booked, mean-reversion's on the exchange, its answer held"
    release = _fill_reads_held(rig)
    try:
        another_trader_places(rig.exchange, TICKER, BookSide.ASK, Decimal("0.42"), Decimal(10))
        rig.step(1.0)  # the message: mean-reversion's bid filled, its answer not booked
        assert _resting_of(rig, MM), "nothing withdrawn while the bid is on its way"
        answered.set()
        # mean-reversion's answer booked, as it said: resting
        booked = poll_until(lambda: rig.loop.log.counts["order_placed"] == 2, between=drained)
        assert booked, "mean-reversion's answer booked"
        swap_decide(rig.loop, Recorder(), MR)  # no bid again
        rig.step(1.0)
        _until_booked(rig, "order_cancelled")
        assert rig.loop.executor.fills.reading, "the fill read is still out"
        assert rig.loop.portfolio.position(TICKER) == 0, "the fill is not read yet"
        assert _resting_of(rig, MM) == []
    finally:
        answered.set()
        release.set()
        rig.loop.dispatch.close()

"""An order whose answer was lost, found by a lookup by its client order id, is the loop's own
from then on: resting, it is in the loop's book as its strategy's order on its own terms; ended,
it is not; partly filled, a fill read is due at once; and the fills read while it was unknown,
booked as nobody's, are all its strategy's. Its lookups count with the API error guard while the
loop trades (each judged by when it was sent, as every call is), and never during a stop: lookups
that failed while a stop waited must not leave the state file in SAFE_MODE for the next start."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.store import IntentRecord
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.runner.fakes import Held, Rig, another_trader_places, make_rig, place_on_desk

PRICE = Decimal("0.10")  # below the simulated makers' bids: the quote rests


def _rig(tmp_path: Path, **risk: int) -> Rig:
    """A loop whose own strategy stays quiet (a spike it never sees): the tests decide."""
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, risk=risk, read_lag_s=0.5)
    rig.step(0.1)
    return rig


def _lost_quote(
    rig: Rig, side: Side = Side.YES, *, market: int = 0, lands: bool = True
) -> tuple[str, str]:
    """A quote to buy 10 of `side` in the rig's `market`-th market whose answer is lost,
    landed on the exchange at once (resting) unless it never `lands`; its client order id and
    market."""
    ticker = list(rig.exchange.reference.markets)[market]
    quote = Intent(
        ticker=ticker,
        side=side,
        action=Action.BUY,
        price=PRICE,
        count=Decimal("10"),
        model_fair=Decimal("0.20"),
        reason="a quote",
        strategy="spike",
        post_only=True,
    )
    while rig.loop.executor.guard.backing_off:  # an earlier lost answer's backoff
        rig.clock.advance(0.5)
    before = set(rig.loop.executor.unknown_orders.unknown)
    rig.client.create_errors.append(Held(10_000.0))
    rig.loop.executor.execute(quote, last_data_at=rig.clock.wall())
    (coid,) = set(rig.loop.executor.unknown_orders.unknown) - before
    if lands:  # this quote's create, held last, reaches the exchange now
        *earlier, (_, request, held) = rig.client.held
        rig.client.held = [*earlier, (0.0, request, held)]
        rig.client.deliver_held()
    return coid, ticker


def _sell_into_quote(rig: Rig, ticker: str, count: Decimal) -> None:
    """Another account sells YES down to the quote's price: every bid above it, then `count`
    of the quote."""
    bids, _ = rig.exchange.engine.book(ticker)
    ahead = sum((size for price, size in bids if price > PRICE), Decimal(0))
    another_trader_places(rig.exchange, ticker, BookSide.ASK, PRICE, ahead + count)


def _down() -> ServerError:
    return ServerError("down", status=503)


@pytest.mark.parametrize("side", [Side.YES, Side.NO])
def test_a_lost_quote_found_resting_is_its_strategys_order_on_its_own_terms(
    tmp_path: Path, side: Side
) -> None:
    rig = _rig(tmp_path)
    coid, ticker = _lost_quote(rig, side)
    assert rig.loop.portfolio.resting(ticker) == []
    rig.loop.executor.unknown_orders.resolve()
    (found,) = rig.loop.portfolio.resting(ticker)
    row = rig.store.orders.get_intent(coid)
    assert row is not None and row.status == "resting"
    assert (found.order_id, found.client_order_id, found.strategy) == (row.order_id, coid, "spike")
    assert (found.side, found.action, found.price, found.remaining) == (
        side,
        Action.BUY,
        PRICE,
        Decimal("10"),
    )


def test_a_lookup_round_settles_the_orders_found_after_one_that_may_still_land(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path)
    unknown = rig.loop.executor.unknown_orders
    landing, _ = _lost_quote(rig, market=0, lands=False)
    found, ticker = _lost_quote(rig, market=1)
    assert list(unknown.unknown) == [landing, found]
    unknown.resolve()
    assert list(unknown.unknown) == [landing], "not listed yet, inside its window"
    row = rig.store.orders.get_intent(found)
    assert row is not None and row.status == "resting"
    assert [o.client_order_id for o in rig.loop.portfolio.resting(ticker)] == [found]


def test_lookups_booked_after_one_of_their_orders_was_settled_settle_the_others(
    tmp_path: Path,
) -> None:
    """A worker's lookups of two lost quotes come back after a lookup of the first, made
    meanwhile, settled it: the second is settled from them all the same."""
    rig = _rig(tmp_path)
    unknown = rig.loop.executor.unknown_orders
    _, one = _lost_quote(rig, market=0)
    second, other = _lost_quote(rig, market=1)
    looked = unknown.look(unknown.in_markets())
    unknown.resolve(markets={one})
    assert list(unknown.unknown) == [second]
    unknown.settle(looked)
    assert unknown.unknown == {}
    row = rig.store.orders.get_intent(second)
    assert row is not None and row.status == "resting"
    assert [o.client_order_id for o in rig.loop.portfolio.resting(other)] == [second]


def test_a_lost_quote_found_filled_is_not_resting_in_the_loops_book(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    coid, ticker = _lost_quote(rig)
    _sell_into_quote(rig, ticker, Decimal("10"))
    rig.loop.executor.unknown_orders.resolve()
    row = rig.store.orders.get_intent(coid)
    assert row is not None and row.status == "executed"
    assert rig.loop.portfolio.resting(ticker) == []


def test_a_lost_quote_found_with_one_contract_filled_makes_a_fill_read_due(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path)
    _, ticker = _lost_quote(rig)
    _sell_into_quote(rig, ticker, Decimal("1"))
    fills = rig.loop.executor.fills
    fills.due.clear()
    rig.loop.executor.unknown_orders.resolve()
    assert fills.due.is_set()


def test_the_fills_read_while_a_lost_quote_was_unknown_are_all_its_strategys_once_found(
    tmp_path: Path,
) -> None:
    """Two fills of the quote, each read while every lookup fails, are booked as nobody's;
    found, the quote takes both: the state file's rows of them name it and its strategy, and
    the strategy's own part holds what they bought."""
    rig = _rig(tmp_path)
    coid, ticker = _lost_quote(rig)
    fills = rig.loop.executor.fills
    for count in (Decimal("2"), Decimal("3")):
        _sell_into_quote(rig, ticker, count)
        rig.client.lookup_errors.extend([_down(), _down()])  # the read's, and before booking
        fills.read_for()
        assert rig.loop.portfolio.view_for(ticker, "spike").position == 0, "nobody's yet"
    rig.loop.executor.unknown_orders.resolve()
    booked = [f for f in rig.store.fills.read() if f.ticker == ticker]
    assert sorted(f.count for f in booked) == [2, 3]
    assert {(f.client_order_id, f.strategy) for f in booked} == {(coid, "spike")}
    assert rig.loop.portfolio.view_for(ticker, "spike").position == 5


def test_a_second_lost_order_of_a_market_found_later_still_takes_its_fills(
    tmp_path: Path,
) -> None:
    """Two orders of one market lost (as a batch's may be): the first is found while the
    second is still unknown, and the second then lands and fills, the fill read while its
    lookups fail. Found at last, the second takes its fill: the market's parts are kept for it
    until no order there is of unknown outcome."""
    rig = _rig(tmp_path)
    unknown = rig.loop.executor.unknown_orders
    _, ticker = _lost_quote(rig)
    second = "spike:second"
    price = PRICE + Decimal("0.01")  # above the first: filled first
    rig.store.orders.record_intent(
        IntentRecord(
            second, ticker, BookSide.BID, price, Decimal(5), Side.YES, Action.BUY,
            strategy="spike",
        )
    )  # fmt: skip
    unknown.lost(second, ticker)
    unknown.resolve()  # the first found; the second not placed yet, inside its window
    assert list(unknown.unknown) == [second]
    place_on_desk(
        rig.exchange, rig.client.account_id, ticker, BookSide.BID, price, 5, client_order_id=second
    )
    bids, _ = rig.exchange.engine.book(ticker)
    ahead = sum((size for p, size in bids if p > price), Decimal(0))
    another_trader_places(rig.exchange, ticker, BookSide.ASK, price, ahead + 2)
    rig.client.lookup_errors.extend([_down(), _down()])
    rig.loop.executor.fills.read_for()
    assert rig.loop.portfolio.view_for(ticker, "spike").position == 0, "nobody's yet"
    unknown.resolve()
    assert unknown.unknown == {}
    assert rig.loop.portfolio.view_for(ticker, "spike").position == 2


def _fill_read(rig: Rig) -> None:
    rig.loop.executor.fills.read_for()


def _fill_read_without_lookup(rig: Rig) -> None:
    """A read that finds no fill of the market (no lookup of its own); the lookup is the one
    made before its fills are booked."""
    rig.loop.executor.fills.sync()


def _periodic(rig: Rig) -> None:
    rig.loop.executor.unknown_orders.resolve_later()


@pytest.mark.parametrize(
    "lookup", [_periodic, _fill_read, _fill_read_without_lookup], ids=lambda f: f.__name__
)
def test_a_failed_lookup_of_a_lost_order_while_trading_backs_off(
    tmp_path: Path, lookup: Callable[[Rig], None]
) -> None:
    rig = _rig(tmp_path)
    _, ticker = _lost_quote(rig)
    _sell_into_quote(rig, ticker, Decimal("1"))  # a fill in its market, of an order unknown
    guard = rig.loop.executor.guard
    while guard.backing_off:  # the lost answer's own backoff
        rig.clock.advance(0.5)
    rig.client.lookup_errors.append(_down())
    lookup(rig)
    assert guard.backing_off


@pytest.mark.parametrize("wait", [True, False], ids=["waits", "one look"])
def test_a_stops_failed_lookups_of_a_lost_order_never_trip_safe_mode(
    tmp_path: Path, wait: bool
) -> None:
    rig = _rig(tmp_path, max_consecutive_errors=2)
    coid, _ = _lost_quote(rig)  # its lost answer the first error in a row
    assert rig.store.trading.trading_state().state == "ACTIVE"
    rig.client.lookup_errors.extend([_down()] * 3)
    errors = rig.loop.executor.counters.errors
    rig.loop.executor.unknown_orders.see_through(wait=wait)
    assert rig.store.trading.trading_state().state == "ACTIVE"
    assert rig.loop.executor.counters.errors == errors
    # waiting, the lookups are made again until one answers (the quote landed: found)
    assert (coid in rig.loop.executor.unknown_orders.unknown) == (not wait)


def test_a_lookup_failing_after_a_later_call_was_answered_does_not_back_off(
    tmp_path: Path,
) -> None:
    """A lookup held in the network fails after a fill read sent later was answered: the
    exchange was answering after the lookup left, so its failure is no evidence of an outage
    and the loop does not back off."""
    rig = _rig(tmp_path)
    unknown, guard = rig.loop.executor.unknown_orders, rig.loop.executor.guard
    _lost_quote(rig)
    while guard.backing_off:  # the lost answer's own backoff
        rig.clock.advance(0.5)
    rig.client.lookup_errors.append(_down())
    looked = unknown.look(unknown.in_markets())  # each lookup stamped as it leaves
    rig.clock.advance(1.0)
    rig.loop.executor.fills.sync()  # sent, and answered, after the lookup
    unknown.settle(looked)
    assert not guard.backing_off


def test_a_lookup_failing_after_an_earlier_lookup_was_answered_backs_off(
    tmp_path: Path,
) -> None:
    """An answered lookup says the exchange answered calls sent until it was sent, not until
    it was booked: a lookup sent after it that fails is an error that counts."""
    rig = _rig(tmp_path)
    unknown, guard = rig.loop.executor.unknown_orders, rig.loop.executor.guard
    _lost_quote(rig, lands=False)
    while guard.backing_off:
        rig.clock.advance(0.5)
    answered = unknown.look(unknown.in_markets())  # not listed yet
    rig.clock.advance(1.0)
    rig.client.lookup_errors.append(_down())
    failed = unknown.look(unknown.in_markets())  # sent a second after
    rig.clock.advance(1.0)
    unknown.settle(answered)
    unknown.settle(failed)
    assert guard.backing_off

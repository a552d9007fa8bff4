"""Every blocking state withdraws the loop's adding quotes at once, whatever the backoff says.

SAFE_MODE, HALTED, REDUCING (the daily circuit breaker), a stale market and the pause file each
stop new orders; a quote the loop left resting would add to a position all the same when it
fills, so it is cancelled in the tick that sees the state, even while the API error guard holds
new orders back. A cancel that fails is tried again on the next full pass. `kalshi resume` takes
effect on the next tick, backoff or not. On the fakes, with a ManualClock: no sleeping.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.risk.state import resume
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.runner.fakes import Rig, another_trader_places, make_rig

# one error trips SAFE_MODE, whose backoff then outlasts every test here by far
TRIP_AT_ONCE = {"max_consecutive_errors": 1, "backoff_max_s": 600.0}


def _server_error() -> ServerError:
    return ServerError("request failed: HTTP 503", status=503)


def _resting(rig: Rig, ticker: str | None = None) -> list[Any]:
    me = rig.client.account_id
    return [
        o
        for o in rig.exchange.history.orders(me)
        if o.status == "resting" and (ticker is None or o.ticker == ticker)
    ]


def _quoting(tmp_path: Path, settings: dict[str, Any] | None = None, **risk: Any) -> Rig:
    risk = {**TRIP_AT_ONCE, **risk}
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=risk, settings=settings)
    rig.step(0.1)
    assert _resting(rig), "the market maker quotes every market"
    return rig


def _trip_safe_mode(rig: Rig) -> None:
    """A fill read answered 503: with max_consecutive_errors 1, SAFE_MODE and a 600 s backoff."""
    rig.client.fills_error = _server_error()
    rig.loop.executor.fills_due = True
    rig.clock.advance(0.01)
    rig.loop.tick([], full=False)
    rig.client.fills_error = None
    assert rig.store.trading.trading_state().state == "SAFE_MODE"
    assert rig.loop.executor.guard.backing_off


def test_safe_mode_cancels_the_quotes_in_the_tick_that_trips_it(tmp_path: Path) -> None:
    rig = _quoting(tmp_path)
    _trip_safe_mode(rig)
    # a tick driven by the feed, not a full pass, and the backoff has 600 s to run
    assert _resting(rig) == []
    assert rig.loop.portfolio.orders == {}


def test_safe_mode_tripped_by_an_order_withdraws_the_other_quotes_in_that_tick(
    tmp_path: Path,
) -> None:
    rig = _quoting(tmp_path)
    quotes = _resting(rig)
    # one quote cancelled elsewhere (on the website): the market maker puts it back, and that
    # order is answered 503
    rig.exchange.desk.cancel_order(rig.client.account_id, quotes[0].order_id)
    rig.client.create_errors.append(_server_error())
    before = len(rig.client.requests)
    rig.step(0.01)
    assert len(rig.client.requests) == before + 1
    assert rig.store.trading.trading_state().state == "SAFE_MODE"
    assert _resting(rig) == [], "withdrawn in the same tick, not after the backoff"


def test_a_failed_withdraw_cancel_is_tried_again_on_the_next_pass(tmp_path: Path) -> None:
    rig = _quoting(tmp_path)
    quotes = len(_resting(rig))
    rig.client.cancel_errors.extend([_server_error()] * quotes)
    _trip_safe_mode(rig)
    assert len(_resting(rig)) == quotes, "the exchange refused every cancel"
    assert rig.loop.log.counts.get("cancel_failed") == quotes
    rig.step(1.0)  # the next full pass, deep inside the backoff
    assert _resting(rig) == []


def test_resume_takes_effect_on_the_next_tick_during_the_backoff(tmp_path: Path) -> None:
    rig = _quoting(tmp_path)
    _trip_safe_mode(rig)
    before = len(rig.client.requests)
    rig.step(1.0)
    assert len(rig.client.requests) == before, "nothing is placed in SAFE_MODE"
    resume(rig.store.trading)  # what `kalshi resume` does, from another process
    rig.step(0.01)
    assert rig.store.trading.trading_state().state == "ACTIVE"
    assert len(rig.client.requests) > before, "quoting again on the next tick"
    assert _resting(rig)


def test_the_pause_file_withdraws_the_quotes_and_unpausing_quotes_again(tmp_path: Path) -> None:
    pause_file = tmp_path / "trade.pause"
    rig = _quoting(tmp_path, settings={"pause_file": pause_file})
    pause_file.touch()
    rig.step(0.01)
    assert _resting(rig) == []
    pause_file.unlink()
    rig.step(1.0)
    assert _resting(rig)


def test_a_stale_market_loses_its_quotes_and_the_others_keep_theirs(tmp_path: Path) -> None:
    rig = _quoting(tmp_path)
    stale, *fresh = sorted({o.ticker for o in _resting(rig)})
    assert fresh, "the scenario has several quoted markets"
    rig.feed.stale.add(stale)
    rig.step(1.0)
    assert _resting(rig, stale) == []
    assert all(_resting(rig, t) for t in fresh)


def test_a_silent_feed_withdraws_every_quote(tmp_path: Path) -> None:
    rig = _quoting(tmp_path)
    rig.feed.silent = True
    # no message for longer than risk.stale_after_s (10 s): the rule calls every market stale
    rig.clock.advance(10.0)
    rig.loop.tick([], full=True)
    assert _resting(rig) == []


def _long_with_an_exit(rig: Rig, extra: Decimal) -> Any:
    """The loop holds YES (another trader sold into its bid) and rests an exit selling what it
    holds plus `extra`; that exit, as the exchange lists it."""
    quote = next(o for o in _resting(rig) if o.book_side is BookSide.BID)
    # another trader sells down to the loop's bid, and into it
    bids, _ = rig.exchange.engine.book(quote.ticker)
    sweep = sum((size for price, size in bids if price >= quote.price), Decimal(0))
    another_trader_places(rig.exchange, quote.ticker, BookSide.ASK, quote.price, sweep)
    rig.step(0.01)
    held = rig.loop.portfolio.position(quote.ticker)
    assert held > 0
    exit_ = Intent(
        ticker=quote.ticker,
        side=Side.YES,
        action=Action.SELL,
        price=Decimal("0.99"),
        count=held + extra,
        model_fair=Decimal("0.50"),
        reason="an exit",
        strategy="market-maker",
        post_only=True,
    )
    assert rig.loop.executor.execute(exit_, last_data_at=rig.clock.wall())
    coid = rig.client.requests[-1].client_order_id
    return next(o for o in _resting(rig, quote.ticker) if o.client_order_id == coid)


def test_orders_that_only_reduce_stay_in_safe_mode(tmp_path: Path) -> None:
    rig = _quoting(tmp_path)
    placed = _long_with_an_exit(rig, Decimal(0))
    _trip_safe_mode(rig)
    assert [o.order_id for o in _resting(rig)] == [placed.order_id]


def test_an_exit_larger_than_the_position_is_withdrawn(tmp_path: Path) -> None:
    rig = _quoting(tmp_path)
    # filled in full it would sell 5 more than held: a short position of 5, which adds
    _long_with_an_exit(rig, Decimal(5))
    _trip_safe_mode(rig)
    assert _resting(rig) == []


def test_a_stale_market_loses_every_quote_of_the_loop_even_one_that_reduces(
    tmp_path: Path,
) -> None:
    """A quote priced from a book the loop can no longer see may be a gift whichever way it
    points: an exit selling what the loop holds goes with the rest (a dead feed left two such
    quotes resting through 23 s of silence). The strategy quotes again once data is back."""
    rig = _quoting(tmp_path)
    placed = _long_with_an_exit(rig, Decimal(0))
    rig.feed.silent = True
    rig.clock.advance(10.0)
    rig.loop.tick([], full=True)
    assert placed.order_id not in {o.order_id for o in _resting(rig)}
    assert _resting(rig) == []

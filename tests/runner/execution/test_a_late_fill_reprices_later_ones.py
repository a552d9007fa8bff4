"""A fill the exchange lists in a later read than a fill made after it (reads lag writes; the
catch-up reads from a margin before the last fill; a `fill` message and a read can cross) is
applied after that later fill. Average cost is path dependent, so each fill's stored realized
P&L, which the daily circuit breaker adds up, must be what the replay in time order gives:
the figure `kalshi pnl` reports from the same state file, and what a restart rebuilds."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.runner.preflight import rebuild
from kalshi_cli.services.pnl import summarize_store
from kalshi_cli.vocabulary.clock import utc_day
from tests.runner.fakes import START, listed_fill, make_rig


def test_a_fill_listed_after_a_later_one_realizes_what_the_replay_in_time_order_does(
    tmp_path: Path,
) -> None:
    rig = make_rig(tmp_path / "s.db")
    ticker = next(iter(rig.loop.portfolio.markets))
    bought = listed_fill("t1-buy", ticker, "bid", "0.4000", 10)
    sold = listed_fill("t2-sell", ticker, "ask", "0.5000", 20)
    again = listed_fill("t3-buy", ticker, "bid", "0.6000", 30)
    fills = rig.loop.executor.fills
    rig.client.iter_fills = lambda **_: iter([again, bought])  # type: ignore[method-assign]
    assert fills.sync(since_ts=0) == 2
    day = utc_day(START)
    assert rig.loop.records.daily_realized_pnl(day) == Decimal("-0.02")  # the breaker's, kept
    # the next read lists the sale, made between the two
    rig.client.iter_fills = lambda **_: iter([again, sold, bought])  # type: ignore[method-assign]
    assert fills.sync(since_ts=0) == 1

    # in time order: 10 bought at $0.40, sold at $0.50 (+$1.00), 10 bought at $0.60 held;
    # $0.03 of fees
    assert summarize_store(rig.store).realized == Decimal("0.97")
    stored = {f.fill_id: f.realized_pnl for f in rig.store.fills.iter_fills()}
    assert stored == {
        "t1-buy": Decimal("-0.01"),
        "t2-sell": Decimal("0.99"),
        "t3-buy": Decimal("-0.01"),
    }
    assert rig.store.trading.daily_realized_pnl(day) == Decimal("0.97")
    assert rig.loop.records.daily_realized_pnl(day) == Decimal("0.97")
    # the loop's position is what a restart rebuilds: 10 held at $0.60, not at $0.50
    held = rig.loop.portfolio.pnl.markets[ticker]
    rebuilt = Portfolio(rig.loop.portfolio.markets.values())
    rebuild(rig.store, rebuilt, ticker=ticker)
    again_held = rebuilt.pnl.markets[ticker]
    assert (held.position, held.basis) == (Decimal(10), Decimal("6.00"))
    assert (held.position, held.basis, held.realized) == (
        again_held.position,
        again_held.basis,
        again_held.realized,
    )


def test_a_late_fill_before_midnight_reprices_a_sale_of_the_next_day(tmp_path: Path) -> None:
    """The day the breaker reads is the sale's, not the late fill's: 10 bought at $0.40 and,
    listed late, 10 at $0.60 just before midnight make the sale at $0.50 after it realize
    $0.00, not the $1.00 it realized against $0.40 alone."""
    rig = make_rig(tmp_path / "s.db")
    ticker = next(iter(rig.loop.portfolio.markets))
    bought = listed_fill("d1-buy", ticker, "bid", "0.4000", -30)
    late = listed_fill("d1-late-buy", ticker, "bid", "0.6000", -20)
    sold = listed_fill("d2-sell", ticker, "ask", "0.5000", 10)
    fills, today = rig.loop.executor.fills, utc_day(START)
    rig.client.iter_fills = lambda **_: iter([sold, bought])  # type: ignore[method-assign]
    assert fills.sync(since_ts=0) == 2
    assert rig.loop.records.daily_realized_pnl(today) == Decimal("0.99")  # kept by the loop
    rig.client.iter_fills = lambda **_: iter([sold, late, bought])  # type: ignore[method-assign]
    assert fills.sync(since_ts=0) == 1
    assert rig.store.trading.daily_realized_pnl(today) == Decimal("-0.01")
    assert rig.loop.records.daily_realized_pnl(today) == Decimal("-0.01")

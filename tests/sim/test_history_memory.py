"""The candle history stays bounded by count per market-minute, and answers as before.

`MarketHistory` recorded every change of a market's top of book: served on the wall clock (no
two changes share an instant) 200 quoted markets added samples without end. A minute that has
passed now keeps only what a candle reads of it; the candles are those of the full record.
"""

from __future__ import annotations

from collections.abc import MutableSequence
from typing import Any

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import (
    BookChanged,
    MarketLifecycle,
    PositionChanged,
    SimNotice,
    TradeHappened,
)
from kalshi_cli.sim.core.scenarios import build_exchange
from kalshi_cli.sim.server.history import MarketHistory, _Track, candlesticks
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import ONE, ZERO

MINUTES = 6


def _run() -> tuple[MarketHistory, dict[str, _Track], list[int], Exchange, int, int]:
    clock = ManualClock()
    exchange = build_exchange("default", clock=clock)
    history = MarketHistory()
    history.attach(exchange, clock)
    full: dict[str, _Track] = {}  # every sample, as recorded before the bound

    def keep_all(times: MutableSequence[float], values: list[Any], value: Any) -> None:
        if values and values[-1] == value:
            return
        if times and times[-1] >= clock.wall():
            values[-1] = value
            return
        times.append(clock.wall())
        values.append(value)

    def record(notice: SimNotice) -> None:
        if isinstance(notice, TradeHappened):
            ticker = notice.trade.ticker
        elif isinstance(notice, BookChanged | PositionChanged | MarketLifecycle):
            ticker = notice.ticker
        else:
            return
        yes_bid, no_bid = exchange.engine.best_bids(ticker)
        quote = (yes_bid if yes_bid is not None else ZERO, ONE - no_bid if no_bid else ONE)
        track = full[ticker]
        keep_all(track.quote_ts, track.quotes, quote)
        keep_all(
            track.interest_ts, track.interest, exchange.reference.markets[ticker].open_interest
        )

    for ticker in exchange.reference.markets:
        full[ticker] = _Track(
            quote_ts=list(history.track(ticker).quote_ts),
            quotes=list(history.track(ticker).quotes),
            interest_ts=list(history.track(ticker).interest_ts),
            interest=list(history.track(ticker).interest),
        )
    exchange.reference.add_listener(record)
    start = int(clock.wall())
    kept_by_minute = []
    for _minute in range(MINUTES):
        for _ in range(600):
            clock.advance(0.1)
            exchange.tick()
        passed = clock.wall() // 60 * 60  # samples at or before it are of passed minutes
        kept_by_minute.append(
            max(
                sum(ts <= passed for ts in history.track(t).quote_ts)
                for t in exchange.reference.markets
            )
        )
    return history, full, kept_by_minute, exchange, start, int(clock.wall())


def test_the_quote_history_keeps_at_most_five_samples_per_market_minute() -> None:
    _, full, kept_by_minute, *_ = _run()
    for minutes, kept in enumerate(kept_by_minute, start=1):
        assert kept <= 5 * (minutes + 1) + 1  # passed minutes (the first maybe partial), first
    # the record it replaces grew with every change (the default scenario: ~30 a market-minute)
    most = max(len(track.quote_ts) for track in full.values())
    assert most > 2 * (5 * MINUTES + 1)


def test_candles_from_the_bounded_history_are_those_of_the_full_record() -> None:
    history, full, _, exchange, start, now = _run()
    for ticker in exchange.reference.markets:
        trades = exchange.history.trades(ticker)[::-1]
        for period_s in (60, 3600):
            first = (start // period_s) * period_s + period_s
            ends = list(range(first, now + period_s, period_s))
            for latest in (False, True):
                got = candlesticks(
                    history.track(ticker), trades, ends, period_s,
                    include_latest_before_start=latest,
                )  # fmt: skip
                want = candlesticks(
                    full[ticker], trades, ends, period_s, include_latest_before_start=latest
                )
                assert got == want, ticker

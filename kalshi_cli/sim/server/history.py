"""What a market's candlesticks are made of, recorded as the exchange runs: `MarketHistory` keeps,
per market, the top of book and open interest each time either changes, from the server's start.
docs/simulator.md "Market history, the schedule and maintenance".
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import MutableSequence, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kalshi_cli.sim.core.records import (
    BookChanged,
    MarketLifecycle,
    PositionChanged,
    SimNotice,
    SimTrade,
    TradeHappened,
)
from kalshi_cli.vocabulary.clock import Clock
from kalshi_cli.vocabulary.units import ONE, ZERO, fmt_count, fmt_dollars

if TYPE_CHECKING:
    from kalshi_cli.sim.core.exchange import Exchange
    from kalshi_cli.sim.core.record_views import TradeTimeline

Json = dict[str, Any]


@dataclass
class _Track:
    """One market's samples: times, and (best YES bid, best YES ask) and open interest. The
    times are a float array (8 bytes a sample, not a float object and a list
    slot); the values are references to the history's one object per distinct value."""

    quote_ts: MutableSequence[float] = field(default_factory=lambda: array("d"))
    quotes: list[tuple[Decimal, Decimal]] = field(default_factory=list)
    interest_ts: MutableSequence[float] = field(default_factory=lambda: array("d"))
    interest: list[Decimal] = field(default_factory=list)
    quote_from: int = 0  # where the current minute's quote samples start
    interest_from: int = 0  # where the current minute's open interest samples start


# Every period a candle reads is whole minutes, and every time it reads a sample "in effect at"
# is a minute boundary (period_ends, _synthetic): so of a minute that has passed, a candle reads
# only the lowest and highest bid and ask in it and its last state (and, of the very first minute,
# its first sample). `_put` forgets the rest when the next minute starts: a market keeps at most
# 5 quote samples and 1 open interest sample per minute it changed in (docs/simulator.md).
MINUTE_S = 60


def _minute(ts: float) -> int:  # unix seconds
    return math.ceil(ts / MINUTE_S)  # the minute (end - 60, end] the sample falls in


def _quote_kept(values: list[tuple[Decimal, Decimal]], lo: int, hi: int) -> set[int]:
    span = range(lo, hi)
    return {
        min(span, key=lambda i: values[i][0]),
        max(span, key=lambda i: values[i][0]),
        min(span, key=lambda i: values[i][1]),
        max(span, key=lambda i: values[i][1]),
        hi - 1,
    }


def _put(
    times: MutableSequence[float],  # unix seconds
    values: list[Any],
    ts: float,  # unix seconds
    value: Any,
    start: int,
    *,
    extremes: bool,
) -> int:
    """Record `value` at `ts`; returns where the current minute's samples start (`start` is
    where they started). A minute that has passed keeps its last sample, and its extremes when
    `extremes` (the quotes), and the first sample ever kept."""
    if values and values[-1] == value:
        return start
    if times and times[-1] >= ts:
        times[-1], values[-1] = times[-1], value  # one instant: keep its last state
        return start
    if times and _minute(ts) != _minute(times[-1]):
        hi = len(values)
        kept = _quote_kept(values, start, hi) if extremes else {hi - 1}
        if start == 0:
            kept.add(0)
        order = sorted(kept)
        kept_times = [times[i] for i in order]
        del times[start:]
        times.extend(kept_times)
        values[start:] = [values[i] for i in order]
        start = len(values)
    times.append(ts)
    values.append(value)
    return start


class MarketHistory:
    """Top of book and open interest over time, per market (see the module docstring)."""

    def __init__(self) -> None:
        self._tracks: dict[str, _Track] = {}
        # event -> (times, forecasts), in time order (GetEventForecastPercentilesHistory)
        self._forecasts: dict[str, tuple[list[float], list[dict[int, Decimal]]]] = {}
        self._exchange: Exchange | None = None
        self._clock: Clock | None = None
        # each distinct quote and open interest once: a candle reads them by
        # value only (min, max, ==, fmt_dollars), so equal ones may be one object
        self._values: dict[Any, Any] = {}

    def attach(self, exchange: Exchange, clock: Clock) -> None:
        """Start recording: every market's state now, then each change the core reports."""
        self._exchange, self._clock = exchange, clock
        now = clock.wall()
        for ticker in exchange.reference.markets:
            self._sample(ticker, now)
        exchange.reference.add_listener(self.on_notice)

    def on_notice(self, notice: SimNotice) -> None:
        if isinstance(notice, BookChanged | PositionChanged | MarketLifecycle):
            ticker = notice.ticker
        elif isinstance(notice, TradeHappened):
            ticker = notice.trade.ticker
        else:
            return
        assert self._clock is not None
        self._sample(ticker, self._clock.wall())

    def _sample(self, ticker: str, now: float) -> None:  # unix seconds
        assert self._exchange is not None
        market = self._exchange.reference.markets.get(ticker)
        if market is None:
            return
        yes_bid, no_bid = self._exchange.engine.best_bids(ticker)
        values = self._values
        bid = yes_bid if yes_bid is not None else ZERO
        ask = ONE - no_bid if no_bid else ONE
        quote = (values.setdefault(bid, bid), values.setdefault(ask, ask))
        quote = values.setdefault(quote, quote)
        interest = values.setdefault(market.open_interest, market.open_interest)
        track = self._tracks.setdefault(ticker, _Track())
        track.quote_from = _put(
            track.quote_ts, track.quotes, now, quote, track.quote_from, extremes=True
        )
        track.interest_from = _put(
            track.interest_ts,
            track.interest,
            now,
            interest,
            track.interest_from,
            extremes=False,
        )

    def track(self, ticker: str) -> _Track:
        return self._tracks.get(ticker) or _Track()

    # event forecasts --------------------------------------------------------------------------

    def add_forecast(self, event_ticker: str, ts: float, values: dict[int, Decimal]) -> None:
        """A forecast of an event at `ts`: percentile (0-9999) -> the forecast value. The
        simulator has no forecasting of its own: a scenario or test sets these (admin API)."""
        times, samples = self._forecasts.setdefault(event_ticker, ([], []))
        at = bisect.bisect_right(times, ts)
        times.insert(at, ts)
        samples.insert(at, dict(values))

    def forecast_at(self, event_ticker: str, ts: float) -> dict[int, Decimal] | None:
        """The event's forecast in effect at `ts` (the last set at or before it), if any."""
        times, samples = self._forecasts.get(event_ticker, ([], []))
        i = bisect.bisect_right(times, ts)
        return samples[i - 1] if i else None


def period_ends(start_ts: int, end_ts: int, period_s: int, created: float, now: float) -> list[int]:
    """The ends of the periods to list: on or after `start_ts`, on or before `end_ts`, from the
    one the market was created in up to the one in progress."""
    first = max(start_ts, math.floor(created / period_s) * period_s + 1)
    first_end = math.ceil(first / period_s) * period_s
    last_end = min(end_ts, math.ceil(now / period_s) * period_s)
    return list(range(first_end, last_end + 1, period_s))


def _at(times: Sequence[float], values: list[Any], ts: float, default: Any) -> Any:
    """The value in effect at `ts` (the last sample at or before it; before any sample, the
    first one)."""
    i = bisect.bisect_right(times, ts)
    if i:
        return values[i - 1]
    return values[0] if values else default


def _ohlc(values: list[Decimal]) -> Json:
    return {
        "open_dollars": fmt_dollars(values[0]),
        "low_dollars": fmt_dollars(min(values)),
        "high_dollars": fmt_dollars(max(values)),
        "close_dollars": fmt_dollars(values[-1]),
    }


def candle_trades(timeline: TradeTimeline, ends: list[int], period_s: int) -> list[SimTrade]:
    """The trades `candlesticks` reads for the periods ending at `ends`, oldest first: those
    periods' and the last one before them (the first period's `previous`, the synthetic
    candle's). Read from the market's timeline by bisection, so a request rebuilds no archived
    trade outside its window; `candlesticks` answers the same as from every trade."""
    if not ends:
        return []
    first = timeline.bisect_right(ends[0] - period_s)
    return timeline.between(max(first - 1, 0), timeline.bisect_right(ends[-1]))


def candlesticks(
    track: _Track,
    trades: list[SimTrade],
    ends: list[int],
    period_s: int,
    *,
    include_latest_before_start: bool = False,
) -> list[Json]:
    """`MarketCandlestick`s of one market for the periods ending at `ends`; `trades` oldest
    first. `include_latest_before_start` prepends the spec's synthetic candle: the last real one
    before the first period, moved to the first period's end, its prices null and
    `previous_dollars` the close of the real one."""
    trade_ts = [t.ts for t in trades]
    out: list[Json] = []
    if include_latest_before_start and ends:
        synthetic = _synthetic(track, trades, trade_ts, ends[0], period_s)
        if synthetic is not None:
            out.append(synthetic)
    for end in ends:
        lo = end - period_s
        first, last = bisect.bisect_right(trade_ts, lo), bisect.bisect_right(trade_ts, end)
        in_period = trades[first:last]
        previous = trades[first - 1].price if first else None
        q_lo = bisect.bisect_right(track.quote_ts, lo)
        q_hi = bisect.bisect_right(track.quote_ts, end)
        quotes = [_at(track.quote_ts, track.quotes, lo, (ZERO, ONE)), *track.quotes[q_lo:q_hi]]
        volume = sum((t.count for t in in_period), ZERO)
        price: Json
        if in_period:
            prices = [t.price for t in in_period]
            mean = sum((t.price * t.count for t in in_period), ZERO) / volume
            price = {
                **_ohlc(prices),
                "mean_dollars": fmt_dollars(mean),
                "min_dollars": fmt_dollars(min(prices)),
                "max_dollars": fmt_dollars(max(prices)),
            }
        else:
            price = {}
        if previous is not None:
            price["previous_dollars"] = fmt_dollars(previous)
        out.append(
            {
                "end_period_ts": end,
                "yes_bid": _ohlc([q[0] for q in quotes]),
                "yes_ask": _ohlc([q[1] for q in quotes]),
                "price": price,
                "volume_fp": fmt_count(volume),
                "open_interest_fp": fmt_count(_at(track.interest_ts, track.interest, end, ZERO)),
            }
        )
    return out


def _synthetic(
    track: _Track, trades: list[SimTrade], trade_ts: list[float], first_end: int, period_s: int
) -> Json | None:
    before = bisect.bisect_right(trade_ts, first_end - period_s)
    if not before:
        return None  # no real candle before the start
    last = trades[before - 1]
    real_end = math.ceil(last.ts / period_s) * period_s
    quote = _at(track.quote_ts, track.quotes, real_end, (ZERO, ONE))
    price: Json = {"previous_dollars": fmt_dollars(last.price)}
    return {
        "end_period_ts": first_end,
        "yes_bid": _ohlc([quote[0]]),
        "yes_ask": _ohlc([quote[1]]),
        "price": price,
        "volume_fp": fmt_count(ZERO),
        "open_interest_fp": fmt_count(_at(track.interest_ts, track.interest, real_end, ZERO)),
    }

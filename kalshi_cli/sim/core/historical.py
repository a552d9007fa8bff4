"""The historical tier: which of the exchange's records are archived, as of the cutoff.

Kalshi splits its data into a live and a historical tier (`GET /historical/cutoff`; REFERENCE.md
section 4): four cutoffs, each `now - lag_seconds` here, move settled markets, trades and fills,
finished orders and settled events' positions to the historical endpoints. Nothing is copied: the
archive is a view over the core's records, so a record is in exactly one tier at any instant.
docs/simulator.md "The historical tier".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kalshi_cli.sim.core.record_views import TradeTimeline
from kalshi_cli.sim.core.records import SimFill, SimMarket, SimOrder, SimPosition, SimTrade
from kalshi_cli.vocabulary.units import ZERO

if TYPE_CHECKING:
    from kalshi_cli.sim.core.exchange import Exchange  # the served exchange, which keeps tiers

DAY_S = 24 * 3600
DEFAULT_LAG_S = 90 * DAY_S
COMPACT_AFTER_S = 60
"""A trade, a keyed account's fill, or its order finished this long ago is stored compactly
(`attach_retention`), whichever tier serves it."""
COMPACT_EVERY_S = 10
"""How often that compaction runs: its boundary moves in steps of this many seconds, so a busy
exchange pays one pass over its live orders every ten seconds, not one a tick."""


class HistoryPolicyError(ValueError):
    """A lag that is not a whole number of seconds >= 0."""


@dataclass
class HistoryPolicy:
    """How far behind the clock the cutoff runs (seconds)."""

    lag_seconds: int = DEFAULT_LAG_S
    position_buffer_seconds: int = 0
    compact_after_seconds: int = COMPACT_AFTER_S
    """Storage only, not the API (`attach_retention`): neither a scenario nor the admin API
    sets it, and no answer depends on it."""

    def update(self, data: dict[str, Any]) -> None:
        """Set from a scenario's `historical:` mapping or the admin API's body; checks every
        value before changing any."""
        unknown = set(data) - {"lag_seconds", "position_buffer_seconds"}
        if unknown:
            raise HistoryPolicyError(
                f"unknown key(s) {sorted(unknown)}; historical takes lag_seconds and "
                "position_buffer_seconds"
            )
        values = {}
        for name in ("lag_seconds", "position_buffer_seconds"):
            if name in data:
                value = data[name]
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise HistoryPolicyError(f"{name} must be a whole number of seconds >= 0")
                values[name] = value
        for name, value in values.items():
            setattr(self, name, value)

    def as_json(self) -> dict[str, int]:
        return {
            "lag_seconds": self.lag_seconds,
            "position_buffer_seconds": self.position_buffer_seconds,
        }


def policy_from(data: Any) -> HistoryPolicy:
    """A scenario's `historical:` mapping (absent: the defaults)."""
    policy = HistoryPolicy()
    if data is None:
        return policy
    if not isinstance(data, dict):
        raise HistoryPolicyError("historical must be a mapping")
    policy.update(data)
    return policy


class Archive:
    """The exchange's records split at the cutoffs of one instant `now` (unix seconds)."""

    def __init__(self, exchange: Exchange, policy: HistoryPolicy, now: float) -> None:
        self.exchange = exchange
        self.cutoff = now - policy.lag_seconds
        """market_settled_ts = trades_created_ts = orders_updated_ts"""
        self.positions_cutoff = self.cutoff - policy.position_buffer_seconds
        """market_positions_last_updated_ts"""
        self._events: dict[str, bool] = {}
        self._by_event: dict[str, list[SimMarket]] | None = None

    # one record -----------------------------------------------------------------------------

    def market(self, m: SimMarket) -> bool:
        return m.status == "settled" and m.settled_time is not None and m.settled_time < self.cutoff

    def trade(self, t: SimTrade) -> bool:
        return t.ts < self.cutoff

    def fill(self, f: SimFill) -> bool:
        return f.ts < self.cutoff

    def order(self, o: SimOrder) -> bool:
        return o.status != "resting" and o.last_update_time < self.cutoff

    def event(self, event_ticker: str) -> bool:
        """Every market of the event settled before the positions' cutoff: its positions are
        archived together."""
        known = self._events.get(event_ticker)
        if known is None:
            if self._by_event is None:  # one pass over the markets per request, at most
                self._by_event = {}
                for m in self.exchange.reference.markets.values():
                    self._by_event.setdefault(m.event_ticker, []).append(m)
            markets = self._by_event.get(event_ticker, [])
            known = bool(markets) and all(
                m.status == "settled"
                and m.settled_time is not None
                and m.settled_time < self.positions_cutoff
                for m in markets
            )
            self._events[event_ticker] = known
        return known

    def position(self, p: SimPosition) -> bool:
        market = self.exchange.reference.markets.get(p.ticker)
        return market is not None and self.event(market.event_ticker)

    # the historical tier ----------------------------------------------------------------------

    def markets(self) -> list[SimMarket]:
        return [m for m in self.exchange.reference.markets.values() if self.market(m)]

    def trades(self, ticker: str | None = None) -> list[SimTrade]:
        """Newest first."""
        return [t for t in self.exchange.history.trades(ticker) if self.trade(t)]

    def fills(self, account_id: str) -> list[SimFill]:
        """Newest first."""
        return [f for f in self.exchange.history.fills(account_id) if self.fill(f)]

    def orders(self, account_id: str) -> list[SimOrder]:
        """Newest first."""
        return [o for o in self.exchange.history.orders(account_id) if self.order(o)]

    def positions(self, account_id: str) -> list[SimPosition]:
        return [p for p in self.exchange.accounts.positions(account_id) if self.position(p)]


def attach_retention(exchange: Exchange, policy: HistoryPolicy) -> None:
    """On every tick, move the trades and the keyed accounts' fills and finished orders older than
    `compact_after_seconds` (or the cutoff, if sooner) into the exchange's compact archives
    (sim/core/trade_archive.py), a few bytes each, so a served simulator holds as objects only
    recent records and its resting orders, whatever the lag. Only storage moves: `Archive` still
    splits the tiers by time, so no answer changes."""

    def retain(now: float) -> None:
        # the cutoff's moves at once; the minute-old records' in steps:
        # each pass looks at every live order of every keyed account, and with the boundary
        # moving every tick a busy exchange had one due on nearly every tick
        compact = now - policy.compact_after_seconds
        before = max(now - policy.lag_seconds, compact - compact % COMPACT_EVERY_S)
        exchange.history.archive_trades(before)
        exchange.history.archive_fills(before)
        exchange.history.archive_orders(before)

    exchange.add_tick_hook(retain)


def bucket_end(ts: float, period_s: int) -> int:  # unix seconds
    """The end of the period a trade made at `ts` belongs to (one exactly on a boundary
    belongs to the next period); never lower for a later `ts`."""
    end = math.ceil(ts / period_s) * period_s
    return end + period_s if end == ts else end


def candle_window(
    timeline: TradeTimeline, start_ts: int, end_ts: int, period_min: int
) -> list[SimTrade]:
    """The trades `candles` needs for the periods ending in [start_ts, end_ts], newest first
    (as `Exchange.trades`): those periods' trades and the whole last period before them that
    saw one (its close is the first candle's `previous`), read from the market's timeline by
    bisection, so a request rebuilds no archived trade outside its window."""
    period = period_min * 60

    def end_of(ts: float) -> float:  # unix seconds
        return bucket_end(ts, period)

    first = timeline.bisect_left(start_ts, end_of)
    last = timeline.bisect_right(end_ts, end_of)
    if first:
        first = timeline.bisect_left(end_of(timeline.ts(first - 1)), end_of)
    return timeline.between(first, last)[::-1]


@dataclass(frozen=True)
class SimCandle:
    """One period of a market's trades (MarketCandlestickHistorical): trade-price OHLC, the
    volume-weighted mean, the previous period's close, volume and open interest at its end."""

    end_period_ts: int
    open: Decimal
    low: Decimal
    high: Decimal
    close: Decimal
    mean: Decimal
    previous: Decimal | None
    volume: Decimal
    open_interest: Decimal


def candles(
    trades: Iterable[SimTrade], start_ts: int, end_ts: int, period_min: int, open_interest: Decimal
) -> list[SimCandle]:
    """The periods (ending in [start_ts, end_ts]) that saw a trade, oldest first. A period ends
    at a multiple of its length; a trade exactly on a boundary belongs to the next period (as the
    live candlesticks of sim/core/serialize.py). The simulator keeps no quote history, so the
    bid/ask distributions are drawn from the same trade prices; an archived market is settled, and
    its open interest is what it had when it settled (zero: settlement pays every contract out)."""
    period = period_min * 60
    buckets: dict[int, list[SimTrade]] = {}
    for t in sorted(trades, key=lambda t: t.ts):
        buckets.setdefault(bucket_end(t.ts, period), []).append(t)
    out: list[SimCandle] = []
    previous: Decimal | None = None
    for end in sorted(buckets):
        ts = buckets[end]
        prices = [t.price for t in ts]
        volume = sum((t.count for t in ts), ZERO)
        mean = sum((t.price * t.count for t in ts), ZERO) / volume if volume else prices[-1]
        if start_ts <= end <= end_ts:
            out.append(
                SimCandle(
                    end,
                    prices[0],
                    min(prices),
                    max(prices),
                    prices[-1],
                    mean,
                    previous,
                    volume,
                    open_interest,
                )
            )
        previous = prices[-1]
    return out

"""The simulated exchange's reference data and plumbing: series, events and markets (their fee
schedules are a part of their own: fee_schedules.py), the validation of a market, price and
count, and the clock, ids, event listeners and journal every other part shares. `Reference` is
the one part of the `Exchange` (sim/core/exchange.py) every other part holds: the ledger
(accounts.py), the matching engine (matching.py), settlement, order groups and subaccounts.
"""

from __future__ import annotations

import functools
import secrets
import uuid
from decimal import Decimal
from typing import Any

import msgspec

from kalshi_cli.sim.core.fee_schedules import FeeSchedules, check_event_override
from kalshi_cli.sim.core.journal import Journal
from kalshi_cli.sim.core.records import (
    EventCreated,
    ExchangeError,
    Listener,
    MarketLifecycle,
    SimEvent,
    SimMarket,
    SimNotice,
    SimSeries,
    bad_request,
)
from kalshi_cli.vocabulary.clock import Clock
from kalshi_cli.vocabulary.models import (
    FeeModel,
    PriceRange,
    price_bounds,
    price_on_grid,
)
from kalshi_cli.vocabulary.units import COUNT_QUANTUM, is_fraction

_SEQ_BITS = 48  # `new_id`'s counter: 12 hex digits

_STATUS_REFUSAL = {
    "unopened": "market_not_open",
    "paused": "trading_paused",
    "closed": "market_closed",
    "determined": "market_closed",
    "settled": "market_closed",
}


@functools.lru_cache(maxsize=64)
def _ticks(ranges: tuple[PriceRange, ...]) -> frozenset[Decimal]:
    """Every valid price of a tick structure (shared by all markets that use it)."""
    return frozenset(
        r.start + r.step * i for r in ranges for i in range(int((r.end - r.start) / r.step) + 1)
    )


# id(ranges) -> (ranges, ticks): `_ticks`'s lru_cache hashes the whole tuple of ranges on every
# look-up (a frozen dataclass hashes in Python), once an order; the identity of the tuple a
# market holds is enough. The entry keeps the tuple alive, so its id is not reused meanwhile.
_TICKS_BY_ID: dict[int, tuple[tuple[PriceRange, ...], frozenset[Decimal]]] = {}


# Counts already found valid, by the market's `fractional_trading_enabled`: an order's count is
# checked with a set look-up instead of two Decimal remainders (`_check_count`). Validity
# depends on the value alone (5 and 5.00 are both whole), so a value-keyed set is exact; at
# most `_COUNTS_KEPT` of each are kept, a count met after that is checked in full every time.
_VALID_COUNTS: dict[bool, set[Decimal]] = {False: set(), True: set()}
_COUNTS_KEPT = 4096


def _market_ticks(ranges: tuple[PriceRange, ...]) -> frozenset[Decimal]:
    hit = _TICKS_BY_ID.get(id(ranges))
    if hit is not None and hit[0] is ranges:
        return hit[1]
    ticks = _ticks(ranges)
    if len(_TICKS_BY_ID) >= 4096:
        _TICKS_BY_ID.clear()
    _TICKS_BY_ID[id(ranges)] = (ranges, ticks)
    return ticks


class Reference:
    """Series, events and markets, and the shared plumbing (see the module docstring)."""

    def __init__(self, clock: Clock, fees: FeeModel | None) -> None:
        self.clock = clock
        self.listeners: list[Listener] = []
        self._series: dict[str, SimSeries] = {}
        self._events: dict[str, SimEvent] = {}
        self._markets: dict[str, SimMarket] = {}
        self.fees = FeeSchedules(self, fees)
        self.seq = 0
        self.set_salt(secrets.randbits(128))
        self.created_time = clock.wall()
        # the journal every part writes through (`log`), set by `Exchange` once it is open;
        # `replay_ts` is the time of the record being replayed (or of a `journaled` block)
        self.journal: Journal | None = None
        self.replay_ts: float | None = None
        self.since_snapshot = 0  # records written since the last snapshot

    # listeners ------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def emit(self, notice: SimNotice) -> None:
        for listener in self.listeners:
            listener(notice)

    # reference data -------------------------------------------------------------------------

    def add_series(self, series: SimSeries) -> None:
        if series.ticker in self._series:
            raise ExchangeError(409, "series_exists", f"series {series.ticker} already exists")
        if not series.updated_time:
            series.updated_time = self.now()
        self.fees.add_series(series)
        self.log("series", series=plain_record(series))
        self._series[series.ticker] = series

    def add_event(self, event: SimEvent) -> None:
        if event.event_ticker in self._events:
            raise ExchangeError(409, "event_exists", f"event {event.event_ticker} already exists")
        if not event.updated_time:
            event.updated_time = self.now()
        check_event_override(event.fee_type_override, event.fee_multiplier_override)
        self.log("event", event=plain_record(event))
        self._events[event.event_ticker] = event
        if self.listeners:
            self.emit(EventCreated(event.event_ticker, self.now()))

    def add_market(self, market: SimMarket) -> None:
        """Check, journal and list a market, on its event's shard; `announce_market` reports it
        once the components of the exchange that keep something per market have opened theirs."""
        event = self._events.get(market.event_ticker)
        if event is not None:
            market.exchange_index = event.exchange_index
        if market.ticker in self._markets:
            raise ExchangeError(409, "market_exists", f"market {market.ticker} already exists")
        if not market.price_ranges:
            raise bad_request("a market needs price_ranges")
        if self.fees.default is None and market.series_ticker not in self._series:
            raise bad_request(
                f"market {market.ticker}: series {market.series_ticker} not found, and this "
                "exchange has no default fees to charge it"
            )
        self.log("market", market=market_record(market))
        self._markets[market.ticker] = market

    def announce_market(self, market: SimMarket) -> None:
        if self.listeners:
            self.emit(
                MarketLifecycle(market.ticker, "created", {"status": market.status}, self.now())
            )

    @property
    def series(self) -> dict[str, SimSeries]:
        return self._series

    @property
    def events(self) -> dict[str, SimEvent]:
        return self._events

    @property
    def markets(self) -> dict[str, SimMarket]:
        """Insertion-ordered; the server paginates over it."""
        return self._markets

    def event_markets(self, event_ticker: str) -> list[SimMarket]:
        """The markets of one event, in the order they were listed (`markets`)."""
        return [m for m in self._markets.values() if m.event_ticker == event_ticker]

    def event_of(self, ticker: str) -> str | None:
        """The event of a market (what an `event_ticker` filter compares); None for a ticker
        not listed."""
        market = self._markets.get(ticker)
        return market.event_ticker if market else None

    # validation -------------------------------------------------------------------------------

    def market(self, ticker: str) -> SimMarket:
        market = self._markets.get(ticker)
        if market is None:
            raise ExchangeError(404, "market_not_found", f"market {ticker} not found")
        return market

    def require_open(self, market: SimMarket) -> None:
        if market.status != "open":
            raise ExchangeError(
                409, _STATUS_REFUSAL[market.status], f"{market.ticker} is {market.status}"
            )

    def check_price(self, market: SimMarket, price: Decimal) -> None:
        if not price.is_finite():
            raise bad_request("price must be a number", "invalid_price")
        if price in _market_ticks(market.price_ranges):
            return
        low, high = price_bounds(market.price_ranges)
        if not low <= price <= high:
            raise bad_request(f"price {price} is outside {low}-{high}", "invalid_price")
        if not price_on_grid(price, market.price_ranges):
            raise bad_request(
                f"price {price} is not on the tick grid of {market.ticker} "
                f"({market.price_level_structure})",
                "invalid_price",
            )

    def check_count(self, market: SimMarket, count: Decimal) -> None:
        # `is_finite` first: a signalling NaN cannot be hashed
        valid = _VALID_COUNTS[market.fractional_trading_enabled]
        if count.is_finite() and count in valid:
            return
        if not count.is_finite() or count <= 0:
            raise bad_request("count must be positive", "invalid_count")
        if count % COUNT_QUANTUM:
            raise bad_request("count must be a multiple of 0.01", "invalid_count")
        if not market.fractional_trading_enabled and is_fraction(count):
            raise bad_request(f"{market.ticker} trades whole contracts only", "invalid_count")
        if len(valid) < _COUNTS_KEPT:
            valid.add(count)

    # ids, time, journal ---------------------------------------------------------------------

    def new_id(self) -> str:
        return self.numbered_id()[0]

    def numbered_id(self) -> tuple[str, int | None]:
        """A new UUID-shaped id (a random version-4 prefix per journal, then a 48-bit counter)
        and the number `client_ids.uuid_number` makes of it, without parsing it (None: past 48
        bits, no canonical UUID)."""
        seq = self.seq = self.seq + 1
        return f"{self.id_prefix}{seq:012x}", None if seq >> _SEQ_BITS else self.id_number | seq

    def set_salt(self, value: int) -> None:
        self.salt = value
        self.id_prefix = str(uuid.UUID(int=value, version=4))[:24]
        # what `client_ids.uuid_number` makes of `new_id()`: the prefix's 80 bits, then the
        # counter's 48 (while it fits them: a longer id is no canonical UUID, kept as text)
        self.id_number = int(self.id_prefix.replace("-", ""), 16) << _SEQ_BITS

    def now(self) -> float:
        return self.clock.wall() if self.replay_ts is None else self.replay_ts

    def log(self, op: str, **fields: Any) -> float:
        """Journal one state change before it is applied (nothing while a record is replayed,
        or inside `Exchange.journaled`'s block); returns the time it is applied at (`log_at`)."""
        now = self.now()
        self.log_at(now, op, **fields)
        return now

    @property
    def live_journal(self) -> Journal | None:
        """The journal a change made now is written to: None when there is none, or while a
        record is replayed (or `Exchange.journaled`'s block runs). A caller whose record costs
        something to build asks first."""
        return self.journal if self.replay_ts is None else None

    def log_at(self, now: float, op: str, **fields: Any) -> None:
        """`log` at `now`, the time the change is applied at: a replay (which runs at the
        record's time) then gives the times that were served, and the clock is read once."""
        journal = self.live_journal
        if journal is not None:
            journal.append({"op": op, "ts": now, **fields})
            self.since_snapshot += 1


def plain_record(obj: SimSeries | SimEvent) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, list) else v) for k, v in vars(obj).items()}


def market_record(market: SimMarket) -> dict[str, Any]:
    """A market's journal record: its fields in order, decimals as their text, each price range
    as [start, end, step]."""
    data: dict[str, Any] = msgspec.to_builtins(market)
    data["price_ranges"] = [[str(r.start), str(r.end), str(r.step)] for r in market.price_ranges]
    return data


def market_from_record(data: dict[str, Any]) -> SimMarket:
    ranges = [dict(zip(("start", "end", "step"), r, strict=True)) for r in data["price_ranges"]]
    return msgspec.convert({**data, "price_ranges": ranges}, SimMarket, strict=False)


def exchange_shards(reference: Reference) -> list[int]:
    """The exchange's shards (`exchange_index`): 0 and every one a series or event is on."""
    used = {s.exchange_index for s in reference.series.values()}
    used.update(e.exchange_index for e in reference.events.values())
    return sorted(used | {0})


def check_shard(reference: Reference, exchange_index: int) -> None:
    """400 for a shard the exchange does not run."""
    if exchange_index not in exchange_shards(reference):
        raise bad_request(f"exchange_index {exchange_index} does not exist")

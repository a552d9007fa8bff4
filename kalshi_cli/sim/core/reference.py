"""The simulated exchange's reference data and plumbing: series (and their fee models and
scheduled fee changes), events and markets, the validation of a market, price and count, and
the clock, ids, event listeners and journal every other part shares. `Reference` is the one
part of the `Exchange` (sim/core/exchange.py) every other part holds: the ledger (accounts.py), the
matching engine (matching.py), settlement, order groups and subaccounts.
"""

from __future__ import annotations

import functools
import secrets
import uuid
from decimal import Decimal
from typing import Any, TypeVar

import msgspec

from kalshi_cli.sim.core.journal import Journal
from kalshi_cli.sim.core.records import (
    EventCreated,
    EventFeeUpdated,
    ExchangeError,
    FeeOverride,
    Listener,
    MarketLifecycle,
    SimEvent,
    SimEventFeeChange,
    SimEventT,
    SimFeeChange,
    SimMarket,
    SimSeries,
    bad_request,
)
from kalshi_cli.vocabulary.clock import Clock
from kalshi_cli.vocabulary.models import (
    FeeModel,
    FeeModelError,
    PriceRange,
    check_fee_override,
    price_bounds,
    price_on_grid,
)
from kalshi_cli.vocabulary.units import COUNT_QUANTUM, is_fraction

# the highest shard (`exchange_index`) a request may name: the spec's bound on a transfer's
# `source_exchange_shard` and `destination_exchange_shard`
MAX_SHARD = 100
_SEQ_BITS = 48  # `new_id`'s counter: 12 hex digits

_STATUS_REFUSAL = {
    "unopened": "market_not_open",
    "paused": "trading_paused",
    "closed": "market_closed",
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
        self.default_fees = fees
        """The fee model of every series that sets none of its own (a scenario's `fees`); None:
        there is none, and a series must set its own (`add_series`, `add_market` refuse one
        that does not), so no market is priced at a fee nobody chose."""
        self.listeners: list[Listener] = []
        self._series: dict[str, SimSeries] = {}
        self._series_fees: dict[str, FeeModel] = {}
        # series -> its scheduled fee changes, by scheduled_ts (`schedule_fee_change`)
        self._fee_changes: dict[str, list[SimFeeChange]] = {}
        self._events: dict[str, SimEvent] = {}
        # event -> its scheduled fee override changes, by scheduled_ts
        # (`schedule_event_fee_change`)
        self._event_fee_changes: dict[str, list[SimEventFeeChange]] = {}
        self._markets: dict[str, SimMarket] = {}
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

    def emit(self, event: SimEventT) -> None:
        for listener in self.listeners:
            listener(event)

    # reference data -------------------------------------------------------------------------

    def add_series(self, series: SimSeries) -> None:
        if series.ticker in self._series:
            raise ExchangeError(409, "series_exists", f"series {series.ticker} already exists")
        if not series.updated_time:
            series.updated_time = self.now()
        try:
            fees = series_fees(series.fee_type, series.fee_multiplier)
        except FeeModelError as exc:
            raise bad_request(f"series {series.ticker}: {exc}") from exc
        if fees is None:
            fees = self.default_fees
        if fees is None:
            raise bad_request(
                f"series {series.ticker}: no fee_type and fee_multiplier, and this exchange has "
                "no default fees"
            )
        self.log("series", series=plain_record(series))
        self._series[series.ticker] = series
        self._series_fees[series.ticker] = fees

    def series_fees(self, series_ticker: str, at: float | None = None) -> FeeModel:
        """The fee type and multiplier a series charges at `at` (default: now, the exchange's
        clock): the last of its fee changes scheduled at or before then, else its own fees.
        No waiver: that is per market."""
        when = self.now() if at is None else at
        for change in reversed(self._fee_changes.get(series_ticker, ())):
            if change.scheduled_ts <= when:
                return FeeModel.from_api(change.fee_type, change.fee_multiplier)
        return self._own_fees(series_ticker)

    def _own_fees(self, series_ticker: str) -> FeeModel:
        """A series' own fees, else the exchange's default; a 404 naming the series when it
        has neither (a market listed without its series on an exchange without a default)."""
        fees = self._series_fees.get(series_ticker, self.default_fees)
        if fees is None:
            raise ExchangeError(
                404,
                "not_found",
                f"series {series_ticker} not found, and this exchange has no default fees",
            )
        return fees

    def fee_changes(self, series_ticker: str | None = None) -> list[SimFeeChange]:
        """Every scheduled fee change (of one series), by scheduled_ts."""
        return _by_schedule(self._fee_changes, series_ticker)

    def reserve_fees(self, series_ticker: str, event_ticker: str | None = None) -> Decimal:
        """The maker rate a resting order's fee reserve is held at: the highest of the series'
        own and all its scheduled fees, each also under every override the event has or will
        have, so a change while the order rests is covered."""
        series_models = [self._own_fees(series_ticker)] + [
            FeeModel.from_api(c.fee_type, c.fee_multiplier)
            for c in self._fee_changes.get(series_ticker, ())
        ]
        models = list(series_models)
        for override_type, override_multiplier in self._event_overrides(event_ticker):
            models += [
                FeeModel.from_api(
                    m.fee_type,
                    m.multiplier,
                    override_type=override_type,
                    override_multiplier=override_multiplier,
                )
                for m in series_models
            ]
        # the rates without any waiver: an order resting past a waiver's end fills after it
        return max(FeeModel(m.fee_type, m.multiplier, None).rates(at=0.0)[1] for m in models)

    def _event_overrides(self, event_ticker: str | None) -> list[FeeOverride]:
        """Every fee override an event has now or is scheduled to have."""
        event = self._events.get(event_ticker) if event_ticker is not None else None
        if event is None:
            return []
        halves = [(event.fee_type_override, event.fee_multiplier_override)] + [
            (c.fee_type_override, c.fee_multiplier_override)
            for c in self._event_fee_changes.get(event.event_ticker, ())
        ]
        return [h for h in halves if h != (None, None)]

    def event_fee_override(self, event_ticker: str, at: float | None = None) -> FeeOverride | None:
        """The fee override (type, multiplier; either None for the series') an event has at
        `at` (default: now): its last fee change scheduled at or before then, else its own;
        None when it has none (or the last change cleared it: both halves null)."""
        event = self._events.get(event_ticker)
        if event is None:
            return None
        when = self.now() if at is None else at
        override = event.fee_type_override, event.fee_multiplier_override
        for change in reversed(self._event_fee_changes.get(event_ticker, ())):
            if change.scheduled_ts <= when:
                override = change.fee_type_override, change.fee_multiplier_override
                break
        return None if override == (None, None) else override

    def event_fee_changes(self, event_ticker: str | None = None) -> list[SimEventFeeChange]:
        """Every scheduled event fee change (of one event), by scheduled_ts."""
        return _by_schedule(self._event_fee_changes, event_ticker)

    def fee_model(self, ticker: str, at: float | None = None) -> FeeModel:
        """The fees of one market at `at` (default: now): its series' model, under its event's
        fee override when it has one (EventData: "takes precedence over the series-level fee
        for this event's markets"), with the market's fee waiver."""
        market = self.market(ticker)
        when = self.now() if at is None else at
        fees = self.series_fees(market.series_ticker, when)
        override = self.event_fee_override(market.event_ticker, when)
        if override is not None:
            fees = FeeModel.from_api(
                fees.fee_type,
                fees.multiplier,
                override_type=override[0],
                override_multiplier=override[1],
            )
        if market.fee_waiver_expiration_time is None:
            return fees
        return FeeModel(fees.fee_type, fees.multiplier, market.fee_waiver_expiration_time)

    def add_event(self, event: SimEvent) -> None:
        if event.event_ticker in self._events:
            raise ExchangeError(409, "event_exists", f"event {event.event_ticker} already exists")
        if not event.updated_time:
            event.updated_time = self.now()
        _check_event_override(event.fee_type_override, event.fee_multiplier_override)
        self.log("event", event=plain_record(event))
        self._events[event.event_ticker] = event
        if self.listeners:
            self.emit(EventCreated(event.event_ticker, self.now()))

    def add_market(self, market: SimMarket) -> None:
        """Check, journal and list a market, on its event's shard; `announce_market` reports it
        once the parts of the exchange that keep something per market have opened theirs."""
        event = self._events.get(market.event_ticker)
        if event is not None:
            market.exchange_index = event.exchange_index
        if market.ticker in self._markets:
            raise ExchangeError(409, "market_exists", f"market {market.ticker} already exists")
        if not market.price_ranges:
            raise bad_request("a market needs price_ranges")
        if self.default_fees is None and market.series_ticker not in self._series:
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

    def log_at(self, now: float, op: str, **fields: Any) -> None:
        """`log` at `now`, the time the change is applied at: a replay (which runs at the
        record's time) then gives the times that were served, and the clock is read once."""
        if self.journal is not None and self.replay_ts is None:
            self.journal.append({"op": op, "ts": now, **fields})
            self.since_snapshot += 1

    # scheduled fee changes --------------------------------------------------------------------

    def schedule_fee_change(
        self, series_ticker: str, fee_type: str, fee_multiplier: str, scheduled_ts: float
    ) -> SimFeeChange:
        """Check, journal and list a change of a series' fees (`Exchange.schedule_fee_change`
        says what it does to fills and reserves)."""
        if series_ticker not in self._series:
            raise ExchangeError(404, "not_found", f"series {series_ticker} not found")
        try:
            FeeModel.from_api(fee_type, fee_multiplier)
        except FeeModelError as exc:
            raise bad_request(str(exc)) from exc
        change = SimFeeChange(
            self.new_id(),
            series_ticker,
            fee_type,
            str(fee_multiplier),
            float(scheduled_ts),  # unix seconds
        )
        self.log(
            "fee_change",
            series_ticker=series_ticker,
            fee_type=fee_type,
            fee_multiplier=change.fee_multiplier,
            scheduled_ts=change.scheduled_ts,
        )
        changes = self._fee_changes.setdefault(series_ticker, [])
        changes.append(change)
        changes.sort(key=lambda c: c.scheduled_ts)
        return change

    def schedule_event_fee_change(
        self,
        event_ticker: str,
        fee_type_override: str | None,
        fee_multiplier_override: str | None,
        scheduled_ts: float,  # unix seconds
    ) -> SimEventFeeChange:
        """Check, journal and list a change of an event's fee override
        (`Exchange.schedule_event_fee_change`)."""
        event = self._events.get(event_ticker)
        if event is None:
            raise ExchangeError(404, "not_found", f"event {event_ticker} not found")
        _check_event_override(fee_type_override, fee_multiplier_override)
        change = SimEventFeeChange(
            self.new_id(),
            event_ticker,
            event.series_ticker,
            fee_type_override,
            fee_multiplier_override,
            float(scheduled_ts),  # unix seconds
        )
        self.log(
            "event_fee_change",
            event_ticker=event_ticker,
            fee_type_override=fee_type_override,
            fee_multiplier_override=fee_multiplier_override,
            scheduled_ts=change.scheduled_ts,
        )
        changes = self._event_fee_changes.setdefault(event_ticker, [])
        changes.append(change)
        changes.sort(key=lambda c: c.scheduled_ts)
        return change

    def announce_event_fee(self, change_id: str) -> None:
        if not self.listeners:
            return
        for changes in self._event_fee_changes.values():
            for change in changes:
                if change.id == change_id:
                    self.emit(EventFeeUpdated(change))
                    return


def series_fees(fee_type: str | None, fee_multiplier: str | None) -> FeeModel | None:
    """A series' own fees: its `fee_type` and `fee_multiplier` together (the spec's Series
    requires both), or None when it gives neither (the exchange's default then applies, a
    scenario's `fees`). Half of them raises FeeModelError naming the half missing: the other
    is never taken from the default or the standard rate."""
    if fee_type is None and fee_multiplier is None:
        return None
    return FeeModel.from_api(fee_type, fee_multiplier)


def _check_event_override(fee_type: str | None, multiplier: str | None) -> None:
    """An event fee override the fee model can price, each half on its own (a multiplier
    without a type is the series' type at that multiplier): a 400 for one it cannot."""
    try:
        check_fee_override(fee_type, multiplier)
    except FeeModelError as exc:
        raise bad_request(str(exc)) from exc


def plain_record(obj: SimSeries | SimEvent) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, list) else v) for k, v in vars(obj).items()}


_Change = TypeVar("_Change", SimFeeChange, SimEventFeeChange)


def _by_schedule(changes: dict[str, list[_Change]], ticker: str | None) -> list[_Change]:
    """Every scheduled change (of one ticker's), by scheduled_ts."""
    out = [c for t, listed in changes.items() if ticker is None or t == ticker for c in listed]
    return sorted(out, key=lambda c: (c.scheduled_ts, c.id))


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

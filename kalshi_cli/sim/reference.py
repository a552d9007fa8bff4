"""The simulated exchange's reference data and plumbing: series (and their fee models),
events and markets, the validation of a market, price and count, and the clock, ids and event
listeners every other part shares. The first layer of the `Exchange` (sim/core.py), which
inherits it through `Ledger` (accounts.py), `Matcher` (matching.py) and `Settler`
(settlement.py); the state itself is created in `Exchange.__init__` and only declared here.
"""

from __future__ import annotations

import functools
import uuid
from decimal import Decimal
from typing import Any

from kalshi_cli.clock import Clock
from kalshi_cli.models import (
    COUNT_QUANTUM,
    FeeModel,
    FeeModelError,
    PriceRange,
    price_bounds,
    price_on_grid,
)
from kalshi_cli.sim.book import Book
from kalshi_cli.sim.records import (
    EventCreated,
    ExchangeError,
    Listener,
    MarketLifecycle,
    SimEvent,
    SimEventFeeChange,
    SimEventT,
    SimFeeChange,
    SimMarket,
    SimOrder,
    SimSeries,
    SimTrade,
)
from kalshi_cli.sim.volume_window import VolumeWindow

_SEQ_BITS = 48  # `_new_id`'s counter: 12 hex digits
_ID_LENGTH = 36  # a canonical UUID's

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


class ReferenceData:
    """Series, events and markets, and the shared plumbing (see the module docstring)."""

    _clock: Clock
    default_fees: FeeModel
    _listeners: list[Listener]
    _series: dict[str, SimSeries]
    _series_fees: dict[str, FeeModel]
    # series -> its scheduled fee changes, by scheduled_ts (see `Exchange.schedule_fee_change`)
    _fee_changes: dict[str, list[SimFeeChange]]
    _events: dict[str, SimEvent]
    # event -> its scheduled fee override changes, by scheduled_ts
    # (see `Exchange.schedule_event_fee_change`)
    _event_fee_changes: dict[str, list[SimEventFeeChange]]
    _markets: dict[str, SimMarket]
    _books: dict[str, Book[SimOrder]]
    _holders: dict[str, set[str]]  # ticker -> accounts that ever held a position
    _trades_by_ticker: dict[str, list[SimTrade]]
    _volume_window: dict[str, VolumeWindow]
    _seq: int
    _salt: int
    _id_prefix: str
    _replay_ts: float | None

    # listeners ------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _emit(self, event: SimEventT) -> None:
        for listener in self._listeners:
            listener(event)

    # reference data -------------------------------------------------------------------------

    def add_series(self, series: SimSeries) -> None:
        if series.ticker in self._series:
            raise ExchangeError(409, "series_exists", f"series {series.ticker} already exists")
        if not series.updated_time:
            series.updated_time = self._now()
        fees = self.default_fees
        if series.fee_type is not None or series.fee_multiplier is not None:
            try:
                fees = FeeModel.from_api(
                    series.fee_type or fees.fee_type.value,
                    series.fee_multiplier if series.fee_multiplier is not None else "1",
                )
            except FeeModelError as exc:
                raise ExchangeError(400, "invalid_parameters", str(exc)) from exc
        self._log("series", series=plain_record(series))
        self._series[series.ticker] = series
        self._series_fees[series.ticker] = fees

    def series_fees(self, series_ticker: str, at: float | None = None) -> FeeModel:
        """The fee type and multiplier a series charges at `at` (default: now, the exchange's
        clock): the last of its fee changes scheduled at or before then, else its own fees.
        No waiver: that is per market."""
        when = self._now() if at is None else at
        for change in reversed(self._fee_changes.get(series_ticker, ())):
            if change.scheduled_ts <= when:
                return FeeModel.from_api(change.fee_type, change.fee_multiplier)
        return self._series_fees.get(series_ticker, self.default_fees)

    def fee_changes(self, series_ticker: str | None = None) -> list[SimFeeChange]:
        """Every scheduled fee change (of one series), by scheduled_ts."""
        out = [
            c
            for ticker, changes in self._fee_changes.items()
            if series_ticker is None or ticker == series_ticker
            for c in changes
        ]
        return sorted(out, key=lambda c: (c.scheduled_ts, c.id))

    def _reserve_fees(self, series_ticker: str, event_ticker: str | None = None) -> Decimal:
        """The maker rate a resting order's fee reserve is held at: the highest of the series'
        own and all its scheduled fees, each also under every override the event has or will
        have, so a change while the order rests is covered."""
        series_models = [self._series_fees.get(series_ticker, self.default_fees)] + [
            FeeModel.from_api(c.fee_type, c.fee_multiplier)
            for c in self._fee_changes.get(series_ticker, ())
        ]
        models = list(series_models)
        for override_type, override_multiplier in self._event_overrides(event_ticker):
            models += [
                FeeModel.from_api(
                    override_type,
                    override_multiplier if override_multiplier is not None else m.multiplier,
                )
                for m in series_models
            ]
        return max(FeeModel(m.fee_type, m.multiplier).rates(at=0.0)[1] for m in models)

    def _event_overrides(self, event_ticker: str | None) -> list[tuple[str, str | None]]:
        """Every fee override an event has now or is scheduled to have."""
        event = self._events.get(event_ticker) if event_ticker is not None else None
        if event is None:
            return []
        out = []
        if event.fee_type_override is not None:
            out.append((event.fee_type_override, event.fee_multiplier_override))
        for c in self._event_fee_changes.get(event.event_ticker, ()):
            if c.fee_type_override is not None:
                out.append((c.fee_type_override, c.fee_multiplier_override))
        return out

    def event_fee_override(
        self, event_ticker: str, at: float | None = None
    ) -> tuple[str, str | None] | None:
        """The fee override (type, multiplier or None for the series') an event has at `at`
        (default: now): its last fee change scheduled at or before then, else its own; None
        when it has none (or the last change cleared it)."""
        event = self._events.get(event_ticker)
        if event is None:
            return None
        when = self._now() if at is None else at
        for change in reversed(self._event_fee_changes.get(event_ticker, ())):
            if change.scheduled_ts <= when:
                if change.fee_type_override is None:
                    return None
                return change.fee_type_override, change.fee_multiplier_override
        if event.fee_type_override is None:
            return None
        return event.fee_type_override, event.fee_multiplier_override

    def event_fee_changes(self, event_ticker: str | None = None) -> list[SimEventFeeChange]:
        """Every scheduled event fee change (of one event), by scheduled_ts."""
        out = [
            c
            for ticker, changes in self._event_fee_changes.items()
            if event_ticker is None or ticker == event_ticker
            for c in changes
        ]
        return sorted(out, key=lambda c: (c.scheduled_ts, c.id))

    def fee_model(self, ticker: str, at: float | None = None) -> FeeModel:
        """The fees of one market at `at` (default: now): its series' model, under its event's
        fee override when it has one (EventData: "takes precedence over the series-level fee
        for this event's markets"), with the market's fee waiver."""
        market = self._market(ticker)
        when = self._now() if at is None else at
        fees = self.series_fees(market.series_ticker, when)
        override = self.event_fee_override(market.event_ticker, when)
        if override is not None:
            fees = FeeModel.from_api(
                override[0], override[1] if override[1] is not None else fees.multiplier
            )
        if market.fee_waiver_expiration_time is None:
            return fees
        return FeeModel(fees.fee_type, fees.multiplier, market.fee_waiver_expiration_time)

    def add_event(self, event: SimEvent) -> None:
        if event.event_ticker in self._events:
            raise ExchangeError(409, "event_exists", f"event {event.event_ticker} already exists")
        if not event.updated_time:
            event.updated_time = self._now()
        check_fee_override(event.fee_type_override, event.fee_multiplier_override)
        self._log("event", event=plain_record(event))
        self._events[event.event_ticker] = event
        if self._listeners:
            self._emit(EventCreated(event.event_ticker, self._now()))

    def add_market(self, market: SimMarket) -> None:
        if market.ticker in self._markets:
            raise ExchangeError(409, "market_exists", f"market {market.ticker} already exists")
        if not market.price_ranges:
            raise ExchangeError(400, "invalid_parameters", "a market needs price_ranges")
        self._log("market", market=market_record(market))
        self._markets[market.ticker] = market
        self._books[market.ticker] = Book()
        self._holders[market.ticker] = set()
        self._trades_by_ticker[market.ticker] = []
        self._volume_window[market.ticker] = VolumeWindow()
        if self._listeners:
            self._emit(
                MarketLifecycle(market.ticker, "created", {"status": market.status}, self._now())
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

    def _market(self, ticker: str) -> SimMarket:
        market = self._markets.get(ticker)
        if market is None:
            raise ExchangeError(404, "market_not_found", f"market {ticker} not found")
        return market

    def _require_open(self, market: SimMarket) -> None:
        if market.status != "open":
            raise ExchangeError(
                409, _STATUS_REFUSAL[market.status], f"{market.ticker} is {market.status}"
            )

    def _check_price(self, market: SimMarket, price: Decimal) -> None:
        if not price.is_finite():
            raise ExchangeError(400, "invalid_price", "price must be a number")
        if price in _market_ticks(market.price_ranges):
            return
        low, high = price_bounds(market.price_ranges)
        if not low <= price <= high:
            raise ExchangeError(
                400, "invalid_price", f"price {price} is outside {low}..{high} for {market.ticker}"
            )
        if not price_on_grid(price, market.price_ranges):
            raise ExchangeError(
                400,
                "invalid_price",
                f"price {price} is not on the {market.price_level_structure} grid",
            )

    def _check_count(self, market: SimMarket, count: Decimal) -> None:
        # `is_finite` first: a signalling NaN cannot be hashed
        valid = _VALID_COUNTS[market.fractional_trading_enabled]
        if count.is_finite() and count in valid:
            return
        if not count.is_finite() or count <= 0:
            raise ExchangeError(400, "invalid_count", "count must be positive")
        if count % COUNT_QUANTUM:
            raise ExchangeError(400, "invalid_count", "count must be a multiple of 0.01")
        if not market.fractional_trading_enabled and count % 1:
            raise ExchangeError(
                400, "invalid_count", f"{market.ticker} trades whole contracts only"
            )
        if len(valid) < _COUNTS_KEPT:
            valid.add(count)

    # ids, time, journal ---------------------------------------------------------------------

    def _new_id(self) -> str:
        # a UUID-shaped id: a random version-4 prefix per journal, then a 48-bit counter
        self._seq += 1
        return f"{self._id_prefix}{self._seq:012x}"

    def _set_salt(self, value: int) -> None:
        self._salt = value
        self._id_prefix = str(uuid.UUID(int=value, version=4))[:24]
        # what `client_ids.uuid_number` makes of `_new_id()`: the prefix's 80 bits, then the
        # counter's 48 (while it fits them: a longer id is no canonical UUID, kept as text)
        self._id_number = int(self._id_prefix.replace("-", ""), 16) << _SEQ_BITS

    def _new_id_number(self, new_id: str) -> int | None:
        """`client_ids.uuid_number(new_id)` for an id `_new_id` made, parsing only its counter
        (tests/sim/test_client_ids.py compares the two)."""
        if len(new_id) != _ID_LENGTH:  # a counter past 48 bits: no canonical UUID
            return None
        return self._id_number | int(new_id[_ID_LENGTH - _SEQ_BITS // 4 :], 16)

    def _now(self) -> float:
        return self._clock.wall() if self._replay_ts is None else self._replay_ts

    def _log(self, op: str, **fields: Any) -> None:
        """Journal one state change before it is applied (`Exchange._log`, sim/core.py)."""
        raise NotImplementedError

    def _log_at(self, now: float, op: str, **fields: Any) -> None:
        """`_log` at `now`, the time the change is applied at (`Exchange._log_at`)."""
        raise NotImplementedError


def check_fee_override(fee_type: str | None, multiplier: str | None) -> None:
    """An event fee override the fee model can price: a type (with or without a multiplier),
    or neither (no override)."""
    if fee_type is None:
        if multiplier is not None:
            raise ExchangeError(
                400, "invalid_parameters", "fee_multiplier_override needs fee_type_override"
            )
        return
    try:
        FeeModel.from_api(fee_type, multiplier if multiplier is not None else "1")
    except FeeModelError as exc:
        raise ExchangeError(400, "invalid_parameters", str(exc)) from exc


def plain_record(obj: SimSeries | SimEvent) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, list) else v) for k, v in vars(obj).items()}


_MARKET_DECIMALS = (
    "last_price",
    "previous_price",
    "volume",
    "volume_24h",
    "open_interest",
)


_MARKET_OPTIONAL_DECIMALS = ("settlement_floor", "floor_strike", "cap_strike")


def market_record(market: SimMarket) -> dict[str, Any]:
    data = dict(vars(market))
    data["price_ranges"] = [[str(r.start), str(r.end), str(r.step)] for r in market.price_ranges]
    for key in _MARKET_DECIMALS:
        data[key] = str(data[key])
    for key in _MARKET_OPTIONAL_DECIMALS:
        if data[key] is not None:
            data[key] = str(data[key])
    return data


def market_from_record(data: dict[str, Any]) -> SimMarket:
    fields = dict(data)
    fields["price_ranges"] = tuple(
        PriceRange(Decimal(start), Decimal(end), Decimal(step))
        for start, end, step in data["price_ranges"]
    )
    for key in _MARKET_DECIMALS:
        fields[key] = Decimal(fields[key])
    for key in _MARKET_OPTIONAL_DECIMALS:
        if fields.get(key) is not None:
            fields[key] = Decimal(fields[key])
    return SimMarket(**fields)

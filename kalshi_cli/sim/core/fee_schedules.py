"""The simulated exchange's fee schedules: each series' own fees (else the exchange's
default), the scheduled changes of a series' fees and of an event's fee override, and what a
market is charged at a time. `FeeSchedules` is a part of `Reference` (reference.py), whose series,
events, markets, ids and journal it reads.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol, TypeVar

from kalshi_cli.sim.core.records import (
    EventFeeUpdated,
    ExchangeError,
    FeeChangeRequest,
    FeeOverride,
    FeeOverrideChangeRequest,
    Listener,
    SimEvent,
    SimEventFeeChange,
    SimFeeChange,
    SimMarket,
    SimNotice,
    SimSeries,
    bad_request,
    journal,
)
from kalshi_cli.vocabulary.models import FeeModel, FeeModelError, check_fee_override


class Listings(Protocol):
    """What the fee schedules read of the exchange's reference data (`Reference`): its series,
    events and markets, and the clock, ids, journal and listeners it keeps."""

    @property
    def series(self) -> dict[str, SimSeries]: ...
    @property
    def events(self) -> dict[str, SimEvent]: ...
    @property
    def listeners(self) -> list[Listener]: ...
    def market(self, ticker: str) -> SimMarket: ...
    def now(self) -> float: ...
    def new_id(self) -> str: ...
    def log(self, op: str, **fields: Any) -> float: ...
    def log_at(self, now: float, op: str, **fields: Any) -> None: ...
    def emit(self, notice: SimNotice) -> None: ...


class FeeSchedules:
    """Every series' fees and every scheduled fee change (see the module docstring)."""

    def __init__(self, reference: Listings, default: FeeModel | None) -> None:
        self._ref = reference
        self.default = default
        """The fee model of every series that sets none of its own (a scenario's `fees`); None:
        there is none, and a series must set its own (`add_series`, `Reference.add_market`
        refuse one that does not), so no market is priced at a fee nobody chose."""
        self._series_fees: dict[str, FeeModel] = {}
        # series -> its scheduled fee changes, by scheduled_ts (`schedule_fee_change`)
        self._fee_changes: dict[str, list[SimFeeChange]] = {}
        # event -> its scheduled fee override changes, by scheduled_ts
        # (`schedule_event_fee_change`)
        self._event_fee_changes: dict[str, list[SimEventFeeChange]] = {}

    def add_series(self, series: SimSeries) -> None:
        """Take a new series' own fees, else the default; a 400 when it has neither."""
        try:
            fees = series_fees(series.fee_type, series.fee_multiplier)
        except FeeModelError as exc:
            raise bad_request(f"series {series.ticker}: {exc}") from exc
        if fees is None:
            fees = self.default
        if fees is None:
            raise bad_request(
                f"series {series.ticker}: no fee_type and fee_multiplier, and this exchange has "
                "no default fees"
            )
        self._series_fees[series.ticker] = fees

    def series_fees(self, series_ticker: str, at: float | None = None) -> FeeModel:
        """The fee type and multiplier a series charges at `at` (default: now, the exchange's
        clock): the last of its fee changes scheduled at or before then, else its own fees.
        No waiver: that is per market."""
        when = self._ref.now() if at is None else at
        for change in reversed(self._fee_changes.get(series_ticker, ())):
            if change.scheduled_ts <= when:
                return FeeModel.from_api(change.fee_type, change.fee_multiplier)
        return self._own_fees(series_ticker)

    def _own_fees(self, series_ticker: str) -> FeeModel:
        """A series' own fees, else the exchange's default; a 404 naming the series when it
        has neither (a market listed without its series on an exchange without a default)."""
        fees = self._series_fees.get(series_ticker, self.default)
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
        event = self._ref.events.get(event_ticker) if event_ticker is not None else None
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
        event = self._ref.events.get(event_ticker)
        if event is None:
            return None
        when = self._ref.now() if at is None else at
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
        market = self._ref.market(ticker)
        when = self._ref.now() if at is None else at
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

    def schedule_fee_change(
        self,
        series_ticker: str,
        fee_type: str,
        fee_multiplier: str,
        scheduled_ts: float,
        now: float | None = None,
    ) -> SimFeeChange:
        """`schedule` of a change given as its terms."""
        request = FeeChangeRequest(
            series_ticker=series_ticker, fee_type=fee_type, fee_multiplier=str(fee_multiplier),
            scheduled_ts=float(scheduled_ts),
        )  # fmt: skip
        return self.schedule(request, now)

    def schedule(self, request: FeeChangeRequest, now: float | None = None) -> SimFeeChange:
        """Check, journal (at `now`, the clock's when None) and list a change of a series' fees
        (`Exchange.schedule_fee_change` says what it does to fills and reserves)."""
        if request.series_ticker not in self._ref.series:
            raise ExchangeError(404, "not_found", f"series {request.series_ticker} not found")
        try:
            FeeModel.from_api(request.fee_type, request.fee_multiplier)
        except FeeModelError as exc:
            raise bad_request(str(exc)) from exc
        change = SimFeeChange(
            self._ref.new_id(),
            request.series_ticker,
            request.fee_type,
            request.fee_multiplier,
            request.scheduled_ts,
        )
        self._ref.log_at(self._ref.now() if now is None else now, "fee_change", **journal(request))
        _schedule(self._fee_changes, request.series_ticker, change)
        return change

    def schedule_event_fee_change(
        self,
        event_ticker: str,
        fee_type_override: str | None,
        fee_multiplier_override: str | None,
        scheduled_ts: float,  # unix seconds
        now: float | None = None,
    ) -> SimEventFeeChange:
        """`schedule_event` of a change given as its terms."""
        request = FeeOverrideChangeRequest(
            event_ticker=event_ticker, fee_type_override=fee_type_override,
            fee_multiplier_override=fee_multiplier_override, scheduled_ts=float(scheduled_ts),
        )  # fmt: skip
        return self.schedule_event(request, now)

    def schedule_event(
        self, request: FeeOverrideChangeRequest, now: float | None = None
    ) -> SimEventFeeChange:
        """Check, journal (at `now`, the clock's when None) and list a change of an event's fee
        override (`Exchange.schedule_event_fee_change`)."""
        event = self._ref.events.get(request.event_ticker)
        if event is None:
            raise ExchangeError(404, "not_found", f"event {request.event_ticker} not found")
        check_event_override(request.fee_type_override, request.fee_multiplier_override)
        change = SimEventFeeChange(
            self._ref.new_id(),
            request.event_ticker,
            event.series_ticker,
            request.fee_type_override,
            request.fee_multiplier_override,
            request.scheduled_ts,
        )
        self._ref.log_at(
            self._ref.now() if now is None else now, "event_fee_change", **journal(request)
        )
        _schedule(self._event_fee_changes, request.event_ticker, change)
        return change

    def announce_event_fee(self, change_id: str) -> None:
        if not self._ref.listeners:
            return
        for changes in self._event_fee_changes.values():
            for change in changes:
                if change.id == change_id:
                    self._ref.emit(EventFeeUpdated(change))
                    return


def series_fees(fee_type: str | None, fee_multiplier: str | None) -> FeeModel | None:
    """A series' own fees: its `fee_type` and `fee_multiplier` together (the spec's Series
    requires both), or None when it gives neither (the exchange's default then applies, a
    scenario's `fees`). Half of them raises FeeModelError naming the half missing: the other
    is never taken from the default or the standard rate."""
    if fee_type is None and fee_multiplier is None:
        return None
    return FeeModel.from_api(fee_type, fee_multiplier)


def check_event_override(fee_type: str | None, multiplier: str | None) -> None:
    """An event fee override the fee model can price, each half on its own (a multiplier
    without a type is the series' type at that multiplier): a 400 for one it cannot."""
    try:
        check_fee_override(fee_type, multiplier)
    except FeeModelError as exc:
        raise bad_request(str(exc)) from exc


_Change = TypeVar("_Change", SimFeeChange, SimEventFeeChange)


def _schedule(changes: dict[str, list[_Change]], ticker: str, change: _Change) -> None:
    """List `change` among its ticker's by scheduled_ts, the order `series_fees` and
    `event_fee_override` read them in (the last one due is in force)."""
    listed = changes.setdefault(ticker, [])
    listed.append(change)
    listed.sort(key=lambda c: c.scheduled_ts)


def _by_schedule(changes: dict[str, list[_Change]], ticker: str | None) -> list[_Change]:
    """Every scheduled change (of one ticker's), by scheduled_ts."""
    out = [c for t, listed in changes.items() if ticker is None or t == ticker for c in listed]
    return sorted(out, key=lambda c: (c.scheduled_ts, c.id))

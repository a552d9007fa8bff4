"""What a local venue must know of each market (its event and series, its tick grid, its fees), and
its listing in the venue's exchange core (`install`).

A recording holds WebSocket frames only. The reference data comes, best first, from the REST bodies
kept beside the data (`reference.json`, written by `kalshi record` and `kalshi data download`,
data/reference.py), then from the recording's `market_lifecycle_v2` frames (tick grid, result), and
last from defaults a report names (the series from the ticker, a 1-cent grid, Kalshi's standard
fees).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.feed.messages import Lifecycle, stated_result
from kalshi_cli.sim.core.components import CoreComponents
from kalshi_cli.sim.core.records import SimEvent, SimMarket, SimSeries
from kalshi_cli.vocabulary.clock import parse_iso
from kalshi_cli.vocabulary.errors import NoDataError
from kalshi_cli.vocabulary.models import (
    PRICE_STRUCTURES,
    FeeModel,
    FeeModelError,
    PriceRange,
    check_fee_override,
    fractional_flag,
    price_ranges_of,
)
from kalshi_cli.vocabulary.units import parse_optional_dollars

REFERENCE_FILE = "reference.json"


@dataclass(frozen=True)
class MarketInfo:
    ticker: str
    event_ticker: str
    series_ticker: str
    title: str = ""
    price_level_structure: str = "linear_cent"
    price_ranges: tuple[PriceRange, ...] = ()
    # the series' fees (its event's override, if any, is apart): named by every maker of an
    # info, never defaulted, so no market is charged a fee nobody chose (`default_info` names
    # the standard ones it assumes, and says so in `assumed`)
    fee_type: str = field(kw_only=True)
    fee_multiplier: str = field(kw_only=True)
    # the event's `fee_type_override` and `fee_multiplier_override` (each None: the series'
    # own half, both: no override): it takes precedence over the series' fees, changed or not
    fee_override: tuple[str | None, str | None] | None = None
    fee_waiver_expiration_time: float | None = None  # unix seconds
    mutually_exclusive: bool = False
    # the event's `collateral_return_type` and the market's strike, which a netting subaccount's
    # collateral return reads (sim/core/collateral.py `CollateralReturn.net_event`)
    collateral_return_type: str = ""
    strike_type: str = ""
    floor_strike: Decimal | None = None
    cap_strike: Decimal | None = None
    result: str = ""  # "yes", "no" or "scalar" once known
    scalar_value: Decimal | None = None  # a scalar result's: what one YES contract pays
    # when trading ends (the body's `close_time`, moved by a lifecycle message's `close_ts`):
    # Kalshi closes the market then, and no message says so; None: not known
    close_time: float | None = None  # unix seconds
    settlement_floor: Decimal | None = None
    fractional: bool = False
    # scheduled fee changes (`/series/fee_changes`, `/events/fee_changes`), in time order:
    # (unix seconds, fee_type, fee_multiplier) of the series; (unix seconds, override type,
    # override multiplier) of the event, each None the series' own, both clearing the override
    series_fee_changes: tuple[tuple[float, str, str], ...] = ()  # unix seconds
    event_fee_changes: tuple[tuple[float, str | None, str | None], ...] = ()
    # which fields are defaults, not data (the report lists them)
    assumed: tuple[str, ...] = field(default=(), compare=False)

    @property
    def ranges(self) -> tuple[PriceRange, ...]:
        return self.price_ranges or PRICE_STRUCTURES.get(
            self.price_level_structure, PRICE_STRUCTURES["linear_cent"]
        )


def default_info(ticker: str) -> MarketInfo:
    """A market known only by its ticker: Kalshi's tickers are SERIES-EVENTPART-MARKETPART."""
    segments = ticker.split("-")
    event = "-".join(segments[:-1]) if len(segments) > 1 else ticker
    return MarketInfo(
        ticker=ticker,
        event_ticker=event,
        series_ticker=segments[0],
        # Kalshi's standard fees, assumed for want of its series' (the module docstring),
        # which `assumed` names for the report
        fee_type="quadratic",
        fee_multiplier="1",
        assumed=("event", "series", "tick grid", "fees"),
    )


def load_reference(root: Path) -> dict[str, MarketInfo]:
    """Ticker -> info from `root/reference.json`, or {} when there is none. Raises
    NoDataError for fees in it that cannot be priced (`from_rest`)."""
    path = root / REFERENCE_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    try:
        return from_rest(
            data.get("series", []),
            data.get("events", []),
            data.get("markets", []),
            series_fee_changes=data.get("series_fee_changes") or [],
            event_fee_changes=data.get("event_fee_changes") or [],
        )
    except FeeModelError as exc:
        raise NoDataError(
            f"{path}: cannot price the fees of {exc}",
            hint="a backtest charges the fees Kalshi charged and guesses none: record or "
            "download the data set again",
        ) from exc


def _with_fee_changes(
    infos: dict[str, MarketInfo],
    series_changes: Iterable[Mapping[str, Any]],
    event_changes: Iterable[Mapping[str, Any]],
) -> dict[str, MarketInfo]:
    """`infos` with the scheduled fee changes of their series and events (SeriesFeeChange,
    EventFeeChange as the API sends them), in time order."""
    by_series: dict[str, list[tuple[float, str, str]]] = {}  # unix seconds
    for c in series_changes:
        at = parse_iso(str(c["scheduled_ts"])).timestamp()
        series = str(c["series_ticker"])
        fees = _fees(f"series {series} (fee change {c.get('id')})", c)
        by_series.setdefault(series, []).append((at, fees.fee_type.value, str(fees.multiplier)))
    by_event: dict[str, list[tuple[float, str | None, str | None]]] = {}
    for c in event_changes:
        at = parse_iso(str(c["scheduled_ts"])).timestamp()
        event = str(c["event_ticker"])
        halves = _override_halves(f"event {event} (fee change {c.get('id')})", c)
        by_event.setdefault(event, []).append((at, *halves))
    return {
        t: replace(
            info,
            series_fee_changes=tuple(sorted(by_series.get(info.series_ticker, ()))),
            event_fee_changes=tuple(
                sorted(by_event.get(info.event_ticker, ()), key=lambda c: c[0])
            ),
        )
        for t, info in infos.items()
    }


def from_rest(
    series: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]],
    markets: Iterable[Mapping[str, Any]],
    *,
    series_fee_changes: Iterable[Mapping[str, Any]],
    event_fee_changes: Iterable[Mapping[str, Any]],
) -> dict[str, MarketInfo]:
    """Read from REST bodies kept as sent (reference.json, or a paper session's reads), field by
    field: a missing field takes its default (a missing series or event named in `assumed`). Fees
    are the exception: a series or fee change without `fee_type` or `fee_multiplier` raises
    FeeModelError naming it. The scheduled fee changes of the markets' series and events are
    always asked for."""
    by_series = {str(s.get("ticker")): s for s in series}
    by_event = {str(e.get("event_ticker")): e for e in events}
    out: dict[str, MarketInfo] = {}
    for m in markets:
        ticker = str(m["ticker"])
        base = default_info(ticker)
        event_ticker = str(m.get("event_ticker") or base.event_ticker)
        event = by_event.get(event_ticker, {})
        series_ticker = str(event.get("series_ticker") or base.series_ticker)
        s = by_series.get(series_ticker)
        assumed = [] if s is not None else ["fees"]
        if not event:
            assumed.append("event")
        # a series not listed: the standard fees, which `assumed` names
        fee_type, multiplier = base.fee_type, base.fee_multiplier
        if s is not None:
            fees = _fees(f"series {series_ticker}", s)
            fee_type, multiplier = fees.fee_type.value, str(fees.multiplier)
        halves = _override_halves(f"event {event_ticker}", event)
        override = None if halves == (None, None) else halves
        waiver = m.get("fee_waiver_expiration_time")
        close = m.get("close_time")
        ranges = price_ranges_of(m.get("price_ranges"))
        out[ticker] = MarketInfo(
            ticker=ticker,
            event_ticker=event_ticker,
            series_ticker=series_ticker,
            title=str(m.get("title") or ""),
            price_level_structure=str(m.get("price_level_structure") or "linear_cent"),
            price_ranges=ranges,
            fee_type=fee_type,
            fee_multiplier=multiplier,
            fee_override=override,
            fee_waiver_expiration_time=parse_iso(str(waiver)).timestamp() if waiver else None,
            mutually_exclusive=bool(event.get("mutually_exclusive", False)),
            collateral_return_type=str(event.get("collateral_return_type") or ""),
            strike_type=str(m.get("strike_type") or ""),
            floor_strike=_strike(m.get("floor_strike")),
            cap_strike=_strike(m.get("cap_strike")),
            **_result_of(m),
            close_time=_unix_time(close),
            settlement_floor=parse_optional_dollars(m.get("settlement_floor_dollars")),
            fractional=bool(fractional_flag(m)),
            assumed=tuple(assumed),
        )
    return _with_fee_changes(out, series_fee_changes, event_fee_changes)


def _fees(what: str, body: Mapping[str, Any]) -> FeeModel:
    """The `fee_type` and `fee_multiplier` of a Series or SeriesFeeChange body, both required:
    FeeModelError naming `what` for one missing, null, or that cannot be priced."""
    try:
        return FeeModel.from_api(body.get("fee_type"), body.get("fee_multiplier"))
    except FeeModelError as exc:
        raise FeeModelError(f"{what}: {exc}") from exc


def _override_halves(what: str, body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """An Event's or EventFeeChange's `fee_type_override` and `fee_multiplier_override` as
    text, each as given: a null (or absent) one is None, the series' own half
    (`FeeModel.from_api` combines them), never a reason to drop the other. A half the model
    cannot price raises FeeModelError naming `what`, as a series' fees do (`_fees`)."""
    kind, multiplier = body.get("fee_type_override"), body.get("fee_multiplier_override")
    try:
        check_fee_override(kind, multiplier)
    except FeeModelError as exc:
        raise FeeModelError(f"{what}: {exc}") from exc
    return (None if kind is None else str(kind), None if multiplier is None else str(multiplier))


def _unix_time(value: Any) -> float | None:
    """A body's date-time (ISO 8601) or a message's unix seconds as unix seconds; None for
    none, or for one that is neither."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return parse_iso(str(value)).timestamp()
    except ValueError:
        return None


def with_lifecycle(info: MarketInfo, msg: Lifecycle) -> MarketInfo:
    """`info` updated by a `market_lifecycle_v2` message (tick grid, result, close time)."""
    kind = msg.event_type
    close = _unix_time(msg.close_ts)
    if close is not None and close != info.close_time:
        info = replace(info, close_time=close)  # `created`, `close_date_updated`
    if kind == "created" and msg.price_level_structure:
        ranges = price_ranges_of(msg.price_ranges)
        assumed = tuple(a for a in info.assumed if a != "tick grid")
        return replace(
            info,
            price_level_structure=msg.price_level_structure,
            price_ranges=ranges or info.price_ranges,
            assumed=assumed,
        )
    if kind == "determined" and msg.known_result is not None:
        result, value = msg.known_result
        return replace(info, result=result, scalar_value=value)
    return info


def _result_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Market body's result as a `MarketInfo`'s fields (`stated_result`)."""
    stated = stated_result(body.get("result"), body.get("settlement_value_dollars"))
    return {} if stated is None else {"result": stated[0], "scalar_value": stated[1]}


def install(core: CoreComponents, markets: Iterable[MarketInfo], now: float) -> list[MarketInfo]:
    """Lists `markets` in the core as open at `now`, each on its series (with its fees and their
    scheduled changes) and event (with its fee override and that override's changes), and
    returns them. The core holds a series' fees and an event's override once, from the first
    market of each it is given: the markets whose series (event) the reference data describes go
    first, so a market it does not list (its series and event assumed from its ticker) cannot put
    its assumed fees on the markets it does, whichever ticker sorts first."""
    infos = list(markets)
    ref = core.reference
    for info in sorted(infos, key=lambda i: "fees" in i.assumed):
        if info.series_ticker in ref.series:
            continue
        ref.add_series(
            SimSeries(
                ticker=info.series_ticker,
                title=info.series_ticker,
                fee_type=info.fee_type,
                fee_multiplier=info.fee_multiplier,
            )
        )
        # the core prices each fill by the change in force at its time, as Kalshi does
        for at, fee_type, multiplier in info.series_fee_changes:
            ref.fees.schedule_fee_change(info.series_ticker, fee_type, multiplier, at)
    for info in sorted(infos, key=lambda i: "event" in i.assumed):
        if info.event_ticker in ref.events:
            continue
        override = info.fee_override or (None, None)
        ref.add_event(
            SimEvent(
                event_ticker=info.event_ticker,
                series_ticker=info.series_ticker,
                title=info.event_ticker,
                mutually_exclusive=info.mutually_exclusive,
                collateral_return_type=info.collateral_return_type,
                fee_type_override=override[0],
                fee_multiplier_override=override[1],
            )
        )
        for at, kind, times in info.event_fee_changes:
            ref.fees.schedule_event_fee_change(info.event_ticker, kind, times, at)
    # every market is listed before any account exists, so a fee change scheduled above has no
    # resting order to re-hold, as `Exchange.schedule_fee_change` would after listing
    for info in infos:
        core.add_market(
            SimMarket(
                ticker=info.ticker,
                event_ticker=info.event_ticker,
                series_ticker=info.series_ticker,
                title=info.title or info.ticker,
                yes_sub_title="",
                no_sub_title="",
                status="open",
                price_level_structure=info.price_level_structure,
                price_ranges=info.ranges,
                open_time=now,
                close_time=now + 365 * 86_400 if info.close_time is None else info.close_time,
                latest_expiration_time=now + 365 * 86_400,
                created_time=now,
                updated_time=now,
                fractional_trading_enabled=info.fractional,
                settlement_floor=info.settlement_floor,
                fee_waiver_expiration_time=info.fee_waiver_expiration_time,
                strike_type=info.strike_type,
                floor_strike=info.floor_strike,
                cap_strike=info.cap_strike,
            )
        )
    return infos


def _strike(value: object) -> Decimal | None:
    """A strike as the spec's Market sends it (a JSON number), exact as written."""
    return None if value is None or isinstance(value, bool) else Decimal(str(value))

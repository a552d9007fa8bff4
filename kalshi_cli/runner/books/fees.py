"""The fees of the markets a loop trades, read from the exchange once at start: each market's
fee model in effect (services/fees.py), with the series' and events' scheduled fee changes
still to come, which the loop applies when its clock reaches them. A fee type the model cannot
price refuses the start, naming the market: trading on a guessed fee is how a "profitable"
strategy loses money. See docs/pnl.md "Fees".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from kalshi_cli.services.fees import FeeMarketReads, SeriesReads
from kalshi_cli.vocabulary.clock import parse_iso
from kalshi_cli.vocabulary.models import FeeModel, FeeModelError, Market

if TYPE_CHECKING:
    from collections.abc import Iterator


class FeeChangeReads(Protocol):
    """The scheduled fee changes of series and events (a client's `exchange`)."""

    def get_series_fee_changes(
        self, *, series_ticker: str | None = ..., show_historical: bool = ...
    ) -> list[dict[str, Any]]: ...

    def iter_event_fee_changes(
        self, *, event_ticker: str | None = ...
    ) -> Iterator[dict[str, Any]]: ...


class FeeReads(Protocol):
    """What the fee models are read from: the `KalshiClient` is one, the local venue's client
    and a test's fake exchange are others."""

    @property
    def markets(self) -> FeeMarketReads: ...

    @property
    def exchange(self) -> FeeChangeReads: ...


@dataclass(frozen=True)
class FeeChange:
    """From `at` (unix seconds) on, market `ticker` is priced by `fees` (a series' or an
    event's fee change: the series' fees then under the event's override then)."""

    ticker: str
    at: float  # unix seconds
    fees: FeeModel
    series_ticker: str
    change_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "ticker": self.ticker,
            "series_ticker": self.series_ticker,
            "id": self.change_id,
            "fee_type": self.fees.fee_type.value,
            "fee_multiplier": format(self.fees.multiplier.normalize(), "f"),
            "scheduled_ts": self.at,
        }


def load_fees(
    client: FeeReads,
    markets: list[Market],
    *,
    now: float | None = None,
) -> tuple[dict[str, FeeModel], list[FeeChange]]:
    """Ticker -> its fee model now, and the scheduled changes still to come (by time); one
    event, one series and one fee-change lookup of each, however many markets share them.
    `now` (Unix seconds; default: every event fee change counts as to come) tells the event fee
    changes still to come from those in effect. Raises FeeModelError naming the market whose
    fees cannot be priced."""
    reads = SeriesReads(client.markets)
    scheduled: dict[str, list[dict[str, Any]]] = {}
    event_scheduled: dict[str, list[dict[str, Any]]] = {}
    models: dict[str, FeeModel] = {}
    changes: list[FeeChange] = []
    for market in markets:
        models[market.ticker], series_ticker, event, fees = reads.model(market)
        waiver = market.raw.get("fee_waiver_expiration_time")
        override = (event.get("fee_type_override"), event.get("fee_multiplier_override"))
        upcoming = scheduled.get(series_ticker)
        if upcoming is None:
            upcoming = scheduled[series_ticker] = client.exchange.get_series_fee_changes(
                series_ticker=series_ticker
            )
        event_upcoming = event_scheduled.get(market.event_ticker)
        if event_upcoming is None:
            event_upcoming = event_scheduled[market.event_ticker] = [
                c
                for c in client.exchange.iter_event_fee_changes(event_ticker=market.event_ticker)
                if now is None or _at(c) > now
            ]
        # the market's fees at each change: the series' fees then, under the event's override then
        timeline: list[tuple[float, str, str, dict[str, Any]]] = [  # unix seconds
            (_at(c), "series", str(c["id"]), c)
            for c in upcoming
            if c.get("series_ticker", series_ticker) == series_ticker
        ]
        timeline += [(_at(c), "event", str(c["id"]), c) for c in event_upcoming]
        timeline.sort(key=lambda item: (item[0], item[1]))
        series_now = (fees.get("fee_type"), fees.get("fee_multiplier"))
        for at, kind, change_id, change in timeline:
            if kind == "series":
                series_now = (change.get("fee_type"), change.get("fee_multiplier"))
            else:
                override = (
                    change.get("fee_type_override"),
                    change.get("fee_multiplier_override"),
                )
            try:
                model = FeeModel.from_api(
                    series_now[0],
                    series_now[1],
                    override_type=override[0],
                    override_multiplier=override[1],
                    waiver_expiration_time=waiver,
                )
            except (FeeModelError, KeyError, ValueError) as exc:
                raise FeeModelError(
                    f"{market.ticker} (series {series_ticker}, {kind} fee change"
                    f" {change_id} at {change.get('scheduled_ts')}): {exc}"
                ) from exc
            changes.append(FeeChange(market.ticker, at, model, series_ticker, change_id))
    changes.sort(key=lambda c: (c.at, c.ticker))
    return models, changes


def _at(change: dict[str, Any]) -> float:  # unix seconds
    try:
        return parse_iso(str(change["scheduled_ts"])).timestamp()
    except (KeyError, ValueError) as exc:
        raise FeeModelError(f"fee change {change.get('id')}: no readable scheduled_ts") from exc

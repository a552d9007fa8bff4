"""The fees of markets, read from the exchange: series, event override and market waiver combined
into one `models.FeeModel` per market, each event and series read once. A fee the model cannot
price raises FeeModelError naming the market: a fee is read, never assumed. docs/pnl.md "Fees".
"""

from __future__ import annotations

from typing import Any, Protocol

from kalshi_cli.vocabulary.models import FeeModel, FeeModelError, Market


class FeeMarketReads(Protocol):
    """The market data a fee model is read from: an event names its series, a series its fee
    type and multiplier (a client's `markets`)."""

    def get_event(self, event_ticker: str) -> dict[str, Any]: ...

    def get_series(self, series_ticker: str) -> dict[str, Any]: ...


class FeeModelReads(Protocol):
    """What the fee models in effect are read from (a client's `markets`)."""

    @property
    def markets(self) -> FeeMarketReads: ...


def load_fee_models(client: FeeModelReads, markets: list[Market]) -> dict[str, FeeModel]:
    """Ticker -> its fee model in effect (no scheduled change read: runner/books/fees.py
    `load_fees`); one event and one series lookup of each, however many markets share them.
    Raises FeeModelError naming the market whose fees cannot be priced."""
    reads = SeriesReads(client.markets)
    return {market.ticker: reads.model(market)[0] for market in markets}


class SeriesReads:
    """The events and series the markets name, each read once."""

    def __init__(self, markets: FeeMarketReads) -> None:
        self._markets = markets
        self.events: dict[str, dict[str, Any]] = {}
        self.series: dict[str, dict[str, Any]] = {}

    def model(self, market: Market) -> tuple[FeeModel, str, dict[str, Any], dict[str, Any]]:
        """The market's fee model in effect (its series', under its event's override, with its
        waiver), its series ticker, and the event and series read."""
        event = self.events.get(market.event_ticker)
        if event is None:
            event = self._markets.get_event(market.event_ticker).get("event", {})
            self.events[market.event_ticker] = event
        series_ticker = str(event.get("series_ticker", ""))
        fees = self.series.get(series_ticker)
        if fees is None:
            fees = self.series[series_ticker] = self._markets.get_series(series_ticker)
        try:
            model = FeeModel.from_api(
                fees.get("fee_type"),
                fees.get("fee_multiplier"),
                override_type=event.get("fee_type_override"),
                override_multiplier=event.get("fee_multiplier_override"),
                waiver_expiration_time=market.raw.get("fee_waiver_expiration_time"),
            )
        except FeeModelError as exc:
            raise FeeModelError(f"{market.ticker} (series {series_ticker}): {exc}") from exc
        return model, series_ticker, event, fees

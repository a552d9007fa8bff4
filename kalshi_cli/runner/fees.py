"""The fees of the markets a loop trades, read from the exchange once at start.

A market's fees come from three objects (openapi 3.31.0): its series (`fee_type`,
`fee_multiplier`), its event (`fee_type_override`, `fee_multiplier_override`, both absent or
null when there is no override) and the market itself (`fee_waiver_expiration_time`). They are
combined into the one fee model of `models.FeeModel`, which the strategies' edge after fees
then uses. A fee type the model cannot price (`flat`, or one it has never heard of) refuses the
start, naming the market: trading on a guessed fee is how a "profitable" strategy loses money.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kalshi_cli.models import FeeModel, FeeModelError, Market

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient


def load_fee_models(client: KalshiClient, markets: list[Market]) -> dict[str, FeeModel]:
    """Ticker -> its fee model; one event and one series lookup each, however many markets
    share them. Raises FeeModelError naming the market whose fees cannot be priced."""
    events: dict[str, dict[str, Any]] = {}
    series: dict[str, dict[str, Any]] = {}
    models: dict[str, FeeModel] = {}
    for market in markets:
        event = events.get(market.event_ticker)
        if event is None:
            event = events[market.event_ticker] = client.get_event(market.event_ticker).get(
                "event", {}
            )
        series_ticker = str(event.get("series_ticker", ""))
        fees = series.get(series_ticker)
        if fees is None:
            fees = series[series_ticker] = client.get_series(series_ticker)
        try:
            models[market.ticker] = FeeModel.from_api(
                fees.get("fee_type"),
                fees.get("fee_multiplier"),
                override_type=event.get("fee_type_override"),
                override_multiplier=event.get("fee_multiplier_override"),
                waiver_expiration_time=market.raw.get("fee_waiver_expiration_time"),
            )
        except FeeModelError as exc:
            raise FeeModelError(f"{market.ticker} (series {series_ticker}): {exc}") from exc
    return models

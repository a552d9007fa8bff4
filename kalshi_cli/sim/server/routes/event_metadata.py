"""`GET /events/{event_ticker}/metadata` (openapi.yaml 3.31.0 `GetEventMetadata`): an event's
images, its markets' images and color codes, and its settlement sources. The event must exist
in the exchange core (else 404, the spec's "Event not found"); what Kalshi reports about it is
data a scenario defines (kind `event_metadata` of sim/server/scenario_data.py, a
`GetEventMetadataResponse` plus its `event_ticker`). An event the scenario gave no metadata
answers the spec's required fields empty (`image_url` "", no market details, no settlement
sources), as the simulator's series report no settlement sources.
"""

from __future__ import annotations

from kalshi_cli.sim.core.exchange import ExchangeError
from kalshi_cli.sim.server import scenario_data
from kalshi_cli.sim.server.routing import Endpoint, Json, RequestContext, SimState


def handle_event_metadata(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    ticker = ctx.path_param("event_ticker")
    if ticker not in state.exchange.reference.events:
        raise ExchangeError(404, "not_found", f"event {ticker} not found")
    item = scenario_data.of(state.exchange).find("event_metadata", ticker)
    if item is None:
        return 200, {"image_url": "", "market_details": [], "settlement_sources": []}
    return 200, scenario_data.public("event_metadata", item)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/events/{event_ticker}/metadata",
        handle_event_metadata,
        "GetEventMetadata",
        private=False,
    ),
)

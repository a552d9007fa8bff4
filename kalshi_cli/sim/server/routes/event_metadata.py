"""`GET /events/{event_ticker}/metadata` (`GetEventMetadata`): the event must exist in the core
(else 404); what it reports is scenario data (kind `event_metadata`). An event without any
answers the spec's required fields empty.
"""

from __future__ import annotations

from kalshi_cli.sim.server import scenario_data
from kalshi_cli.sim.server.routing import Endpoint, Json, RequestContext, SimState, found


def handle_event_metadata(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    ticker = ctx.path_param("event_ticker")
    found(state.exchange.reference.events.get(ticker), f"event {ticker}")
    item = scenario_data.of(state.exchange).find("event_metadata", ticker)
    if item is None:
        return 200, {"image_url": "", "market_details": [], "settlement_sources": []}
    return 200, scenario_data.public("event_metadata", item)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/events/{event_ticker}/metadata", handle_event_metadata, private=False),
)

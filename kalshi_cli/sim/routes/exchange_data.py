"""Market data routes added for issue #12: event fee changes, the exchange schedule and its
maintenance windows, the user-data timestamp, batch order books and candlesticks, and event
candlesticks. Public like the rest of the market data (REFERENCE.md section 2), except where
the spec asks for a signature. Every answer is built from the exchange core's own state: its
event fee changes, books, trades and the market history the server records
(`sim/history.py`), and the schedule a scenario or the admin API sets (`sim/schedule.py`).
"""

from __future__ import annotations

from kalshi_cli.sim import serialize as ser
from kalshi_cli.sim.routing import (
    Endpoint,
    Json,
    RequestContext,
    SimState,
    paginate,
    query_int,
    query_str,
)


def handle_get_event_fee_changes(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    """GetEventFeeChanges: every scheduled change of an event's fee override (of one event, or
    of all), in the order they take effect, past ones included (the operation has no
    `show_historical`); a change with both overrides null clears the override."""
    limit = query_int(ctx, "limit", 100, 1, 1000) or 100
    changes = state.exchange.event_fee_changes(query_str(ctx, "event_ticker"))
    page, cursor = paginate(changes, lambda c: c.id, limit, query_str(ctx, "cursor"))
    return 200, {
        "event_fee_changes": [ser.event_fee_change_json(c) for c in page],
        "cursor": cursor,
    }


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/events/fee_changes",
        handle_get_event_fee_changes,
        "GetEventFeeChanges",
        private=False,
    ),
)

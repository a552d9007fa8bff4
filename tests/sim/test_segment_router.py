"""The simulator's `SegmentRouter` picks, for every path of the spec and every method, the route
Starlette's linear scan over the same routes would pick (with an exact
lookup of parameterless paths before the per-segment scan)."""

from __future__ import annotations

import re

from starlette.routing import Match, Route
from starlette.types import Scope

from kalshi_cli.sim.server.server import SegmentRouter, api_routes

PREFIX = "/trade-api/v2"
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


def _scope(method: str, path: str) -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": PREFIX + path,
        "root_path": PREFIX,
        "headers": [],
        "query_string": b"",
    }


def _linear(routes: list[Route], scope: Scope) -> Route | None:
    partial = None
    for route in routes:
        match, _child = route.matches(scope)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


def test_every_path_and_method_gets_the_route_a_linear_scan_would() -> None:
    routes = api_routes(None)  # type: ignore[arg-type]  # matching never reaches a handler
    router = SegmentRouter(routes)
    paths = {re.sub(r"\{[^}]+\}", "X-1", route.path) for route in routes}
    paths |= {"/markets/trades", "/portfolio/orders/queue_positions", "/no/such/path", "/"}
    literal_hits = 0
    for path in sorted(paths):
        for method in METHODS:
            scope = _scope(method, path)
            picked = router.pick(scope)
            assert (picked[0] if picked else None) is _linear(routes, scope), (method, path)
            literal_hits += picked is not None and picked[0] is router.literal.get(path)
    assert literal_hits > 20  # the exact lookup did answer most parameterless paths
    create = router.pick(_scope("POST", "/portfolio/events/orders"))
    assert create is not None and create[0].path == "/portfolio/events/orders"

"""The simulator's HTTP server: Starlette on uvicorn, on loopback. Every path under `/trade-api/v2`
goes through one pipeline (`_dispatch`: held request, latency, authentication, scopes,
statistics, faults, rate limit, handler) and is answered in the shapes of Kalshi's wire. The core
is called only from uvicorn's one event loop. An operation no route serves answers 404
`not_implemented`. docs/simulator.md "The request pipeline and the WebSocket hub".
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route, Router
from starlette.types import Receive, Scope, Send

from kalshi_cli.sim.core.records import Account, ExchangeError
from kalshi_cli.sim.server.auth import AuthFailure, received_path
from kalshi_cli.sim.server.operations import OPERATIONS
from kalshi_cli.sim.server.ratelimit import request_cost
from kalshi_cli.sim.server.request_bodies import OPTIONAL_BODIES
from kalshi_cli.sim.server.routes import (
    api_keys,
    communications,
    event_metadata,
    exchange_data,
    fcm,
    funding,
    historical,
    intra_transfers,
    market_data,
    multivariate,
    order_groups,
    orders,
    portfolio,
    queue,
    reference_data,
    subaccounts,
    weather,
)
from kalshi_cli.sim.server.routes.api_keys import scope_refusal
from kalshi_cli.sim.server.routes.orders import _batch_items
from kalshi_cli.sim.server.routing import (
    DROP_RESPONSE,
    Endpoint,
    RequestContext,
    SimState,
    UndecodableBody,
    decode_body,
    error_response,
    flat_error_response,
    loads_body,
    refusal,
)
from kalshi_cli.sim.server.schedule import ORDER_WRITES

if TYPE_CHECKING:
    from kalshi_cli.sim.core.subaccounts import SimApiKey
    from kalshi_cli.sim.server.faults import Faults
    from kalshi_cli.sim.server.routing import Json

log = logging.getLogger("kalshi_cli.sim")

ENDPOINTS: tuple[Endpoint, ...] = (
    market_data.ENDPOINTS
    + portfolio.ENDPOINTS
    + orders.ENDPOINTS
    + queue.ENDPOINTS
    + communications.ENDPOINTS
    + funding.ENDPOINTS
    + reference_data.ENDPOINTS
    + multivariate.ENDPOINTS
    + historical.ENDPOINTS
    + order_groups.ENDPOINTS
    + exchange_data.ENDPOINTS
    + subaccounts.ENDPOINTS
    + api_keys.ENDPOINTS
    + event_metadata.ENDPOINTS
    + weather.ENDPOINTS
    + intra_transfers.ENDPOINTS
    + fcm.ENDPOINTS
)


# --------------------------------------------------------------------------------------------
# The pipeline


async def _read_json(request: Request, struct: str) -> Any:
    raw = await request.body()
    if not raw.strip():
        if struct in OPTIONAL_BODIES:
            return {}
        raise UndecodableBody("unexpected end of JSON input")
    body = loads_body(raw)
    decode_body(body, struct)
    return body


_INJECTED_503 = "service unavailable (injected fault)"


async def _dispatch(state: SimState, ep: Endpoint, request: Request) -> Response:
    """The request pipeline, in order: the network's faults, authentication, the key's scopes,
    the injected and scheduled refusals, then the route (body, rate limit, handler) and the
    faults that strike after it committed."""
    endpoint_name = f"{request.method} {ep.template}"
    await _network_delays(state.faults, request, endpoint_name)
    stats_key = request.headers.get("KALSHI-ACCESS-KEY") or "anonymous"
    account = _authenticated(state, ep, request, stats_key, endpoint_name)
    if isinstance(account, Response):
        return account
    # scopes and a subaccount restriction bind private paths; a public one needs no key at all
    key = (
        state.exchange.subaccounts.api_key(stats_key)
        if account is not None and ep.private
        else None
    )
    refused = _refused_before_route(
        state, ep, method=request.method, key=key, stats_key=stats_key, endpoint_name=endpoint_name
    )
    if refused is not None:
        return refused
    answer = await _routed(state, ep, request, account=account, key=key, stats_key=stats_key)
    if isinstance(answer, Response):
        return answer
    return _after_commit(state.faults, request, endpoint_name, *answer)


async def _network_delays(faults: Faults, request: Request, endpoint_name: str) -> None:
    claim = faults.claim_hold() if endpoint_name in ORDER_WRITES else None
    if claim is not None:
        # the hold belongs to the first order request to arrive. The network holds it once it
        # was sent whole (the client may then give up and close the connection, or die); the
        # exchange sees it only afterwards. One whose sender closed before its body was sent
        # never reaches the exchange, and the hold goes with it. The body is read before
        # anything in the pipeline waits: uvicorn answers a read that comes after the
        # connection closed with a disconnect, even for a body that arrived whole.
        try:
            await request.body()
        finally:
            hold = faults.take_hold(claim)
        if hold > 0:
            await faults.held(hold)
    if faults.latency_s > 0:
        await asyncio.sleep(faults.latency_s)


def _authenticated(
    state: SimState, ep: Endpoint, request: Request, stats_key: str, endpoint_name: str
) -> Account | Response | None:
    """The request's account (None: anonymous on a public path), or the 401 refusing it; the
    request is counted either way."""
    account: Account | None = None
    if ep.private or state.auth.has_credentials(request.headers):
        try:
            account = state.auth.authenticate(
                request.method, received_path(request.scope), request.headers
            )
        except AuthFailure as exc:
            state.stats.record(stats_key, endpoint_name)
            return error_response(401, exc.code, exc.message, exc.details)
    state.stats.record(stats_key, endpoint_name)
    return account


def _refused_before_route(
    state: SimState,
    ep: Endpoint,
    *,
    method: str,
    key: SimApiKey | None,
    stats_key: str,
    endpoint_name: str,
) -> Response | None:
    """A refusal before the route runs: the key's scopes, then the injected 5xx, 429 and 503,
    then a maintenance window."""
    faults = state.faults
    if key is not None:
        denied = scope_refusal(key, method, ep.operation)  # scopes: sim/server/routes/api_keys.py
        if denied is not None:
            return refusal(denied)
    if faults.inject_5xx():
        if ep.template == "/exchange/status":
            # the spec gives this endpoint's 5xx answers the ExchangeStatus shape
            down = {"exchange_active": False, "trading_active": False}
            return JSONResponse(down, status_code=503)
        return flat_error_response(500, "internal_server_error", "injected fault: internal error")
    if faults.inject_429():
        state.stats.rate_limited[stats_key] += 1
        return flat_error_response(429, "too_many_requests", "too many requests (injected fault)")
    if endpoint_name in ORDER_WRITES and faults.write_503():
        return flat_error_response(503, "service_unavailable", _INJECTED_503)
    maintenance = state.schedule.refusal(endpoint_name, state.clock.wall())
    if maintenance is not None:  # a 5xx in the spec's flat ErrorResponse, as the injected 503
        return flat_error_response(maintenance.status, maintenance.code, maintenance.message)
    return None


async def _routed(
    state: SimState,
    ep: Endpoint,
    request: Request,
    *,
    account: Account | None,
    key: SimApiKey | None,
    stats_key: str,
) -> tuple[int, Json | None] | Response:
    """The route's answer (status, payload), or a refusal: an undecodable body, the rate
    limit, the exchange's own refusal, or a 500 for a handler that failed."""
    method = request.method
    try:
        body = await _read_json(request, ep.body) if ep.body else None
        if account is not None:
            # a malformed or oversized batch is a 400 before any token is taken
            batch_items = len(_batch_items(state, body, method)) if ep.batch else None
            cost = request_cost(method, ep.template, batch_items)
            if not state.limiter.allow(account.account_id, method, cost):
                state.stats.rate_limited[stats_key] += 1
                return flat_error_response(429, "too_many_requests", "too many requests")
        ctx = RequestContext(
            request,
            account,
            body,
            state.clock.wall(),
            ep.operation,
            key.subaccount if key is not None else None,
        )
        if account is not None:
            state.replica.watch(account.account_id)
            if method != "GET":
                state.before_change()
        return ep.handler(state, ctx)
    except ExchangeError as exc:
        return refusal(exc)
    except Exception:
        log.exception("simulator handler failed: %s %s", method, ep.template)
        return flat_error_response(500, "internal_server_error", "internal error")


def _after_commit(
    faults: Faults, request: Request, endpoint_name: str, status: int, payload: Json | None
) -> Response:
    """The answer, unless a fault strikes after the change was committed: a 503 instead of it,
    or no answer at all (the connection dropped)."""
    if endpoint_name in ORDER_WRITES and status < 300 and faults.write_503_after_commit():
        return flat_error_response(503, "service_unavailable", _INJECTED_503)
    if request.method != "GET" and status < 300 and faults.drop_after_commit():
        request.state.__setattr__(DROP_RESPONSE, True)
    if payload is None:
        return Response(status_code=status)
    return JSONResponse(payload, status_code=status)


def _not_implemented(method: str, template: str, operation_id: str) -> Response:
    """An operation of the spec the simulator does not serve: a 404 that says so, so that a
    client can tell it from a missing resource (`not_found`)."""
    return error_response(
        404,
        "not_implemented",
        f"{operation_id} ({method} {template}) is not implemented by the simulator",
    )


# The V1 order writes Kalshi cut off in June 2026 (REFERENCE.md "Observed on the real wire":
# first a 2xx carrying an error and no order, later 410 Gone). The simulator answers the later
# form; the body's code and words are its own reading, as the wire's were not recorded.
RETIRED_WRITES: dict[str, tuple[str, ...]] = {
    "/portfolio/orders": ("POST",),
    "/portfolio/orders/batched": ("POST", "DELETE"),
    "/portfolio/orders/{order_id}": ("DELETE",),
    "/portfolio/orders/{order_id}/amend": ("POST",),
    "/portfolio/orders/{order_id}/decrease": ("POST",),
}


def _gone(method: str, template: str) -> Response:
    return error_response(
        410,
        "gone",
        f"{method} {template} was removed; orders are written through /portfolio/events/orders",
    )


def _priority(template: str) -> list[bool]:
    """Sort key: at the first segment where two templates differ, a literal segment comes
    before a parameter, so `/markets/trades` is matched before `/markets/{ticker}`."""
    return [segment.startswith("{") for segment in template.split("/")]


def api_routes(state: SimState) -> list[Route]:
    """One Route per path of the spec carrying all its methods, so a wrong method is a 405, not
    a 404; an operation of the spec that no route module serves answers `not_implemented`."""
    by_path: dict[str, dict[str, Endpoint]] = defaultdict(dict)
    for ep in ENDPOINTS:
        by_path[ep.template][ep.method] = ep
    unserved: dict[str, dict[str, str]] = defaultdict(dict)
    for method, template, operation_id in OPERATIONS:
        if method not in by_path.get(template, {}):
            unserved[template][method] = operation_id
    routes: list[Route] = []
    for template in sorted(set(by_path) | set(unserved) | set(RETIRED_WRITES), key=_priority):
        table = by_path.get(template, {})
        missing = unserved.get(template, {})
        retired = RETIRED_WRITES.get(template, ())

        def make(
            template: str, table: dict[str, Endpoint], missing: dict[str, str]
        ) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                ep = table.get(request.method)
                if ep is None:
                    if request.method in missing:
                        return _not_implemented(request.method, template, missing[request.method])
                    return _gone(request.method, template)
                return await _dispatch(state, ep, request)

            return endpoint

        methods = [*table, *missing, *retired]
        routes.append(Route(template, make(template, table, missing), methods=methods))
    return routes


def _route_path(scope: Scope) -> str:
    """The path below the mount point (what Starlette's routes match against)."""
    path, root = str(scope["path"]), str(scope.get("root_path", ""))
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


class SegmentRouter(Router):
    """Starlette's Router, except that a request is matched only against the routes whose first path
    segment is its own (a dict lookup), not all of them in turn (docs/benchmarks.md). Within a
    segment the list's order holds; no redirects. A path that is exactly a parameterless template
    is looked up first in `literal`, the route the scan would find first anyway; when its method
    is not served, the scan runs."""

    def __init__(self, routes: list[Route]) -> None:
        super().__init__(routes=list(routes), redirect_slashes=False)
        self.by_first: dict[str, list[Route]] = defaultdict(list)
        self.literal: dict[str, Route] = {}
        for route in routes:
            self.by_first[route.path.split("/", 2)[1]].append(route)
            if "{" not in route.path:
                self.literal[route.path] = route

    def pick(self, scope: Scope) -> tuple[Route, Scope] | None:
        """The route for an http scope and its child scope: the first that matches in full,
        else the first that matches the path but not the method (a 405), else None (a 404)."""
        path = _route_path(scope)
        exact = self.literal.get(path)
        if exact is not None:
            match, child_scope = exact.matches(scope)
            if match is Match.FULL:
                return exact, child_scope
        first = path.split("/", 2)[1:2]
        partial: tuple[Route, Scope] | None = None
        for route in self.by_first.get(first[0] if first else "", ()):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return route, child_scope
            if match is Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        return partial

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)
        picked = self.pick(scope)
        if picked is None:
            await self.default(scope, receive, send)
            return
        route, child_scope = picked
        scope["route"] = route
        scope.update(child_scope)
        await route.handle(scope, receive, send)


def api_router(state: SimState) -> SegmentRouter:
    return SegmentRouter(api_routes(state))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
    message = {404: "no such path", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
    return error_response(exc.status_code, code, message)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"

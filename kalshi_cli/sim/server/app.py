"""The whole simulator as one ASGI app: Kalshi's REST paths, the WebSocket and the admin API.

`_Outer` wraps the Starlette app as plain ASGI to hand every finished response under /trade-api/v2
to a `response_hook` (tests validate them against openapi.yaml), and to drop a committed write's
response on purpose: it sends nothing and returns non-None, so uvicorn closes the connection
unanswered, as when a real connection dies after the exchange accepted the order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send

from kalshi_cli.sim.core.historical import attach_retention
from kalshi_cli.sim.server.admin import admin_routes
from kalshi_cli.sim.server.routing import ADMIN_PREFIX, API_PREFIX, DROP_RESPONSE, WS_PATH, SimState
from kalshi_cli.sim.server.server import api_router, http_error
from kalshi_cli.sim.server.shards import run_transfers_on_tick
from kalshi_cli.sim.server.ws import WsHub

log = logging.getLogger("kalshi_cli.sim")


class _Outer:
    """Plain ASGI around the app: the response hook and the dropped-after-commit answers."""

    def __init__(self, app: Starlette, state: SimState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> bool | None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return None
        send = self._dated(send)
        if not str(scope["path"]).startswith(API_PREFIX + "/"):
            await self.app(scope, receive, send)
            return None
        scope.setdefault("state", {})
        started: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if scope["state"].get(DROP_RESPONSE):
                return
            if message["type"] == "http.response.start":
                started["status"] = message["status"]
                started["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        if scope["state"].get(DROP_RESPONSE):
            # A non-None return makes uvicorn close the transport with nothing sent.
            return True
        hook = self.state.response_hook
        if hook is not None and "status" in started:
            content_type = ""
            for name, value in started["headers"]:
                if name.lower() == b"content-type":
                    content_type = value.decode("latin-1")
            query = scope.get("query_string", b"").decode("latin-1")
            try:
                hook(
                    scope["method"],
                    scope["path"],
                    query,
                    started["status"],
                    content_type,
                    b"".join(chunks),
                )
            except Exception:
                log.exception("response hook failed")
        return None

    def _dated(self, send: Send) -> Send:
        """`send` with a `Date` header of the exchange's clock when the answer starts (RFC
        9110), as the exchange dates its answers: uvicorn's own (turned off in sim/server/embed.py)
        is a string renewed once a second by its event loop, a second or more stale on a loaded
        machine, and `kalshi health-check` reads the clock skew from it."""
        clock = self.state.clock

        async def dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                date = formatdate(clock.wall(), usegmt=True).encode("ascii")
                message = {**message, "headers": [*message.get("headers", []), (b"date", date)]}
            await send(message)

        return dated


class Server(uvicorn.Server):
    """uvicorn's server, stopping as soon as `should_exit` is set (from any thread) and its
    connections are closed, where uvicorn's own waits out its 0.1 s loop tick and a fixed 0.1 s
    after closing them. The graceful timeout still bounds the wait."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._exit, self._woken = False, asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        super().__init__(config)

    @property
    def should_exit(self) -> bool:
        return self._exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._exit = value
        if value and self._loop is not None:  # else the loop's first tick sees it
            self._loop.call_soon_threadsafe(self._woken.set)

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        while not await self.on_tick(0):  # `should_exit` (no date header to refresh)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), 0.1)

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        for server in self.servers:
            server.close()  # the socket itself is closed by embed.release
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle ones close now, busy ones after their answer
        deadline = time.monotonic() + (self.config.timeout_graceful_shutdown or 0)
        while self.server_state.connections or self.server_state.tasks:
            if time.monotonic() > deadline or self.force_exit:
                break
            await asyncio.sleep(0.005)
        for task in self.server_state.tasks:
            task.cancel()
        if not self.force_exit:
            await self.lifespan.shutdown()


async def _tick_loop(state: SimState) -> None:
    while True:
        try:
            state.before_change()
            state.exchange.tick()
        except Exception:
            log.exception("exchange tick failed")
        await asyncio.sleep(state.tick_interval_s)


def create_app(state: SimState) -> _Outer:
    """The whole simulator as one ASGI app: Kalshi REST, the WebSocket and the admin API."""
    hub = WsHub(state)
    state.market_history.attach(state.exchange, state.clock)
    state.schedule.attach(state.exchange)
    run_transfers_on_tick(state.exchange, state.faults)
    attach_retention(state.exchange, state.history)  # records a minute old: compact

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_tick_loop(state))
        try:
            yield
        finally:
            task.cancel()
            await hub.close_all()

    routes: list[BaseRoute] = [
        Mount(API_PREFIX, app=api_router(state)),
        WebSocketRoute(WS_PATH, hub.endpoint),
        Mount(ADMIN_PREFIX, routes=admin_routes(state)),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={404: http_error, 405: http_error},
        lifespan=lifespan,
    )
    # Kalshi's paths have no redirects: a path ending in "/" (an empty id) is a 404, not a 307
    app.router.redirect_slashes = False
    return _Outer(app, state)

"""The background simulator: `python -m kalshi_cli.sim.server.background`, started by
`embed.ensure_simulator` for the commands of one data directory.

`serve.py`'s foreground server, except that it announces its account on the pipe its starter passed
(`--ready-fd`), and stops by itself once no client has used it for `--idle-stop` seconds (host
monotonic time; 0 = never). It stops as the foreground server does on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from kalshi_cli.sim.core.journal import JournalError
from kalshi_cli.sim.server.embed import (
    BUSY_EXIT,
    DEFAULT_IDLE_STOP_S,
    SimulatorBusy,
    prepare,
    release,
)


class IdleWatch:
    """ASGI around the app that counts the clients in flight and when the last one left."""

    def __init__(
        self,
        app: ASGIApp,
        idle_stop_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.idle_stop_s = idle_stop_s
        self.monotonic = monotonic
        self.in_flight = 0  # requests being answered and WebSockets open
        self.last_seen = monotonic()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        self.in_flight += 1
        self.last_seen = self.monotonic()
        try:
            return await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.last_seen = self.monotonic()

    def idle_for(self) -> float:
        return 0.0 if self.in_flight else self.monotonic() - self.last_seen

    async def stop_when_idle(self, server: Any) -> None:
        """Ask `server` (uvicorn's) to exit once no client came for `idle_stop_s`."""
        while True:
            idle = self.idle_for()
            if idle >= self.idle_stop_s:
                server.should_exit = True
                return
            await asyncio.sleep(min(self.idle_stop_s - idle, 1.0) if idle else 1.0)


async def _serve(prepared: Any, watch: IdleWatch | None) -> None:
    task = None
    if watch is not None:
        task = asyncio.create_task(watch.stop_when_idle(prepared.server))
    try:
        await prepared.server.serve(sockets=[prepared.sock])
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kalshi_cli.sim.server.background")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--tier", default="basic")
    parser.add_argument("--idle-stop", type=float, default=DEFAULT_IDLE_STOP_S)
    parser.add_argument("--ready-fd", type=int, default=None)
    args = parser.parse_args(argv)
    idle_stop_s = args.idle_stop if args.idle_stop > 0 else None
    try:
        prepared = prepare(
            args.data_dir,
            scenario=args.scenario,
            tier=args.tier,
            log_level="warning",
            mode="background",
            idle_stop_s=idle_stop_s,
        )
    except SimulatorBusy:
        return BUSY_EXIT  # the starter joins the one that serves it
    except JournalError as exc:  # one line, the log's last, which the starter shows
        print(f"the simulator's state cannot be restored: {exc}", file=sys.stderr)
        return 1
    os.chdir(prepared.state.data_dir)  # hold no directory of the command that started it
    try:
        from kalshi_cli.sim.server.serve import tune_gc

        watch = None
        if idle_stop_s is not None:
            # uvicorn loads `config.app` when it starts serving: wrapped before that
            watch = IdleWatch(prepared.server.config.app, idle_stop_s)
            prepared.server.config.app = watch
        if args.ready_fd is not None:
            os.write(args.ready_fd, json.dumps(prepared.account.to_json()).encode())
            os.close(args.ready_fd)
        tune_gc()
        asyncio.run(_serve(prepared, watch))
    finally:
        release(prepared)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

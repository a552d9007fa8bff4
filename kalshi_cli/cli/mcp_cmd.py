"""`kalshi mcp`: the Model Context Protocol server an assistant connects to (docs/agents.md).

The tools live in `kalshi_cli.agent`; here the command hands them the CLI's own wiring (its
settings, its one client, the state file and the `OrderService` of `cli/_services.py`), so a tool
reads and writes exactly as the command of the same name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated

import typer

from kalshi_cli.cli._context import AppContext, begin
from kalshi_cli.cli._options import EnvOpt

if TYPE_CHECKING:
    from pathlib import Path

    from kalshi_cli.client import KalshiClient
    from kalshi_cli.client.pacing import TierSetting
    from kalshi_cli.config import Settings
    from kalshi_cli.services.orders.place import OrderService
    from kalshi_cli.store import Store


def mcp_command(
    http: Annotated[
        bool,
        typer.Option("--http", help="Serve streamable HTTP (bearer token required), not stdio."),
    ] = False,
    host: Annotated[
        str, typer.Option("--host", help="--http: the loopback address to bind.")
    ] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option("--port", help="--http: the port (default: agent.http_port).", min=1),
    ] = None,
    env: EnvOpt = None,
) -> None:
    """Serve the Model Context Protocol to an assistant: reads, research, writes.

    Over stdio, started by the assistant (docs/agents.md has the snippets); --http listens on
    127.0.0.1 and needs the config's bearer token. Writes are off until the config's `agent:`
    section turns them on; each is previewed, then executed by a single-use token, within the
    account's risk limits and the assistant's budget of the day, and recorded in the state
    file's audit. Needs the `mcp` extra.

    Example: kalshi mcp --env sim
    """
    from kalshi_cli.agent.launch import start

    app, _ = begin(env)
    start(CliAccess(app), http=http, host=host, port=port)


class CliAccess:
    """The tools' `Access` over the command line's `AppContext`."""

    def __init__(self, app: AppContext) -> None:
        self._app = app

    @property
    def environ(self) -> Mapping[str, str]:
        return self._app.environ

    def settings(self) -> Settings:
        return self._app.settings()

    def client(self, *, auth: bool = False) -> KalshiClient:
        return self._app.client(auth=auth)

    def kill_switch_client(self) -> KalshiClient:
        """The client the kill switch cancels with: the key's, its credentials required, with
        no refusal of a state file bound to another account. `kalshi cancel-all` cancels the
        key's orders whatever the file and records nothing in another account's: the file is
        its store's to refuse (`open_kill_switch_store`), never the cancels'."""
        client = self._app.client()
        if not client.authenticated:
            from kalshi_cli.services.connection import no_credentials

            raise no_credentials(self._app.settings())
        return client

    def open_store(self) -> Store:
        from kalshi_cli.cli._services import open_store

        return open_store(self._app)

    def open_audit_store(self) -> Store:
        """The state file the audit's rows go to: the tools' own, also a paper session's,
        which every other write refuses (a row records a call; it acts on no account)."""
        from kalshi_cli.cli._services import open_store

        return open_store(self._app, for_the_account=False)

    def open_kill_switch_store(self, say: Callable[[str], None]) -> Store:
        from kalshi_cli.cli._services import open_kill_switch_store

        return open_kill_switch_store(self._app, say)

    def kill_switch_state(self) -> Path:
        from kalshi_cli.cli._services import kill_switch_state

        return kill_switch_state(self._app)

    def order_service(self, store: Store) -> OrderService:
        from kalshi_cli.cli._services import order_service

        return order_service(self._app, store)

    def tier(self) -> TierSetting:
        from kalshi_cli.cli._services import tier_setting

        return tier_setting(self._app)

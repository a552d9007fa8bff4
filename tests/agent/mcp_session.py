"""`kalshi mcp` started over stdio by the SDK's own client, pointed at a simulator."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.dispatcher import ProgressFnT

from kalshi_cli.sim.server.announce import AccountInfo

REPO = Path(__file__).resolve().parents[2]


def server_params(
    account: AccountInfo | None, home: Path, config: str = ""
) -> StdioServerParameters:
    """`kalshi mcp` in a fresh KALSHI_HOME with `config`, trading as `account` (None: no
    exchange is configured, for the tools that need none)."""
    (home / "config.yaml").write_text(config)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "KALSHI_HOME": str(home),
        "XDG_CACHE_HOME": str(home / "cache"),
        "KALSHI_ENV": "sim",
        "KALSHI_STATE": str(home / "state.db"),
        # the server runs the tree under test, not whichever copy the interpreter has installed
        "PYTHONPATH": str(REPO),
    }
    if account is not None:
        env |= {
            "KALSHI_API_BASE": account.api_base,
            "KALSHI_API_KEY_ID": account.key_id,
            "KALSHI_PRIVATE_KEY_PATH": account.private_key_path,
        }
    return StdioServerParameters(
        command=sys.executable, args=["-m", "kalshi_cli", "mcp"], env=env, cwd=str(home)
    )


class Session:
    """Tool calls answered as JSON, or a refusal's one line."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session

    async def call(
        self, tool: str, progress: ProgressFnT | None = None, **arguments: Any
    ) -> dict[str, Any]:
        result = await self.session.call_tool(tool, arguments, progress_callback=progress)
        text = result.content[0].text  # type: ignore[union-attr]
        assert not result.is_error, f"{tool}: {text}"
        answer: dict[str, Any] = json.loads(text)
        return answer

    async def refused(self, tool: str, **arguments: Any) -> str:
        result = await self.session.call_tool(tool, arguments)
        text: str = result.content[0].text  # type: ignore[union-attr]
        assert result.is_error, f"{tool} was not refused: {text}"
        return text


@asynccontextmanager
async def mcp_session(params: StdioServerParameters, errlog: Any) -> AsyncIterator[Session]:
    async with (
        stdio_client(params, errlog=errlog) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield Session(session)

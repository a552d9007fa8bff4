"""The server's tools through the SDK's in-process client: every tool is listed with its
description and read-only hint, and the research tools answer, or refuse in one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client

from kalshi_cli.agent.server import build_server
from kalshi_cli.agent.settings import AgentConfig
from kalshi_cli.agent.tools import AgentTools
from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.mcp_cmd import CliAccess
from kalshi_cli.vocabulary.clock import ManualClock

WRITE_TOOLS = {
    "preview_order",
    "preview_amend",
    "preview_decrease",
    "preview_cancel",
    "preview_resume",
    "execute",
    "cancel_all",
    "halt",
}


def test_the_tools_are_described_and_the_research_tools_answer(tmp_path: Path) -> None:
    app = AppContext(environ={"KALSHI_HOME": str(tmp_path)})
    server = build_server(AgentTools(CliAccess(app), AgentConfig(), clock=ManualClock(0)))
    answers: dict[str, Any] = {}

    async def session() -> None:
        async with Client(server) as client:
            tools = (await client.list_tools()).tools
            answers["tools"] = {t.name: t for t in tools}
            result = await client.call_tool("strategies", {})
            answers["strategies"] = json.loads(result.content[0].text)  # type: ignore[union-attr]
            for name, arguments in {
                "backtest_run": {"run": "nope"},
                "backtest": {"strategy": "spike", "data": str(tmp_path / "none")},
            }.items():
                refused = await client.call_tool(name, arguments)
                assert refused.is_error
                answers[name] = refused.content[0].text  # type: ignore[union-attr]

    anyio.run(session)
    tools = answers["tools"]
    assert all(t.description for t in tools.values())
    writes = {n for n, t in tools.items() if not t.annotations.read_only_hint}
    assert writes == WRITE_TOOLS
    names = [s["name"] for s in answers["strategies"]["strategies"]]
    assert "spike" in names
    assert "NO_DATA: no data set at" in answers["backtest"]
    assert "nope" in answers["backtest_run"]


def test_the_backtest_tool_runs_no_code_the_assistant_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a trader who backtests the model strategy on a built-in source; the assistant names code
    # of its choosing as the strategy (a file, an import path) or as the model's source
    (tmp_path / "config.yaml").write_text("strategies:\n  model:\n    source: builtin:crypto\n")
    ran = tmp_path / "ran"
    (tmp_path / "theirs.py").write_text(
        f"from pathlib import Path\nPath({str(ran)!r}).write_text('ran')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "data").mkdir()
    data = str(tmp_path / "data")
    app = AppContext(environ={"KALSHI_HOME": str(tmp_path)})
    server = build_server(AgentTools(CliAccess(app), AgentConfig(), clock=ManualClock(0)))
    asks: list[dict[str, Any]] = [
        {"strategy": str(tmp_path / "theirs.py"), "data": data},
        {"strategy": "theirs:STRATEGY", "data": data},
        {"strategy": "model", "data": data, "params": [f"source=command:touch {ran}"]},
        {"strategy": "model", "data": data, "params": ["source=builtin:crypto,python:theirs:f"]},
    ]
    refusals: list[str] = []

    async def session() -> None:
        async with Client(server) as client:
            for arguments in asks:
                refused = await client.call_tool("backtest", arguments)
                assert refused.is_error, arguments
                refusals.append(refused.content[0].text)  # type: ignore[union-attr]

    anyio.run(session)
    assert not ran.exists()
    assert "theirs" not in sys.modules
    for line in refusals[:2]:
        assert "USAGE: the assistant backtests a strategy by its name" in line, line
    for line in refusals[2:]:
        assert "USAGE: the assistant does not set a model's source" in line, line

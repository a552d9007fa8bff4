"""The server through the SDK's in-process client: every tool and argument is described, the
previews marked as changing nothing, the resources and the prompt answer, and the research tools
answer, or refuse in one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from mcp.client import Client

from kalshi_cli.agent.server import build_server
from kalshi_cli.agent.settings import AgentConfig, load_agent_config
from kalshi_cli.agent.tools import AgentTools
from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.mcp_cmd import CliAccess
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from tests.agent.test_agent_tools import environ

if TYPE_CHECKING:
    from tests.conftest import SimHarness

WRITE_TOOLS = {
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
            answers["resources"] = {
                str(r.uri): r for r in (await client.list_resources()).resources
            }
            config = await client.read_resource("kalshi://config")
            answers["config"] = json.loads(config.contents[0].text)  # type: ignore[union-attr]
            answers["prompts"] = {p.name for p in (await client.list_prompts()).prompts}
            review = await client.get_prompt("review_my_risk", {})
            answers["review"] = review.messages[0].content.text  # type: ignore[union-attr]
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
    undescribed = [
        (t.name, name)
        for t in tools.values()
        for name, schema in t.input_schema["properties"].items()
        if not schema.get("description")
    ]
    assert undescribed == []
    order = tools["preview_order"].input_schema["properties"]
    assert (order["side"]["enum"], order["action"]["enum"]) == (["yes", "no"], ["buy", "sell"])
    assert order["count"]["type"] == ["string", "number"]
    # a preview changes nothing: a host asks the trader once, at execute
    changing = {n for n, t in tools.items() if not t.annotations.read_only_hint}
    assert changing == WRITE_TOOLS
    assert {n for n, t in tools.items() if t.annotations.destructive_hint} == WRITE_TOOLS
    assert set(answers["resources"]) == {"kalshi://positions", "kalshi://config"}
    assert answers["config"]["writes_enabled"] is False
    assert answers["prompts"] == {"review_my_risk"}
    assert "positions" in answers["review"]
    names = [s["name"] for s in answers["strategies"]["strategies"]]
    assert "spike" in names
    assert "NO_DATA: no data set at" in answers["backtest"]
    assert "nope" in answers["backtest_run"]


def test_the_backtest_tool_runs_no_code_the_assistant_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a trader who backtests the model strategy on a built-in source; the assistant names code
    # of its choosing as the strategy (a file, an import path) or as the model's source
    fair_value = Path(__file__).parents[2] / "examples" / "strategies" / "fair_value.py"
    (tmp_path / "config.yaml").write_text(
        "strategies:\n  model:\n    source: builtin:crypto\n"
        f"  fair-value:\n    strategy: {fair_value}\n"
    )
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
        {"strategy": "nonesuch", "data": data},
        {"strategy": "fair-value", "data": str(tmp_path / "none")},  # the config's: taken
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
        assert "USAGE: the assistant backtests a strategy by a name it knows" in line, line
    for line in refusals[2:4]:
        assert "USAGE: the assistant does not set a model's source" in line, line
    # a name it does not know: the choices offered are the names it accepts, and no file
    assert "by a name it knows, not 'nonesuch'" in refusals[4], refusals[4]
    assert "spike, " in refusals[4] and "fair-value" in refusals[4], refusals[4]
    assert ".py" not in refusals[4], refusals[4]
    assert "NO_DATA: no data set at" in refusals[5], refusals[5]


def test_an_argument_a_tool_does_not_take_is_refused_and_nothing_is_sent(
    sim: SimHarness, tmp_path: Path
) -> None:
    """An assistant that adds an argument of its own (`reduce_only` to an order, `dry_run` to
    `execute`) is refused, not answered as if it had not asked: a buy it believed could only
    reduce a position, or an execute it believed a rehearsal, would otherwise go out."""
    ticker = "KXMCP-26JAN01-T5"
    sim.create_market(ticker)
    (tmp_path / "config.yaml").write_text("agent:\n  writes:\n    sim: true\n")
    app = AppContext(environ=environ(sim, tmp_path))
    server = build_server(
        AgentTools(
            CliAccess(app),
            load_agent_config(app.settings().config_path),
            clock=ManualClock(1_700_000_000.0),
        )
    )
    order = {"ticker": ticker, "side": "yes", "action": "buy", "count": "2", "price": "0.10"}
    answers: dict[str, Any] = {}

    async def session() -> None:
        async with Client(server) as client:
            listed = {t.name: t for t in (await client.list_tools()).tools}
            answers["schema"] = listed["preview_order"].input_schema
            answers["preview_order"] = await client.call_tool(
                "preview_order", order | {"reduce_only": True}
            )
            preview = await client.call_tool("preview_order", order)
            token = json.loads(preview.content[0].text)["token"]  # type: ignore[union-attr]
            answers["execute"] = await client.call_tool(
                "execute", {"token": token, "dry_run": True}
            )
            # a kill switch of one series that does not exist would stop every market
            answers["cancel_all"] = await client.call_tool("cancel_all", {"series": "KXMCP"})

    try:
        anyio.run(session)
    finally:
        app.close()
    account = sim.stats()["accounts"][sim.account.key_id]
    assert account["order_create_requests"] == 0, "an execute asked for a dry run placed"
    with Store.open(tmp_path / "state.db") as store:
        assert store.orders.intents() == []
        assert store.trading.trading_state().state == "ACTIVE"
    for name, unknown in (
        ("preview_order", "reduce_only"),
        ("cancel_all", "series"),
        ("execute", "dry_run"),
    ):
        result = answers[name]
        assert result.is_error, (name, result)
        assert unknown in result.content[0].text, result
    # the schema says so to the client before it calls
    assert answers["schema"]["additionalProperties"] is False


def test_an_argument_past_its_bound_is_refused_in_one_line_naming_it(tmp_path: Path) -> None:
    app = AppContext(environ={"KALSHI_HOME": str(tmp_path)})
    server = build_server(AgentTools(CliAccess(app), AgentConfig(), clock=ManualClock(0)))
    order = {"ticker": "KXMCP-26JAN01-T5", "side": "yes", "action": "buy", "price": "0.10"}
    asks: dict[str, tuple[str, dict[str, Any]]] = {
        "count": ("preview_order", order | {"count": "9" * 5000}),
        "ticker": ("market", {"ticker": "K" * 1_000_000}),
        "limit": ("checks", {"limit": 10_000}),
    }
    refusals: dict[str, str] = {}

    async def session() -> None:
        async with Client(server) as client:
            for argument, (tool, arguments) in asks.items():
                refused = await client.call_tool(tool, arguments)
                assert refused.is_error, argument
                refusals[argument] = refused.content[0].text  # type: ignore[union-attr]

    anyio.run(session)
    for argument, text in refusals.items():
        assert "\n" not in text, text
        assert f"USAGE: {argument}: " in text, text
        assert any(c.isdigit() for c in text.split(f"{argument}: ", 1)[1]), text  # the bound


def test_money_is_dollars_and_an_unsent_field_is_not_defaulted(
    sim: SimHarness, tmp_path: Path
) -> None:
    ticker = "KXMCP-26JAN01-T5"
    sim.create_market(ticker)
    (tmp_path / "config.yaml").write_text("agent:\n  writes:\n    sim: true\n")
    app = AppContext(environ=environ(sim, tmp_path))
    config = load_agent_config(app.settings().config_path)
    server = build_server(AgentTools(CliAccess(app), config, clock=ManualClock(1_700_000_000.0)))
    order = {"ticker": ticker, "side": "yes", "action": "buy", "count": 2, "price": 0.10}
    answers: dict[str, Any] = {}

    async def session() -> None:
        async with Client(server) as client:

            async def call(tool: str, **arguments: Any) -> Any:
                result = await client.call_tool(tool, arguments)
                assert not result.is_error, result
                return json.loads(result.content[0].text)  # type: ignore[union-attr]

            answers["balance"] = await call("balance")
            preview = await call("preview_order", **order, time_in_force="ioc")
            await call("execute", token=preview["token"])
            answers["orders"] = await call("orders", status="canceled")

    try:
        anyio.run(session)
    finally:
        app.close()
    assert answers["balance"]["balance"] == "1000.00"
    (ioc,) = answers["orders"]["orders"]
    assert (ioc["price"], ioc["side"], ioc["strategy"]) == ("0.1000", "yes", "agent")
    assert ioc.get("time_in_force") != "good_till_canceled"

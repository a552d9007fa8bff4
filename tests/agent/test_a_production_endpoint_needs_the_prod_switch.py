"""Real money is the endpoint's, not the environment's name: `kalshi mcp` talking to Kalshi's
production host under `env: sim` (a `KALSHI_API_BASE` left in the shell that starts the
assistant) or `demo` needs `agent.writes.prod`, the one switch for real money."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from kalshi_cli.agent.settings import load_agent_config
from kalshi_cli.agent.tools import AgentTools
from kalshi_cli.agent.tools.common import one_line
from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.mcp_cmd import CliAccess
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import KalshiError
from tests.cli.fakes import FakeClient


@pytest.mark.parametrize(
    "api_base",
    [
        "https://external-api.kalshi.com/trade-api/v2",
        "https://api.elections.kalshi.com/trade-api/v2",
        "https://EXTERNAL-API.KALSHI.COM./trade-api/v2",
    ],
)
def test_writes_on_for_sim_are_off_on_kalshis_production_host(
    tmp_path: Path, api_base: str
) -> None:
    (tmp_path / "config.yaml").write_text("agent:\n  writes:\n    sim: true\n    demo: true\n")
    environ = {
        "KALSHI_HOME": str(tmp_path),
        "KALSHI_ENV": "sim",
        "KALSHI_API_BASE": api_base,
        "KALSHI_STATE": str(tmp_path / "state.db"),
    }
    app = AppContext(environ=environ)
    access = CliAccess(app)
    tools = AgentTools(access, load_agent_config(app.settings().config_path), clock=ManualClock(0))

    with pytest.raises(KalshiError) as caught:
        tools.orders.preview_order(
            "KXANY-26JAN01-T3", side="yes", action="buy", count="1", price="0.30"
        )

    line = one_line(caught.value)
    assert line.startswith("REJECTED WRITES_DISABLED: "), line
    assert "agent.writes.prod" in line, line
    assert tools.orders.budget()["writes_enabled"] is False
    app.close()


def test_the_assistants_read_of_the_exchange_names_prod_on_kalshis_production_host(
    tmp_path: Path,
) -> None:
    """The assistant learns the stakes from its reads: the environment `exchange_status` names
    is the one `budget` names, prod on the production host whatever `env` says."""
    client = FakeClient()
    environ = {
        "KALSHI_HOME": str(tmp_path),
        "KALSHI_ENV": "demo",
        "KALSHI_API_BASE": "https://external-api.kalshi.com/trade-api/v2",
        "KALSHI_STATE": str(tmp_path / "state.db"),
    }
    app = AppContext(environ=environ, client_factory=lambda *_: cast(Any, client))
    tools = AgentTools(
        CliAccess(app), load_agent_config(app.settings().config_path), clock=ManualClock(0)
    )

    assert tools.reads.exchange_status()["environment"] == "prod"
    assert tools.orders.budget()["environment"] == "prod"
    assert [name for name, _ in client.calls] == ["get_exchange_status", "get_exchange_schedule"]
    app.close()

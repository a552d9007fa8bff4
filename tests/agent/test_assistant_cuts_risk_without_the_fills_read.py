"""The assistant's amend that only takes contracts off (fewer at the same price) never waits on
or fails by the read of the account's fills the daily circuit breaker needs: it goes while the
exchange's fills endpoint fails, as a hand amend does (docs/risk.md "Daily circuit breaker")."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from kalshi_cli.agent.settings import load_agent_config
from kalshi_cli.agent.tools import AgentTools
from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.mcp_cmd import CliAccess
from kalshi_cli.client.portfolio import PortfolioApi
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ServerError
from tests.agent.test_agent_tools import CONFIG, T, environ, placed

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import SimHarness


@pytest.fixture
def tools(sim: SimHarness, tmp_path: Path) -> Iterator[AgentTools]:
    sim.create_market(T)
    (tmp_path / "config.yaml").write_text(CONFIG)
    app = AppContext(environ=environ(sim, tmp_path))
    clock = ManualClock(1_700_000_000.0)
    yield AgentTools(CliAccess(app), load_agent_config(app.settings().config_path), clock=clock)
    app.close()


def test_the_assistants_shrinking_amend_goes_while_the_fills_read_fails(
    tools: AgentTools, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = placed(tools, "4", "0.20")["order_id"]
    asked: list[int] = []

    def failing(self: PortfolioApi, **_: Any) -> Any:
        asked.append(1)
        raise ServerError("request failed: HTTP 500", status=500)

    monkeypatch.setattr(PortfolioApi, "iter_fills", failing)
    tools.orders.execute(tools.orders.preview_amend(order_id, count="3")["token"])
    assert asked == []
    client = tools.access.client(auth=True)
    assert client.orders.get_order(order_id).remaining_count == Decimal(3)

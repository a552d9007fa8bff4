"""The assistant's orders held to the account's limits, against the simulator: the risk engine's
own rules (`risk:`, a budget of its name in `trade.budgets`) over the whole account, its budget a
UTC day's read from the state file whatever the session, the fills a breaker reads brought in
first, the taker fee in the dollars, bad input refused before anything is sent, and tokens
forgotten once past their time."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kalshi_cli.agent.settings import load_agent_config
from kalshi_cli.agent.tools import AgentTools
from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli._services import open_store, order_service
from kalshi_cli.cli.mcp_cmd import CliAccess
from kalshi_cli.vocabulary.clock import Clock, ManualClock
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.models import Action, Side
from kalshi_cli.vocabulary.order_terms import OrderRequest
from tests.agent.test_agent_tools import environ

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import SimHarness

T = "KXMCP-26JAN01-T4"
WRITES_ON = "agent:\n  writes:\n    sim: true\n"


class Rig:
    """The tools of one `kalshi mcp` process over a home whose config a test rewrites (the
    tools read it on every call), and more processes over the same state file."""

    def __init__(self, sim: SimHarness, home: Path) -> None:
        self.sim = sim
        self.home = home
        self.apps: list[AppContext] = []

    def config(self, text: str, *, budget: str = "") -> None:
        """`text` beside the `agent:` section, which turns writes on and sets `budget`."""
        agent = WRITES_ON + (f"  budget: {budget}\n" if budget else "")
        (self.home / "config.yaml").write_text(agent + text)

    def session(self, clock: Clock | None = None) -> AgentTools:
        """A new `kalshi mcp` process: its own context, client and write gate."""
        app = AppContext(environ=environ(self.sim, self.home))
        self.apps.append(app)
        config = load_agent_config(app.settings().config_path)
        return AgentTools(CliAccess(app), config, clock=clock or ManualClock(1_700_000_000.0))

    def by_hand(self, count: str, price: str) -> str:
        """A person's order (`kalshi order place`): the account's, not the assistant's."""
        app = self.apps[0]
        with open_store(app) as store:
            service = order_service(app, store)
            request = OrderRequest(
                T, Side.YES, Action.BUY, Decimal(count), Decimal(price), strategy="manual"
            )
            placed = service.place(service.prepare(request))
        assert placed.order_id is not None
        return placed.order_id


@pytest.fixture
def rig(sim: SimHarness, tmp_path: Path) -> Iterator[Rig]:
    sim.create_market(T)
    made = Rig(sim, tmp_path)
    made.config("")
    yield made
    for app in made.apps:
        app.close()


@pytest.mark.parametrize(
    ("tool", "arguments", "code"),
    [
        ("orderbook", {"ticker": T, "depth": -1}, "bad_depth"),
        ("orderbook", {"ticker": T, "depth": 101}, "bad_depth"),
        ("markets", {"status": "bogus"}, "bad_status"),
        ("events", {"status": "bogus"}, "bad_status"),
        ("markets", {"limit": 0}, ""),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(
    rig: Rig, tool: str, arguments: dict[str, Any], code: str
) -> None:
    tools = rig.session()
    before = rig.sim.stats()["total_requests"]
    with pytest.raises(KalshiError) as caught:
        getattr(tools, tool)(**arguments)
    assert getattr(caught.value, "code", "") == code or not code, caught.value
    assert rig.sim.stats()["total_requests"] == before

"""With the config's writes off, every write tool of `kalshi mcp` refuses and nothing reaches the
exchange: the simulator counts no request of the account."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from kalshi_cli.store import Store
from tests.agent.mcp_session import mcp_session, server_params

if TYPE_CHECKING:
    from tests.conftest import SimHarness

pytestmark = pytest.mark.slow
T = "KXMCP-26JAN01-T2"
WRITES = {
    "preview_order": {"ticker": T, "side": "yes", "action": "buy", "count": "1", "price": "0.30"},
    "preview_amend": {"order_id": "5c3e0b9e", "price": "0.31"},
    "preview_decrease": {"order_id": "5c3e0b9e", "by": "1"},
    "preview_cancel": {"order_id": "5c3e0b9e"},
    "preview_resume": {},
    "execute": {"token": "made-up"},
}


def test_with_writes_off_every_write_tool_refuses_and_sends_nothing(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(T)
    # the prod switch alone does not open sim
    params = server_params(sim.account, tmp_path, "agent:\n  writes:\n    prod: true\n")
    refusals: dict[str, str] = {}

    async def session() -> None:
        with (tmp_path / "server.log").open("w") as errlog:
            async with mcp_session(params, errlog) as s:
                for tool, arguments in WRITES.items():
                    refusals[tool] = await s.refused(tool, **arguments)
                budget = await s.call("budget")
                assert budget["writes_enabled"] is False

    anyio.run(session)

    for tool, line in refusals.items():
        assert (
            "REJECTED WRITES_DISABLED: writes through `kalshi mcp` are off for env sim" in line
        ), tool
    account = sim.stats()["accounts"].get(sim.account.key_id, {})
    assert account.get("total_requests", 0) == 0, account
    with Store.open(tmp_path / "state.db") as store:
        audit = [(e.tool, e.outcome) for e in store.audit.entries()]
        assert store.orders.intents() == []
    assert audit == [(tool, "refused") for tool in WRITES]

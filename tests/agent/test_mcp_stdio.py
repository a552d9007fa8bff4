"""An assistant's session through `kalshi mcp` over stdio, driven by the MCP SDK's own client
against the simulator: reads, a previewed order within limits, one over the position limit
refused with its rule named, the kill switch, and every write in the state file's audit."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from kalshi_cli.store import Store
from tests.agent.mcp_session import mcp_session, server_params
from tests.wire import order_body

if TYPE_CHECKING:
    from tests.conftest import SimHarness

pytestmark = pytest.mark.slow
T = "KXMCP-26JAN01-T1"

WRITES_ON = """\
limits:
  max_position_per_market: 5
agent:
  writes:
    sim: true
"""


def _resting_book(sim: SimHarness) -> None:
    """Another account's bid at 0.40 and ask at 0.60 on T."""
    sim.create_market(T)
    other = sim.new_account()
    for side, price in (("bid", "0.40"), ("ask", "0.60")):
        order = order_body(T, side=side, price=price, count="10")
        assert sim.place_order(other, order).is_success


def test_an_assistant_reads_places_within_limits_is_refused_past_them_and_cancels_all(
    sim: SimHarness, tmp_path: Path
) -> None:
    _resting_book(sim)
    params = server_params(sim.account, tmp_path, WRITES_ON)

    async def session() -> None:
        with (tmp_path / "server.log").open("w") as errlog:
            async with mcp_session(params, errlog) as s:
                names = {t.name for t in (await s.session.list_tools()).tools}
                assert {"markets", "orderbook", "preview_order", "execute", "cancel_all"} <= names

                listed = await s.call("markets")
                assert [m["ticker"] for m in listed["markets"]] == [T]
                book = await s.call("orderbook", ticker=T)
                assert book["best_yes_bid"]["price"] == "0.4000"
                assert book["best_yes_ask"]["price"] == "0.6000"  # implied: 1 - the NO bid

                preview = await s.call(
                    "preview_order", ticker=T, side="yes", action="buy", count="3", price="0.30"
                )
                assert preview["would_send"]["yes_price"] == "0.3000"
                # $0.90 and the taker fee, ceil(0.07 x 3 x 0.30 x 0.70 to $0.0001)
                assert preview["most_it_could_cost"] == "0.9441"
                assert "POSITION_LIMIT" in preview["checks"]["passed"]
                placed = await s.call("execute", token=preview["token"])
                assert placed["status"] == "resting"
                again = await s.refused("execute", token=preview["token"])
                assert "REJECTED TOKEN_USED: this token was used already" in again

                over = await s.refused(
                    "preview_order", ticker=T, side="yes", action="buy", count="3", price="0.30"
                )
                assert "REJECTED POSITION_LIMIT: " in over, over

                killed = await s.call("cancel_all")
                assert killed["proven"] is True
                assert placed["order_id"] in killed["cancelled"]
                assert (await s.call("loop_status"))["state"] == "HALTED"

    anyio.run(session)

    with Store.open(tmp_path / "state.db") as store:
        audit = [(e.tool, e.outcome) for e in store.audit.entries()]
        intent = store.orders.intents()[0]
    assert audit == [
        ("preview_order", "ok"),
        ("execute", "ok"),
        ("execute", "refused"),
        ("preview_order", "refused"),
        ("cancel_all", "ok"),
    ]
    assert intent.strategy == "agent"

"""The assistant's executed order answers with what the exchange said of it, as `kalshi order
place --json` does (`PlaceOutcome.to_json`): its id, status and counts, the average fill price as
a YES price, the note; with the order it previewed, its own id and what is left of its budget."""

from __future__ import annotations

from kalshi_cli.agent.tools import AgentTools
from tests.agent.test_agent_tools import T, tools  # noqa: F401 (the fixture)


def test_an_executed_order_answers_with_the_exchanges_figures(
    tools: AgentTools,  # noqa: F811 (the fixture)
) -> None:
    preview = tools.orders.preview_order(T, side="yes", action="buy", count="2", price="0.05")
    placed = tools.orders.execute(preview["token"])
    assert set(placed) == {
        "order",
        "order_id",
        "status",
        "client_order_id",
        "fill_count",
        "remaining_count",
        "average_fill_yes_price",
        "note",
        "budget_remaining",
    }, placed
    assert placed["status"] == "resting" and placed["order_id"], placed
    assert placed["client_order_id"] == placed["order"]["client_order_id"]
    assert (placed["fill_count"], placed["remaining_count"]) == ("0.00", "2.00"), placed
    assert placed["average_fill_yes_price"] is None and placed["note"] is None, placed

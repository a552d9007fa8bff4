"""The assistant's preview of an amend of a NO order shows the NO price the amend is sent at,
as the trader gave it (`PreparedAmend.price`), not the YES price the exchange's book holds; the
amend, executed, rests the order at that NO price."""

from __future__ import annotations

from kalshi_cli.agent.tools import AgentTools
from tests.agent.test_agent_tools import T, tools  # noqa: F401 (the fixture)


def test_an_amend_of_a_no_order_is_previewed_and_rests_at_its_no_price(
    tools: AgentTools,  # noqa: F811 (the fixture)
) -> None:
    preview = tools.orders.preview_order(T, side="no", action="buy", count="2", price="0.30")
    order_id = tools.orders.execute(preview["token"])["order_id"]
    amend = tools.orders.preview_amend(order_id, price="0.25")
    assert amend["would_send"]["side"] == "no", amend
    assert amend["would_send"]["price"] == "0.2500", amend
    amended = tools.orders.execute(amend["token"])["order"]
    assert amended["yes_price"] == "0.7500", amended  # NO at 0.25 is a YES ask at 0.75

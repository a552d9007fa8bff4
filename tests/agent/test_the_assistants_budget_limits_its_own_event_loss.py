"""The assistant's own budget (`trade.budgets.agent`) holds its orders to a limit on an event's
loss over what it owns, with no limit on the account's: docs/risk.md's worked example (a limit
of $0.65 on three candidates, no fees), the NO it bought on A leaving a YES on B past the limit
(refused, naming the strategy) and the hedge on C within it."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Literal

from kalshi_cli.vocabulary.units import BookSide
from tests.agent.test_agent_risk_limits import Rig
from tests.agent.test_agent_tools import refused
from tests.conftest import SimHarness
from tests.prime_tier import another_accounts_order


def test_the_assistants_budget_refuses_an_order_past_its_own_event_loss_and_passes_the_hedge(
    sim: SimHarness, tmp_path: Path
) -> None:
    for n, name in enumerate("ABC"):  # the series' fees, set by its first market
        free = {"fee_type": "quadratic", "fee_multiplier": "0"} if n == 0 else {}
        sim.create_market(
            f"KXSOS-{name}", event_ticker="KXSOS", collateral_return_type="MECNET", **free
        )
    rig = Rig(sim, tmp_path)
    rig.config("trade:\n  budgets:\n    agent: {max_event_loss: 0.65}\n")
    tools = rig.session()
    try:

        def no_or_yes(name: str, side: Literal["yes", "no"], price: str) -> dict[str, Any]:
            return tools.orders.preview_order(
                f"KXSOS-{name}", side=side, action="buy", count="1", price=price
            )

        another_accounts_order(sim, "KXSOS-A", BookSide.BID, "0.40", 1)  # NO on A fills
        tools.orders.execute(no_or_yes("A", "no", "0.60")["token"])
        over = refused(partial(no_or_yes, "B", "yes", "0.10"), "REJECTED EVENT_LOSS: ")
        assert "strategy agent" in over and "event KXSOS" in over, over
        hedge = no_or_yes("C", "no", "0.70")
        assert "EVENT_LOSS" in hedge["checks"]["passed"]
    finally:
        for app in rig.apps:
            app.close()

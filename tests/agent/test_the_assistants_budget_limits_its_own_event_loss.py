"""The assistant's own budget (`trade.budgets.agent`) holds its orders to a limit on an event's
loss over what it owns, with no limit on the account's: docs/risk.md's worked example (a limit
of $0.65 on three candidates, no fees), the NO it bought on A leaving a YES on B past the limit
(refused, naming the strategy) and the hedge on C within it."""

from __future__ import annotations

from pathlib import Path

from tests.agent.test_agent_risk_limits import event_loss_worked_example
from tests.conftest import SimHarness


def test_the_assistants_budget_refuses_an_order_past_its_own_event_loss_and_passes_the_hedge(
    sim: SimHarness, tmp_path: Path
) -> None:
    config = "trade:\n  budgets:\n    agent: {max_event_loss: 0.65}\n"
    over, _ = event_loss_worked_example(sim, tmp_path, config)
    assert "strategy agent" in over and "event KXSOS" in over, over

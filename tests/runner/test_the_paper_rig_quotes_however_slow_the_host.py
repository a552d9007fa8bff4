"""The paper rig (tests/runner/paper_rig.py) drives its loop by a manual clock: what the loop
decides in its steps depends on those steps alone, never on how fast the host runs the strategy.
On a worker under its real-time deadline (strategies/deadline.py), a first `decide` slower than
the deadline on a loaded host was answered `Starting` for every step the rig took meanwhile, and
the market maker had quoted nothing after three steps; the rig decides on the loop's thread, as a
backtest does."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kalshi_cli.strategies.deadline import CALL_DEADLINE_MS
from tests.runner.fakes import swap_decide
from tests.runner.paper_rig import paper_rig


def test_a_first_decide_slower_than_its_deadline_still_quotes_in_three_steps(
    tmp_path: Path,
) -> None:
    with paper_rig(tmp_path / "state.paper-sim.db") as rig:
        member = rig.loop.reloads.lineup.members[0]
        decide = member.strategy.decide_fn
        calls: list[str] = []

        def slow_first(snapshot: Any, view: Any, params: Any) -> Any:
            if not calls:  # the first call, as a loaded host runs it: past the deadline
                time.sleep(CALL_DEADLINE_MS / 1000 * 1.5)
            calls.append(snapshot.ticker)
            return decide(snapshot, view, params)

        swap_decide(rig.loop, slow_first)
        for _ in range(3):
            rig.step(1.0)
        assert rig.venue.resting_order_ids(), "the market maker quotes on paper"

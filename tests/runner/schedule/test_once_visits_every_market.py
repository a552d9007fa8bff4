"""`kalshi trade --once` is one tick called on its own, which docs/trade-loop.md promises
"visits every market, as the full pass did": the process ends after it, so the write budget,
which holds back the ticks `run` makes, must not end it early (a market left for a later tick
would never be decided on)."""

from __future__ import annotations

from pathlib import Path

from tests.runner.schedule.test_write_budget_schedule import QUOTED, _rig


def test_a_tick_on_its_own_decides_on_every_market_whatever_the_write_budget(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path)
    try:
        # the budget in hand until the first market's quotes go, then more than 1 s behind
        rig.loop.dispatch.writes_behind_s = lambda: 1.5 if rig.client.requests else -1.0
        rig.loop.tick(rig.feed.drain_messages(), full=True)  # what `--once` runs
        assert {r.ticker for r in rig.client.requests} == set(QUOTED)
    finally:
        rig.loop.log.close()
        rig.store.close()

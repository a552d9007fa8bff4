"""The loop reads its fills from when its start read them, on the exchange's clock: a fill's time is
the exchange's, the start's this machine's. A machine whose clock runs seconds ahead (health-check
warns only past 5 s) asked the exchange for fills from a moment the exchange had not reached, and
a fill made in those first seconds was never listed: the position, the P&L and every limit
counted without it for the rest of the run."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.runner.loop.settings import LoopSettings
from tests.runner.test_event_loss_in_the_loop import SCENARIO, A, buy_no_by_hand, loop_trading


def test_a_fill_made_just_after_the_start_is_read_on_a_clock_ten_seconds_ahead(
    tmp_path: Path,
) -> None:
    rig = loop_trading(tmp_path, SCENARIO, "100", [A], behind=10)
    buy_no_by_hand(rig.exchange, rig.client.account_id, A)
    for _ in range(3):
        rig.step(LoopSettings.fill_poll_s)
    rig.loop.log.close()
    assert rig.loop.portfolio.position(A) == Decimal(-1)

"""The stop's shares of its deadline are one table (runner/execution/stop_shares.py): its three
steps each have a share and share the deadline whole, so each one's floor holds, and the
order-group triggers run inside the withdrawal's share, and the batch cancels leave the cancels
one by one a part of theirs; a table otherwise is refused."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kalshi_cli.runner.execution.stop_shares import STOP_SHARES

STEPS = "^the stop's steps must each have a share, and share its deadline whole$"
TRIGGERS = "^the triggers run inside the withdrawal's share$"
BATCHES = "^the batch cancels leave the cancels one by one a part of their time$"


def test_the_shipped_table_is_taken() -> None:
    assert replace(STOP_SHARES) == STOP_SHARES


@pytest.mark.parametrize(
    ("changed", "refusal"),
    [
        ({"calls_out": 0.5}, STEPS),  # would eat the sets' share
        ({"calls_out": 0.6, "leg_sets": 0.0}, STEPS),  # the sets with no floor
        ({"withdrawal": 0.3}, STEPS),  # would leave a part of the deadline to no step
        ({"triggers": 0.4}, TRIGGERS),  # not inside the withdrawal's
        ({"triggers": 0.0}, TRIGGERS),
        ({"batch_cancels": 1.0}, BATCHES),  # nothing left for the cancels one by one
        ({"batch_cancels": 0.0}, BATCHES),  # no time for the batches
    ],
)
def test_a_table_whose_steps_do_not_share_the_deadline_whole_is_refused(
    changed: dict[str, float], refusal: str
) -> None:
    with pytest.raises(ValueError, match=refusal):
        replace(STOP_SHARES, **changed)

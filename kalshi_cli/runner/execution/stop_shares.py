"""The shares of a stopping loop's one deadline (`trade.stop_deadline_s`), in one table.

The stop's steps run one after another (runner/loop/shutdown.py, runner/loop/stop.py), and each
ends by its share, so no step can spend the time of the ones after it, whatever it meets:

| step | its time |
|---|---|
| the wait for the calls still out | at most `calls_out` of the deadline |
| the sets of legs settled and sold back | what the wait left, at least `leg_sets` |
| the withdrawal and its proof | the last `withdrawal`, kept whatever the steps before take |

Inside a step, a share of what is left of it: the sets of legs spend at most `leg_waits` of
theirs on one wait (the lookups of a leg of unknown outcome, the API error guard's backoff
before a sale back goes again); the triggers of the session's order groups get `triggers` of
the whole deadline, the kill switch's share (`GROUP_STEP_SHARE`), inside the withdrawal's; the
batch cancels without a group at most `batch_cancels` of what the withdrawal has left when they
begin, so the cancels one by one of what they left get the rest; the proving listing keeps
`proof` of what is left when the withdrawal begins, at most `proof_most_s`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kalshi_cli.services.killswitch.order_groups import GROUP_STEP_SHARE


@dataclass(frozen=True)
class StopShares:
    calls_out: float
    leg_sets: float
    withdrawal: float
    leg_waits: float
    triggers: float
    batch_cancels: float
    proof: float
    proof_most_s: float

    def __post_init__(self) -> None:
        # the three steps share the deadline whole, each a part of it: each one's floor holds
        # only so
        steps = (self.calls_out, self.leg_sets, self.withdrawal)
        if min(steps) <= 0 or not math.isclose(sum(steps), 1.0):
            raise ValueError(
                "the stop's steps must each have a share, and share its deadline whole"
            )
        if not 0 < self.triggers < self.withdrawal:
            raise ValueError("the triggers run inside the withdrawal's share")
        if not 0 < self.batch_cancels < 1:
            raise ValueError("the batch cancels leave the cancels one by one a part of their time")


STOP_SHARES = StopShares(
    calls_out=0.4,
    leg_sets=0.2,
    withdrawal=0.4,
    leg_waits=0.5,
    triggers=GROUP_STEP_SHARE,
    batch_cancels=0.5,
    proof=0.25,
    proof_most_s=5.0,
)

"""The rule for the session's group on a shard a market joins on while the loop runs, after a
create there failed (runner/execution/order_group.py `ShardGroupCreates`): after an unknown
outcome, no more creates on that shard this run; after a refusal, the next no sooner than a
listing interval on, on that shard only."""

from __future__ import annotations

import pytest

from kalshi_cli.runner.execution.order_group import GroupNotMade, ShardGroupCreates
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import KalshiError, OrderOutcomeUnknown, RateLimitedError

PACE_S = 60.0


class _Creates:
    """A group maker whose next answers are set (an error raised, else an id), counting calls."""

    def __init__(self) -> None:
        self.answers: list[KalshiError | None] = []
        self.calls: list[int] = []

    def record(self, shard: int, group_id: str) -> None:
        raise AssertionError("a group is recorded by the market join, not here")

    def create(self, shard: int) -> str:
        self.calls.append(shard)
        error = self.answers.pop(0) if self.answers else None
        if error is not None:
            raise error
        return f"group-{shard}-{len(self.calls)}"


def _refused() -> RateLimitedError:
    return RateLimitedError("the exchange answered HTTP 429", status=429)


def test_after_an_unknown_outcome_no_create_is_made_on_that_shard_again() -> None:
    make, clock = _Creates(), ManualClock()
    creates = ShardGroupCreates(make, clock)
    make.answers = [OrderOutcomeUnknown("the answer was lost", client_order_id="")]
    with pytest.raises(GroupNotMade) as first:
        creates.make(3, PACE_S)
    clock.advance(10 * PACE_S)
    with pytest.raises(GroupNotMade) as later:
        creates.make(3, PACE_S)
    assert make.calls == [3]
    assert not first.value.again and not later.value.again
    assert "kalshi order-group list" in later.value.why and "shard 3" in later.value.why
    # another shard is not held back
    assert creates.make(1, PACE_S) == "group-1-2"


def test_after_a_refusal_the_next_create_there_waits_one_listing_interval() -> None:
    make, clock = _Creates(), ManualClock()
    creates = ShardGroupCreates(make, clock)
    make.answers = [_refused()]
    with pytest.raises(GroupNotMade) as first:
        creates.make(3, PACE_S)
    assert first.value.again and "tried again" in first.value.why
    clock.advance(PACE_S - 1)
    with pytest.raises(GroupNotMade) as paced:
        creates.make(3, PACE_S)
    assert paced.value.again and make.calls == [3]
    assert creates.make(2, PACE_S) == "group-2-2"  # only the shard that failed waits
    clock.advance(1)
    assert creates.make(3, PACE_S) == "group-3-3"
    assert make.calls == [3, 2, 3]

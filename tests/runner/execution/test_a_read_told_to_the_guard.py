"""A read's answer told to the API error guard in one step (`CallGuard.read`), the rule the loop's
reads share (fills, the shards, the maintenance windows, the lifecycle re-read, new markets): a
failure counts as every failed call does and is logged under the read's kind with the error's
one line; an answer counts as a success as of when the read was sent; a bug is no failed call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kalshi_cli.runner.execution.dispatch import CallAnswer
from kalshi_cli.vocabulary.errors import ServerError
from tests.runner.fakes import make_rig


def test_a_failed_read_counts_and_is_logged_under_its_kind_and_an_answer_resets_the_count(
    tmp_path: Path,
) -> None:
    log = tmp_path / "trade.log"
    rig = make_rig(tmp_path / "state.db", risk={"max_consecutive_errors": 2}, log_path=log)
    guard, counters = rig.loop.executor.guard, rig.loop.executor.counters
    down = ServerError("the exchange is down", status=503)

    failed: CallAnswer[list[int]] = CallAnswer(guard.stamp(), error=down)
    assert guard.read(failed, "thing_read_failed") is None
    assert counters.errors == 1
    assert guard.backing_off
    rig.clock.advance(1.0)
    answered = CallAnswer(guard.stamp(), value=[1, 2])
    assert guard.read(answered, "thing_read_failed") == [1, 2]
    rig.clock.advance(1.0)
    guard.read(CallAnswer(guard.stamp(), error=down), "thing_read_failed")
    assert not guard.safe_mode_tripped, "the answer in between reset the count"
    rig.clock.advance(1.0)
    guard.read(CallAnswer(guard.stamp(), error=down), "thing_read_failed")
    assert guard.safe_mode_tripped, "two failed reads in a row"

    rig.loop.log.close()
    entries = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines()]
    told = [e for e in entries if e["event"] == "thing_read_failed"]
    assert len(told) == 3
    assert told[0]["error"] == down.one_line()


def test_a_read_that_raised_a_bug_is_raised_again_and_not_counted(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "state.db")
    guard = rig.loop.executor.guard
    with pytest.raises(ZeroDivisionError):
        guard.read(CallAnswer(guard.stamp(), error=ZeroDivisionError()), "thing_read_failed")
    assert rig.loop.executor.counters.errors == 0
    assert not guard.backing_off


def test_a_read_that_failed_after_a_later_call_was_answered_neither_backs_off_nor_counts(
    tmp_path: Path,
) -> None:
    """A read held in the network while a call sent after it was answered: its failure is
    counted, told as isolated (the exchange was answering), and neither backs off the loop's
    orders nor counts toward SAFE_MODE."""
    rig = make_rig(tmp_path / "state.db", risk={"max_consecutive_errors": 2})
    guard, counters = rig.loop.executor.guard, rig.loop.executor.counters
    held = guard.stamp()  # the read leaves, and is held in the network
    rig.clock.advance(1.0)
    guard.ok(guard.stamp())  # a call sent after it is answered
    rig.clock.advance(10.0)
    down = ServerError("the exchange is down", status=503)
    for _ in range(3):
        assert guard.read(CallAnswer(held, error=down), "thing_read_failed") is None
    assert counters.errors == 3
    assert not guard.backing_off
    assert not guard.safe_mode_tripped


def test_a_read_answered_late_does_not_wipe_the_failures_of_calls_sent_after_it(
    tmp_path: Path,
) -> None:
    """A read sent before a run of failures and answered after them says nothing of the calls
    sent since: it counts as a success as of when it was sent, so the failures still count
    toward SAFE_MODE."""
    rig = make_rig(tmp_path / "state.db", risk={"max_consecutive_errors": 3})
    guard = rig.loop.executor.guard
    slow = guard.stamp()  # the read leaves, and is held in the network
    for _ in range(2):
        rig.clock.advance(1.0)
        guard.failed(ServerError("down", status=503), guard.stamp())
    assert guard.read(CallAnswer(slow, value=[1]), "thing_read_failed") == [1]
    rig.clock.advance(1.0)
    guard.failed(ServerError("down", status=503), guard.stamp())
    assert guard.safe_mode_tripped, "the third failure in a row since the slow read left"

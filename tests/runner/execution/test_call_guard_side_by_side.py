"""The API error guard with calls made side by side (runner/execution/call_guard.py): a failure of a
call sent before another call that was answered is counted but is no evidence of an outage (a
call held in the network while the exchange answered the others); a failure of a call sent
after every answer backs off and counts toward SAFE_MODE as before."""

from __future__ import annotations

from pathlib import Path

from kalshi_cli.vocabulary.errors import OrderOutcomeUnknown, ServerError
from tests.runner.fakes import make_rig


def test_a_call_that_failed_after_a_later_one_was_answered_neither_backs_off_nor_counts(
    tmp_path: Path,
) -> None:
    rig = make_rig(tmp_path / "state.db", risk={"max_consecutive_errors": 2})
    guard = rig.loop.executor.guard
    held = guard.stamp()
    rig.clock.advance(1.0)
    guard.ok(guard.stamp())  # a call sent after the held one was answered
    rig.clock.advance(10.0)
    for _ in range(5):  # five held calls time out, each sent before that answer
        guard.failed(OrderOutcomeUnknown("timed out", client_order_id="x"), held)
    assert not guard.backing_off
    assert not guard.safe_mode_tripped
    assert rig.loop.executor.counters.errors == 5
    # a call sent after every answer that fails is the exchange's trouble now
    guard.failed(OrderOutcomeUnknown("timed out", client_order_id="y"), guard.stamp())
    assert guard.backing_off
    guard.failed(OrderOutcomeUnknown("timed out", client_order_id="z"), guard.stamp())
    assert guard.safe_mode_tripped


def test_a_late_success_of_a_call_sent_before_the_failures_does_not_wipe_them(
    tmp_path: Path,
) -> None:
    """A call sent before a run of failures and answered after them says the exchange answered
    calls sent until it was sent, nothing of those sent since: the failures still count toward
    SAFE_MODE, and the outage clock runs on. A success of a call sent after them resets both."""
    rig = make_rig(tmp_path / "state.db", risk={"max_consecutive_errors": 3})
    guard = rig.loop.executor.guard
    slow = guard.stamp()  # a read held in the network
    for _ in range(2):
        rig.clock.advance(1.0)
        guard.failed(ServerError("down", status=503), guard.stamp())
    guard.ok(slow)  # the slow read comes back answered
    rig.clock.advance(1.0)
    guard.failed(ServerError("down", status=503), guard.stamp())
    assert guard.safe_mode_tripped, "the third failure in a row since the slow read left"
    assert rig.store.trading.trading_state().state == "SAFE_MODE"


def test_a_success_of_a_call_sent_after_the_failures_resets_their_count(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "state.db", risk={"max_consecutive_errors": 3})
    guard = rig.loop.executor.guard
    for _ in range(2):
        rig.clock.advance(1.0)
        guard.failed(ServerError("down", status=503), guard.stamp())
    rig.clock.advance(1.0)
    guard.ok(guard.stamp())
    guard.failed(ServerError("down", status=503), guard.stamp())
    assert not guard.safe_mode_tripped

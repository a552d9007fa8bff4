"""The stop's steps before its withdrawal (the wait for the calls still out, the sets of legs
settled and sold back) run under the stop's one deadline too, and may use all they are given:
an exchange that does not answer them holds each call until its deadline cuts it. They still
leave the withdrawal its share of the deadline, so its batch cancel is sent and the quote is
withdrawn and proven gone. Before, they could spend the whole deadline: the withdrawal's calls,
made under a deadline already passed, were never sent, and the quote rested, not proven."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.runner.execution.stop_shares import STOP_SHARES
from kalshi_cli.vocabulary.clock import Deadline
from kalshi_cli.vocabulary.errors import NotSentPastDeadline
from kalshi_cli.vocabulary.units import Action, Side
from tests.runner.fakes import Rig, swap_decide
from tests.runner.test_strategies_share_a_loop import MM, Recorder, _order, _resting_of, _rig
from tests.runner.test_strategy_scenarios import Mover


def _sent_within_the_deadline(call: Callable[..., Any], left: list[float]) -> Callable[..., Any]:
    """`call` as the real client makes it: not sent once the deadline it runs under has passed
    (client/connection.py); the time each one sent had left is kept in `left`."""

    def held(*args: Any, **kwargs: Any) -> Any:
        deadline = Deadline.current()
        if deadline is not None and deadline.passed():
            raise NotSentPastDeadline("not sent: its deadline had passed")
        left.append(deadline.remaining() if deadline is not None else float("inf"))
        return call(*args, **kwargs)

    return held


def _earlier_steps_use_all_they_are_given(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait for the calls still out takes all its time; the sets of legs then take until
    the deadline they run under cuts their calls."""
    stop = rig.loop.stop
    settle = stop.dispatch.settle

    def settle_slowly(clock: Any, within_s: float, abandon: Any = None) -> bool:
        rig.clock.advance(within_s)
        settled: bool = settle(clock, within_s, abandon)
        return settled

    def finish_at_the_deadline(abandon: Any = None) -> tuple[list[str], list[str]]:
        deadline = Deadline.current()
        assert deadline is not None  # the sets of legs run under the stop's deadline
        rig.clock.advance(max(deadline.remaining(), 0.0))
        return [], []

    monkeypatch.setattr(stop.dispatch, "settle", settle_slowly)
    monkeypatch.setattr(stop.legs, "finish_at_stop", finish_at_the_deadline)


def test_a_stop_whose_earlier_steps_take_all_they_may_still_withdraws_and_proves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = _rig(tmp_path, MM, read_lag_s=0.0)
    Mover(rig.exchange).quote("0.40", "0.45")
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.41")), MM)
    rig.step(1.0)
    (quote,) = _resting_of(rig, MM)
    assert quote.yes_price == Decimal("0.41")
    sent: list[float] = []
    for name in ("batch_cancel", "cancel_order", "iter_orders"):
        monkeypatch.setattr(
            rig.client, name, _sent_within_the_deadline(getattr(rig.client, name), sent)
        )
    _earlier_steps_use_all_they_are_given(rig, monkeypatch)
    stop_s = rig.loop.settings.stop_deadline_s
    began = rig.clock.monotonic()
    summary = rig.loop.stop.shutdown(cancel_resting=True)
    assert _resting_of(rig, MM) == []
    assert summary.not_proven == ()
    assert rig.loop.log.counts.get("stop_proven") == 1
    assert rig.loop.log.counts.get("stop_batch_cancel_failed") is None
    # the withdrawal began with its share of the deadline left (its batch cancel has its own
    # share of that), and the stop kept its deadline
    assert sent and sent[0] >= STOP_SHARES.withdrawal * STOP_SHARES.batch_cancels * stop_s * 0.5
    assert rig.clock.monotonic() - began <= stop_s

"""The stop that takes over when the state file fails (runner/loop/state_fault.py) withdraws as
the trade loop's stop does: the session's order groups triggered first, then the loop's other
orders cancelled one by one, all within the stop's one deadline (`trade.stop_deadline_s`);
what the deadline leaves uncancelled is named as possibly resting. It cancelled one by one
first, each call as long as the client's own deadline, and triggered the groups only at the
end: an exchange slow to answer held the quotes on the book past the service manager's stop
timeout, whose kill then left them resting with no group triggered."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.client.client import LANDING_WINDOW_S
from kalshi_cli.client.requests import CancelResult
from kalshi_cli.runner.loop.state_fault import withdraw_unrecorded
from kalshi_cli.vocabulary.errors import TransportError
from tests.runner.fakes import Held, Rig, group_trigger, make_rig
from tests.runner.lifecycle.test_shutdown_unknown import RISK, _lose_next_create

# how long the exchange takes to leave a cancel unanswered: a client's whole request deadline
NO_ANSWER_S = 15.0


def _quoting(tmp_path: Path, *, in_a_group: bool) -> tuple[Rig, list[str], list[str]]:
    """A market maker's loop with its quotes resting (in the session's order group, or with
    none), whose exchange answers no cancel; the calls of its stop, in order."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker")
    me = rig.client.account_id
    calls: list[str] = []
    if in_a_group:
        group = rig.exchange.groups.create_order_group(me, Decimal(1000)).order_group_id
        rig.loop.executor.answers.order_groups = {0: group}
        trigger = group_trigger(rig.exchange, me)

        def triggered(order_group_id: str, *, exchange_index: int | None = None) -> None:
            calls.append("trigger")
            trigger(order_group_id, exchange_index=exchange_index)

        rig.loop.stop.trigger_group = triggered
    rig.step(0.1)
    quotes = [o.order_id for o in rig.exchange.history.orders(me) if o.status == "resting"]
    assert len(quotes) >= 2

    def no_answer(
        order_id: str, *, ticker: str | None = None, subaccount: int | None = None
    ) -> CancelResult:
        calls.append("cancel")
        rig.clock.advance(NO_ANSWER_S)
        raise TransportError("read timed out")

    rig.client.cancel_order = no_answer  # type: ignore[method-assign]
    return rig, quotes, calls


def test_the_session_group_is_triggered_first_and_the_stop_keeps_its_deadline(
    tmp_path: Path,
) -> None:
    rig, quotes, calls = _quoting(tmp_path, in_a_group=True)
    started = rig.clock.monotonic()

    done = withdraw_unrecorded(rig.loop)

    assert calls[0] == "trigger", calls
    me = rig.client.account_id
    assert {rig.exchange.history.order(me, q).status for q in quotes} == {"canceled"}
    assert done.groups_triggered == list(rig.loop.executor.answers.order_groups.values())
    assert rig.clock.monotonic() - started <= rig.loop.stop.settings.stop_deadline_s


def test_without_a_group_the_cancels_end_at_the_stop_deadline_and_name_what_is_left(
    tmp_path: Path,
) -> None:
    rig, quotes, calls = _quoting(tmp_path, in_a_group=False)
    deadline_s = rig.loop.stop.settings.stop_deadline_s
    started = rig.clock.monotonic()

    done = withdraw_unrecorded(rig.loop)

    assert rig.clock.monotonic() - started <= deadline_s + NO_ANSWER_S  # the last call begun
    assert len(calls) <= deadline_s // NO_ANSWER_S + 1
    assert sorted(done.left) == sorted(quotes), "each quote not cancelled is named"
    assert "`kalshi cancel-all` takes them" in done.text()


def test_without_a_group_an_order_that_may_land_is_waited_for_within_the_stop_deadline(
    tmp_path: Path,
) -> None:
    """An order of unknown outcome that never shows: the wait for it ends at the stop's
    deadline (20 s), not at its landing window (40 s), and names it as possibly resting."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK)
    coid = _lose_next_create(rig, Held(10_000.0))  # lost for good
    started = rig.clock.monotonic()

    done = withdraw_unrecorded(rig.loop)

    assert rig.clock.monotonic() - started <= rig.loop.stop.settings.stop_deadline_s
    assert rig.loop.stop.settings.stop_deadline_s < LANDING_WINDOW_S
    assert done.left == [coid]

"""A second SIGINT or SIGTERM gives the stop up at once at every call of its withdrawal that the
exchange holds, and the stop then names what it cannot say is gone.

Each call here is held by the exchange (its answer comes only after `HELD_S` of the wall's
time, which the fakes' own clock does not move), and the person presses Ctrl-C again as it
leaves. The stop must end without waiting for that answer. An order of unknown outcome (its
create's answer lost, the request still in the network) may land after the stop: until the
session's order group is triggered nothing refuses it, so a stop given up before that names
it as not proven gone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.runner.loop.stop import GIVEN_UP
from kalshi_cli.vocabulary.errors import ServerError
from tests.runner.fakes import Held, Rig, group_trigger, make_rig
from tests.runner.lifecycle.test_shutdown_unknown import RISK, _lose_next_create
from tests.runner.simproc import log_events

# how long the exchange holds the call (the wall's seconds): the stop that waited for it took
# this long after the second interrupt
HELD_S = 10.0


class HeldCall:
    """`call` as an exchange that holds it: the person interrupts again (`abandon`) as it
    leaves, and it is made only once `release` is set or `HELD_S` passed (`answered`)."""

    def __init__(self, call: Callable[..., Any]) -> None:
        self.call = call
        self.abandon = threading.Event()
        self.release = threading.Event()
        self.answered = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.abandon.set()
        self.release.wait(HELD_S)
        self.answered.set()
        return self.call(*args, **kwargs)


def _in_a_group(rig: Rig) -> None:
    """The session's order group on shard 0, triggered on the exchange by the stop."""
    me = rig.client.account_id
    group = rig.exchange.groups.create_order_group(me, Decimal(1000)).order_group_id
    rig.loop.executor.answers.order_groups = {0: group}
    rig.loop.stop.trigger_group = group_trigger(rig.exchange, me)


def _stopped_holding(rig: Rig, held: HeldCall, *, interrupted_first: bool = False) -> Any:
    """The stop, given up by the second interrupt `held` brings (before it began when
    `interrupted_first`); the held call released once it ended."""
    if interrupted_first:
        held.abandon.set()
    try:
        return rig.loop.stop.shutdown(cancel_resting=True, abandon=held.abandon)
    finally:
        held.release.set()


@pytest.mark.parametrize(
    "at",
    ["before-the-withdrawal", "the-groups-trigger", "the-batch-cancel"],
)
def test_a_stop_given_up_before_its_group_was_triggered_names_the_order_that_may_land(
    tmp_path: Path, at: str
) -> None:
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK)
    coid = _lose_next_create(rig, Held(10_000.0))  # still in the network
    quotes = {o.order_id for o in rig.loop.stop.own.resting()}
    assert quotes
    if at == "the-batch-cancel":
        held = HeldCall(rig.client.batch_cancel)
        rig.client.batch_cancel = held  # type: ignore[method-assign]
    else:
        _in_a_group(rig)
        held = HeldCall(rig.loop.stop.trigger_group)
        rig.loop.stop.trigger_group = held
    summary = _stopped_holding(rig, held, interrupted_first=at == "before-the-withdrawal")
    assert not held.answered.is_set(), "the stop waited for the held call"
    assert summary.unlisted == GIVEN_UP
    assert set(summary.not_proven) == quotes | {coid}


@pytest.mark.parametrize(
    "at", ["the-listing-after-the-batch-cancel", "a-cancel-side-by-side", "a-found-orders-cancel"]
)
def test_a_second_interrupt_while_a_later_call_of_the_withdrawal_is_out_gives_it_up_at_once(
    tmp_path: Path, at: str
) -> None:
    """Without the session's order group: the batch cancel refused, the listing of what it
    left; or the cancels of what that listing shows, made side by side; or the cancel of an
    order of unknown outcome a lookup found resting."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK, read_lag_s=0.0)
    if at == "a-found-orders-cancel":
        found = _lose_next_create(rig, "unknown")  # the exchange took it; the lookup shows it
    else:
        rig.step(0.1)
        rig.client.cancel_errors.append(ServerError("down", status=503))  # the batch cancel
    quotes = {o.order_id for o in rig.loop.stop.own.resting()}
    assert quotes
    if at == "the-listing-after-the-batch-cancel":
        held = HeldCall(rig.client.iter_orders)
        rig.client.iter_orders = held  # type: ignore[method-assign]
    else:
        held = HeldCall(rig.client.cancel_order)
        rig.client.cancel_order = held  # type: ignore[method-assign]
    summary = _stopped_holding(rig, held)
    assert held.abandon.is_set(), "the call was made"
    assert not held.answered.is_set(), "the stop waited for the held call"
    assert summary.unlisted == GIVEN_UP
    if at == "a-found-orders-cancel":
        # the batch cancel took the quotes; the order found is believed resting: named
        (order,) = [o for o in rig.loop.stop.own.resting() if o.client_order_id == found]
        assert summary.not_proven == (order.order_id,)
    else:
        assert set(summary.not_proven) == quotes


def test_a_stop_given_up_as_its_batch_cancel_is_answered_logs_the_order_that_may_land(
    tmp_path: Path,
) -> None:
    """Without the session's order group: the batch cancel withdraws every quote and the
    person presses Ctrl-C again just as it is answered. Nothing is left resting, but the order
    of unknown outcome was never looked up and may land: the summary names it (exit 11), and
    the log's `shutdown_abandoned` line names it too."""
    rig = make_rig(
        tmp_path / "s.db", strategy="market-maker", risk=RISK, log_path=tmp_path / "t.log"
    )
    coid = _lose_next_create(rig, Held(10_000.0))  # still in the network
    assert rig.loop.stop.own.resting()
    abandon = threading.Event()
    batch_cancel = rig.client.batch_cancel

    def answered_then_interrupted(*args: Any, **kwargs: Any) -> Any:
        answer = batch_cancel(*args, **kwargs)
        abandon.set()  # the person presses Ctrl-C again as the answer comes
        return answer

    rig.client.batch_cancel = answered_then_interrupted  # type: ignore[method-assign]
    summary = rig.loop.stop.shutdown(cancel_resting=True, abandon=abandon)
    assert summary.not_proven == (coid,)
    rig.loop.log.close()
    (said,) = [e for e in log_events(tmp_path / "t.log") if e["event"] == "shutdown_abandoned"]
    assert said["left_resting"] == []
    assert said["unknown_left"] == [coid]


@pytest.mark.parametrize("group", [True, False], ids=["the-group-triggered", "no-group"])
def test_a_stop_given_up_as_its_listing_after_the_lookups_is_answered_logs_shutdown_abandoned(
    tmp_path: Path, group: bool
) -> None:
    """The orders of unknown outcome were looked up (with the session's group once, without it
    until the stop's share ran out) and one is still unknown (`shutdown_unknown_left`); the
    listing of what the first withdrawal left shows nothing resting, and the person presses
    Ctrl-C again as it is answered. The stop was given up all the same: the log says so
    (`shutdown_abandoned`), once."""
    rig = make_rig(
        tmp_path / "s.db",
        strategy="market-maker",
        risk=RISK,
        read_lag_s=0.0,
        log_path=tmp_path / "t.log",
    )
    if group:
        _in_a_group(rig)  # the quotes go in it; its trigger cancels them
    coid = _lose_next_create(rig, Held(10_000.0))  # still in the network, never found
    assert rig.loop.stop.own.resting()
    if not group:
        batch_cancel = rig.client.batch_cancel

        def cancelled_answer_lost(*args: Any, **kwargs: Any) -> Any:
            batch_cancel(*args, **kwargs)
            raise ServerError("answer lost", status=503)  # the exchange cancelled them

        rig.client.batch_cancel = cancelled_answer_lost  # type: ignore[method-assign]
    abandon = threading.Event()
    iter_orders = rig.client.iter_orders

    def listed_then_interrupted(**filters: Any) -> Any:
        listed = list(iter_orders(**filters))
        if filters.get("status") == "resting":  # the listing, not a lookup
            abandon.set()  # the person presses Ctrl-C again as the answer comes
        return iter(listed)

    rig.client.iter_orders = listed_then_interrupted  # type: ignore[method-assign]
    summary = rig.loop.stop.shutdown(cancel_resting=True, abandon=abandon)
    assert abandon.is_set(), "the listing was made"
    assert summary.unlisted == GIVEN_UP
    # the triggered group refuses the order when it lands; without it the order may land
    assert summary.not_proven == (() if group else (coid,))
    rig.loop.log.close()
    events = log_events(tmp_path / "t.log")
    assert [e["unknown_left"] for e in events if e["event"] == "shutdown_unknown_left"] == [[coid]]
    (said,) = [e for e in events if e["event"] == "shutdown_abandoned"]
    assert said["left_resting"] == []
    assert said["unknown_left"] == ([] if group else [coid])

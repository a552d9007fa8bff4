"""Exchange calls off the deciding path (runner/execution/dispatch.py): without workers a call and
its booking run at once; with workers the call runs elsewhere, its booking on the thread that
drains, and the markets it concerns stay busy until then."""

from __future__ import annotations

import math
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.connection import _WITHDRAWN
from kalshi_cli.client.ratelimit import BucketLimit, TierLimits
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.runner.execution.dispatch import CallAnswer, Dispatch, Urgency
from kalshi_cli.store.errors import InvalidTransition, StateFileUnwritable
from kalshi_cli.vocabulary.clock import ManualClock, SystemClock, answer_limit
from kalshi_cli.vocabulary.errors import RequestWithdrawn
from kalshi_cli.vocabulary.keys import generate_private_key
from kalshi_cli.vocabulary.units import BookSide
from tests.runner.fakes import make_rig
from tests.waiting import PATIENCE_S, poll_until


def test_without_workers_a_call_is_answered_and_booked_before_send_returns() -> None:
    dispatch = Dispatch()
    booked: list[int] = []
    dispatch.send(("A",), lambda: 41 + 1, lambda answer: booked.append(answer.get()))
    assert booked == [42]
    assert not dispatch.busy("A") and dispatch.in_flight == 0


def test_with_workers_the_market_is_busy_until_the_answer_is_booked_on_the_draining_thread() -> (
    None
):
    dispatch = Dispatch(workers=2)
    release = threading.Event()
    woken = threading.Event()
    dispatch.wake = woken.set
    booked_on: list[int] = []
    try:
        dispatch.send(
            ("A",), lambda: release.wait(30), lambda _: booked_on.append(threading.get_ident())
        )
        dispatch.send(("B",), lambda: "quick", lambda _: booked_on.append(threading.get_ident()))
        assert woken.wait(30)  # B's answer is back, A's call still held
        assert dispatch.busy("A") and dispatch.busy("B")  # nothing booked before a drain
        assert dispatch.drain() == 1
        assert not dispatch.busy("B") and dispatch.busy("A")
        release.set()
        assert dispatch.settle(SystemClock(), 30)
        assert not dispatch.busy("A") and dispatch.in_flight == 0
        assert booked_on == [threading.get_ident()] * 2
    finally:
        release.set()
        dispatch.close()


@pytest.mark.parametrize("workers", [0, 1])
def test_each_call_is_made_under_the_loops_answer_limit(workers: int) -> None:
    """`trade.call_timeout_s`: every request a call makes, on a worker or inline, is given at
    most that for its answer (client: `answers_within`); the deciding thread itself is not."""
    dispatch = Dispatch(workers=workers, answer_within_s=0.5)
    limits: list[float | None] = []
    try:
        dispatch.send(("A",), answer_limit, lambda answer: limits.append(answer.get()))
        assert dispatch.settle(SystemClock(), 30)
        assert limits == [0.5]
        assert answer_limit() is None
    finally:
        dispatch.close()


def test_a_failed_call_hands_its_exception_to_the_booking() -> None:
    dispatch = Dispatch()
    answers: list[CallAnswer[int]] = []

    def fail() -> int:
        raise ConnectionError("no route")

    dispatch.send(("A",), fail, answers.append)
    [answer] = answers
    with pytest.raises(ConnectionError, match="no route"):
        answer.get()
    assert not dispatch.busy("A")


@pytest.mark.parametrize("workers", [0, 1])
def test_an_answer_says_when_its_call_left_on_the_loops_clock(workers: int) -> None:
    """The API error guard and the fills' latency count from when a call left: with workers,
    when a worker took it (it may wait behind calls sent after it, and answered), read from the
    clock the dispatch was given (the loop's, a replay's in a backtest); without, as it is
    sent."""
    clock = ManualClock()
    dispatch = Dispatch(workers=workers, stamp=clock.monotonic)
    taken, release = threading.Event(), threading.Event()
    sent_at: dict[str, float | None] = {}

    def held() -> bool:
        taken.set()
        return release.wait(30)

    try:
        clock.advance(100.0)
        if workers:
            dispatch.send(("A",), held, lambda a: sent_at.update(A=a.sent_at))
            assert taken.wait(30)
        dispatch.send(("B",), lambda: "b", lambda a: sent_at.update(B=a.sent_at))
        clock.advance(5.0)  # B waits for the one worker, held by A's call
        release.set()
        assert dispatch.settle(SystemClock(), 30)
        assert sent_at["B"] == (105.0 if workers else 100.0)
        if workers:
            assert sent_at["A"] == 100.0
    finally:
        release.set()
        dispatch.close()


@pytest.mark.parametrize("second", ["placed", "refused"])
def test_a_calls_send_time_is_when_its_request_has_its_turn_from_the_rate_limiter(
    second: str,
) -> None:
    """A write that waits its turn from the client's rate limiter leaves after the wait: its
    answer's `sent_at` is then, not when the call was made, whether it was placed or refused
    (a failure after that wait, with a read sent meanwhile and answered, is still an
    outage's: the API error guard judges it by then)."""
    clock = ManualClock()  # the client's limiter waits on it (its sleep moves it)
    created = {"order_id": "o9", "client_order_id": "c", "remaining_count": "3.00"}
    placed = httpx.Response(201, json={**created, "fill_count": "0.00"})
    refused = httpx.Response(400, json={"error": {"code": "invalid_order", "message": "no"}})
    answers = iter([placed, placed if second == "placed" else refused])
    client = KalshiClient(
        api_base="https://exchange.test/trade-api/v2",
        clock=clock,
        transport=httpx.MockTransport(lambda _: next(answers)),
        # room for one order at once (10 tokens of 18), the next after a wait for 2 more
        rate_limits=TierLimits(BucketLimit(20, 20), BucketLimit(10, 20)),
        key_id="key-1",
        private_key=generate_private_key(),
    )
    dispatch = Dispatch(stamp=clock.monotonic)
    order = CreateOrder(
        ticker="KXT", book_side=BookSide.ASK, price=Decimal("0.60"), count=Decimal(3)
    )
    booked: list[CallAnswer[Any]] = []
    for _ in range(2):
        made_at = clock.monotonic()
        dispatch.send(("KXT",), partial(client.orders.create_order, order), booked.append)
    first, then = booked
    assert first.error is None and first.sent_at == 0.0
    assert (then.error is None) == (second == "placed")
    assert then.sent_at > made_at and then.sent_at == pytest.approx(clock.monotonic())


def test_a_booking_may_send_the_markets_next_call_before_the_market_is_free() -> None:
    """A replacement after its cancels: the market never reads as free in between, so the
    loop cannot decide on it while its actions are only half done."""
    dispatch = Dispatch(workers=1)
    parked: list[str] = []
    freed: list[str] = []
    dispatch.on_busy = parked.append
    dispatch.on_free = freed.append
    seen_busy: list[bool] = []

    def after_cancel(_: CallAnswer[str]) -> None:
        seen_busy.append(dispatch.busy("A"))
        dispatch.send(("A",), lambda: "placed", lambda _: seen_busy.append(dispatch.busy("A")))

    try:
        dispatch.send(("A",), lambda: "cancelled", after_cancel)
        assert parked == ["A"], "the schedule parks the market as its first call goes out"
        assert dispatch.settle(SystemClock(), 30)
        assert seen_busy == [True, True]
        assert (parked, freed) == (["A"], ["A"])  # once each, for the whole chain
    finally:
        dispatch.close()


def test_a_hold_keeps_every_leg_market_busy_until_released_once() -> None:
    dispatch = Dispatch(workers=1)
    freed: list[str] = []
    dispatch.on_free = freed.append
    try:
        release = dispatch.hold(["A", "B"])
        assert dispatch.busy("A") and dispatch.busy("B")
        release()
        release()
        assert not dispatch.busy("A") and not dispatch.busy("B")
        assert freed == ["A", "B"]
    finally:
        dispatch.close()


def test_a_parked_hold_without_workers_keeps_its_markets_from_their_turns_across_calls() -> None:
    """A wait across ticks (a market waiting for its orders' read): parked in the schedule
    without workers too, and freed once, after the call that released it was booked."""
    parked: list[str] = []
    freed: list[str] = []
    dispatch = Dispatch(workers=0, on_busy=parked.append, on_free=freed.append)
    release = dispatch.hold(["A"], parked=True)
    assert parked == ["A"] and dispatch.busy("A")
    dispatch.send(["A"], lambda: None, lambda answer: release())
    dispatch.send(["A"], lambda: None, lambda answer: release())
    assert freed == ["A"] and not dispatch.busy("A")
    dispatch.hold(["B"])  # a leg's hold without workers lasts one call: nothing parked
    assert parked == ["A"]
    dispatch.hold(["C"], parked=True, exits_wait=False)  # its stop-loss does not wait
    assert dispatch.busy("C") and not dispatch.busy("C", exits=True)
    assert dispatch.busy("B", exits=True)


def test_a_calls_stop_loss_waits_for_its_answer_unless_the_call_is_sent_not_to_hold_it() -> None:
    """A market with a call out is busy until its answer is booked, and its stop-loss waits
    for that answer too; a call sent with `exits_wait=False` (a fill read, which brings only
    what the loop counts already) keeps the market busy but never holds its stop-loss."""
    dispatch = Dispatch(workers=1)
    release = threading.Event()
    try:
        dispatch.send(("A",), lambda: release.wait(30), lambda _: None)
        dispatch.send(("B",), lambda: release.wait(30), lambda _: None, exits_wait=False)
        assert dispatch.busy("A") and dispatch.busy("A", exits=True)
        assert dispatch.busy("B") and not dispatch.busy("B", exits=True)
        release.set()
        assert dispatch.settle(SystemClock(), 30)
        assert not any(dispatch.busy(m, exits=e) for m in "AB" for e in (False, True))
    finally:
        release.set()
        dispatch.close()


def test_settle_gives_up_at_its_deadline_with_the_call_still_out() -> None:
    dispatch = Dispatch(workers=1)
    release = threading.Event()
    try:
        dispatch.send(("A",), lambda: release.wait(30), lambda _: None)
        assert not dispatch.settle(SystemClock(), 0.05)
        assert dispatch.busy("A") and dispatch.in_flight == 1
    finally:
        release.set()
        dispatch.close()


def test_settle_ends_at_a_second_interrupt_with_the_call_still_out() -> None:
    """`abandon` (a second SIGINT or SIGTERM) ends the wait however much of it is left; an
    answer already back is still booked."""
    dispatch = Dispatch(workers=2)
    release, abandon = threading.Event(), threading.Event()
    booked: list[str] = []
    try:
        dispatch.send(("A",), lambda: release.wait(30), lambda _: booked.append("A"))
        dispatch.send(("B",), lambda: "quick", lambda _: booked.append("B"))
        assert poll_until(lambda: dispatch.answered)
        abandon.set()
        assert not dispatch.settle(SystemClock(), 3600, abandon)
        assert booked == ["B"]
        assert dispatch.busy("A") and dispatch.in_flight == 1
    finally:
        release.set()
        dispatch.close()


@pytest.mark.parametrize(
    "bug",
    [RuntimeError, InvalidTransition],  # a state file used wrongly is a bug, not its failure
    ids=["a bug", "a state file used wrongly"],
)
@pytest.mark.parametrize("interrupted", [False, True])
def test_settle_books_the_answers_after_one_whose_booking_fails_and_keeps_the_failure(
    interrupted: bool, bug: type[Exception]
) -> None:
    """The stop's wait goes on past a booking that raises, whether it books the answers as it
    waits or all at once at a second interrupt (`interrupted`): the answers after it are
    booked, so the withdrawal knows their orders, and the first failure is kept for the stop
    to raise once it has withdrawn. On the old code the failure ended the wait, and the
    answers after it were never booked; a store error that is no failure of the state file
    (`is_state_failure`: an order row marked twice) ended it too."""
    dispatch = Dispatch(workers=3)
    wait = _answers_back(dispatch, 3)
    abandon = threading.Event()
    booked: list[str] = []

    def broken(_: CallAnswer[str]) -> None:
        raise bug("a bug in a booking")

    try:
        dispatch.send(("A",), lambda: "answered", broken)
        dispatch.send(("B",), lambda: "answered", broken)
        dispatch.send(("C",), lambda: "answered", lambda _: booked.append("C"))
        wait()
        if interrupted:
            abandon.set()
        assert dispatch.settle(SystemClock(), 30, abandon)
        assert booked == ["C"]
        assert dispatch.in_flight == 0 and not any(dispatch.busy(m) for m in "ABC")
        assert isinstance(dispatch.failed, bug)
    finally:
        dispatch.close()


def test_settle_stops_at_a_failing_state_file_leaving_the_rest_in_flight() -> None:
    """The state file failing is not one answer's trouble: the wait ends at once, raising it,
    and the answers not booked stay in flight for the stop that writes nothing."""
    dispatch = Dispatch(workers=2)
    wait = _answers_back(dispatch, 1)

    def unwritable(_: CallAnswer[str]) -> None:
        raise StateFileUnwritable("disk I/O error")

    try:
        dispatch.send(("A",), lambda: "answered", unwritable)
        wait()  # A's answer first, so it is booked first
        dispatch.send(("B",), lambda: "answered", lambda _: None)
        wait()
        with pytest.raises(StateFileUnwritable):
            dispatch.settle(SystemClock(), 30)
        assert dispatch.failed is None
        assert dispatch.in_flight == 1 and dispatch.busy("B")
    finally:
        dispatch.close()


def test_a_free_worker_takes_risk_exits_then_first_quotes_then_the_rest() -> None:
    """Calls waiting for the one worker (held by a slow call) go out most urgent first: a
    stop-loss's order and a fill read, then a market's first order, then requotes, each kind in
    the order sent."""
    dispatch = Dispatch(workers=1)
    release = threading.Event()
    made: list[str] = []
    try:
        dispatch.send(("SLOW",), lambda: release.wait(30), lambda _: None)
        dispatch.send(("A",), lambda: made.append("requote A"), lambda _: None, Urgency.AGAIN)
        first = dispatch.urgency(["B"], reduce_only=False)
        dispatch.send(("B",), lambda: made.append("first B"), lambda _: None, first)
        again = dispatch.urgency(["B"], reduce_only=False)
        dispatch.send(("B",), lambda: made.append("again B"), lambda _: None, again)
        exit_ = dispatch.urgency(["C"], reduce_only=True)
        dispatch.send(("C",), lambda: made.append("stop-loss C"), lambda _: None, exit_)
        release.set()
        assert dispatch.settle(SystemClock(), 30)
        assert made == ["stop-loss C", "first B", "requote A", "again B"]
    finally:
        release.set()
        dispatch.close()


def test_a_placing_call_no_worker_took_before_the_stop_is_not_made() -> None:
    """Once the stop begins, a call that places orders and still waits for a worker is not
    made: its booking hears `RequestWithdrawn` (a stopping loop places nothing); a call that places
    none (a cancel, a read) is still made, and the one already on a worker finishes."""
    dispatch = Dispatch(workers=1)
    release = threading.Event()
    made: list[str] = []
    answers: dict[str, CallAnswer[str]] = {}

    def call(name: str) -> Callable[[], str]:
        def made_now() -> str:
            if name == "held":
                release.wait(30)
            made.append(name)
            return name

        return made_now

    def keep(name: str) -> Callable[[CallAnswer[str]], None]:
        return lambda answer: answers.__setitem__(name, answer)

    try:
        dispatch.send(("A",), call("held"), keep("held"))
        dispatch.send(("B",), call("order"), keep("order"), places=True)
        dispatch.send(("C",), call("cancel"), keep("cancel"))
        dispatch.stopping = True
        release.set()
        assert dispatch.settle(SystemClock(), 30)
        assert made == ["held", "cancel"]
        assert isinstance(answers["order"].error, RequestWithdrawn)
        assert str(answers["order"].error) == "the loop was stopping before the request was sent"
        assert answers["cancel"].get() == "cancel"
        assert dispatch.in_flight == 0 and not dispatch.busy("B")
    finally:
        release.set()
        dispatch.close()


def test_once_sends_its_pass_orders_that_still_wait_for_a_worker_at_its_end(
    tmp_path: Path,
) -> None:
    """`--once` ends its pass through the stop without withdrawing (`cancel_resting=False`):
    its orders are meant to go out and stay, so one still waiting for a worker then is made."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", send_workers=1)
    dispatch = rig.loop.dispatch
    release = threading.Event()
    dispatch.send((), lambda: release.wait(30), lambda _: None)  # the only worker, held
    rig.step(0.1)
    assert dispatch.in_flight > 1, "the pass's orders wait behind the held call"
    sent = len(rig.client.requests)
    settle = dispatch.settle

    def settle_once_stopping(*args: Any, **kwargs: Any) -> bool:
        release.set()  # the held call ends as the stop waits for the calls still out
        return bool(settle(*args, **kwargs))

    dispatch.settle = settle_once_stopping
    try:
        rig.loop.stop.shutdown(cancel_resting=False)
    finally:
        release.set()
    assert len(rig.client.requests) > sent, "the pass's orders went out"


class _DrawThenWait(queue.PriorityQueue[Any]):
    """The line of calls, where a worker that draws a call waits for `go` before going on:
    the moment between a worker's draw and its taking the call."""

    def __init__(self) -> None:
        super().__init__()
        self.drew, self.go = threading.Event(), threading.Event()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        item = super().get(block, timeout)
        if item[2] is not None and not self.drew.is_set():
            self.drew.set()
            self.go.wait(30)
        return item


def test_a_call_closed_while_a_worker_was_drawing_it_is_not_made_and_is_told_unmade() -> None:
    """`close` drops every placing call no worker has taken, and tells each that it was not
    made; one a worker had drawn from the line but not yet taken is among them, and the
    worker skips it, so what the stop calls never sent never leaves."""
    dispatch = Dispatch(workers=1)
    line = _DrawThenWait()
    dispatch._calls = line
    made: list[str] = []
    told: list[str] = []
    dispatch.send(
        ("A",),
        lambda: made.append("order"),
        lambda _: None,
        places=True,
        unmade=lambda: told.append("order"),
    )
    assert line.drew.wait(30), "the worker drew the call"
    dispatch.close()
    line.go.set()
    worker = dispatch._threads[0]
    worker.join(30)
    assert not worker.is_alive(), "the worker ended"
    assert (made, told) == ([], ["order"])


class _Group:
    """The state file's transaction as a drain opens it: whether it is open, how many times it
    committed, and whether its commit fails. One opened inside another is a savepoint of it:
    only the outer one commits."""

    def __init__(self, *, fails: bool = False) -> None:
        self.depth = 0
        self.commits = 0
        self.fails = fails

    @property
    def open(self) -> bool:
        return self.depth > 0

    def __call__(self) -> _Group:
        return self

    def __enter__(self) -> None:
        self.depth += 1

    def __exit__(self, kind: object, *rest: object) -> None:
        self.depth -= 1
        if kind is not None or self.depth:
            return
        if self.fails:
            raise OSError("disk full")
        self.commits += 1


def _answers_back(dispatch: Dispatch, count: int) -> Callable[[], None]:
    """Wait until `count` answers are back (each wakes the loop)."""
    back = threading.Semaphore(0)
    dispatch.wake = back.release

    def wait() -> None:
        for _ in range(count):
            assert back.acquire(timeout=30)

    return wait


def _replacing(
    dispatch: Dispatch, group: _Group, seen: dict[str, Any], market: str
) -> Callable[[CallAnswer[str]], None]:
    """A cancel's booking that sends the market's replacement (a placing call): records whether
    the group was open as it booked, and as the replacement was made."""

    def booked(_: CallAnswer[str]) -> None:
        seen["booked"].append(group.open)
        if len(seen["booked"]) > 1:
            made_one.wait(1)  # time for a worker to make the first replacement, were it let out
        dispatch.send(
            (market,),
            made,
            lambda _: None,
            places=True,
            unmade=lambda: seen["unmade"].append(True),
        )

    def made() -> None:
        seen["made"].append(group.open)
        made_one.set()

    made_one: threading.Event = seen.setdefault("made_one", threading.Event())
    return booked


def test_a_drains_answers_are_booked_in_one_group_and_what_they_send_leaves_after_its_commit() -> (
    None
):
    """One commit for every answer a drain books; a replacement a booking sends (its intent
    written inside the group) is made only once the group committed."""
    group = _Group()
    dispatch = Dispatch(workers=2, group=group, group_s=60)  # one group, however slow
    seen: dict[str, Any] = {"booked": [], "made": [], "unmade": []}
    wait = _answers_back(dispatch, 2)
    try:
        for market in ("A", "B"):
            dispatch.send((market,), lambda: "cancelled", _replacing(dispatch, group, seen, market))
        wait()
        wait = _answers_back(dispatch, 2)
        assert dispatch.drain() == 2
        assert group.commits == 1
        assert seen["booked"] == [True, True]
        wait()  # the replacements were made
        assert seen["made"] == [False, False]
        assert dispatch.settle(SystemClock(), 30)
        assert dispatch.in_flight == 0 and not dispatch.busy("A") and not dispatch.busy("B")
    finally:
        dispatch.close()


@pytest.mark.parametrize("fault", ["commit fails", "a booking raises"])
def test_a_failed_drain_makes_none_of_the_calls_its_bookings_sent(fault: str) -> None:
    """The group did not commit (their intents are not on disk), or a booking failed (the loop
    stops): the replacements are never made, each told unmade, and their markets freed. A
    booking before the failing one is still committed, and the stop's own calls still go."""
    group = _Group(fails=fault == "commit fails")
    dispatch = Dispatch(workers=2, group=group, group_s=60)  # one group, however slow
    seen: dict[str, Any] = {"booked": [], "made": [], "unmade": []}
    wait = _answers_back(dispatch, 1)

    def broken(_: CallAnswer[str]) -> None:
        raise RuntimeError("a bug in a booking")

    second = broken if fault == "a booking raises" else _replacing(dispatch, group, seen, "B")
    try:
        dispatch.send(("A",), lambda: "cancelled", _replacing(dispatch, group, seen, "A"))
        wait()  # A's answer first, so it is booked first
        dispatch.send(("B",), lambda: "cancelled", second)
        wait()
        with pytest.raises((OSError, RuntimeError)):
            dispatch.drain()
        assert group.commits == (1 if fault == "a booking raises" else 0)
        assert seen["made"] == [] and seen["unmade"] == [True] * len(seen["booked"])
        assert seen["booked"], "a replacement was sent"
        assert dispatch.in_flight == 0 and not dispatch.busy("A") and not dispatch.busy("B")
        # the stop that follows still reaches the exchange (its cancels, its last fill read)
        dispatch.send(("C",), lambda: "cancelled", lambda _: seen["made"].append("C"))
        assert dispatch.settle(SystemClock(), 30)
        assert seen["made"] == ["C"]
    finally:
        dispatch.close()


def test_the_loop_books_a_drains_answers_in_one_commit_of_its_state_file(tmp_path: Path) -> None:
    """The loop as built (runner/assembly.py): the answers of the quotes one pass sent over
    several markets, back together, are booked in one commit of the state file, not one each."""
    from tests.waiting import wait_until

    rig = make_rig(tmp_path / "s.db", strategy="market-maker", send_workers=4)
    dispatch = rig.loop.dispatch
    dispatch._group_s = math.inf  # one group, however long a busy machine takes to book
    go = threading.Event()
    run = dispatch._run

    def held_run(call: Callable[[], Any]) -> Any:
        go.wait(30)  # the answers come back together, after the pass
        return run(call)

    dispatch._run = held_run
    rig.step(0.1)  # the pass's quotes, their calls out
    out = dispatch.in_flight
    assert out > 1, "the pass sent quotes in several markets"
    go.set()
    wait_until(lambda: dispatch._answers.qsize() == out, "every answer back")
    statements: list[str] = []
    rig.store._conn.set_trace_callback(statements.append)
    try:
        assert dispatch.drain() == out
    finally:
        rig.store._conn.set_trace_callback(None)
        rig.loop.dispatch.close()
    assert sum(s.strip().upper() == "COMMIT" for s in statements) == 1
    assert any(s.startswith("UPDATE") or s.startswith("INSERT") for s in statements)


def test_a_booking_that_drains_again_leaves_the_answers_to_the_drain_under_way() -> None:
    """A drain asked for from inside a booking books nothing itself: the drain under way books
    what is back, in its group, and still holds what its bookings send until its commit."""
    group = _Group()
    dispatch = Dispatch(workers=2, group=group, group_s=60)  # one group, however slow
    seen: dict[str, Any] = {"booked": [], "made": [], "unmade": []}
    inner: list[int] = []
    wait = _answers_back(dispatch, 1)
    replace_a = _replacing(dispatch, group, seen, "A")

    def draining_again(answer: CallAnswer[str]) -> None:
        inner.append(dispatch.drain())
        replace_a(answer)

    try:
        dispatch.send(("A",), lambda: "cancelled", draining_again)
        wait()  # A's answer first: B's is still waiting when A's booking drains again
        wait = _answers_back(dispatch, 1)
        dispatch.send(("B",), lambda: "cancelled", _replacing(dispatch, group, seen, "B"))
        wait()
        wait = _answers_back(dispatch, 2)
        assert dispatch.drain() == 2
        assert inner == [0] and group.commits == 1
        wait()
        assert seen["made"] == [False, False]
    finally:
        dispatch.close()


def test_a_booking_that_waits_on_the_exchange_ends_the_group_first() -> None:
    """A booking that must wait (a lookup on the deciding thread) steps outside the group: the
    group commits and the calls booked before it leave before the wait, which holds nothing of
    the group's; the bookings after it, the rest of its own among them, go on in a new group,
    whose calls leave once it committed."""
    group = _Group()
    dispatch = Dispatch(workers=2, group=group, group_s=60)  # one group, however slow
    seen: dict[str, Any] = {"booked": [], "made": [], "unmade": []}
    waited: list[tuple[bool, bool]] = []  # (the group open, the first replacement made)

    def waits(_: CallAnswer[str]) -> None:
        with dispatch.outside_group():
            made_one = seen["made_one"].wait(30)
            waited.append((group.open, made_one))
        _replacing(dispatch, group, seen, "B")(CallAnswer(0.0, "cancelled"))

    wait = _answers_back(dispatch, 1)
    try:
        dispatch.send(("A",), lambda: "cancelled", _replacing(dispatch, group, seen, "A"))
        wait()
        wait = _answers_back(dispatch, 1)
        dispatch.send(("B",), lambda: "looked up", waits)
        wait()
        assert dispatch.drain() >= 2  # A's replacement may be back and booked meanwhile
        assert waited == [(False, True)]
        assert group.commits == 2
        assert poll_until(lambda: len(seen["made"]) == 2)
        assert seen["made"] == [False, False] and seen["unmade"] == []
        assert dispatch.settle(SystemClock(), 30)
        assert dispatch.in_flight == 0 and not dispatch.busy("A") and not dispatch.busy("B")
    finally:
        dispatch.close()


def test_a_failed_commit_as_a_booking_steps_outside_the_group_makes_none_of_its_calls() -> None:
    """The group a booking ends to wait outside it does not commit: the calls booked before
    are never made (told unmade, their markets freed), the wait does not happen, and the drain
    raises the failure."""
    group = _Group(fails=True)
    dispatch = Dispatch(workers=2, group=group, group_s=60)  # one group, however slow
    seen: dict[str, Any] = {"booked": [], "made": [], "unmade": []}
    waited: list[bool] = []

    def waits(_: CallAnswer[str]) -> None:
        with dispatch.outside_group():
            waited.append(True)

    wait = _answers_back(dispatch, 1)
    try:
        dispatch.send(("A",), lambda: "cancelled", _replacing(dispatch, group, seen, "A"))
        wait()
        wait = _answers_back(dispatch, 1)
        dispatch.send(("B",), lambda: "looked up", waits)
        wait()
        with pytest.raises(OSError, match="disk full"):
            dispatch.drain()
        assert waited == [] and seen["made"] == [] and seen["unmade"] == [True]
        assert dispatch.in_flight == 0 and not dispatch.busy("A") and not dispatch.busy("B")
    finally:
        dispatch.close()


def test_a_long_drain_commits_and_leaves_the_rest_to_the_next_drain() -> None:
    """The group holds the state file's write lock, which `kalshi halt` and `cancel-all` in
    another process need (the kill switch waits a second for it, then cancels without writing
    HALTED). A drain booking for longer than `group_s` commits what it booked and ends, the
    rest left to the next drain (the loop decides in between, the lock free), so no hold lasts
    much longer than that; what its bookings sent goes out after the commit that covers it
    (the tests above)."""
    group = _Group()
    now = [0.0]
    dispatch = Dispatch(workers=1, group=group, group_s=0.1, monotonic=lambda: now[0])
    wait = _answers_back(dispatch, 1)

    def slow(_: CallAnswer[str]) -> None:
        now[0] += 0.06  # each booking takes 60 ms of the loop's time

    try:
        for market in "ABCDE":
            dispatch.send((market,), lambda: "cancelled", slow)
            wait()
        # 0.06, 0.12 > 0.1: a commit after the second booking and after the fourth, then the last
        drains = []
        while dispatch.answered:
            drains.append(dispatch.drain())
            assert not group.open, "the lock is let go between two drains"
        assert drains == [2, 2, 1] and group.commits == 3
        assert dispatch.settle(SystemClock(), 30)
    finally:
        dispatch.close()


def test_settle_waits_out_the_whole_of_a_short_stop_for_an_answer_on_its_way() -> None:
    """The stop gives the calls still out half its deadline, which may be under a second: on a
    clock that has not moved, none of that time has passed, and the answer is waited for."""
    dispatch = Dispatch(workers=1)
    booked: list[str] = []
    try:
        dispatch.send(("A",), lambda: "placed", lambda answer: booked.append(answer.get()))
        assert dispatch.settle(ManualClock(), 0.5)
        assert booked == ["placed"] and dispatch.in_flight == 0
    finally:
        dispatch.close()


class _TakenOnGo(queue.PriorityQueue[Any]):
    """The line of calls, where a started worker takes nothing until `go`: the moment between a
    worker's start and its first call, when the loop may send another."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        self.go.wait(30)
        return super().get(block, timeout)


def test_a_call_sent_before_the_first_worker_took_its_call_gets_a_worker_of_its_own() -> None:
    """Two calls sent back to back: the one worker started for the first has not taken it yet,
    so the second starts another, and is made while the first is held in the network."""
    dispatch = Dispatch(workers=2)
    line = _TakenOnGo()
    dispatch._calls = line
    release, a_done = threading.Event(), threading.Event()
    woken = threading.Event()
    dispatch.wake = woken.set
    booked: list[str] = []

    def held() -> None:
        release.wait(30)
        a_done.set()

    try:
        dispatch.send(("A",), held, lambda _: booked.append("A"))
        dispatch.send(("B",), lambda: "quick", lambda _: booked.append("B"))
        line.go.set()
        assert woken.wait(PATIENCE_S) and not a_done.is_set(), "B was made while A was held"
        assert dispatch.drain() == 1
        assert booked == ["B"] and dispatch.busy("A")
    finally:
        line.go.set()
        release.set()
        dispatch.close()


def test_a_call_held_in_the_network_does_not_keep_the_process_from_exiting() -> None:
    """The stop gives up on a call still out (its order one of unknown outcome) and the process
    ends: the worker holding it does not hold the interpreter open."""
    script = (
        "import threading\n"
        "from kalshi_cli.runner.execution.dispatch import Dispatch\n"
        "dispatch = Dispatch(workers=1)\n"
        "started = threading.Event()\n"
        "dispatch.send(('A',), lambda: (started.set(), threading.Event().wait()), print)\n"
        "assert started.wait(30)\n"
        "dispatch.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
        capture_output=True,
        text=True,
        timeout=PATIENCE_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_without_workers_a_later_booking_is_booked_at_once() -> None:
    dispatch = Dispatch()
    booked: list[str] = []
    dispatch.later(lambda: booked.append("doubt"))
    assert booked == ["doubt"]


def test_what_a_worker_learns_is_booked_on_the_draining_thread_and_wakes_the_loop() -> None:
    """A fill listing's quarantined fill, found on a worker: booked by the next drain on the
    deciding thread, not on the worker; the loop waiting for news is woken for it."""
    dispatch = Dispatch(workers=1)
    woken = threading.Event()
    dispatch.wake = woken.set
    booked_on: list[int] = []
    woken_for_it: list[bool] = []

    def read_fills() -> None:
        dispatch.later(lambda: booked_on.append(threading.get_ident()))
        woken_for_it.append(woken.is_set())  # before the call's own answer wakes it

    try:
        dispatch.send(("A",), read_fills, lambda _: None)
        assert poll_until(lambda: woken_for_it)
        assert woken_for_it == [True] and booked_on == []
        assert dispatch.settle(SystemClock(), 30)
        assert booked_on == [threading.get_ident()]
    finally:
        dispatch.close()


def test_a_later_booking_asked_on_the_deciding_thread_after_its_drain_is_booked_at_once() -> None:
    """The stop's last read of the fills is made on the deciding thread once its drains are
    over: what it learns is booked then, as no drain comes after it."""
    dispatch = Dispatch(workers=1)
    booked: list[str] = []
    try:
        dispatch.drain()  # the deciding thread
        dispatch.later(lambda: booked.append("doubt"))
        assert booked == ["doubt"]
        assert not dispatch.answered
    finally:
        dispatch.close()


def test_a_placing_call_a_worker_already_made_is_not_told_unmade_at_close() -> None:
    """The order left: `close` must not tell the loop it never did, or the loop would forget
    an order resting on the exchange."""
    dispatch = Dispatch(workers=1)
    release = threading.Event()
    started = threading.Event()
    told: list[str] = []
    answers: list[CallAnswer[str]] = []

    def place() -> str:
        started.set()
        release.wait(30)
        return "placed"

    try:
        dispatch.send(("A",), place, answers.append, places=True, unmade=lambda: told.append("A"))
        assert started.wait(30), "A's order is on its way"
        dispatch.close()
        assert told == []
    finally:
        release.set()
        dispatch.close()


class _CountedTakes(queue.PriorityQueue[Any]):
    """The line of calls, counting each time a worker asks it for a call (one that asks again
    has finished its last) and each call taken."""

    def __init__(self) -> None:
        super().__init__()
        self.asks = self.takes = 0

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        self.asks += 1
        item = super().get(block, timeout)
        self.takes += 1
        return item


def test_a_worker_back_from_its_call_and_then_held_does_not_keep_the_next_call_waiting() -> None:
    """With one worker busy again after a quick call, the next call starts the second worker
    rather than waiting behind the held one."""
    dispatch = Dispatch(workers=2)
    line = _CountedTakes()
    dispatch._calls = line
    release = threading.Event()
    made: list[str] = []

    def held() -> None:
        release.wait(30)
        made.append("B")

    try:
        dispatch.send(("A",), lambda: made.append("A"), lambda _: None)
        assert poll_until(lambda: line.asks == 2), "the worker is back for another call"
        dispatch.send(("B",), held, lambda _: None)
        assert poll_until(lambda: line.takes == 2), "the worker took B"
        dispatch.send(("C",), lambda: made.append("C"), lambda _: None)
        assert poll_until(lambda: "C" in made)
        assert made == ["A", "C"], "C was made while B was held"
    finally:
        release.set()
        dispatch.close()


def test_close_drops_the_cancels_and_reads_still_waiting_too() -> None:
    """The stop's withdrawal follows `close`: a requote's cancel or a read still waiting for a
    worker is not made after it, spending the write budget the withdrawal needs."""
    dispatch = Dispatch(workers=1)
    release = threading.Event()
    made: list[str] = []
    try:
        dispatch.send(("A",), lambda: release.wait(30), lambda _: None)
        dispatch.send(("B",), lambda: made.append("cancel B"), lambda _: None)
        dispatch.close()
        release.set()
        [worker] = dispatch._threads
        worker.join(30)
        assert not worker.is_alive(), "the worker ended"
        assert made == []
    finally:
        release.set()
        dispatch.close()


def test_every_drain_books_its_answers_and_calls_go_out_after_one() -> None:
    """The loop drains at every tick and between visits: the second drain books what came back
    since the first, and a call sent after a drain is made, not held for a drain that ended."""
    group = _Group()
    dispatch = Dispatch(workers=1, group=group)
    booked: list[str] = []

    def book(market: str) -> Callable[[CallAnswer[str]], None]:
        return lambda _: booked.append(market)

    try:
        for market in ("A", "B"):
            wait = _answers_back(dispatch, 1)
            dispatch.send((market,), lambda: "cancelled", book(market))
            wait()
            assert dispatch.drain() == 1
        assert booked == ["A", "B"] and group.commits == 2
        assert dispatch.in_flight == 0 and not dispatch.busy("B")
    finally:
        dispatch.close()


def test_a_placing_call_on_a_worker_is_withdrawn_once_the_stop_begins() -> None:
    """A placing call a worker took before the stop makes its requests under the dispatch's
    `stopping`: one still waiting its turn from the rate limiter when the stop begins is
    withdrawn (client/connection.py), so it never leaves."""
    dispatch = Dispatch(workers=1)
    taken, stop_begun = threading.Event(), threading.Event()
    answers: list[CallAnswer[bool]] = []

    def place() -> bool:
        taken.set()
        stop_begun.wait(30)
        withdrawn = _WITHDRAWN.get()  # what the client asks after the rate limiter's wait
        return withdrawn is not None and withdrawn()

    try:
        dispatch.send(("A",), place, answers.append, places=True)
        assert taken.wait(30)
        dispatch.stopping = True
        stop_begun.set()
        assert dispatch.settle(SystemClock(), 30)
        assert [a.get() for a in answers] == [True]
    finally:
        dispatch.close()


def test_a_stop_abandoned_by_a_second_interrupt_still_books_every_answer_that_is_back() -> None:
    """However many drains it takes (each ends after `group_s`): what is back is booked before
    the stop goes on, a second Ctrl-C or not."""
    now = [0.0]
    dispatch = Dispatch(workers=1, group=_Group(), group_s=0.1, monotonic=lambda: now[0])
    wait = _answers_back(dispatch, 1)
    booked: list[str] = []

    def slow(answer: CallAnswer[str]) -> None:
        now[0] += 0.06
        booked.append(answer.get())

    try:
        for market in "ABCDE":
            dispatch.send((market,), lambda market=market: market, slow)  # type: ignore[misc]
            wait()
        abandon = threading.Event()
        abandon.set()
        assert dispatch.settle(SystemClock(), 30, abandon)
        assert booked == list("ABCDE") and dispatch.in_flight == 0
    finally:
        dispatch.close()


def test_a_placing_call_waiting_its_turn_is_withdrawn_once_no_order_may_leave() -> None:
    """A placing call a worker took while orders could leave makes its requests under the
    dispatch's `withheld` too: one still waiting its turn from the rate limiter when trading
    goes into SAFE_MODE is withdrawn (client/connection.py), and its booking hears why."""
    why: list[str] = []
    dispatch = Dispatch(workers=1, withheld=lambda: why[0] if why else None)
    taken, tripped = threading.Event(), threading.Event()
    answers: list[CallAnswer[bool]] = []

    def place() -> bool:
        taken.set()
        tripped.wait(30)
        withdrawn = _WITHDRAWN.get()  # what the client asks after the rate limiter's wait
        if withdrawn is not None and withdrawn():
            raise RequestWithdrawn("create order: withdrawn before it was sent")
        return True

    try:
        dispatch.send(("A",), place, answers.append, places=True)
        assert taken.wait(30)
        why.append("trading went into SAFE_MODE (the API error guard)")
        tripped.set()
        assert dispatch.settle(SystemClock(), 30)
        [answer] = answers
        assert isinstance(answer.error, RequestWithdrawn)
        assert str(answer.error) == (
            "create order: withdrawn before it was sent: "
            "trading went into SAFE_MODE (the API error guard)"
        )
    finally:
        dispatch.close()

"""The calls a stop waits on, one at a time (`unless_given_up`) or side by side (`side_by_side`),
runner/execution/give_up.py: what a second interrupt gives up, what it leaves alone, and what
each call runs under. Real threads, no exchange: each call is a function of the test's."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from kalshi_cli.runner.execution import give_up
from kalshi_cli.runner.execution.give_up import GivenUp, unless_given_up
from kalshi_cli.vocabulary.clock import Deadline, SystemClock
from kalshi_cli.vocabulary.process import side_by_side

# how long a test waits for what must come at once, on a loaded machine
SOON_S = 10.0


def test_a_call_asked_for_once_the_stop_was_given_up_is_never_made() -> None:
    """The second interrupt came before the call (the group's delete after a stop given up):
    nothing more is asked of the exchange, not even a request left to run unwatched."""
    abandon = threading.Event()
    abandon.set()
    made: list[str] = []
    with pytest.raises(GivenUp):
        unless_given_up(lambda: made.append("sent"), abandon)
    time.sleep(0.2)  # a call started on a thread of its own would have run by now
    assert made == []


class _AnsweredAsTheWaitEnds(threading.Event):
    """An event whose first wait ends as if it timed out though the call's answer is back: the
    moment the second interrupt and the answer cross, made certain."""

    def __init__(self) -> None:
        super().__init__()
        self._waited = False

    def wait(self, timeout: float | None = None) -> bool:
        if self._waited:
            return super().wait(timeout)
        self._waited = True
        super().wait(SOON_S)
        return False


def test_an_answer_back_when_the_second_interrupt_is_seen_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The call answered just as the person interrupted again: its answer (a cancel the
    exchange made) is taken, not dropped as given up."""
    monkeypatch.setattr(
        give_up, "threading", SimpleNamespace(Event=_AnsweredAsTheWaitEnds, Thread=threading.Thread)
    )
    abandon = threading.Event()

    def answered() -> str:
        abandon.set()
        return "cancelled"

    assert unless_given_up(answered, abandon) == "cancelled"


def test_a_call_cancelled_before_a_worker_took_it_is_never_made() -> None:
    """One worker, its first call held: the second call's future cancelled meanwhile (the stop
    gave up waiting) is not made once the worker is free."""
    release = threading.Event()
    made: list[str] = []

    def held() -> str:
        release.wait(SOON_S)
        made.append("first")
        return "first"

    def second() -> str:
        made.append("second")
        return "second"

    first_answer, second_answer = side_by_side([held, second], workers=1)
    assert second_answer.cancel()
    release.set()
    assert first_answer.result(timeout=SOON_S) == "first"
    time.sleep(0.2)  # the worker has taken the second by now, if it takes it at all
    assert made == ["first"]


def test_calls_side_by_side_run_under_the_callers_deadline() -> None:
    """Each call runs under the deadline of the thread that asked for it (the stop's), so a
    call the exchange holds ends when the stop's time does."""
    with Deadline.within(SystemClock(), 30.0) as deadline:
        (seen,) = side_by_side([Deadline.current], workers=1)
        assert seen.result(timeout=SOON_S) is deadline


def test_calls_side_by_side_do_not_wait_for_one_another() -> None:
    """Two workers: a call the exchange holds (here, until the other call runs) does not hold
    the other back."""
    other_ran = threading.Event()

    def held() -> bool:
        return other_ran.wait(SOON_S)

    def other() -> bool:
        other_ran.set()
        return True

    answers = side_by_side([held, other], workers=2)
    assert [a.result(timeout=SOON_S + 5) for a in answers] == [True, True]


def test_calls_side_by_side_are_made_by_no_more_than_their_workers_at_once() -> None:
    """Two workers for four calls the exchange holds: two are out, the other two wait their
    turn (the stop's bound on the requests it has in flight)."""
    release = threading.Event()
    lock = threading.Lock()
    out = [0]

    def held() -> None:
        with lock:
            out[0] += 1
        release.wait(SOON_S)

    answers = side_by_side([held] * 4, workers=2)
    until = time.monotonic() + SOON_S
    while out[0] < 2 and time.monotonic() < until:
        time.sleep(0.01)
    time.sleep(0.3)  # a third worker, if there were one, has taken its call by now
    assert out[0] == 2
    release.set()
    for answer in answers:
        answer.result(timeout=SOON_S)
    assert out[0] == 4


def test_a_calls_error_is_raised_where_its_answer_is_read() -> None:
    """A cancel the exchange refused: its error comes out of its future, so the stop learns it
    failed instead of waiting for an answer that never comes."""

    def refused() -> Any:
        raise RuntimeError("refused")

    (answer,) = side_by_side([refused], workers=1)
    with pytest.raises(RuntimeError, match="refused"):
        answer.result(timeout=SOON_S)

"""A call a stop waits for only until it answers or the person interrupts again.

A second SIGINT or SIGTERM (`abandon`) means the person will not wait for an exchange slow to
answer: each call of the stop that waits on one answer is made on a thread of its own, under
the calling thread's deadline (a context variable), and waited for until its answer comes or
`abandon` is set (runner/loop/stop.py, and the session group's end after it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from kalshi_cli.vocabulary.process import in_context

if TYPE_CHECKING:
    from kalshi_cli.vocabulary.clock import Clock

T = TypeVar("T")

# how often a wait of the stop asks whether a second interrupt gave it up
ABANDON_CHECK_S = 0.05


class GivenUp(Exception):
    """A second SIGINT or SIGTERM came while a call of the stop was out (`unless_given_up`)."""


def unless_given_up(call: Callable[[], T], abandon: threading.Event | None) -> T:
    """`call`'s answer (or its error), the call made on a thread of its own under this
    thread's deadline and waited for until it comes or `abandon` is set (a second SIGINT or
    SIGTERM: the person will not wait), which raises `GivenUp`; the call is then not waited
    for, its deadline still bounds it. Without `abandon`, made here. Only the exchange's part
    of a step goes there: what it answered is booked by the caller, on the loop's thread."""
    if abandon is None:
        return call()
    if abandon.is_set():
        raise GivenUp
    answer: list[T] = []
    error: list[BaseException] = []
    done = threading.Event()

    def make() -> None:
        try:
            answer.append(call())
        except BaseException as exc:  # raised again on the loop's thread
            error.append(exc)
        finally:
            done.set()

    threading.Thread(target=in_context(make), name="stop-call", daemon=True).start()
    while not done.wait(ABANDON_CHECK_S):
        if abandon.is_set() and not done.is_set():  # an answer already back is taken
            raise GivenUp
    if error:
        raise error[0]
    return answer[0]


def pause_unless_given_up(clock: Clock, seconds: float, abandon: threading.Event | None) -> None:
    """Sleep `seconds` on `clock`, in steps short enough that a second interrupt during the
    wait gives the stop up at once (`GivenUp`)."""
    until = clock.monotonic() + seconds
    while (left := until - clock.monotonic()) > 0:
        if abandon is not None and abandon.is_set():
            raise GivenUp
        clock.sleep(min(left, ABANDON_CHECK_S))
    if abandon is not None and abandon.is_set():
        raise GivenUp

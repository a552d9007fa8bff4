"""Waiting in the tests: for a condition, never for an amount of time.

A test that needs something to happen (a process to write its state file, the simulator to serve
an order, a worker thread to finish) polls a condition until it holds. Its deadline is there only
so that a thing that never happens fails the test saying what it was waiting for, instead of
hanging it: one generous figure, `PATIENCE_S`, sized for a shared 2-core machine at load 12, where
a step that takes a second on a quiet machine takes tens. A passing test never comes near it, so
it costs nothing; pytest-timeout (`timeout` in pyproject.toml, or `SLOW_TEST_TIMEOUT_S` for a
test marked `slow`) bounds the whole test beyond it.

A deadline that is itself the behaviour under test (a hold of 4 s the client must outwait, a
model's 50 ms answer deadline) is the product's, set on its own knob: never this one.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# how long a condition may take to come true before the test says it never will
PATIENCE_S = 120.0
# a model's or a call's deadline where it is not what a test proves, in milliseconds: a worker
# thread of a busy machine, or a process started on one, may take seconds to answer, which is the
# machine's, not the model's
PATIENT_MS = int(PATIENCE_S * 1000)
# the time limit of a test marked `slow` (one that drives `kalshi` processes or a long CPU-bound
# run); every other test has pyproject.toml's `timeout`. The crypto backtest's fixture, 8 s on a
# quiet machine, took 810 s under coverage with four workers at load 15: a hang is what this
# catches, and CI's own limit bounds the run
SLOW_TEST_TIMEOUT_S = 1800
# how often a condition is asked between its own moves (short: a passing test waits no longer)
POLL_S = 0.02


def pause() -> None:
    """The wait between two asks of a condition."""
    time.sleep(POLL_S)


def _gave_up(what: str | Callable[[], str], within_s: float) -> AssertionError:
    detail = what() if callable(what) else what
    return AssertionError(f"gave up after {within_s:g} s waiting for {detail}")


def poll_until(
    condition: Callable[[], T | None],
    *,
    within_s: float = PATIENCE_S,
    between: Callable[[], object] = pause,
) -> T | None:
    """Ask `condition` until it answers something true, and return that answer; after
    `within_s`, its last (false) answer. `between` runs between two asks: by default a short
    pause, or the test's own move (a manual clock advanced, a feed drained)."""
    deadline = time.monotonic() + within_s
    while True:
        answer = condition()
        if answer or time.monotonic() > deadline:
            return answer
        between()


def wait_until(
    condition: Callable[[], T | None],
    what: str | Callable[[], str],
    *,
    within_s: float = PATIENCE_S,
    between: Callable[[], object] = pause,
) -> T:
    """`poll_until` that fails if the condition never holds, saying `what` never happened; a
    function there is called only on failure (to read a process's stderr, say)."""
    answer = poll_until(condition, within_s=within_s, between=between)
    if not answer:
        raise _gave_up(what, within_s)
    return answer


def stderr_tail(stderr: Path, what: str = "the process") -> Callable[[], str]:
    """`what` for a wait on a process: its description and the end of its stderr file, read
    when the wait fails."""
    return lambda: f"{what}; its stderr ends:\n" + stderr.read_text(errors="replace")[-2000:]


def while_running(process: subprocess.Popen[bytes], stderr: Path) -> Callable[[], None]:
    """`between` for a wait on what a running process does: a short pause, and a failure at
    once, with its stderr, if it exited (it never will do the thing then)."""

    def alive() -> None:
        code = process.poll()
        assert code is None, f"exited {code}; its stderr ends:\n" + stderr.read_text()[-2000:]
        pause()

    return alive


async def wait_until_async(
    condition: Callable[[], T | None],
    what: str | Callable[[], str],
    *,
    between: Callable[[], Awaitable[object]],
    within_s: float = PATIENCE_S,
) -> T:
    """`wait_until` inside an event loop: `between` is awaited (a Textual pilot's pause, which
    lets the app run), so the app moves while the test waits."""
    deadline = time.monotonic() + within_s
    while True:
        answer = condition()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise _gave_up(what, within_s)
        await between()

"""What a command changes of its process, and puts back. A command also runs inside a process of
someone else's (a test, a library user calling the app): a signal handler it left installed would
decide what every later Ctrl-C or SIGTERM there does. Commands change the process's signal
handlers only through `signal_handlers`, which restores them however the block ends. A call
made on a thread of its own (`side_by_side`) runs on a daemon: one no one waits for any more
does not hold the process at its exit.

A Ctrl-C raises `KeyboardInterrupt` wherever the main thread is when its handler runs. Where that
is a finalizer (a `__del__`, a weakref callback: an object the garbage collector takes at that
moment, as SQLAlchemy's under a search's study) Python prints "Exception ignored in" and goes on,
and a search would go on through all its trials. So `interruptible` notes each Ctrl-C, and a long
loop asks `raise_if_interrupted` at each step: a Ctrl-C Python discarded is raised there.
"""

from __future__ import annotations

import contextvars
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

Handler = Callable[[int, FrameType | None], Any] | int
T = TypeVar("T")


@contextmanager
def signal_handlers(handlers: Mapping[signal.Signals, Handler]) -> Iterator[None]:
    """`handlers` installed for the block, the ones they replaced put back after it. Python lets
    only the main thread set a handler: in another thread nothing is installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: set outside Python, which cannot be put back
                signal.signal(sig, handler)


class _Noted:
    """Whether a Ctrl-C came within `interruptible`'s block (the main thread's), cleared as the
    block ends: a plain flag, no lock, since the signal handler may run while the main thread is
    in any code, this one's included."""

    ctrl_c = False


_NOTED = _Noted()


@contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C (SIGINT) raises `KeyboardInterrupt` in the block, as in a process started from a
    terminal, also where the process was started with SIGINT ignored: a script's background job
    (`kalshi ... &` without job control) is, and Python then leaves it ignored, so a search sent
    SIGINT would run to its end and exit 0. Each Ctrl-C is noted for `raise_if_interrupted`."""
    try:
        with signal_handlers({signal.SIGINT: _ctrl_c}):
            yield
    finally:
        _NOTED.ctrl_c = False  # a later block, or a library call outside one, starts afresh


def _ctrl_c(signum: int, frame: FrameType | None) -> None:
    _NOTED.ctrl_c = True
    signal.default_int_handler(signum, frame)


def raise_if_interrupted() -> None:
    """`KeyboardInterrupt` if a Ctrl-C came in this `interruptible` block: for a long loop to
    ask at each step, so a Ctrl-C whose interrupt Python discarded (module docstring) still
    stops it there."""
    if _NOTED.ctrl_c:
        raise KeyboardInterrupt


def in_context(call: Callable[[], T]) -> Callable[[], T]:
    """`call` to run on another thread under this thread's context (its deadline)."""
    context = contextvars.copy_context()
    return lambda: context.run(call)


def side_by_side(
    calls: Sequence[Callable[[], T]], workers: int, *, name: str = "side-by-side"
) -> list[Future[T]]:
    """Each of `calls` made on one of `workers` threads (named `name`), under this thread's
    context (its deadline), its answer in the future of the same place. A future cancelled
    before its call was taken is not made. The threads are daemons: a call given up on (a
    stop's second interrupt, a Ctrl-C of the command) does not hold the process at its exit,
    where a `concurrent.futures` pool's threads are joined; the deadline it runs under still
    bounds it while the process lives."""
    from concurrent.futures import Future  # here: a command that makes no call never needs it
    from queue import Empty, SimpleQueue

    futures: list[Future[T]] = [Future() for _ in calls]
    todo: SimpleQueue[tuple[Future[T], Callable[[], T]]] = SimpleQueue()
    for future, call in zip(futures, calls, strict=True):
        todo.put((future, in_context(call)))

    def work() -> None:
        while True:
            try:
                future, call = todo.get_nowait()
            except Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:  # raised again where the answer is read
                future.set_exception(exc)

    for _ in range(min(workers, len(futures))):
        threading.Thread(target=work, name=name, daemon=True).start()
    return futures

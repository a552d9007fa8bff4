"""What a command changes of its process, and puts back. A command also runs inside a process of
someone else's (a test, a library user calling the app): a signal handler it left installed would
decide what every later Ctrl-C or SIGTERM there does. Commands change the process's signal
handlers only through `signal_handlers`, which restores them however the block ends.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from types import FrameType
from typing import Any

Handler = Callable[[int, FrameType | None], Any] | int


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


def interruptible() -> AbstractContextManager[None]:
    """Ctrl-C (SIGINT) raises `KeyboardInterrupt` in the block, as in a process started from a
    terminal, also where the process was started with SIGINT ignored: a script's background job
    (`kalshi ... &` without job control) is, and Python then leaves it ignored, so a search sent
    SIGINT would run to its end and exit 0."""
    return signal_handlers({signal.SIGINT: signal.default_int_handler})

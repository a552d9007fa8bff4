"""A backtest tool call ends its child process: asked with SIGTERM, and killed when it does not
end, so a child stuck where SIGTERM does not reach it (C code, a handler that ignores it) cannot
hold the assistant's call for ever."""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from multiprocessing.synchronize import Event

from kalshi_cli.agent import research

# how long the test gives the end of the child (generous: the machine is shared)
ENDED_WITHIN_S = 60.0


def _ignores_sigterm(ready: Event) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ready.set()
    while True:
        time.sleep(60)


def test_a_child_that_ignores_sigterm_is_killed_and_the_call_ends() -> None:
    context = multiprocessing.get_context("spawn")  # as the tool's child is started
    ready = context.Event()
    child = context.Process(target=_ignores_sigterm, args=(ready,), daemon=True)
    child.start()
    try:
        assert ready.wait(ENDED_WITHIN_S), "the child never started"
        ending = threading.Thread(target=research.end_child, args=(child,), daemon=True)
        ending.start()
        ending.join(ENDED_WITHIN_S)
        assert not ending.is_alive(), "the call waited on a child that ignores SIGTERM"
        assert child.exitcode == -signal.SIGKILL
    finally:
        if child.is_alive():
            child.kill()
            child.join()

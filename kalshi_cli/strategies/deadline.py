"""A call into the trader's code with a deadline: the one rule for how long the toolkit waits
on code it does not own. The call runs on a worker thread of its own (a daemon: a call that
never returns must not keep the process from exiting) and is waited for `timeout_s`, or
`start_s` for the first (an interpreter, a model loaded); a call not back by then is a missed
deadline, and while it still runs the next call is refused rather than queued behind it.

The `model` strategy's Python source asks its callable this way (`timeout_ms`, default
`CALL_DEADLINE_MS`), and the trade loop and `kalshi strategy check` run each `decide` this way
(`bounded_decide`): `CALL_DEADLINE_MS`, plus the deadline its params name for a call it makes
itself (`timeout_ms`, `start_s` for the first: the model's), which so answers first.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from kalshi_cli.strategy_api import Decision, Strategy

CALL_DEADLINE_MS = 500  # the deadline of one call (a model's answer)
START_S = 10.0  # the first call may take this long (its start)

T = TypeVar("T")


class MissedDeadline(Exception):
    """The call did not return within its deadline."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"no answer within {timeout_s * 1000:g} ms")
        self.timeout_s = timeout_s


class StillRunning(Exception):
    """An earlier call missed its deadline and has not returned yet."""

    def __init__(self) -> None:
        super().__init__("an earlier call has not returned yet")


class BoundedCall(Generic[T]):
    """`fn` called on a worker thread, each call waited for at most its deadline; the call's
    own exception is raised as it is."""

    def __init__(
        self, fn: Callable[..., T], *, timeout_s: float, start_s: float = 0.0, name: str = "call"
    ) -> None:
        self._fn = fn
        self.timeout_s = timeout_s
        self._start_s = start_s
        self._name = name
        self._requests: queue.SimpleQueue[tuple[Future[T], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._busy: Future[T] | None = None
        self._worker: threading.Thread | None = None

    def __call__(self, *args: Any) -> T:
        if self._busy is not None and not self._busy.done():
            raise StillRunning
        first = self._worker is None
        if self._worker is None:
            self._worker = threading.Thread(target=self._serve, name=self._name, daemon=True)
            self._worker.start()
        future: Future[T] = Future()
        self._busy = future
        self._requests.put((future, args))
        timeout_s = max(self.timeout_s, self._start_s) if first else self.timeout_s
        # `wait`, not `result`: a Ctrl-C while waiting is the person's, not the call's answer
        done, _ = futures_wait([future], timeout=timeout_s)
        if not done:
            raise MissedDeadline(timeout_s)
        return future.result()

    def _serve(self) -> None:
        while (request := self._requests.get()) is not None:
            future, args = request
            try:
                future.set_result(self._fn(*args))
            except BaseException as exc:  # the trader's code: whatever it raises is its answer
                future.set_exception(exc)

    def close(self) -> None:
        if self._worker is not None:
            self._requests.put(None)


def bounded_decide(
    strategy: Strategy[Any], params: Any, name: str
) -> BoundedCall[Sequence[Decision]]:
    """`strategy.decide` under its deadline (module docstring)."""
    timeout_s = (getattr(params, "timeout_ms", 0) + CALL_DEADLINE_MS) / 1000
    start_s = timeout_s + getattr(params, "start_s", 0.0)
    return BoundedCall(strategy.decide, timeout_s=timeout_s, start_s=start_s, name=name)

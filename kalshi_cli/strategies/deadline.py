"""A call into the trader's code with a deadline: the one rule for how long the toolkit waits on
code it does not own. The call runs on a daemon worker thread and is waited for `timeout_s`; a call
not back by then missed its deadline, and while it still runs the next call is refused, not queued.
The first call may take `start_s` (imports, caches, weights): while it is out within that, each call
is answered `Starting` without waiting, and only past it did the call miss. The `model` strategy
asks its callable this way, and the trade loop and `kalshi strategy check` run each `decide` this
way (`bounded_decide`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

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


class Starting(StillRunning):
    """The first call is not back yet and is still within its start: no answer, and no fault."""


class BoundedCall(Generic[T]):
    """`fn` called on a worker thread, each call waited for at most its deadline; the call's
    own exception is raised as it is. A call and its answer each cross one queue: nothing is
    allocated per call but its arguments and its answer."""

    def __init__(
        self,
        fn: Callable[..., T],
        *,
        timeout_s: float,
        start_s: float = 0.0,
        name: str = "call",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fn = fn
        self.timeout_s = timeout_s
        self._start_s = start_s
        self._name = name
        # what the start is measured on; a call's own deadline is the answer queue's wait
        self._monotonic = monotonic
        self._requests: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._answers: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        self._out = False  # a call not answered yet: its answer is the next one back
        self._starts_until: float | None = None  # monotonic end of the first call's start
        self._worker: threading.Thread | None = None

    def __call__(self, *args: Any) -> T:
        if self._out:
            try:
                self._answers.get_nowait()  # a late call's answer, nobody's now
            except queue.Empty:
                raise self._late(StillRunning()) from None
            self._starts_until = None
        if self._worker is None:
            self._worker = threading.Thread(target=self._serve, name=self._name, daemon=True)
            self._worker.start()
            if self._start_s > self.timeout_s:
                self._starts_until = self._monotonic() + self._start_s
        self._out = True
        self._requests.put(args)
        try:  # a Ctrl-C while waiting is the person's: it leaves the call out
            returned, answer = self._answers.get(timeout=self.timeout_s)
        except queue.Empty:
            raise self._late(MissedDeadline(self.timeout_s)) from None
        self._out = False
        self._starts_until = None
        if returned:
            return cast("T", answer)
        raise answer

    def _late(self, otherwise: Exception) -> Exception:
        """What a call is answered while the last is not back: `Starting` while the first is
        within its start, `MissedDeadline` once it is past it, else `otherwise`."""
        if self._starts_until is None:
            return otherwise
        if self._monotonic() < self._starts_until:
            return Starting()
        self._starts_until = None
        return MissedDeadline(self._start_s)

    def _serve(self) -> None:
        while (args := self._requests.get()) is not None:
            try:
                answer: tuple[bool, Any] = (True, self._fn(*args))
            except BaseException as exc:  # the trader's code: whatever it raises is its answer
                answer = (False, exc)
            self._answers.put(answer)

    def close(self) -> None:
        if self._worker is not None:
            self._requests.put(None)


def bounded_decide(
    strategy: Strategy[Any], params: Any, name: str
) -> BoundedCall[Sequence[Decision]]:
    """`strategy.decide` under its deadline (module docstring); its first call gets `START_S`
    more, or the params' own `start_s`."""
    timeout_s = (getattr(params, "timeout_ms", 0) + CALL_DEADLINE_MS) / 1000
    start_s = timeout_s + getattr(params, "start_s", START_S)
    return BoundedCall(strategy.decide, timeout_s=timeout_s, start_s=start_s, name=name)

"""With send workers, fill reads run off the deciding path, and the loop keeps count of those
out: it sends no new read while one is out (a failed read retried every tick would turn a short
burst of errors into SAFE_MODE), so the count must hold until the last read out is booked. A
read's answer reaches the API error guard with the time the read was sent: a failure of a read
held in the network while a later call was answered is no evidence of an outage, and an
answer proves only that the exchange answered calls sent until then. Every read, the stop's last
one too, lists the recent window only."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kalshi_cli.runner.execution.dispatch import Dispatch
from kalshi_cli.runner.execution.fills import CLOCK_AHEAD_S
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.models import Fill
from tests.runner.fakes import Rig, make_rig
from tests.waiting import poll_until


class _HeldReads:
    """The rig's fill reads, each held until the test lets it go, then listing the account's
    fills or failing as the test said when it let it go."""

    def __init__(self, rig: Rig) -> None:
        self._listed = rig.client.iter_fills
        self._next: queue.Queue[tuple[threading.Event, threading.Event, list[BaseException]]]
        self._next = queue.Queue()
        rig.client.iter_fills = self  # type: ignore[method-assign]

    def expect(self) -> tuple[threading.Event, Callable[[BaseException | None], None]]:
        """The next read to start: an event set once it started, and its release (with the
        error it fails with, or None: it lists the fills)."""
        started, gate = threading.Event(), threading.Event()
        error: list[BaseException] = []
        self._next.put((started, gate, error))

        def release(failure: BaseException | None) -> None:
            if failure is not None:
                error.append(failure)
            gate.set()

        return started, release

    def __call__(self, *, min_ts: int | None = None, **kwargs: Any) -> Iterator[Fill]:
        started, gate, error = self._next.get_nowait()
        started.set()
        gate.wait(30)
        if error:
            raise error[0]
        return self._listed(min_ts=min_ts, **kwargs)


def _book_next(dispatch: Dispatch) -> None:
    assert poll_until(lambda: dispatch.answered)
    dispatch.drain()


def test_the_loop_is_reading_fills_until_the_last_read_out_is_booked(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db", send_workers=2)
    fills, dispatch = rig.loop.executor.fills, rig.loop.dispatch
    reads = _HeldReads(rig)
    try:
        assert not fills.reading
        (first, let_first), (second, let_second) = reads.expect(), reads.expect()
        fills.read_for()
        fills.read_for()
        assert first.wait(30) and second.wait(30)
        assert fills.reading
        let_first(None)
        _book_next(dispatch)
        assert fills.reading, "the other read is still out"
        let_second(None)
        _book_next(dispatch)
        assert not fills.reading
    finally:
        dispatch.close()


def test_a_fill_read_failing_after_a_later_call_was_answered_does_not_back_off(
    tmp_path: Path,
) -> None:
    rig = make_rig(tmp_path / "s.db", send_workers=2)
    fills, dispatch, guard = rig.loop.executor.fills, rig.loop.dispatch, rig.loop.executor.guard
    reads = _HeldReads(rig)
    try:
        (held, let_held), (later, let_later) = reads.expect(), reads.expect()
        fills.read_for()
        assert held.wait(30)
        rig.clock.advance(1.0)
        fills.read_for()  # sent after the first, and answered
        assert later.wait(30)
        let_later(None)
        _book_next(dispatch)
        let_held(ServerError("timed out in the network", status=504))
        _book_next(dispatch)
        assert not guard.backing_off
        assert fills.due.is_set(), "the failed read is made again"
    finally:
        dispatch.close()


def test_a_fill_read_failing_after_an_earlier_read_was_answered_backs_off(
    tmp_path: Path,
) -> None:
    """The earlier read's answer says the exchange answered calls sent until it was sent, not
    until it was booked: a read sent after it that fails is an error that counts."""
    rig = make_rig(tmp_path / "s.db", send_workers=2)
    fills, dispatch, guard = rig.loop.executor.fills, rig.loop.dispatch, rig.loop.executor.guard
    reads = _HeldReads(rig)
    try:
        (earlier, let_earlier), (failing, let_failing) = reads.expect(), reads.expect()
        fills.read_for()
        assert earlier.wait(30)
        rig.clock.advance(1.0)
        fills.read_for()
        assert failing.wait(30)
        rig.clock.advance(1.0)
        let_earlier(None)
        _book_next(dispatch)
        let_failing(ServerError("down", status=503))
        _book_next(dispatch)
        assert guard.backing_off
    finally:
        dispatch.close()


def test_a_stops_last_fill_read_lists_the_recent_window_not_the_accounts_history(
    tmp_path: Path,
) -> None:
    """The stop's last read (`sync`) asks the exchange for the fills since a little before the
    last one the loop applied, as every read does: an account's whole history may be many
    pages, and the stop's deadline is short."""
    rig = make_rig(tmp_path / "s.db")
    asked: list[int | None] = []
    listed = rig.client.iter_fills

    def spy(*, min_ts: int | None = None, **kwargs: Any) -> Iterator[Fill]:
        asked.append(min_ts)
        return listed(min_ts=min_ts, **kwargs)

    rig.client.iter_fills = spy  # type: ignore[method-assign]
    rig.loop.executor.fills.sync()
    # with no fill applied yet, the window begins CLOCK_AHEAD_S before the start's own clock,
    # or before the start's reconcile read the fills, if that was earlier (a long start)
    assert asked == [int(rig.clock.wall() - CLOCK_AHEAD_S) - 2]
    reconciled = rig.clock.wall() - 300
    rig.loop.executor.fills.load_seen([], since=reconciled)
    rig.loop.executor.fills.sync()
    assert asked[1:] == [int(reconciled - CLOCK_AHEAD_S) - 2]

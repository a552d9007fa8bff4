"""Exchange calls off the trade loop's deciding path: a part of its `LoopExecutor`.

The deciding thread never waits for the exchange. What it sends becomes a `call` (the request
alone) and a `then` (the answer booked: state file, view, API error guard), handed to `send` with
the markets it concerns. With workers, the call runs on one of a few threads sharing the one
client; its `then` runs back on the deciding thread when the loop drains the answers (`drain`).
Until then each market concerned is busy and not decided on, so every decision sees the outcome
of the market's last action and a market's actions keep their order. Waiting calls go out most
urgent first (`Urgency`).

The answers of one drain are booked in one `group` (one transaction). A call a booking sends
meanwhile waits until the group has committed, so an order never leaves before its intent is on
disk; if the group fails none of them is made and their markets are freed. A booking that must
wait on the exchange ends the group first (`outside_group`), and a drain commits after `group_s`,
so no wait holds the write lock another process's `kalshi halt` needs.

Without workers (backtest, paper, `trade.send_workers: 0`) a call and its `then` run at once on
the deciding thread. docs/trade-loop.md "Calls off the deciding path".
"""

from __future__ import annotations

import itertools
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Generic, TypeVar

from kalshi_cli.client.connection import on_leaving, withdrawn_when
from kalshi_cli.store.errors import is_state_failure
from kalshi_cli.vocabulary.clock import answers_within
from kalshi_cli.vocabulary.errors import RequestWithdrawn

if TYPE_CHECKING:
    from kalshi_cli.services.orders.context import OrderClient
    from kalshi_cli.vocabulary.clock import Clock

T = TypeVar("T")
# the markets a call keeps busy, and whether their stop-loss waits for it too
_Keys = tuple[tuple[str, ...], bool]


@dataclass(frozen=True)
class CallAnswer(Generic[T]):
    """What a call came back with: its value, or the exception it raised; and when it left
    (`sent_at`, on the loop's monotonic clock: for a call the dispatch makes, as a worker took
    it), from which the API error guard and the fills' latency count."""

    sent_at: float
    value: T | None = None
    error: BaseException | None = None

    def get(self) -> T:
        """The value, or the call's exception raised again (for a `then` written as a
        `try`/`except` around the call it replaces)."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def run_call(call: Callable[[], T], stamp: Callable[[], float]) -> CallAnswer[T]:
    """Make the call; its answer's `sent_at` read from `stamp` as the call's first request
    leaves (has its turn from the client's rate limiter), or as the call is made if it
    sends none through a client that paces (a local venue's)."""
    made_at = stamp()
    left: list[float] = []

    def leaving() -> None:
        if not left:
            left.append(stamp())

    try:
        with on_leaving(leaving):
            value = call()
    except Exception as exc:  # the `then` decides what each failure means
        return CallAnswer(left[0] if left else made_at, error=exc)
    return CallAnswer(left[0] if left else made_at, value=value)


class Urgency(IntEnum):
    """Which call a free worker takes first, when more wait than the workers (or the rate
    limiter) can make at once; calls of one urgency go in the order sent."""

    EXIT = 0  # an order that only reduces a position (a stop-loss), a fill read
    FIRST = 1  # an order in a market the loop has not quoted yet this run
    AGAIN = 2  # the rest: requotes, cancels, reads of queue positions


@dataclass(frozen=True)
class Wire:
    """How a part of the executor reaches the exchange: the client, and the dispatch that
    carries its calls off the deciding path; built once by runner/assembly.py."""

    client: OrderClient
    dispatch: Dispatch


class Dispatch:
    def __init__(
        self,
        *,
        workers: int = 0,
        answer_within_s: float | None = None,
        group: Callable[[], AbstractContextManager[None]] = nullcontext,
        group_s: float = 0.1,
        monotonic: Callable[[], float] = time.monotonic,
        stamp: Callable[[], float] = time.monotonic,
        writes_behind: Callable[[], float] = lambda: -math.inf,
        wake: Callable[[], None] | None = None,
        on_busy: Callable[[str], None] | None = None,
        on_free: Callable[[str], None] | None = None,
        withheld: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.workers = workers
        # the seconds an order sent now would wait for its turn from the client's rate limiter,
        # behind the writes already sent to it; negative while the write budget has that many
        # seconds of writes in hand (minus infinity without a limiter): what the loop reads
        # before deciding more orders than the write budget can carry soon
        self.writes_behind_s = writes_behind
        # what one drain's bookings share: the state file's transaction (module docstring),
        # committed once it has been open `group_s`, the drain then ending: it holds the write
        # lock another process's `kalshi halt` needs (the kill switch waits a second for it)
        self._group = group
        self.group_s = group_s
        self._monotonic = monotonic
        self._opened_at = 0.0
        # the loop's clock (a replay's in a backtest), read as each call leaves: its answer's
        # `sent_at`. The group's hold above is the wall's: another process waits on it
        self._stamp = stamp
        # the group a drain's bookings are in now (None: none open), and the calls they sent
        # meanwhile, made once it committed
        self._open: AbstractContextManager[None] | None = None
        self._held: list[_Call] | None = None
        # the longest a worker waits for one request's answer once it left (`trade.
        # call_timeout_s`): a call held in the network frees its worker then, its order one of
        # unknown outcome (looked up, never sent again), so held calls cannot take every worker
        self.answer_within_s = answer_within_s
        # called from a worker when an answer is back: wakes the loop waiting for news
        self.wake = wake
        # the calls waiting for a worker, most urgent first, then in the order sent
        self._calls: queue.PriorityQueue[tuple[float, int, Callable[[], None] | None]] = (
            queue.PriorityQueue()
        )
        self._sent = itertools.count()
        # the workers, started as calls wait with none free, up to `workers`: a call held in
        # the network holds its worker, and the others must not wait behind it
        self._threads: list[threading.Thread] = []
        self._idle = 0  # workers waiting for a call
        self._waiting = 0  # calls not yet taken by a worker
        self._lock = threading.Lock()
        # the calls that place orders and no worker has taken yet, by their place in line,
        # each with what to tell if `close` drops it (its orders then never leave); and those
        # `close` dropped, which a worker that had already drawn one from the line skips
        self._unmade: dict[int, Callable[[], None]] = {}
        self._dropped: set[int] = set()
        # markets an order was sent for this run (what makes an order's call FIRST)
        self.quoted: set[str] = set()
        # answers back from the workers, each with its `then`: drained by the deciding thread
        self._answers: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        # market -> its calls sent and not yet booked (only the deciding thread touches this);
        # in `_exits_wait`, those its stop-loss waits for too (all but the fill reads)
        self._busy: dict[str, int] = {}
        self._exits_wait: dict[str, int] = {}
        self._in_flight = 0
        # set as the loop's stop begins: a call that places orders is not made if no worker
        # has taken it yet, and its requests are withdrawn if they still wait their turn from
        # the rate limiter (`RequestWithdrawn`), so a stopping loop places nothing, however long
        # the calls ahead of it held the workers or the write budget
        self.stopping = False
        # why no order may leave now though the loop goes on (None: they may): asked, as the
        # stop is, when a worker takes a placing call and at its request's turn from the rate
        # limiter, so an order recorded while trading was ACTIVE never leaves once the API
        # error guard has put it into SAFE_MODE (runner/loop/gate.py `nothing_leaves`)
        self.withheld = withheld
        # the first booking that failed while the stop waited for the calls still out
        # (`settle`): the stop goes on withdrawing, then raises it
        self.failed: Exception | None = None
        # the thread that books the answers (the deciding thread: the last to drain them); what
        # it asks itself to book `later` is booked at once
        self._booker: int | None = None
        # with workers, what a market made busy and then freed calls back (the schedule parks
        # it, then takes its news again); without, a market is busy only within one call
        self.on_busy = on_busy
        self.on_free = on_free

    def _not_made(self) -> str | None:
        """Why a placing call is not made now (None: it is): the stop began, or `withheld`."""
        return "the loop was stopping" if self.stopping else self.withheld()

    @property
    def threaded(self) -> bool:
        return self.workers > 0

    def busy(self, ticker: str, *, exits: bool = False) -> bool:
        """A call concerning the market is out, or its answer not yet booked; with `exits`,
        one its stop-loss waits for: any but a read that brings only what the loop counts
        already (`send`'s `exits_wait`)."""
        return ticker in (self._exits_wait if exits else self._busy)

    @property
    def in_flight(self) -> int:
        """Calls sent whose answers are not yet booked."""
        return self._in_flight

    def send(
        self,
        markets: Iterable[str],
        call: Callable[[], T],
        then: Callable[[CallAnswer[T]], None],
        urgency: Urgency = Urgency.AGAIN,
        *,
        places: bool = False,
        unmade: Callable[[], None] | None = None,
        exits_wait: bool = True,
    ) -> None:
        """Make the call off the deciding path and book its answer on it (see the module
        docstring); `markets` are busy until `then` has run, their stop-loss too unless not
        `exits_wait`. `places`: the call places orders, and is not made once the stop began
        (`stopping`) or while no order may leave (`withheld`): `then` gets `RequestWithdrawn`,
        naming why.
        `unmade`: told (on the thread that closes) if `close` drops the call before a worker
        took it, or a failed drain before it was made (module docstring), so it was never made
        and its `then` is never called."""
        keys = self._take(markets, exits_wait)
        self._in_flight += 1
        if not self.workers:
            self._book(keys, then, self._run(call))
            return

        def work() -> None:
            why = self._not_made() if places else None
            if why is not None:
                answer: CallAnswer[T] = CallAnswer(
                    self._stamp(), error=RequestWithdrawn(f"{why} before the request was sent")
                )
            elif places:
                with withdrawn_when(lambda: self._not_made() is not None):
                    answer = self._run(call)
                if isinstance(answer.error, RequestWithdrawn) and (why := self._not_made()):
                    # withdrawn at its turn from the rate limiter: said why
                    answer = CallAnswer(
                        answer.sent_at, error=RequestWithdrawn(f"{answer.error}: {why}")
                    )
            else:
                answer = self._run(call)
            self._answers.put(lambda: self._book(keys, then, answer))
            if self.wake is not None:
                self.wake()

        waiting = _Call(keys, urgency, work, unmade)
        if self._held is not None:
            self._held.append(waiting)  # made once the drain's group committed
            return
        self._line_up(waiting)

    def _line_up(self, call: _Call) -> None:
        with self._lock:
            self._waiting += 1
            seq = next(self._sent)
            if call.unmade is not None:
                self._unmade[seq] = call.unmade
            self._calls.put((call.urgency, seq, call.work))
            if self._waiting > self._idle and len(self._threads) < self.workers:
                thread = threading.Thread(
                    target=self._work, name=f"kalshi-call-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                self._idle += 1  # counted from its start, so the next call does not start another
                thread.start()

    def _run(self, call: Callable[[], T]) -> CallAnswer[T]:
        if self.answer_within_s is None:
            return run_call(call, self._stamp)
        with answers_within(self.answer_within_s):
            return run_call(call, self._stamp)

    def urgency(self, markets: Iterable[str], *, reduce_only: bool) -> Urgency:
        """An order's: EXIT when it only reduces, FIRST in a market not quoted yet (which it
        now is), else AGAIN."""
        if reduce_only:
            return Urgency.EXIT
        new = [m for m in markets if m not in self.quoted]
        self.quoted.update(new)
        return Urgency.FIRST if new else Urgency.AGAIN

    def _work(self) -> None:
        while True:
            _, seq, work = self._calls.get()
            with self._lock:
                self._idle -= 1
                if work is None:
                    return
                self._waiting -= 1
                self._unmade.pop(seq, None)
                dropped = seq in self._dropped
            if not dropped:
                work()
            with self._lock:
                self._idle += 1

    def hold(
        self, markets: Iterable[str], *, parked: bool = False, exits_wait: bool = True
    ) -> Callable[[], None]:
        """Keep `markets` busy across several calls (a group's legs, one after the other);
        the function returned frees them, once. `parked`: they take no turn meanwhile even
        without workers (a wait across ticks, not within one call); their stop-loss too unless
        not `exits_wait` (as `send`'s)."""
        keys = self._take(markets, exits_wait)
        told = parked and not self.workers
        if told and self.on_busy is not None:
            for key in keys[0]:
                if self._busy[key] == 1:
                    self.on_busy(key)
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._free(keys)
                if told and self.on_free is not None:
                    # without workers a market is busy only within one call: the one whose
                    # booking releases this hold, at most, which frees nothing in the schedule
                    for key in keys[0]:
                        self.on_free(key)

        return release

    def later(self, booking: Callable[[], None]) -> None:
        """Run `booking` on the deciding thread at its next drain: for what a worker's call
        learns that the loop must book itself. At once without workers, and when called on the
        deciding thread itself (a call it made while waiting, as the stop's last read of the
        fills): no drain may come after that one."""
        if not self.workers or threading.get_ident() == self._booker:
            booking()
            return
        self._answers.put(booking)
        if self.wake is not None:
            self.wake()

    @property
    def answered(self) -> bool:
        """An answer is back, waiting to be booked."""
        return not self._answers.empty()

    def drain(self) -> int:
        """Book the answers that are back, in one group, for at most about `group_s` (the rest
        at the next drain); how many were booked. The calls the bookings sent are made once
        the group committed; if it fails, none is (module docstring), and the failure is
        raised."""
        if not self.workers:
            return 0  # each answer was booked as its call returned
        self._booker = threading.get_ident()
        if self._answers.empty() or self._held is not None:
            return 0  # nothing back, or a booking draining again: the drain under way books it
        booked = 0
        failed: BaseException | None = None
        self._begin()
        try:
            while True:
                try:
                    booking = self._answers.get_nowait()
                except queue.Empty:
                    break
                booking()
                booked += 1
                if self._monotonic() - self._opened_at >= self.group_s:
                    break  # the rest at the next drain: the lock let go, the loop deciding
        except BaseException as exc:
            # what the bookings before it wrote is still committed, as it was when each booking
            # committed alone; the loop stops: what it decided meanwhile does not leave
            failed = exc
        self._end(make=failed is None)
        if failed is not None:
            raise failed
        return booked

    @contextmanager
    def outside_group(self) -> Iterator[None]:
        """For a booking that must wait on the exchange (a lookup on the deciding thread): the
        drain's group is committed first, and the calls its bookings sent are lined up, so the
        wait holds nothing the group holds (the state file's write lock); the bookings after
        it go on in a new group. Outside a drain it changes nothing. Only where the booking
        has no transaction of its own open: the group's must be the only one."""
        if self._open is None:
            yield
            return
        self._end(make=True)  # a failed commit fails the booking, and so the drain
        try:
            yield
        finally:
            self._begin()

    def _begin(self) -> None:
        """A group opened for the bookings that follow: what they send is held until it ends."""
        group = self._group()
        group.__enter__()
        self._open, self._held = group, []
        self._opened_at = self._monotonic()

    def _end(self, *, make: bool) -> None:
        """The open group committed, then the calls its bookings sent lined up for the
        workers (`make`) or dropped unmade; a failed commit drops them, and is raised."""
        group, held = self._open, self._held or []
        self._open = self._held = None
        try:
            if group is not None:
                group.__exit__(None, None, None)
        except BaseException:
            self._unsent(held)
            raise
        if not make:
            self._unsent(held)
            return
        for call in held:
            self._line_up(call)

    def _unsent(self, calls: list[_Call]) -> None:
        """Calls a failed drain's bookings sent: never made, nor booked; each placing one's
        `unmade` told, and their markets freed."""
        for call in calls:
            self._in_flight -= 1
            self._free(call.keys)
            if call.unmade is not None:
                call.unmade()

    def settle(self, clock: Clock, within_s: float, abandon: threading.Event | None = None) -> bool:
        """Wait (booking answers as they come) until no call is out, `within_s` of the loop's clock
        passed, or `abandon` is set: the stop's first step. True when none is left out.

        A booking that fails does not end the wait (the first failure is kept in `failed`, raised by
        the stop once it has withdrawn), except a failure of the state file: raised at once, the
        answers not booked left in flight (runner/loop/state_fault.py)."""
        end = clock.monotonic() + within_s
        while self._in_flight:
            if abandon is not None and abandon.is_set():
                self._drain_all()
                return not self._in_flight
            left = end - clock.monotonic()
            if left <= 0:
                return False
            try:
                booking = self._answers.get(timeout=min(left, 0.05))
            except queue.Empty:
                continue
            self._keep_going(booking)
        self._drain_all()
        return True

    def _drain_all(self) -> None:
        # a drain that a failed booking ended booked what came before it: the next, the rest
        while self._keep_going(self.drain) != 0:
            pass

    def _keep_going(self, booking: Callable[[], object]) -> object:
        """`booking`'s answer; one that fails is kept in `failed` (the first) and answers
        None, unless the state file is what failed (`settle`)."""
        try:
            return booking()
        except Exception as exc:
            if is_state_failure(exc):
                raise
            if self.failed is None:
                self.failed = exc
            return None

    def close(self) -> None:
        """No more calls: those still waiting for a worker are dropped (each placing one's
        `unmade` told), and the workers end once their current call returns (not waited
        for)."""
        with self._lock:
            while True:
                try:
                    self._calls.get_nowait()
                except queue.Empty:
                    break
            # a worker that drew one of these from the line before the lock skips it
            self._dropped.update(self._unmade)
            unmade = list(self._unmade.values())
            self._unmade.clear()
            for _ in self._threads:
                self._calls.put((math.inf, next(self._sent), None))  # a worker taking it ends
        for told in unmade:
            told()

    def _book(
        self, keys: _Keys, then: Callable[[CallAnswer[T]], None], answer: CallAnswer[T]
    ) -> None:
        try:
            then(answer)
        finally:
            self._in_flight -= 1
            self._free(keys)

    def _take(self, markets: Iterable[str], exits_wait: bool = True) -> _Keys:
        keys = tuple(dict.fromkeys(markets))
        for key in keys:
            held = self._busy.get(key, 0)
            self._busy[key] = held + 1
            if exits_wait:
                self._exits_wait[key] = self._exits_wait.get(key, 0) + 1
            if not held and self.on_busy is not None and self.workers:
                self.on_busy(key)
        return keys, exits_wait

    def _free(self, taken: _Keys) -> None:
        keys, exits_wait = taken
        for key in keys:
            if exits_wait:
                _drop_one(self._exits_wait, key)
            if not _drop_one(self._busy, key) and self.on_free is not None and self.workers:
                self.on_free(key)


def _drop_one(counts: dict[str, int], key: str) -> int:
    """`key`'s count less one, what is left; gone from `counts` at none."""
    left = counts.pop(key) - 1
    if left:
        counts[key] = left
    return left


@dataclass(frozen=True)
class _Call:
    """A call sent with workers, until a worker takes it: the markets it keeps busy, its
    urgency, its work (the call, then its answer queued for booking), and what to tell if it
    is never made."""

    keys: _Keys
    urgency: Urgency
    work: Callable[[], None]
    unmade: Callable[[], None] | None

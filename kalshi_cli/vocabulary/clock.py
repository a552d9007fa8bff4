"""Time, injected: everything that depends on time takes a `Clock`, so tests move time instead of
sleeping. `wall()` is Unix seconds; `monotonic()` only moves forward and measures intervals.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import random  # the callers' generator; a cron check that never backs off imports none


class Clock(Protocol):
    def wall(self) -> float: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to; `sleep` advances it instantly."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._wall = start
        self._mono = 0.0
        self._lock = threading.Lock()

    def wall(self) -> float:
        with self._lock:
            return self._wall

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._wall += seconds
            self._mono += seconds


class Deadline:
    """A moment on a clock by which something must be over, and the one a caller runs under.

    A caller that promises an end runs its work `within` one, and everything below reads it through
    `Deadline.current()`: the client's retries start nothing past it, and each request's reads and
    writes are capped to the time left (client/deadline.py). Scopes nest, an inner one never past an
    outer one, per thread (a context variable)."""

    __slots__ = ("at", "clock")

    def __init__(self, clock: Clock, at: float) -> None:  # monotonic
        self.clock = clock
        self.at = at

    @classmethod
    def after(cls, clock: Clock, seconds: float) -> Deadline:
        return cls(clock, clock.monotonic() + seconds)

    def remaining(self) -> float:
        return self.at - self.clock.monotonic()

    def passed(self) -> bool:
        return self.remaining() <= 0

    def earliest(self, other: Deadline | None) -> Deadline:
        """This deadline or `other`, whichever leaves less time."""
        if other is None or self.remaining() <= other.remaining():
            return self
        return other

    @staticmethod
    def current() -> Deadline | None:
        """The deadline the calling code runs under, if any."""
        return _CURRENT.get()

    @classmethod
    @contextmanager
    def within(cls, clock: Clock, seconds: float) -> Iterator[Deadline]:
        """Run the block under a deadline `seconds` from now (or an outer one, if sooner)."""
        with cls.after(clock, seconds).scope() as deadline:
            yield deadline

    @contextmanager
    def scope(self) -> Iterator[Deadline]:
        """Run the block under this deadline (or an outer one, if sooner)."""
        deadline = self.earliest(_CURRENT.get())
        token = _CURRENT.set(deadline)
        try:
            yield deadline
        finally:
            _CURRENT.reset(token)


_CURRENT: ContextVar[Deadline | None] = ContextVar("kalshi_deadline", default=None)


def answers_within(seconds: float) -> AbstractContextManager[None]:
    """Give each request made in the block at most `seconds` for its answer, counted from the
    moment it leaves: the rate limiter's wait for a token is not counted, a request waiting its
    turn has not been sent. Where a caller would rather learn late than wait (the trade loop's
    own calls, runner/execution/dispatch.py): an order whose answer does not come in time is an
    order of unknown outcome, looked up afterwards, never sent again. Per thread, like
    `Deadline`."""
    return _AnswersWithin(seconds)


class _AnswersWithin:
    """`answers_within`'s block: a class, not a generator, as the trade loop opens one for
    every call it makes (each order and cancel)."""

    __slots__ = ("_seconds", "_token")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    def __enter__(self) -> None:
        self._token = _ANSWER_WITHIN.set(self._seconds)

    def __exit__(self, *exc: object) -> None:
        _ANSWER_WITHIN.reset(self._token)


def answer_limit() -> float | None:
    """The seconds a request made now may wait for its answer (`answers_within`), if limited."""
    return _ANSWER_WITHIN.get()


_ANSWER_WITHIN: ContextVar[float | None] = ContextVar("kalshi_answer_within", default=None)


class Backoff:
    """The waits between tries, and the one rule for when a deadline stops them.

    Exponential with full jitter (a uniform draw between 0 and `base * 2**(n-1)`, capped at
    `cap`: the `ceiling`), so many clients backing off together spread out instead of returning
    in step. A
    wait that would end at or past the deadline is not started: the caller gives up instead.
    The client's retry policy (client/retry.py) and the kill switch's retries around the client
    both wait through this, under the same deadline, so the retries nested inside a kill switch
    attempt never carry it past its own.
    """

    __slots__ = ("base", "cap")

    def __init__(self, base: float, cap: float) -> None:
        self.base = base
        self.cap = cap

    def ceiling(self, retry_number: int) -> float:
        """The longest wait before retry `retry_number` (1 for the first retry): `base`
        doubling to `cap`. A wait a person must be able to predict (the risk engine's, the
        model command's restart) is this, whole; every other wait is drawn under it."""
        # past 2**64 every base in use is at the cap; a larger power would not fit in a float
        return min(self.cap, self.base * 2.0 ** min(retry_number - 1, 64))

    def delay(self, retry_number: int, rng: random.Random) -> float:
        """The wait before retry `retry_number` (1 for the first retry)."""
        return rng.uniform(0.0, self.ceiling(retry_number))

    def next_delay(
        self, retry_number: int, deadline: Deadline | None, rng: random.Random
    ) -> float | None:
        """The wait before retry `retry_number`; None (give up) when it would end at or past
        `deadline` or the deadline the caller runs under, whichever is sooner."""
        delay = self.delay(retry_number, rng)
        bound = Deadline.current() if deadline is None else deadline.earliest(Deadline.current())
        if bound is not None and delay >= bound.remaining():
            return None
        return delay


# How far ahead of now a recorded time may be and still read as "just now". The trade loop and
# what reads its state file (the checks, the dashboard) read one host's clock, so a time ahead
# of it means the clock was set back since the write (a small NTP step is normal) or the row is
# corrupt: past this, the age is unknown.
FUTURE_TOLERANCE_S = 5.0


def describe_age(age: float) -> str:
    if age < 120:
        return f"{age:.1f}s"
    if age < 7200:
        return f"{age / 60:.1f}min"
    return f"{age / 3600:.1f}h"


def age_of(what: str, at: float, now: float, shown: str) -> float | str:
    """The age in seconds (at least 0) of a time the state file recorded (`at`, Unix seconds,
    `shown` as it was stored), or why it has none, `what` named: a number that is not finite
    (`inf` would be an age of minus infinity, read as just now), or a time later than now by
    more than `FUTURE_TOLERANCE_S`. The one rule for every time read back from the state file
    and aged: the local checks grade by it and the dashboard shows by it, so the two never
    disagree on whether the loop is alive."""
    if not math.isfinite(at):
        return f"{what} is not a time: {shown}"
    ahead = at - now
    if ahead > FUTURE_TOLERANCE_S:
        return (
            f"{what} is {describe_age(ahead)} in the future: {shown}; the clock was set back "
            "since it was written, or the row is corrupt"
        )
    return max(now - at, 0.0)


def utc_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def iso_utc(ts: float) -> str:
    """RFC 3339 with a Z suffix, as Kalshi writes date-times."""
    return utc_datetime(ts).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(value: str) -> datetime:
    """An ISO 8601 date or time, as an aware datetime: UTC unless the text names an offset (never
    the machine's own zone, which would move a moment by the hours between it and UTC)."""
    return as_utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))


def as_utc(moment: datetime) -> datetime:
    """`moment` as an aware datetime: a time read without an offset (by `parse_iso`, or by
    msgspec decoding an answer's RFC 3339 field) is UTC, never the machine's own zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_http_date(text: str) -> float:
    """An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, a `Date` or `Retry-After` header) -> unix
    seconds. UTC unless it names another offset: the email library leaves a `-0000` zone (and
    none at all) naive, which `.timestamp()` would read in the machine's own zone."""
    # imported here: email.utils costs ~6 ms, paid only by a caller that meets a date
    from email.utils import parsedate_to_datetime

    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not an HTTP date") from None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()


def utc_day(ts: float) -> str:
    """The UTC calendar day of a unix time, `YYYY-MM-DD`: the key of daily P&L and risk trips
    (`day_start` reads one back). The trade loop asks several times a tick: the last day's
    bounds are kept, and a time within a microsecond of either bound (where `datetime` rounds)
    is worked out afresh."""
    lo, hi, name = _last_day[0]
    if lo <= ts < hi:
        return name
    at = utc_datetime(ts)
    name = at.strftime("%Y-%m-%d")
    start = at.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    _last_day[0] = (start + 1e-6, start + 86_400 - 1e-6, name)
    return name


# (from, to, day) of the last `utc_day`, replaced whole (threads may share it)
_last_day: list[tuple[float, float, str]] = [(0.0, 0.0, "")]


def day_start(day: str) -> float:
    """The first second of a UTC day named `YYYY-MM-DD` (the trading state's day keys)."""
    try:
        parsed = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"day must be YYYY-MM-DD, got {day!r}") from exc
    return parsed.timestamp()


# The last second a date-time can name (9999-12-31T23:59:59Z): every answer that carries a moment
# names it in RFC 3339, whose years end at 9999, and the exchange refuses a time past it
LAST_DATE_TIME_S = 253_402_300_799


def in_dates(seconds: float, text: str) -> float:
    """`seconds` (read from `text`) if it is a moment from 1970 to the last second a date-time can
    name, else `ValueError`: a time before 1970 or past 9999 is a typo (`-5m`, digits too many),
    and sent to the exchange it is refused there, or pages back through decades."""
    if not 0 <= seconds <= LAST_DATE_TIME_S:
        raise ValueError(f"{text.strip()!r} is not a time from 1970 to 9999 (UTC)")
    return seconds


def parse_time(text: str) -> float:
    """A moment written by a person or a file: unix seconds, a date (midnight UTC) or an ISO 8601
    time (UTC unless it names an offset) -> unix seconds, from 1970 to 9999 (`in_dates`). The one
    reader of time text, so every command agrees on what a moment means; `ValueError` says what
    is wrong."""
    raw = text.strip()
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise ValueError(f"{text!r} is not a finite number of unix seconds")
        return in_dates(seconds, text)
    try:
        moment = parse_iso(raw).timestamp()
    except ValueError:
        raise ValueError(
            f"{text!r} is not unix seconds, a date (YYYY-MM-DD) or an ISO 8601 time"
        ) from None
    return in_dates(moment, text)

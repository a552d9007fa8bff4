"""Time, injected.

Everything that depends on time (signing timestamps, rate-limit buckets, heartbeats, daily P&L,
the simulator's price paths) takes a `Clock`, so tests move time forward instead of sleeping.
`wall()` is Unix time in seconds; `monotonic()` only ever moves forward and is the one to measure
intervals with.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime
from typing import Protocol


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


def utc_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def iso_utc(ts: float) -> str:
    """RFC 3339 with a Z suffix, as Kalshi writes date-times."""
    return utc_datetime(ts).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(value: str) -> datetime:
    """An ISO 8601 date or time, as an aware datetime: UTC unless the text names an offset (never
    the machine's own zone, which would move a moment by the hours between it and UTC)."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_time(text: str) -> float:
    """A moment written by a person or a file: unix seconds, a date (midnight UTC) or an ISO 8601
    time (UTC unless it names an offset) -> unix seconds. The one reader of time text, so every
    command agrees on what a moment means; `ValueError` says what is wrong."""
    raw = text.strip()
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise ValueError(f"{text!r} is not a finite number of unix seconds")
        return seconds
    try:
        return parse_iso(raw).timestamp()
    except ValueError:
        raise ValueError(
            f"{text!r} is not unix seconds, a date (YYYY-MM-DD) or an ISO 8601 time"
        ) from None

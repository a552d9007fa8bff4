"""The reference indices a scenario streams: the CF Benchmarks real-time indices Kalshi settles its
crypto markets on, and Pyth prices of other underlyings (asyncapi.yaml channels
`cfbenchmarks_value`, `cfbenchmarks_value_5hz`, `pyth_value`).

An index moves along the scenario's path (a seeded random walk, or a CSV series), stepped on a 200
ms grid on the exchange's tick, with the averages asyncapi defines on the 1 Hz ticks. A clock that
jumps past the retained 15 minutes skips the older part. docs/simulator.md "Reference indices".
Index state lives in memory beside the exchange (`of(exchange)`), not in its journal.
"""

from __future__ import annotations

import csv
import math
import random
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from kalshi_cli.sim.core.exchange import Exchange

STEP_MS = 200  # the 5 Hz grid
FIVE_HZ = frozenset({"BRTI", "ETHUSD_RTI", "SOLUSD_RTI", "XRPUSD_RTI", "DOGEUSD_RTI"})
QUARTER_S = 900
AVERAGE_S = 60
RETAINED_S = 900  # whole-second values kept per index: averages and settlement windows
AVERAGE_PLACES = Decimal("0.00000001")

Source = Literal["cfbenchmarks", "pyth"]


class IndexSpecError(ValueError):
    """A scenario's index that cannot be used; the message names the index and the field."""


@dataclass(frozen=True)
class SimIndexAverage:
    """asyncapi `cfbenchmarksAvgData`."""

    value: Decimal
    window_size: int
    window_start_ts_ms: int
    window_end_ts_exclusive: int

    def to_json(self) -> dict[str, Any]:
        return {
            "value": str(self.value.quantize(AVERAGE_PLACES)),
            "window_size": self.window_size,
            "window_start_ts_ms": self.window_start_ts_ms,
            "window_end_ts_exclusive": self.window_end_ts_exclusive,
        }


@dataclass(frozen=True)
class SimIndexTick:
    """One value of one index. `avg_60s` is set on the 1 Hz ticks of a CF Benchmarks index
    (whole seconds), `quarter` in the last minute before a quarter-hour close."""

    index_id: str
    source: Source
    ts_ms: int
    value: Decimal
    received_ms: int
    whole_second: bool
    avg_60s: SimIndexAverage | None = None
    quarter: SimIndexAverage | None = None


class RandomWalk:
    """A seeded walk of the log level: every step of `dt` seconds adds a normal return of
    standard deviation `volatility * sqrt(dt)`, and with probability `jumps_per_hour * dt / 3600`
    a jump, a normal return of standard deviation `jump_size`. The level is a Decimal rounded to
    `places` when read; the returns are statistics of the path, drawn as floats."""

    def __init__(
        self,
        start: Decimal,
        *,
        volatility: Decimal,
        jumps_per_hour: Decimal = Decimal(0),
        jump_size: Decimal = Decimal(0),
        seed: int = 0,
        places: Decimal = Decimal("0.01"),
    ) -> None:
        self.level = start
        self.volatility = float(volatility)
        self.jump_rate = float(jumps_per_hour) / 3600.0  # per second
        self.jump_size = float(jump_size)
        self.places = places
        self.rng = random.Random(seed)
        self._last_ms: int | None = None

    def at(self, offset_ms: int) -> Decimal | None:
        """The level at `offset_ms` after the origin (offsets ascending; the first is `start`)."""
        if self._last_ms is not None:
            dt_s = (offset_ms - self._last_ms) / 1000
            r = self.rng.gauss(0.0, self.volatility * math.sqrt(dt_s))
            if self.jump_size and self.rng.random() < self.jump_rate * dt_s:
                r += self.rng.gauss(0.0, self.jump_size)
            self.level *= Decimal(repr(r)).exp()
        self._last_ms = offset_ms
        return self.level.quantize(self.places)


class Replay:
    """A series read from a CSV file of `offset_s,value` rows (seconds after the index's origin,
    ascending; a header row is allowed): each value holds until the next row."""

    def __init__(self, rows: list[tuple[int, Decimal]]) -> None:  # (offset ms, value)
        self.rows = rows
        self._i = -1

    @classmethod
    def read(cls, path: Path) -> Replay:
        rows: list[tuple[int, Decimal]] = []
        try:
            with path.open(encoding="utf-8", newline="") as f:
                for n, row in enumerate(csv.reader(f), start=1):
                    if not row or (n == 1 and not _numeric(row[0])):
                        continue
                    if len(row) != 2:
                        raise IndexSpecError(f"{path}:{n}: a row is offset_s,value")
                    try:
                        offset_ms = int(Decimal(row[0].strip()) * 1000)
                        value = Decimal(row[1].strip())
                    except InvalidOperation:
                        raise IndexSpecError(f"{path}:{n}: {row!r} is not two numbers") from None
                    if rows and offset_ms <= rows[-1][0]:
                        raise IndexSpecError(f"{path}:{n}: offsets must increase")
                    rows.append((offset_ms, value))
        except OSError as exc:
            raise IndexSpecError(f"cannot read index series {path}: {exc}") from exc
        if not rows:
            raise IndexSpecError(f"{path}: no rows")
        return cls(rows)

    def at(self, offset_ms: int) -> Decimal | None:
        """The value at `offset_ms` after the origin (offsets ascending): the last row at or
        before it; None before the first row and after the last."""
        while self._i + 1 < len(self.rows) and self.rows[self._i + 1][0] <= offset_ms:
            self._i += 1
        if self._i < 0 or offset_ms > self.rows[-1][0]:
            return None
        return self.rows[self._i][1]


def _numeric(text: str) -> bool:
    try:
        Decimal(text.strip())
    except InvalidOperation:
        return False
    return True


@dataclass
class _Index:
    index_id: str
    source: Source
    path: RandomWalk | Replay
    step_ms: int  # 200 on the 5 Hz set, else 1000
    seconds: deque[tuple[int, Decimal]] = field(default_factory=lambda: deque(maxlen=RETAINED_S))


class SimIndexFeed:
    """The indices of one exchange, stepped on its tick (see the module docstring)."""

    def __init__(self, origin_s: float) -> None:
        self.origin_ms = math.floor(origin_s) * 1000  # whole seconds: the 1 Hz ticks are on them
        self._next_ms = self.origin_ms
        self._indices: dict[str, _Index] = {}
        self._listeners: list[Callable[[SimIndexTick], None]] = []

    def add(self, index_id: str, source: Source, path: RandomWalk | Replay) -> None:
        if index_id in self._indices:
            raise IndexSpecError(f"index {index_id} is defined twice")
        five = source == "cfbenchmarks" and index_id in FIVE_HZ
        self._indices[index_id] = _Index(index_id, source, path, STEP_MS if five else 1000)

    def add_listener(self, listener: Callable[[SimIndexTick], None]) -> None:
        self._listeners.append(listener)

    def ids(self, source: Source, *, five_hz: bool = False) -> list[str]:
        """The index ids of a source (the 5 Hz channel's: those of the 5 Hz set)."""
        return sorted(
            i.index_id
            for i in self._indices.values()
            if i.source == source and (not five_hz or i.step_ms == STEP_MS)
        )

    def values(self, index_id: str, start_s: int, end_s: int) -> list[Decimal]:
        """The index's whole-second values stamped in `[start_s, end_s)` still retained."""
        index = self._indices.get(index_id)
        if index is None:
            return []
        return [v for s, v in index.seconds if start_s <= s < end_s]

    def points(self, index_id: str) -> list[tuple[float, float]]:
        """The retained whole-second values as `(unix seconds, value)` floats, oldest first: the
        statistics of the path (a volatility estimate), never a price."""
        index = self._indices.get(index_id)
        if index is None:
            return []
        return [(float(s), float(v)) for s, v in index.seconds]

    def latest(self, index_id: str) -> Decimal | None:
        index = self._indices.get(index_id)
        return index.seconds[-1][1] if index is not None and index.seconds else None

    def on_tick(self, now: float) -> None:
        """Step every index to `now` (unix seconds), emitting each tick in time order. A clock
        that jumps further than the retained seconds skips the older part: one step of each
        path across it, no tick."""
        if not self._indices:
            return
        now_ms = math.floor(now * 1000)
        received = now_ms
        skip_to = now_ms - now_ms % 1000 - RETAINED_S * 1000
        if self._next_ms < skip_to:
            for index in self._indices.values():
                index.path.at(skip_to - STEP_MS - self.origin_ms)
            self._next_ms = skip_to
        while self._next_ms <= now_ms:
            t = self._next_ms
            self._next_ms += STEP_MS
            for index in self._indices.values():
                if (t - self.origin_ms) % index.step_ms:
                    continue
                value = index.path.at(t - self.origin_ms)
                if value is None:
                    continue
                for tick in self._ticks(index, t, value, received):
                    for listener in self._listeners:
                        listener(tick)

    def _ticks(
        self, index: _Index, t: int, value: Decimal, received: int
    ) -> Iterator[SimIndexTick]:
        whole = t % 1000 == 0
        if not whole:
            yield SimIndexTick(index.index_id, index.source, t, value, received, False)
            return
        s = t // 1000
        avg = quarter = None
        if index.source == "cfbenchmarks":
            prior = _since(index.seconds, s - AVERAGE_S)
            avg = SimIndexAverage(
                _mean(prior) if prior else value, len(prior), (s - AVERAGE_S) * 1000, t
            )
            close = -(-s // QUARTER_S) * QUARTER_S  # this second's quarter-hour close
            if close - s < AVERAGE_S:
                window = _since(index.seconds, close - AVERAGE_S + 1)
                window.append(value)
                quarter = SimIndexAverage(_mean(window), len(window), (close - AVERAGE_S) * 1000, t)
        index.seconds.append((s, value))
        yield SimIndexTick(index.index_id, index.source, t, value, received, True, avg, quarter)


def _since(seconds: deque[tuple[int, Decimal]], start: int) -> list[Decimal]:
    """The values stamped at `start` or later, oldest first, read from the newest end (the
    deque is in time order and every value in it is older than the tick being made)."""
    out: list[Decimal] = []
    for sec, value in reversed(seconds):
        if sec < start:
            break
        out.append(value)
    out.reverse()
    return out


def _mean(values: list[Decimal]) -> Decimal:
    return sum(values, Decimal(0)) / len(values)


_BY_EXCHANGE: weakref.WeakKeyDictionary[Exchange, SimIndexFeed] = weakref.WeakKeyDictionary()


def of(exchange: Exchange, *, origin_s: float | None = None) -> SimIndexFeed:
    """The exchange's index feed (an empty one until a scenario defines indices), made on the
    first call: its paths start at `origin_s` (unix seconds; the exchange's creation by
    default). A scenario passes the time it is built, so a restarted simulator starts its
    walks now instead of catching up since the journal began."""
    feed = _BY_EXCHANGE.get(exchange)
    if feed is None:
        feed = SimIndexFeed(exchange.reference.created_time if origin_s is None else origin_s)
        _BY_EXCHANGE[exchange] = feed
        exchange.add_tick_hook(feed.on_tick)
    return feed

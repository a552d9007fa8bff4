"""The reference indices Kalshi streams: their messages decoded, and the latest of each kept.

Three channels carry them (asyncapi.yaml): `cfbenchmarks_value` about once a second (the raw CF
Benchmarks frame, with the 60-second average and, in the last minute before a quarter-hour
close, the running settlement average); `cfbenchmarks_value_5hz`, up to five raw ticks a second,
no averages; and `pyth_value` for other underlyings.

`decode_tick` turns one value message into an `IndexTick` (Decimal values as sent; the source's
time). `IndexBoard` keeps, per index, the latest tick, the latest averages and the values of the
last `keep_s` seconds, ignoring a tick not newer than the last; `view` answers a strategy's
`IndexView`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import msgspec

from kalshi_cli.feed.messages import (
    TYPE_OF,
    Cfb5HzValueMessage,
    CfbValueMessage,
    IndexValueMessage,
    PythValueMessage,
)
from kalshi_cli.strategy_api.index import IndexView
from kalshi_cli.vocabulary.reference_index import FIVE_HZ_INDEX_IDS

CFB = "cfbenchmarks_value"
CFB_5HZ = "cfbenchmarks_value_5hz"
PYTH = "pyth_value"
INDEX_CHANNELS = (CFB, CFB_5HZ, PYTH)
# the message types of the value updates, and of the answers to a list action
VALUE_TYPES = frozenset(INDEX_CHANNELS)
LIST_TYPES = frozenset(
    {
        "cfbenchmarks_value_indexlist",
        "cfbenchmarks_value_5hz_indexlist",
        "pyth_value_underlying_list",
    }
)
# the ids a channel is subscribed with, and its update_subscription actions (add, remove, list)
ID_PARAM = {CFB: "index_ids", CFB_5HZ: "index_ids", PYTH: "underlying_tickers"}
ACTIONS = {
    CFB: ("subscribe_indices", "unsubscribe_indices", "indexlist"),
    CFB_5HZ: ("subscribe_indices", "unsubscribe_indices", "indexlist"),
    PYTH: ("subscribe_underlyings", "unsubscribe_underlyings", "underlying_list"),
}
KEEP_S = 1800.0  # seconds of values kept per index (a volatility's half-life is minutes)


def channels_for(index_ids: Iterable[str]) -> dict[str, list[str]]:
    """The subscriptions that follow these CF Benchmarks indices: every one on the 1 Hz channel
    (it alone carries the averages), and those the 5 Hz channel carries on it too."""
    ids = list(dict.fromkeys(index_ids))
    found = {CFB: ids, CFB_5HZ: [i for i in ids if i in FIVE_HZ_INDEX_IDS]}
    return {channel: wanted for channel, wanted in found.items() if wanted}


class IndexMessageError(ValueError):
    """A value message without the fields its channel's shape requires."""


@dataclass(frozen=True, slots=True)
class Average:
    value: Decimal
    count: int  # `window_size`
    start_ts: float  # `window_start_ts_ms`, unix seconds


@dataclass(frozen=True, slots=True)
class IndexTick:
    channel: str
    index_id: str  # the CF Benchmarks index ID, or the Pyth underlying ticker
    ts: float  # the source's time, unix seconds
    value: Decimal
    avg_60s: Average | None = None
    settlement: Average | None = None  # `last_60s_windowed_average_15min`


class _AverageBody(msgspec.Struct, frozen=True):
    """asyncapi `cfbenchmarksAvgData`."""

    value: str | int
    window_size: int
    window_start_ts_ms: int | float


class _CfbBody(msgspec.Struct, frozen=True):
    """A `cfbenchmarks_value`'s `msg`."""

    index_id: str
    received_at: int | float
    data: str  # the raw CF Benchmarks frame, a JSON text
    avg_60s_data: _AverageBody
    last_60s_windowed_average_15min: _AverageBody | None = None


class _CfbRaw(msgspec.Struct, frozen=True):
    """The raw CF Benchmarks frame a `cfbenchmarks_value` carries in `data`."""

    value: str | int
    time: int | float | None = None


class _FastBody(msgspec.Struct, frozen=True):
    """A `cfbenchmarks_value_5hz`'s `msg`."""

    index_id: str
    value_usd: str | int
    source_ts_ms: int | float


class _PythBody(msgspec.Struct, frozen=True):
    """A `pyth_value`'s `msg`."""

    underlying_ticker: str
    value_usd: str | int
    source_ts_ms: int | float


def decode_tick(message: IndexValueMessage) -> IndexTick:
    """One value message as an `IndexTick`: its body read in its channel's shape (a body not
    in it is an `IndexMessageError`, that channel's error, not the frame's)."""
    kind = TYPE_OF.get(type(message))
    body = message.msg
    try:
        if isinstance(message, CfbValueMessage):
            cfb = msgspec.convert(body, _CfbBody)
            raw = msgspec.json.decode(cfb.data, type=_CfbRaw)
            return IndexTick(
                CFB,
                cfb.index_id,
                _seconds(cfb.received_at if raw.time is None else raw.time),
                _decimal(raw.value),
                _average(cfb.avg_60s_data),
                _average(cfb.last_60s_windowed_average_15min),
            )
        if isinstance(message, Cfb5HzValueMessage):
            fast = msgspec.convert(body, _FastBody)
            return IndexTick(
                CFB_5HZ, fast.index_id, _seconds(fast.source_ts_ms), _decimal(fast.value_usd)
            )
        if isinstance(message, PythValueMessage):
            pyth = msgspec.convert(body, _PythBody)
            return IndexTick(
                PYTH, pyth.underlying_ticker, _seconds(pyth.source_ts_ms), _decimal(pyth.value_usd)
            )
    except (ValueError, InvalidOperation) as exc:  # msgspec's errors are ValueErrors
        raise IndexMessageError(f"{kind}: {exc}") from exc
    raise IndexMessageError(f"{kind!r} is not an index value message")


def _seconds(ms: int | float) -> float:
    return float(ms) / 1000.0


def _decimal(text: str | int) -> Decimal:
    value = Decimal(text)
    if not value.is_finite():
        raise ValueError(f"a finite value, got {text!r}")
    return value


def _average(raw: _AverageBody | None) -> Average | None:
    if raw is None:
        return None
    return Average(_decimal(raw.value), raw.window_size, _seconds(raw.window_start_ts_ms))


class _Series:
    __slots__ = ("avg_tick", "history", "latest", "view")

    def __init__(self) -> None:
        self.latest: IndexTick | None = None
        self.avg_tick: IndexTick | None = None  # the latest tick of the 1 Hz channel
        self.history: deque[tuple[float, Decimal]] = deque()
        # the view of the latest tick, built once for every market and decision that reads it
        self.view: IndexView | None = None


class IndexBoard:
    """The latest of every index seen, and its recent values. Thread-safe: the feed thread
    writes, the loop reads."""

    def __init__(self, keep_s: float = KEEP_S) -> None:
        self.keep_s = keep_s
        self._lock = threading.Lock()
        self._series: dict[str, _Series] = {}
        self.ignored = 0  # ticks not after the last one of their index

    def apply(self, tick: IndexTick) -> bool:
        """Take one tick; False when its source time is not after the index's last."""
        with self._lock:
            series = self._series.get(tick.index_id)
            if series is None:
                series = self._series[tick.index_id] = _Series()
            if tick.channel == CFB:
                series.avg_tick = tick
                series.view = None
            last = series.latest
            if last is not None and tick.ts <= last.ts:
                self.ignored += 1
                return False
            series.latest = tick
            series.view = None
            history = series.history
            history.append((tick.ts, tick.value))
            horizon = tick.ts - self.keep_s
            while history and history[0][0] < horizon:
                history.popleft()
            return True

    def ids(self) -> list[str]:
        with self._lock:
            return sorted(self._series)

    def view(self, index_id: str) -> IndexView | None:
        """The index as a strategy sees it. The averages are those of the latest 1 Hz tick:
        Kalshi omits the settlement average outside a close's final minute, so the first tick
        after a close clears it."""
        with self._lock:
            series = self._series.get(index_id)
            if series is None or series.latest is None:
                return None
            if series.view is not None:
                return series.view
            history = tuple(series.history)
            avg_tick = series.avg_tick
            ts, value = history[-1]
            avg = None if avg_tick is None else avg_tick.avg_60s
            settle = None if avg_tick is None else avg_tick.settlement
            series.view = IndexView(
                index_id=index_id,
                ts=ts,
                value=value,
                avg_60s=None if avg is None else avg.value,
                avg_60s_count=0 if avg is None else avg.count,
                settlement_avg=None if settle is None else settle.value,
                settlement_count=0 if settle is None else settle.count,
                history=history,
            )
            return series.view

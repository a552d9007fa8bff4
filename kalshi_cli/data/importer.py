"""`kalshi data import --from jsonl FILE`: frames another recorder kept, as a data set. Each line is
a raw WebSocket frame or a wrapper holding one with its receive time; a frame without one is
timed by its own timestamp when it has one. Times are kept in order so sequences can be checked;
skipped lines are counted. docs/data.md "Importing what others recorded".
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from kalshi_cli.data.manifest import FORMAT, Coverage, write_manifest
from kalshi_cli.data.replay import BookReplay, LocalNote, fractional_market, iter_records
from kalshi_cli.data.segments import SegmentWriter, frame_line, held_data_set, segment_paths
from kalshi_cli.feed.messages import market_of
from kalshi_cli.vocabulary.clock import parse_iso
from kalshi_cli.vocabulary.errors import DataWriteError, NoDataError, UsageError

_FRAME_KEYS = ("frame", "message", "msg", "data")
# (key, nanoseconds a unit): a receive time in a wrapper, in a unit its name says
_TIME_KEYS = (
    ("recv_ns", 1),
    ("received_ns", 1),
    ("ts_ns", 1),
    ("recv_us", 1_000),
    ("received_us", 1_000),
    ("ts_us", 1_000),
    ("recv_ms", 1_000_000),
    ("received_ms", 1_000_000),
    ("ts_ms", 1_000_000),
    ("timestamp_ms", 1_000_000),
)
_LOOSE_TIME_KEYS = ("received", "received_at", "recv_time", "timestamp", "ts", "time")
# a frame's own time, in its `msg` (asyncapi.yaml): `ts_ms` on book deltas, tickers, trades,
# fills and order group updates; `ts` (seconds, or RFC 3339 on a delta) and `time` (RFC 3339,
# a ticker's) beside it; an index value's `source_ts_ms`; an order update's `last_updated_ts_ms`
# or `created_ts_ms`. A snapshot carries none.
_FRAME_TIME_KEYS = (
    ("ts_ms", 1_000_000),
    ("source_ts_ms", 1_000_000),
    ("last_updated_ts_ms", 1_000_000),
    ("created_ts_ms", 1_000_000),
)
_FRAME_LOOSE_TIME_KEYS = ("ts", "time")
# where a frame's time came from, besides a key: the neighbour's or the file's
LINE_BEFORE, LINE_AFTER, FILE_MTIME = "line before", "line after", "file mtime"


@dataclass(frozen=True)
class ImportSummary:
    root: Path
    lines: int
    frames: int
    markets: int
    skipped: dict[str, int]
    # frames by where their time came from: a wrapper's key (`recv_ms`), the frame's own
    # (`msg.ts_ms`), the line before or after, the file's modification time
    times: dict[str, int]


class ParsedLine(NamedTuple):
    raw: bytes | None  # the frame's bytes
    ns: int | None  # its time in ns, None when the line gives none
    time_field: str  # where `ns` came from
    skip: str  # a skip reason, or ""


def _number_to_ns(value: float) -> int:
    """Seconds, milliseconds, microseconds or nanoseconds since the epoch, judged by size."""
    magnitude = abs(value)
    if magnitude < 1e11:
        return int(value * 1e9)
    if magnitude < 1e14:
        return int(value * 1e6)
    if magnitude < 1e17:
        return int(value * 1e3)
    return int(value)


def read_time(
    obj: Mapping[str, Any], exact: tuple[tuple[str, int], ...], loose: tuple[str, ...]
) -> tuple[int, str] | None:
    """The first time among `exact` keys (a number in the key's unit) and then `loose` ones (a
    number in a unit judged by its size, or an ISO 8601 string), in ns, with its key."""
    for key, scale in exact:
        value = obj.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value * scale), key
    for key in loose:
        value = obj.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _number_to_ns(value), key
        if isinstance(value, str):
            try:
                moment = parse_iso(value)
            except ValueError:
                continue
            return int(moment.timestamp() * 1_000_000) * 1_000, key
    return None


def _frame_time(frame: Mapping[str, Any]) -> tuple[int | None, str]:
    msg = frame.get("msg")
    found = (
        read_time(msg, _FRAME_TIME_KEYS, _FRAME_LOOSE_TIME_KEYS) if isinstance(msg, dict) else None
    )
    return (None, "") if found is None else (found[0], f"msg.{found[1]}")


def parse_line(line: bytes) -> ParsedLine:
    """The frame of one line, and its time: the wrapper's receive time, else the frame's own."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json.loads goes
        return ParsedLine(None, None, "", "malformed")
    if not isinstance(obj, dict):
        return ParsedLine(None, None, "", "malformed")
    if isinstance(obj.get("type"), str):
        return ParsedLine(line.strip(), *_frame_time(obj), "")  # a raw frame: its bytes as they are
    for key in _FRAME_KEYS:
        frame = obj.get(key)
        if isinstance(frame, str):
            try:
                frame = json.loads(frame)
            except (ValueError, RecursionError):
                continue
        if isinstance(frame, dict) and isinstance(frame.get("type"), str):
            raw = json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode()
            received = read_time(obj, _TIME_KEYS, _LOOSE_TIME_KEYS)
            if received is not None:
                return ParsedLine(raw, received[0], received[1], "")
            return ParsedLine(raw, *_frame_time(frame), "")
    return ParsedLine(None, None, "", "no_frame")


def _timed(
    lines: Iterator[bytes], fallback_ns: int, skipped: Counter[str], times: Counter[str]
) -> Iterator[tuple[int, bytes]]:
    last: int | None = None
    waiting: list[bytes] = []  # untimed frames before the first timed one
    for line in lines:
        if not line.strip():
            continue
        raw, ns, field, reason = parse_line(line)
        if raw is None:
            skipped[reason] += 1
            continue
        if ns is None:
            if last is None:
                waiting.append(raw)
                continue
            ns, field = last, LINE_BEFORE
        if last is not None and ns < last:
            skipped["time_clamped"] += 1
            ns = last
        for early in waiting:
            times[LINE_AFTER] += 1
            yield ns, early
        waiting.clear()
        last = ns
        times[field] += 1
        yield ns, raw
    if waiting:
        skipped["no_receive_time"] += len(waiting)
        times[FILE_MTIME] += len(waiting)
        for early in waiting:
            yield fallback_ns, early


def import_jsonl(source: Path, root: Path) -> ImportSummary:
    # refused before the source is opened: a refusal leaves nothing open behind it
    hint = "import into a new directory: one data set per source"
    if held_data_set(root, "import", hint=hint) is not None and segment_paths(root):
        raise UsageError(f"{root} already holds a data set", hint=hint)
    try:
        handle = source.open("rb")
    except OSError as exc:
        raise NoDataError(f"cannot read {source}: {exc.strerror or exc}") from exc
    skipped: Counter[str] = Counter()
    times: Counter[str] = Counter()
    lines = frames = 0
    try:
        root.mkdir(parents=True, exist_ok=True)
        writer = SegmentWriter(root, fsync=False)
        with handle:
            fallback = int(os.fstat(handle.fileno()).st_mtime * 1e9)

            def counted() -> Iterator[bytes]:
                nonlocal lines
                for line in handle:
                    lines += 1
                    yield line

            for ns, raw in _timed(counted(), fallback, skipped, times):
                writer.write(ns, frame_line(ns, raw))
                frames += 1
        writer.close()
    except OSError as exc:
        _mark_failed(root, exc)
        raise DataWriteError(
            f"cannot write the import into {root}: {exc}",
            hint="free space or choose another directory; the partial import is marked failed",
        ) from exc
    if not frames:
        raise NoDataError(
            f"{source} holds no usable frame ({lines} lines: {_describe(skipped)})",
            hint="docs/data.md lists the line shapes `data import` reads",
        )
    coverage = Coverage()
    replay = _coverage_replay(root, coverage)
    skipped.update(replay.skipped)
    manifest = {
        "format": FORMAT,
        "source": "import",
        "imported_from": str(source),
        "status": "complete",
        "error": None,
        "started_ns": min(s["first_ns"] for s in writer.segments.values()),
        "ended_ns": max(s["last_ns"] for s in writer.segments.values()),
        "channels": [],
        "segments": {name: dict(s) for name, s in writer.segments.items()},
        "skipped": dict(sorted(skipped.items())),
        **coverage.to_json(),
    }
    try:
        write_manifest(root, manifest)
    except OSError as exc:
        raise DataWriteError(f"cannot write the manifest in {root}: {exc}") from exc
    return ImportSummary(root, lines, frames, len(coverage.markets), dict(skipped), dict(times))


def _coverage_replay(root: Path, coverage: Coverage) -> BookReplay:
    last = 0

    def listener(ns: int, kind: str, ticker: str | None, reason: str) -> None:
        if kind == "fresh" and ticker:
            coverage.fresh(ns, ticker)
        elif kind == "stale" and ticker:
            coverage.stale(ns, ticker, reason)
        elif kind == "gap":
            coverage.feed_gap(ns, f"{reason}_seq_gap")

    replay = BookReplay(listener)
    read_skips: Counter[str] = Counter()
    for ns, obj, is_local in iter_records(root, read_skips):
        replay.apply_record(ns, obj, is_local)
        last = ns
        if isinstance(obj, LocalNote):
            continue
        ticker = market_of(obj)
        if ticker is not None:
            coverage.seen(ns, ticker)
            if fractional_market(obj):
                coverage.mark_fractional(ticker)
    coverage.close(last)
    replay.skipped.update(read_skips)
    return replay


def _mark_failed(root: Path, exc: OSError) -> None:
    manifest = {"format": FORMAT, "source": "import", "status": "failed", "error": str(exc)}
    try:
        write_manifest(root, manifest)
    except OSError:
        return


def _describe(skipped: Counter[str]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items())) or "none usable"

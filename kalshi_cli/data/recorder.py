"""`kalshi record`: every WebSocket frame of the chosen channels, kept raw. The feed (`WsFeed`) with
two sinks: frames to the hour's segment, and book freshness to the manifest. It flushes at most a
second apart, stops on a write error with the manifest `failed`, and holds a lock so one recorder
runs per directory. docs/data.md "Recording: `kalshi record`".
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kalshi_cli.data.lock import lock_directory
from kalshi_cli.data.manifest import FORMAT, Coverage, read_manifest, write_manifest
from kalshi_cli.data.replay import fractional_market
from kalshi_cli.data.segments import SegmentWriter, frame_line, held_data_set
from kalshi_cli.feed.book import ORDERBOOK, FeedMessage, MessageKind, orderbook_prices
from kalshi_cli.feed.channels import LIFECYCLE, TRADE
from kalshi_cli.feed.messages import decode
from kalshi_cli.feed.ws import (
    RECONNECT_BACKOFF,
    Connector,
    HeaderSigner,
    WsFeed,
    websocket_connect,
)
from kalshi_cli.vocabulary.clock import Backoff
from kalshi_cli.vocabulary.errors import DataWriteError
from kalshi_cli.vocabulary.files import make_dir

RECORD_CHANNELS = (ORDERBOOK, TRADE, "ticker", LIFECYCLE)
_LOCAL_NOTES = {
    MessageKind.CONNECTED: "connected",
    MessageKind.DISCONNECTED: "disconnected",
    MessageKind.STALE: "stale",
    MessageKind.FRESH: "fresh",
    MessageKind.GAP: "gap",
    MessageKind.ERROR: "error",
}
_COUNTED = frozenset(
    {MessageKind.BOOK, MessageKind.TICKER, MessageKind.TRADE, MessageKind.LIFECYCLE}
)


@dataclass(frozen=True)
class RecordSummary:
    root: Path
    frames: int
    markets: int
    gaps: int
    reconnects: int
    segments: int


class Recorder:
    def __init__(
        self,
        root: Path,
        tickers: Iterable[str],
        *,
        ws_url: str,
        auth: HeaderSigner | None,
        channels: Iterable[str] = RECORD_CHANNELS,
        flush_every_s: float = 1.0,  # a duration
        level: int = 6,
        connector: Connector = websocket_connect,
        backoff: Backoff = RECONNECT_BACKOFF,
        idle_timeout: float = 30.0,  # a duration
        wall_ns: Callable[[], int] = time.time_ns,
        indices: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.root = root
        self.tickers = list(dict.fromkeys(tickers))
        # the reference indices kept beside the books (channel -> ids; feed/index.py)
        self.indices = {c: list(ids) for c, ids in (indices or {}).items() if ids}
        base = tuple(channels)
        self.channels = (*base, *(c for c in self.indices if c not in base))
        self._wall_ns = wall_ns
        make_directory(root)
        try:
            self._lock_fd = lock_directory(root)
            self.writer = SegmentWriter(root, level=level, flush_every_s=flush_every_s)
        except OSError as exc:
            raise _write_error(root, exc) from exc
        self.coverage = Coverage()
        self.frames = 0
        self.reconnects = 0
        self.error: OSError | None = None
        self.started_ns = wall_ns()
        self._last_ns = self.started_ns
        # segments of earlier runs in this data set (a restart), kept in the manifest
        self._earlier_segments: dict[str, dict[str, int]] = {}
        self._earlier_tickers: list[str] = []
        self._earlier_channels: list[str] = []
        self._resume(read_manifest(root))
        self._lock = threading.Lock()
        self.stopped = threading.Event()  # writing failed, or closed
        self._closed = False
        self._stopping = False
        self.feed = WsFeed(
            ws_url,
            self.tickers,
            sink=self._message,
            auth=auth,
            channels=self.channels,
            connector=connector,
            backoff=backoff,
            idle_timeout=idle_timeout,
            frame_sink=self._frame,
            wall_ns=wall_ns,
            indices=self.indices,
        )
        self._write_manifest("recording")

    # ---------------------------------------------------------------- feed thread

    def _frame(self, data: bytes, recv_ns: int) -> None:
        # the market's granularity, from its counts: the market answer no longer says it
        try:
            fractional = fractional_market(decode(data))
        except ValueError:  # the feed reports a malformed frame; it is recorded as it came
            fractional = None
        with self._lock:
            if fractional is not None:
                self.coverage.mark_fractional(fractional)
            if self.error is not None:
                return
            ns = max(recv_ns, self._last_ns)  # the wall clock may step back: keep time order
            self._last_ns = ns
            try:
                self.writer.write(ns, frame_line(ns, data))
                self.frames += 1
                if self.writer.due():
                    self._flush()
            except OSError as exc:
                self._fail(exc)

    def _message(self, message: FeedMessage) -> None:
        kind = message.kind
        with self._lock:
            ns = self._last_ns
            if kind in _COUNTED:
                if message.ticker is not None:
                    self.coverage.seen(ns, message.ticker)
                return
            local = _LOCAL_NOTES.get(kind)
            if local is None or self.error is not None:
                return
            if self._stopping and kind in (MessageKind.STALE, MessageKind.DISCONNECTED):
                return
            if kind is MessageKind.FRESH and message.ticker:
                self.coverage.fresh(ns, message.ticker)
            elif kind is MessageKind.STALE and message.ticker:
                self.coverage.stale(ns, message.ticker, message.reason)
            elif kind is MessageKind.DISCONNECTED:
                self.reconnects += 1
                self.coverage.feed_gap(ns, f"disconnected: {message.reason}")
            elif kind is MessageKind.GAP:
                self.coverage.feed_gap(ns, f"{message.reason}_seq_gap")
            body: dict[str, Any] = {"event": local}
            if message.ticker:
                body["ticker"] = message.ticker
            if message.reason:
                body["reason"] = message.reason
            if kind is MessageKind.CONNECTED:
                # the prices its orderbook NO levels come in: a replay reads them so
                body["orderbook_prices"] = orderbook_prices(self.feed.books.yes_priced)
            elif message.data is not None and "orderbook_prices" in message.data:
                body["orderbook_prices"] = message.data["orderbook_prices"]
            try:
                self.writer.write(ns, _local_line(ns, body))
            except OSError as exc:
                self._fail(exc)

    # ---------------------------------------------------------------- caller's thread

    def start(self) -> None:
        self.feed.start()

    def tick(self) -> None:
        """Flush when due; the caller runs it a few times a second. Raises a write error."""
        with self._lock:
            if self.error is None and self.writer.due():
                try:
                    self._flush()
                except OSError as exc:
                    self._fail(exc)
            error = self.error
        if error is not None:
            raise _write_error(self.root, error)

    def run(
        self, *, duration_s: float | None, stop: threading.Event | None = None
    ) -> RecordSummary:
        """Record until `duration_s` has passed, `stop` is set or writing fails."""
        stop = stop or threading.Event()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        self.start()
        try:
            while not stop.is_set() and not self.stopped.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self.tick()
                stop.wait(0.05)
            self.tick()
        finally:
            self.close()
        return self.summary()

    def close(self) -> None:
        with self._lock:
            # the books go stale because this recorder stops them: the end of the coverage
            # (`coverage.close` below), not a gap of each market
            self._stopping = True
        self.feed.stop()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.stopped.set()
            now = max(self._wall_ns(), self._last_ns)
            self.coverage.close(now)
            status = "failed" if self.error is not None else "complete"
            with contextlib.suppress(OSError):
                self.writer.close()
            with contextlib.suppress(OSError):  # disk full: the last manifest stands
                self._write_manifest(status, ended_ns=now)
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
        if self.error is not None:
            raise _write_error(self.root, self.error)

    def summary(self) -> RecordSummary:
        manifest = self.coverage.to_json()
        return RecordSummary(
            root=self.root,
            frames=self.frames,
            markets=len(manifest["markets"]),
            gaps=sum(len(m["gaps"]) for m in manifest["markets"].values()) + len(manifest["gaps"]),
            reconnects=self.reconnects,
            segments=len(self.writer.segments),
        )

    # ---------------------------------------------------------------- internals

    def _resume(self, earlier: dict[str, Any] | None) -> None:
        """A recorder started in a data set an earlier recorder wrote adds to it: the earlier runs'
        segments, coverage, tickers and channels stay in the manifest, the data set starts when
        the first run did, and the outage since the last run's end is a gap of the feed."""
        if earlier is None or earlier.get("source") != "record":
            return
        segments = earlier.get("segments") or {}
        self._earlier_segments = {
            str(name): dict(stats) for name, stats in segments.items() if isinstance(stats, dict)
        }
        last = [int(s.get("last_ns", 0)) for s in self._earlier_segments.values()]
        stopped = int(earlier.get("ended_ns") or max(last, default=self.started_ns))
        self._last_ns = max(self.started_ns, stopped)  # time order across the runs
        self.coverage.resume(earlier, stopped_ns=stopped, started_ns=self._last_ns)
        self.started_ns = min(int(earlier.get("started_ns") or stopped), self.started_ns)
        self._earlier_tickers = [str(t) for t in earlier.get("tickers") or []]
        self._earlier_channels = [str(c) for c in earlier.get("channels") or []]

    def _flush(self) -> None:
        self.writer.flush()
        self._write_manifest("recording")

    def _fail(self, exc: OSError) -> None:
        self.error = exc
        self.stopped.set()
        with contextlib.suppress(OSError):
            self._write_manifest("failed")

    def _write_manifest(self, status: str, ended_ns: int | None = None) -> None:
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "source": "record",
            "status": status,
            "error": None if self.error is None else str(self.error),
            "started_ns": self.started_ns,
            "ended_ns": ended_ns if ended_ns is not None else self._last_ns,
            # every run's: this one records its own, the manifest names what the set holds
            "channels": list(dict.fromkeys([*self._earlier_channels, *self.channels])),
            "tickers": list(dict.fromkeys([*self._earlier_tickers, *self.tickers])),
            "segments": {
                name: dict(s)
                for name, s in {**self._earlier_segments, **self.writer.segments}.items()
            },
            "skipped": {},
            **self.coverage.to_json(),
        }
        write_manifest(self.root, manifest)


def make_directory(root: Path) -> None:
    """The data set's directory, made if missing; DataWriteError (exit 18) for a place that
    cannot hold it, UsageError (exit 2) for one holding a download or an import
    (`held_data_set`: a recording there would replace its manifest). `kalshi record` runs it
    before anything is asked of the exchange."""
    held_data_set(root, "record", hint="record into a new directory: one data set per directory")
    try:
        make_dir(root)
    except OSError as exc:
        raise _write_error(root, exc) from exc


def _local_line(ns: int, body: dict[str, Any]) -> bytes:
    return b'{"recv_ns":%d,"local":%s}\n' % (ns, json.dumps(body, separators=(",", ":")).encode())


def _write_error(root: Path, exc: OSError) -> DataWriteError:
    return DataWriteError(
        f"cannot write the recording in {root}: {exc}",
        hint="free space or choose another --out; what was recorded before is readable",
    )

"""The trade loop's log: one JSON object per line to a file (flushed as written, mode 0600, rotated
by size), one short line per entry to stderr. Its volume is bounded, because a loop runs for
weeks and a blocked one asks again on every tick: repeats of a denial, signal, held intent or
dry-run order are coalesced into one `<kind>_summary` line per interval. See docs/trade-loop.md
"Log".
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any, TextIO

from kalshi_cli.vocabulary.clock import Clock, iso_utc, utc_datetime
from kalshi_cli.vocabulary.files import make_dir
from kalshi_cli.vocabulary.units import to_jsonable

QUIET_ON_STDERR = frozenset({"heartbeat"})
# an entry's kind -> the fields that make two of them "the same": repeats are counted, not written
COALESCED: dict[str, tuple[str, ...]] = {
    "risk_denied": ("code", "ticker"),
    "signal": ("ticker", "side", "action", "strategy"),
    "intent_held": ("ticker", "reason"),
    "dry_run_order": ("ticker", "side", "action", "price", "count"),
    # a strategy failing in a market fails at every call (after SAFE_MODE too, which stops its
    # orders, not its calls): the first in full, then a count per interval
    "strategy_error": ("strategy", "ticker", "kind"),
    # a strategy's order cut to its own part is cut again at every requote while the account
    # holds contracts not its own there (runner/loop/market_pass.py `_within_own`)
    "exit_cut": ("strategy", "ticker"),
    "order_cut": ("strategy", "ticker"),
}
# risk denial codes that hold for every market at once: coalesced by the code alone
ACCOUNT_WIDE = frozenset({"HALTED", "SAFE_MODE", "REDUCING", "CIRCUIT_BREAKER"})
# the defaults of trade.log_coalesce_s, trade.log_max_bytes and trade.log_backups
COALESCE_S = 60.0
MAX_BYTES = 50 * 1024 * 1024
BACKUPS = 5


@dataclass
class _Repeats:
    kind: str
    key_fields: dict[str, Any]
    since: float  # monotonic: the start of the current interval
    count: int = 0


class _PrivateRotatingFile(RotatingFileHandler):
    """A RotatingFileHandler whose file is created 0600 (and made so if found looser). A line
    that cannot be written (the disk is full) is dropped and remembered in `failed`, never
    printed as logging's traceback: the log is not the record (the state file is), and the
    line that says why the loop stops must be the last one on stderr."""

    failed: BaseException | None = None

    def handleError(self, record: logging.LogRecord) -> None:
        self.failed = sys.exc_info()[1]

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with contextlib.suppress(OSError):  # not ours to change: written to as it is
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding)


class EntryLog:
    def __init__(
        self,
        clock: Clock,
        *,
        path: Path | None = None,
        stderr: TextIO | None = sys.stderr,
        coalesce_s: float = COALESCE_S,
        max_bytes: int = MAX_BYTES,
        backups: int = BACKUPS,
    ) -> None:
        self.clock = clock
        self.path = path
        self.coalesce_s = coalesce_s
        self._stderr = stderr
        self._file: RotatingFileHandler | None = None
        if path is not None:
            make_dir(path.parent, private=True)
            self._file = _PrivateRotatingFile(
                path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
            )
            self._file.setFormatter(logging.Formatter("%(message)s"))
        self.counts: dict[str, int] = {}
        # the kinds whose fields a subclass keeps (`reads`), beside the file and stderr
        self.kept: frozenset[str] = frozenset()
        # one writer at a time: the loop's thread and the dispatch's workers (a market joining
        # mid-run has its group made there) both emit, and the file's rotation and the
        # coalescing below are not safe to run twice at once (not re-entrant: no signal
        # handler emits, runner/lifecycle/running.py `signals`)
        self._lock = threading.Lock()
        self._file_error: str | None = None  # why the file stopped taking lines, once said
        self._repeats: dict[tuple[str, ...], _Repeats] = {}
        self._next_summary = math.inf
        # while a thread books into an open transaction (`until`): how its lines wait for the
        # commit, and which thread that is
        self._until: Callable[[Callable[[], None]], None] | None = None
        self._until_thread: int | None = None

    @contextlib.contextmanager
    def until(self, when: Callable[[Callable[[], None]], None]) -> Iterator[None]:
        """Inside the block, each line this thread emits is handed to `when` to write (a
        store's `when_committed`: once the transaction the lines tell of has committed, never
        if it rolls back), so the log never says what the state file does not hold yet. The
        trade loop books a drain of answers so (runner/assembly.py); other threads' lines are
        written at once."""
        before = self._until, self._until_thread
        self._until, self._until_thread = when, threading.get_ident()
        try:
            yield
        finally:
            self._until, self._until_thread = before

    def reads(self, kind: str) -> bool:
        """Whether an entry of `kind` reaches anyone beyond its count (`counts`): a file or
        stderr that writes it. A caller whose fields cost work to build (each order's) emits
        them only then, and `kind` alone otherwise. A subclass that keeps entries names their
        kinds in `kept`."""
        if kind in self.kept or self._file is not None:
            return True
        return self._stderr is not None and kind not in QUIET_ON_STDERR

    def emit(self, kind: str, fields: Mapping[str, Any] | None = None) -> None:
        until = self._until
        if until is not None and threading.get_ident() == self._until_thread:
            data = dict(fields or {})  # as it is now: the caller may change its own later
            until(lambda: self._emit(kind, data))
            return
        with self._lock:  # `_emit`'s own, here without its call: every order action emits
            self._emit_locked(kind, fields)

    def _emit(self, kind: str, fields: Mapping[str, Any] | None) -> None:
        with self._lock:
            self._emit_locked(kind, fields)

    def _emit_locked(self, kind: str, fields: Mapping[str, Any] | None) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        to_stderr = self._stderr is not None and kind not in QUIET_ON_STDERR
        if self._file is None and not to_stderr:
            return  # nobody reads it: skip the formatting, which a busy loop pays per intent
        data = dict(fields or {})
        now_m = self.clock.monotonic()
        if now_m >= self._next_summary:
            self._summarize(now_m)
        keys = COALESCED.get(kind)
        if kind == "risk_denied" and to_jsonable(data.get("code")) in ACCOUNT_WIDE:
            keys = ("code",)
        if keys is not None and self.coalesce_s > 0:
            key_fields = {k: to_jsonable(data.get(k)) for k in keys}
            key = (kind, *(str(v) for v in key_fields.values()))
            repeats = self._repeats.get(key)
            if repeats is not None:
                repeats.count += 1
                return
            self._repeats[key] = _Repeats(kind, key_fields, now_m)
            self._next_summary = min(self._next_summary, now_m + self.coalesce_s)
        self._write(kind, data)

    def _write(self, kind: str, fields: Mapping[str, Any]) -> None:
        now = self.clock.wall()
        record: dict[str, Any] = {"ts": iso_utc(now), "event": kind}
        record.update(to_jsonable(dict(fields)))
        if self._file is not None:
            line = json.dumps(record, separators=(",", ":"))
            self._file.emit(logging.makeLogRecord({"msg": line}))
            self._file_failed()
        if self._stderr is not None and kind not in QUIET_ON_STDERR:
            self._say(readable(record, now) + "\n")

    def _summarize(self, now_m: float, *, everything: bool = False) -> None:
        """Write the count of each key whose interval has ended; forget the quiet ones."""
        self._next_summary = math.inf
        for key, repeats in list(self._repeats.items()):
            interval = now_m - repeats.since
            if not everything and interval < self.coalesce_s:
                self._next_summary = min(self._next_summary, repeats.since + self.coalesce_s)
                continue
            if repeats.count == 0:
                del self._repeats[key]
                continue
            self._write(
                f"{repeats.kind}_summary",
                {
                    **repeats.key_fields,
                    "count": repeats.count,
                    "interval_s": round(interval, 3),
                },
            )
            repeats.count = 0
            repeats.since = now_m
            self._next_summary = min(self._next_summary, now_m + self.coalesce_s)

    def _file_failed(self) -> None:
        """Say once on stderr that the log file stopped taking lines (they still go there)."""
        failed = getattr(self._file, "failed", None)
        if failed is None or self._file_error is not None:
            return
        self._file_error = str(failed)
        self._say(f"log file {self.path} cannot be written ({failed}); its lines are dropped\n")

    def _say(self, text: str) -> None:
        """A line on stderr. A stderr that fails (redirected to a file on a disk that filled
        up, as `kalshi trade ... 2>>trade.err` from cron) is given up, never raised: the loop
        must still withdraw its orders and stop with its own error, whatever its output does."""
        if self._stderr is None:
            return
        try:
            self._stderr.write(text)
            self._stderr.flush()
        except OSError:
            self._stderr = None

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._repeats:
            self._summarize(self.clock.monotonic(), everything=True)
            self._repeats.clear()
        if self._file is not None:
            with contextlib.suppress(OSError):  # its last lines cannot be flushed: dropped
                self._file.close()
            self._file = None


def readable(record: Mapping[str, Any], now: float) -> str:
    clock = utc_datetime(now).strftime("%H:%M:%S")
    fields = " ".join(
        f"{k}={_short(v)}" for k, v in record.items() if k not in ("ts", "event") and v is not None
    )
    return f"{clock} {record['event']} {fields}".rstrip()


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if " " in text and not text.startswith(("{", "[")):
        return json.dumps(text)
    return text

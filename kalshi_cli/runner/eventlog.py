"""The trade loop's log: one JSON object per line to a file, one short line per event to stderr.

Every line of the file is `{"ts": ISO-8601 UTC, "event": NAME, ...fields}` with Decimals as
strings, flushed as written so `tail -f` and a crash both see everything. The stderr form is for
the person watching: `HH:MM:SS event key=value ...`, and the per-loop `heartbeat` is left out of
it (it is in the file). The file is opened for append, so restarts add to the same log.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, TextIO

from kalshi_cli.clock import Clock, iso_utc, utc_datetime

QUIET_ON_STDERR = frozenset({"heartbeat"})


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


class EventLog:
    def __init__(
        self, clock: Clock, *, path: Path | None = None, stderr: TextIO | None = sys.stderr
    ) -> None:
        self.clock = clock
        self.path = path
        self._stderr = stderr
        self._file: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")
        self.counts: dict[str, int] = {}

    def emit(self, event: str, fields: Mapping[str, Any] | None = None) -> None:
        self.counts[event] = self.counts.get(event, 0) + 1
        to_stderr = self._stderr is not None and event not in QUIET_ON_STDERR
        if self._file is None and not to_stderr:
            return  # nobody reads it: skip the formatting, which a busy loop pays per intent
        now = self.clock.wall()
        record: dict[str, Any] = {"ts": iso_utc(now), "event": event}
        record.update(_plain(dict(fields or {})))
        if self._file is not None:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._file.flush()
        if to_stderr and self._stderr is not None:
            self._stderr.write(readable(record, now) + "\n")
            self._stderr.flush()

    def sink(self, kind: str, data: Mapping[str, str]) -> None:
        """The risk engine's `EventSink`."""
        self.emit(kind, data)

    def close(self) -> None:
        if self._file is not None:
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

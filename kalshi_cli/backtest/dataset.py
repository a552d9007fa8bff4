"""A data set as a sweep's worker holds it: opened by its path once per process, its segments' bytes
kept for the process's later runs. Its fingerprint is taken at every open, and a worker whose
data set changed refuses the run: runs ranked together must have read the same data.
docs/backtesting.md "Sweeps".
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kalshi_cli.data.replay import Record, iter_records
from kalshi_cli.data.segments import iter_line_blocks, segment_paths
from kalshi_cli.vocabulary.errors import ConfigError, NoDataError

CACHE_ENV = "KALSHI_DATA_CACHE_MB"
DEFAULT_CACHE_MB = 1024


class DataSetChanged(NoDataError):
    """The data set at a path is not the one a sweep was given."""


def fingerprint(data: Path) -> str:
    """The data set's identity without a pass over its frames: the manifest and
    `reference.json` (their bytes), and each segment's name, size and modification time."""
    h = hashlib.sha256()
    for name in ("manifest.json", "reference.json"):
        path = data / name
        if path.exists():
            h.update(name.encode())
            h.update(path.read_bytes())
    for path in segment_paths(data):
        st = path.stat()
        h.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class DataSet:
    """One data set, its segments' bytes held (`held`) or read from the files by each run."""

    root: Path
    fingerprint: str
    held: tuple[tuple[str, bytes], ...] | None = None  # each segment's name and bytes

    def records(self, skipped: Counter[str]) -> Iterator[Record]:
        """Every record in time order, as `data.replay.iter_records` reads them from disk."""
        if self.held is None:
            _STATS["disk_reads"][str(self.root)] += 1
            return iter_records(self.root, skipped)
        blocks = iter_line_blocks(self.root, skipped, held=self.held)
        return iter_records(self.root, skipped, blocks=blocks)

    def confirm_read(self) -> None:
        """After a run that was to read this data set: one read from its files as the run went
        (over the memory budget) must still be the one whose fingerprint was checked when it
        was opened, or the run read a recording that grew meanwhile. A held one was read whole
        and checked then (`open_dataset`)."""
        if self.held is None and fingerprint(self.root) != self.fingerprint:
            raise DataSetChanged(
                f"the data set at {self.root} changed while a run of this sweep read it",
                hint="sweep a finished recording, or a copy of one still being written",
            )


_LOCK = threading.Lock()  # a worker's threads open the data set once between them
_HELD: dict[Path, DataSet] = {}  # at most one: the data set this process read last
_STATS: dict[str, Counter[str]] = {"disk_reads": Counter(), "opens": Counter()}


def refuse_a_missing_data_set(root: Path) -> None:
    """A data set is a directory: anything else at `root` (or nothing) is NoDataError."""
    if not root.is_dir():
        raise NoDataError(
            f"no data set at {root}", hint="give --data a directory `kalshi record` wrote"
        )


def open_dataset(path: str, expected: str = "") -> DataSet:
    """The data set at `path`, from this process's memory when it holds it. `expected` is the
    fingerprint the sweep saw (empty: whatever is there now); another one is refused."""
    root = Path(path).absolute()
    refuse_a_missing_data_set(root)
    budget = _budget()
    with _LOCK:
        _STATS["opens"][str(root)] += 1
        current = fingerprint(root)
        if expected and current != expected:
            raise DataSetChanged(
                f"the data set at {root} is not the one this sweep was given "
                "(its files changed, or this machine holds another copy)",
                hint="sweep a finished recording, with the same copy at that path on every worker",
            )
        held = _HELD.get(root)
        if held is not None and held.fingerprint == current:
            return held
        paths = segment_paths(root)
        if sum(p.stat().st_size for p in paths) > budget:
            _HELD.clear()
            return DataSet(root, current)
        _STATS["disk_reads"][str(root)] += 1
        blobs = tuple((p.name, p.read_bytes()) for p in paths)
        if fingerprint(root) != current:
            raise DataSetChanged(
                f"the data set at {root} changed while it was read",
                hint="sweep a finished recording, or a copy of one still being written",
            )
        _HELD.clear()
        _HELD[root] = DataSet(root, current, blobs)
        return _HELD[root]


def _budget() -> int:
    raw = os.environ.get(CACHE_ENV, "").strip()
    if not raw:
        return DEFAULT_CACHE_MB * 1024 * 1024
    try:
        megabytes = int(raw)
    except ValueError:
        megabytes = -1
    if megabytes < 0:
        raise ConfigError(
            f"{CACHE_ENV}={raw!r} is not a number of megabytes",
            hint=f"set it to 0 or more (default {DEFAULT_CACHE_MB}), or unset it",
        )
    return megabytes * 1024 * 1024


def dataset_stats() -> dict[str, Any]:
    """This process's reads of each data set's files (`disk_reads`), and the runs that opened
    it (`opens`), by the data set's absolute path."""
    with _LOCK:
        return {
            "pid": os.getpid(),
            "disk_reads": dict(_STATS["disk_reads"]),
            "opens": dict(_STATS["opens"]),
        }

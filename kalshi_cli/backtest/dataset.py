"""A data set as a sweep's worker holds it: opened by its path once per process and kept for the
process's later runs, its records decoded once when they fit the memory budget, else its segments'
compressed bytes (each run decodes them as it goes), else nothing (each run reads the files). The
budget is a machine's: a sweep's workers there each take their share (`worker_environment`). Its
fingerprint is taken at every open, and a worker whose data set changed refuses the run: runs
ranked together must have read the same data. docs/backtesting.md "Sweeps".
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from kalshi_cli.data.replay import Record, iter_records
from kalshi_cli.data.segments import iter_line_blocks, listed_lines, segment_paths
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


# one record in this many is measured to tell what the held records take (`_size`)
SAMPLE_EVERY = 64
# records read before what they all would take is projected from them (`decode_held`)
PROJECT_FROM = 16 * SAMPLE_EVERY


@dataclass(frozen=True)
class HeldRecords:
    """A data set's records as `iter_records` read them, once, and what the reading skipped
    among them: a run replays the records and counts each skip when its reading gets there, as
    one reading the files would (a run that stops at `--to` counts none of those after)."""

    records: list[Record]
    # (the index of the record the counts were taken before, the counts); len(records): after
    # the last
    skips: tuple[tuple[int, Counter[str]], ...]
    nbytes: int  # what the records take in memory, measured on a sample (`_size`)

    def replay(self, skipped: Counter[str]) -> Iterator[Record]:
        rest = iter(self.records)
        parts: list[Iterable[Record]] = []
        at = 0
        for index, counts in self.skips:
            parts += (itertools.islice(rest, index - at), _counted(skipped, counts))
            at = index
        parts.append(rest)
        return itertools.chain.from_iterable(parts)


def _counted(skipped: Counter[str], counts: Counter[str]) -> Iterator[Record]:
    """No record: `counts` added to `skipped` when the reading gets here."""
    skipped.update(counts)
    yield from ()


class _Marking(Counter[str]):
    """The reading's skips, each noted with the number of records read before it."""

    def __init__(self) -> None:
        super().__init__()
        self.at = 0
        self.marks: dict[int, Counter[str]] = {}

    def __setitem__(self, key: str, value: int) -> None:
        self.marks.setdefault(self.at, Counter())[key] += value - self.get(key, 0)
        super().__setitem__(key, value)


def _size(obj: Any) -> int:
    """The bytes `obj` and what it holds take (a record's: its tuple, Structs, strings, numbers);
    the shared singletons (None, True, False) are not counted."""
    if obj is None or obj is True or obj is False:
        return 0
    size = sys.getsizeof(obj)
    if isinstance(obj, msgspec.Struct):
        return size + sum(_size(getattr(obj, name)) for name in obj.__struct_fields__)
    if isinstance(obj, (tuple, list)):
        return size + sum(_size(item) for item in obj)
    if isinstance(obj, dict):
        return size + sum(_size(k) + _size(v) for k, v in obj.items())
    return size


def decode_held(root: Path, held: tuple[tuple[str, bytes], ...], budget: int) -> HeldRecords | None:
    """The records of the segments `held`, decoded once for every run that replays them; None
    when they would take more than `budget` bytes (the reading stops there, or once
    `PROJECT_FROM` are read if those project more over the lines the manifest lists), or when the
    reading counted a skip not item by item, so that where it fell among them is not known, or
    skipped a record as more than a day past the clock: a run later judges it by its own."""
    skipped = _Marking()
    records: list[Record] = []
    append = records.append
    nbytes = 0
    lines = sum(listed_lines(root).values())
    blocks = iter_line_blocks(root, skipped, held=held)
    for record in iter_records(root, skipped, blocks=blocks):
        append(record)
        skipped.at = count = len(records)
        if count % SAMPLE_EVERY == 1:  # the first, and one in every SAMPLE_EVERY after it
            # the record and its place in the list, for the records it stands for
            nbytes += (_size(record) + 8) * SAMPLE_EVERY
            if nbytes > budget:
                return None
        elif count == PROJECT_FROM and nbytes * lines > budget * count:
            return None  # what the records read so far take, over the lines still to come
    if skipped.get("future_time"):
        return None  # judged against the time of this reading, not of the runs that replay it
    skips = tuple(sorted(skipped.marks.items()))
    if sum((counts for _, counts in skips), Counter()) != Counter(dict(skipped)):
        return None  # a count not taken by item (`update`): where it fell is not known
    return HeldRecords(records, skips, nbytes)


@dataclass(frozen=True)
class DataSet:
    """One data set: its records held decoded (`decoded`), its segments' bytes held (`held`),
    or neither (read from the files by each run)."""

    root: Path
    fingerprint: str
    held: tuple[tuple[str, bytes], ...] | None = None  # each segment's name and bytes
    decoded: HeldRecords | None = None

    def records(self, skipped: Counter[str]) -> Iterator[Record]:
        """Every record in time order, as `data.replay.iter_records` reads them from disk."""
        if self.decoded is not None:
            return self.decoded.replay(skipped)
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
        if (
            self.held is None
            and self.decoded is None
            and fingerprint(self.root) != self.fingerprint
        ):
            raise DataSetChanged(
                f"the data set at {self.root} changed while a run of this sweep read it",
                hint="sweep a finished recording, or a copy of one still being written",
            )


_LOCK = threading.Lock()  # a worker's threads open the data set once between them
_HELD: dict[Path, DataSet] = {}  # at most one: the data set this process read last
_STATS: dict[str, Counter[str]] = {
    "disk_reads": Counter(),
    "opens": Counter(),
    "decodes": Counter(),
}


def refuse_a_missing_data_set(root: Path) -> None:
    """A data set is a directory: anything else at `root` (or nothing) is NoDataError."""
    if not root.is_dir():
        raise NoDataError(
            f"no data set at {root}", hint="give --data a directory `kalshi record` wrote"
        )


def open_dataset(path: str, expected: str = "") -> DataSet:
    """The data set at `path`, from this process's memory when it holds it. `expected` is the
    fingerprint the sweep saw (empty: whatever is there now); another one is refused. Held
    within the budget: its decoded records when they fit, else its compressed segments."""
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
        _HELD.clear()  # the data set read before is let go before this one is decoded
        decoded = decode_held(root, blobs, budget)
        if decoded is not None:
            _STATS["decodes"][str(root)] += 1
        _HELD[root] = DataSet(root, current, blobs if decoded is None else None, decoded)
        return _HELD[root]


def worker_environment(workers: int) -> dict[str, str]:
    """What each of the `workers` processes a sweep starts on this machine is given: its share
    of this process's `KALSHI_DATA_CACHE_MB`, so that between them they hold at most that."""
    return {CACHE_ENV: str(_budget() // workers // 2**20)}


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
    """This process's reads of each data set's files (`disk_reads`), its decodings held for
    the later runs (`decodes`), and the runs that opened it (`opens`), by the data set's
    absolute path; `held_mb`: what the held data set's records take, when they are held."""
    with _LOCK:
        held = [d for d in _HELD.values() if d.decoded is not None]
        return {
            "pid": os.getpid(),
            "disk_reads": dict(_STATS["disk_reads"]),
            "decodes": dict(_STATS["decodes"]),
            "opens": dict(_STATS["opens"]),
            "held_mb": {str(d.root): round(d.decoded.nbytes / 2**20, 1) for d in held if d.decoded},
        }

"""The exchange's write-ahead journal: one JSON line per accepted input, flushed per write.

The core is deterministic given its inputs and their timestamps (ids come from counters and a
per-journal salt), so persisting the inputs is enough to rebuild every account, order, fill and
position: on start the exchange replays the lines in order. A line is written after the input has
passed validation and before the state changes, and it is flushed to the operating system before
the call returns, so a kill -9 loses nothing that was acknowledged. `fsync=True` also survives
a power cut, at a large cost in throughput.

A crash in the middle of a write leaves at most one partial last line; it was never
acknowledged, so reading drops it (and the next append starts on a fresh line).

Replay costs time in proportion to the journal, so the exchange compacts now and then: it
writes a snapshot of its whole state (a pickle next to the journal, written to a temporary
file, fsynced and renamed into place) and then starts the journal afresh (the same way). Each
journal starts with an init record carrying a generation number; a snapshot of generation g+1
holds the state after every record of journal generation g. A crash between the two steps
leaves a snapshot one generation ahead of the journal, and loading then skips that journal's
records. The snapshot is only ever read from the simulator's own data directory.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

# json.dumps with `separators` builds a new encoder on every call; one encoder, the same bytes
_encode = json.JSONEncoder(separators=(",", ":")).encode


class JournalError(Exception):
    """The journal cannot be read back (a corrupt line in the middle, an unknown record)."""


class Journal:
    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        self._fsync = fsync
        path.parent.mkdir(parents=True, exist_ok=True)
        self._records, good_bytes = _read(path)
        self._file: IO[str] = path.open("a", encoding="utf-8")
        if path.stat().st_size != good_bytes:
            # drop a torn last line so the next record starts cleanly
            self._file.truncate(good_bytes)

    def records(self) -> Iterator[dict[str, Any]]:
        """The records present when the journal was opened, then forgets them."""
        records, self._records = self._records, []
        yield from records

    def append(self, record: dict[str, Any]) -> None:
        self._file.write(_encode(record) + "\n")
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())

    def restart(self, first: dict[str, Any]) -> None:
        """Replace the journal by one holding only `first`, atomically."""
        self._file.close()
        line = (json.dumps(first, separators=(",", ":")) + "\n").encode()
        _write_atomic(self.path, lambda f: f.write(line))
        self._file = self.path.open("a", encoding="utf-8")

    def close(self) -> None:
        self._file.close()


def snapshot_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".snapshot")


def write_snapshot(journal: Path, state: dict[str, Any]) -> None:
    """Pickled straight into the file, a frame at a time: the whole snapshot is never one bytes
    object in memory (a served simulator's resident memory stepped up by a snapshot's size at
    each one)."""
    _write_atomic(
        snapshot_path(journal), lambda f: pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
    )


def read_snapshot(journal: Path) -> dict[str, Any] | None:
    path = snapshot_path(journal)
    if not path.exists():
        return None
    try:
        # our own file in our own data directory, written by write_snapshot
        state: dict[str, Any] = pickle.loads(path.read_bytes())  # noqa: S301
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
        raise JournalError(f"{path}: unreadable snapshot") from exc
    return state


def _write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _read(path: Path) -> tuple[list[dict[str, Any]], int]:
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    records: list[dict[str, Any]] = []
    offset = 0
    while offset < len(data):
        end = data.find(b"\n", offset)
        if end < 0:
            break  # torn last line: never acknowledged
        line = data[offset:end]
        try:
            records.append(json.loads(line))
        except ValueError as exc:
            raise JournalError(f"{path}: unreadable record at byte {offset}") from exc
        offset = end + 1
    return records, offset

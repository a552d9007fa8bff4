"""Hourly gzip segments of NDJSON records (`frames/*.ndjson.gz`): each line one record with its
local receive time in nanoseconds, the WebSocket frame spliced in byte for byte so the recording
is lossless. Written crash-safe (sync-flushed and fsynced at most once a second, so a crash loses
at most the last second) and read back whatever happened: a segment cut short reads up to its
last complete line, counted as `truncated_tail`. See docs/data.md "Layout and formats".
"""

from __future__ import annotations

import io
import json
import os
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from kalshi_cli.data.manifest import read_manifest
from kalshi_cli.vocabulary.errors import UsageError

# the inflater of `iter_gzip_blocks` and what it raises on a corrupt block: ISA-L's, zlib's
# interface at about five times its speed on recorded segments (a replay spent 4-5% of its CPU
# in zlib's, docs/benchmarks.md); zlib's where isal has no wheel
_inflater: Callable[..., Any] = zlib.decompressobj
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error,)
try:
    from isal import isal_zlib

    _inflater = isal_zlib.decompressobj
    # typeshed-style stubs of isal name `error` as an instance; it is the exception class
    _INFLATE_ERRORS = (zlib.error, cast(type[Exception], isal_zlib.error))
except ImportError:  # pragma: no cover - installed wherever a wheel is
    pass

FRAMES_DIR = "frames"
# a download's REST history (candles, markets, settlements): `rest/KIND.ndjson.gz`
REST_DIR = "rest"
SUFFIX = ".ndjson.gz"
NS_PER_HOUR = 3_600_000_000_000
_CHUNK = 1 << 18


def segment_hour(recv_ns: int) -> int:
    return recv_ns // NS_PER_HOUR


def frame_line(recv_ns: int, raw: bytes) -> bytes:
    """One record for a frame, the frame's bytes kept as they are when they are one JSON
    object on one line; otherwise (never seen from Kalshi) as an escaped string."""
    body = raw.strip()
    if body[:1] == b"{" and body[-1:] == b"}" and b"\n" not in body and b"\r" not in body:
        return b'{"recv_ns":%d,"frame":%s}\n' % (recv_ns, body)
    text = json.dumps(raw.decode("utf-8", "replace"))
    return b'{"recv_ns":%d,"frame_text":%s}\n' % (recv_ns, text.encode())


class SegmentWriter:
    """Appends records to the current hour's segment. Not thread-safe: the caller locks."""

    def __init__(
        self,
        root: Path,
        *,
        level: int = 6,
        flush_every_s: float = 1.0,  # a duration
        monotonic: Callable[[], float] = time.monotonic,
        fsync: bool = True,
    ) -> None:
        self.dir = root / FRAMES_DIR
        self.level = level
        self.flush_every_s = flush_every_s
        self.fsync = fsync
        self._monotonic = monotonic
        self._fd: int | None = None
        self._z: zlib._Compress | None = None
        self._hour: int | None = None
        self._flushed_at = monotonic()
        self._pending = False
        self.path: Path | None = None
        # file name -> {"first_ns", "last_ns", "lines"}, for the manifest: what has reached
        # the file (flushed), so a reader finds at least the lines it lists (`short_segment`)
        self.segments: dict[str, dict[str, int]] = {}
        self._written = {"first_ns": 0, "last_ns": 0, "lines": 0}  # the current segment's
        self.dir.mkdir(parents=True, exist_ok=True)

    def write(self, recv_ns: int, line: bytes) -> None:
        hour = segment_hour(recv_ns)
        if hour != self._hour:
            self._rotate(hour)
        assert self._z is not None and self.path is not None
        stats = self._written
        if not stats["lines"]:
            stats["first_ns"] = recv_ns
        stats["last_ns"] = recv_ns
        stats["lines"] += 1
        out = self._z.compress(line)
        if out:
            self._write(out)
        self._pending = True

    def _rotate(self, hour: int) -> None:
        self.close()
        stamp = datetime.fromtimestamp(hour * 3600, tz=UTC).strftime("%Y%m%dT%HZ")
        n = 0
        while (self.dir / f"{stamp}.{n:03d}{SUFFIX}").exists():
            n += 1
        self.path = self.dir / f"{stamp}.{n:03d}{SUFFIX}"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._z = zlib.compressobj(self.level, zlib.DEFLATED, 31)
        self._hour = hour
        self._written = {"first_ns": 0, "last_ns": 0, "lines": 0}
        self.segments[self.path.name] = dict(self._written)

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def due(self) -> bool:
        return self._pending and self._monotonic() - self._flushed_at >= self.flush_every_s

    def flush(self) -> None:
        """Everything written so far reaches the file (and the disk, with `fsync`)."""
        self._flushed_at = self._monotonic()
        if self._z is None or not self._pending:
            return
        self._write(self._z.flush(zlib.Z_SYNC_FLUSH))
        if self.fsync and self._fd is not None:
            os.fsync(self._fd)
        self._pending = False
        self._commit()

    def close(self) -> None:
        if self._z is not None and self._fd is not None:
            try:
                self._write(self._z.flush(zlib.Z_FINISH))
                if self.fsync:
                    os.fsync(self._fd)
                self._commit()
            finally:
                os.close(self._fd)
        self._z, self._fd, self._hour, self._pending = None, None, None, False

    def _commit(self) -> None:
        """The current segment's lines have reached its file: the manifest may list them."""
        if self.path is not None:
            self.segments[self.path.name] = dict(self._written)


def segment_paths(root: Path) -> list[Path]:
    return sorted((root / FRAMES_DIR).glob(f"*{SUFFIX}"))


def held_data_set(root: Path, source: str, *, hint: str) -> dict[str, Any] | None:
    """One data set per directory, whichever command writes it: the manifest `root` holds when its
    source is `source`, None when it holds none. Another source's data set, or segments with no
    manifest, is refused (UsageError, with `hint`), before anything is asked or written."""
    if not root.is_dir():
        return None
    manifest = read_manifest(root)
    if manifest is None:
        if segment_paths(root):
            raise UsageError(f"{root} already holds a data set", hint=hint)
        return None
    if manifest.get("source") != source:
        raise UsageError(f"{root} holds a {manifest.get('source')} data set", hint=hint)
    return manifest


def iter_segment_lines(path: Path, skipped: Counter[str]) -> Iterator[bytes]:
    """The complete lines of one segment, bare; a cut-off tail (a crash) is counted, not raised."""
    with path.open("rb") as fh:
        yield from _bare(iter_gzip_blocks(fh, skipped))


def iter_gzip_blocks(fh: BinaryIO, skipped: Counter[str]) -> Iterator[list[bytes]]:
    """The complete lines of one segment read from `fh` (its file, or its bytes held in memory:
    `io.BytesIO`), a decompressed block of lines at a time: a replay reads millions of
    lines, and each generator a line passes through costs it a step (iter_records).

    Each line keeps the end that ends it, which the replay reads as JSON's whitespace: a block
    with no carriage return is split where each newline stands (`readlines`, which finds them
    with `memchr`), the same lines as `splitlines` for far fewer instructions
    (docs/benchmarks.md); one with a carriage return is split by `splitlines`, which ends a
    line there too. A reader that wants bare lines takes `iter_lines` or
    `iter_segment_lines`."""
    z = _inflater(wbits=31)
    rest = b""
    while True:
        chunk = fh.read(_CHUNK)
        if not chunk:
            break
        try:
            data = z.decompress(chunk)
            while z.eof and z.unused_data:  # another gzip member follows
                tail = z.unused_data
                z = _inflater(wbits=31)
                data += z.decompress(tail)
        except _INFLATE_ERRORS:
            skipped["corrupt_block"] += 1
            break
        if not data:
            continue
        data = rest + data
        if b"\r" not in data:
            lines = io.BytesIO(data).readlines()
            rest = b"" if lines[-1].endswith(b"\n") else lines.pop()
            if lines:
                yield lines
            continue
        cut = data.rfind(b"\n") + 1
        rest = data[cut:]
        if cut:
            yield data[:cut].splitlines(keepends=True)
    if rest:
        skipped["truncated_tail"] += 1


def iter_lines(root: Path, skipped: Counter[str]) -> Iterator[bytes]:
    """The data set's lines as `iter_line_blocks` reads them, each without its end."""
    return _bare(iter_line_blocks(root, skipped))


def _bare(blocks: Iterator[list[bytes]]) -> Iterator[bytes]:
    for block in blocks:
        for line in block:
            yield line.rstrip(b"\r\n")


def iter_line_blocks(
    root: Path,
    skipped: Counter[str],
    *,
    held: Sequence[tuple[str, bytes]] | None = None,
) -> Iterator[list[bytes]]:
    """`iter_lines` a block of lines at a time; `held` are the segments when already in memory. The
    segments are checked against the manifest as each is passed: one missing is
    `missing_segment`, one read whole with fewer lines than listed `short_segment`, so a data set
    that lost an hour never reads as a shorter whole. Each line keeps its end, as
    `iter_gzip_blocks` splits it."""
    listed = listed_lines(root)
    present: list[tuple[str, Path | bytes]] = (
        [(path.name, path) for path in segment_paths(root)] if held is None else list(held)
    )
    gone = sorted(set(listed) - {name for name, _ in present})
    for name, source in present:
        while gone and gone[0] < name:  # the reading has passed where it would be
            skipped["missing_segment"] += 1
            gone.pop(0)
        read, damaged = 0, skipped["truncated_tail"] + skipped["corrupt_block"]
        with source.open("rb") if isinstance(source, Path) else io.BytesIO(source) as fh:
            for block in iter_gzip_blocks(fh, skipped):
                read += len(block)
                yield block
        # a segment cut mid-line or damaged is already counted as such
        whole = skipped["truncated_tail"] + skipped["corrupt_block"] == damaged
        if whole and read < listed.get(name, 0):
            skipped["short_segment"] += 1
    if gone:
        skipped["missing_segment"] += len(gone)


def listed_lines(root: Path) -> dict[str, int]:
    """The whole lines the manifest says each segment holds (what its writer had flushed when
    the manifest was written: after a crash the segment holds as many or more)."""
    segments = (read_manifest(root) or {}).get("segments")
    if not isinstance(segments, dict):
        return {}
    listed = {}
    for name, stats in segments.items():
        lines = stats.get("lines") if isinstance(stats, dict) else None
        if isinstance(lines, int) and not isinstance(lines, bool):
            listed[str(name)] = lines
    return listed

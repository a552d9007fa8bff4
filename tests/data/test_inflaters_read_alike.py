"""A segment reads the same through ISA-L's inflater (the dependency, where it has a wheel) and
through zlib's (the fallback without one): every line of each gzip member, and a damaged block
counted once as `corrupt_block` (data/segments.py `iter_gzip_blocks`)."""

from __future__ import annotations

import gzip
import io
import zlib
from collections import Counter
from typing import Any

import pytest
from isal import isal_zlib

from kalshi_cli.data import segments

LINES = [b'{"recv_ns":%d,"frame":{"type":"ok","n":%d}}' % (i, i) for i in range(5000)]


def _read(raw: bytes) -> tuple[list[bytes], Counter[str]]:
    skipped: Counter[str] = Counter()
    read = [
        line.rstrip(b"\n")
        for b in segments.iter_gzip_blocks(io.BytesIO(raw), skipped)
        for line in b
    ]
    return read, skipped


def _read_with(inflater: object, raw: bytes, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(segments, "_inflater", inflater)
    return _read(raw)


def test_both_inflaters_read_every_member_and_count_a_damaged_block_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # two members, as a segment appended to after a restart is written
    first, second = b"\n".join(LINES[:2500]) + b"\n", b"\n".join(LINES[2500:]) + b"\n"
    whole = gzip.compress(first) + gzip.compress(second)
    cut = len(gzip.compress(first)) + 40  # a block of the second member damaged
    damaged = whole[:cut] + bytes(b ^ 0xFF for b in whole[cut : cut + 200]) + whole[cut + 200 :]
    for raw, expected in ((whole, Counter()), (damaged, Counter({"corrupt_block": 1}))):
        isal_read = _read_with(isal_zlib.decompressobj, raw, monkeypatch)
        zlib_read = _read_with(zlib.decompressobj, raw, monkeypatch)
        assert isal_read == zlib_read
        lines, skipped = isal_read
        assert skipped == expected
        assert lines == (LINES if raw is whole else LINES[: len(lines)])

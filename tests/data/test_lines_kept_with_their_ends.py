"""A segment's lines are split by one rule (data/segments.py `iter_gzip_blocks`): each line keeps
the end that ends it, across the blocks a segment is decompressed in, a cut-off tail counted; a
block with a carriage return is split where `splitlines` splits it. The replay reads those lines
as they are (data/replay.py `iter_records`: the same records as from bare lines), and the readers
that want bare lines (`iter_lines`, `iter_segment_lines`) get `splitlines`' lines."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

from kalshi_cli.data import segments
from kalshi_cli.data.replay import iter_records

# hex digests compress little: the segment is decompressed in several blocks, a line cut
# between two
LINES = [
    b'{"recv_ns":%d,"frame":{"type":"ok","id":%d,"pad":"%s"}}'
    % (i + 1, i, hashlib.sha256(b"%d" % i).hexdigest().encode() * (1 + i % 3))
    for i in range(20000)
]


def _blocks(raw: bytes) -> tuple[list[list[bytes]], Counter[str]]:
    skipped: Counter[str] = Counter()
    blocks = list(segments.iter_gzip_blocks(io.BytesIO(raw), skipped))
    return blocks, skipped


def _bare(raw: bytes, tmp_path: Path) -> tuple[list[bytes], Counter[str]]:
    segment = tmp_path / "segment.ndjson.gz"
    segment.write_bytes(raw)
    skipped: Counter[str] = Counter()
    return list(segments.iter_segment_lines(segment, skipped)), skipped


def test_each_line_keeps_its_end_across_blocks_and_bare_readers_get_it_without(
    tmp_path: Path,
) -> None:
    text = b"\n".join(LINES) + b"\n"
    assert len(gzip.compress(text)) > 2 * segments._CHUNK
    cut_off = Counter({"truncated_tail": 1})
    for raw, tail in ((gzip.compress(text), Counter()), (gzip.compress(text + b'{"cut'), cut_off)):
        ended, ended_skipped = _blocks(raw)
        assert len(ended) > 1
        assert [line for b in ended for line in b] == [line + b"\n" for line in LINES]
        assert ended_skipped == tail
        assert _bare(raw, tmp_path) == (LINES, tail)


def test_a_block_with_a_carriage_return_is_split_where_splitlines_splits_it(
    tmp_path: Path,
) -> None:
    # a lone carriage return ends a line for `splitlines`: two halves, each malformed
    text = b"\r\n".join(LINES[:3]) + b"\r\n" + LINES[3][:20] + b"\r" + LINES[3][20:] + b"\n"
    raw = gzip.compress(text)
    ended, _ = _blocks(raw)
    assert [line for b in ended for line in b] == text.splitlines(keepends=True)
    assert _bare(raw, tmp_path) == (text.splitlines(), Counter())
    assert text.splitlines() == [*LINES[:3], LINES[3][:20], LINES[3][20:]]


def test_the_records_read_are_the_same_with_the_ends_kept(tmp_path: Path) -> None:
    lines = [*LINES[:50], b"", b"  ", b"[1, 2]", b'{"recv_ns": "x"}', *LINES[50:100]]
    by_line: Counter[str] = Counter()
    read = list(iter_records(tmp_path, by_line, blocks=[lines], now_ns=10**18))
    assert by_line == Counter({"malformed": 4})
    assert [ns for ns, _, _ in read] == [json.loads(line)["recv_ns"] for line in LINES[:100]]
    for end in (b"\n", b"\r\n"):
        text = end.join(lines) + end
        by_ended_line: Counter[str] = Counter()
        # the root is not read: the blocks are given, as the segment's reader splits them
        ended_blocks, _ = _blocks(gzip.compress(text))
        ended = list(iter_records(tmp_path, by_ended_line, blocks=ended_blocks, now_ns=10**18))
        assert ended == read
        assert by_ended_line == by_line

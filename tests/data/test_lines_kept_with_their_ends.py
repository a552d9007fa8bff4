"""A replay reads a segment's lines with the newline that ends each (data/segments.py
`iter_gzip_blocks`, `ends`): the same lines as without, across the blocks a segment is
decompressed in, a cut-off tail counted alike; a block with a carriage return is split as
`splitlines` splits it, and the records read are the same either way (data/replay.py
`iter_records`)."""

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


def _blocks(raw: bytes, *, ends: bool) -> tuple[list[list[bytes]], Counter[str]]:
    skipped: Counter[str] = Counter()
    blocks = list(segments.iter_gzip_blocks(io.BytesIO(raw), skipped, ends=ends))
    return blocks, skipped


def test_lines_kept_with_their_ends_are_the_same_lines_across_blocks() -> None:
    text = b"\n".join(LINES) + b"\n"
    assert len(gzip.compress(text)) > 2 * segments._CHUNK
    cut_off = Counter({"truncated_tail": 1})
    for raw, tail in ((gzip.compress(text), Counter()), (gzip.compress(text + b'{"cut'), cut_off)):
        plain, plain_skipped = _blocks(raw, ends=False)
        ended, ended_skipped = _blocks(raw, ends=True)
        assert len(ended) > 1
        assert [len(b) for b in ended] == [len(b) for b in plain]
        assert [line for b in ended for line in b] == [line + b"\n" for b in plain for line in b]
        assert [line for b in plain for line in b] == LINES
        assert ended_skipped == plain_skipped == tail


def test_a_block_with_a_carriage_return_is_split_where_splitlines_splits_it() -> None:
    # a lone carriage return ends a line for `splitlines`: two halves, each malformed
    text = b"\r\n".join(LINES[:3]) + b"\r\n" + LINES[3][:20] + b"\r" + LINES[3][20:] + b"\n"
    raw = gzip.compress(text)
    ended, _ = _blocks(raw, ends=True)
    plain, _ = _blocks(raw, ends=False)
    assert ended == plain
    assert [line for b in ended for line in b] == [*LINES[:3], LINES[3][:20], LINES[3][20:]]


def test_the_records_read_are_the_same_with_the_ends_kept(tmp_path: Path) -> None:
    lines = [*LINES[:50], b"", b"  ", b"[1, 2]", b'{"recv_ns": "x"}', *LINES[50:100]]
    text = b"\n".join(lines) + b"\n"
    by_line: Counter[str] = Counter()
    by_ended_line: Counter[str] = Counter()
    # the root is not read: the blocks are given
    read = list(iter_records(tmp_path, by_line, blocks=[lines], now_ns=10**18))
    ended_blocks = [io.BytesIO(text).readlines()]
    ended = list(iter_records(tmp_path, by_ended_line, blocks=ended_blocks, now_ns=10**18))
    assert read == ended
    assert by_line == by_ended_line == Counter({"malformed": 4})
    assert [ns for ns, _, _ in read] == [json.loads(line)["recv_ns"] for line in LINES[:100]]

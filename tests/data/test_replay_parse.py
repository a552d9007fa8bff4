"""The replay's fast paths give what the plain standard library gives (data/replay.py "Speed"):
`parse_line` parses every line to what `json.loads` parses it to, or refuses it as `json.loads`
does; `LocalBook.apply_delta`, which keeps the
Decimal of a text seen before, ends in the same book as a reference that parses every text."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from itertools import zip_longest
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.data.importer import import_jsonl
from kalshi_cli.data.replay import BookReplay, iter_records, parse_line, replay
from kalshi_cli.data.segments import SegmentWriter, frame_line
from kalshi_cli.feed.book import LocalBook
from kalshi_cli.feed.messages import SnapshotMessage
from tests.feed import wire

LINES = [
    b'{"recv_ns":1,"frame":{"type":"orderbook_delta","sid":1,"seq":2}}',
    b'  {"recv_ns":1}',  # leading whitespace
    b'{"recv_ns":1}  \t',  # trailing whitespace
    b'\xef\xbb\xbf{"recv_ns":1}',  # a UTF-8 byte-order mark
    b'{"recv_ns":1}{"recv_ns":2}',  # extra data
    b'{"recv_ns":1} x',
    b'{"a":NaN,"b":Infinity,"c":-Infinity}',
    b'{"big":123456789012345678901234567890,"neg":-9223372036854775809}',  # beyond 64 bits
    b'{"n":-0,"f":-0.0,"e":1e400,"g":0.1,"h":1.7976931348623157e308}',
    b'{"s":"\\ud800"}',  # a lone surrogate escape
    b'{"s":"caf\xc3\xa9 \\u00e9 \\n"}',
    b'{"s":"\xff"}',  # not UTF-8
    b'{"k":1,"k":2}',  # a repeated key: the last wins
    b"[1,2,3]",
    b'"text"',
    b"",
    b"{",
    b'{"recv_ns":',
    b"null",
    b'{"deep":' + b"[" * 50 + b"]" * 50 + b"}",
]


def outcome(parse: Callable[[bytes], Any], line: bytes) -> tuple[str, Any]:
    try:
        value = parse(line)
    except ValueError:
        return "refused", None
    return "parsed", repr(value)  # repr: NaN != NaN, and -0.0 == 0 would hide a difference


@pytest.mark.parametrize("line", LINES)
def test_the_fast_parse_matches_json_loads(line: bytes) -> None:
    assert outcome(parse_line, line) == outcome(json.loads, line)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    )
)
def test_any_json_value_parses_as_json_loads_parses_it(value: Any) -> None:
    line = json.dumps(value).encode()
    assert outcome(parse_line, line) == outcome(json.loads, line)
    assert outcome(parse_line, b" " + line + b"\n") == outcome(json.loads, line)


class ReferenceBook:
    """LocalBook.apply_delta's rule, every text parsed with Decimal()."""

    def __init__(self) -> None:
        self.yes: dict[Decimal, Decimal] = {}
        self.no: dict[Decimal, Decimal] = {}
        self.fresh = True

    def apply_delta(self, side: str, price: Any, delta: Any) -> bool:
        if not self.fresh:
            return True
        levels = self.yes if side == "yes" else self.no if side == "no" else None
        if levels is None:
            self.fresh = False
            return False
        try:
            p, d = Decimal(price), Decimal(delta)
            size = levels.get(p, Decimal(0)) + d
            # an endless size is no size (no defaults in money): the book goes stale
            if not Decimal(0) < p < Decimal(1) or not size.is_finite() or size < 0:
                self.fresh = False
                return False
            # nor is a price finer than any market's tick, or a size finer than a hundredth
            if p % Decimal("0.0001") or d % Decimal("0.01"):
                self.fresh = False
                return False
        except (InvalidOperation, TypeError):
            self.fresh = False
            return False
        if size:
            other = self.no if levels is self.yes else self.yes
            if p not in levels and other and p + max(other) >= 1:  # a crossed book
                self.fresh = False
                return False
            levels[p] = size
        else:
            levels.pop(p, None)
        return True


PRICE_TEXTS = ["0.5", "0.50", "0.5000", "0.96", "0.9600", "0.01", "0.0100", "0.999", "1", "0"]
PRICE_TEXTS += ["1.5", "-0.2", "x", "NaN", "", "0.5e0", "0.0015", "0.00015", "0.960000"]
DELTA_TEXTS = ["1", "1.00", "10", "-1", "-1.00", "-10", "0.01", "-0.01", "5.5", "abc", "Infinity"]
DELTA_TEXTS += ["0.005", "1E+2"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["yes", "no", "yes", "no", "maybe"]),
            st.sampled_from(PRICE_TEXTS) | st.just(0.5) | st.just(None),
            st.sampled_from(DELTA_TEXTS) | st.integers(-3, 3),
        ),
        max_size=60,
    )
)
def test_the_kept_decimals_give_the_same_book_as_parsing_each_text(
    deltas: list[tuple[str, Any, Any]],
) -> None:
    book, reference = LocalBook("T"), ReferenceBook()
    book.fresh = True
    for side, price, delta in deltas:
        assert book.apply_delta(side, price, delta) == reference.apply_delta(side, price, delta)
        assert book.fresh == reference.fresh
        assert book.yes == reference.yes and book.no == reference.no
        # read out as Kalshi writes them, whatever text the delta used ("0.96" and "0.9600" are
        # one level, "0.9600"): prices to 4 places, sizes to 2
        for side_of in (lambda b: b.yes, lambda b: b.no):
            assert {str(k): str(v) for k, v in side_of(book).items()} == {
                f"{k:.4f}": f"{v:.2f}" for k, v in side_of(reference).items()
            }


# msgspec-specific shapes (data/replay.py "Speed"): what msgspec refuses goes to the standard
# library, so each of these must still end where json.loads ends
MSGSPEC_LINES = [
    b'{"s":"\xed\xa0\x80"}',  # a surrogate encoded as UTF-8 bytes: json.loads keeps it
    b'{"s":"\\ud83dx","t":"\\udc00"}',  # lone surrogate escapes, high and low
    b'{"s":"\\ud83d\\ude00"}',  # a pair: one character
    b'{"a":5e-324,"b":1e-400,"c":2.2250738585072011e-308,"d":-1e400}',
    b'{"a":1.00000000000000011102230246251565404236316680908203125}',
    b'{"a":01}',
    b'{"a":.5}',
    b'{"a":+1}',
    b'{"a":1}\x00',
    b'{"a":1}\x0b',
    b'{"a":1}\xc2\xa0',
    b'{"a":"\t"}',
    b'{"a":"\x7f"}',
    b'{"a":[1,]}',
    b'{"recv_ns":1717171717000000000,"frame":{"seq":18446744073709551616}}',
    b"[" * 500 + b"]" * 500,
]


@pytest.mark.parametrize("line", MSGSPEC_LINES)
def test_lines_msgspec_refuses_end_where_json_loads_ends(line: bytes) -> None:
    assert outcome(parse_line, line) == outcome(json.loads, line)


@settings(max_examples=500, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["%r", "%.17g", "%.25e"]))
def test_a_float_in_any_spelling_parses_to_the_float_json_loads_gives(x: float, form: str) -> None:
    line = b'{"x":' + (form % x).encode() + b"}"
    assert outcome(parse_line, line) == outcome(json.loads, line)


def awkward_recording(seed: int) -> list[tuple[int, bytes]]:
    """Book frames over 8 markets on two subscriptions with what a real recording can hold:
    malformed lines, a time going back, sequence gaps, repeats, bad deltas and snapshots,
    reconnects, lines only json.loads parses, and `frame_text` records."""
    rng = random.Random(seed)
    tickers = [f"M{i}" for i in range(8)]
    seq = {1: 0, 2: 0}
    ns = 1_700_000_000_000_000_000
    lines: list[tuple[int, bytes]] = []
    # both sides' bids under 0.5: a book that never crosses, as no exchange's does
    prices = ["0.01", "0.4000", "0.40", "0.45", "0.06", "0.0600", "0.49"]
    sizes = ["1.00", "3", "10.50", "0.01", "2"]

    def rare(common: list[str], odd: list[str]) -> str:  # an impossible value one time in 100
        return rng.choice(odd) if rng.random() < 0.01 else rng.choice(common)

    def put(raw: str | bytes) -> None:
        nonlocal ns
        ns += rng.randint(1, 10**6)
        body = raw.encode() if isinstance(raw, str) else raw
        lines.append((ns, frame_line(ns, body)))

    for i in range(3000):
        sid = rng.choice([1, 2])
        ticker = tickers[(sid - 1) * 4 + rng.randrange(4)]
        roll = rng.random()
        if roll < 0.85 or roll >= 0.96:  # a book frame: the next seq, or past it (a gap)
            seq[sid] += rng.randint(2, 4) if roll < 0.004 else 1
        if roll < 0.08:
            levels = [[rare(prices, ["1.2"]), rare(["1.00", "50"], ["-2.00"])] for _ in range(3)]
            # a side lists each price once, as a real book does (0.40 and 0.4000 are one)
            levels[1][0] = rng.choice([p for p in prices if Decimal(p) != Decimal(levels[0][0])])
            put(wire.snapshot(sid, seq[sid], ticker, yes=levels[:2], no=levels[2:]))
        elif roll < 0.85:
            side, price = rare(["yes", "no"], ["maybe"]), rare(prices, ["0"])
            put(wire.delta(sid, seq[sid], ticker, f"{side} {price} {rare(sizes, ['-99'])}"))
            if rng.random() < 0.02:
                put(wire.delta(sid, seq[sid], ticker, "yes 0.5 1"))  # a repeat
        elif roll < 0.88:
            put(wire.trade(9, i, ticker))
        elif roll < 0.885:
            ns += 1
            lines.append((ns, b'{"recv_ns":%d,"local":{"event":"connected"}}\n' % ns))
            seq = {1: 0, 2: 0}
        elif roll < 0.92:
            put(b'{"type":"ticker","sid":3,"msg":{"price":NaN,"s":"\\ud800"}}')  # json.loads only
        elif roll < 0.93:
            put(b'{"type": "orderbook_delta",\n "sid": 1}')  # kept as frame_text
        elif roll < 0.95:
            ns += 1
            lines.append((ns, rng.choice([b"not json\n", b'{"recv_ns":\n', b'{"s":"\xff"}\n'])))
        elif roll < 0.96:
            lines.append((ns - 10**9, frame_line(ns - 10**9, b'{"type":"ok"}')))  # back in time
        else:
            put(wire.delta(sid, seq[sid], ticker, f"yes {rng.choice(prices)} 1.00"))
    return lines


def book_state(books: BookReplay) -> dict[str, Any]:
    return {
        t: (b.fresh, sorted(map(str, b.yes.items())), sorted(map(str, b.no.items())))
        for t, b in books.books.items()
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_replay_gives_json_loads_books_on_an_awkward_recording(
    tmp_path: Path, seed: int
) -> None:
    writer = SegmentWriter(tmp_path, fsync=False)
    for ns, line in awkward_recording(seed):
        writer.write(ns, line)
    writer.close()
    fast_skips: Counter[str] = Counter()
    ref_skips: Counter[str] = Counter()
    fast, ref = BookReplay(), BookReplay()
    snapshots = 0
    for a, b in zip_longest(
        iter_records(tmp_path, fast_skips), iter_records(tmp_path, ref_skips, json.loads)
    ):
        assert repr(a) == repr(b)
        fast.apply_record(*a)
        ref.apply_record(*b)
        if isinstance(a[1], SnapshotMessage):  # the books at every snapshot point
            snapshots += 1
            assert book_state(fast) == book_state(ref)
    assert fast_skips == ref_skips and fast.skipped == ref.skipped
    # the recording holds every kind of trouble, and the whole replay agrees on it too
    assert snapshots > 100 and fast.applied > 1000
    for why in ("malformed", "out_of_order", "seq_gap", "stale_delta", "duplicate", "bad_delta"):
        assert fast_skips[why] + fast.skipped[why] > 0, why
    assert fast.frames["ticker"] > 0  # the lines only json.loads parses were parsed
    whole, reference = replay(tmp_path), replay(tmp_path, parse=json.loads)
    assert book_state(whole) == book_state(reference)
    assert whole.skipped == reference.skipped and whole.frames == reference.frames


def test_a_line_nested_past_the_parsers_limit_is_malformed_not_a_traceback(
    tmp_path: Path,
) -> None:
    """A line too deep for any JSON parser here (json.loads raises RecursionError on it) is one
    more malformed line: the records around it are read (data/replay.py, docs/data.md)."""
    deep = b'{"recv_ns":2,"frame":' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    writer = SegmentWriter(tmp_path, fsync=False)
    writer.write(1, frame_line(1, wire.snapshot(1, 1, "M", yes=[["0.4000", "10.00"]]).encode()))
    writer.write(2, deep)
    writer.write(3, frame_line(3, wire.delta(1, 2, "M", "yes 0.4000 1.00").encode()))
    writer.close()
    books = replay(tmp_path)
    assert books.skipped == Counter(malformed=1)
    assert books.books["M"].yes == {Decimal("0.4"): Decimal(11)}


def test_an_import_or_a_frame_text_nested_too_deep_is_counted_not_a_traceback(
    tmp_path: Path,
) -> None:
    """The same for `kalshi data import` (a line nested too deep, as a record and as a wrapped
    frame's text: malformed, and the frame after it imported) and for a recording's
    `frame_text` record."""
    nest = "[" * 100_000 + "]" * 100_000
    snap = wire.snapshot(1, 1, "M", yes=[["0.4000", "10.00"]])
    source = tmp_path / "in.jsonl"
    source.write_text(
        "\n".join(
            [
                nest,
                json.dumps({"received_ms": 1_728_000_000_000, "frame": nest}),
                json.dumps({"received_ms": 1_728_000_000_000, "frame": json.loads(snap)}),
            ]
        ),
        encoding="utf-8",
    )
    summary = import_jsonl(source, tmp_path / "set")
    assert summary.skipped == {"malformed": 1, "no_frame": 1}
    assert replay(tmp_path / "set").books["M"].yes == {Decimal("0.4"): Decimal(10)}

    writer = SegmentWriter(tmp_path / "rec", fsync=False)
    writer.write(1, frame_line(1, snap.encode()))
    writer.write(2, b'{"recv_ns":2,"frame_text":%s}\n' % json.dumps(nest).encode())
    writer.close()
    books = replay(tmp_path / "rec")
    assert books.skipped == Counter(malformed=1)
    assert books.books["M"].yes == {Decimal("0.4"): Decimal(10)}

"""The replay's fast paths give what the plain standard library gives (data/replay.py "Speed"):
`parse_line` parses every line to what `json.loads` parses it to, or refuses it as `json.loads`
does; `LocalBook.apply_delta`, which keeps the
Decimal of a text seen before, ends in the same book as a reference that parses every text."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.data.replay import parse_line
from kalshi_cli.feed.book import LocalBook

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
    """LocalBook.apply_delta as it was: every text parsed with Decimal()."""

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
            p = Decimal(price)
            size = levels.get(p, Decimal(0)) + Decimal(delta)
            if not Decimal(0) < p < Decimal(1) or size < 0:
                self.fresh = False
                return False
        except (InvalidOperation, TypeError):
            self.fresh = False
            return False
        if size:
            levels[p] = size
        else:
            levels.pop(p, None)
        return True


PRICE_TEXTS = ["0.5", "0.50", "0.5000", "0.96", "0.9600", "0.01", "0.0100", "0.999", "1", "0"]
PRICE_TEXTS += ["1.5", "-0.2", "x", "NaN", "", "0.5e0"]
DELTA_TEXTS = ["1", "1.00", "10", "-1", "-1.00", "-10", "0.01", "-0.01", "5.5", "abc", "Infinity"]


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
        # the same levels by their exact text too ("0.96" and "0.9600" are one level)
        assert {str(k): str(v) for k, v in book.yes.items()} == {
            str(k): str(v) for k, v in reference.yes.items()
        }

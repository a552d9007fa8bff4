"""The transport's hand-written checks accept exactly what h11's grammar (h11/_abnf.py, the
patterns httpx's transport parsed and validated with) accepts: a differential test over
arbitrary bytes and over bytes near the grammar's edges."""

from __future__ import annotations

import re

from h11 import _abnf
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kalshi_cli.client import http11

TOKEN = re.compile(_abnf.token.encode())
VALUE = re.compile(_abnf.field_value.encode())
HEADER = re.compile(_abnf.header_field.encode())
STATUS = re.compile(_abnf.status_line.encode())
CHUNK = re.compile(_abnf.chunk_header.encode())
TARGET = re.compile(_abnf.request_target.encode())

# bytes drawn mostly from the characters the grammar cares about
EDGES = b"HTP/1.0 2:;\t\r\n\x00\x0b\x0cxaF9-_\x7f\x80\xff"
near = st.lists(st.sampled_from(sorted(set(EDGES))), max_size=24).map(bytes)
blobs = st.binary(max_size=24) | near


@settings(max_examples=1500, deadline=None)
@given(blobs)
@example(b"")
@example(b" a")
@example(b"a b\tc")
def test_names_values_and_targets(data: bytes) -> None:
    assert http11._is_token(data) == bool(TOKEN.fullmatch(data))
    assert http11._is_value(data) == bool(VALUE.fullmatch(data))
    target_ok = bool(data) and not data.translate(None, http11._TARGET_BYTES)
    assert target_ok == bool(TARGET.fullmatch(data))


@settings(max_examples=1500, deadline=None)
@given(blobs, st.sampled_from([b"", b"HTTP/1.1 ", b"HTTP/1.1 200", b"X-A:", b"HTTP/1.0 20"]))
@example(b" OK", b"HTTP/1.1 200")
@example(b"", b"HTTP/1.1 200 ")
@example(b"\tOK", b"HTTP/1.1 200")
@example(b"x", b"HTTP/1.1 200 ")
def test_status_and_header_lines(tail: bytes, head: bytes) -> None:
    line = head + tail
    match = STATUS.fullmatch(line)
    parsed = http11._status_line(line)
    if match is None:
        assert parsed is None
    else:
        assert parsed == (
            match["http_version"],
            int(match["status_code"]),
            match["reason"] or b"",
        )
    header = HEADER.fullmatch(line)
    field = http11._header_line(line)
    if header is None:
        assert field is None
    else:
        assert field == (header["field_name"], header["field_value"])


@settings(max_examples=1500, deadline=None)
@given(blobs, st.sampled_from([b"", b"1a", b"0", b"ff;", b"123456789012345678901"]))
@example(b" ", b"5")
@example(b";ext \t", b"5")
def test_chunk_sizes(tail: bytes, head: bytes) -> None:
    line = (head + tail).replace(b"\n", b"")  # a line as `_read_line` hands it over
    match = CHUNK.fullmatch(line + b"\r\n")
    size = http11._chunk_size(line)
    if match is None:
        assert size is None
    else:
        assert size == int(match["chunk_size"], 16)

"""The data set on disk: segments written and read back whatever happened to them, the replay's
skip counts, the importer's line shapes, the export's tables."""

from __future__ import annotations

import csv
import gzip
import json
import os
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from kalshi_cli.data.catalog import describe, list_data_sets
from kalshi_cli.data.export import export
from kalshi_cli.data.importer import import_jsonl
from kalshi_cli.data.manifest import read_manifest
from kalshi_cli.data.replay import BookReplay, iter_records, replay
from kalshi_cli.data.segments import (
    NS_PER_HOUR,
    SegmentWriter,
    frame_line,
    iter_segment_lines,
    segment_paths,
)
from kalshi_cli.feed.messages import convert_frame, decode
from kalshi_cli.vocabulary.errors import DataWriteError, NoDataError, UsageError
from tests.feed import wire

D = Decimal
HOUR0 = 480_000 * NS_PER_HOUR  # 2024-10-04T00Z


def frames_for(ticker: str = "M") -> list[str]:
    return [
        wire.subscribed(1, "orderbook_delta", 1),
        wire.snapshot(1, 1, ticker, yes=[["0.4000", "10.00"]], no=[["0.5000", "5.00"]]),
        wire.delta(1, 2, ticker, "yes 0.4100 3.00"),
        wire.delta(1, 3, ticker, "no 0.5000 -5.00"),
        wire.trade(2, 1, ticker),
    ]


def write_set(root: Path, lines: list[tuple[int, bytes]], **kwargs: Any) -> SegmentWriter:
    writer = SegmentWriter(root, fsync=False, **kwargs)
    for ns, line in lines:
        writer.write(ns, line)
    writer.close()
    return writer


def test_a_frame_is_kept_byte_for_byte() -> None:
    raw = b'{"type":"trade",  "sid":2,"seq":1,"msg":{"yes_price_dollars":"0.3600"}}'
    line = frame_line(123, raw)
    assert line == b'{"recv_ns":123,"frame":' + raw + b"}\n"
    pretty = b'{\n "type": "ok"\n}'
    assert json.loads(frame_line(5, pretty))["frame_text"] == pretty.decode()


def test_segments_rotate_by_hour_and_read_back_in_order(tmp_path: Path) -> None:
    texts = frames_for()
    times = [HOUR0 + i * (NS_PER_HOUR // 2) for i in range(len(texts))]
    write_set(tmp_path, [(t, frame_line(t, x.encode())) for t, x in zip(times, texts, strict=True)])
    names = [p.name for p in segment_paths(tmp_path)]
    assert names == [
        "20241004T00Z.000.ndjson.gz",
        "20241004T01Z.000.ndjson.gz",
        "20241004T02Z.000.ndjson.gz",
    ]
    skipped: Counter[str] = Counter()
    records = list(iter_records(tmp_path, skipped))
    assert [ns for ns, _, _ in records] == times
    assert [obj for _, obj, _ in records] == [decode(x) for x in texts]
    assert skipped == Counter()
    # a later session in the same hour adds a segment after the first, never over it
    write_set(tmp_path, [(times[-1] + 1, frame_line(times[-1] + 1, b'{"type":"ok"}'))])
    assert segment_paths(tmp_path)[-1].name == "20241004T02Z.001.ndjson.gz"


def test_a_segment_cut_anywhere_reads_up_to_its_last_whole_line(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path, fsync=False)
    lines = [frame_line(HOUR0 + i, b'{"type":"ok","id":%d}' % i) for i in range(2000)]
    for i, line in enumerate(lines[:1500]):
        writer.write(HOUR0 + i, line)
    writer.flush()  # what a crash after a flush leaves: a sync-flushed stream, no trailer
    flushed = writer.path
    assert flushed is not None
    for i, line in enumerate(lines[1500:], start=1500):
        writer.write(HOUR0 + i, line)
    data = flushed.read_bytes()
    for cut in (len(data), len(data) - 1, len(data) // 2, 11):
        flushed.write_bytes(data[:cut])
        skipped: Counter[str] = Counter()
        got = list(iter_segment_lines(flushed, skipped))
        assert got == [line.rstrip(b"\n") for line in lines[: len(got)]]
        if cut == len(data):
            assert len(got) == 1500
    writer.close()


def test_malformed_lines_and_time_going_back_are_counted_not_raised(tmp_path: Path) -> None:
    (tmp_path / "frames").mkdir()
    body = b"\n".join(
        [
            frame_line(HOUR0 + 1, frames_for()[1].encode()).rstrip(),
            b"not json",
            b"[1, 2]",
            b'{"recv_ns": "soon", "frame": {}}',
            b'{"recv_ns": 7, "frame": {"type": "ok"}}',  # earlier than the line before
            b'{"recv_ns": %d, "nothing": 1}' % (HOUR0 + 2),
            frame_line(HOUR0 + 3, b'{"type":"brand_new","msg":{}}').rstrip(),
            frame_line(HOUR0 + 4, frames_for()[2].encode()).rstrip(),
        ]
    )
    with gzip.open(tmp_path / "frames" / "20241004T00Z.000.ndjson.gz", "wb") as fh:
        fh.write(body + b'\n{"recv_ns": 9')  # and a truncated last line
    books = replay(tmp_path)
    assert books.skipped == Counter(malformed=4, out_of_order=1, truncated_tail=1, unknown_type=1)
    assert books.books["M"].to_orderbook().yes_bids == ((D("0.41"), D(3)), (D("0.40"), D(10)))


def test_replay_marks_a_sequence_gap_and_resumes_at_the_next_snapshot() -> None:
    events: list[tuple[str, str | None, str]] = []
    books = BookReplay(lambda ns, kind, ticker, reason: events.append((kind, ticker, reason)))
    texts = [
        wire.snapshot(1, 1, "A", yes=[["0.4000", "10.00"]]),
        wire.snapshot(1, 2, "B", yes=[["0.2000", "1.00"]]),
        wire.delta(1, 3, "A", "yes 0.4000 1.00"),
        wire.delta(1, 3, "A", "yes 0.4000 1.00"),  # the same message again
        wire.delta(1, 5, "B", "yes 0.2000 1.00"),  # 4 lost
        wire.delta(1, 6, "A", "yes 0.4000 1.00"),  # A is stale: not applied
        wire.snapshot(1, 7, "A", yes=[["0.4000", "30.00"]]),
        wire.delta(1, 8, "A", "yes 0.4000 -0.50"),
        wire.delta(1, 9, "A", "no 0.7000 -1.00"),  # impossible
    ]
    for i, text in enumerate(texts):
        books.apply(i, decode(text))
    assert books.skipped == Counter(duplicate=1, seq_gap=1, stale_delta=2, bad_delta=1)
    assert events == [
        ("fresh", "A", ""),
        ("fresh", "B", ""),
        ("stale", "A", "seq_gap"),
        ("stale", "B", "seq_gap"),
        ("fresh", "A", ""),
        ("stale", "A", "bad_delta"),
    ]
    assert books.books["B"].fresh is False


def test_replay_counts_event_messages_on_the_lifecycle_subscription() -> None:
    """`event_lifecycle` and `event_fee_update` come on the `market_lifecycle_v2` subscription
    and take its sequence numbers (asyncapi; REFERENCE.md "Channels and payloads"): skipping
    them read the next market message as a gap."""
    events: list[tuple[str, str | None, str]] = []
    books = BookReplay(lambda ns, kind, ticker, reason: events.append((kind, ticker, reason)))
    frames: list[dict[str, Any]] = [
        {"type": "event_lifecycle", "sid": 4, "seq": 1, "msg": {"event_ticker": "E"}},
        {"type": "market_lifecycle_v2", "sid": 4, "seq": 2, "msg": {"market_ticker": "E-A"}},
        {"type": "event_fee_update", "sid": 4, "seq": 3, "msg": {"event_ticker": "E"}},
        {"type": "market_lifecycle_v2", "sid": 4, "seq": 4, "msg": {"market_ticker": "E-A"}},
        {"type": "multivariate_market_lifecycle", "sid": 5, "seq": 1, "msg": {}},
        {"type": "event_lifecycle", "sid": 5, "seq": 2, "msg": {"event_ticker": "M"}},
        {"type": "multivariate_market_lifecycle", "sid": 5, "seq": 3, "msg": {}},
    ]
    for i, frame in enumerate(frames):
        books.apply(i, convert_frame(frame))
    assert books.skipped == Counter()
    assert events == []
    # a number really lost is still a gap
    books.apply(9, convert_frame({"type": "market_lifecycle_v2", "sid": 4, "seq": 6, "msg": {}}))
    assert books.skipped == Counter(market_lifecycle_v2_seq_gap=1)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda f, ms: json.dumps({"received_ms": ms, "frame": json.loads(f)}),
        lambda f, ms: json.dumps({"recv_ns": ms * 1_000_000, "frame": json.loads(f)}),
        lambda f, ms: json.dumps({"ts": ms / 1000, "message": f}),
        lambda f, ms: json.dumps({"received_at": "2024-10-04T00:00:01Z", "data": json.loads(f)}),
    ],
    ids=["received_ms", "recv_ns", "ts-seconds+string-frame", "iso"],
)
def test_import_reads_wrapped_frames(tmp_path: Path, wrap: object) -> None:
    source = tmp_path / "in.jsonl"
    ms = HOUR0 // 1_000_000 + 1000
    lines = [wrap(f, ms + i) for i, f in enumerate(frames_for())]  # type: ignore[operator]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = import_jsonl(source, tmp_path / "set")
    assert (summary.lines, summary.frames, summary.markets) == (5, 5, 1)
    books = replay(tmp_path / "set")
    assert books.books["M"].to_orderbook().no_bids == ()
    assert books.skipped == Counter()
    manifest = read_manifest(tmp_path / "set")
    assert manifest is not None and manifest["status"] == "complete"
    assert manifest["markets"]["M"]["frames"] == 4


def test_import_of_raw_frames_keeps_their_bytes_and_counts_what_it_skips(tmp_path: Path) -> None:
    texts = frames_for()
    raw_delta = (
        '{"type":"orderbook_delta",  "sid":1,"seq":4,"msg":{"market_ticker":"M",'
        '"price_dollars":"0.4100","delta_fp":"1.00","side":"yes"}}'
    )
    source = tmp_path / "in.jsonl"
    source.write_text(
        "\n".join(
            [
                texts[0],  # raw, untimed, before any time: takes the first time that follows
                json.dumps({"received_ms": 1_728_000_000_000, "frame": json.loads(texts[1])}),
                "garbage {",
                json.dumps({"received_ms": 1_728_000_000_500, "note": "no frame here"}),
                json.dumps({"received_ms": 1_727_999_999_000, "frame": json.loads(texts[2])}),
                texts[3],
                raw_delta,
                json.dumps({"type": "mystery"}),
                "",
            ]
        ),
        encoding="utf-8",
    )
    summary = import_jsonl(source, tmp_path / "set")
    assert summary.skipped == {
        "malformed": 1,
        "no_frame": 1,
        # the wrapped frame an hour early, and the raw delta by its own `ts_ms` (2022)
        "time_clamped": 2,
        "unknown_type": 1,
    }
    assert summary.times == {"received_ms": 2, "msg.ts_ms": 1, "line after": 1, "line before": 2}
    lines = [
        line
        for p in segment_paths(tmp_path / "set")
        for line in gzip.decompress(p.read_bytes()).splitlines()
    ]
    assert lines[-2] == b'{"recv_ns":1728000000000000000,"frame":' + raw_delta.encode() + b"}"
    times = [json.loads(line)["recv_ns"] for line in lines]
    assert times == [1_728_000_000_000_000_000] * 6
    assert replay(tmp_path / "set").books["M"].to_orderbook().yes_bids[0] == (D("0.41"), D(4))


def test_import_refuses_nothing_usable_and_an_existing_data_set(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("nope\n[]\n", encoding="utf-8")
    with pytest.raises(NoDataError, match="no usable frame"):
        import_jsonl(empty, tmp_path / "a")
    with pytest.raises(NoDataError):
        import_jsonl(tmp_path / "missing.jsonl", tmp_path / "b")
    good = tmp_path / "good.jsonl"
    good.write_text(frames_for()[1] + "\n", encoding="utf-8")
    import_jsonl(good, tmp_path / "c")
    with pytest.raises(UsageError, match="already holds"):
        import_jsonl(good, tmp_path / "c")


def test_export_book_and_trades_as_csv_and_parquet(tmp_path: Path) -> None:
    texts = frames_for()
    write_set(
        tmp_path / "set",
        [(HOUR0 + i, frame_line(HOUR0 + i, t.encode())) for i, t in enumerate(texts)],
    )
    export(tmp_path / "set", tmp_path / "book.csv", table="book", fmt="csv")
    with (tmp_path / "book.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["kind"], r["side"], r["price"], r["size"]) for r in rows] == [
        ("snapshot", "yes", "0.4000", "10.00"),
        ("snapshot", "no", "0.5000", "5.00"),
        ("delta", "yes", "0.4100", "3.00"),
        ("delta", "no", "0.5000", "-5.00"),
    ]
    summary = export(tmp_path / "set", tmp_path / "t.parquet", table="trades", fmt="parquet")
    assert summary.rows == 1
    table = pq.read_table(tmp_path / "t.parquet").to_pylist()
    assert table[0]["yes_price"] == D("0.36") and table[0]["count"] == D("136")
    assert table[0]["recv_ns"] == HOUR0 + 4 and table[0]["market_ticker"] == "M"
    assert not list(tmp_path.glob(".*partial"))


def test_export_into_an_unwritable_directory_leaves_nothing(tmp_path: Path) -> None:
    write_set(tmp_path / "set", [(HOUR0, frame_line(HOUR0, frames_for()[1].encode()))])
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores modes: use a path under a file instead
            target = tmp_path / "set" / "frames" / "20241004T00Z.000.ndjson.gz" / "x.csv"
        else:
            target = locked / "x.csv"
        with pytest.raises(DataWriteError):
            export(tmp_path / "set", target, table="book", fmt="csv")
        assert not target.exists()
    finally:
        locked.chmod(0o700)


def test_catalog_lists_and_describes(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    ms = HOUR0 // 1_000_000
    source.write_text(
        "\n".join(
            json.dumps({"received_ms": ms + i, "frame": json.loads(f)})
            for i, f in enumerate(frames_for())
        ),
        encoding="utf-8",
    )
    import_jsonl(source, tmp_path / "sets" / "one")
    sets = list_data_sets(tmp_path / "sets")
    assert [d.summary()["markets"] for d in sets] == [1]
    info = describe(tmp_path / "sets" / "one")
    assert info["status"] == "complete" and info["source"] == "import"
    (market,) = info["market_list"]
    assert market["rows_by_type"] == {"orderbook_delta": 2, "orderbook_snapshot": 1, "trade": 1}
    assert market["ranges"] == [[HOUR0 + 1_000_000, HOUR0 + 4_000_000]]
    with pytest.raises(NoDataError):
        describe(tmp_path / "sets")


def test_the_writer_flushes_once_a_second_at_most_and_only_with_something_to_flush(
    tmp_path: Path,
) -> None:
    now = [0.0]
    writer = SegmentWriter(tmp_path, fsync=False, monotonic=lambda: now[0])
    assert not writer.due()
    writer.write(HOUR0, frame_line(HOUR0, b'{"type":"ok"}'))
    now[0] = 0.99
    assert not writer.due()
    now[0] = 1.0
    assert writer.due()
    writer.flush()
    assert writer.path is not None
    skipped: Counter[str] = Counter()
    assert len(list(iter_segment_lines(writer.path, skipped))) == 1  # on disk, no close needed
    now[0] = 5.0
    assert not writer.due()  # nothing new
    writer.close()


def test_the_manifests_segment_lines_are_those_that_reached_the_file(tmp_path: Path) -> None:
    """The segments a recorder lists in its manifest (written when it flushes, and when a write
    fails) count only lines flushed to the file: a reader checks each segment holds at least
    those (`short_segment`), and lines the compressor took but a full disk never got would
    make a recording that merely failed look cut short by someone."""
    writer = SegmentWriter(tmp_path, fsync=False)
    lines = [frame_line(HOUR0 + i, b'{"type":"ok","id":"%d"}' % (i * 7919)) for i in range(5000)]
    for i, line in enumerate(lines[:100]):
        writer.write(HOUR0 + i, line)
    writer.flush()
    for i, line in enumerate(lines[100:], start=100):
        writer.write(HOUR0 + i, line)  # taken by the compressor, not flushed
    assert writer.path is not None
    (listed,) = writer.segments.values()
    assert listed == {"first_ns": HOUR0, "last_ns": HOUR0 + 99, "lines": 100}
    on_disk = list(iter_segment_lines(writer.path, Counter()))
    assert 100 <= len(on_disk) < 5000
    writer.close()
    (listed,) = writer.segments.values()
    assert listed == {"first_ns": HOUR0, "last_ns": HOUR0 + 4999, "lines": 5000}

"""`kalshi data export`: a data set as a table for analysts, CSV or Parquet.

- `book`: a row per level of each applied snapshot (`kind` snapshot) and per applied delta (`kind`
  delta, `size` the signed change), with `recv_ns`, `market_ticker`, `sid`, `seq`, `side` and
  `price`; only what `replay` applied.
- `trades`: a row per public trade: `recv_ns`, `market_ticker`, `trade_id`, `yes_price`, `no_price`,
  `count`, `taker_outcome_side`, `ts_ms`.

Prices and counts stay exact (CSV keeps Kalshi's strings, Parquet `decimal128(38, 8)`; pyarrow is
imported only here). The file is written beside its destination and renamed over it when complete.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from kalshi_cli.data.catalog import open_data_set
from kalshi_cli.data.replay import BookReplay, LocalNote, iter_records
from kalshi_cli.feed.messages import DeltaMessage, SnapshotMessage, TradeMessage, type_of
from kalshi_cli.vocabulary.errors import DataWriteError, UsageError
from kalshi_cli.vocabulary.files import whole

TABLES = {
    "book": ("recv_ns", "market_ticker", "kind", "sid", "seq", "side", "price", "size"),
    "trades": (
        "recv_ns",
        "market_ticker",
        "trade_id",
        "yes_price",
        "no_price",
        "count",
        "taker_outcome_side",
        "ts_ms",
    ),
}
_DECIMAL_COLUMNS = frozenset({"price", "size", "yes_price", "no_price", "count"})
_INT_COLUMNS = frozenset({"recv_ns", "sid", "seq", "ts_ms"})


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    rows: int
    skipped: dict[str, int]


def _book_rows(root: Path, skipped: Counter[str]) -> Iterator[tuple[Any, ...]]:
    replay = BookReplay()
    for ns, obj, is_local in iter_records(root, skipped):
        before = replay.applied
        replay.apply_record(ns, obj, is_local)
        if replay.applied == before:
            continue
        if isinstance(obj, DeltaMessage):
            delta = obj.msg
            yield (
                ns,
                delta.market_ticker,
                "delta",
                obj.sid,
                obj.seq,
                delta.side,
                delta.price_dollars,
                delta.delta_fp,
            )
        elif isinstance(obj, SnapshotMessage):
            book = obj.msg
            for side, levels in (("yes", book.yes_dollars_fp), ("no", book.no_dollars_fp)):
                for price, size in levels or ():
                    yield ns, book.market_ticker, "snapshot", obj.sid, obj.seq, side, price, size
    skipped.update(replay.skipped)


def _trade_rows(root: Path, skipped: Counter[str]) -> Iterator[tuple[Any, ...]]:
    for ns, obj, _ in iter_records(root, skipped):
        if isinstance(obj, LocalNote) or type_of(obj) != "trade":
            continue
        trade = obj.msg if isinstance(obj, TradeMessage) else None
        if trade is None or trade.market_ticker is None:
            skipped["bad_frame"] += 1
            continue
        taker = trade.taker
        yield (
            ns,
            trade.market_ticker,
            trade.trade_id,
            # csv writes a Decimal's text, the fixed-point string as it came
            trade.yes_price,
            trade.no_price,
            trade.count,
            None if taker is None else taker.value,
            trade.ts_ms,
        )


def export(root: Path, out: Path, *, table: str, fmt: str) -> ExportSummary:
    if table not in TABLES:
        raise UsageError(f"unknown table {table!r}", hint=f"one of {', '.join(TABLES)}")
    open_data_set(root)
    skipped: Counter[str] = Counter()
    rows = (_book_rows if table == "book" else _trade_rows)(root, skipped)
    if fmt not in ("csv", "parquet"):
        raise UsageError(f"unknown format {fmt!r}", hint="csv or parquet")
    try:
        with whole(out) as handle:
            write = _write_csv if fmt == "csv" else _write_parquet
            count = write(handle, TABLES[table], rows)
    except OSError as exc:
        raise DataWriteError(
            f"cannot write {out}: {exc}", hint="free space or choose another --out"
        ) from exc
    return ExportSummary(out, count, dict(sorted(skipped.items())))


def _write_csv(out: BinaryIO, columns: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> int:
    count = 0
    text = io.TextIOWrapper(out, newline="", encoding="utf-8")
    writer = csv.writer(text)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(row)
        count += 1
    text.flush()
    text.detach()  # the draft stays open for `whole` to sync and rename
    return count


def _write_parquet(out: BinaryIO, columns: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError(
            "Parquet export needs pyarrow",
            hint="pip install 'kalshi-cli[data]', or --format csv",
        ) from None
    types = [
        pa.decimal128(38, 8)
        if c in _DECIMAL_COLUMNS
        else pa.int64()
        if c in _INT_COLUMNS
        else pa.string()
        for c in columns
    ]
    schema = pa.schema(list(zip(columns, types, strict=True)))
    decimal_at = [i for i, c in enumerate(columns) if c in _DECIMAL_COLUMNS]
    count = 0
    with pq.ParquetWriter(pa.PythonFile(out, mode="w"), schema, compression="zstd") as writer:
        batch: list[list[Any]] = [[] for _ in columns]
        for row in rows:
            for i, value in enumerate(row):
                batch[i].append(Decimal(value) if i in decimal_at and value is not None else value)
            count += 1
            if len(batch[0]) >= 65_536:
                writer.write_table(pa.table(batch, schema=schema))
                batch = [[] for _ in columns]
        if batch[0] or count == 0:
            writer.write_table(pa.table(batch, schema=schema))
    return count

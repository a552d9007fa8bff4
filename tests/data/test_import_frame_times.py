"""`data import` of a bare capture (raw frames, no wrapper with a receive time) times each frame
by its own timestamp where the frame carries one (asyncapi.yaml: `msg.ts_ms` on book deltas,
trades, tickers and fills; `msg.ts`, `msg.time`; an index value's `msg.source_ts_ms`), so its
replay keeps the capture's time structure instead of putting every frame at the file's
modification time; and it says which field each frame's time came from."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.data.importer import import_jsonl
from kalshi_cli.data.replay import iter_records

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MTIME = 1_700_000_000  # the file's modification time: no frame's


def _capture(path: Path) -> None:
    book = {"market_ticker": "M", "market_id": "m"}
    frames = [
        # a snapshot carries no time: it takes the one after it (nothing came before it)
        {"type": "orderbook_snapshot", "sid": 1, "seq": 1,
         "msg": {**book, "yes_dollars_fp": [["0.4000", "10.00"]]}},
        {"type": "orderbook_delta", "sid": 1, "seq": 2,
         "msg": {**book, "price_dollars": "0.4000", "delta_fp": "1.00", "side": "yes",
                 "ts": "2026-01-01T00:00:01Z", "ts_ms": T0_MS + 1_250}},
        {"type": "trade", "sid": 2, "seq": 1,
         "msg": {"market_ticker": "M", "trade_id": "t", "yes_price_dollars": "0.4000",
                 "no_price_dollars": "0.6000", "count_fp": "1.00", "taker_side": "no",
                 "ts": (T0_MS + 3_000) // 1000}},
        {"type": "ticker", "sid": 3, "seq": 1,
         "msg": {"market_ticker": "M", "price_dollars": "0.4000",
                 "time": "2026-01-01T00:00:07.500Z"}},
        # none of its own: the line before's
        {"type": "orderbook_delta", "sid": 1, "seq": 3,
         "msg": {**book, "price_dollars": "0.4000", "delta_fp": "-1.00", "side": "yes"}},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(f) + "\n" for f in frames))
    os.utime(path, (MTIME, MTIME))


def test_a_bare_capture_takes_each_frames_own_time(tmp_path: Path) -> None:
    source = tmp_path / "bare.jsonl"
    _capture(source)
    summary = import_jsonl(source, tmp_path / "set")
    times = [ns for ns, _, local in iter_records(tmp_path / "set", Counter()) if not local]
    t0 = T0_MS * 1_000_000
    assert times == [
        t0 + 1_250_000_000,
        t0 + 1_250_000_000,
        t0 + 3_000_000_000,
        t0 + 7_500_000_000,
        t0 + 7_500_000_000,
    ]
    assert summary.times == {
        "msg.ts_ms": 1,
        "msg.ts": 1,
        "msg.time": 1,
        "line after": 1,
        "line before": 1,
    }
    assert "no_receive_time" not in summary.skipped


def test_the_command_says_which_field_timed_the_frames(tmp_path: Path) -> None:
    source = tmp_path / "bare.jsonl"
    _capture(source)
    args = ["data", "import", str(source), "--out", str(tmp_path / "set"), "--json"]
    done = CliRunner().invoke(app, args, obj=AppContext(environ={}), prog_name="kalshi")
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["frames"] == 5
    assert result["times"]["msg.ts_ms"] == 1
    assert result["times"]["line before"] == 1

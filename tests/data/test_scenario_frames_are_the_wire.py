"""A data set recorded from a scenario holds the frames the simulator sends over its WebSocket:
a book change's `orderbook_delta` carries the deprecated RFC 3339 `ts` beside `ts_ms`, as the
real wire does (REFERENCE.md "Observed on the real wire"), and every frame is numbered on its
channel."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.data.segments import iter_lines
from kalshi_cli.vocabulary.clock import iso_utc

LAL = "KXNBAGAME-SIM-LALGSW-LAL"


def test_a_recorded_book_change_is_the_frame_the_simulator_sends(tmp_path: Path) -> None:
    out = record_scenario("default", tmp_path / "set", seconds=30, tickers=[LAL])
    frames = [json.loads(line)["frame"] for line in iter_lines(out, Counter())]
    deltas = [f["msg"] for f in frames if f["type"] == "orderbook_delta"]
    assert deltas, "the scenario moved no book in 30 s"
    for msg in deltas:
        assert msg["ts"] == iso_utc(msg["ts_ms"] / 1000), msg
    seqs: dict[int, list[int]] = {}
    for frame in frames:
        assert list(frame) == ["type", "sid", "seq", "msg"], frame
        seqs.setdefault(frame["sid"], []).append(frame["seq"])
    assert all(s == list(range(1, len(s) + 1)) for s in seqs.values())

"""A recording whose receive times go wrong: one record stamped far in the future (a clock set
to another century for a moment) or an hour ahead of its neighbours. Every reader skips that
one record, counts it under its reason and reads the rest: `data info` and `data export` keep
every later frame, and `kalshi backtest` ends (it used to tick towards the year 2200)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.data.manifest import read_manifest, write_manifest
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.data.segments import SegmentWriter, iter_lines

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
YEAR_2200_NS = 7_258_118_400 * 10**9
HOUR_NS = 3600 * 10**9


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("rt"), seconds=60, tickers=[LAL])


def with_one_bad_time(clean: Path, out: Path, bad_ns: int | None) -> Path:
    """`clean` copied with one extra record in the middle of a segment: a copy of a frame,
    stamped `bad_ns` (None: one hour after the record before it)."""
    lines = list(iter_lines(clean, Counter()))
    middle = len(lines) // 2
    writer = SegmentWriter(out, fsync=False)
    for i, line in enumerate(lines):
        record = json.loads(line)
        writer.write(record["recv_ns"], line + b"\n")
        if i == middle:
            at = record["recv_ns"]
            record["recv_ns"] = at + HOUR_NS if bad_ns is None else bad_ns
            writer.write(at, json.dumps(record).encode() + b"\n")  # in the same segment
    writer.close()
    manifest = read_manifest(clean) or {}
    manifest["segments"] = writer.segments
    write_manifest(out, manifest)
    return out


def script() -> str:
    found = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    assert found is not None
    return found


def kalshi(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """The installed script, with a deadline: a reader that never ends fails the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    env.update(KALSHI_HOME=str(home), XDG_CACHE_HOME=str(home / "cache"), HOME=str(home))
    return subprocess.run(
        [script(), *args], capture_output=True, text=True, env=env, timeout=90, check=False
    )


def info(root: Path, home: Path) -> dict[str, Any]:
    done = kalshi(["data", "info", str(root), "--json"], home)
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


@pytest.mark.parametrize(
    ("bad_ns", "reason"), [(YEAR_2200_NS, "future_time"), (None, "out_of_order")]
)
def test_info_and_export_keep_every_frame_after_one_bad_receive_time(
    clean: Path, tmp_path: Path, bad_ns: int | None, reason: str
) -> None:
    bad = with_one_bad_time(clean, tmp_path / "bad", bad_ns)
    good, broken = info(clean, tmp_path), info(bad, tmp_path)
    assert broken["frames"] == good["frames"]
    assert broken["records"] == good["records"]
    assert broken["skipped"] == {**good["skipped"], reason: 1}
    for table in ("book", "trades"):
        rows = []
        for root in (clean, bad):
            out = tmp_path / f"{root.name}-{table}.csv"
            done = kalshi(["data", "export", str(root), "--table", table, "--out", str(out)],
                          tmp_path)  # fmt: skip
            assert done.returncode == 0, done.stderr
            rows.append(out.read_text())
        assert rows[0] == rows[1], table
    said = kalshi(["data", "info", str(bad)], tmp_path)
    assert f"skipped   1 {reason}" in said.stdout, said.stdout


def test_a_backtest_over_a_far_future_receive_time_ends_and_says_so(
    clean: Path, tmp_path: Path
) -> None:
    bad = with_one_bad_time(clean, tmp_path / "bad", YEAR_2200_NS)
    runs = []
    for root in (clean, bad):
        done = kalshi(["backtest", "--strategy", "spike", "--data", str(root), "--json"], tmp_path)
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout))
    assert runs[1]["data"]["skipped"].get("future_time") == 1
    assert runs[1]["data"]["to"] == runs[0]["data"]["to"]
    assert runs[1]["totals"] == runs[0]["totals"]

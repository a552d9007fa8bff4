"""`kalshi record` restarted into its own data set, as systemd's `Restart=always` does after a
crash or a reboot: the data set keeps every run's segments and coverage, and the time no
recorder ran is a gap of the feed, from the end of one run to the start of the next."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from kalshi_cli.data.manifest import read_manifest
from tests.feed.helpers import SimBooks

from .test_cli_data import environ, run

if TYPE_CHECKING:
    from tests.conftest import SimHarness


def test_a_restarted_recorder_keeps_the_earlier_runs_and_marks_the_outage(
    sim: SimHarness, tmp_path: Path
) -> None:
    books = SimBooks(sim)
    ticker = books.market("RESTART-A")
    books.rest_orders(ticker, 3)
    out = tmp_path / "rec"
    env = environ(sim, tmp_path)
    first = run(["record", "--tickers", ticker, "--out", str(out), "--duration", "1"], env)
    assert first.returncode == 0, first.stderr
    before = read_manifest(out)
    assert before is not None and before["segments"]
    lines_before = sum(s["lines"] for s in before["segments"].values())
    (range_before,) = before["markets"][ticker]["ranges"]

    second = run(["record", "--tickers", ticker, "--out", str(out), "--duration", "1"], env)
    assert second.returncode == 0, second.stderr
    after = read_manifest(out)
    assert after is not None and after["status"] == "complete"
    # every run's segments, ranges and gaps are still listed
    assert set(before["segments"]) <= set(after["segments"])
    assert after["started_ns"] == before["started_ns"]
    ranges = after["markets"][ticker]["ranges"]
    assert ranges[0] == range_before and len(ranges) == 2
    assert ranges[1][0] > range_before[1]
    assert (
        after["markets"][ticker]["gaps"][: len(before["markets"][ticker]["gaps"])]
        == (before["markets"][ticker]["gaps"])
    )
    # the outage is a gap of the feed, from the first run's end to the second's start
    outages = [g for g in after["gaps"] if g["reason"] == "not_recording"]
    assert len(outages) == 1
    (outage,) = outages
    assert outage["at_ns"] == before["ended_ns"]
    assert before["ended_ns"] < outage["until_ns"] <= ranges[1][0]
    # and the readers see both runs
    lines_after = sum(s["lines"] for s in after["segments"].values())
    assert lines_after > lines_before
    info = run(["data", "info", str(out), "--json"], env)
    assert info.returncode == 0, info.stderr
    described = json.loads(info.stdout)
    assert described["records"] == lines_after
    assert described["segments"] == len(after["segments"])
    assert any(g["reason"] == "not_recording" for g in described["feed_gaps"])

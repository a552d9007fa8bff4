"""A process opens a data set by its path once for all its runs (kalshi_cli/backtest/dataset.py):
the reports equal runs read from disk, a data set that is not the one the sweep saw is refused,
and one over the memory budget is read by every run, and refused if it changed while read."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.backtest import BacktestSpec, dataset, run_backtest
from kalshi_cli.backtest.dataset import (
    CACHE_ENV,
    DataSetChanged,
    dataset_stats,
    fingerprint,
    open_dataset,
)
from kalshi_cli.backtest.engine import execute
from kalshi_cli.backtest.report import build_report
from kalshi_cli.data.manifest import read_manifest
from kalshi_cli.data.replay import Record, iter_records
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.data.segments import SegmentWriter, frame_line
from kalshi_cli.vocabulary.errors import ConfigError
from kalshi_cli.vocabulary.exit_codes import ExitCode

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
UNRULY = str(Path(__file__).with_name("unruly_strategy.py"))


def record(root: Path) -> Path:
    return record_scenario("default", root, seconds=200, tickers=[LAL])


def spec(data: Path, fair: str, take_profit: str = "0.06") -> BacktestSpec:
    return BacktestSpec(
        data=str(data), strategy=UNRULY, params=(("fair", fair), ("take_profit", take_profit))
    )


def from_disk(s: BacktestSpec) -> object:
    """The run as a single `kalshi backtest` makes it: every record read from the files."""
    return json.loads(json.dumps(build_report(execute(s)), default=str))


def reads(data: Path) -> tuple[int, int]:
    stats = dataset_stats()
    key = str(data.absolute())
    return stats["disk_reads"].get(key, 0), stats["opens"].get(key, 0)


def test_a_process_reads_a_data_set_once_for_all_its_runs(tmp_path: Path) -> None:
    data = record(tmp_path / "d")
    specs = [spec(data, fair) for fair in ("0.55", "0.6", "0.7")]
    reports = [json.loads(json.dumps(run_backtest(s), default=str)) for s in specs]
    assert reads(data) == (1, 3)  # three runs, the files read once
    assert reports == [from_disk(s) for s in specs]  # every figure as read from the files
    assert len({r["totals"]["net"] for r in reports}) == 3  # three different runs


def test_a_data_set_that_is_not_the_one_the_sweep_saw_is_refused(tmp_path: Path) -> None:
    data = record(tmp_path / "d")
    seen = fingerprint(data)
    assert open_dataset(str(data), seen).fingerprint == seen
    manifest = data / "manifest.json"
    manifest.write_text(manifest.read_text().replace("{", '{"note": "grew", ', 1))
    with pytest.raises(DataSetChanged) as refused:
        run_backtest(replace(spec(data, "0.6"), data_fingerprint=seen))
    assert refused.value.exit_code is ExitCode.NO_DATA
    assert "is not the one this sweep was given" in refused.value.one_line()
    # what is there now is run when no fingerprint is pinned
    assert run_backtest(spec(data, "0.6"))["totals"]["fills"] > 0


def test_a_data_set_over_the_memory_budget_is_read_by_every_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = record(tmp_path / "d")
    monkeypatch.setenv(CACHE_ENV, "0")
    specs = [spec(data, fair) for fair in ("0.55", "0.6")]
    reports = [json.loads(json.dumps(run_backtest(s), default=str)) for s in specs]
    assert reads(data) == (2, 2)
    assert reports == [from_disk(s) for s in specs]


def test_a_data_set_over_the_budget_that_changes_while_a_run_reads_it_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run of a sweep checks the data set's fingerprint when it opens it; one over the memory
    budget is then read from its files as the run goes. A recording still being written that
    grows after that check (here: a segment of later trades, written between the check and the
    reading) is another data set than the one the sweep ranks its runs on and caches them
    under: the run is refused, as one that opened it changed is."""
    data = record(tmp_path / "d")
    monkeypatch.setenv(CACHE_ENV, "0")
    seen = fingerprint(data)
    last_ns = max(s["last_ns"] for s in (read_manifest(data) or {})["segments"].values())

    def growing(root: Path, skipped: Counter[str], **kwargs: Any) -> Iterator[Record]:
        writer = SegmentWriter(root, fsync=False)
        for n in range(1, 4):
            ns = last_ns + n * 10**9
            trade = {
                "type": "trade",
                "sid": 99,
                "seq": n,
                "msg": {
                    "market_ticker": LAL,
                    "yes_price_dollars": "0.5000",
                    "count_fp": "100.00",
                    "taker_outcome_side": "no",
                },
            }
            writer.write(ns, frame_line(ns, json.dumps(trade).encode()))
        writer.close()
        return iter_records(root, skipped, **kwargs)

    monkeypatch.setattr(dataset, "iter_records", growing)
    with pytest.raises(DataSetChanged) as refused:
        run_backtest(replace(spec(data, "0.6"), data_fingerprint=seen))
    assert refused.value.exit_code is ExitCode.NO_DATA
    assert "changed while" in refused.value.one_line()


def test_a_budget_that_is_not_a_number_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = record(tmp_path / "d")
    monkeypatch.setenv(CACHE_ENV, "lots")
    with pytest.raises(ConfigError, match=CACHE_ENV):
        open_dataset(str(data))

"""A process opens a data set by its path once for all its runs (kalshi_cli/backtest/dataset.py),
its records decoded once: the reports equal runs read from disk to the cent, what the reading
skipped included, a data set that is not the one the sweep saw is refused, one whose records
would take more than the memory budget is held as its compressed segments, and one whose segments
would is read by every run, and refused if it changed while read."""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kalshi_cli.backtest import BacktestSpec, dataset, run_backtest
from kalshi_cli.backtest.dataset import (
    CACHE_ENV,
    DataSetChanged,
    dataset_stats,
    decode_held,
    fingerprint,
    open_dataset,
)
from kalshi_cli.backtest.engine import execute
from kalshi_cli.backtest.report import build_report
from kalshi_cli.data import replay
from kalshi_cli.data.manifest import read_manifest
from kalshi_cli.data.replay import FUTURE_SLACK_NS, Record, iter_records
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.data.segments import SegmentWriter, frame_line, segment_paths
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


def reads(data: Path) -> tuple[int, int, int]:
    """The data set's reads of its files, decodings held, and opens in this process."""
    stats = dataset_stats()
    key = str(data.absolute())
    return tuple(stats[k].get(key, 0) for k in ("disk_reads", "decodes", "opens"))


def test_a_process_reads_and_decodes_a_data_set_once_for_all_its_runs(tmp_path: Path) -> None:
    data = record(tmp_path / "d")
    specs = [spec(data, fair) for fair in ("0.55", "0.6", "0.7")]
    reports = [json.loads(json.dumps(run_backtest(s), default=str)) for s in specs]
    assert reads(data) == (1, 1, 3)  # three runs, the files read and decoded once
    assert reports == [from_disk(s) for s in specs]  # every figure as read from the files
    assert len({r["totals"]["net"] for r in reports}) == 3  # three different runs
    assert dataset_stats()["held_mb"][str(data.absolute())] > 0


def test_held_records_count_what_the_reading_skipped_where_a_run_reading_the_files_does(
    tmp_path: Path,
) -> None:
    """Lines that cannot be read, after the recording and among later trades: a run that stops
    before some of them (`end_ns`) counts only those before, a whole run all of them, as each
    counts reading the files."""
    data = record(tmp_path / "d")
    last_ns = max(s["last_ns"] for s in (read_manifest(data) or {})["segments"].values())
    writer = SegmentWriter(data, fsync=False)
    seq = 0
    for n in range(1, 7):
        ns = last_ns + n * 10**9
        if n in (1, 5):
            writer.write(ns, b'{"recv_ns": %d, "nothing": 1}\n' % ns)  # no frame: malformed
            continue
        seq += 1
        trade = {
            "type": "trade",
            "sid": 99,
            "seq": seq,
            "msg": {
                "market_ticker": LAL,
                "yes_price_dollars": "0.5000",
                "count_fp": "1.00",
                "taker_outcome_side": "no",
            },
        }
        writer.write(ns, frame_line(ns, json.dumps(trade).encode()))
    writer.close()
    # the reading holds a record back until the next is read: a run ending before the trade
    # at 3 s reads up to the trade at 4 s, one ending before the one at 4 s up to the one at 6 s
    bounds = (None, last_ns + 2 * 10**9 + 1, last_ns + 3 * 10**9 + 1)
    specs = [replace(spec(data, "0.6"), end_ns=end) for end in bounds]
    reports = [json.loads(json.dumps(run_backtest(s), default=str)) for s in specs]
    assert reads(data)[1] == 1
    assert [r["data"]["skipped"].get("malformed") for r in reports] == [2, 1, 2]
    assert reports == [from_disk(s) for s in specs]


def test_a_data_set_whose_records_are_over_the_budget_is_held_compressed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data set whose compressed segments fit the budget but whose decoded records would not
    is held as its segments, each run decoding them as it goes: the same reports."""
    data = record_scenario("default", tmp_path / "d", seconds=600)  # every market: 5,000 records
    blobs = tuple((p.name, p.read_bytes()) for p in segment_paths(data))
    assert sum(len(b) for _, b in blobs) < 2**20 < decode_held(data, blobs, 2**30).nbytes  # type: ignore[union-attr]
    monkeypatch.setenv(CACHE_ENV, "1")
    specs = [spec(data, fair) for fair in ("0.55", "0.6")]
    reports = [json.loads(json.dumps(run_backtest(s), default=str)) for s in specs]
    assert reads(data) == (1, 0, 2)  # the files read once, nothing decoded to be held
    assert str(data.absolute()) not in dataset_stats()["held_mb"]
    assert open_dataset(str(data)).decoded is None
    assert reports == [from_disk(s) for s in specs]


def test_a_reading_whose_skips_cannot_be_placed_among_the_records_is_not_held_decoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A count the reading takes other than item by item (`Counter.update` on an empty counter
    skips `__setitem__`) cannot be replayed where it fell: the segments are held instead, and
    every run counts it as one reading the files does."""
    data = record(tmp_path / "d")

    def counted_whole(root: Path, skipped: Counter[str], **kwargs: Any) -> Iterator[Record]:
        skipped.update({"odd": 1})
        return iter_records(root, skipped, **kwargs)

    monkeypatch.setattr(dataset, "iter_records", counted_whole)
    assert open_dataset(str(data)).decoded is None
    s = spec(data, "0.6")
    report = json.loads(json.dumps(run_backtest(s), default=str))
    assert report["data"]["skipped"]["odd"] == 1
    assert report == from_disk(s)


def test_what_held_records_are_said_to_take_is_what_they_take(tmp_path: Path) -> None:
    """The budget is kept against a measure of the records taken on a sample: within a tenth
    of what `tracemalloc` counts the decoded records holding."""
    data = record_scenario("default", tmp_path / "d", seconds=600)
    blobs = tuple((p.name, p.read_bytes()) for p in segment_paths(data))
    decode_held(data, blobs, 2**30)  # what is imported or cached on first use is not counted
    gc.collect()
    tracemalloc.start()
    try:
        held = decode_held(data, blobs, 2**30)
        gc.collect()
        taken = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held is not None
    assert abs(held.nbytes - taken) < taken / 10, (held.nbytes, taken)


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
    assert reads(data) == (2, 0, 2)
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


def test_a_record_judged_too_far_in_the_future_is_judged_again_by_each_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record more than a day past the clock is skipped; a run hours after the data set was
    decoded for its worker judges it against its own clock, as a run reading the files then
    does: here a trade a day and a half hour after the recording, decoded at its end and run an
    hour later, when it is within the day."""
    data = record(tmp_path / "d")
    last_ns = max(s["last_ns"] for s in (read_manifest(data) or {})["segments"].values())
    ahead_ns = last_ns + FUTURE_SLACK_NS + 1800 * 10**9
    trade = {
        "type": "trade",
        "sid": 99,
        "seq": 1,
        "msg": {
            "market_ticker": LAL,
            "yes_price_dollars": "0.5000",
            "count_fp": "1.00",
            "taker_outcome_side": "no",
        },
    }
    writer = SegmentWriter(data, fsync=False)
    writer.write(ahead_ns, frame_line(ahead_ns, json.dumps(trade).encode()))
    writer.close()
    clock = [last_ns]
    monkeypatch.setattr(replay, "time", SimpleNamespace(time_ns=lambda: clock[0]))
    s = replace(spec(data, "0.6"), trade=(("tick_interval_s", 3600),))
    decoded_then = json.loads(json.dumps(run_backtest(s), default=str))
    assert decoded_then["data"]["skipped"].get("future_time") == 1
    assert decoded_then == from_disk(s)
    clock[0] = last_ns + 3600 * 10**9
    later = json.loads(json.dumps(run_backtest(s), default=str))
    assert reads(data)[2] == 2  # the second run opened the data set its worker held
    assert later["data"]["skipped"].get("future_time") is None
    assert later == from_disk(s)


def test_records_that_would_take_more_than_the_budget_are_judged_so_from_their_first_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the records would take is projected over the lines the manifest lists once a
    thousand are read: a data set twice over the budget is let go there, not after a budget's
    worth of records was decoded for nothing (a sweep's every worker would hold that much a
    while, and take that long)."""
    data = record_scenario("default", tmp_path / "d", seconds=600)  # every market: 5,000 records
    blobs = tuple((p.name, p.read_bytes()) for p in segment_paths(data))
    whole = decode_held(data, blobs, 2**30)
    assert whole is not None and len(whole.records) > 4000
    read = [0]

    def counting(root: Path, skipped: Counter[str], **kwargs: Any) -> Iterator[Record]:
        for record in iter_records(root, skipped, **kwargs):
            read[0] += 1
            yield record

    monkeypatch.setattr(dataset, "iter_records", counting)
    assert decode_held(data, blobs, whole.nbytes // 2) is None
    assert read[0] <= 1100, read[0]
    read[0] = 0  # one just within the budget is held whole
    held = decode_held(data, blobs, whole.nbytes * 21 // 20)
    assert held is not None and len(held.records) == read[0] == len(whole.records)

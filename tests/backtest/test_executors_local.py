"""The local executor (kalshi_cli/backtest/executors.py): worker processes that each read the
data set once, within their share of the memory budget, and give the reports a run in this
process gives, whatever directory they were started from; a run's printing does not break them;
a worker that dies fails the sweep naming the run (exit 22); a run's own error keeps its exit
code; a Ctrl-C ends the runs out instead of waiting for them."""

from __future__ import annotations

import json
import math
import os
import signal
import threading
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from kalshi_cli.backtest import BacktestSpec, run_backtest
from kalshi_cli.backtest.dataset import CACHE_ENV, decode_held, fingerprint
from kalshi_cli.backtest.executors import ExecutorError, LocalPool, RunFailed, open_executor
from kalshi_cli.backtest.sweep import grid, parse_params, run_sweep
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.data.segments import segment_paths
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.process import interruptible
from tests.waiting import wait_until

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
UNRULY = str(Path(__file__).with_name("unruly_strategy.py"))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("pool"), seconds=200, tickers=[LAL])


def specs_of(data: Path, *params: str) -> list[BacktestSpec]:
    return grid(BacktestSpec(data=str(data), strategy=UNRULY), parse_params(params))


def test_local_workers_read_the_data_set_once_each_and_match_a_run_in_this_process(
    data: Path,
) -> None:
    specs = specs_of(data, "fair=0.55,0.6,0.7", "take_profit=0.02,0.06")
    progress: list[tuple[int, int]] = []
    with open_executor("local", jobs=2) as pool:
        results = run_sweep(specs, executor=pool, progress=lambda *p: progress.append(p))
        stats = pool.worker_stats()
    # every figure of every run, as this process computes it for the spec pinned to the data
    pinned = [replace(s, data_fingerprint=fingerprint(data)) for s in specs]
    reports = [report for _, report, _ in results]
    assert reports == [json.loads(json.dumps(run_backtest(s), default=str)) for s in pinned]
    assert len({r["totals"]["net"] for r in reports}) > 3
    # two processes served six runs, each reading the data set's files and decoding them once
    key = str(data.absolute())
    assert len(stats) == 2 and len({s["pid"] for s in stats}) == 2
    assert sorted(s["disk_reads"].get(key, 0) for s in stats) == [1, 1]
    assert sorted(s["decodes"].get(key, 0) for s in stats) == [1, 1]
    assert sum(s["opens"][key] for s in stats) == 6
    assert progress[-1] == (6, 6) and [d for d, _ in progress] == [1, 2, 3, 4, 5, 6]


def test_a_run_that_prints_to_stdout_does_not_break_its_worker(data: Path) -> None:
    specs = specs_of(data, "act=print,trade", "fair=0.6")
    with closing(LocalPool(2)) as pool:
        results = run_sweep(specs, executor=pool)
    printed, quiet = (report for _, report, _ in results)
    assert printed["totals"] == quiet["totals"] and printed["totals"]["fills"] > 0


def test_a_worker_that_dies_fails_the_sweep_naming_the_run(data: Path) -> None:
    specs = specs_of(data, "act=trade,die", "fair=0.6")
    with closing(LocalPool(2)) as pool, pytest.raises(ExecutorError) as died:
        run_sweep(specs, executor=pool)
    assert died.value.exit_code == ExitCode.EXECUTOR_FAILED == 22
    line = died.value.one_line()
    assert "a sweep worker died running the run with act=die fair=0.6" in line
    assert "killed by signal 9" in line


@pytest.mark.parametrize("act", ["exit", "exit-mid-answer"])
def test_a_worker_that_exits_even_mid_answer_fails_the_sweep_naming_the_run(
    data: Path, act: str
) -> None:
    """A worker gone with exit status 0, before its answer or half-way through writing it (a
    long report is written in pieces a pipe holds): the run died, named, never a half answer
    read as JSON."""
    specs = specs_of(data, f"act=trade,{act}", "fair=0.6")
    with closing(LocalPool(2)) as pool, pytest.raises(ExecutorError) as died:
        run_sweep(specs, executor=pool)
    line = died.value.one_line()
    assert f"a sweep worker died running the run with act={act} fair=0.6 (exit 0)" in line


def test_a_ctrl_c_ends_the_runs_out_instead_of_waiting_for_them(data: Path, tmp_path: Path) -> None:
    """The Ctrl-C reaches the sweep's process alone (`kill -INT`; a background job's workers
    ignore SIGINT): the run its worker is busy with (here one that waits to be killed) is ended,
    its worker gone when the interrupt leaves `map`, not waited for until the run's end."""
    marker = tmp_path / "running"
    specs = specs_of(data, "act=trade,hang-once", "fair=0.6", f"marker={marker}")
    main = threading.main_thread().ident
    assert main is not None

    done: list[int] = []

    def ctrl_c_once_one_run_is_done_and_the_other_waits() -> None:
        wait_until(lambda: done and marker.exists(), "one run done, the other waiting")
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=ctrl_c_once_one_run_is_done_and_the_other_waits, daemon=True).start()
    with closing(LocalPool(2)) as pool:
        with interruptible(), pytest.raises(KeyboardInterrupt):
            pool.map(specs, lambda n, _total: done.append(n))
        with pytest.raises(ProcessLookupError):
            os.kill(int(marker.read_text()), 0)  # its worker ended (and reaped) by then
        # the pool serves the next sweep (the run that waited is past its wait now), on new
        # workers: the one idle at the Ctrl-C was ended too, and is given no run
        assert [r["totals"]["fills"] > 0 for r in pool.map(specs)] == [True, True]


def test_a_runs_own_error_keeps_its_exit_code(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here"
    specs = [BacktestSpec(data=str(missing), strategy="spike", params=(("take_profit", "0.06"),))]
    with closing(LocalPool(2)) as pool, pytest.raises(RunFailed) as failed:
        run_sweep(specs, executor=pool)
    assert failed.value.exit_code is ExitCode.NO_DATA
    assert failed.value.one_line().startswith("the run with take_profit=0.06 failed: no data set")


def test_a_worker_answers_a_run_its_error_and_its_stats(data: Path, tmp_path: Path) -> None:
    """What `python -m kalshi_cli.backtest.worker` answers each request line, here in process."""
    from dataclasses import asdict

    from kalshi_cli.backtest.worker import answer

    spec = specs_of(data, "fair=0.6,0.7")[0]
    ran = answer({"spec": json.loads(json.dumps(asdict(spec)))})  # as the line carries it
    assert ran["report"]["totals"] == run_backtest(spec)["totals"]
    missing = answer({"spec": {"data": str(tmp_path / "none"), "strategy": "spike"}})
    assert missing["exit_code"] == ExitCode.NO_DATA and "no data set at" in missing["error"]
    stats = answer({"stats": True})["stats"]
    assert stats["pid"] == os.getpid() and stats["opens"][str(data.absolute())] >= 2


def test_a_sweeps_workers_hold_the_data_set_within_the_budget_between_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`KALSHI_DATA_CACHE_MB` is what a sweep holds on this machine: records that fit it whole
    are held decoded by the one process of `--jobs 1`, but not by each of two workers, which
    hold the compressed segments and decode as each run goes: the same reports."""
    data = record_scenario("default", tmp_path / "d", seconds=600)  # every market
    blobs = tuple((p.name, p.read_bytes()) for p in segment_paths(data))
    held = decode_held(data, blobs, 2**30)
    assert held is not None and held.nbytes > 2**20
    monkeypatch.setenv(CACHE_ENV, str(math.ceil(held.nbytes / 2**20)))
    specs = specs_of(data, "fair=0.55,0.6,0.65,0.7")
    with closing(LocalPool(jobs=2)) as pool:
        reports = pool.map(specs)
        stats = pool.worker_stats()
    key = str(data.absolute())
    assert len(stats) == 2 and all(s["opens"].get(key) for s in stats)
    assert [s["held_mb"] for s in stats] == [{}, {}]  # each holds the compressed segments
    assert [s["decodes"] for s in stats] == [{}, {}]
    with closing(LocalPool(jobs=1)) as alone:
        assert alone.map(specs) == reports
        assert alone.worker_stats()[0]["held_mb"][key] > 0


def test_a_worker_runs_the_code_of_the_sweep_that_started_it_whatever_the_directory(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep started in a directory that holds another `kalshi_cli` (a checkout of another
    version) has its workers import the one the sweep runs, as the command itself does."""
    other = tmp_path / "kalshi_cli"
    other.mkdir()
    (other / "__init__.py").write_text("raise SystemExit('another kalshi_cli')\n")
    monkeypatch.chdir(tmp_path)
    specs = specs_of(data, "fair=0.6,0.7")
    with closing(LocalPool(jobs=2)) as pool:
        reports = pool.map(specs)
    assert reports == [run_backtest(s) for s in specs]

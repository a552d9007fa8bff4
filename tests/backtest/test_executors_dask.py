"""A sweep on a real Dask cluster (kalshi_cli/backtest/executors.py): a `distributed.LocalCluster`
of two worker processes, started here and closed after. Its reports equal the local executor's
figure by figure and each worker reads the data set once; a worker killed mid-run has its run
rerun elsewhere with the same result; a run that kills every worker it lands on fails the sweep
naming it (exit 22); `kalshi backtest --executor dask` joining the cluster by
DASK_SCHEDULER_ADDRESS gives the local executor's figures, ranked; a `--scheduler` nobody answers
at is one line and exit 22; with neither, the sweep starts a Dask cluster of its own; a Ctrl-C
Python discarded stops the sweep as the next answer comes in."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import dask
import pytest
from distributed import LocalCluster

from kalshi_cli.backtest import BacktestSpec
from kalshi_cli.backtest.command import BacktestRequest, backtest
from kalshi_cli.backtest.dataset import CACHE_ENV
from kalshi_cli.backtest.executors import DaskExecutor, ExecutorError, RunFailed, open_executor
from kalshi_cli.backtest.sweep import grid, parse_params, run_sweep
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.vocabulary.errors import UsageError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.process import interruptible
from tests.backtest.unruly_strategy import CtrlCInAFinalizer
from tests.waiting import wait_until

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
UNRULY = str(Path(__file__).with_name("unruly_strategy.py"))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("dask"), seconds=200, tickers=[LAL])


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    # a run gives up after its second lost worker (Dask's default is the fourth): the same
    # behaviour, sooner
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        local = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        )
    try:
        yield local
    finally:
        local.close()


@pytest.fixture(scope="module")
def joined(cluster: LocalCluster) -> Iterator[DaskExecutor]:
    """One executor on the test's cluster for the module, as a search keeps one open."""
    with closing(DaskExecutor(scheduler=cluster.scheduler_address)) as executor:
        yield executor


@pytest.fixture
def dask_executor(joined: DaskExecutor) -> DaskExecutor:
    """The module's executor once both workers are up (an earlier test here may have had one
    killed; its nanny starts another)."""
    joined.client.wait_for_workers(2, timeout=60)
    return joined


def specs_of(data: Path, *params: str) -> list[BacktestSpec]:
    return grid(BacktestSpec(data=str(data), strategy=UNRULY), parse_params(params))


def reports(results: list[tuple[BacktestSpec, dict[str, Any], bool]]) -> list[dict[str, Any]]:
    return [report for _, report, _ in results]


def locally(specs: list[BacktestSpec]) -> list[dict[str, Any]]:
    with open_executor("local", jobs=1) as here:
        return reports(run_sweep(specs, executor=here))


def test_a_sweep_on_a_dask_cluster_equals_the_local_one_and_reads_the_data_once_per_worker(
    dask_executor: DaskExecutor, data: Path
) -> None:
    specs = specs_of(data, "fair=0.55,0.6,0.7", "take_profit=0.02,0.06")
    progress: list[int] = []
    key = str(data.absolute())
    before = sum(s["opens"].get(key, 0) for s in dask_executor.worker_stats())
    on_dask = run_sweep(
        specs, executor=dask_executor, progress=lambda done, _n: progress.append(done)
    )
    stats = dask_executor.worker_stats()
    assert reports(on_dask) == locally(specs)  # every figure of every run
    assert len({r["totals"]["net"] for r in reports(on_dask)}) > 3
    assert progress == [1, 2, 3, 4, 5, 6]
    # two worker processes ran the six; each has read the data set's files once in its life
    # (every test here sweeps this one data set)
    assert len({s["pid"] for s in stats}) == 2
    assert sum(s["opens"].get(key, 0) for s in stats) == before + 6
    assert all(s["disk_reads"].get(key, 0) <= 1 for s in stats)
    assert sum(s["disk_reads"].get(key, 0) for s in stats) >= 1


@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <function CtrlCInAFinalizer.__del__"
    ":pytest.PytestUnraisableExceptionWarning"
)
def test_a_ctrl_c_python_discarded_stops_a_sweep_on_dask(
    dask_executor: DaskExecutor, data: Path
) -> None:
    """The sweep's process only waits for the cluster's answers: it looks for a Ctrl-C itself as
    each comes in, here one discarded while it told the first
    (tests/backtest/test_a_ctrl_c_python_discards_still_stops.py)."""
    told: list[int] = []

    def progress(done: int, _total: int) -> None:
        told.append(done)
        if done == 1:
            CtrlCInAFinalizer()

    with interruptible(), pytest.raises(KeyboardInterrupt):
        dask_executor.map(specs_of(data, "fair=0.5,0.6,0.7"), progress)
    assert told == [1]


def test_a_worker_killed_mid_run_has_its_run_rerun_elsewhere(
    dask_executor: DaskExecutor, data: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "hanging"
    specs = specs_of(data, "act=trade,hang-once", "fair=0.6", f"marker={marker}")
    with ThreadPoolExecutor(1) as background:
        before = set(dask_executor.client.run(os.getpid).values())
        sweep = background.submit(run_sweep, specs, executor=dask_executor)
        pid = wait_until(
            lambda: marker.exists() and int(marker.read_text()), "the run to hang in a worker"
        )
        assert pid in before  # the run hangs in a worker of the cluster
        os.kill(pid, signal.SIGKILL)
        results = sweep.result(timeout=90)
    # the marker is there now, so the run again trades: as it does locally
    assert reports(results) == locally(specs)
    assert reports(results)[1]["totals"]["fills"] > 0


def test_a_runs_own_error_on_a_worker_keeps_its_message_and_exit_code(
    dask_executor: DaskExecutor, tmp_path: Path
) -> None:
    missing = tmp_path / "not-on-the-workers"
    specs = [BacktestSpec(data=str(missing), strategy="spike", params=(("take_profit", "0.06"),))]
    with pytest.raises(RunFailed) as failed:
        run_sweep(specs, executor=dask_executor)
    assert failed.value.exit_code is ExitCode.NO_DATA
    assert failed.value.one_line() == (
        f"the run with take_profit=0.06 failed: no data set at {missing} "
        "(give --data a directory `kalshi record` wrote)"
    )


def test_without_a_scheduler_the_sweep_starts_a_cluster_of_its_own(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    monkeypatch.setenv(CACHE_ENV, "100")
    specs = specs_of(data, "fair=0.6,0.7")
    with open_executor("dask", jobs=2) as own:
        assert isinstance(own, DaskExecutor) and own.address is None
        workers = own.client.run(os.getpid)
        # the data set's memory budget is this machine's: each worker holds within its half
        assert list(own.client.run(os.getenv, CACHE_ENV).values()) == ["50", "50"]
        results = reports(run_sweep(specs, executor=own))
    assert len(workers) == 2 and os.getpid() not in workers.values()
    assert results == locally(specs)
    with pytest.raises(OSError):  # closed with the executor
        os.kill(next(iter(workers.values())), 0)


def test_the_dask_command_ranks_as_the_local_executor(
    cluster: LocalCluster, dask_executor: DaskExecutor, data: Path, tmp_path: Path
) -> None:
    args = [
        "backtest", "--strategy", UNRULY, "--data", str(data), "--no-cache", "--json",
        "--param", "fair=0.55,0.6", "--param", "take_profit=0.02,0.06", "--executor", "dask",
    ]  # fmt: skip
    key = str(data.absolute())
    before = sum(s["opens"].get(key, 0) for s in dask_executor.worker_stats())
    # the scheduler named by Dask's own setting (`--scheduler` is the other way)
    done = kalshi(args, tmp_path, DASK_SCHEDULER_ADDRESS=cluster.scheduler_address)
    assert done.returncode == 0, done.stderr
    # the four runs ran on this cluster's workers
    assert sum(s["opens"].get(key, 0) for s in dask_executor.worker_stats()) == before + 4
    runs = json.loads(done.stdout)["runs"]
    specs = specs_of(data, "fair=0.55,0.6", "take_profit=0.02,0.06")
    here = {(dict(s.params)["fair"], dict(s.params)["take_profit"]): r["totals"]
            for s, r in zip(specs, locally(specs), strict=True)}  # fmt: skip
    assert {(r["params"]["fair"], r["params"]["take_profit"]): r["totals"] for r in runs} == here
    nets = [float(r["totals"]["net"]) for r in runs]
    assert nets == sorted(nets, reverse=True) and len(set(nets)) > 2


def test_an_unreachable_scheduler_is_one_line_and_exit_22(data: Path, tmp_path: Path) -> None:
    args = ["backtest", "--strategy", "spike", "--data", str(data)]
    args += ["--param", "take_profit=0.04,0.06", "--executor", "dask"]
    nobody = kalshi([*args, "--scheduler", "tcp://127.0.0.1:1"], tmp_path)
    assert nobody.returncode == ExitCode.EXECUTOR_FAILED, nobody.stderr
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in nobody.stderr
    assert len(nobody.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("address", ["localhost", "http://localhost:8786"])
def test_a_scheduler_address_that_is_no_address_is_a_usage_error(address: str) -> None:
    with pytest.raises(UsageError) as refused:
        DaskExecutor(scheduler=address)
    assert refused.value.one_line().startswith(f"--scheduler {address!r} is not an address")
    assert "tcp://HOST:8786" in refused.value.one_line()


def test_the_cluster_options_are_refused_where_they_do_not_apply(data: Path) -> None:
    one_run = BacktestRequest(spec=BacktestSpec(data=str(data), strategy="spike"), executor="dask")
    with pytest.raises(UsageError, match="--executor and --scheduler take a sweep"):
        backtest(one_run)
    local = replace(one_run, executor="local", scheduler="tcp://127.0.0.1:1")
    with pytest.raises(UsageError, match="--scheduler takes --executor dask"):
        backtest(replace(local, params=("take_profit=0.04,0.06",)))


def test_a_run_that_kills_every_worker_it_lands_on_fails_the_sweep_naming_it(
    dask_executor: DaskExecutor, data: Path
) -> None:
    specs = specs_of(data, "act=trade,die", "fair=0.6")
    with pytest.raises(ExecutorError) as lost:
        run_sweep(specs, executor=dask_executor)
    assert lost.value.exit_code == ExitCode.EXECUTOR_FAILED
    assert "the run with act=die fair=0.6 lost every worker that ran it" in lost.value.one_line()


def kalshi(args: list[str], home: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    assert found is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KALSHI_", "DASK_"))}
    env.update(KALSHI_HOME=str(home), XDG_CACHE_HOME=str(home / "cache"), HOME=str(home))
    env["DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT"] = "2s"  # an absent scheduler, told sooner
    env.update(extra)
    return subprocess.run(
        [found, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )

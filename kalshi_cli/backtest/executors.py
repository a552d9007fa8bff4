"""Where a sweep's runs go: a local pool of worker processes, or a Dask cluster.

Both map the one pure `run_backtest(spec)` (runs.py) over the specs and give back the reports in
the order of the specs; a spec carries the data set's path, not the data, and each worker opens
it once (dataset.py). `local` runs `jobs` fresh `python -m kalshi_cli.backtest.worker` processes
(worker.py says why not `multiprocessing`), fails the sweep at once, naming the run, when one
dies, and kills them at a Ctrl-C rather than waiting for their runs. `dask` maps on the scheduler
given (or `DASK_SCHEDULER_ADDRESS`), else on a `LocalCluster` started here; a lost worker's runs
are rerun elsewhere, since a run is pure. Dask is the one cluster engine (docs/backtesting.md "On
a cluster" says why not Ray):

    with open_executor("dask", scheduler="tcp://10.0.0.5:8786") as executor:
        reports = executor.map(specs)
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict
from typing import IO, Any, Protocol

from kalshi_cli.backtest.dataset import dataset_stats, worker_environment
from kalshi_cli.backtest.engine import BacktestSpec, Lookup
from kalshi_cli.backtest.report import plain
from kalshi_cli.backtest.runs import run_backtest
from kalshi_cli.vocabulary.errors import KalshiError, UsageError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.process import raise_if_interrupted

EXECUTORS = ("local", "dask")

Progress = Callable[[int, int], None]  # (runs done, runs in all)


class ExecutorError(KalshiError):
    """The machinery failed, not a run: a worker died, or the cluster could not be reached."""

    exit_code = ExitCode.EXECUTOR_FAILED


class RunFailed(KalshiError):
    """One run of a sweep raised: its error, with the params of the run and its exit code."""

    def __init__(self, spec: BacktestSpec, message: str, exit_code: int) -> None:
        super().__init__(f"the run with {describe(spec)} failed: {message}")
        self.exit_code = ExitCode(exit_code)


class Executor(Protocol):
    def map(self, specs: Sequence[BacktestSpec], progress: Progress | None = None) -> list[Any]:
        """Every spec's report, in the order of `specs`."""
        ...

    def worker_stats(self) -> list[dict[str, Any]]:
        """Each worker's `dataset_stats()` (between maps)."""
        ...

    def close(self) -> None: ...


def describe(spec: BacktestSpec) -> str:
    return " ".join(f"{k}={v}" for k, v in spec.values().items()) or "the base params"


def failure(exc: BaseException) -> tuple[str, int]:
    """A run's error as one line and an exit code (a `KalshiError`'s own, else FAILURE)."""
    if isinstance(exc, KalshiError):
        return exc.one_line(), int(exc.exit_code)
    return f"{type(exc).__name__}: {exc}", int(ExitCode.FAILURE)


@contextmanager
def open_executor(
    name: str = "local",
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
    strategies: Lookup | None = None,
) -> Iterator[Executor]:
    """An executor by its name (`--executor`), closed on leaving the block. `strategies`: the
    command's lookup, for the runs made in its own process (`--jobs 1`); a worker process
    loads each strategy by its spec."""
    if name not in EXECUTORS:
        raise UsageError(f"--executor {name!r}", hint=f"choose one of: {', '.join(EXECUTORS)}")
    if scheduler and name != "dask":
        raise UsageError("--scheduler takes --executor dask")
    executor: Executor = (
        DaskExecutor(scheduler=scheduler, jobs=jobs)
        if name == "dask"
        else LocalPool(jobs, strategies)
    )
    try:
        yield executor
    finally:
        executor.close()


# -- local ------------------------------------------------------------------------------------


class _Worker:
    """One `python -m kalshi_cli.backtest.worker` process: a request line in, an answer out."""

    def __init__(self, env: dict[str, str]) -> None:
        # stderr to a file, not a pipe: a worker writing more than a pipe holds would block
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by `close`)
        self.proc = subprocess.Popen(
            # -P: the working directory is not put first on the path, so a `kalshi_cli` there
            # (a checkout of another version) is not the one the worker imports
            [sys.executable, "-P", "-m", "kalshi_cli.backtest.worker"],
            env={**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
        )

    def ask(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """The answer, or None when the worker died before giving one."""
        stdin, stdout = self._pipes()
        try:
            stdin.write(json.dumps(request) + "\n")
            stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        line = stdout.readline()
        if not line.endswith("\n"):
            # nothing, or the start of an answer: a long report is written in pieces the pipe
            # holds, and a worker killed between two of them leaves half a line
            return None
        answer: dict[str, Any] = json.loads(line)
        return answer

    def death(self) -> str:
        """How it ended: its exit status and the last line it wrote to stderr."""
        code = self.proc.wait()
        self._stderr.seek(0)
        lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
        return f"{how}: {lines[-1]}" if lines else how

    def close(self) -> None:
        stdin, stdout = self._pipes()
        with contextlib.suppress(OSError):
            stdin.close()  # end of requests: the worker returns
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        stdout.close()
        self._stderr.close()

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        return self.proc.stdin, self.proc.stdout


class LocalPool:
    """`jobs` worker processes on this machine (default: one per core); one job runs in this
    process, its strategies found by `strategies` (the command's lookup) when given."""

    def __init__(self, jobs: int | None = None, strategies: Lookup | None = None) -> None:
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self._env = worker_environment(self.jobs)  # the data set's budget shared among them
        self._strategies = strategies
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        # set by a Ctrl-C within `map`: its runs are ended and no worker is started for another
        self._interrupted = False

    def map(self, specs: Sequence[BacktestSpec], progress: Progress | None = None) -> list[Any]:
        total = len(specs)
        if self.jobs == 1:
            reports = []
            for spec in specs:
                reports.append(_in_process(spec, self._strategies))
                if progress is not None:
                    progress(len(reports), total)
            return reports
        results: list[Any] = [None] * total
        self._interrupted = False
        with ThreadPoolExecutor(max_workers=max(1, min(self.jobs, total))) as threads:
            futures: dict[Future[Any], int] = {}
            try:
                futures.update((threads.submit(self._run, spec), i) for i, spec in enumerate(specs))
                for done, future in enumerate(as_completed(futures), 1):
                    raise_if_interrupted()  # a Ctrl-C Python discarded, as each answer comes in
                    results[futures[future]] = future.result()
                    if progress is not None:
                        progress(done, total)
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    # the person's stop: a run out is not waited for (it may take hours, and
                    # the Ctrl-C may have reached this process alone), its worker is ended
                    self._end_runs()
                threads.shutdown(wait=True, cancel_futures=True)
                raise
        return results

    def worker_stats(self) -> list[dict[str, Any]]:
        if self.jobs == 1:
            return [dataset_stats()]
        # the idle workers only: one running a run has its answer on the way
        idle = []
        with contextlib.suppress(queue.Empty):
            while True:
                idle.append(self._idle.get_nowait())
        stats = []
        for worker in idle:
            answer = worker.ask({"stats": True})
            if answer is None:
                self._drop(worker)
                continue
            stats.append(answer["stats"])
            self._idle.put(worker)
        return stats

    def close(self) -> None:
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.close()

    def _run(self, spec: BacktestSpec) -> Any:
        worker = self._take()
        answer = worker.ask({"spec": asdict(spec)})
        if answer is None:
            how = worker.death()
            self._drop(worker)
            raise ExecutorError(
                f"a sweep worker died running the run with {describe(spec)} ({how})",
                hint="a worker killed or out of memory; run that one alone to see why",
            )
        self._idle.put(worker)
        if "error" in answer:
            raise RunFailed(spec, answer["error"], answer.get("exit_code", ExitCode.FAILURE))
        return answer["report"]

    def _take(self) -> _Worker:
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            if worker.proc.poll() is None:
                return worker
            self._drop(worker)  # ended while idle (by `_end_runs`): given no run
        with self._lock:  # started and listed at once: `_end_runs` ends every worker listed
            if self._interrupted:
                raise ExecutorError("the sweep was interrupted")
            worker = _Worker(self._env)
            self._all.append(worker)
        return worker

    def _end_runs(self) -> None:
        """Every worker killed (and reaped: `_take` gives an ended one no run), and no new one
        started: each thread waiting for a run's answer gets none at once, and drops its
        worker."""
        with self._lock:
            self._interrupted = True
            workers = list(self._all)
        for worker in workers:
            worker.proc.kill()
            worker.proc.wait()

    def _drop(self, worker: _Worker) -> None:
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
        worker.close()


def _in_process(spec: BacktestSpec, strategies: Lookup | None) -> Any:
    try:
        return plain(run_backtest(spec, strategies))
    except Exception as exc:  # the same one line a worker process would send
        message, code = failure(exc)
        raise RunFailed(spec, message, code) from exc


# -- dask -------------------------------------------------------------------------------------


class DaskExecutor:
    """The runs on a Dask cluster: a scheduler's, or a `LocalCluster` started here."""

    def __init__(self, *, scheduler: str | None = None, jobs: int | None = None) -> None:
        try:
            import dask
            import distributed as untyped
        except ImportError:
            raise UsageError(
                "--executor dask needs Dask",
                hint="pip install 'kalshi-cli[cluster]'",
            ) from None
        distributed: Any = untyped  # not typed throughout
        self._distributed = distributed
        self._cluster: Any = None
        self.address: str | None = scheduler or dask.config.get("scheduler-address", None)
        if self.address:
            try:  # parsed before any connection (and any thread of Dask's) is made
                distributed.comm.get_address_host_port(self.address)
            except ValueError as exc:
                named = "--scheduler" if scheduler else "DASK_SCHEDULER_ADDRESS"
                raise UsageError(
                    f"{named} {self.address!r} is not an address: {exc}",
                    hint="give the scheduler's as `dask scheduler` prints it, tcp://HOST:8786",
                ) from None
        try:
            if self.address:
                # how long to try: Dask's own `distributed.comm.timeouts.connect` (30 s)
                self.client: Any = distributed.Client(self.address)
            else:
                workers = max(1, jobs or os.cpu_count() or 1)
                self._cluster = distributed.LocalCluster(
                    n_workers=workers,
                    env=worker_environment(workers),  # the data set's budget shared among them
                    threads_per_worker=1,  # a run is single-threaded Python
                    processes=True,
                    host="127.0.0.1",  # this machine only, dashboard included
                    dashboard_address="127.0.0.1:0",
                )
                self.client = distributed.Client(self._cluster)
        except (OSError, TimeoutError) as exc:
            self.close()
            where = self.address or "a local Dask cluster"
            raise ExecutorError(
                f"cannot reach the Dask scheduler at {where}: {exc}",
                hint="start `dask scheduler` and `dask worker ADDRESS`, or check --scheduler "
                "and DASK_SCHEDULER_ADDRESS",
            ) from None

    def map(self, specs: Sequence[BacktestSpec], progress: Progress | None = None) -> list[Any]:
        futures = self.client.map(run_backtest, list(specs), pure=False)
        where = {future.key: i for i, future in enumerate(futures)}
        results: list[Any] = [None] * len(specs)
        try:
            for done, future in enumerate(self._distributed.as_completed(futures), 1):
                raise_if_interrupted()  # a Ctrl-C Python discarded, as each answer comes in
                i = where[future.key]
                try:
                    results[i] = plain(future.result())
                except self._distributed.KilledWorker as exc:
                    raise ExecutorError(
                        f"the run with {describe(specs[i])} lost every worker that ran it "
                        "(the scheduler gave up on it)",
                        hint="a worker killed or out of memory; run that one alone to see why",
                    ) from exc
                except Exception as exc:
                    message, code = failure(exc)
                    raise RunFailed(specs[i], message, code) from exc
                if progress is not None:
                    progress(done, len(specs))
        finally:
            self.client.cancel([f for f in futures if not f.done()])
        return results

    def worker_stats(self) -> list[dict[str, Any]]:
        return list(self.client.run(dataset_stats).values())

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

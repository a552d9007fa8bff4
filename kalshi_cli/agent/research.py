"""Research for an assistant: strategies and their params, backtests, stored runs.

A backtest is `kalshi backtest`'s own library call, so the tool's figures are the command's and the
run is stored beside the command's runs. It runs in a child process, so a call is held to
`agent.backtest_max_s` by ending that process, and a sweep's progress comes back over a pipe for MCP
progress notifications. A data set larger than `agent.backtest_max_mb` is refused first.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshi_cli.vocabulary.errors import KalshiError, NoDataError, UsageError
from kalshi_cli.vocabulary.exit_codes import ExitCode

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from kalshi_cli.backtest.command import BacktestRequest

Progress = Callable[[int, int], None]

# how long a backtest's child sent SIGTERM has to end before it is killed
END_GRACE_S = 1.0


class BacktestStopped(KalshiError):
    """A backtest tool call ran past its time limit and its process was ended."""

    exit_code = ExitCode.INTERRUPTED


class BacktestFailed(KalshiError):
    """The backtest's child process raised: its error, with the CLI's exit code."""

    def __init__(self, message: str, exit_code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def strategies() -> dict[str, Any]:
    """Every strategy this process knows, with its params at their defaults."""
    from kalshi_cli.strategies import get_strategy, strategy_names
    from kalshi_cli.strategy_api import params_dict

    rows = []
    for name in strategy_names():
        strategy = get_strategy(name)
        rows.append({"name": name, "params": params_dict(strategy.params(None))})
    return {"strategies": rows}


@dataclass(frozen=True)
class BacktestAsk:
    """A backtest tool call's arguments, as `kalshi backtest`'s flags."""

    strategy: str
    data: str
    params: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    markets: str | None = None
    balance: str = "1000"
    fill_model: str = "optimistic"
    latency_ms: int = 0


def data_megabytes(path: Path) -> float:
    if not path.is_dir():
        raise NoDataError(
            f"no data set at {path}", hint="`kalshi data list` shows the recorded ones"
        )
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1_000_000


def backtest_request(
    ask: BacktestAsk, *, config_path: Path, environ: Mapping[str, str], max_mb: float
) -> BacktestRequest:
    """The request `kalshi backtest --strategy S --data D ...` would make, stored like its."""
    from kalshi_cli.backtest.command import build_request, configured_lineup
    from kalshi_cli.config import dirs_from

    # the configured sources checked before anything is loaded
    config, lineup = configured_lineup(
        config_path, ask.strategy, lambda sources: _named_code_only(ask, sources)
    )
    data = Path(ask.data).expanduser()
    size = data_megabytes(data)
    if size > max_mb:
        raise UsageError(
            f"the data set {data} holds {size:.0f} MB, over the assistant's limit of {max_mb:g}",
            hint="a person runs it with `kalshi backtest`, or raises agent.backtest_max_mb",
        )
    request = build_request(
        config.with_model((ask.strategy,), None),
        lineup=lineup,
        data=data,
        start=ask.start,
        end=ask.end,
        markets=ask.markets,
        params=ask.params,
        fill_model=ask.fill_model,
        latency_ms=ask.latency_ms,
        balance=ask.balance,
        cache=False,
    )
    return replace(request, jobs=1, runs_dir=dirs_from(environ).backtest_runs_dir())


def _named_code_only(ask: BacktestAsk, configured: Mapping[str, str]) -> None:
    """Refuse a backtest that would run code the assistant chose. A strategy given as a file or
    an import path is loaded (its module executed) in this process, and a model's `source` is
    a command, a module or a file the run starts: either runs what the assistant names with the
    key and the state file at hand, writes off or not. A strategy is named, as the trader
    installed or configured it, and a model runs on the source the config gives it."""
    from kalshi_cli.backtest.sweep import parse_params
    from kalshi_cli.strategies import strategy_hint, strategy_names
    from kalshi_cli.strategies.loader import entry_point_names

    names = [*strategy_names(), *entry_point_names(), *configured]
    if ask.strategy not in names:
        raise UsageError(
            f"the assistant backtests a strategy by a name it knows, not {ask.strategy!r}",
            hint=strategy_hint(ask.strategy, names, code=False),
        )
    if "source" in parse_params(ask.params):
        raise UsageError(
            "the assistant does not set a model's source (a command, a module or a file it "
            "would run)",
            hint="the config's strategies.NAME.source is the one backtested; "
            "a person gives another with `kalshi backtest --model`",
        )


def run_limited(request: BacktestRequest, *, max_s: float, progress: Progress) -> dict[str, Any]:
    """`backtest(request)` in a child process, ended after `max_s` seconds; its `--json`
    document, or its error raised here with the CLI's exit code."""
    context = multiprocessing.get_context("spawn")  # the server has threads: no fork
    ours, theirs = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(request, theirs), name="kalshi-mcp-backtest")
    child.start()
    theirs.close()
    try:
        return _wait(ours, child, max_s, progress)
    finally:
        end_child(child)
        ours.close()


def end_child(child: multiprocessing.process.BaseProcess) -> None:
    """The backtest's child process ended, its end waited for: asked (SIGTERM), then made
    (SIGKILL) once `END_GRACE_S` passed, since a child stuck where SIGTERM does not reach it (C
    code, a handler that ignores it) would hold the tool call for ever."""
    if child.is_alive():
        child.terminate()
        child.join(END_GRACE_S)
    if child.is_alive():
        child.kill()
    child.join()


def _wait(
    pipe: Connection, child: multiprocessing.process.BaseProcess, max_s: float, progress: Progress
) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + max_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BacktestStopped(
                f"the backtest ran past the assistant's limit of {max_s:g} s and was stopped",
                hint="fewer markets or a shorter span (from, to), or `kalshi backtest`",
            )
        if not pipe.poll(min(left, 1.0)):
            if not child.is_alive() and not pipe.poll():
                raise BacktestFailed(
                    f"the backtest process ended without an answer (exit {child.exitcode})",
                    ExitCode.FAILURE,
                )
            continue
        try:
            kind, *rest = pipe.recv()
        except EOFError:
            continue  # the child is gone: the next turn says so
        if kind == "progress":
            progress(int(rest[0]), int(rest[1]))
        elif kind == "done":
            document: dict[str, Any] = rest[0]
            return document
        else:
            raise BacktestFailed(str(rest[0]), ExitCode(int(rest[1])))


def _child(request: BacktestRequest, pipe: Connection) -> None:
    from kalshi_cli.backtest.command import backtest

    def sent(done: int, total: int) -> None:
        pipe.send(("progress", done, total))

    try:
        outcome = backtest(replace(request, run_progress=sent))
        try:
            # as the command, which exits 23 after its report: a run whose strategy failed
            # is a failed call, never a document of figures that are not the strategy's
            outcome.raise_if_failed()
        except KalshiError as exc:
            shown = f"; stored as run {outcome.run_id}, whose report backtest_run shows"
            stored = shown if outcome.run_id else ""
            pipe.send(("error", exc.one_line() + stored, int(exc.exit_code)))
            return
        pipe.send(("done", outcome.to_json()))
    except KalshiError as exc:
        pipe.send(("error", exc.one_line(), int(exc.exit_code)))
    except Exception as exc:  # the child's last word: the parent raises it
        pipe.send(("error", f"{type(exc).__name__}: {exc}", int(ExitCode.FAILURE)))
    finally:
        pipe.close()


def stored_runs(environ: Mapping[str, str]) -> dict[str, Any]:
    from kalshi_cli.backtest.history import RunStore
    from kalshi_cli.config import dirs_from

    return {"runs": RunStore(dirs_from(environ).backtest_runs_dir()).summaries()}


def stored_run(environ: Mapping[str, str], run: str) -> dict[str, Any]:
    from kalshi_cli.backtest.history import RunStore
    from kalshi_cli.config import dirs_from

    return RunStore(dirs_from(environ).backtest_runs_dir()).get(run)


def compare_runs(environ: Mapping[str, str], a: str, b: str) -> dict[str, Any]:
    from kalshi_cli.backtest.history import RunStore, compare
    from kalshi_cli.config import dirs_from

    store = RunStore(dirs_from(environ).backtest_runs_dir())
    return compare(store.get(a), store.get(b))

"""`kalshi backtest` as one library call: a request in, one run, a sweep or a look-ahead check
out. The command (cli/backtest.py) only parses flags into a `BacktestRequest` and renders."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshi_cli.backtest.engine import BacktestSpec, execute
from kalshi_cli.backtest.executors import Progress, open_executor
from kalshi_cli.backtest.history import RunStore, provenance
from kalshi_cli.backtest.lookahead import LookAheadFound, LookAheadReport, check_lookahead
from kalshi_cli.backtest.report import build_report, render_text
from kalshi_cli.backtest.stats import deflate
from kalshi_cli.backtest.sweep import (
    METRICS,
    default_cache_dir,
    grid,
    metric_value,
    parse_params,
    rank,
    run_sweep,
)
from kalshi_cli.clock import parse_time as clock_parse_time
from kalshi_cli.errors import DataWriteError, UsageError
from kalshi_cli.strategies import get_strategy, strategy_source
from kalshi_cli.strategy_api import params_dict

if TYPE_CHECKING:
    from kalshi_cli.runner.config import TradeConfig


@dataclass(frozen=True)
class BacktestRequest:
    spec: BacktestSpec  # the base spec; `params` below are laid over its own
    params: tuple[str, ...] = ()  # --param NAME=V or NAME=V1,V2
    html: Path | None = None
    out: Path | None = None
    rank_by: str = "net"
    jobs: int | None = None
    cache_dir: Path | None = None
    lookahead: bool = False
    runs_dir: Path | None = None  # where the run is stored (history.py); None: not stored
    best_params: Path | None = None  # a sweep writes its best run's params here (YAML)
    executor: str = "local"  # where a sweep's runs go (executors.py): local or dask
    scheduler: str | None = None  # a Dask scheduler's address (dask: else a local cluster)
    progress: Progress | None = None  # (runs done, runs in all) as a sweep's runs finish


@dataclass
class BacktestOutcome:
    report: dict[str, Any] | None = None  # one run
    runs: list[dict[str, Any]] = field(default_factory=list)  # a sweep, ranked
    lookahead: LookAheadReport | None = None
    rank_by: str = "net"
    run_id: str | None = None  # as stored

    def lines(self) -> list[str]:
        """What the terminal shows: the report (and the look-ahead check), or the ranking."""
        if self.report is not None:
            lines = render_text(self.report)
            if self.lookahead is not None:
                lines += ["", *self.lookahead.lines()]
            return lines + self._stored()
        out = []
        for n, run in enumerate(self.runs, 1):
            t = run["totals"]
            params = " ".join(f"{k}={v}" for k, v in sorted(run["params"].items()))
            value = "-" if run["value"] is None else f"{run['value']:.4f}"
            cached = "  (cached)" if run["cached"] else ""
            dsr = run["deflated_sharpe"]["value"]
            deflated = "-" if dsr is None else f"{dsr:.2f}"
            out.append(
                f"{n:>3}. {self.rank_by} {value:>10}  net {t['net']:>10}  fills {t['fills']:>4}"
                f"  trades {t['round_trips']:>3}  DSR {deflated:>4}  {params}{cached}"
            )
        if self.runs:
            out.append(
                f"DSR: the probability that a run's Sharpe beats the best of {len(self.runs)} "
                "unskilled tries (deflated Sharpe ratio); - where the Sharpe is not given"
            )
        return out + self._stored()

    def _stored(self) -> list[str]:
        if self.run_id is None:
            return []
        return ["", f"stored as run {self.run_id} (`kalshi backtest runs show {self.run_id}`)"]

    def raise_if_failed(self) -> None:
        if self.lookahead is not None and not self.lookahead.ok:
            raise LookAheadFound(
                "the look-ahead check failed: a decision changed when later data was removed",
                hint="the strategy reads data from after its decision time; "
                "see docs/backtesting.md",
            )

    def to_json(self) -> dict[str, Any]:
        if self.report is not None:
            doc = dict(self.report)
            if self.lookahead is not None:
                doc["lookahead"] = self.lookahead.to_json()
        else:
            doc = {"format": "kalshi-backtest-sweep/1", "runs": self.runs}
        if self.run_id is not None:
            doc["run_id"] = self.run_id
        return doc


def build_request(
    config: TradeConfig,
    *,
    strategy: str,
    data: Path,
    start: str | None,
    end: str | None,
    markets: str | None,
    params: tuple[str, ...],
    fill_model: str,
    latency_ms: int,
    balance: str,
    html: Path | None,
    out: Path | None,
    rank_by: str,
    jobs: int | None,
    cache: bool,
    lookahead: bool,
    runs_dir: Path | None = None,
    params_file: Path | None = None,
    best_params: Path | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    progress: Progress | None = None,
) -> BacktestRequest:
    """The command line and the config file's sections (`strategies.NAME`, `risk`, `trade`)
    as one request; a misspelled strategy or a bad amount is refused before anything runs."""
    loaded = get_strategy(config.strategy_spec(strategy))
    # validated as a whole here, with file and line, before anything runs
    validated = config.params_for(loaded, params_file)
    _check_outputs(html, out)
    try:
        cash = Decimal(balance)
    except InvalidOperation as exc:
        raise UsageError(f"--balance {balance!r} is not an amount of dollars") from exc
    if not cash.is_finite():
        raise UsageError(f"--balance {balance!r} is not an amount of dollars")
    if cash <= 0:
        raise UsageError("--balance must be positive")
    spec = BacktestSpec(
        data=str(data),
        strategy=loaded.spec or loaded.name,
        params=tuple(sorted((k, str(v)) for k, v in params_dict(validated).items())),
        strategy_source=_source_key(loaded, validated),
        markets=tuple(t.strip() for t in (markets or "").split(",") if t.strip()),
        start_ns=parse_time(start, "--from"),
        end_ns=parse_time(end, "--to"),
        fill_model=fill_model,
        latency_ms=latency_ms,
        balance=balance,
        risk=tuple(sorted(config.risk.items())),
        trade=tuple(sorted(config.trade.items())),
    )
    return BacktestRequest(
        spec=spec,
        params=params,
        html=html,
        out=out,
        rank_by=rank_by,
        jobs=jobs,
        cache_dir=default_cache_dir() if cache else None,
        lookahead=lookahead,
        runs_dir=runs_dir,
        best_params=best_params,
        executor=executor,
        scheduler=scheduler,
        progress=progress,
    )


def parse_time(text: str | None, what: str) -> int | None:
    """Unix seconds, a date or ISO 8601 (UTC when no offset) -> unix nanoseconds."""
    if text is None:
        return None
    try:
        seconds = clock_parse_time(text)
    except ValueError as exc:
        raise UsageError(f"{what} {exc}") from exc
    return round(Decimal(repr(seconds)) * 1_000_000_000)


def backtest(request: BacktestRequest) -> BacktestOutcome:
    if request.rank_by not in METRICS:
        raise UsageError(
            f"--rank-by {request.rank_by!r}", hint=f"choose one of: {', '.join(METRICS)}"
        )
    axes = parse_params(request.params)
    singles = {k: v[0] for k, v in axes.items() if len(v) == 1}
    base = replace(
        request.spec, params=tuple(sorted((dict(request.spec.params) | singles).items()))
    )
    sweep_axes = {k: v for k, v in axes.items() if len(v) > 1}
    strategy = get_strategy(base.strategy)
    for spec in grid(base, sweep_axes):
        # every combination validated as a whole before the first run starts
        strategy.params(dict(spec.params))
    if request.best_params is not None and not sweep_axes:
        raise UsageError(
            "--best-params takes a sweep", hint="give a --param NAME=V1,V2 with several values"
        )
    if (request.executor != "local" or request.scheduler) and not sweep_axes:
        raise UsageError(
            "--executor and --scheduler take a sweep",
            hint="give a --param NAME=V1,V2 with several values",
        )
    if sweep_axes:
        if request.lookahead or request.html or request.out:
            raise UsageError("--lookahead-check, --html and --out take one run, not a sweep")
        specs = grid(base, sweep_axes)
        with open_executor(
            request.executor, jobs=request.jobs, scheduler=request.scheduler
        ) as executor:
            swept = run_sweep(
                specs, cache_dir=request.cache_dir, executor=executor, progress=request.progress
            )
        results = rank(swept, request.rank_by)
        # the best of many tries looks good by luck: each Sharpe is deflated by the trials
        deflated = deflate([report.get("statistics") for _, report, _ in results])
        sweep = BacktestOutcome(
            rank_by=request.rank_by,
            runs=[
                {
                    "params": dict(spec.params),
                    "rank_by": request.rank_by,
                    "value": metric_value(report, request.rank_by),
                    "cached": cached,
                    "totals": report["totals"],
                    "deflated_sharpe": dsr.to_json(),
                }
                for (spec, report, cached), dsr in zip(results, deflated, strict=True)
            ],
        )
        if request.best_params is not None and sweep.runs:
            _write_params(request.best_params, sweep.runs[0]["params"], request.rank_by)
        if request.runs_dir is not None:
            stored = [
                {**run, "statistics": report.get("statistics")}
                for run, (_, report, _) in zip(sweep.runs, results, strict=True)
            ]
            record = {"kind": "sweep", "axes": sweep_axes, "rank_by": request.rank_by}
            sweep.run_id = RunStore(request.runs_dir).save(
                provenance(base) | record | {"runs": stored}
            )
        return sweep
    outcome = BacktestOutcome(report=_one(base, request.out))
    if request.lookahead:
        with tempfile.TemporaryDirectory(prefix="kalshi-lookahead-") as tmp:
            outcome.lookahead = check_lookahead(base, Path(tmp))
    if request.html is not None:
        from kalshi_cli.backtest.html import render_html

        assert outcome.report is not None
        try:
            request.html.write_text(render_html(outcome.report), encoding="utf-8")
        except OSError as exc:
            raise _not_written(request.html, exc) from None
    if request.runs_dir is not None:
        record = provenance(base) | {"kind": "run", "report": outcome.to_json()}
        outcome.run_id = RunStore(request.runs_dir).save(record)
    return outcome


def _source_key(loaded: Any, params: Any) -> str:
    """The strategy's code, and what its params point at that is code too (the model strategy's
    source: `code_fingerprint`), for the cache's key."""
    key = strategy_source(loaded)
    extra = getattr(params, "code_fingerprint", None)
    return f"{key}+{extra()}" if callable(extra) and extra() else key


def _write_params(path: Path, params: dict[str, Any], rank_by: str) -> None:
    """The best run's params, every one, as YAML `--params` reads back (the same run again)."""
    import yaml

    header = f"# the best run of a sweep, ranked by {rank_by} (kalshi backtest --best-params)\n"
    try:
        path.write_text(header + yaml.safe_dump(dict(params), sort_keys=True), encoding="utf-8")
    except OSError as exc:
        raise _not_written(path, exc) from None


def _check_outputs(html: Path | None, out: Path | None) -> None:
    """Where the run's files go, checked before it runs: an --html file's directory must exist
    (a typo should not cost a long run), and --out is made now (parents too)."""
    if html is not None and not html.parent.is_dir():
        raise UsageError(
            f"--html {html}: the directory {html.parent} does not exist",
            hint="create it, or give --html a file in a directory that exists",
        )
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _not_written(out, exc) from None


def _not_written(path: Path, exc: OSError) -> DataWriteError:
    return DataWriteError(
        f"cannot write {path}: {exc.strerror or exc}",
        hint="free space, or choose a directory this user may write",
    )


def _one(spec: BacktestSpec, out: Path | None) -> dict[str, Any]:
    if out is None:
        with tempfile.TemporaryDirectory(prefix="kalshi-backtest-") as tmp:
            return _run_in(spec, Path(tmp), log=False)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("backtest.db", "backtest.db-wal", "backtest.db-shm", "backtest.log"):
        (out / name).unlink(missing_ok=True)  # a run starts from an empty state file
    report = _run_in(spec, out, log=True)
    try:
        (out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    except OSError as exc:
        raise _not_written(out / "report.json", exc) from None
    return report


def _run_in(spec: BacktestSpec, workdir: Path, *, log: bool) -> dict[str, Any]:
    artifacts = execute(spec, workdir, log_path=workdir / "backtest.log" if log else None)
    try:
        return build_report(artifacts)
    finally:
        artifacts.venue.exchange.close()

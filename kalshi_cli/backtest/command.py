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
from kalshi_cli.backtest.lookahead import LookAheadFound, LookAheadReport, check_lookahead
from kalshi_cli.backtest.report import build_report, render_text
from kalshi_cli.backtest.sweep import (
    METRICS,
    default_cache_dir,
    grid,
    metric_value,
    parse_params,
    rank,
    run_sweep,
)
from kalshi_cli.clock import parse_iso
from kalshi_cli.errors import UsageError
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


@dataclass
class BacktestOutcome:
    report: dict[str, Any] | None = None  # one run
    runs: list[dict[str, Any]] = field(default_factory=list)  # a sweep, ranked
    lookahead: LookAheadReport | None = None
    rank_by: str = "net"

    def lines(self) -> list[str]:
        """What the terminal shows: the report (and the look-ahead check), or the ranking."""
        if self.report is not None:
            lines = render_text(self.report)
            if self.lookahead is not None:
                lines += ["", *self.lookahead.lines()]
            return lines
        out = []
        for n, run in enumerate(self.runs, 1):
            t = run["totals"]
            params = " ".join(f"{k}={v}" for k, v in sorted(run["params"].items()))
            value = "-" if run["value"] is None else f"{run['value']:.4f}"
            cached = "  (cached)" if run["cached"] else ""
            out.append(
                f"{n:>3}. {self.rank_by} {value:>10}  net {t['net']:>10}  fills {t['fills']:>4}"
                f"  trades {t['round_trips']:>3}  {params}{cached}"
            )
        return out

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
            return doc
        return {"format": "kalshi-backtest-sweep/1", "runs": self.runs}


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
    params_file: Path | None = None,
) -> BacktestRequest:
    """The command line and the config file's sections (`strategies.NAME`, `risk`, `trade`)
    as one request; a misspelled strategy or a bad amount is refused before anything runs."""
    loaded = get_strategy(config.strategy_spec(strategy))
    # validated as a whole here, with file and line, before anything runs
    validated = config.params_for(loaded, params_file)
    try:
        if Decimal(balance) <= 0:
            raise UsageError("--balance must be positive")
    except InvalidOperation as exc:
        raise UsageError(f"--balance {balance!r} is not an amount of dollars") from exc
    spec = BacktestSpec(
        data=str(data),
        strategy=loaded.spec or loaded.name,
        params=tuple(sorted((k, str(v)) for k, v in params_dict(validated).items())),
        strategy_source=strategy_source(loaded),
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
    )


def parse_time(text: str | None, what: str) -> int | None:
    """Unix seconds or ISO 8601 (UTC when no offset) -> unix nanoseconds."""
    if text is None:
        return None
    try:
        return int(float(text) * 1e9)  # float-ok: seconds from the command line
    except ValueError:
        pass
    try:
        return int(parse_iso(text).timestamp() * 1e9)
    except ValueError as exc:
        raise UsageError(f"{what} {text!r}: expected ISO 8601 or unix seconds") from exc


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
    if sweep_axes:
        if request.lookahead or request.html or request.out:
            raise UsageError("--lookahead-check, --html and --out take one run, not a sweep")
        specs = grid(base, sweep_axes)
        results = rank(
            run_sweep(specs, jobs=request.jobs, cache_dir=request.cache_dir), request.rank_by
        )
        return BacktestOutcome(
            rank_by=request.rank_by,
            runs=[
                {
                    "params": dict(spec.params),
                    "rank_by": request.rank_by,
                    "value": metric_value(report, request.rank_by),
                    "cached": cached,
                    "totals": report["totals"],
                }
                for spec, report, cached in results
            ],
        )
    outcome = BacktestOutcome(report=_one(base, request.out))
    if request.lookahead:
        with tempfile.TemporaryDirectory(prefix="kalshi-lookahead-") as tmp:
            outcome.lookahead = check_lookahead(base, Path(tmp))
    if request.html is not None:
        from kalshi_cli.backtest.html import render_html

        assert outcome.report is not None
        request.html.write_text(render_html(outcome.report), encoding="utf-8")
    return outcome


def _one(spec: BacktestSpec, out: Path | None) -> dict[str, Any]:
    if out is None:
        with tempfile.TemporaryDirectory(prefix="kalshi-backtest-") as tmp:
            return _run_in(spec, Path(tmp), log=False)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("backtest.db", "backtest.db-wal", "backtest.db-shm", "backtest.log"):
        (out / name).unlink(missing_ok=True)  # a run starts from an empty state file
    report = _run_in(spec, out, log=True)
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    return report


def _run_in(spec: BacktestSpec, workdir: Path, *, log: bool) -> dict[str, Any]:
    artifacts = execute(spec, workdir, log_path=workdir / "backtest.log" if log else None)
    try:
        return build_report(artifacts)
    finally:
        artifacts.venue.exchange.close()

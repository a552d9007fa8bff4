"""`kalshi backtest`: a strategy over recorded data, through the trade loop's own code, on a
local venue (kalshi_cli/backtest/; docs/backtesting.md). Parse, one call, render."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kalshi_cli.cli._context import current
from kalshi_cli.cli._options import JsonOpt


class FillModelChoice(StrEnum):
    OPTIMISTIC = "optimistic"
    PESSIMISTIC = "pessimistic"


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest_command)


def backtest_command(
    *,
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            help="spike, mean-reversion, arbitrage or market-maker (docs/strategies.md).",
            show_default=False,
        ),
    ],
    data: Annotated[
        Path,
        typer.Option(
            "--data", help="A data set `kalshi record` wrote.", file_okay=False, show_default=False
        ),
    ],
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Start at this time (ISO 8601, UTC, or unix seconds).",
            show_default=False,
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="Stop before this time.", show_default=False),
    ] = None,
    markets: Annotated[
        str | None,
        typer.Option(
            "--markets",
            help="Comma-separated tickers. [default: every market of the data]",
            show_default=False,
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="A strategy parameter, NAME=VALUE; NAME=V1,V2,... sweeps it (repeatable).",
            show_default=False,
        ),
    ] = None,
    fill_model: Annotated[
        FillModelChoice,
        typer.Option("--fill-model", help="Whose are the cancels ahead of a resting order."),
    ] = FillModelChoice.OPTIMISTIC,
    latency_ms: Annotated[
        int, typer.Option("--latency-ms", help="From decision to arrival at the venue.", min=0)
    ] = 0,
    balance: Annotated[str, typer.Option("--balance", help="Starting cash in dollars.")] = "1000",
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write the report as one HTML file.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Keep the run's state file, event log and report.json in this directory.",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    rank_by: Annotated[
        str,
        typer.Option(
            "--rank-by",
            help="A sweep's order: net, sharpe, sortino, profit_factor, win_rate, expectancy, "
            "max_drawdown or fees.",
        ),
    ] = "net",
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            help="Processes for a sweep. [default: one per core]",
            min=1,
            show_default=False,
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run every sweep run again, cached or not.")
    ] = False,
    lookahead_check: Annotated[
        bool,
        typer.Option(
            "--lookahead-check",
            help="Run again on data cut at signal times: did a decision use the future?",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Replay recorded data through a strategy, the risk rules and the order bookkeeping.

    Example: kalshi record --tickers KXNBAGAME-SIM-LALGSW-LAL --out recordings/kx --duration 2
    && kalshi backtest --strategy spike --data recordings/kx
    """
    from decimal import Decimal, InvalidOperation

    from kalshi_cli.backtest.command import BacktestRequest, backtest, parse_time
    from kalshi_cli.backtest.engine import BacktestSpec
    from kalshi_cli.backtest.report import render_text
    from kalshi_cli.backtest.sweep import default_cache_dir
    from kalshi_cli.errors import UsageError
    from kalshi_cli.runner import load_trade_config
    from kalshi_cli.strategies import get_strategy

    get_strategy(strategy)
    try:
        if Decimal(balance) <= 0:
            raise UsageError("--balance must be positive")
    except InvalidOperation as exc:
        raise UsageError(f"--balance {balance!r} is not an amount of dollars") from exc
    app = current()
    config = load_trade_config(app.settings().config_path)
    spec = BacktestSpec(
        data=str(data),
        strategy=strategy,
        params=tuple(sorted((k, str(v)) for k, v in config.strategy_params(strategy).items())),
        markets=tuple(t.strip() for t in (markets or "").split(",") if t.strip()),
        start_ns=parse_time(start, "--from"),
        end_ns=parse_time(end, "--to"),
        fill_model=fill_model.value,
        latency_ms=latency_ms,
        balance=balance,
        risk=tuple(sorted(config.risk.items())),
        trade=tuple(sorted(config.trade.items())),
    )
    outcome = backtest(
        BacktestRequest(
            spec=spec,
            params=tuple(param or ()),
            html=html,
            out=out,
            rank_by=rank_by,
            jobs=jobs,
            cache_dir=None if no_cache else default_cache_dir(),
            lookahead=lookahead_check,
        )
    )
    output = app.output(as_json=as_json)
    if as_json:
        output.json(outcome.to_json())
    elif outcome.report is not None:
        for line in render_text(outcome.report):
            output.line(line)
        if outcome.lookahead is not None:
            for line in ["", *outcome.lookahead.lines()]:
                output.line(line)
    else:
        for n, run in enumerate(outcome.runs, 1):
            t = run["totals"]
            params = " ".join(f"{k}={v}" for k, v in sorted(run["params"].items()))
            value = "-" if run["value"] is None else f"{run['value']:.4f}"
            output.line(
                f"{n:>3}. {rank_by} {value:>10}  net {t['net']:>10}  fills {t['fills']:>4}  "
                f"trades {t['round_trips']:>3}  {params}{'  (cached)' if run['cached'] else ''}"
            )
    if outcome.lookahead is not None and not outcome.lookahead.ok:
        from kalshi_cli.backtest.lookahead import LookAheadFound

        raise LookAheadFound(
            "the look-ahead check failed: a decision changed when later data was removed",
            hint="the strategy reads data from after its decision time; see docs/backtesting.md",
        )

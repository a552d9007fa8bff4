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
            help="A built-in (spike, mean-reversion, arbitrage, market-maker), a .py file, "
            "package.module:attr or an installed entry point (docs/strategies.md).",
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
    params_file: Annotated[
        Path | None,
        typer.Option(
            "--params",
            help="The strategy's parameters (YAML) instead of the config's strategies.NAME.",
            dir_okay=False,
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
    from kalshi_cli.backtest.command import backtest, build_request
    from kalshi_cli.runner import load_trade_config

    app = current()
    request = build_request(
        load_trade_config(app.settings().config_path),
        strategy=strategy, data=data, start=start, end=end, markets=markets,
        params=tuple(param or ()), fill_model=fill_model.value, latency_ms=latency_ms,
        balance=balance, html=html, out=out, rank_by=rank_by, jobs=jobs,
        cache=not no_cache, lookahead=lookahead_check, params_file=params_file,
    )  # fmt: skip
    outcome = backtest(request)
    output = app.output(as_json=as_json)
    if as_json:
        output.json(outcome.to_json())
    else:
        for line in outcome.lines():
            output.line(line)
    outcome.raise_if_failed()

"""`kalshi backtest`: a strategy over recorded data, through the trade loop's own code, on a
local venue (kalshi_cli/backtest/; docs/backtesting.md). Parse, one call, render."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalshi_cli.cli._context import current
from kalshi_cli.cli._options import (
    BudgetOpt,
    JsonOpt,
    ModelOpt,
    NettingOpt,
    ParamsOpt,
    StrategiesOpt,
    on_off,
    tickers_option,
)
from kalshi_cli.cli._output import Column

if TYPE_CHECKING:
    from kalshi_cli.backtest.history import RunStore


class FillModelChoice(StrEnum):
    OPTIMISTIC = "optimistic"
    PESSIMISTIC = "pessimistic"


class SearchChoice(StrEnum):
    TPE = "tpe"
    RANDOM = "random"
    GRID = "grid"


class ExecutorChoice(StrEnum):
    LOCAL = "local"
    DASK = "dask"


backtest_app = typer.Typer(name="backtest", rich_markup_mode=None, add_completion=False)
runs_app = typer.Typer(
    name="runs",
    help="The runs and sweeps `kalshi backtest` stored: list, show, compare.\n\n"
    "Example: kalshi backtest runs list --json",
    no_args_is_help=True,
)


def backtest_command(
    ctx: typer.Context,
    *,
    strategy: StrategiesOpt = None,
    model: ModelOpt = None,
    params_file: ParamsOpt = None,
    budget: BudgetOpt = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="A data set `kalshi record` wrote.", file_okay=False),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--from", help="Start at this time (ISO 8601, UTC, or unix seconds)."),
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Stop before this time.")] = None,
    markets: Annotated[
        str | None,
        tickers_option("Comma-separated tickers. [default: every market of the data]"),
    ] = None,
    best_params: Annotated[
        Path | None,
        typer.Option(
            "--best-params",
            help="A sweep or search writes the params it chose here (YAML), for --params.",
            dir_okay=False,
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="A strategy parameter, NAME=VALUE; NAME=V1,V2,... sweeps it; NAME=LO..HI[:STEP] "
            "is a range --search tries (repeatable). With several strategies, STRATEGY.NAME=...",
        ),
    ] = None,
    search: Annotated[
        SearchChoice | None,
        typer.Option(
            "--search",
            help="Search the ranges the strategy declares and the --param ranges on Optuna; the "
            "study is kept, so the same command again continues it.",
            case_sensitive=False,
        ),
    ] = None,
    trials: Annotated[
        int | None,
        typer.Option(
            "--trials",
            help="The trials the study should hold. [default: 20; grid: every point]",
            min=1,
        ),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option("--study", help="The study's name. [default: one named by what it searches]"),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="The search sampler's seed.")] = 0,
    holdout: Annotated[
        str | None,
        typer.Option(
            "--holdout",
            help="Keep the last SHARE of the data's time span apart: choose on the rest, report "
            "on it (e.g. 0.25).",
            metavar="SHARE",
        ),
    ] = None,
    walk_forward: Annotated[
        int | None,
        typer.Option(
            "--walk-forward",
            help="Choose on each of N windows rolling forward in time, test on the part after "
            "it (its share: --holdout, default 0.25).",
            metavar="N",
            min=1,
        ),
    ] = None,
    overfit_gap: Annotated[
        str | None,
        typer.Option(
            "--overfit-gap",
            help="Flag OVERFIT when the holdout loses more than this share of the training "
            "figure. [default: 0.5]",
        ),
    ] = None,
    fill_model: Annotated[
        FillModelChoice,
        typer.Option(
            "--fill-model",
            help="Whose are the cancels ahead of a resting order.",
            case_sensitive=False,
        ),
    ] = FillModelChoice.OPTIMISTIC,
    latency_ms: Annotated[
        int, typer.Option("--latency-ms", help="From decision to arrival at the venue.", min=0)
    ] = 0,
    balance: Annotated[str, typer.Option("--balance", help="Starting cash in dollars.")] = "1000",
    netting: NettingOpt = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write the report as one HTML file.", dir_okay=False),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Keep the run's event log and report.json in this directory.",
            file_okay=False,
        ),
    ] = None,
    keep_state: Annotated[
        bool,
        typer.Option(
            "--keep-state",
            help="Also save the run's state file (backtest.db) in the --out directory; a run "
            "keeps its state in memory.",
        ),
    ] = False,
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
            help="Processes for a sweep (local, or a local Dask cluster). [default: one per core]",
            min=1,
        ),
    ] = None,
    executor: Annotated[
        ExecutorChoice,
        typer.Option(
            "--executor",
            help="Where a sweep's runs go: local worker processes, or a Dask cluster.",
            case_sensitive=False,
        ),
    ] = ExecutorChoice.LOCAL,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="--executor dask: the scheduler's address, tcp://HOST:8786. "
            "[default: DASK_SCHEDULER_ADDRESS, else a Dask cluster on this machine]",
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

    Every run and sweep is stored with what produced it: `kalshi backtest runs list`.

    Example: kalshi record --tickers KXNBAGAME-SIM-LALGSW-LAL --out recordings/kx --duration 2
    && kalshi backtest --strategy spike --data recordings/kx
    """
    if ctx.invoked_subcommand is not None:
        return
    from dataclasses import replace

    from kalshi_cli.backtest.command import backtest, build_request
    from kalshi_cli.config import dirs_from
    from kalshi_cli.runner.config import choose_lineup, load_trade_config
    from kalshi_cli.vocabulary.errors import UsageError

    if data is None:
        raise UsageError(
            "kalshi backtest needs --data",
            hint="e.g. kalshi backtest --strategy spike --data recordings/kx",
        )
    app = current()
    config, lineup = choose_lineup(
        load_trade_config(app.settings().config_path),
        strategy or (),
        params_file or (),
        budget or (),
    )
    output = app.output(as_json=as_json)
    shown = output.progress("sweep runs done")  # on a terminal's stderr only
    replayed = output.progress("% of the data replayed")  # a single run's
    parsed = build_request(
        config.with_model(tuple(c.spec for c in lineup), model).with_netting(on_off(netting)),
        lineup=lineup, data=data, start=start, end=end, markets=markets,
        params=tuple(param or ()), fill_model=fill_model.value, latency_ms=latency_ms,
        balance=balance, cache=not no_cache, holdout=holdout, overfit_gap=overfit_gap,
    )  # fmt: skip
    request = replace(
        parsed, html=html, out=out, keep_state=keep_state, rank_by=rank_by, jobs=jobs,
        lookahead=lookahead_check, best_params=best_params, executor=executor.value,
        scheduler=scheduler, run_progress=lambda done, _total: shown(done),
        replay_progress=replayed, runs_dir=dirs_from(app.environ).backtest_runs_dir(),
        walk_forward=walk_forward, search=None if search is None else search.value,
        trials=trials, study=study, seed=seed, progress=app.output(as_json=as_json).note,
    )  # fmt: skip
    with shown, replayed:
        outcome = backtest(request)
    if as_json:
        output.json(outcome.to_json())
    else:
        for line in outcome.lines():
            output.line(line)
    outcome.raise_if_failed()


backtest_app.callback(invoke_without_command=True)(backtest_command)
backtest_app.add_typer(runs_app, name="runs")

RunArg = Annotated[str, typer.Argument(help="A run's id, a unique start of one, or `last`.")]


_RUN_COLUMNS = [
    Column("id", "id", identifier=True),
    Column("kind", "kind"),
    Column("strategy", "strategy"),
    Column("net", "net", numeric=True, money=True),
    Column("fills", "fills", numeric=True),
    Column("sharpe", "Sharpe", numeric=True),
    Column("params", "params"),
    Column("data", "data"),
]


def _store() -> RunStore:
    from kalshi_cli.backtest.history import RunStore
    from kalshi_cli.config import dirs_from

    return RunStore(dirs_from(current().environ).backtest_runs_dir())


@runs_app.command("list")
def runs_list_command(as_json: JsonOpt = False) -> None:
    """List the stored runs and sweeps, oldest first; a sweep by its best set, with its failures."""
    runs = _store().summaries()
    output = current().output(as_json=as_json)
    if not runs and not as_json:
        output.line("no stored backtest run")
        return
    output.table(_RUN_COLUMNS, [_run_row(r) for r in runs], document={"runs": runs})


def _run_row(r: dict[str, Any]) -> dict[str, str]:
    """A run: its params; a sweep: how many sets ran and failed, and its best set's swept
    values beside that set's figures; one without figures of the strategy's: FAILED and why
    (a holdout that chose no set has no best)."""
    from kalshi_cli.backtest.report import params_text

    if r["kind"] == "run":
        kind = "run (FAILED)" if r.get("failed") else "run"
        params = params_text(r["params"])
    else:
        kind = f"{r['kind']} of {r['runs']}"
        if r["kind"] == "sweep":
            kind += f", {r.get('failed') or 0} failed"
        best = r.get("best_params")
        shown = [k for k in r.get("axes") or [] if best and k in best] or sorted(best or {})
        params = "best: " + " ".join(f"{k}={best[k]}" for k in shown) if best else ""
        if r.get("failure"):
            kind, params = f"{kind} (FAILED)", r["failure"]
    return {
        "id": r["id"],
        "kind": kind,
        "strategy": r["strategy"],
        "net": r["net"] or "",
        "fills": "" if r["fills"] is None else str(r["fills"]),
        "sharpe": "-" if r["sharpe"] is None else f"{r['sharpe']:.2f}",
        "params": params,
        "data": r["data"],
    }


@runs_app.command("show")
def runs_show_command(run: RunArg, as_json: JsonOpt = False) -> None:
    """Show a stored run: what produced it, then its report (a sweep: its ranking)."""
    from kalshi_cli.backtest.history import describe

    stored = _store().get(run)
    output = current().output(as_json=as_json)
    if as_json:
        output.json(stored)
        return
    for line in describe(stored):
        output.line(line)


@runs_app.command("compare")
def runs_compare_command(a: RunArg, b: RunArg, as_json: JsonOpt = False) -> None:
    """Two stored runs side by side, figure by figure, with what differs in what produced them."""
    from kalshi_cli.backtest.history import compare

    store = _store()
    diff = compare(store.get(a), store.get(b))
    output = current().output(as_json=as_json)
    if as_json:
        output.json(diff)
        return
    failed = diff["failed"]
    for side in ("a", "b"):
        if failed[side]:
            output.line(
                f"{side} {diff[side]}: FAILED: {failed[side]}; "
                "its figures are not the strategy's and are not compared"
            )
    for row in diff["inputs"]:
        output.line(f"{row['what']} differs: a {_brief(row['a'])}; b {_brief(row['b'])}")
    if diff["none_compared"]:  # not the empty table's "nothing matched": the runs matched
        output.line(diff["none_compared"])
        return
    columns, rows = _compare_table(diff)
    output.table(columns, rows, document=diff)


def _compare_table(diff: dict[str, Any]) -> tuple[list[Column], list[dict[str, str]]]:
    """`runs compare`'s table: each figure of the two runs and their difference, a failed
    run's column marked FAILED in its head and in every row."""
    failed = diff["failed"]
    columns = [
        Column("figure", "figure"),
        *(
            Column(side, f"{diff[side]} (FAILED)" if failed[side] else diff[side], numeric=True)
            for side in ("a", "b")
        ),
        Column("difference", "b - a", numeric=True),
    ]
    rows = [
        {side: "FAILED" if failed[side] else _cell(row[side]) for side in ("a", "b")}
        | {"figure": row["figure"], "difference": _cell(row["difference"])}
        for row in diff["figures"]
    ]
    return columns, rows


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _brief(value: object) -> str:
    import json

    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."

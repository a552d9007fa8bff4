"""`kalshi trade`: the trading loop, with its risk controls (kalshi_cli.runner; the locks and
the metrics endpoint around it are `kalshi_cli.runner.lifecycle.launch`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kalshi_cli.cli._context import current
from kalshi_cli.cli._options import (
    BudgetOpt,
    DurationOpt,
    EnvOpt,
    ModelOpt,
    NettingOpt,
    OnOff,
    ParamsOpt,
    StrategiesOpt,
    event_option,
    narrowing,
    non_empty_text,
    on_off,
    series_option,
    subaccount_option,
    tickers_option,
)
from kalshi_cli.cli._services import tier_setting
from kalshi_cli.vocabulary.names import names_in

if TYPE_CHECKING:
    from collections.abc import Callable

    from kalshi_cli.cli._context import AppContext
    from kalshi_cli.config import Settings
    from kalshi_cli.runner.config import StrategyChoice, TradeConfig, TradeOptions
    from kalshi_cli.store import Store


def trade_command(
    ctx: typer.Context,
    *,
    strategy: StrategiesOpt = None,
    model: ModelOpt = None,
    params_file: ParamsOpt = None,
    budget: BudgetOpt = None,
    assign: Annotated[
        list[str] | None,
        typer.Option(
            "--assign",
            metavar="NAME:TICKER",
            parser=narrowing,
            help="Give strategy NAME the contracts held in TICKER that no strategy bought (by "
            "hand, before the loop), so its exits may sell them; repeat it. Kept in the state "
            "file until replaced or cleared (`kalshi status` lists them). Without it such a "
            "position is nobody's and no strategy trades it.",
        ),
    ] = None,
    unassign: Annotated[
        list[str] | None,
        typer.Option(
            "--unassign",
            metavar="TICKER",
            parser=non_empty_text,
            help="Clear TICKER's --assign and exit: its contracts no strategy bought are "
            "nobody's again. No loop starts; given alone (--env aside). Repeat it for several.",
        ),
    ] = None,
    markets: Annotated[
        str | None,
        tickers_option(
            "Comma-separated tickers to trade. On prod one of --markets, --series and "
            "--event (or the config's trade: section) is required."
        ),
    ] = None,
    series: Annotated[
        str | None,
        series_option("Every open market of a series, and each that opens while the loop runs."),
    ] = None,
    event: Annotated[
        str | None,
        event_option("Every open market of an event, and each that opens while the loop runs."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Log signals and risk verdicts; send nothing.")
    ] = False,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit (for cron).")] = False,
    duration: DurationOpt = None,
    max_ticks: Annotated[
        int | None, typer.Option("--max-ticks", help="Stop after N ticks.")
    ] = None,
    live: Annotated[
        bool, typer.Option("--live", help="Required on prod: place real orders.")
    ] = False,
    log_file: Annotated[
        Path | None,
        typer.Option(
            "--log-file",
            help="JSON-lines log. [default: trade.log by the state file]",
            dir_okay=False,
        ),
    ] = None,
    order_group: Annotated[
        bool,
        typer.Option(
            "--order-group/--no-order-group",
            help="Run the session's orders inside one exchange-side order group, which the "
            "kill switch triggers and the exchange stops at trade.order_group_limit contracts "
            "per 15 s (docs/trade-loop.md).",
        ),
    ] = True,
    paper: Annotated[
        bool,
        typer.Option(
            "--paper",
            help="Paper trading: live market data, orders filled locally against the live book "
            "(nothing is sent; a read-only key is enough), in a state file of its own, "
            "<state>.paper-<env>.db (docs/backtesting.md).",
        ),
    ] = False,
    paper_balance: Annotated[
        str,
        typer.Option("--paper-balance", help="The paper session's starting cash, in dollars."),
    ] = "1000",
    netting: NettingOpt = None,
    subaccount: Annotated[
        int | None,
        subaccount_option(
            "Trade on subaccount N (0 is the primary account, 1-63 numbered ones): every "
            "order, cancel, order group and read of orders, fills, positions and settlements "
            "is N's, and the risk rules count N's positions and orders (no rule reads a "
            "balance). Still one loop per account: a loop on another subaccount of the same "
            "account is refused. With --paper, the paper venue's subaccount N holds "
            "--paper-balance. [default: the subaccount the API key is restricted to, else 0; with "
            "--paper, 0]"
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Serve Prometheus metrics (from the state file) on 127.0.0.1:PORT/metrics.",
            min=1,
            max=65535,
        ),
    ] = None,
    env: EnvOpt = None,
) -> None:
    """Run the trading loop: strategies on live market data, every order through the risk rules.

    Example: kalshi trade --strategy spike --duration 60

    Several in one loop: kalshi trade --strategy market-maker --strategy spike --duration 120

    Paper trading: kalshi trade --strategy market-maker --paper --env demo --duration 600

    Paper trading with netting: kalshi trade --strategy arbitrage --paper --netting on --once

    Clear an assignment, and exit: kalshi trade --unassign KXBTCD-SIM-T97000

    On a subaccount: kalshi trade --strategy spike --markets KXBTCD-25DEC31-T100000 --subaccount 2
    """
    from kalshi_cli.runner.config import choose_lineup, load_trade_config
    from kalshi_cli.runner.lifecycle.launch import run_trade
    from kalshi_cli.runner.loop.settings import CLIENT_RETRY_BUDGET_S
    from kalshi_cli.runner.preflight import check_start

    app = current()
    settings = app.settings(env.value if env else None)
    if unassign is not None:
        return _unassign(ctx, app, unassign)
    # each strategy looked up once and run as found; a mistake in the lineup is refused
    # before any client, key or lock exists
    config, lineup = choose_lineup(
        load_trade_config(settings.config_path), strategy or (), params_file or (), budget or ()
    )
    options = _options(lineup, selected=(markets, series, event), dry_run=dry_run, once=once,
        bounds=(duration, max_ticks), live=live, log_file=log_file, order_group=order_group,
        venue=(paper, paper_balance, subaccount), assign=assign or [])  # fmt: skip
    config = _with_netting(config, netting, paper=paper)
    # prod's refusals where the money is prod's, whatever `env` names (`Settings.money_env`)
    check_start(settings.money_env, options, config)  # the refusals that need no exchange
    run_trade(
        options,
        env=settings.money_env,
        state_path=_state_path(settings, options),
        config=config.with_model(tuple(c.spec for c in options.strategies), model),
        client=app.client(auth=True, retry_budget_s=CLIENT_RETRY_BUDGET_S),  # first: its budget
        connection=app.connection(auth=True),
        metrics_port=metrics_port,
        announce=lambda text: typer.echo(text, err=True),
        read_lag_s=settings.read_lag,
        bind=_binder(app, settings),
        tier=tier_setting(app),
    )


def _with_netting(config: TradeConfig, netting: OnOff | None, *, paper: bool) -> TradeConfig:
    """`--netting` laid over `trade.venue_netting`: the paper venue's alone. A live loop's
    netting is the exchange's, set there."""
    from kalshi_cli.vocabulary.errors import UsageError

    if netting is not None and not paper:
        raise UsageError(
            "--netting is the paper venue's; the exchange's netting is set on the exchange",
            hint="kalshi subaccount netting on|off [--subaccount N]",
        )
    return config.with_netting(on_off(netting))


def _unassign(ctx: typer.Context, app: AppContext, tickers: list[str]) -> None:
    """`--unassign TICKER`: the assignments cleared, said, and no loop. With any option of a
    run (`--assign` included) it is refused: which of the two was meant cannot be told."""
    from kalshi_cli.cli._services import open_store
    from kalshi_cli.runner.assembly import clear_assignments
    from kalshi_cli.vocabulary.errors import UsageError

    given = [
        p.opts[0]
        for p in ctx.command.params
        if p.name not in ("unassign", "env")
        and getattr(ctx.get_parameter_source(p.name or ""), "name", "") == "COMMANDLINE"
    ]
    if given:
        raise UsageError(
            f"--unassign clears and exits, it starts no loop: not with {', '.join(given)}",
            hint="clear first, then start the loop without --unassign",
        )
    cleared = clear_assignments(tickers, app.client().markets, lambda: open_store(app))
    for ticker, name in cleared.items():
        typer.echo(f"{ticker}: cleared (was {name}'s)" if name else f"{ticker}: had no assignment")


def _state_path(settings: Settings, options: TradeOptions) -> Path:
    """The loop's state file: the settings' one, or beside it a paper session's own."""
    if not options.paper:
        return settings.state
    from kalshi_cli.store.paper import paper_state_path

    return paper_state_path(settings.state, settings.env)


def _binder(app: AppContext, settings: Settings) -> Callable[[Store], None]:
    """Binds the state file the loop opens to this exchange endpoint and account."""
    from kalshi_cli.services.connection import bind_state

    return lambda store: bind_state(settings, store, app.connection(auth=True))


def _assignments(given: list[str]) -> tuple[tuple[str, str], ...]:
    """`--assign NAME:TICKER`, each split at its first colon (a ticker has none)."""
    from kalshi_cli.vocabulary.errors import UsageError

    pairs = []
    for text in given:
        name, sep, ticker = text.rpartition(":")
        if not sep or not name.strip() or not ticker.strip():
            raise UsageError(
                f"--assign {text!r}: say which strategy takes which market",
                hint="e.g. --assign spike:KXHIGHNY-26NOV25-T60",
            )
        pairs.append((name.strip(), ticker.strip()))
    return tuple(pairs)


def _options(
    strategies: tuple[StrategyChoice, ...],
    *,
    selected: tuple[str | None, str | None, str | None],
    dry_run: bool,
    once: bool,
    bounds: tuple[float | None, int | None],
    live: bool,
    log_file: Path | None,
    order_group: bool = True,
    venue: tuple[bool, str, int | None] = (False, "1000", None),
    assign: list[str] | None = None,
) -> TradeOptions:
    """The options of one run; `venue` is where its orders go: (`--paper`, `--paper-balance`,
    `--subaccount`); `assign`: the `--assign` values."""
    from kalshi_cli.runner.config import Selection, TradeOptions
    from kalshi_cli.vocabulary.errors import UsageError
    from kalshi_cli.vocabulary.order_terms import TermsError, parse_cash

    markets, series, event = selected
    duration, max_ticks = bounds
    if sum(1 for x in (markets, series, event) if x) > 1:
        raise UsageError("give at most one of --markets, --series and --event")
    paper_on, paper_balance, subaccount = venue
    try:
        balance = parse_cash(paper_balance)  # the venue holds it in cents, as the exchange does
    except TermsError as exc:
        raise UsageError(f"--paper-balance: {exc.problems[0].message}") from None
    return TradeOptions(
        strategies=strategies,
        selection=Selection(tuple(names_in(markets)), series, event),
        dry_run=dry_run,
        once=once,
        duration_s=duration,
        max_ticks=max_ticks,
        live=live,
        log_file=log_file,
        order_group=order_group,
        paper=paper_on,
        paper_balance=balance,
        subaccount=subaccount,
        assign=_assignments(assign or []),
    )

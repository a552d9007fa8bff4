"""`kalshi trade`: the trading loop, with its risk controls (kalshi_cli.runner; the locks and
the metrics endpoint around it are `kalshi_cli.runner.lifecycle.launch`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kalshi_cli.cli._context import current
from kalshi_cli.cli._options import EnvOpt, FiniteFloat
from kalshi_cli.cli._services import tier_setting

if TYPE_CHECKING:
    from collections.abc import Callable

    from kalshi_cli.cli._context import AppContext
    from kalshi_cli.config import Settings
    from kalshi_cli.runner.config import StrategyChoice, TradeConfig, TradeOptions
    from kalshi_cli.store import Store
    from kalshi_cli.strategies import StrategyLookup


def register(app: typer.Typer) -> None:
    app.command("trade")(trade_command)


def _strategy_names(incomplete: str) -> list[str]:
    """Shell completion of --strategy: the registered names."""
    from kalshi_cli.strategies import strategy_names

    return [n for n in strategy_names() if n.startswith(incomplete)]


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(t.strip() for t in (text or "").split(",") if t.strip())


def trade_command(
    *,
    strategy: Annotated[
        list[str] | None,
        typer.Option(
            "--strategy",
            help="A built-in (spike, mean-reversion, arbitrage, market-maker, model, crypto), a "
            ".py file, package.module:attr or an installed entry point (docs/strategies.md). "
            "Repeat it to run several in one loop, each trading only what it owns. "
            "[default: the config's trade.strategies]",
            show_default=False,
            autocompletion=_strategy_names,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="The model strategy's source of fair values: python:package.module:function, "
            "command:'COMMAND' or file:PATH (docs/models.md).",
            show_default=False,
        ),
    ] = None,
    params_file: Annotated[
        list[str] | None,
        typer.Option(
            "--params",
            help="A strategy's parameters (YAML) instead of the config's strategies.NAME: FILE "
            "with one --strategy, NAME=FILE with several (repeat it); kill -HUP reloads the "
            "fields each marks updatable.",
            show_default=False,
        ),
    ] = None,
    assign: Annotated[
        list[str] | None,
        typer.Option(
            "--assign",
            metavar="NAME:TICKER",
            help="Give strategy NAME the contracts held in TICKER that no strategy bought (by "
            "hand, before the loop), so its exits may sell them; repeat it. Without it such a "
            "position is nobody's and no strategy trades it.",
            show_default=False,
        ),
    ] = None,
    markets: Annotated[
        str | None,
        typer.Option(
            "--tickers",
            "--ticker",
            "--markets",
            help="Comma-separated tickers to trade. On prod one of --markets, --series and "
            "--event (or the config's trade: section) is required.",
            show_default=False,
        ),
    ] = None,
    series: Annotated[
        str | None,
        typer.Option("--series", help="Every open market of a series.", show_default=False),
    ] = None,
    event: Annotated[
        str | None,
        typer.Option("--event", help="Every open market of an event.", show_default=False),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Log signals and risk verdicts; send nothing.")
    ] = False,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit (for cron).")] = False,
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration",
            parser=FiniteFloat(),
            help="Stop after this many seconds (a finite number above 0).",
            show_default=False,
        ),
    ] = None,
    max_ticks: Annotated[
        int | None, typer.Option("--max-ticks", help="Stop after N ticks.", show_default=False)
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
            show_default=False,
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
    subaccount: Annotated[
        int | None,
        typer.Option(
            "--subaccount",
            min=0,
            max=63,
            help="Trade on subaccount N (0 is the primary account, 1-63 numbered ones): every "
            "order, cancel, order group and read of orders, fills, positions and settlements "
            "is N's, and the risk rules count N's positions and orders (no rule reads a "
            "balance). Still one loop per account: a loop on another subaccount of the same "
            "account is refused. With --paper, the paper venue's subaccount N holds "
            "--paper-balance. [default: the subaccount the API key is restricted to, else 0; with "
            "--paper, 0]",
            show_default=False,
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Serve Prometheus metrics (from the state file) on 127.0.0.1:PORT/metrics.",
            min=1,
            max=65535,
            show_default=False,
        ),
    ] = None,
    env: EnvOpt = None,
) -> None:
    """Run the trading loop: strategies on live market data, every order through the risk rules.

    Example: kalshi trade --strategy spike --duration 60

    Several in one loop: kalshi trade --strategy market-maker --strategy spike --duration 120

    Paper trading: kalshi trade --strategy market-maker --paper --env demo --duration 600

    On a subaccount: kalshi trade --strategy spike --markets KXBTCD-25DEC31-T100000 --subaccount 2
    """
    from kalshi_cli.runner.config import load_trade_config
    from kalshi_cli.runner.lifecycle.launch import run_trade
    from kalshi_cli.runner.lifecycle.session import CLIENT_RETRY_BUDGET_S
    from kalshi_cli.strategies import StrategyLookup

    # each strategy looked up once, here and by the config check, and run as found; a
    # strategy file that does not load is refused before any config, client or lock
    resolved = StrategyLookup()
    given = [_spec(s, resolved) for s in strategy or ()]
    app = current()
    settings = app.settings(env.value if env else None)
    config = load_trade_config(settings.config_path, resolved)
    options = _options(
        _choices(given or list(config.settings.strategies or ()), params_file or [], resolved),
        selected=(markets, series, event), dry_run=dry_run, once=once,
        bounds=(duration, max_ticks), live=live, log_file=log_file, order_group=order_group,
        venue=(paper, paper_balance, subaccount), assign=assign or [],
    )  # fmt: skip
    # every section checked, and the refusals made, before the client below exists
    options = _checked_config(settings, options, config)
    run_trade(
        options,
        env=settings.env,
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


def _state_path(settings: Settings, options: TradeOptions) -> Path:
    """The loop's state file: the settings' one, or beside it a paper session's own."""
    if not options.paper:
        return settings.state
    from kalshi_cli.store.paper import paper_state_path

    return paper_state_path(settings.state, settings.env)


def _checked_config(settings: Settings, options: TradeOptions, config: TradeConfig) -> TradeOptions:
    """Every strategy and its params checked, and the refusals that need no exchange (prod:
    `--live` and a market selection), before a client or a key exists: a mistake is refused
    with nothing sent. Each strategy is named by its spec from here on, and carries the
    strategy it was resolved to (once, by the command's lookup the config carries)."""
    from kalshi_cli.runner.preflight import check_start

    choices = []
    for choice in options.strategies:
        strategy = config.strategy(choice.spec)
        config.params_for(strategy, choice.params_file)
        choices.append(replace(choice, spec=strategy.spec or strategy.name, strategy=strategy))
    options = replace(options, strategies=tuple(choices))
    check_start(settings.env, options, config)
    return options


def _spec(strategy: str, resolved: StrategyLookup) -> str:
    """A built-in's name or a strategy file's absolute path (a file that does not load is
    refused here); a name may be the config's (`strategies.NAME.strategy`), so an unknown one
    is refused once the config is read (`_checked_config`), still before any client."""
    from kalshi_cli.strategies import strategy_names
    from kalshi_cli.strategies.loader import is_path_spec

    if is_path_spec(strategy) or strategy in strategy_names():
        loaded = resolved(strategy)
        return loaded.spec or loaded.name
    return strategy


def _choices(
    specs: list[str], params: list[str], resolved: StrategyLookup
) -> tuple[StrategyChoice, ...]:
    """Each strategy with its `--params` file: `FILE` with one strategy, `NAME=FILE` (NAME the
    strategy as given, or its name) with any number."""
    from kalshi_cli.runner.config import StrategyChoice
    from kalshi_cli.strategies import strategy_names
    from kalshi_cli.strategies.loader import is_path_spec
    from kalshi_cli.vocabulary.errors import UsageError

    files: dict[str, Path] = {}
    for value in params:
        name, eq, path = value.partition("=")
        if not eq or not name or "/" in name:
            if len(specs) != 1:
                raise UsageError(
                    f"--params {value}: with several strategies, say whose: --params NAME=FILE",
                    hint="e.g. --params market-maker=mm.yaml --params spike=spike.yaml",
                )
            name, path = specs[0], value
        files[name] = Path(path).expanduser()
    choices = []
    for spec in specs:
        names = {spec}
        if is_path_spec(spec) or spec in strategy_names():
            names.add(resolved(spec).name)
        found = [files.pop(n) for n in sorted(names) if n in files]
        if len(found) > 1:
            raise UsageError(f"--params names the strategy {spec} twice")
        choices.append(StrategyChoice(spec, found[0] if found else None))
    if files:
        raise UsageError(
            f"--params {next(iter(files))}=...: no --strategy of that name",
            hint="NAME is a strategy's name or what --strategy said",
        )
    for choice in choices:
        if choice.params_file is not None and choice.params_file.is_dir():
            raise UsageError(f"--params {choice.params_file}: a directory, not a YAML file")
    return tuple(choices)


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
        selection=Selection(_split(markets), series, event),
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

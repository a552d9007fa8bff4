"""What one `kalshi trade` run is asked to do, from the flags (`TradeOptions`) and the config
file's sections the loop reads (`TradeConfig`). `load_trade_config` reads them strictly and
checks every nested section of the file, each by the code that owns it, before the command
builds a client, so a mistake is refused with file and line before anything reaches the
exchange. The `trade:` keys: docs/trade-loop.md "Configuration (in the config file)".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from kalshi_cli.risk.budget import Budget
from kalshi_cli.runner.books import entry_log
from kalshi_cli.vocabulary.errors import ConfigError, UsageError
from kalshi_cli.vocabulary.names import names_in
from kalshi_cli.vocabulary.owners import AGENT
from kalshi_cli.vocabulary.request_ranges import SUBACCOUNT_MAX

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.config import Located
    from kalshi_cli.risk.engine import RiskLimits
    from kalshi_cli.store import RetentionPolicy
    from kalshi_cli.strategies import StrategyLookup
    from kalshi_cli.strategy_api import Strategy
    from kalshi_cli.vocabulary.models import Market

# failed strategy decisions in a row in one market (it raised, its model was late, down or
# answered garbage) before an alert, and before SAFE_MODE (runner/loop/market_pass.py)
STRATEGY_ERRORS_ALERT = 3
STRATEGY_ERRORS_STOP = 10
STRATEGY_ERRORS_WINDOW_S = 60.0

Seconds = Annotated[float, msgspec.Meta(gt=0)]
Whole = Annotated[int, msgspec.Meta(ge=1)]  # a size in bytes, a count of files or decisions


class TradeSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The config's `trade:` section (see the module docstring), decoded by the one config
    decoder (`vocabulary.decode`): every number is checked when the file is read, with its
    line, before a client is built, never first by the code that reads it once the session is
    under way."""

    # the strategies `kalshi trade` and `kalshi backtest` run when no --strategy is given:
    # names (a built-in, or a `strategies.NAME` with a `strategy:` source), each with its
    # `strategies.NAME` params; the file's entries are read into these (`lineup_entries`)
    strategies: list[str] | None = None
    # a strategy's own budget inside the account's limits, by its name (risk/budget.py)
    budgets: dict[str, Budget] = msgspec.field(default_factory=dict)
    markets: str | list[str] | None = None  # tickers: a list or "A,B"
    series: str | None = None
    event: str | None = None
    log_file: str | None = None
    pause_file: str | None = None
    status_interval_s: Seconds = 60.0
    tick_interval_s: Seconds = 1.0
    max_revisit_s: Seconds = 10.0
    # the most threads that make the loop's exchange calls off its deciding path, started as
    # calls wait (0: none, each call waited for on the deciding thread)
    send_workers: Annotated[int, msgspec.Meta(ge=0, le=256)] = 64
    # the longest a send worker waits for one call's answer once it left (the rate limiter's wait
    # not counted); an order not answered within it is one of unknown outcome, looked up
    call_timeout_s: Seconds = 2.0
    # a requote of one resting order is an amend of it (one call), not a cancel and a new order
    # (runner/execution/amends.py)
    amend_requotes: bool = True
    # how often the loop reads each exchange shard's status and balance again: a paused shard's
    # markets wait, a shard funded after a refusal for collateral is entered again
    shard_poll_s: Seconds = 10.0
    # how often the loop reads the exchange's announced maintenance windows again
    schedule_poll_s: Seconds = 60.0
    # how often a loop asked for a series or an event lists its open markets again, for one that
    # opened while it runs and whose lifecycle message did not reach it
    new_markets_poll_s: Seconds = 60.0
    # collateral-return netting on the local venue's subaccount (paper trading, backtests;
    # `--netting` beats it): off, as on a new Kalshi account. The exchange's own is set there,
    # `kalshi subaccount netting`
    venue_netting: bool = False
    stop_deadline_s: Seconds = 20.0
    log_max_bytes: Whole = entry_log.MAX_BYTES
    log_backups: Whole = entry_log.BACKUPS
    log_coalesce_s: Seconds = entry_log.COALESCE_S
    deadman_interval_s: Seconds = 60.0
    order_group_limit: Whole | None = None  # None: max_order_count x max_orders_per_minute
    state_durability: Literal["full", "normal"] = "full"  # store.INTENT_DURABILITIES
    strategy_errors_alert: Whole = STRATEGY_ERRORS_ALERT
    strategy_errors_stop: Whole = STRATEGY_ERRORS_STOP
    strategy_errors_window_s: Seconds = STRATEGY_ERRORS_WINDOW_S

    def __post_init__(self) -> None:
        if self.strategy_errors_stop < self.strategy_errors_alert:
            raise ValueError(
                f"strategy_errors_stop ({self.strategy_errors_stop}) must be at least "
                f"strategy_errors_alert ({self.strategy_errors_alert})"
            )
        # an empty selection would trade every open market, as the options' (`cli._options`)
        for key, value in (("series", self.series), ("event", self.event)):
            if value is not None and not value.strip():
                raise ValueError(f"{key} is empty: name one, or remove the key")
        if self.markets is not None and not self.tickers:
            raise ValueError("markets names no ticker: name one, or remove the key")

    @property
    def tickers(self) -> tuple[str, ...]:
        """`markets`, a list or "A,B", as tickers."""
        raw = [self.markets] if isinstance(self.markets, str) else self.markets or []
        return tuple(name for text in raw for name in names_in(text))


@dataclass(frozen=True)
class Selection:
    """Which markets to trade: explicit tickers, a series, an event, or every open market."""

    tickers: tuple[str, ...] = ()
    series: str | None = None
    event: str | None = None

    def describe(self) -> str:
        if self.tickers:
            return "markets " + ",".join(self.tickers)
        if self.series:
            return f"series {self.series}"
        if self.event:
            return f"event {self.event}"
        return "every open market"

    @property
    def given(self) -> bool:
        return bool(self.tickers or self.series or self.event)

    @classmethod
    def of(cls, trade: TradeSection) -> Selection:
        """The markets the config's `trade:` section names."""
        return cls(trade.tickers, trade.series, trade.event)

    def markets(self, client: KalshiClient) -> list[Market]:
        """The markets it names, as the exchange lists them (a series or an event: its open
        markets; nothing: every open market)."""
        if self.tickers:
            return [client.markets.get_market(t) for t in self.tickers]
        return list(
            client.markets.iter_markets(
                status="open", series_ticker=self.series, event_ticker=self.event
            )
        )


@dataclass(frozen=True)
class StrategyChoice:
    """One strategy a run is asked for: a built-in's name, a .py file, package.module:attr or
    an installed entry point (`spec`), and the params file `--params` gave it (None: the
    config's `strategies.NAME`; `kill -HUP` reads the file again). `strategy` is the strategy
    `spec` named, resolved once where the run is asked for (`kalshi trade`, a backtest) and
    run as it is from there on; None: the loop looks `spec` up once when it is built."""

    spec: str
    params_file: Path | None = None
    strategy: Strategy[Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class TradeOptions:
    """The command line of `kalshi trade`: `strategies` are run in one loop, in that order."""

    strategies: tuple[StrategyChoice, ...]
    selection: Selection = Selection()
    dry_run: bool = False
    once: bool = False
    duration_s: float | None = None
    max_ticks: int | None = None
    live: bool = False
    log_file: Path | None = None
    order_group: bool = True  # run the orders inside one server-side order group
    paper: bool = False  # fill orders locally against the live book (runner/paper.py)
    paper_balance: Decimal = Decimal("1000")  # the paper venue's starting cash, dollars
    # (strategy name, ticker): the part of the account's position there that no strategy owns
    # (bought by hand, before the loop) is given to that strategy, from this start on, kept in
    # the state file until changed (`--assign`) or cleared (`assembly.clear_assignments`)
    assign: tuple[tuple[str, str], ...] = ()
    # the subaccount every order, read and risk rule of the loop acts on (None: the one the API
    # key is restricted to, else 0: preflight.key_subaccount); with --paper, the venue's subaccount
    # of that number
    subaccount: int | None = None

    def __post_init__(self) -> None:
        if self.paper and (self.live or self.dry_run):
            flag = "--live" if self.live else "--dry-run"
            raise UsageError(
                f"--paper sends no order; it cannot be combined with {flag}",
                hint="--paper alone fills orders locally against the live book",
            )
        if self.paper_balance <= 0:
            raise UsageError("--paper-balance must be positive")
        if self.subaccount is not None and not 0 <= self.subaccount <= SUBACCOUNT_MAX:
            raise UsageError(f"--subaccount must be 0-{SUBACCOUNT_MAX}, not {self.subaccount}")
        given = [
            n for n, v in (("--duration", self.duration_s), ("--max-ticks", self.max_ticks)) if v
        ]
        if self.once and given:
            raise UsageError(f"--once runs one pass; it cannot be combined with {given[0]}")
        if self.duration_s is not None and self.duration_s <= 0:
            raise UsageError("--duration must be positive")
        if self.max_ticks is not None and self.max_ticks < 1:
            raise UsageError("--max-ticks must be at least 1")


def _new_lookup() -> StrategyLookup:
    from kalshi_cli.strategies import StrategyLookup

    return StrategyLookup()


@dataclass(frozen=True)
class TradeConfig:
    strategies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    risk: Mapping[str, Any] = field(default_factory=dict)
    trade: Mapping[str, Any] = field(default_factory=dict)
    alerts: Mapping[str, Any] = field(default_factory=dict)
    retention: Mapping[str, Any] = field(default_factory=dict)
    # the owner `kalshi mcp`'s orders are placed under (`agent.strategy`): no strategy of a
    # loop may carry it
    agent_strategy: str = AGENT
    # strategies of the trader's own that the config names (`strategies.NAME.strategy`)
    sources: Mapping[str, str] = field(default_factory=dict)
    # the command's strategies, each looked up once: the config check's, then the run's
    lookup: StrategyLookup = field(default_factory=_new_lookup, compare=False, repr=False)

    def strategy_spec(self, spec: str) -> str:
        """`--strategy NAME` of a configured strategy is its source; any other spec as given."""
        return self.sources.get(spec, spec)

    def strategy(self, spec: str) -> Strategy[Any]:
        """The strategy `--strategy SPEC` names (a configured one by its source), as the
        config check found it or looked up now, once for the command."""
        return self.lookup(self.strategy_spec(spec))

    def strategy_params(self, name: str) -> Mapping[str, Any]:
        return self.strategies.get(name) or {}

    def params_for(self, strategy: Strategy[Any], params_file: Path | None) -> Any:
        """The strategy's params, validated as a whole: from `--params FILE` when given (a
        flag beats the config file), else the config's `strategies.NAME` section."""
        from kalshi_cli.config import read_params_file

        raw = read_params_file(params_file) if params_file is not None else None
        return strategy.params(raw if raw is not None else self.strategy_params(strategy.name))

    @cached_property
    def limits(self) -> RiskLimits:
        """The `risk:` section, decoded (refusals name its file and line when it came from the
        config file)."""
        from kalshi_cli.risk.engine import RiskLimits

        return RiskLimits.from_config(self.risk)

    @cached_property
    def settings(self) -> TradeSection:
        """The `trade:` section, decoded (refusals name its file and line when it came from
        the config file; `load_trade_config` decodes it before anything else runs)."""
        from kalshi_cli.vocabulary.decode import decode_config

        return decode_config(TradeSection, self.trade, where="trade")

    @cached_property
    def retention_policy(self) -> RetentionPolicy:
        """The `retention:` section, decoded: what the loop prunes in the background."""
        from kalshi_cli.store import RetentionPolicy

        return RetentionPolicy.from_config(self.retention)

    def selection(self) -> Selection:
        return Selection.of(self.settings)

    def path(self, key: Literal["log_file", "pause_file"], default: Path) -> Path:
        value = getattr(self.settings, key)
        return default if value is None else Path(value).expanduser()

    def loop_path(
        self, key: Literal["log_file", "pause_file"], state_path: Path, *, paper: bool
    ) -> Path:
        """The log or pause file of the loop on `state_path`, for `kalshi trade` and the
        dashboard alike. The config's (else `trade.log` and `trade.pause` beside the state file)
        are the live loop's. A paper session's are its own, beside its state file
        (`state.paper-demo.log`, `state.paper-demo.pause`): on the live loop's pause file a
        pause or resume of one was the other's too, and in the live loop's log the paper
        session's `started` event marked the live loop's dashboard PAPER."""
        if paper:
            kind = "log" if key == "log_file" else "pause"
            return state_path.with_name(f"{state_path.stem}.{kind}")
        default = "trade.log" if key == "log_file" else "trade.pause"
        return self.path(key, state_path.parent / default)

    def with_netting(self, netting: bool | None) -> TradeConfig:
        """The config with `--netting on|off` laid over `trade.venue_netting`."""
        if netting is None:
            return self
        return replace(self, trade={**self.trade, "venue_netting": netting})

    def with_model(self, strategies: tuple[str, ...], source: str | None) -> TradeConfig:
        """The config with `--model SOURCE` laid over `strategies.model.source`. `--model`
        without the model strategy, or the model strategy with no source anywhere, is
        refused."""
        from kalshi_cli.strategies.model import NAME

        if source is not None and NAME not in strategies:
            raise UsageError(
                f"--model is the source of the {NAME} strategy, not of {', '.join(strategies)}",
                hint=f"use --strategy {NAME} --model SOURCE",
            )
        if NAME not in strategies:
            return self
        params = dict(self.strategy_params(NAME))
        if source is not None:
            params["source"] = source
        if not params.get("source"):
            raise UsageError(
                f"the {NAME} strategy needs a source of fair values",
                hint="--model python:package.module:function, command:'COMMAND' or file:PATH "
                "(or strategies.model.source in the config); see docs/models.md",
            )
        return replace(self, strategies={**self.strategies, NAME: params})


def choose_lineup(
    config: TradeConfig,
    specs: Sequence[str],
    params: Sequence[str] = (),
    budgets: Sequence[str] = (),
) -> tuple[TradeConfig, tuple[StrategyChoice, ...]]:
    """The lineup `kalshi trade` and `kalshi backtest` run, from the options they share: each
    `--strategy` (none: the config's `trade.strategies`), resolved once through the config's
    lookup and named by its spec from here on; each `--params` (FILE with one strategy,
    NAME=FILE with any number, NAME the strategy as given or its name); and the config with each
    `--budget NAME:KEY=VALUE` laid over `trade.budgets.NAME`. A mistake is a usage error, before
    anything is sent or run. Whole: each option's refusals read in the order a user gives them."""
    given = list(specs) or list(config.settings.strategies or ())
    if not given:
        raise UsageError(
            "name a strategy to run",
            hint="--strategy NAME (repeat it to run several), or trade.strategies in the config",
        )
    files = _params_files(params, given)
    choices = [_choice(config, spec, files) for spec in given]
    if files:
        raise UsageError(
            f"--params {next(iter(files))}=...: no --strategy of that name",
            hint="NAME is a strategy's name or what --strategy said",
        )
    names = [c.strategy.name for c in choices if c.strategy is not None]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(
            f"--strategy {twice[0]} is given twice; each strategy runs once in a loop",
            hint="name each strategy once",
        )
    return _with_budgets(config, budgets, names), tuple(choices)


def _params_files(params: Sequence[str], given: Sequence[str]) -> dict[str, Path]:
    """Each `--params` by the name it is for: FILE with one strategy, NAME=FILE with any."""
    files: dict[str, Path] = {}
    for value in params:
        name, eq, path = value.partition("=")
        if not eq or not name or "/" in name:
            if len(given) != 1:
                raise UsageError(
                    f"--params {value}: with several strategies, say whose: --params NAME=FILE",
                    hint="e.g. --params market-maker=mm.yaml --params spike=spike.yaml",
                )
            name, path = given[0], value
        files[name] = Path(path).expanduser()
    return files


def _choice(config: TradeConfig, spec: str, files: dict[str, Path]) -> StrategyChoice:
    """`--strategy SPEC` resolved once, with the params file of its name taken out of
    `files` (by the spec as given or the strategy's name), its params validated."""
    strategy = config.strategy(spec)
    found = [files.pop(n) for n in sorted({spec, strategy.name}) if n in files]
    if len(found) > 1:
        raise UsageError(f"--params names the strategy {spec} twice")
    if found and found[0].is_dir():
        raise UsageError(f"--params {found[0]}: a directory, not a YAML file")
    config.params_for(strategy, found[0] if found else None)
    return StrategyChoice(strategy.spec or strategy.name, found[0] if found else None, strategy)


def _with_budgets(config: TradeConfig, given: Sequence[str], names: list[str]) -> TradeConfig:
    """The config with each `--budget NAME:KEY=VALUE` over `trade.budgets.NAME`."""
    from kalshi_cli.vocabulary.decode import decode_config

    if not given:
        return config
    budgets = {n: dict(b) for n, b in (config.trade.get("budgets") or {}).items()}
    for text in given:
        name, colon, rest = text.partition(":")
        key, eq, value = rest.partition("=")
        if not (colon and eq and name and key and value):
            raise UsageError(
                f"--budget {text!r}: expected NAME:KEY=VALUE",
                hint="e.g. --budget spike:max_exposure=50 (keys: "
                + ", ".join(Budget.__struct_fields__) + ")",
            )  # fmt: skip
        if name not in names:
            raise UsageError(
                f"--budget {text}: no strategy {name} runs", hint=f"running: {', '.join(names)}"
            )
        budgets.setdefault(name, {})[key] = value
        try:
            decode_config(Budget, budgets[name], where=f"--budget {name}")
        except ConfigError as exc:
            raise UsageError(exc.message, hint=exc.hint) from None
    return replace(config, trade={**config.trade, "budgets": budgets})


def load_trade_config(path: Path | None, lookup: StrategyLookup | None = None) -> TradeConfig:
    """The loop's sections of the config file, every nested section checked (see the module
    docstring); a missing file means every default. `lookup`: the command's strategies (a
    new one by default), through which the check loads the config's own, once for the
    command."""
    from kalshi_cli.config import (
        agent_strategy,
        lineup_entries,
        read_sections,
        risk_section,
        section,
    )
    from kalshi_cli.strategies import strategy_names

    document = lineup_entries(read_sections(path))
    lookup = lookup or _new_lookup()
    strategies, sources = _strategies(section(document, "strategies"), lookup)
    config = TradeConfig(
        strategies=strategies,
        sources=sources,
        lookup=lookup,
        risk=_risk(risk_section(document)),
        trade=_trade(section(document, "trade")),
        alerts=_alerts(section(document, "alerts")),
        retention=section(document, "retention"),
        agent_strategy=agent_strategy(document, strategies=strategy_names()),
    )
    config.retention_policy  # noqa: B018 - refused here, before anything runs
    # read by `kalshi check`, not by the loop: a mistake there is still one
    from kalshi_cli.checks.thresholds import check_section

    check_section(document)
    return config


def load_selection(path: Path | None) -> Selection:
    """The markets the config's `trade:` section trades, without loading its strategies (what
    `kalshi health-check`, `kalshi shard list` and `kalshi check balance` look at)."""
    from kalshi_cli.config import read_sections, section
    from kalshi_cli.vocabulary.decode import decode_config

    trade = section(read_sections(path), "trade")
    return Selection.of(decode_config(TradeSection, trade, where="trade"))


def _strategies(
    strategies: Located, lookup: StrategyLookup
) -> tuple[dict[str, Mapping[str, Any]], dict[str, str]]:
    """Each `strategies.NAME` section checked against its strategy's params: a built-in's, an
    installed one's, or (with `source:`, a .py file relative to the config file or
    package.module:attr) a strategy of the trader's own. Returns the params sections and the
    configured sources by name."""
    from kalshi_cli.config import Located, refuse_unknown
    from kalshi_cli.strategies import strategy_names
    from kalshi_cli.strategies.loader import entry_point_names

    if not strategies:
        return {}, {}  # no installed distribution's metadata read for nothing
    known = [*strategy_names(), *entry_point_names()]
    plain = Located(strategies.path, strategies.line)
    for name, params in strategies.items():
        if not (isinstance(params, Located) and "strategy" in params):
            plain[name] = params
            plain.lines[name] = strategies.lines[name]
    refuse_unknown(plain, known, "strategies", what="strategy")
    result: dict[str, Mapping[str, Any]] = {}
    sources: dict[str, str] = {}
    for name, section in strategies.items():
        if section is None:
            continue
        if not isinstance(section, Located):
            raise ConfigError(f"{strategies.where(name)}: `strategies.{name}` must be a mapping")
        spec, params = name, section
        if "strategy" in params:
            spec = sources[name] = _source(params, name)
            loaded = lookup(spec)
            if loaded.name != name:
                raise ConfigError(
                    f"{params.where('strategy')}: strategies.{name}.strategy defines the strategy "
                    f"{loaded.name!r}, not {name!r}",
                    hint=f"name the section {loaded.name}",
                )
            params = _without(params, "strategy")
        lookup(spec).params(params)  # refusals name the file and line of the key
        result[name] = params
    return result, sources


def _source(params: Located, name: str) -> str:
    from kalshi_cli.strategies.loader import is_path_spec

    source = params["strategy"]
    if not isinstance(source, str) or not is_path_spec(source):
        raise ConfigError(
            f"{params.where('strategy')}: strategies.{name}.strategy: expected a .py file or "
            f"package.module:attr, not {source!r}"
        )
    if ":" in source and not source.endswith(".py"):
        return source
    path = Path(source).expanduser()
    return str(path if path.is_absolute() else (params.path.parent / path).resolve())


def _without(node: Located, key: str) -> Located:
    from kalshi_cli.config import Located

    copy = Located(node.path, node.line)
    for k, v in node.items():
        if k != key:
            copy[k] = v
            copy.lines[k] = node.lines[k]
    return copy


def _risk(risk: Located) -> Mapping[str, Any]:
    from kalshi_cli.risk.engine import RiskLimits

    RiskLimits.from_config(risk)  # refusals name the file and line of the key
    return risk


def _trade(trade: Located) -> Mapping[str, Any]:
    TradeConfig(trade=trade).settings  # noqa: B018 - decoded now, to refuse with its line
    return trade


def _alerts(alerts: Located) -> Mapping[str, Any]:
    if not alerts:
        return alerts
    from kalshi_cli.alerts.router import AlertRouter

    AlertRouter.from_config(alerts)  # refusals name the file and line of the key
    return alerts


def load_params(strategy: Strategy[Any], path: Path | None = None) -> Any:
    """A strategy's params from a YAML file (None: its defaults), validated as a whole."""
    from kalshi_cli.config import read_params_file

    return strategy.params(None if path is None else read_params_file(path))

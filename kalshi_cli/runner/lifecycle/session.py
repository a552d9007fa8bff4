"""Starting and stopping one `kalshi trade` run: the checks before the first order.

Start-up, in order: refuse prod without `--live`, and prod with no market selection (every
open market of the real exchange is thousands); read the strategy's and the risk engine's
parameters; print the configuration in force and every risk rule with its limits; reconcile
open orders, fills and settlements with the exchange (refusing to trade if that fails or leaves
an order of unknown outcome); list the selected markets; rebuild positions from the state file
and refuse if they differ from the exchange's; delete the order groups earlier sessions left
that hold no resting order and create the session's (runner/execution/order_group.py; not with
`--no-order-group` or `--dry-run`); then start the feed and the loop. SIGTERM and
SIGINT stop the loop, which cancels its own resting orders and returns the final summary; SIGUSR1
pauses or resumes new orders. Those handlers stay until the summary and the exit code are out:
the end of the session's group and the closing after the loop are part of its stop.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO, cast

from kalshi_cli.risk import RiskEngine
from kalshi_cli.risk.budget import Budget
from kalshi_cli.runner.assembly import assemble_loop
from kalshi_cli.runner.books.eventlog import EventLog
from kalshi_cli.runner.books.fees import FeeReads, load_fees
from kalshi_cli.runner.books.portfolio import Portfolio, resting_order
from kalshi_cli.runner.books.records import LoopTradingRecords
from kalshi_cli.runner.config import Selection, TradeConfig, TradeOptions
from kalshi_cli.runner.execution.order_group import (
    contracts_limit,
    end_session_group,
    join_session_group,
    open_session_group,
)
from kalshi_cli.runner.loop.alerting import TradeAlerts
from kalshi_cli.runner.loop.lineup import Lineup, Member
from kalshi_cli.runner.loop.settings import LoopSettings
from kalshi_cli.runner.loop.state_fault import (
    MAKE_WRITABLE,
    is_state_failure,
    stop_on_state_failure,
)
from kalshi_cli.runner.loop.summary import Summary, params_text, risk_lines
from kalshi_cli.runner.loop.trade_loop import TradeLoop
from kalshi_cli.runner.ports import LoopClient, MarketFeed
from kalshi_cli.services.fees import FeeMarketReads
from kalshi_cli.services.orders import MarketRead
from kalshi_cli.services.reconcile import DEFAULT_READ_LAG_S
from kalshi_cli.strategies import get_strategy
from kalshi_cli.vocabulary.errors import (
    KalshiError,
    OrderOutcomeUnknown,
    UsageError,
)
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.models import FeeModelError, Market
from kalshi_cli.vocabulary.owners import AGENT, NOT_STRATEGIES
from kalshi_cli.vocabulary.units import fmt_count

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.client.pacing import Pacing, TierSetting
    from kalshi_cli.services.metrics import LoopTelemetry
    from kalshi_cli.services.orders import OrderClient
    from kalshi_cli.store import RetentionPolicy, Store
    from kalshi_cli.venue import LocalVenue
    from kalshi_cli.vocabulary.clock import Clock, Deadline


STARTUP_ATTEMPTS = 3
# the most one call of the loop's client may spend retrying (the client's default is 20 s): the
# loop does not tick, and SIGTERM waits, while a call retries, and the loop's API error guard
# already backs off across ticks; `kalshi trade` builds its client with this budget
CLIENT_RETRY_BUDGET_S = 3.0
# after a stop, the alerts still queued (the dead-man's last ping, `stop_not_proven`) are waited
# for within what is left of its deadline, but at least this long (time for a webhook that
# answers, when the stop spent its deadline), so the process exits inside the service manager's
# stop timeout whatever a webhook does
LAST_ALERTS_MIN_S = 2.0
# and at most this long, also when no stop ran (a refused start)
LAST_ALERTS_MAX_S = 10.0


class LoopMarkets(MarketRead, FeeMarketReads, Protocol):
    """The market reads of a loop built from `Parts`: the order service's, the fee models'
    and the start-up checks' (an event's markets)."""

    def get_event(
        self, event_ticker: str, *, with_nested_markets: bool = ...
    ) -> dict[str, Any]: ...


class LoopParts(LoopClient, FeeReads, Protocol):
    """What a loop built from `Parts` asks of its client: the loop's calls, the fee models'
    reads, and the start-up checks' (an event's markets, the positions). The `KalshiClient` is
    one; the paper loop's, the local venue's and a test's fake exchange are others."""

    @property
    def markets(self) -> LoopMarkets: ...


class StartupRefused(KalshiError):
    """The loop will not trade: reconciliation failed or the books do not agree. A local check
    refused to start, nothing changed (REJECTED), unless a failure underneath has its own code
    (the exchange unreachable: 7, the key refused: 5...), which it keeps."""

    exit_code = ExitCode.REJECTED


def fees_refused(exc: FeeModelError) -> StartupRefused:
    """The refusal of a start on fees that cannot be priced (`exc` names the market or the
    series): a loop, paper or live, never trades on a fee it made up."""
    return StartupRefused(
        f"cannot price the fees of {exc}; not trading",
        hint="leave that market out of the selection",
    )


def _paper_venue(
    client: KalshiClient, markets: list[Market], clock: Clock, options: TradeOptions
) -> LocalVenue:
    """A paper session's venue (`paper.build_venue`), refused on fees it cannot price."""
    from kalshi_cli.runner import paper

    try:
        return paper.build_venue(
            client, markets, clock, options.paper_balance, subaccount=options.subaccount or 0
        )
    except FeeModelError as exc:
        raise fees_refused(exc) from exc


def check_live(env: str, options: TradeOptions) -> None:
    if env == "prod" and not options.live and not options.dry_run and not options.paper:
        raise UsageError(
            "kalshi trade on prod places real orders and needs --live",
            hint="add --live to trade real money, or --dry-run to only watch",
        )


def check_start(env: str, options: TradeOptions, config: TradeConfig) -> Selection:
    """The refusals that need no exchange (prod without `--live`, prod with no selection), and
    the selection in force: the flags', else the config's `trade:` section's."""
    check_live(env, options)
    _check_not_the_assistants(options, config)
    selection = options.selection if options.selection.given else config.selection()
    if env == "prod" and not selection.given:
        raise UsageError(
            "kalshi trade on prod with no --markets, --series or --event would trade every "
            "open market of the exchange (thousands); not starting",
            hint="choose with --markets T1,T2, --series SERIES or --event EVENT "
            "(or trade.markets / trade.series / trade.event in the config)",
        )
    return selection


def _check_not_the_assistants(options: TradeOptions, config: TradeConfig) -> None:
    """A strategy of the loop may not carry the name `kalshi mcp` places its orders under
    (`agent.strategy`): the loop would own the assistant's orders, withdraw them at its stop
    and count their fills as its strategy's part."""
    from kalshi_cli.vocabulary.order_terms import owner_spelling

    agent = owner_spelling(config.agent_strategy)
    for choice in options.strategies:
        name = choice.strategy.name if choice.strategy is not None else choice.spec
        if owner_spelling(name) == agent:
            raise UsageError(
                f"the strategy {name} carries the name the assistant places its orders under "
                f"(agent.strategy: {config.agent_strategy}); the loop would own them",
                hint="set agent.strategy in the config to a name no strategy of yours has",
            )


def select_markets(client: KalshiClient, selection: Selection) -> list[Market]:
    if selection.tickers:
        markets = [client.markets.get_market(t) for t in selection.tickers]
    else:
        markets = list(
            client.markets.iter_markets(
                status="open", series_ticker=selection.series, event_ticker=selection.event
            )
        )
    open_ = [m for m in markets if m.is_open]
    if not open_:
        raise UsageError(f"no open market in {selection.describe()}")
    return open_


def find_complements(client: LoopParts, markets: list[Market]) -> dict[str, str]:
    """Ticker -> the other market of its event, for events the exchange flags mutually exclusive
    that have exactly two markets, both selected: exactly one of the two settles YES."""
    by_event: dict[str, list[str]] = {}
    for m in markets:
        by_event.setdefault(m.event_ticker, []).append(m.ticker)
    pairs: dict[str, str] = {}
    for event_ticker, tickers in by_event.items():
        if len(tickers) != 2:
            continue
        answer = client.markets.get_event(event_ticker, with_nested_markets=False)
        event = answer.get("event", {})
        listed = {m.get("ticker") for m in answer.get("markets", [])}
        if event.get("mutually_exclusive") is True and listed == set(tickers):
            a, b = tickers
            pairs[a], pairs[b] = b, a
    return pairs


def reconcile(
    client: OrderClient,
    store: Store,
    clock: Clock,
    read_lag_s: float = DEFAULT_READ_LAG_S,
    waiting: Callable[[int, float], None] | None = None,
) -> Any:
    """The start's reconcile. An order of unknown outcome (or an amend) left by a process
    killed while it was out may still land for a while (the signature window and a read lag):
    the start waits that long once, told to `waiting` (how many, the seconds), and reconciles
    again, by which time each is found or known never placed. Refused (exit 10) only if one
    is still unknown then: a start refused at once, again and again, would exhaust a
    service manager's restarts (5 in 10 minutes for the shipped unit) within the window."""
    from kalshi_cli.services.orders import OrderService
    from kalshi_cli.services.reconcile import landing_wait_s

    service = OrderService(client, store, clock=clock, read_lag_s=read_lag_s)
    report = _reconciled(service)
    if report.still_unknown:
        wait = landing_wait_s(read_lag_s)
        if waiting is not None:
            waiting(len(report.still_unknown), wait)
        clock.sleep(wait)
        report = _reconciled(service)
    if report.still_unknown:
        unknown = StartupRefused(
            f"{len(report.still_unknown)} order(s) of unknown outcome remain after "
            "reconciliation; not trading",
            hint="run `kalshi reconcile` until none is left",
        )
        unknown.exit_code = ExitCode.OUTCOME_UNKNOWN
        raise unknown
    return report


def _start_waits(log: EventLog, out: TextIO | None, orders: int, wait_s: float) -> None:
    log.emit("start_waits_unknown", {"orders": orders, "wait_s": wait_s})
    print_lines(
        [
            f"waiting {wait_s:g}s: {orders} order(s) or amend(s) a stopped run left of unknown "
            "outcome may still land; reconciling again then"
        ],
        out,
    )


def _reconciled(service: Any) -> Any:
    try:
        return service.reconcile()
    except KalshiError as exc:
        state_failed = is_state_failure(exc)
        refused = StartupRefused(
            f"reconciliation with the exchange failed: {exc.message}; not trading",
            hint=f"make the state file writable again ({MAKE_WRITABLE}), then start again"
            if state_failed
            else "check the connection (`kalshi health-check`), then start again",
        )
        # an unreachable exchange exits 7, as everywhere; a state file that fails, 21
        refused.exit_code = ExitCode.STATE_WRITE_FAILED if state_failed else exc.exit_code
        raise refused from exc


def rebuild(
    store: Store, portfolio: Portfolio, subaccount: int = 0, ticker: str | None = None
) -> list[Any]:
    """Replay every fill and settlement of the loop's subaccount's book (its own positions:
    another subaccount's fills are another book), oldest first; fills that lack a realized P&L
    (imported by reconcile) get theirs written, so the daily circuit breaker counts them.
    `ticker`: that market's alone (a part of one position needs no other market's fills).
    Returns the fill records."""
    from kalshi_cli.services.pnl import book_settlements, merge_settlements
    from kalshi_cli.store import SettlementRecord

    fills = list(store.fills.iter_fills(subaccount=subaccount, ticker=ticker))
    missing: list[tuple[str, Decimal]] = []
    settlements = book_settlements(store.settlements.read(), subaccount)
    if ticker is not None:
        settlements = [s for s in settlements if s.ticker == ticker]
    for event in merge_settlements(fills, settlements):
        if isinstance(event, SettlementRecord):
            portfolio.book_settlement(event)
            continue
        applied = portfolio.apply_fill(
            event.ticker,
            event.book_side,
            event.yes_price,
            event.count,
            event.fee,
            ts=event.ts,
            strategy=event.strategy,
        )
        if event.realized_pnl is None:
            missing.append((event.fill_id, applied.net))
    with store.transaction():
        for fill_id, net in missing:
            store.fills.set_fill_realized_pnl(fill_id, net)
    for intent in store.orders.open_orders(subaccount=subaccount):
        if intent.status == "resting" and intent.order_id and intent.ticker in portfolio.markets:
            portfolio.add_order(resting_order(intent))
    return fills


def _resting_unmanaged(store: Store, loop: TradeLoop, log: EventLog, assistant: str) -> list[str]:
    """The start-up lines (and events) for an earlier run's quotes that nobody manages: those of
    the loop's strategies resting in markets this run does not trade (`resting_elsewhere`: the
    stop names them as not proven gone, runner/loop/stop.py), and those of a strategy this
    run does not run, in any market (`resting_not_run`: not the loop's to cancel, so its stop
    leaves them). A person's orders and the assistant's (`assistant`) have managers of their
    own."""
    here = loop.client.subaccount or 0
    names = loop.lineup.names
    found: dict[str, list[str]] = {}
    unrun: dict[str, list[str]] = {}
    for intent in store.orders.open_orders(subaccount=here):
        strategy = intent.strategy or ""
        if intent.status != "resting":
            continue
        if strategy in names and intent.ticker not in loop.portfolio.markets:
            found.setdefault(strategy, []).append(intent.ticker)
        elif strategy and strategy not in names and strategy not in (*NOT_STRATEGIES, assistant):
            unrun.setdefault(strategy, []).append(intent.ticker)
    lines = []
    for strategy, tickers in sorted(found.items()):
        n = len(tickers)
        where = ", ".join(sorted(set(tickers)))
        lines.append(
            f"elsewhere       {n} resting order{'' if n == 1 else 's'} of {strategy} in "
            f"markets this run does not trade: {where} (not managed; the stop names them; "
            "`kalshi cancel-all --ticker T` withdraws them)"
        )
        log.emit("resting_elsewhere", {"strategy": strategy, "orders": n, "tickers": where})
    for strategy, tickers in sorted(unrun.items()):
        n = len(tickers)
        where = ", ".join(sorted(set(tickers)))
        lines.append(
            f"not run         {n} resting order{'' if n == 1 else 's'} of {strategy}, which "
            f"this run does not run, in {where} (not managed, and the stop leaves them; run "
            f"{strategy} again, or withdraw each with `kalshi order cancel ID`)"
        )
        log.emit("resting_not_run", {"strategy": strategy, "orders": n, "tickers": where})
    return lines


def check_subaccount(client: KalshiClient, number: int) -> None:
    """`--subaccount N` names a subaccount the account has (0 always is), or nothing starts:
    the exchange lists no orders of one it does not have and refuses every order to it."""
    if number == 0:
        return
    try:
        numbers = {b.subaccount for b in client.subaccounts.subaccount_balances()}
    except KalshiError as exc:
        refused = StartupRefused(
            f"could not list the account's subaccounts: {exc.message}; not trading",
            hint="check the connection (`kalshi health-check`), then start again",
        )
        refused.exit_code = exc.exit_code
        raise refused from exc
    if number not in numbers:
        raise StartupRefused(
            f"the account has no subaccount {number}; not trading",
            hint="`kalshi subaccount list` shows them; `kalshi subaccount create` adds the next "
            "one and `kalshi subaccount transfer` funds it",
        )


def key_subaccount(client: KalshiClient, options: TradeOptions) -> tuple[int | None] | None:
    """The subaccount the loop's API key is restricted to, asked of the exchange once at start
    when no `--subaccount` names one (`order_subaccount`: the subaccount an unnamed order goes
    to, `own_subaccount`, client/subaccounts.py: GET /api_keys): (N,), (0,) for an unrestricted
    key, (None,) when it cannot be told (the key's listing refused); None when not asked. An
    exchange that could not answer refuses the start with its error's exit code. A restricted
    key's orders go to its subaccount and its reads are that one's, whatever the loop assumes,
    so the loop must book what it trades there. A paper session is not asked: its orders and
    reads are its local venue's, whose subaccounts are its own."""
    from kalshi_cli.services.orders import order_subaccount

    if options.subaccount is not None or options.paper:
        return None
    try:
        return (order_subaccount(client, strict=True),)
    except KalshiError as exc:  # unreachable, 5xx or 429 after the retries: nothing sent
        refused = StartupRefused(
            f"asking the exchange which subaccount this API key trades on failed: "
            f"{exc.message}; not trading",
            hint="check the connection (`kalshi health-check`), then start again",
        )
        refused.exit_code = exc.exit_code  # an unreachable exchange exits 7, as everywhere
        raise refused from exc


def _trade_on_the_keys_subaccount(client: KalshiClient, number: int | None, log: EventLog) -> None:
    """A key restricted to N trades exactly as `--subaccount N` (set before the reconcile, as
    that option is); an unrestricted key as before. One whose restriction cannot be told does
    not trade: on a guessed book the loop could pass over its own fills and position (and so
    count less than it holds), and the exchange would refuse every read of another."""
    log.emit("key_subaccount", {"subaccount": number})
    if number is None:
        raise StartupRefused(
            "cannot tell which subaccount this API key trades on (GET /api_keys did not say "
            "its restriction); not trading",
            hint="--subaccount N names it (0: the primary); `kalshi key list` shows each "
            "key's subaccount",
        )
    if number:
        client.subaccount = number


def check_positions(client: LoopParts, portfolio: Portfolio) -> None:
    exchange = {p.ticker: p.position for p in client.portfolio.get_positions() if p.position != 0}
    ours = {m.ticker: m.position for m in portfolio.open_positions()}
    differ = sorted(t for t in set(exchange) | set(ours) if exchange.get(t, 0) != ours.get(t, 0))
    if differ:
        t = differ[0]
        raise StartupRefused(
            f"positions differ from the exchange's in {len(differ)} market(s), e.g. {t}: "
            f"state file {ours.get(t, 0)}, exchange {exchange.get(t, 0)}; not trading",
            hint="run `kalshi reconcile`; if that does not settle it, follow "
            "runbooks/08-restart-after-crash.md",
        )


@dataclass
class Parts:
    """Everything a loop is built from; tests build these by hand around fakes."""

    client: LoopParts
    store: Store
    feed: MarketFeed
    clock: Clock
    log: EventLog
    alerts: TradeAlerts | None = None
    # sees every risk engine event as it happens (`--metrics-port` counts the denials)
    on_event: Callable[[str, Any], None] | None = None
    # how long a read of orders may lag a write (`read_lag`): every OrderService, reconcile
    # and kill switch the loop builds waits that long before trusting a listing
    read_lag_s: float = DEFAULT_READ_LAG_S
    # threads making the loop's exchange calls off its deciding path (`trade.send_workers`):
    # an exchange over the network has them; a local venue (paper, a backtest) answers at once
    send_workers: int = 0
    # when the start's reconcile read the exchange's fills (`ReconcileReport.fills_read_at`):
    # the loop's fill reads begin there; None (no reconcile: a backtest) from its build
    fills_since: float | None = None


def build_loop(
    parts: Parts,
    options: TradeOptions,
    config: TradeConfig,
    markets: list[Market],
    *,
    pause_file: Path | None = None,
) -> TradeLoop:
    """Reconciled state in, a loop ready to tick out (no network beyond `parts.client`)."""
    from kalshi_cli.services.orders import OrderService

    lineup = resolve_lineup(options, config)
    limits = config.limits
    sink = _Sink(parts.store, parts.log, parts.alerts, parts.on_event)
    records = LoopTradingRecords(parts.store)
    portfolio = Portfolio(markets)
    for name in lineup.names:  # each strategy's own part of the positions, rebuilt below too
        portfolio.owners.own(name)
    try:
        portfolio.fees, portfolio.fee_changes = load_fees(
            parts.client, markets, now=parts.clock.wall()
        )
    except FeeModelError as exc:
        raise fees_refused(exc) from exc
    # the min-edge floor, and each order's logged edge, are priced by their market's own fees
    risk = RiskEngine(records, limits, clock=parts.clock, fee_rates=portfolio.fee_rates, sink=sink)
    # the exchange's positions the start compares with are the client's subaccount's (else 0)
    fills = rebuild(parts.store, portfolio, parts.client.subaccount or 0)
    _assign(options, lineup, portfolio, parts)
    trade = config.settings
    settings = LoopSettings(
        dry_run=options.dry_run,
        status_interval_s=trade.status_interval_s,
        tick_interval_s=trade.tick_interval_s,
        deadman_interval_s=trade.deadman_interval_s,
        max_revisit_s=trade.max_revisit_s,
        stop_deadline_s=trade.stop_deadline_s,
        read_lag_s=parts.read_lag_s,
        call_timeout_s=trade.call_timeout_s,
        amend_requotes=trade.amend_requotes,
        # the mids a strategy reads are those of its window; keeping more costs time and memory
        # (200 markets x 10 minutes of mids is ~20 MB)
        history_s=lineup.history_s(LoopSettings.history_s),  # secs
        pause_file=pause_file,
        strategy_errors_alert=trade.strategy_errors_alert,
        strategy_errors_stop=trade.strategy_errors_stop,
        strategy_errors_window_s=trade.strategy_errors_window_s,
        budgets=_budgets(trade.budgets, lineup, config.agent_strategy, parts.log),
        send_workers=parts.send_workers,
    )
    loop = assemble_loop(
        client=parts.client,
        store=parts.store,
        orders=OrderService(
            parts.client, parts.store, clock=parts.clock, read_lag_s=parts.read_lag_s
        ),
        feed=parts.feed,
        clock=parts.clock,
        lineup=lineup,
        risk=risk,
        records=records,
        portfolio=portfolio,
        log=parts.log,
        settings=settings,
        alerts=parts.alerts,
        complements=find_complements(parts.client, markets)
        if lineup.any("uses_complements")
        else {},
    )
    loop.executor.fills.load_seen(fills, since=parts.fills_since)
    if options.paper:
        from kalshi_cli.runner.paper import PaperClient, answer_kill

        # the kill switch of a paper loop is asked through its state file (paper_kill.py), and
        # runs on the paper client, so on its venue alone
        if not isinstance(parts.client, PaperClient):
            kind = type(parts.client).__name__
            raise TypeError(f"a paper loop trades on a PaperClient, not a {kind}")
        loop.on_halted = functools.partial(answer_kill, loop, parts.client)
    return loop


def start_loop(
    parts: Parts,
    options: TradeOptions,
    config: TradeConfig,
    markets: list[Market],
    *,
    pause_file: Path | None = None,
    attempts: int = STARTUP_ATTEMPTS,
) -> TradeLoop:
    """The loop, built from the reconciled state file, once its positions equal the exchange's.

    A resting order (a quote the previous run left) can fill between the reconciliation and the
    read of the exchange's positions, and the two then differ with nothing wrong. So a difference
    is reconciled again and compared again, `attempts` times in all, before trading is refused.
    """
    attempt = 1
    while True:
        loop = build_loop(parts, options, config, markets, pause_file=pause_file)
        try:
            check_positions(parts.client, loop.portfolio)
        except StartupRefused as exc:
            loop.dispatch.close()  # this loop is not the one that runs
            loop.let_go()
            if attempt >= attempts:
                raise
            parts.log.emit("positions_moved", {"attempt": attempt, "detail": exc.message})
            report = reconcile(parts.client, parts.store, parts.clock, parts.read_lag_s)
            parts.log.emit("reconciled", report.to_json())
            attempt += 1
        else:
            return loop


class _Sink:
    """The risk engine's event sink: logged, and its two trips alerted, each once what it
    tells of is committed (a trip booked in a drain's transaction, when that commits): who
    reads "safe_mode" in the log or its alert and looks at the state file reads SAFE_MODE."""

    def __init__(
        self,
        store: Store,
        log: EventLog,
        alerts: TradeAlerts | None,
        on_event: Callable[[str, Any], None] | None = None,
    ) -> None:
        self.store = store
        self.log = log
        self.alerts = alerts
        self.on_event = on_event

    def __call__(self, kind: str, data: Any) -> None:
        self.store.when_committed(lambda: self._tell(kind, data))

    def _tell(self, kind: str, data: Any) -> None:
        self.log.emit(kind, data)
        if self.on_event is not None:
            self.on_event(kind, data)
        if self.alerts is not None and kind in ("circuit_breaker", "safe_mode"):
            self.alerts.post(kind, "", str(data.get("detail", kind)), dict(data))


def describe(
    env: str,
    options: TradeOptions,
    config: TradeConfig,
    selection: Selection,
    log_path: Path | None,
    *,
    restriction: tuple[int | None] | None = None,
    pacing: Pacing | None = None,
) -> list[str]:
    """The start banner; `restriction`: what `key_subaccount` found, when it asked; `pacing`:
    what the client paces by (`client.pacing.pace_by_account`)."""
    lineup = resolve_lineup(options, config)
    limits = config.limits
    mode = "dry run (nothing is sent)" if options.dry_run else "live orders"
    if options.paper:
        mode = (
            f"PAPER: live market data, orders filled locally from ${options.paper_balance} "
            "(nothing is sent)"
        )
    if options.once:
        bound = "one pass"
    else:
        bound = (
            ", ".join(
                x
                for x in (
                    f"{options.duration_s:g}s" if options.duration_s else "",
                    f"{options.max_ticks} ticks" if options.max_ticks else "",
                )
                if x
            )
            or "until stopped (SIGTERM / Ctrl-C)"
        )
    return [
        f"kalshi trade: env {env}, {mode}, {bound}",
        *_strategy_lines(lineup),
        f"markets         {selection.describe()}",
        f"subaccount      {_subaccount_text(options, restriction)}",
        *([f"rate limits     {pacing.describe()}"] if pacing is not None else []),
        f"log file        {log_path}",
        f"order group     {_group_text(options, config)}",
        f"state file      intent writes {config.settings.state_durability}"
        + ("" if config.settings.state_durability == "full" else " (no fsync: see docs/safety.md)"),
        "risk rules:",
        *risk_lines(limits),
    ]


def resolve_lineup(options: TradeOptions, config: TradeConfig) -> Lineup:
    """The strategies of a run, each with its params validated as a whole (its `--params`
    file, else the config's `strategies.NAME`): the strategy its choice was resolved to, or,
    for a choice given by its spec alone, the one that spec names, looked up here once."""
    members = []
    for choice in options.strategies:
        strategy = choice.strategy or get_strategy(config.strategy_spec(choice.spec))
        params = config.params_for(strategy, choice.params_file)
        members.append(Member(strategy, params, choice.params_file))
    return Lineup(members)


def _assign(options: TradeOptions, lineup: Lineup, portfolio: Portfolio, parts: Parts) -> None:
    """`--assign NAME:TICKER`: the contracts held in TICKER that no strategy built become
    NAME's, at the account's average cost, so its exits may sell them. Given at every start
    (the state file keeps no assignment: a restart without the option leaves them nobody's)."""
    for name, ticker in options.assign:
        if lineup.get(name) is None:
            raise UsageError(
                f"--assign {name}:{ticker}: no strategy of that name runs",
                hint=f"running: {', '.join(lineup.names)}",
            )
        if ticker not in portfolio.markets:
            raise UsageError(
                f"--assign {name}:{ticker}: the loop does not trade {ticker}",
                hint="add it to --markets",
            )
        given = portfolio.assign(name, ticker, parts.clock.wall())
        parts.log.emit(
            "position_assigned", {"strategy": name, "ticker": ticker, "count": fmt_count(given)}
        )


def _budgets(
    budgets: Mapping[str, Budget], lineup: Lineup, assistant: str, log: EventLog
) -> dict[str, Budget]:
    """`trade.budgets` of the strategies this run runs. One config serves every lineup, so a
    budget for a strategy that does not run is unused, and said so in one line. The
    assistant's (`agent.strategy`) is `kalshi mcp`'s to apply to its orders, not the loop's."""
    for name in budgets.keys() - {assistant} - set(lineup.names):
        log.emit("budget_unused", {"strategy": name, "running": ", ".join(lineup.names)})
    return {name: budget for name, budget in budgets.items() if lineup.get(name) is not None}


def _strategy_lines(lineup: Lineup) -> list[str]:
    label = "strategy" if len(lineup) == 1 else "strategies"
    return [
        f"{label if n == 0 else '':<16}{m.name}{_origin_text(m.strategy)} ({params_text(m.params)})"
        for n, m in enumerate(lineup)
    ]


def _origin_text(strategy: Any) -> str:
    return "" if strategy.origin == "built-in" else f" [{strategy.origin}: {strategy.spec}]"


@contextmanager
def reload_signal() -> Iterator[threading.Event]:
    """SIGHUP sets the event this yields, from now on: a `systemctl reload` while the loop is
    still starting is kept for its first tick instead of ending the process (SIGHUP's default).
    Only in the main thread."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return
    previous = signal.signal(signal.SIGHUP, lambda *_: requested.set())
    try:
        yield requested
    finally:
        signal.signal(signal.SIGHUP, previous)


@contextmanager
def signals(
    stop: threading.Event,
    on_pause: Callable[[], None],
    *,
    abandon: threading.Event | None = None,
    on_reload: Callable[[], None] | None = None,
) -> Iterator[None]:
    """SIGTERM/SIGINT set `stop`, and a second one while stopping sets `abandon`; SIGUSR1
    toggles the pause; SIGHUP calls `on_reload` (the loop reads its params file again at its
    next tick). Only in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_stop(*_: object) -> None:
        if stop.is_set() and abandon is not None:
            abandon.set()
        stop.set()

    handlers = {
        signal.SIGTERM: on_stop,
        signal.SIGINT: on_stop,
        signal.SIGUSR1: lambda *_: on_pause(),
    }
    if on_reload is not None:
        handlers[signal.SIGHUP] = lambda *_: on_reload()
    previous = {sig: signal.signal(sig, h) for sig, h in handlers.items()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(
    loop: TradeLoop,
    options: TradeOptions,
    *,
    stop: threading.Event | None = None,
    abandon: threading.Event | None = None,
    fresh_timeout_s: float = 15.0,
    retention: RetentionPolicy | None = None,
    agent_strategy: str = AGENT,
) -> Summary:
    """Run the loop as the options say and return the final summary (also on SIGTERM). A crash
    inside the loop still cancels the loop's resting orders before it propagates: quotes left
    on the book with nobody managing them are the costliest way to fail. With `retention`, the
    state file is pruned in the background while the loop runs (runner/lifecycle/state_prune.py),
    the day's orders of the config's `agent.strategy` (`agent_strategy`) kept.
    SIGINT and SIGTERM set `stop`, and a second one `abandon` (`signals`), while this runs; a
    caller whose stop goes on after it (`trade`) passes its own, which its handlers set then."""
    with _pruning(loop, options, retention, agent_strategy):
        return _run(loop, options, stop=stop, abandon=abandon, fresh_timeout_s=fresh_timeout_s)


@contextmanager
def _pruning(
    loop: TradeLoop, options: TradeOptions, policy: RetentionPolicy | None, agent_strategy: str
) -> Iterator[None]:
    """The background prune beside a loop that runs on (not `--once`, not a dry run, which
    leaves the state file as it found it); its last problem, if any, logged at the end."""
    if policy is None or not policy.in_loop or options.once or options.dry_run:
        yield
        return
    from kalshi_cli.runner.lifecycle.state_prune import BackgroundPrune

    pruner = BackgroundPrune(
        loop.store.path, policy, loop.clock, agent_strategy=agent_strategy
    ).start()
    try:
        yield
    finally:
        pruner.close()
        if pruner.problem is not None:
            loop.log.emit("state_prune_failed", {"error": pruner.problem})


def _run(
    loop: TradeLoop,
    options: TradeOptions,
    *,
    stop: threading.Event | None,
    abandon: threading.Event | None,
    fresh_timeout_s: float,
) -> Summary:
    stop = stop or threading.Event()
    abandon = abandon or threading.Event()
    cancel_resting = not options.once
    alerts = loop.alerts
    if alerts is not None:
        alerts.beat("start", loop.beat_text("starting"))
    loop.feed.start()
    try:
        with signals(stop, loop.toggle_pause, abandon=abandon, on_reload=loop.reload_requested.set):
            try:
                if options.once:
                    _wait_fresh(loop, stop, fresh_timeout_s)
                    loop.tick(loop.feed.drain_events(), full=True)
                else:
                    loop.run(stop=stop, duration_s=options.duration_s, max_ticks=options.max_ticks)
            except Exception as exc:
                if is_state_failure(exc):
                    # no order without its intent on disk: stop, and withdraw without writing
                    raise stop_on_state_failure(loop, exc, abandon) from exc
                loop.log.emit("crashed", {"error": repr(exc)})
                if alerts is not None:
                    alerts.beat("fail", loop.beat_text(f"crashed: {exc!r}"))
                try:
                    loop.shutdown(cancel_resting=cancel_resting, abandon=abandon)
                except Exception as again:
                    loop.log.emit("shutdown_failed", {"error": repr(again)})
                raise
            try:
                summary = loop.shutdown(cancel_resting=cancel_resting, abandon=abandon)
            except Exception as exc:
                if not is_state_failure(exc):
                    raise
                raise stop_on_state_failure(loop, exc, abandon) from exc
            if alerts is not None:
                alerts.beat("", loop.beat_text("stopped"))
            return summary
    finally:
        loop.feed.stop()


def _wait_fresh(loop: TradeLoop, stop: threading.Event, timeout_s: float) -> None:
    deadline = loop.clock.monotonic() + timeout_s
    tickers = list(loop.portfolio.markets)
    while not stop.is_set() and loop.clock.monotonic() < deadline:
        if all(loop.feed.is_fresh(t) for t in tickers):
            return
        loop.clock.sleep(0.05)


def _subaccount_text(options: TradeOptions, restriction: tuple[int | None] | None) -> str:
    n = options.subaccount
    where = "the paper venue's" if options.paper else "the account's"
    if restriction is not None and restriction[0] is None:
        return (
            "unknown (GET /api_keys did not tell this API key's restriction; not trading: "
            "--subaccount N names the subaccount to trade)"
        )
    if restriction is not None and restriction[0]:
        n = restriction[0]
        return (
            f"{n} (this API key is restricted to subaccount {n}: every order, read and "
            f"position limit of this loop is {n}'s)"
        )
    if n is None:
        return f"0 ({where} primary, the exchange's default; --subaccount N for another)"
    return f"{n} ({where}: every order, read and position limit of this loop is {n}'s)"


def _wants_group(options: TradeOptions) -> bool:
    return options.order_group and not options.dry_run and not options.paper


def _group_text(options: TradeOptions, config: TradeConfig) -> str:
    if not _wants_group(options):
        if options.paper:
            return "none (paper: orders are filled locally)"
        return "none (--no-order-group)" if not options.dry_run else "none (dry run)"
    return f"one per session, {contracts_limit(config)} contracts per 15 s on the exchange"


def _open_group(client: KalshiClient, store: Store, config: TradeConfig, log: EventLog) -> str:
    """The session's order group (runner/execution/order_group.py), or no trading at all. A
    create of unknown outcome refuses the start too: the loop does not know the group's id, and
    a listed group it took for its own could be another program's, whose orders its kill switch
    would then stop. A group so made holds no order; the refusal says how to find and delete
    it."""
    try:
        return open_session_group(client, store, config, log)
    except OrderOutcomeUnknown as exc:
        refused = StartupRefused(
            f"whether the session's order group was made is unknown: {exc.message}; not trading",
            hint=f"{exc.hint}; a group made so holds no order: delete it (`kalshi order-group "
            "delete ID`), then start again",
        )
        refused.exit_code = exc.exit_code
        raise refused from exc
    except KalshiError as exc:
        refused = StartupRefused(
            f"could not create the session's order group: {exc.message}; not trading",
            hint="check the connection (`kalshi health-check`); `--no-order-group` trades "
            "without one",
        )
        refused.exit_code = exc.exit_code
        raise refused from exc


def _close_alerts(alerts: TradeAlerts, stop_deadline: Deadline | None, log: EventLog) -> None:
    """Let the alerts still queued go out before the process exits, waiting for them what is
    left of the stop's deadline, within LAST_ALERTS_MIN_S and LAST_ALERTS_MAX_S; those still
    unsent then are given up on, and the log says so."""
    wait_s = LAST_ALERTS_MAX_S
    if stop_deadline is not None:
        wait_s = min(max(stop_deadline.remaining(), LAST_ALERTS_MIN_S), LAST_ALERTS_MAX_S)
    if not alerts.close(wait_s):
        log.emit("alerts_unsent", {"waited_s": round(wait_s, 3)})


def _write_budget_lines(pacing: Pacing, options: TradeOptions, markets: int) -> list[str]:
    """The start-up line when the markets take the write budget a while to quote (none for a
    dry run, which sends nothing)."""
    slow = None if options.dry_run else pacing.first_orders_text(markets)
    return [] if slow is None else [f"write budget    {slow}"]


def print_lines(lines: list[str], stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    for line in lines:
        out.write(line + "\n")
    out.flush()


def trade(
    options: TradeOptions,
    *,
    env: str,
    state_path: Path,
    config: TradeConfig,
    client: KalshiClient,
    ws_url: str | None,
    signer: Any,
    out: TextIO | None = None,
    read_lag_s: float,
    clock: Clock | None = None,
    telemetry: LoopTelemetry | None = None,
    bind: Callable[[Store], None] | None = None,
    reload: threading.Event | None = None,
    tier: TierSetting | None = None,
) -> Summary:
    """`kalshi trade`: every start-up check, then the loop, then the final summary.
    `telemetry` (the `--metrics-port` figures) is shown the risk events and the feed;
    `read_lag_s` (the `read_lag` setting) is passed to every order service the loop builds;
    `tier` (the `tier` setting, Basic by default) is what the client paces by when the config
    names it or the exchange does not say the account's own."""
    from kalshi_cli.client.pacing import TierSetting, pace_by_account
    from kalshi_cli.feed import MarketData
    from kalshi_cli.feed.index import channels_for
    from kalshi_cli.feed.ws import DEFAULT_CHANNELS
    from kalshi_cli.store import Store
    from kalshi_cli.strategy_api import MarketTerms
    from kalshi_cli.vocabulary.clock import SystemClock

    clock = clock or SystemClock()
    selection = check_start(env, options, config)
    log_path = options.log_file or config.loop_path("log_file", state_path, paper=options.paper)
    console: TextIO | None = None
    if options.paper:
        from kalshi_cli.runner.paper import Prefixed

        out = cast("TextIO", Prefixed(out or sys.stdout))
        console = cast("TextIO", Prefixed(sys.stderr))
    pacing = pace_by_account(client, tier or TierSetting())  # before any other request
    restriction = key_subaccount(client, options)
    banner = describe(
        env, options, config, selection, log_path, restriction=restriction, pacing=pacing
    )
    print_lines(banner, out)
    store = Store.open(state_path, clock=clock)
    store.intent_durability = config.settings.state_durability
    if bind is not None:
        try:
            bind(store)  # a state file of another endpoint or account: nothing is sent
        except BaseException:
            store.close()
            raise
    log = EventLog(
        clock,
        path=log_path,
        stderr=console or sys.stderr,
        coalesce_s=config.settings.log_coalesce_s,
        max_bytes=config.settings.log_max_bytes,
        backups=config.settings.log_backups,
    )
    alerts = TradeAlerts.from_config(config.alerts, state_path, paper=options.paper)
    stop, abandon = threading.Event(), threading.Event()
    loop: TradeLoop | None = None
    # SIGINT and SIGTERM belong to the stop from the loop's run until its summary and exit
    # code are out (`stopping`): the end of the session's group and the closing below are part
    # of the stop, and a KeyboardInterrupt there would leave without the summary, its NOT
    # PROVEN line and exit code
    with ExitStack() as stopping:
        try:
            if restriction is not None:
                _trade_on_the_keys_subaccount(client, restriction[0], log)
            venue = None
            loop_client: LoopParts = client
            if options.paper:
                from kalshi_cli.runner import paper

                paper.refuse_leftovers(store, state_path)
                # the markets and their reference data from the exchange; the orders go local
                markets = select_markets(client, selection)
                venue = _paper_venue(client, markets, clock, options)
                loop_client = paper.PaperClient(client, venue)
            if options.subaccount is not None:
                if venue is None:
                    check_subaccount(client, options.subaccount)
                # from the reconcile on, every order, read and kill of the loop is the subaccount's
                # (client/subaccount_scope.py); a paper client sets its venue client's
                loop_client.subaccount = options.subaccount
            report = reconcile(
                loop_client,
                store,
                clock,
                read_lag_s,
                waiting=functools.partial(_start_waits, log, out),
            )
            log.emit("reconciled", report.to_json())
            if venue is None:
                markets = select_markets(client, selection)
                print_lines(_write_budget_lines(pacing, options, len(markets)), out)
            feed: MarketFeed = MarketData(
                [m.ticker for m in markets],
                ws_url=ws_url,
                auth=signer,
                rest=client.markets,
                clock=clock,
                # the feed marks books stale (and probes quiet subscriptions) on the risk rule's
                # limit, so a `feed_stale` event and alert accompany every STALE_FEED denial
                stale_after=config.limits.stale_after_s,
                channels=paper.PAPER_CHANNELS if venue is not None else DEFAULT_CHANNELS,
                # the reference indices the markets' rules name (a crypto model prices from them)
                indices=channels_for(
                    i for m in markets if (i := MarketTerms.from_market(m.raw).index_id) is not None
                ),
            )
            if venue is not None:
                feed = paper.PaperFeed(cast("MarketData", feed), venue)
            if telemetry is not None:
                telemetry.watch_feed(feed, [m.ticker for m in markets])
            parts = Parts(
                loop_client,
                store,
                feed,
                clock,
                log,
                alerts,
                telemetry.observe if telemetry else None,
                read_lag_s=read_lag_s,
                send_workers=config.settings.send_workers if venue is None else 0,
                fills_since=report.fills_read_at,
            )
            loop = start_loop(
                parts,
                options,
                config,
                markets,
                pause_file=config.loop_path("pause_file", state_path, paper=options.paper),
            )
            if reload is not None:  # a SIGHUP while starting is answered at the first tick
                loop.reload_requested = reload
            group = _open_group(client, store, config, log) if _wants_group(options) else None
            if group is not None:
                join_session_group(loop.executor, group)
                loop.trigger_group = functools.partial(
                    client.order_groups.trigger_order_group, group
                )
            log.emit(
                "started",
                {
                    "strategy": loop.lineup.describe(),
                    "strategies": loop.lineup.to_json(),
                    "markets": len(markets),
                    "env": env,
                    "subaccount": loop_client.subaccount or 0,
                    "rate_limits": pacing.to_json(),
                    **({"paper": True} if options.paper else {}),
                },
            )
            print_lines(_resting_unmanaged(store, loop, log, config.agent_strategy), out)
            stopping.enter_context(
                signals(
                    stop,
                    loop.toggle_pause,
                    abandon=abandon,
                    on_reload=loop.reload_requested.set,
                )
            )
            summary = run(
                loop,
                options,
                stop=stop,
                abandon=abandon,
                retention=config.retention_policy,
                agent_strategy=config.agent_strategy,
            )
            if group is not None and not options.once:
                # part of the stop, so under what is left of its one deadline: a delete held by a
                # slow exchange must not keep the process past the service manager's stop timeout
                # (the group, kept, stays listed for the kill switch)
                deadline = loop.stop_deadline
                with deadline.scope() if deadline is not None else nullcontext():
                    # on the loop's own orders: one placed by hand is not in the group
                    end_session_group(
                        client,
                        store,
                        group,
                        log,
                        own_resting=len(loop.own_resting()),
                        unknown=sorted(loop.executor.unknown_orders.unknown),
                        abandon=abandon,
                    )
        finally:
            _close_alerts(alerts, loop.stop_deadline if loop is not None else None, log)
            log.close()
            store.close()
        print_lines(["", "summary:", *("  " + line for line in summary.lines())], out)
        if summary.not_proven or summary.unlisted:
            from kalshi_cli.runner.loop.stop import StopNotProven

            raise StopNotProven(summary.not_proven, summary.unlisted)
        return summary

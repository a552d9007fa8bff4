"""Starting and stopping one `kalshi trade` run: the checks before the first order.

Start-up, in order: refuse prod without `--live` or without a market selection; read the strategy
and risk parameters; print the configuration and every risk rule; reconcile orders, fills and
settlements (refusing to trade if that fails or leaves an order of unknown outcome); list the
markets; rebuild positions and refuse if they differ from the exchange's; replace the session's
order group (runner/execution/order_group.py); start the feed and the loop. SIGTERM and SIGINT stop
the loop, which cancels its own orders and returns the summary; SIGUSR1 pauses or resumes new
orders. The handlers stay until the summary and exit code are out.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from kalshi_cli.risk.budget import Budget
from kalshi_cli.runner.assembly import (
    Parts,
    paper_venue,
    resolve_lineup,
    select_markets,
    start_loop,
)
from kalshi_cli.runner.books.eventlog import EventLog
from kalshi_cli.runner.config import Selection, TradeConfig, TradeOptions
from kalshi_cli.runner.execution.order_group import (
    contracts_limit,
    end_session_group,
    join_session_group,
    open_session_group,
)
from kalshi_cli.runner.loop.alerting import TradeAlerts
from kalshi_cli.runner.loop.lineup import Lineup
from kalshi_cli.runner.loop.state_fault import (
    is_state_failure,
    stop_on_state_failure,
)
from kalshi_cli.runner.loop.summary import Summary, params_text, risk_lines
from kalshi_cli.runner.loop.trade_loop import TradeLoop
from kalshi_cli.runner.ports import LoopParts, MarketFeed
from kalshi_cli.runner.preflight import (
    StartStop,
    StartupRefused,
    check_start,
    check_subaccount,
    key_subaccount,
    reconcile,
    resting_unmanaged,
    trade_on_the_keys_subaccount,
)
from kalshi_cli.vocabulary.errors import (
    KalshiError,
    OrderOutcomeUnknown,
)
from kalshi_cli.vocabulary.owners import AGENT
from kalshi_cli.vocabulary.process import Handler, signal_handlers

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.client.pacing import Pacing, TierSetting
    from kalshi_cli.services.metrics import LoopTelemetry
    from kalshi_cli.store import RetentionPolicy, Store
    from kalshi_cli.venue import LocalVenue
    from kalshi_cli.vocabulary.clock import Clock, Deadline
    from kalshi_cli.vocabulary.models import Market


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


def _start_waits(log: EventLog, out: TextIO | None, orders: int, wait_s: float) -> None:
    log.emit("start_waits_unknown", {"orders": orders, "wait_s": wait_s})
    print_lines(
        [
            f"waiting {wait_s:g}s: {orders} order(s) or amend(s) a stopped run left of unknown "
            "outcome may still land; reconciling again then"
        ],
        out,
    )


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
        *_budget_lines(lineup, config),
    ]


def _budget_lines(lineup: Lineup, config: TradeConfig) -> list[str]:
    """Each running strategy's own budget (`trade.strategies` entries, `--budget`), a risk rule."""
    lines = []
    for name in lineup.names:
        budget = config.settings.budgets.get(name)
        values = (
            [f"{k}={getattr(budget, k) or '-'}" for k in Budget.__struct_fields__]
            if budget
            else ["-"]
        )
        what = "its own, inside the account's" if budget else "the account's limits alone"
        lines.append(f"  {'budget ' + name:<16} {', '.join(values):<52} {what}")
    return lines


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
    with signal_handlers({signal.SIGHUP: lambda *_: requested.set()}):
        yield requested


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

    def on_stop(*_: object) -> None:
        if stop.is_set() and abandon is not None:
            abandon.set()
        stop.set()

    handlers: dict[signal.Signals, Handler] = {
        signal.SIGTERM: on_stop,
        signal.SIGINT: on_stop,
        signal.SIGUSR1: lambda *_: on_pause(),
    }
    if on_reload is not None:
        handlers[signal.SIGHUP] = lambda *_: on_reload()
    with signal_handlers(handlers):
        yield


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
    inside the loop still cancels its resting orders before it propagates. With `retention`, the
    state file is pruned in the background, keeping `agent_strategy`'s orders of the day. SIGINT
    and SIGTERM set `stop`, a second one `abandon` (`signals`)."""
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
        alerts.beat("start", loop.heartbeat.text("starting"))
    loop.feed.start()
    try:
        with signals(
            stop, loop.toggle_pause, abandon=abandon, on_reload=loop.reloads.requested.set
        ):
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
                    alerts.beat("fail", loop.heartbeat.text(f"crashed: {exc!r}"))
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
                alerts.beat("", loop.heartbeat.text("stopped"))
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
    store = _open_store(state_path, clock, config, bind)
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
            start = _Start(options, config, client, store, clock, log, out, state_path, read_lag_s)
            # a stop while the start waits for orders to settle ends that wait (`reconcile`)
            with signals(stop, lambda: None, abandon=abandon):
                loop_client, markets, report, venue = _preflight(
                    start, selection, restriction, stop
                )
            if venue is None:
                print_lines(_write_budget_lines(pacing, options, len(markets)), out)
            feed = _market_feed(
                start,
                markets=markets,
                ws_url=ws_url,
                signer=signer,
                venue=venue,
                telemetry=telemetry,
            )
            wants_group = _wants_group(options)
            loop = _assemble(
                start,
                loop_client=loop_client,
                markets=markets,
                feed=feed,
                alerts=alerts,
                report=report,
                telemetry=telemetry,
                # a SIGHUP while starting is answered at the first tick
                reload=reload,
                trigger_group=client.order_groups.trigger_order_group if wants_group else None,
            )
            group = _open_group(client, store, config, log) if wants_group else None
            if group is not None:
                join_session_group(loop.executor, group)
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
            print_lines(resting_unmanaged(store, loop, log, config.agent_strategy), out)
            stopping.enter_context(
                signals(
                    stop,
                    loop.toggle_pause,
                    abandon=abandon,
                    on_reload=loop.reloads.requested.set,
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
                _end_group(start, loop, group, abandon)
        finally:
            _close_alerts(alerts, loop.stop_deadline if loop is not None else None, log)
            log.close()
            store.close()
        print_lines(["", "summary:", *("  " + line for line in summary.lines())], out)
        if summary.not_proven or summary.unlisted:
            from kalshi_cli.runner.loop.stop_proof import StopNotProven

            raise StopNotProven(summary.not_proven, summary.unlisted)
        return summary


@dataclass(frozen=True)
class _Start:
    """What every step of a session's start reads: the run's options and config, the exchange's
    client, the state file, the clock, the log and console, and the `read_lag` setting."""

    options: TradeOptions
    config: TradeConfig
    client: KalshiClient
    store: Store
    clock: Clock
    log: EventLog
    out: TextIO | None
    state_path: Path
    read_lag_s: float


def _open_store(
    state_path: Path, clock: Clock, config: TradeConfig, bind: Callable[[Store], None] | None
) -> Store:
    from kalshi_cli.store import Store

    store = Store.open(state_path, clock=clock)
    store.intent_durability = config.settings.state_durability
    if bind is not None:
        try:
            bind(store)  # a state file of another endpoint or account: nothing is sent
        except BaseException:
            store.close()
            raise
    return store


def _preflight(
    start: _Start,
    selection: Selection,
    restriction: tuple[int | None] | None,
    stop: threading.Event,
) -> tuple[LoopParts, list[Market], Any, LocalVenue | None]:
    """The refusals that need the exchange, in order: the key's subaccount, a paper run's
    leftovers, `--subaccount`, the reconcile; the client the loop trades through (a paper
    session's venue's), the markets, the reconcile's report, and the paper venue (None: live)."""
    options, client, store, log = start.options, start.client, start.store, start.log
    if restriction is not None:
        trade_on_the_keys_subaccount(client, restriction[0], log)
    venue = None
    loop_client: LoopParts = client
    if options.paper:
        from kalshi_cli.runner import paper

        paper.refuse_leftovers(store, start.state_path)
        # the markets and their reference data from the exchange; the orders go local
        markets = select_markets(client, selection)
        venue = paper_venue(client, markets, start.clock, options)
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
        start.clock,
        start.read_lag_s,
        waiting=functools.partial(_start_waits, log, start.out),
        stop=StartStop(
            stop,
            frozenset(
                c.strategy.name if c.strategy is not None else c.spec for c in options.strategies
            ),
            loop_client.subaccount or 0,
        ),
    )
    log.emit("reconciled", report.to_json())
    if venue is None:
        markets = select_markets(client, selection)
    return loop_client, markets, report, venue


def _market_feed(
    start: _Start,
    *,
    markets: list[Market],
    ws_url: str | None,
    signer: Any,
    venue: LocalVenue | None,
    telemetry: LoopTelemetry | None,
) -> MarketFeed:
    from kalshi_cli.feed import MarketData
    from kalshi_cli.feed.index import channels_for
    from kalshi_cli.feed.ws import DEFAULT_CHANNELS
    from kalshi_cli.runner import paper
    from kalshi_cli.strategy_api import MarketTerms

    feed: MarketFeed = MarketData(
        [m.ticker for m in markets],
        ws_url=ws_url,
        auth=signer,
        rest=start.client.markets,
        clock=start.clock,
        # the feed marks books stale (and probes quiet subscriptions) on the risk rule's
        # limit, so a `feed_stale` event and alert accompany every STALE_FEED denial
        stale_after=start.config.limits.stale_after_s,
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
    return feed


def _assemble(
    start: _Start,
    *,
    loop_client: LoopParts,
    markets: list[Market],
    feed: MarketFeed,
    alerts: TradeAlerts,
    report: Any,
    telemetry: LoopTelemetry | None,
    reload: threading.Event | None,
    trigger_group: Callable[[str], None] | None,
) -> TradeLoop:
    options, config = start.options, start.config
    parts = Parts(
        loop_client,
        start.store,
        feed,
        start.clock,
        start.log,
        alerts,
        telemetry.observe if telemetry else None,
        read_lag_s=start.read_lag_s,
        send_workers=config.settings.send_workers if not options.paper else 0,  # paper: local
        fills_since=report.fills_read_at,
        reload=reload,
        trigger_group=trigger_group,
    )
    return start_loop(
        parts,
        options,
        config,
        markets,
        pause_file=config.loop_path("pause_file", start.state_path, paper=options.paper),
    )


def _end_group(start: _Start, loop: TradeLoop, group: str, abandon: threading.Event) -> None:
    """The session's group ended, as part of the stop, so under what is left of its one
    deadline: a delete held by a slow exchange must not keep the process past the service
    manager's stop timeout (the group, kept, stays listed for the kill switch)."""
    deadline = loop.stop_deadline
    with deadline.scope() if deadline is not None else nullcontext():
        # on the loop's own orders: one placed by hand is not in the group
        end_session_group(
            start.client,
            start.store,
            group,
            start.log,
            own_resting=len(loop.own_resting()),
            unknown=sorted(loop.executor.unknown_orders.unknown),
            abandon=abandon,
        )

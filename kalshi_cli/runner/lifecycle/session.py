"""Starting and stopping one `kalshi trade` run: the checks before the first order.

Start-up, in order: refuse prod without `--live` or without a market selection; read the strategy
and risk parameters; print the configuration and every risk rule; reconcile orders, fills and
settlements (refusing to trade if that fails or leaves an order of unknown outcome); list the
markets; rebuild positions and refuse if they differ from the exchange's; replace the session's
order group (session_group.py); start the feed and the loop (running.py). SIGTERM and SIGINT stop
the loop, which cancels its own orders and returns the summary; SIGUSR1 pauses or resumes new
orders. The handlers stay until the summary and exit code are out. `trade` reads as its steps:
preflight, assemble, run, summary; the banner it prints first is banner.py's.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from kalshi_cli.client.retry import DEFAULT_RETRY_BUDGET_S, retry_budget
from kalshi_cli.runner.assembly import LoopInputs, paper_venue, select_markets, start_loop
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import Selection, TradeConfig, TradeOptions
from kalshi_cli.runner.execution.order_group import SessionGroups, shard_group_maker
from kalshi_cli.runner.lifecycle.banner import (
    describe,
    print_lines,
    write_budget_lines,
)
from kalshi_cli.runner.lifecycle.running import run, signals
from kalshi_cli.runner.lifecycle.session_group import (
    end_group,
    join_session_group,
    open_group,
    wants_group,
)
from kalshi_cli.runner.loop.alerting import TradeAlerts
from kalshi_cli.runner.loop.summary import Summary
from kalshi_cli.runner.loop.trade_loop import TradeLoop
from kalshi_cli.runner.ports import LoopBuildClient, MarketFeed
from kalshi_cli.runner.preflight import (
    StartStop,
    check_start,
    check_subaccount,
    held_exits_only,
    key_subaccount,
    reconcile,
    resting_unmanaged,
    trade_on_the_keys_subaccount,
)
from kalshi_cli.strategy_api import MarketTerms

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.client.pacing import Pacing, TierSetting
    from kalshi_cli.services.metrics import LoopTelemetry
    from kalshi_cli.store import Store
    from kalshi_cli.venue import LocalVenue
    from kalshi_cli.vocabulary.clock import Clock, Deadline
    from kalshi_cli.vocabulary.models import Market


# after a stop, the alerts still queued (the dead-man's last ping, `stop_not_proven`) are waited
# for within what is left of its deadline, but at least this long (time for a webhook that
# answers, when the stop spent its deadline), so the process exits inside the service manager's
# stop timeout whatever a webhook does
LAST_ALERTS_MIN_S = 2.0
# and at most this long, also when no stop ran (a refused start)
LAST_ALERTS_MAX_S = 10.0


def _start_waits(log: EntryLog, out: TextIO | None, orders: int, wait_s: float) -> None:
    log.emit("start_waits_unknown", {"orders": orders, "wait_s": wait_s})
    print_lines(
        [
            f"waiting {wait_s:g}s: {orders} order(s) or amend(s) a stopped run left of unknown "
            "outcome may still land; reconciling again then"
        ],
        out,
    )


def _close_alerts(alerts: TradeAlerts, stop_deadline: Deadline | None, log: EntryLog) -> None:
    """Let the alerts still queued go out before the process exits, waiting for them what is
    left of the stop's deadline, within LAST_ALERTS_MIN_S and LAST_ALERTS_MAX_S; those still
    unsent then are given up on, and the log says so."""
    wait_s = LAST_ALERTS_MAX_S
    if stop_deadline is not None:
        wait_s = min(max(stop_deadline.remaining(), LAST_ALERTS_MIN_S), LAST_ALERTS_MAX_S)
    if not alerts.close(wait_s):
        log.emit("alerts_unsent", {"waited_s": round(wait_s, 3)})


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
    claim: Callable[[tuple[int, int]], None] | None = None,
) -> Summary:
    """`kalshi trade`: the start-up checks (preflight), the loop put together (assemble), its run,
    then the final summary. `telemetry` (the `--metrics-port` figures) is shown the risk events
    and the feed; `read_lag_s` (the `read_lag` setting) is passed to every order service the loop
    builds; `tier` (the `tier` setting, Basic by default) is what the client paces by when the
    config names it or the exchange does not say the account's own; `claim` is given the state
    file's identity before the loop writes to it (`Store.open`), `bind` the store once open."""
    from kalshi_cli.vocabulary.clock import SystemClock

    clock = clock or SystemClock()
    selection = check_start(env, options, config)
    log_path = options.log_file or config.loop_path("log_file", state_path, paper=options.paper)
    out, console = _consoles(options, out)
    pacing, restriction = _account(client, options, tier)
    banner = describe(
        env, options, config, selection, log_path, restriction=restriction, pacing=pacing
    )
    print_lines(banner, out)
    store = _open_store(state_path, clock, config, bind, claim)
    log = _event_log(clock, log_path, console, config)
    alerts = TradeAlerts.from_config(config.alerts, state_path, paper=options.paper)
    start = _Start(
        options, config, client, store, clock, log, out, state_path, read_lag_s, alerts, pacing, env
    )
    loop: TradeLoop | None = None
    # SIGINT and SIGTERM belong to the stop from the start's checks until the summary and exit
    # code are out (`stopping`): one while the loop is put together (its order groups made, its
    # feed started) stops the run before its first tick, and the end of the session's group and
    # the closing below are part of the stop, where a KeyboardInterrupt would leave without the
    # summary, its NOT PROVEN line and exit code
    with ExitStack() as stopping:
        stopping.enter_context(signals(start.stop, lambda: None, abandon=start.abandon))
        try:
            ready = _preflight(start, selection, restriction)
            loop, group = _assemble(
                start, ready, ws_url=ws_url, signer=signer, telemetry=telemetry, reload=reload
            )
            summary = _run_loop(start, loop, group, stopping)
        finally:
            _close_alerts(alerts, loop.stop.stop_deadline if loop is not None else None, log)
            log.close()
            store.close()
        return _summary(summary, out)


def _account(
    client: KalshiClient, options: TradeOptions, tier: TierSetting | None
) -> tuple[Pacing, tuple[int | None] | None]:
    """What the account paces by and the subaccount its key is kept to, read first, as the
    start's reads are: with the default retry budget (nothing ticks yet)."""
    from kalshi_cli.client.pacing import TierSetting, pace_by_account

    with retry_budget(DEFAULT_RETRY_BUDGET_S):
        pacing = pace_by_account(client, tier or TierSetting())  # before any other request
        return pacing, key_subaccount(client, options)


def _consoles(options: TradeOptions, out: TextIO | None) -> tuple[TextIO | None, TextIO | None]:
    """The run's output and its log's console (None: stderr), each prefixed in a paper run."""
    if not options.paper:
        return out, None
    from kalshi_cli.runner.paper import Prefixed

    return cast("TextIO", Prefixed(out or sys.stdout)), cast("TextIO", Prefixed(sys.stderr))


def _event_log(clock: Clock, path: Path, console: TextIO | None, config: TradeConfig) -> EntryLog:
    return EntryLog(
        clock,
        path=path,
        stderr=console or sys.stderr,
        coalesce_s=config.settings.log_coalesce_s,
        max_bytes=config.settings.log_max_bytes,
        backups=config.settings.log_backups,
    )


@dataclass(frozen=True)
class _Start:
    """What every step of a session's start reads: the run's options and config, the exchange's
    client, the state file, the clock, the log and console, the `read_lag` setting, the alerts,
    what the client paces by, the env, and the stop's events: `stop` set by SIGTERM/SIGINT,
    `abandon` by a second one (`signals`)."""

    options: TradeOptions
    config: TradeConfig
    client: KalshiClient
    store: Store
    clock: Clock
    log: EntryLog
    out: TextIO | None
    state_path: Path
    read_lag_s: float
    alerts: TradeAlerts
    pacing: Pacing
    env: str
    stop: threading.Event = field(default_factory=threading.Event)
    abandon: threading.Event = field(default_factory=threading.Event)


def _open_store(
    state_path: Path,
    clock: Clock,
    config: TradeConfig,
    bind: Callable[[Store], None] | None,
    claim: Callable[[tuple[int, int]], None] | None = None,
) -> Store:
    from kalshi_cli.store import Store
    from kalshi_cli.store.connection import LOOP_CACHE_KIB

    # the state file outgrows any cache in a long run
    store = Store.open(state_path, clock=clock, cache_kib=LOOP_CACHE_KIB, claim=claim)
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
) -> tuple[LoopBuildClient, list[Market], Any, LocalVenue | None]:
    """The refusals that need the exchange, in order: the key's subaccount, a paper run's
    leftovers, `--subaccount`, the reconcile (a stop while it waits for orders to settle ends
    that wait); the client the loop trades through (a paper session's venue's), the markets, the
    reconcile's report, and the paper venue (None: live). Its reads have the default retry
    budget, not the loop's (`CLIENT_RETRY_BUDGET_S`): nothing ticks yet."""
    with retry_budget(DEFAULT_RETRY_BUDGET_S):  # nothing ticks yet
        options, client, store, log = start.options, start.client, start.store, start.log
        if restriction is not None:
            trade_on_the_keys_subaccount(client, restriction[0], log)
        venue = None
        loop_client: LoopBuildClient = client
        if options.paper:
            from kalshi_cli.runner import paper

            paper.refuse_leftovers(store, start.state_path)
            # the markets and their reference data from the exchange; the orders go local
            markets = select_markets(client, selection)
            venue = paper_venue(
                client, markets, start.clock, options, start.config.settings.venue_netting
            )
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
                start.stop,
                frozenset(
                    c.strategy.name if c.strategy is not None else c.spec
                    for c in options.strategies
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
    from kalshi_cli.feed.session import DEFAULT_CHANNELS
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
    ready: tuple[LoopBuildClient, list[Market], Any, LocalVenue | None],
    *,
    ws_url: str | None,
    signer: Any,
    telemetry: LoopTelemetry | None,
    reload: threading.Event | None,
) -> tuple[TradeLoop, SessionGroups | None]:
    """The loop put together on what the preflight found, and the session's order groups made
    and joined (None: no group); `reload`, a SIGHUP while starting, is answered at the first
    tick."""
    options, config, client, log = start.options, start.config, start.client, start.log
    loop_client, markets, report, venue = ready
    if venue is None:
        print_lines(write_budget_lines(start.pacing, options, len(markets)), start.out)
    feed = _market_feed(
        start, markets=markets, ws_url=ws_url, signer=signer, venue=venue, telemetry=telemetry
    )
    group_wanted = wants_group(options)
    inputs = LoopInputs(
        loop_client,
        start.store,
        feed,
        start.clock,
        log,
        start.alerts,
        telemetry.observe if telemetry else None,
        read_lag_s=start.read_lag_s,
        send_workers=config.settings.send_workers if not options.paper else 0,  # paper: local
        fills_since=report.fills_read_at,
        reload=reload,
        trigger_group=client.order_groups.trigger_order_group if group_wanted else None,
        # a market that joins on a shard the start's are not on has its group made first
        make_group=shard_group_maker(client, start.store, config, log) if group_wanted else None,
    )
    pause_file = config.loop_path("pause_file", start.state_path, paper=options.paper)
    with retry_budget(DEFAULT_RETRY_BUDGET_S):  # its reads (fees, positions): nothing ticks yet
        loop = start_loop(inputs, options, config, markets, pause_file=pause_file)
    hold = loop.executor.balance_hold
    traded = loop.reloads.lineup.traded({m.ticker: MarketTerms.from_market(m.raw) for m in markets})
    shards = hold.lines(traded)
    print_lines(shards, start.out)
    if shards:
        log.emit("shards_at_start", {"lines": shards})
    group = None
    if group_wanted:  # a group on each shard traded; a market the exchange names none for: 0
        group_shards = {hold.shard_of.get(m.ticker, 0) for m in markets}
        group = open_group(client, start.store, config, log, group_shards)
    if group is not None:
        join_session_group(loop.executor, group)
    log.emit(
        "started",
        {
            "strategy": loop.reloads.lineup.describe(),
            "strategies": loop.reloads.lineup.to_json(),
            "markets": len(markets),
            "env": start.env,
            "subaccount": loop_client.subaccount or 0,
            "rate_limits": start.pacing.to_json(),
            **({"paper": True} if options.paper else {}),
        },
    )
    return loop, group


def _run_loop(
    start: _Start, loop: TradeLoop, group: SessionGroups | None, stopping: ExitStack
) -> Summary:
    """The loop run until it stops, the signals then held by `stopping`, and the session's
    group ended as part of the stop (not after `--once`)."""
    options, config = start.options, start.config
    print_lines(resting_unmanaged(start.store, loop, start.log, config.agent_strategy), start.out)
    print_lines(held_exits_only(loop, start.log), start.out)
    stopping.enter_context(
        signals(
            start.stop,
            loop.gate.toggle_pause,
            abandon=start.abandon,
            on_reload=loop.reloads.requested.set,
        )
    )
    summary = run(
        loop,
        options,
        stop=start.stop,
        abandon=start.abandon,
        retention=config.retention_policy,
        agent_strategy=config.agent_strategy,
    )
    if group is not None and not options.once:
        end_group(start.client, loop, group, start.abandon)
    return summary


def _summary(summary: Summary, out: TextIO | None) -> Summary:
    """The final summary printed; a stop not proven raises (its NOT PROVEN exit code)."""
    print_lines(["", "summary:", *("  " + line for line in summary.lines())], out)
    if summary.not_proven or summary.unlisted:
        from kalshi_cli.runner.loop.stop_proof import StopNotProven

        raise StopNotProven(summary.not_proven, summary.unlisted)
    if summary.broken_sets:
        from kalshi_cli.runner.loop.stop_proof import SetsLeftBroken

        raise SetsLeftBroken(summary.broken_sets)
    return summary

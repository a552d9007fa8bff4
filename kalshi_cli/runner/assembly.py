"""The trade loop put together, for a live run, a paper run and a backtest alike: the lineup
(`resolve_lineup`), budgets and `--assign`ed owned parts, markets and their mutually exclusive
events, the paper venue, the books rebuilt from the state file (`build_loop`, from `LoopInputs`);
then each component built once and given what it uses (`assemble_loop`). `start_loop` builds until
the books agree with the exchange's positions. docs/trade-loop.md "Where the code lives".
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshi_cli.risk.budget import Budget
from kalshi_cli.risk.engine import ORDER_RATE_WINDOW_S, RiskEngine
from kalshi_cli.runner.books.fees import load_fees
from kalshi_cli.runner.books.portfolio import Portfolio, give_assigned
from kalshi_cli.runner.books.records import LoopTradingRecords
from kalshi_cli.runner.execution.amends import Amends
from kalshi_cli.runner.execution.answers import AnswerBook, InFlight
from kalshi_cli.runner.execution.balance_hold import BalanceHold
from kalshi_cli.runner.execution.call_guard import CallGuard, Counters
from kalshi_cli.runner.execution.cancels import Cancels
from kalshi_cli.runner.execution.dispatch import Dispatch, Wire
from kalshi_cli.runner.execution.elsewhere import ElsewhereViews
from kalshi_cli.runner.execution.execution import Changes, LoopExecutor
from kalshi_cli.runner.execution.fills import CLOCK_AHEAD_S, AppliedFills, FillSync
from kalshi_cli.runner.execution.leg_sets import LegSets
from kalshi_cli.runner.execution.leg_worth import LegWorth
from kalshi_cli.runner.execution.outbox import Outbox
from kalshi_cli.runner.execution.own_orders import OwnOrders, owner_among
from kalshi_cli.runner.execution.sender import Sender
from kalshi_cli.runner.execution.shared import Bookkeeping, Holds, Report
from kalshi_cli.runner.execution.unknown_orders import UnknownOrders
from kalshi_cli.runner.loop.event_groups import EventGroup, EventGroups, find_events
from kalshi_cli.runner.loop.gate import MarketGate
from kalshi_cli.runner.loop.heartbeat import Heartbeat, RunFigures
from kalshi_cli.runner.loop.held_markets import HeldMarkets
from kalshi_cli.runner.loop.lifecycle_watch import LifecycleWatch, follow_held_untraded
from kalshi_cli.runner.loop.lineup import Lineup, Member
from kalshi_cli.runner.loop.loop_components import Acts, Books, TickComponents
from kalshi_cli.runner.loop.market_pass import MarketPass
from kalshi_cli.runner.loop.new_market_listing import NewMarkets
from kalshi_cli.runner.loop.new_markets import JoinReads, MarketJoin, join_reads
from kalshi_cli.runner.loop.orders_read_again import OrdersReadAgain
from kalshi_cli.runner.loop.params_reload import ParamsReload
from kalshi_cli.runner.loop.queue_positions import QueuePositions
from kalshi_cli.runner.loop.schedule import MarketSchedule
from kalshi_cli.runner.loop.sending import TurnSender
from kalshi_cli.runner.loop.settings import LoopSettings
from kalshi_cli.runner.loop.shared import Alert, Resolve, Tuning, alert_through, resolve_through
from kalshi_cli.runner.loop.shutdown import LoopStop
from kalshi_cli.runner.loop.strategy_stops import StrategyStops
from kalshi_cli.runner.loop.tick_questions import TickQuestions
from kalshi_cli.runner.loop.trade_loop import TradeLoop
from kalshi_cli.runner.loop.turns import MarketTurns
from kalshi_cli.runner.loop.watch import LoopWatch
from kalshi_cli.runner.preflight import (
    StartupRefused,
    check_positions,
    fees_refused,
    rebuild,
    reconcile,
)
from kalshi_cli.services.orders.context import known_market
from kalshi_cli.services.pretrade.budgets import Budgets
from kalshi_cli.services.pretrade.loop import (
    LoopAccount,
    LoopReads,
    ReadOnce,
    event_reader,
    loop_reads,
)
from kalshi_cli.services.pretrade.settings import event_limited
from kalshi_cli.services.reconcile import DEFAULT_READ_LAG_S, landing_wait_s
from kalshi_cli.strategies import get_strategy
from kalshi_cli.strategy_api import MarketTerms
from kalshi_cli.vocabulary.errors import UsageError
from kalshi_cli.vocabulary.models import FeeModelError, Market
from kalshi_cli.vocabulary.owners import STOP_LOSS

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.risk.event_loss import EventTerms
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.config import Selection, TradeConfig, TradeOptions
    from kalshi_cli.runner.execution.order_group import MakesGroup, TriggersGroup
    from kalshi_cli.runner.loop.alerting import TradeAlerts
    from kalshi_cli.runner.ports import LoopBuildClient, MarketFeed
    from kalshi_cli.services.orders.context import MarketRead, OrderClient
    from kalshi_cli.services.orders.place import OrderService
    from kalshi_cli.services.pretrade.holdings import AccountHoldings
    from kalshi_cli.store import Store
    from kalshi_cli.venue import LocalVenue
    from kalshi_cli.vocabulary.clock import Clock


def assemble_loop(
    *,
    inputs: LoopInputs,
    orders: OrderService,
    lineup: Lineup,
    risk: RiskEngine,
    records: LoopTradingRecords,
    portfolio: Portfolio,
    settings: LoopSettings,
    groups: Mapping[str, EventGroup] | None = None,
    account: LoopReads | None = None,
    elsewhere: ElsewhereViews,
    on_halted: Callable[[], None] | None = None,
    joining: JoinReads | None = None,
) -> TradeLoop:
    """Every component of the loop, each built once and given what it uses, in the order each needs
    the ones before it: what the components share (runner/loop/shared.py), the schedule, the
    gate and the API error guard, the dispatch that parks the schedule's markets and asks the
    gate what may leave, the heartbeat, the executor's chain and the
    loop's own orders, the executor, the components of a market's turn and of the watch, then the
    tick's steps (the markets' turns, its questions of the state) and the stop.
    `groups`: ticker -> its mutually exclusive event's selected markets (`find_events`);
    `account`: what the loop's pre-trade account read at the start (`loop_reads`);
    `elsewhere`: what the account holds in their markets the loop does not trade
    (`held_elsewhere`); `joining`: how the loop reads the markets it takes on while it runs
    (runner/loop/new_markets.py; None: a paper run, which takes on none)."""
    client, feed, clock, log = inputs.client, inputs.feed, inputs.clock, inputs.log
    store, alerts = inputs.store, inputs.alerts
    tuning = Tuning(settings=settings, lineup=lineup)
    alert = alert_through(alerts)
    started = clock.monotonic()
    # a market's event's group, as a market taken on while the loop runs joins it
    groups = dict(groups or {})
    # which market a tick visits next, the lag figures, which rest (runner/loop/schedule.py)
    schedule = MarketSchedule(portfolio.markets, now=started, revisit_s=settings.max_revisit_s,
                              events=groups)  # fmt: skip
    portfolio.listeners.append(schedule.wake)  # a change of a market's view wakes it from rest
    # where exchange calls go: off the deciding path with workers (runner/execution/dispatch.py);
    # the answers of one drain are booked in one transaction of the state file. How far behind
    # the write budget runs (read before deciding) and how long a call may wait for its answer:
    # a local venue has no connection, so no rate limiter nor wire a deadline would cut
    limiter = getattr(connection := getattr(client, "connection", None), "limiter", None)
    writes_behind = (lambda: -math.inf) if limiter is None else partial(limiter.behind_s, "write")
    gate = MarketGate(feed=feed, risk=risk, tuning=tuning, log=log)
    counters = Counters()
    guard = CallGuard(risk=risk, clock=clock, log=log, counters=counters)  # the API error guard
    dispatch = Dispatch(
        workers=settings.send_workers,
        answer_within_s=None if connection is None else settings.call_timeout_s,
        group=partial(_booking, store, log),
        stamp=clock.monotonic,  # each answer's `sent_at`: the API error guard's clock
        writes_behind=writes_behind,
        # an answer back from a worker wakes the loop as news does (feeds that can wait)
        wake=getattr(feed, "wake", None),
        # a market waiting for an exchange call's answer takes no turn until it is booked
        on_busy=schedule.park,
        on_free=schedule.unpark,
        # no order call leaves once the API error guard has put trading into SAFE_MODE
        withheld=partial(gate.nothing_leaves, guard),
    )
    # each strategy's own budget (trade.budgets): the risk engine reads what it owns
    names = frozenset(lineup.names)
    owner = partial(owner_among, names)
    reads = account or LoopReads()
    budgets = (
        Budgets(settings.budgets, portfolio, owner, reads.events) if settings.budgets else None
    )
    pretrade = LoopAccount(risk, reads, budgets=budgets, elsewhere=elsewhere.view)
    stopped: dict[str, str] = {}  # strategy -> why, until resumed (runner/loop/strategy_stops.py)
    chain = build_executor(
        dispatch=dispatch,
        guard=guard,
        client=client,
        store=store,
        orders=orders,
        risk=risk,
        records=records,
        portfolio=portfolio,
        report=Report(log=log, counters=counters),
        alert=alert,
        clock=clock,
        settings=settings,
        elsewhere=elsewhere,
        account=reads,
        resolve=resolve_through(alerts),
    )
    cancels = chain.changes.cancels
    # each market waits for its orders' read once the feed follows them (orders_read_again.py)
    orders_again = OrdersReadAgain(feed=feed, client=client, dispatch=dispatch, guard=guard,
                                   store=store, portfolio=portfolio, cancels=cancels, clock=clock,
                                   log=log, read_lag_s=settings.read_lag_s)  # fmt: skip
    figures = RunFigures(counters, dispatch, gate, schedule, budgets, stopped,
                         chain.holds.balance_hold, orders_again)  # fmt: skip
    heartbeat = Heartbeat(
        records=records,
        feed=feed,
        portfolio=portfolio,
        clock=clock,
        tuning=tuning,
        log=log,
        alerts=alerts,
        figures=figures,
        subaccount=client.subaccount or 0,
        started=started,
    )
    # which resting orders are the loop's, each strategy's, and their withdrawal; between two
    # withdraw cancels, the heartbeat if it is due: a slow withdrawal never makes a loop doing
    # its job look dead
    own = OwnOrders(
        sent=chain.fills.sent,
        outbox=chain.outbox,
        cancels=cancels,
        portfolio=portfolio,
        names=names,
        after_each=lambda: heartbeat.beat_if_due(clock.monotonic()),
    )
    stops = StrategyStops(
        own=own,
        budgets=budgets,
        store=store,
        clock=clock,
        tuning=tuning,
        log=log,
        alert=alert,
        stopped=stopped,
    )
    executor = LoopExecutor(
        risk=risk,
        report=chain.report,
        holds=chain.holds,
        fills=chain.fills,
        changes=chain.changes,
        outbox=chain.outbox,
        threaded=dispatch.threaded,
        account=pretrade,
        budgets=budgets,
        # a replacement is cut again to its strategy's own component once its cancels are booked
        room=own.room,
        # a replacement whose cancels were answered after its decision asks the loop's rule
        withheld=stops.withheld_by(gate),
        dry_run=settings.dry_run,
    )
    # a fill listed without a field the spec requires (client.connection.FillQuarantine),
    # found while a worker reads the listing: booked on the deciding thread, before the
    # listing's fills are; heard until the loop lets go (`LoopStop.let_go`)
    quarantine = getattr(getattr(client, "connection", None), "fill_quarantine", None)
    stop_listening = None
    if quarantine is not None:
        doubt = executor.unknown_orders.fill_quarantined
        stop_listening = quarantine.listen(lambda found: dispatch.later(lambda: doubt(found)))
    # the books a market is put in, the start's and one taken on while the loop runs; how each
    # market settles (its strike fields, floor, close, the index its rules name) among them
    join = MarketJoin(reads=joining, portfolio=portfolio, account=reads, groups=groups,
                      schedule=schedule, feed=feed, clock=clock, log=log, orders=executor.answers,
                      make_group=inputs.make_group, orders_again=orders_again)  # fmt: skip
    worth = LegWorth(
        exclusive=groups,  # the one map: a market that joins an event is in it
        terms=join.terms,
        results=reads.results,
        fee_rates=risk.fee_rates,
        clock=clock,
    )
    legs = LegSets(executor=executor, risk=risk, sender=chain.sender, store=store, feed=feed,
                   hold_markets=dispatch.hold, closed=gate.closed, worth=worth, clock=clock,
                   log=log, subaccount=client.subaccount or 0,
                   again_s=settings.set_again_s)  # fmt: skip
    sender = TurnSender(executor=executor, legs=legs, own=own, feed=feed, clock=clock,
                        tuning=tuning, log=log, alert=alert)  # fmt: skip
    queue = QueuePositions(
        client=client, dispatch=dispatch, own=own, guard=guard, tuning=tuning, log=log
    )
    market_pass = MarketPass(
        feed=feed,
        portfolio=portfolio,
        clock=clock,
        risk=risk,
        own=own,
        guard=guard,
        queue=queue,
        sender=sender,
        stops=stops,
        tuning=tuning,
        terms=join.terms,
        events=EventGroups(
            feed=feed, portfolio=portfolio, groups=groups, terms=join.terms, closed=gate.closed
        ),
        closed=gate.closed,
        event_limits=executor.event_limits,
        hedged=legs.whole.hedged,
    )
    # a loop asked for a series or an event: the markets of it that open while it runs; every
    # loop: the markets it holds and does not trade, taken on for their exits
    lists = joining is not None and joining.lists
    new_markets = NewMarkets(join, dispatch, tuning, executor, store) if lists else None
    held = HeldMarkets(join=join, dispatch=dispatch, tuning=tuning, executor=executor, store=store,
                       risk=risk, own=own)  # fmt: skip
    lifecycle = LifecycleWatch(client=client, feed=feed, portfolio=portfolio, clock=clock,
                               fills=executor.fills, guard=guard, dispatch=dispatch, log=log,
                               closed=gate.closed, settled=reads.settled, new_markets=new_markets,
                               held=held)  # fmt: skip
    watch = LoopWatch(
        client=client,
        portfolio=portfolio,
        clock=clock,
        risk=risk,
        executor=executor,
        dispatch=dispatch,
        own=own,
        records=records,
        gate=gate,
        lifecycle=lifecycle,
        orders_again=orders_again,
        tuning=tuning,
        log=log,
        alert=alert,
        resolve=resolve_through(alerts),
        index_markets=join.index_markets,
    )
    reloads = ParamsReload(
        tuning=tuning, market_pass=market_pass, log=log, alert=alert, requested=inputs.reload
    )
    # the tick's steps that are components of their own: the markets' turns, the questions of the
    # state, and the stop (runner/loop/trade_loop.py)
    turns = MarketTurns(schedule=schedule, market_pass=market_pass, sender=sender, queue=queue,
                        dispatch=dispatch, portfolio=portfolio, executor=executor, clock=clock,
                        settings=settings)  # fmt: skip
    questions = TickQuestions(records=records, watch=watch, gate=gate, risk=risk, stops=stops,
                              clock=clock, on_halted=on_halted)  # fmt: skip
    stop = LoopStop(client=client, clock=clock, log=log, executor=executor, dispatch=dispatch,
                    own=own, records=records, legs=legs, heartbeat=heartbeat, alerts=alerts,
                    tuning=tuning, trigger_group=inputs.trigger_group,
                    on_let_go=stop_listening)  # fmt: skip
    tick_components = TickComponents(gate=gate, watch=watch, questions=questions, turns=turns,
                                  legs=legs, reloads=reloads, heartbeat=heartbeat,
                                  stop=stop)  # fmt: skip
    return TradeLoop(
        books=Books(portfolio=portfolio, feed=feed, clock=clock, log=log),
        acts=Acts(executor=executor, dispatch=dispatch),
        components=tick_components,
        settings=settings,
        started=started,
    )


@contextmanager
def _booking(store: Store, log: EntryLog) -> Iterator[None]:
    """A drain's bookings: one transaction of the state file, and the lines they log written
    once it has committed (none if it rolls back)."""
    with store.transaction(), log.until(store.when_committed):
        yield


def build_executor(
    *,
    dispatch: Dispatch,
    guard: CallGuard,
    client: OrderClient,
    store: Store,
    orders: OrderService,
    risk: RiskEngine,
    records: LoopTradingRecords,
    portfolio: Portfolio,
    report: Report,
    alert: Alert,
    clock: Clock,
    settings: LoopSettings,
    elsewhere: ElsewhereViews,
    account: LoopReads | None = None,
    resolve: Resolve | None = None,
) -> ExecutorChain:
    """From a decision to the exchange and back (runner/execution/): every component the executor
    has, in the order each needs the ones before it."""
    wire = Wire(client=client, dispatch=dispatch)
    log = report.log
    books = Bookkeeping(store=store, records=records, portfolio=portfolio)
    # set when fills are due to be read: by a fill notice, a cancel that found less resting,
    # an order of unknown outcome found; cleared by the read
    fills_due = threading.Event()
    # the markets whose pending orders changed, whose share of the exposure the outbox works
    # out again; and what this run has applied of each order, which an order found tells too
    stale: set[str] = set()
    applied = AppliedFills(portfolio)
    in_flight = InFlight(on_change=stale.add)
    unknown_orders = UnknownOrders(
        wire=wire,
        store=store,
        portfolio=portfolio,
        log=log,
        clock=clock,
        guard=guard,
        fills_due=fills_due.set,
        alert=alert,
        told_filled=applied.told_filled,
        on_change=stale.add,
        landing_s=landing_wait_s(settings.read_lag_s),
    )
    # the shards' state, each balance read the account's too (runner/execution/balance_hold.py)
    balance_hold = BalanceHold(clock=clock, counters=report.counters, log=log, alert=alert,
                               resolve=resolve, account=account, limits=risk.limits)  # fmt: skip
    holds = Holds(guard=guard, unknown=unknown_orders, balance_hold=balance_hold)
    fills = FillSync(
        wire=wire,
        books=books,
        report=report,
        clock=clock,
        holds=holds,
        due=fills_due,
        applied=applied,
        awaiting_answer=in_flight.in_market,
        elsewhere=elsewhere,
    )
    cancels = Cancels(
        wire=wire,
        store=store,
        portfolio=portfolio,
        report=report,
        guard=guard,
        fills=fills,
        dry_run=settings.dry_run,
    )
    amends = Amends(
        wire=wire,
        orders=orders,
        portfolio=portfolio,
        report=report,
        holds=holds,
        fills=fills,
        enabled=settings.amend_requotes and not settings.dry_run,
    )
    # what a single order and a batch share: the request, the intent written, the answer booked
    answers = AnswerBook(
        orders=orders, books=books, report=report, holds=holds, fills=fills, in_flight=in_flight
    )
    sender = Sender(orders=orders, answers=answers, dispatch=dispatch)
    outbox = Outbox(
        wire=wire,
        portfolio=portfolio,
        log=log,
        holds=holds,
        sender=sender,
        answers=answers,
        stale=stale,
    )
    changes = Changes(cancels=cancels, amends=amends)
    return ExecutorChain(
        report=report, holds=holds, fills=fills, changes=changes, outbox=outbox, sender=sender
    )


@dataclass(frozen=True)
class ExecutorChain:
    """The executor's components, built (`build_executor`), before the executor that has them."""

    report: Report
    holds: Holds
    fills: FillSync
    changes: Changes
    outbox: Outbox
    sender: Sender


STARTUP_ATTEMPTS = 3


@dataclass
class LoopInputs:
    """Everything a loop is built from; tests build these by hand around fakes."""

    client: LoopBuildClient
    store: Store
    feed: MarketFeed
    clock: Clock
    log: EntryLog
    alerts: TradeAlerts | None = None
    # sees every risk engine entry as it happens (`--metrics-port` counts the denials)
    on_entry: Callable[[str, Any], None] | None = None
    # how long a read of orders may lag a write (`read_lag`): every OrderService, reconcile
    # and kill switch the loop builds waits that long before trusting a listing
    read_lag_s: float = DEFAULT_READ_LAG_S
    # threads making the loop's exchange calls off its deciding path (`trade.send_workers`):
    # an exchange over the network has them; a local venue (paper, a backtest) answers at once
    send_workers: int = 0
    # when the start's reconcile read the exchange's fills (`ReconcileReport.fills_read_at`):
    # the loop's fill reads begin there; None (no reconcile: a backtest) from its build
    fills_since: float | None = None
    # `kill -HUP` (the session's: a SIGHUP while starting is answered at the first tick)
    reload: threading.Event | None = None
    # a session group triggered by id and shard, at once, by a stop (stop.py)
    trigger_group: TriggersGroup | None = None
    # the session's group made on a shard it has none on, for a market joining there mid-run
    make_group: MakesGroup | None = None
    # what the loop's settings are made into (a backtest's: runner/loop/settings.py)
    adjust: Callable[[LoopSettings], LoopSettings] | None = None


def build_loop(
    inputs: LoopInputs,
    options: TradeOptions,
    config: TradeConfig,
    markets: list[Market],
    *,
    pause_file: Path | None = None,
) -> TradeLoop:
    """Reconciled state in, a loop ready to tick out (no network beyond `inputs.client`)."""
    from kalshi_cli.services.orders.place import OrderService

    lineup = resolve_lineup(options, config)
    limits = config.limits
    sink = risk_sink(inputs.store, inputs.log, inputs.alerts, inputs.on_entry)
    records = LoopTradingRecords(inputs.store)
    portfolio = Portfolio(markets)
    for name in lineup.names:  # each strategy's own component of the positions, rebuilt below too
        portfolio.owners.own(name)
    # each event read once, for the fees, the limit on its loss and the groups of its mutually
    # exclusive markets (services/pretrade/events.py), and the balance once
    reader = event_reader(inputs.client)
    try:
        portfolio.fees, portfolio.fee_changes = load_fees(
            ReadOnce(reader, inputs.client.exchange), markets, now=inputs.clock.wall()
        )
    except FeeModelError as exc:
        raise fees_refused(exc) from exc
    # the min-edge floor, and each order's logged edge, are priced by their market's own fees;
    # an order's entry is judged in the book the stop-loss reads
    subaccount = inputs.client.subaccount or 0
    risk = RiskEngine(
        records,
        limits,
        clock=inputs.clock,
        fee_rates=portfolio.fee_rates,
        sink=sink,
        books=inputs.feed.book,
        stopped=_stop_losses(inputs, limits.stop_loss_cooldown_s, subaccount),
        sent=inputs.store.orders.sent_since(inputs.clock.wall() - ORDER_RATE_WINDOW_S, subaccount),
    )
    budgets = config.settings.budgets.values()
    lag = inputs.read_lag_s
    orders = OrderService(inputs.client, inputs.store, clock=inputs.clock, read_lag_s=lag)
    holdings = orders.checks.account.holdings
    account = loop_reads(
        reader, holdings, limits, budgets=budgets, markets=markets, fees=portfolio.fees.get
    )
    # a strategy owns nothing outside the loop's markets: only the account's limit reads what
    # is held there
    elsewhere = held_elsewhere(account.account_events, holdings, inputs)
    # the exchange's positions the start compares with are the client's subaccount's (else 0)
    fills = rebuild(inputs.store, portfolio, subaccount)
    follow_held_untraded(inputs.feed, portfolio)
    _assign(options, lineup, portfolio, inputs)
    trade = config.settings
    settings = LoopSettings(
        dry_run=options.dry_run,
        status_interval_s=trade.status_interval_s,
        tick_interval_s=trade.tick_interval_s,
        deadman_interval_s=trade.deadman_interval_s,
        max_revisit_s=trade.max_revisit_s,
        stop_deadline_s=trade.stop_deadline_s,
        read_lag_s=inputs.read_lag_s,
        call_timeout_s=trade.call_timeout_s,
        amend_requotes=trade.amend_requotes,
        shard_poll_s=trade.shard_poll_s,
        schedule_poll_s=trade.schedule_poll_s,
        new_markets_poll_s=trade.new_markets_poll_s,
        # the mids a strategy reads are those of its window; keeping more costs time and memory
        # (200 markets x 10 minutes of mids is ~20 MB)
        history_s=lineup.history_s(LoopSettings.history_s),  # secs
        pause_file=pause_file,
        strategy_errors_alert=trade.strategy_errors_alert,
        strategy_errors_stop=trade.strategy_errors_stop,
        strategy_errors_window_s=trade.strategy_errors_window_s,
        budgets=_budgets(trade.budgets, lineup, config.agent_strategy, inputs.log, markets),
        send_workers=inputs.send_workers,
    )
    # each new market's event read as the start's are (`loop_reads`): when a limit asks for it
    limited = event_limited(limits, budgets)
    on_halted = None
    if options.paper:
        from kalshi_cli.runner.paper import PaperClient, answer_kill

        # the kill switch of a paper loop is asked through its state file (paper_kill.py), and
        # runs on the paper client, so on its venue alone
        if not isinstance(inputs.client, PaperClient):
            kind = type(inputs.client).__name__
            raise TypeError(f"a paper loop trades on a PaperClient, not a {kind}")
        on_halted = functools.partial(
            answer_kill, inputs.client, inputs.store, inputs.clock, inputs.log, portfolio
        )
    loop = assemble_loop(
        inputs=inputs,
        orders=orders,
        lineup=lineup,
        risk=risk,
        records=records,
        portfolio=portfolio,
        settings=inputs.adjust(settings) if inputs.adjust is not None else settings,
        groups=find_events(reader, markets) if lineup.any("uses_events") else {},
        account=account,
        elsewhere=elsewhere,
        on_halted=on_halted,
        joining=join_reads(
            options, lineup, inputs.client, inputs.feed, holdings if limited else None
        ),
    )
    loop.executor.fills.load_seen(fills, since=inputs.fills_since)
    return loop


def start_loop(
    inputs: LoopInputs,
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
        loop = build_loop(inputs, options, config, markets, pause_file=pause_file)
        try:
            check_positions(inputs.client, loop.portfolio)
        except StartupRefused as exc:
            loop.dispatch.close()  # this loop is not the one that runs
            loop.stop.let_go()
            if attempt >= attempts:
                raise
            inputs.log.emit("positions_moved", {"attempt": attempt, "detail": exc.message})
            report = reconcile(inputs.client, inputs.store, inputs.clock, inputs.read_lag_s)
            inputs.log.emit("reconciled", report.to_json())
            attempt += 1
        else:
            return loop


def risk_sink(
    store: Store,
    log: EntryLog,
    alerts: TradeAlerts | None,
    on_entry: Callable[[str, Any], None] | None = None,
) -> Callable[[str, Any], None]:
    """The risk engine's entry sink: logged, and its two trips alerted, each once what it
    tells of is committed (a trip booked in a drain's transaction, when that commits): who
    reads "safe_mode" in the log or its alert and looks at the state file reads SAFE_MODE."""

    def tell(kind: str, data: Any) -> None:
        log.emit(kind, data)
        if on_entry is not None:
            on_entry(kind, data)
        if alerts is not None and kind in ("circuit_breaker", "safe_mode"):
            alerts.post(kind, "", str(data.get("detail", kind)), dict(data))

    return lambda kind, data: store.when_committed(lambda: tell(kind, data))


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


def _assign(options: TradeOptions, lineup: Lineup, portfolio: Portfolio, src: LoopInputs) -> None:
    """`--assign NAME:TICKER`: the contracts held in TICKER that no strategy built become
    NAME's, at the account's average cost, so its exits may sell them. Kept in the state file
    and given again at every start until replaced or cleared (`clear_assignments`); one whose
    strategy does not run, or whose market the loop does not trade, waits for a run that does.
    An unknown market exits NOT_FOUND, as every command's does, and nothing is written."""
    for name, ticker in options.assign:
        if lineup.get(name) is None:
            raise UsageError(
                f"--assign {name}:{ticker}: no strategy of that name runs",
                hint=f"running: {', '.join(lineup.names)}",
            )
        if ticker not in portfolio.markets:
            known_market(src.client.markets, ticker)
            raise UsageError(
                f"--assign {name}:{ticker}: the loop does not trade {ticker}",
                hint="add it to --markets",
            )
    if options.assign:
        src.store.trading.set_assignments({t: n for n, t in options.assign})
    assigned = src.store.trading.assignments()
    give_assigned(portfolio, assigned, lineup.names, src.clock.wall(), src.log)


def clear_assignments(
    tickers: Sequence[str], markets: MarketRead, open_store: Callable[[], Store]
) -> dict[str, str | None]:
    """`kalshi trade --unassign TICKER`: each market's assignment (`_assign`) cleared, so the
    contracts no strategy bought there are nobody's again; by ticker, the strategy each was
    given to (None: none). No loop runs. Every ticker is checked before the state file is
    opened: one the exchange does not know exits NOT_FOUND (a blank one is refused while the
    command line is parsed)."""
    cleared = [known_market(markets, t).ticker for t in tickers]
    with open_store() as store:
        was = store.trading.assignments()
        store.trading.set_assignments(dict.fromkeys(cleared))
    return {ticker: was.get(ticker) for ticker in cleared}


def _budgets(
    budgets: Mapping[str, Budget],
    lineup: Lineup,
    assistant: str,
    log: EntryLog,
    markets: list[Market],
) -> dict[str, Budget]:
    """`trade.budgets` of the strategies this run runs. One config serves every lineup, so a
    budget for a strategy that does not run is unused, and said so in one line, as is a
    strategy none of whose markets (`Strategy.trades`) the run trades. The assistant's
    (`agent.strategy`) is `kalshi mcp`'s to apply to its orders, not the loop's."""
    for name in budgets.keys() - {assistant} - set(lineup.names):
        log.emit("budget_unused", {"strategy": name, "running": ", ".join(lineup.names)})
    traded = lineup.traded({m.ticker: MarketTerms.from_market(m.raw) for m in markets})
    for name, tickers in traded.items():
        if not tickers:
            why = "none of the markets is one it trades: it decides nothing"
            log.emit("strategy_idle", {"strategy": name, "markets": len(markets), "why": why})
    return {name: budget for name, budget in budgets.items() if lineup.get(name) is not None}


def paper_venue(
    client: KalshiClient, markets: list[Market], clock: Clock, options: TradeOptions, netting: bool
) -> LocalVenue:
    """A paper session's venue (`paper.build_venue`), refused on fees it cannot price."""
    from kalshi_cli.runner import paper

    cash, number = options.paper_balance, options.subaccount or 0
    try:
        return paper.build_venue(client, markets, clock, cash, subaccount=number, netting=netting)
    except FeeModelError as exc:
        raise fees_refused(exc) from exc


def select_markets(client: KalshiClient, selection: Selection) -> list[Market]:
    open_ = [m for m in selection.markets(client) if m.is_open]
    if not open_:
        raise UsageError(f"no open market in {selection.describe()}")
    return open_


def _stop_losses(inputs: LoopInputs, cooldown_s: float, subaccount: int) -> dict[str, float]:
    """When the stop-loss last fired in each market within the pause after it (unix seconds,
    by ticker), from its orders in the state file: a restart does not lift the pause."""
    orders = inputs.store.orders.intents(
        strategy=STOP_LOSS, subaccount=subaccount, since=inputs.clock.wall() - cooldown_s
    )
    # oldest first, so each market keeps its newest
    return {order.ticker: order.created_at for order in orders}


def held_elsewhere(
    events: Mapping[str, EventTerms], checks: AccountHoldings, inputs: LoopInputs
) -> ElsewhereViews:
    """What the account holds in the markets of the loop's `events` that it does not trade (one
    closed awaiting its result, one left out of the selection): they settle with the event. Read
    here from the exchange, then again as the fill reads find trades there or the feed tells
    of orders or results there (runner/execution/elsewhere.py); none to follow, nothing is
    read."""
    markets = {
        ticker: terms.event_ticker
        for terms in events.values()
        for ticker in terms.strikes
        if ticker not in events
    }
    # the fills the loop's first reads list again (CLOCK_AHEAD_S back), listed before the views
    # that count them: one made between the two is counted at worst twice, never missed
    since = int(inputs.clock.wall() - CLOCK_AHEAD_S) - 2
    listed = checks.fill_ids(since) if markets else []
    # a feed that hears the account's orders tells of one placed, amended or cancelled there,
    # and of a result, and the event is read again (a backtest's replay has none to tell)
    follow = getattr(inputs.feed, "follow", None)
    if follow is not None and markets:
        follow(markets)
    return ElsewhereViews(
        markets=markets,
        views=checks.account_views() if markets else {},
        read=checks.event_views,
        clock=inputs.clock,
        log=inputs.log,
        listed=listed,
    )

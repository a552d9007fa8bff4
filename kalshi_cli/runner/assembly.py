"""The trade loop put together, top to bottom: each part built once, here, and given what it
uses (the constructor chain loop -> executor -> call guard -> unknown orders -> balance hold ->
fills -> cancels -> amends -> answer book -> sender -> outbox, then the loop's own orders and
the loop; what several of them share for one purpose is one small record, runner/execution/shared.py
for the executor's parts and runner/loop/shared.py for the loop's). `session.build_loop`
reconciles the state, then asks `assemble_loop` for a loop ready to tick. docs/trade-loop.md
"Where the code lives".
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING

from kalshi_cli.runner.execution.amends import Amends
from kalshi_cli.runner.execution.answers import AnswerBook
from kalshi_cli.runner.execution.balance_hold import BalanceHold
from kalshi_cli.runner.execution.call_guard import CallGuard, Counters
from kalshi_cli.runner.execution.cancels import Cancels
from kalshi_cli.runner.execution.dispatch import Dispatch, Wire
from kalshi_cli.runner.execution.execution import Changes, LoopExecutor
from kalshi_cli.runner.execution.fills import FillSync
from kalshi_cli.runner.execution.outbox import Outbox
from kalshi_cli.runner.execution.own_orders import OwnOrders
from kalshi_cli.runner.execution.sender import Sender
from kalshi_cli.runner.execution.shared import Bookkeeping, Holds, Report
from kalshi_cli.runner.execution.unknown_orders import UnknownOrders
from kalshi_cli.runner.loop.shared import Acting, Sight, Tuning, Voice
from kalshi_cli.runner.loop.trade_loop import TradeLoop
from kalshi_cli.services.reconcile import landing_wait_s

if TYPE_CHECKING:
    from kalshi_cli.risk import RiskEngine
    from kalshi_cli.runner.books.eventlog import EventLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.books.records import LoopTradingRecords
    from kalshi_cli.runner.loop.alerting import TradeAlerts
    from kalshi_cli.runner.loop.lineup import Lineup
    from kalshi_cli.runner.loop.settings import LoopSettings
    from kalshi_cli.runner.ports import LoopClient, MarketFeed
    from kalshi_cli.services.orders import OrderClient, OrderService
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import Clock


def assemble_loop(
    *,
    client: LoopClient,
    store: Store,
    orders: OrderService,
    feed: MarketFeed,
    clock: Clock,
    lineup: Lineup,
    risk: RiskEngine,
    records: LoopTradingRecords,
    portfolio: Portfolio,
    log: EventLog,
    settings: LoopSettings,
    alerts: TradeAlerts | None = None,
    complements: Mapping[str, str] | None = None,
) -> TradeLoop:
    """The loop with its executor: what its parts share (runner/loop/shared.py), the
    executor's parts, the loop's own orders, then the loop around them (the loop builds the
    parts that call back into it: market pass, watch, schedule, heartbeat)."""
    voice = Voice(log=log, alerts=alerts)
    # where exchange calls go: off the deciding path with workers (runner/execution/dispatch.py);
    # the answers of one drain are booked in one transaction of the state file
    # how far behind the client's write budget runs, which the loop reads before deciding
    # (a local venue has no rate limiter: its budget is never short)
    limiter = getattr(getattr(client, "connection", None), "limiter", None)
    writes_behind = (lambda: -math.inf) if limiter is None else partial(limiter.behind_s, "write")
    dispatch = Dispatch(
        workers=settings.send_workers,
        answer_within_s=settings.call_timeout_s,
        group=partial(_booking, store, log),
        stamp=clock.monotonic,  # each answer's `sent_at`: the API error guard's clock
        writes_behind=writes_behind,
    )
    executor = build_executor(
        dispatch=dispatch,
        client=client,
        store=store,
        orders=orders,
        risk=risk,
        records=records,
        portfolio=portfolio,
        voice=voice,
        clock=clock,
        settings=settings,
    )
    # a fill listed without a field the spec requires (client.connection.FillQuarantine),
    # found while a worker reads the listing: booked on the deciding thread, before the
    # listing's fills are; heard until the loop lets go (`TradeLoop.let_go`)
    quarantine = getattr(getattr(client, "connection", None), "fill_quarantine", None)
    stop_listening = None
    if quarantine is not None:
        doubt = executor.unknown_orders.fill_quarantined
        stop_listening = quarantine.listen(lambda found: dispatch.later(lambda: doubt(found)))
    # which resting orders are the loop's, each strategy's, and their withdrawal
    own = OwnOrders(executor=executor, portfolio=portfolio, names=lineup.names)
    # a replacement is cut again to its strategy's own part once its cancels are booked
    executor.room = own.room
    loop = TradeLoop(
        client=client,
        sight=Sight(feed=feed, portfolio=portfolio, clock=clock),
        acting=Acting(risk=risk, executor=executor, dispatch=dispatch, own=own),
        tuning=Tuning(settings=settings, lineup=lineup),
        voice=voice,
        records=records,
        complements=complements,
    )
    # between two withdraw cancels, the heartbeat if it is due
    own.after_each = loop.beat_if_due
    loop.on_let_go = stop_listening
    return loop


@contextmanager
def _booking(store: Store, log: EventLog) -> Iterator[None]:
    """A drain's bookings: one transaction of the state file, and the lines they log written
    once it has committed (none if it rolls back)."""
    with store.transaction(), log.until(store.when_committed):
        yield


def build_executor(
    *,
    dispatch: Dispatch,
    client: OrderClient,
    store: Store,
    orders: OrderService,
    risk: RiskEngine,
    records: LoopTradingRecords,
    portfolio: Portfolio,
    voice: Voice,
    clock: Clock,
    settings: LoopSettings,
) -> LoopExecutor:
    """From a decision to the exchange and back (runner/execution/): every part the executor
    has, in the order each needs the ones before it."""
    wire = Wire(client=client, dispatch=dispatch)
    log = voice.log
    books = Bookkeeping(store=store, records=records, portfolio=portfolio)
    report = Report(log=log, counters=Counters())
    # set when fills are due to be read: by a fill notice, a cancel that found less resting,
    # an order of unknown outcome found; cleared by the read
    fills_due = threading.Event()
    guard = CallGuard(risk=risk, clock=clock, log=log, counters=report.counters)
    unknown_orders = UnknownOrders(
        wire=wire,
        store=store,
        portfolio=portfolio,
        log=log,
        clock=clock,
        guard=guard,
        fills_due=fills_due.set,
        alert=voice.alert,
        landing_s=landing_wait_s(settings.read_lag_s),
    )
    balance_hold = BalanceHold(clock=clock, counters=report.counters, log=log)
    holds = Holds(guard=guard, unknown=unknown_orders, balance_hold=balance_hold)
    fills = FillSync(wire=wire, books=books, report=report, clock=clock, holds=holds, due=fills_due)
    unknown_orders.told_filled = fills.told_filled
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
    answers = AnswerBook(orders=orders, books=books, report=report, holds=holds, fills=fills)
    fills.awaiting_answer = answers.in_flight.in_market
    sender = Sender(orders=orders, answers=answers, dispatch=dispatch)
    outbox = Outbox(
        wire=wire, portfolio=portfolio, log=log, holds=holds, sender=sender, answers=answers
    )
    return LoopExecutor(
        risk=risk,
        report=report,
        holds=holds,
        fills=fills,
        changes=Changes(cancels=cancels, amends=amends),
        outbox=outbox,
        hold_markets=dispatch.hold,
        threaded=dispatch.threaded,
        dry_run=settings.dry_run,
    )

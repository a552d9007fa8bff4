"""The trade loop put together, top to bottom: each part built once, here, and given what it
uses (the constructor chain loop -> executor -> call guard -> balance hold -> unknown orders ->
fills -> cancels -> sender -> outbox). `session.build_loop` reconciles the state, then asks
`assemble_loop` for a loop ready to tick. docs/trade-loop.md "Where the code lives".
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from kalshi_cli.runner.execution.balance_hold import BalanceHold
from kalshi_cli.runner.execution.call_guard import CallGuard, Counters
from kalshi_cli.runner.execution.cancels import Cancels
from kalshi_cli.runner.execution.dispatch import Dispatch
from kalshi_cli.runner.execution.execution import LoopExecutor
from kalshi_cli.runner.execution.fills import FillSync, SentOrders
from kalshi_cli.runner.execution.outbox import Outbox
from kalshi_cli.runner.execution.sender import Sender
from kalshi_cli.runner.execution.unknown_orders import UnknownOrders
from kalshi_cli.runner.loop import TradeLoop

if TYPE_CHECKING:
    from kalshi_cli.risk import RiskEngine
    from kalshi_cli.runner.books.eventlog import EventLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.books.records import LoopTradingRecords
    from kalshi_cli.runner.lifecycle.alerting import TradeAlerts
    from kalshi_cli.runner.loop_settings import LoopSettings
    from kalshi_cli.runner.ports import LoopClient, MarketFeed
    from kalshi_cli.runner.schedule.lineup import Lineup
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
    """The loop with its executor: the executor's parts first, then the loop around them (the
    loop builds the parts that call back into it: own orders, market pass, watch, schedule,
    heartbeat)."""
    executor = build_executor(
        client=client,
        store=store,
        orders=orders,
        risk=risk,
        records=records,
        portfolio=portfolio,
        log=log,
        clock=clock,
        settings=settings,
    )
    return TradeLoop(
        client=client,
        store=store,
        executor=executor,
        feed=feed,
        clock=clock,
        lineup=lineup,
        risk=risk,
        records=records,
        portfolio=portfolio,
        log=log,
        settings=settings,
        alerts=alerts,
        complements=complements,
    )


def build_executor(
    *,
    client: OrderClient,
    store: Store,
    orders: OrderService,
    risk: RiskEngine,
    records: LoopTradingRecords,
    portfolio: Portfolio,
    log: EventLog,
    clock: Clock,
    settings: LoopSettings,
) -> LoopExecutor:
    """From a decision to the exchange and back (runner/execution/): every part the executor
    has, in the order each needs the ones before it."""
    # where exchange calls go: off the deciding path with workers (runner/execution/dispatch.py)
    dispatch = Dispatch(workers=settings.send_workers, answer_within_s=settings.call_timeout_s)
    counters = Counters()
    # set when fills are due to be read: by a fill notice, a cancel that found less resting,
    # an order of unknown outcome found; cleared by the read
    fills_due = threading.Event()
    guard = CallGuard(risk=risk, clock=clock, log=log, counters=counters)
    balance_hold = BalanceHold(clock=clock, counters=counters, log=log)
    unknown_orders = UnknownOrders(
        client=client,
        store=store,
        portfolio=portfolio,
        log=log,
        clock=clock,
        guard=guard,
        fills_due=fills_due,
        dispatch=dispatch,
    )
    sent = SentOrders()
    fills = FillSync(
        client=client,
        store=store,
        records=records,
        portfolio=portfolio,
        log=log,
        clock=clock,
        guard=guard,
        counters=counters,
        unknown=unknown_orders,
        sent=sent,
        due=fills_due,
        dispatch=dispatch,
    )
    cancels = Cancels(
        client=client,
        store=store,
        portfolio=portfolio,
        log=log,
        guard=guard,
        counters=counters,
        fills_due=fills_due,
        dry_run=settings.dry_run,
        dispatch=dispatch,
    )
    sender = Sender(
        orders=orders,
        risk=risk,
        records=records,
        portfolio=portfolio,
        log=log,
        clock=clock,
        guard=guard,
        counters=counters,
        unknown=unknown_orders,
        fills=fills,
        fills_due=fills_due,
        sent=sent,
        balance_hold=balance_hold,
        dispatch=dispatch,
    )
    outbox = Outbox(
        client=client,
        store=store,
        orders=orders,
        risk=risk,
        portfolio=portfolio,
        log=log,
        clock=clock,
        guard=guard,
        unknown=unknown_orders,
        fills=fills,
        fills_due=fills_due,
        sender=sender,
    )
    return LoopExecutor(
        orders=orders,
        risk=risk,
        portfolio=portfolio,
        log=log,
        dispatch=dispatch,
        counters=counters,
        fills_due=fills_due,
        guard=guard,
        balance_hold=balance_hold,
        unknown_orders=unknown_orders,
        sent=sent,
        fills=fills,
        cancels=cancels,
        sender=sender,
        outbox=outbox,
        dry_run=settings.dry_run,
    )

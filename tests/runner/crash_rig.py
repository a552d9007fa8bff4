"""A trade loop killed at a chosen instant and started again on what the kill left.

A kill leaves the state file as its last commit left it, nothing after: `crash_at` wraps one
call of the loop so that, at its moment, the file's committed content is copied aside (SQLite's
online backup from a connection of its own reads only what was committed) and a `Killed`
(a BaseException, caught by nothing of the loop's) is raised. The loop that raised is dropped
without a stop; `restart` starts a new one on the copy, against the same exchange, as
`kalshi trade` starts: the reconcile, then the rebuild and the comparison of positions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.runner import Parts, StrategyChoice, TradeConfig, TradeOptions
from kalshi_cli.runner.books.eventlog import EventLog
from kalshi_cli.runner.lifecycle.session import reconcile, start_loop
from kalshi_cli.services.pnl import book_settlements, realized_per_fill
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.order_terms import owner_in
from tests.runner.fakes import FakeClient, FakeFeed, Rig


class Killed(BaseException):
    """The process died here: nothing of the loop's catches it."""


def copy_committed(state: Path, to: Path) -> None:
    """What a kill at this instant leaves of `state`: its committed content only."""
    source = sqlite3.connect(state)
    target = sqlite3.connect(to)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def crash_at(
    obj: Any,
    name: str,
    state: Path,
    left: Path,
    *,
    after: bool,
    when: Callable[..., bool] = lambda *a, **k: True,
) -> list[bool]:
    """Kill the loop at `obj.name`'s next call that `when` accepts: before it runs, or once
    it returned (`after`). Returns a list that holds True once the kill happened."""
    real = getattr(obj, name)
    done: list[bool] = []

    def killed(*args: Any, **kwargs: Any) -> Any:
        if done or not when(*args, **kwargs):
            return real(*args, **kwargs)
        if after:
            real(*args, **kwargs)
        done.append(True)
        copy_committed(state, left)
        raise Killed(name)

    setattr(obj, name, killed)
    return done


def restart(
    rig: Rig,
    state: Path,
    *,
    strategies: Sequence[str] = ("market-maker",),
    subaccount: int | None = None,
    risk: dict[str, Any] | None = None,
    read_lag_s: float = 0.5,
    trade: dict[str, Any] | None = None,
    client: FakeClient | None = None,
) -> Rig:
    """A new loop on `state` against `rig`'s exchange (through `client`, when given), started
    as `kalshi trade` starts."""
    clock, exchange = rig.clock, rig.exchange
    account = rig.client.account_id
    client = client or FakeClient(exchange, account, clock=clock, subaccount=subaccount)
    store = Store.open(state, clock=clock)
    log = EventLog(clock, stderr=None)
    feed = FakeFeed(exchange, account, clock)
    parts = Parts(client, store, feed, clock, log, read_lag_s=read_lag_s)
    reconcile(client, store, clock, read_lag_s)
    choices = tuple(StrategyChoice(s) for s in strategies)
    config = TradeConfig(strategies={s: {} for s in strategies}, risk=risk or {}, trade=trade or {})
    markets = [client.get_market(t) for t in exchange.markets]
    loop = start_loop(
        parts, TradeOptions(strategies=choices), config, [m for m in markets if m.is_open]
    )
    return Rig(loop, client, feed, store, clock, exchange)


def check_against_exchange(rig: Rig) -> None:
    """After a restart: every order sent once, every resting order known to the loop with
    its owner, positions, fills and realized P&L as the exchange's."""
    account = rig.client.account_id
    orders = rig.exchange.orders(account)
    ids = [o.client_order_id for o in orders if o.client_order_id]
    assert len(ids) == len(set(ids)), "an order sent twice"
    loop_orders = rig.loop.portfolio.orders
    for o in orders:
        intent = rig.store.orders.get_intent(o.client_order_id) if o.client_order_id else None
        if o.status == "resting":
            assert o.order_id in loop_orders, f"resting {o.order_id} unknown to the loop"
            owner = owner_in(o.client_order_id or "")
            assert loop_orders[o.order_id].strategy == owner, (loop_orders[o.order_id], owner)
            assert intent is not None and intent.status == "resting", intent
            assert loop_orders[o.order_id].remaining == o.remaining_count
        elif intent is not None:
            assert intent.status != "resting", f"{o.order_id} gone, the loop has it resting"
    for order_id, view in loop_orders.items():
        assert rig.exchange.order(account, order_id).status == "resting", view
    theirs = {p.ticker: p.position for p in rig.exchange.positions(account) if p.position}
    ours = {m.ticker: m.position for m in rig.loop.portfolio.open_positions()}
    assert ours == theirs
    fills = {f.fill_id: f for f in rig.store.fills.read()}
    exchange_fills = rig.exchange.fills(account)
    assert set(fills) == {f.fill_id for f in exchange_fills}
    for f in exchange_fills:
        ours_f = fills[f.fill_id]
        assert (ours_f.count, ours_f.fee) == (Decimal(f.count), f.fee)
        intent = rig.store.orders.intent_by_order_id(f.order_id)
        if intent is not None:
            assert ours_f.strategy == intent.strategy, (ours_f, intent)
    replayed = {
        fill.fill_id: event.net
        for fill, event in realized_per_fill(
            rig.store.fills.iter_fills(), book_settlements(rig.store.settlements.read(), 0)
        )
    }
    booked = {f.fill_id: f.realized_pnl for f in fills.values()}
    assert booked == replayed

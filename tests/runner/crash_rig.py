"""A trade loop killed at a chosen instant and started again on what the kill left.

A kill leaves the state file as its last commit left it, nothing after: `crash_at` wraps one
call of the loop so that, at its moment, the file's committed content is copied aside (SQLite's
online backup from a connection of its own reads only what was committed) and a `Killed`
(a BaseException: the loop's handlers let it through) is raised. What runs after it (a
transaction's rollback, a `finally`) writes only the original file, which is dropped with the
loop, unstopped; `restart` starts a new loop on the copy, against the same exchange, as `kalshi
trade` starts: the reconcile, then the rebuild and the comparison of positions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kalshi_cli.runner.assembly import LoopInputs, start_loop
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import StrategyChoice, TradeConfig, TradeOptions
from kalshi_cli.runner.preflight import reconcile
from kalshi_cli.store import Store
from tests.runner.fakes import FakeClient, FakeFeed, Rig

RIG_READ_LAG_S = 0.5  # how long the restarted loop takes reads to lag writes


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
    read_lag_s: float = RIG_READ_LAG_S,
    trade: dict[str, Any] | None = None,
    client: FakeClient | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> Rig:
    """A new loop on `state` against `rig`'s exchange (through `client`, when given), started
    as `kalshi trade` starts. `meanwhile` runs between the reconcile and the loop's build, where
    `kalshi trade` reads the markets and their fees (seconds on a large selection)."""
    clock, exchange = rig.clock, rig.exchange
    account = rig.client.account_id
    client = client or FakeClient(exchange, account, clock=clock, subaccount=subaccount)
    store = Store.open(state, clock=clock)
    log = EntryLog(clock, stderr=None)
    feed = FakeFeed(exchange, account, clock)
    inputs = LoopInputs(client, store, feed, clock, log, read_lag_s=read_lag_s)
    inputs.fills_since = reconcile(client, store, clock, read_lag_s).fills_read_at
    if meanwhile is not None:
        meanwhile()
    choices = tuple(StrategyChoice(s) for s in strategies)
    config = TradeConfig(strategies={s: {} for s in strategies}, risk=risk or {}, trade=trade or {})
    markets = [client.get_market(t) for t in exchange.reference.markets]
    loop = start_loop(
        inputs, TradeOptions(strategies=choices), config, [m for m in markets if m.is_open]
    )
    return Rig(loop, client, feed, store, clock, exchange)

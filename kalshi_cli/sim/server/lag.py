"""Reads that lag writes, the `read_lag_ms` fault: while it is set, each requesting account's orders
and positions are copied before every change, and the order and position reads answer the copy
current at `now - lag`; writes see the current state. docs/simulator.md "Admin API".
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from kalshi_cli.sim.core.trade_archive import merge_by_counter

if TYPE_CHECKING:
    from kalshi_cli.sim.core.exchange import Exchange
    from kalshi_cli.sim.core.records import SimOrder, SimPosition
    from kalshi_cli.sim.core.trade_archive import OrderArchive


@dataclass(frozen=True)
class AccountView:
    """One account's orders (newest first, as `Exchange.orders`) and positions at a moment:
    copies of its live orders, and its archive of finished orders (append only, never
    changed) as far as it then went, so no archived order is copied or rebuilt until a read
    asks for it."""

    live: list[SimOrder]
    archived: OrderArchive | None
    archived_count: int
    positions: list[SimPosition]

    @property
    def orders(self) -> list[SimOrder]:
        if self.archived is None:
            return self.live
        return merge_by_counter(self.live, self.archived.newest_first(upto=self.archived_count))

    def order(self, order_id: str) -> SimOrder | None:
        found = next((o for o in self.live if o.order_id == order_id), None)
        if found is None and self.archived is not None:
            return self.archived.find(order_id, upto=self.archived_count)
        return found


class ReadReplica:
    def __init__(self) -> None:
        self._accounts: set[str] = set()
        # (monotonic time of a change, every watched account's state just before it), oldest first
        self._versions: deque[tuple[float, dict[str, AccountView]]] = deque()

    def watch(self, account_id: str) -> None:
        """An account that talks to the exchange over HTTP: its reads can lag."""
        self._accounts.add(account_id)

    def before_change(self, exchange: Exchange, now: float, lag_s: float) -> None:
        """Keep the state as it stands, just before a change at `now`."""
        if lag_s <= 0:
            self._versions.clear()
            return
        self._drop_older_than(now - lag_s)
        views = {}
        for account_id in self._accounts:
            live, archived = exchange.history.order_store(account_id)
            views[account_id] = AccountView(
                [replace(o) for o in reversed(live)],
                archived,
                len(archived) if archived is not None else 0,
                [replace(p) for p in exchange.accounts.positions(account_id)],
            )
        self._versions.append((now, views))

    def view(self, account_id: str, now: float, lag_s: float) -> AccountView | None:
        """The account's state as of `now - lag_s`, or None when that is the current state."""
        if lag_s <= 0:
            return None
        as_of = now - lag_s
        self._drop_older_than(as_of)
        for changed_at, views in self._versions:
            # a copy taken before the account was first seen does not hold it: the account's
            # first copy is its state before its first change since
            if changed_at > as_of and account_id in views:
                return views[account_id]
        return None

    def _drop_older_than(self, as_of: float) -> None:  # monotonic seconds
        # a version stamped at or before `as_of` describes a state that ended before it
        while self._versions and self._versions[0][0] <= as_of:
            self._versions.popleft()

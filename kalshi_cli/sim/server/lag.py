"""Reads that lag writes: the `read_lag_ms` fault.

Observed on Kalshi (REFERENCE.md, "Observed on the real wire"): a `DELETE` of an order was
acknowledged 200 with `reduced_by "1.00"`, and a `GET /portfolio/orders/{id}` about 360 ms later
still answered `status: resting` with the old `last_update_time`; a second `DELETE` answered
404. The writes act on the exchange's current state; the reads are served from a copy that
catches up later.

This module is that copy. While `read_lag_ms` is above 0, the state of every account seen over
HTTP (its orders and its positions) is copied just before each change of the exchange: before
every write request under /trade-api/v2, before every admin write (settle, status) and before
every tick (expiries, background participants). Each copy is stamped with the moment of the
change it precedes, so it is the state as it stood until then. `GET /portfolio/orders`,
`GET /portfolio/orders/{id}` and `GET /portfolio/positions` then answer the state as of
`now - lag`: the copy taken before the first change after that moment, or the current state
when nothing changed since. An order created less than the lag ago is not listed (and looked up
alone it is a 404); one cancelled or filled less than the lag ago still shows as it was. The
write answers themselves (create, cancel, amend, decrease) always see the current state, as on
Kalshi. Fills, settlements and the balance are not lagged: only orders and positions were seen
to lag.

Copies older than the lag are dropped as soon as no read can need them. Copying every live order
of every account on each change costs time proportional to the accounts' live orders (a keyed
account's finished orders a minute old are not copied: a copy refers to their append-only
archive as far as it went), which is why it only happens while the fault is set;
accounts that never made an HTTP request (the scenario's participants) are never copied and
never read. Lag applies to changes made while the
knob is set: raising it does not bring back older states.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from kalshi_cli.sim.core.trade_archive import merge_by_counter

if TYPE_CHECKING:
    from kalshi_cli.sim.core.exchange import Exchange, SimOrder, SimPosition
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
            live, archived = exchange.order_store(account_id)
            views[account_id] = AccountView(
                [replace(o) for o in reversed(live)],
                archived,
                len(archived) if archived is not None else 0,
                [replace(p) for p in exchange.positions(account_id)],
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

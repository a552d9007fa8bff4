"""Order groups on the simulated exchange: a contracts limit over a rolling 15 seconds that, when
hit, cancels the group's orders and refuses new ones until reset. Every change is journaled and
replayed (`OrderGroups.replay`). docs/simulator.md "Order groups".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kalshi_cli.sim.core.accounts import Ledger
from kalshi_cli.sim.core.matching import MatchingEngine
from kalshi_cli.sim.core.records import (
    ExchangeError,
    OrderGroupChanged,
    SimOrder,
    bad_request,
    not_found,
    owner,
    same_user,
)
from kalshi_cli.sim.core.reference import Reference
from kalshi_cli.vocabulary.units import ZERO

WINDOW_S = 15.0
# CreateOrderGroup: "Users can have up to 100,000 order groups at a time." A user's: its
# subaccounts' groups count towards it, and a deleted group no longer does.
MAX_GROUPS_PER_USER = 100_000


@dataclass
class SimOrderGroup:
    order_group_id: str
    account_id: str
    contracts_limit: Decimal
    created_time: float
    exchange_index: int = 0  # the shard it was created on, which keeps it
    triggered: bool = False
    order_ids: list[str] = field(default_factory=list)  # every order placed in it, oldest first
    matched: deque[tuple[float, Decimal]] = field(default_factory=deque)  # (ts, contracts)

    def matched_since(self, now: float) -> Decimal:
        """Contracts matched in the rolling window ending at `now` (older entries dropped)."""
        while self.matched and self.matched[0][0] <= now - WINDOW_S:
            self.matched.popleft()
        return sum((count for _, count in self.matched), ZERO)


def _check_limit(limit: Decimal) -> None:
    if limit <= 0:
        raise bad_request("contracts_limit must be at least 1")


class OrderGroups:
    """Order groups (see the module docstring)."""

    def __init__(
        self,
        reference: Reference,
        ledger: Ledger,
        engine: MatchingEngine,
        live_order: Callable[[str], SimOrder | None],
    ) -> None:
        """`live_order(order_id)`: the exchange's live order of that id (None once it is
        finished and archived)."""
        self._ref = reference
        self._ledger = ledger
        self._engine = engine
        self._live_order = live_order
        self.groups: dict[str, SimOrderGroup] = {}

    # the request-level API ------------------------------------------------------------------

    def create_order_group(
        self, account_id: str, contracts_limit: Decimal, exchange_index: int = 0
    ) -> SimOrderGroup:
        self._ledger.acct(account_id)
        _check_limit(contracts_limit)
        # no user can be at the cap while all users together hold fewer: counted only then
        if len(self.groups) >= MAX_GROUPS_PER_USER and (
            sum(1 for g in self.groups.values() if same_user(g.account_id, account_id))
            >= MAX_GROUPS_PER_USER
        ):
            raise bad_request(
                f"at most {MAX_GROUPS_PER_USER} order groups at a time: delete one first",
                "too_many_order_groups",
            )
        now = self._ref.log(
            "order_group_create",
            account_id=account_id,
            limit=str(contracts_limit),
            exchange_index=exchange_index,
        )
        group = SimOrderGroup(self._ref.new_id(), account_id, contracts_limit, now, exchange_index)
        self.groups[group.order_group_id] = group
        self._group_event(group, "created", now, contracts_limit)
        return group

    def order_group(self, account_id: str, order_group_id: str) -> SimOrderGroup:
        group = self.groups.get(order_group_id)
        if group is None or group.account_id != account_id:
            raise not_found()
        return group

    def order_groups(self, *account_ids: str) -> list[SimOrderGroup]:
        """The groups of these accounts (a user's subaccounts, say), oldest first."""
        return [g for g in self.groups.values() if g.account_id in account_ids]

    def _journaled(
        self, op: str, account_id: str, order_group_id: str
    ) -> tuple[SimOrderGroup, float]:
        """The account's group (404 when it has none of that id) and the time of the `op`
        record journaled for it, which the change that follows is made at."""
        group = self.order_group(account_id, order_group_id)
        now = self._ref.log(op, account_id=account_id, order_group_id=order_group_id)
        return group, now

    def trigger_order_group(self, account_id: str, order_group_id: str) -> SimOrderGroup:
        group, now = self._journaled("order_group_trigger", account_id, order_group_id)
        self._trigger(group, now)
        return group

    def reset_order_group(self, account_id: str, order_group_id: str) -> SimOrderGroup:
        group, now = self._journaled("order_group_reset", account_id, order_group_id)
        group.matched.clear()
        group.triggered = False
        self._group_event(group, "reset", now)
        return group

    def set_order_group_limit(
        self, account_id: str, order_group_id: str, contracts_limit: Decimal
    ) -> SimOrderGroup:
        group = self.order_group(account_id, order_group_id)
        _check_limit(contracts_limit)
        now = self._ref.log(
            "order_group_limit",
            account_id=account_id,
            order_group_id=order_group_id,
            limit=str(contracts_limit),
        )
        group.contracts_limit = contracts_limit
        self._group_event(group, "limit_updated", now, contracts_limit)
        if not group.triggered and group.matched_since(now) >= contracts_limit:
            self._trigger(group, now)
        return group

    def delete_order_group(self, account_id: str, order_group_id: str) -> None:
        group, now = self._journaled("order_group_delete", account_id, order_group_id)
        self._cancel_group_orders(group, now)
        del self.groups[order_group_id]
        self._group_event(group, "deleted", now)

    def replay(self, rec: dict[str, Any]) -> None:
        """Apply one journaled `order_group_*` record (sim/core/exchange.py `_replay`)."""
        op = rec["op"]
        if op == "order_group_create":
            # a journal written before groups had a shard kept them all on shard 0
            shard = rec.get("exchange_index", 0)
            self.create_order_group(rec["account_id"], Decimal(rec["limit"]), shard)
        elif op == "order_group_trigger":
            self.trigger_order_group(rec["account_id"], rec["order_group_id"])
        elif op == "order_group_reset":
            self.reset_order_group(rec["account_id"], rec["order_group_id"])
        elif op == "order_group_limit":
            self.set_order_group_limit(
                rec["account_id"], rec["order_group_id"], Decimal(rec["limit"])
            )
        elif op == "order_group_delete":
            self.delete_order_group(rec["account_id"], rec["order_group_id"])
        else:
            raise ExchangeError(500, "internal_server_error", f"unknown record {op!r}")

    # the hooks the order path calls (sim/core/order_desk.py) --------------------------------------

    def open_group(self, account_id: str, order_group_id: str | None) -> None:
        """Refuse an order for a group it may not be placed in (before anything changes)."""
        if order_group_id is None:
            return
        group = self.groups.get(order_group_id)
        if group is None or not same_user(group.account_id, account_id):
            raise bad_request(f"order group {order_group_id} not found", "invalid_order_group")
        if group.account_id != account_id:
            raise bad_request(
                f"order group {order_group_id} belongs to subaccount "
                f"{owner(group.account_id)[1]}, the order to subaccount {owner(account_id)[1]}",
                "invalid_order_group",
            )
        if group.triggered:
            raise ExchangeError(
                409,
                "order_group_triggered",
                f"order group {order_group_id} is triggered: reset it to place orders in it",
            )

    def join(self, order: SimOrder) -> None:
        if order.order_group_id is not None:
            self.groups[order.order_group_id].order_ids.append(order.order_id)

    def count_matched(self, matched: list[tuple[SimOrder, Decimal]], now: float) -> None:
        """After a match: count each group order's matched contracts and trigger every group
        whose rolling count reached its limit."""
        hit: dict[str, SimOrderGroup] = {}
        for order, count in matched:
            group_id = order.order_group_id
            group = self.groups.get(group_id) if group_id is not None else None
            if group is None or not count:
                continue
            group.matched.append((now, count))
            if not group.triggered and group.matched_since(now) >= group.contracts_limit:
                hit[group.order_group_id] = group
        for group in hit.values():
            self._trigger(group, now)

    # internals ------------------------------------------------------------------------------

    def _trigger(self, group: SimOrderGroup, now: float) -> None:
        group.triggered = True
        self._cancel_group_orders(group, now)
        self._group_event(group, "triggered", now)

    def _cancel_group_orders(self, group: SimOrderGroup, now: float) -> None:
        live = (self._live_order(order_id) for order_id in group.order_ids)
        # None: finished and archived (archive_orders)
        self._engine.cancel([o for o in live if o is not None and o.status == "resting"], now)

    def _group_event(
        self, group: SimOrderGroup, event_type: str, now: float, limit: Decimal | None = None
    ) -> None:
        if self._ref.listeners:
            self._ref.emit(
                OrderGroupChanged(group.account_id, group.order_group_id, event_type, limit, now)
            )

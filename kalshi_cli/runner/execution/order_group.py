"""The session's order group: a server-side stop under every order one `kalshi trade` run places
(`--order-group`, the default). It is created and recorded before the first order, so the kill
switch of any process can trigger it; an order refused because the group was triggered records
HALTED. A clean stop deletes the group; otherwise the next start does, once it holds no resting
order. docs/trade-loop.md "The session's order group".
"""

from __future__ import annotations

import math
import threading
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Protocol

from kalshi_cli.runner.execution.give_up import GivenUp, unless_given_up
from kalshi_cli.services.killswitch.order_groups import (
    forget_order_group,
    remember_order_group,
    session_order_group_places,
)
from kalshi_cli.vocabulary.errors import KalshiError, NotFoundError

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.config import TradeConfig
    from kalshi_cli.store import Store

# the code the simulator answers an order for a triggered group with (sim/core/order_groups.py);
# Kalshi documents 409 for order create but names no code for this case
GROUP_TRIGGERED = "order_group_triggered"
# the simulator's code for an order naming a group it does not know (deleted, as by `kalshi
# order-group delete` while the loop runs): no order of the session can go into it any more
GROUP_GONE = "invalid_order_group"
# the refusals that say the session's group takes no more orders: the loop halts at the first
GROUP_REFUSALS = frozenset({GROUP_TRIGGERED, GROUP_GONE})
# why a group's delete left it listed when the person interrupted again while it was out
GROUP_END_GIVEN_UP = "its delete given up by a second interrupt"


def contracts_limit(config: TradeConfig) -> Decimal:
    limits = config.limits
    if config.settings.order_group_limit is None:
        return Decimal(math.ceil(limits.max_order_count * limits.max_orders_per_minute))
    return Decimal(config.settings.order_group_limit)


def open_session_group(
    client: KalshiClient, store: Store, config: TradeConfig, log: EntryLog
) -> str:
    """Create the session's group and record it in the state file; returns its id. Raises
    the client's error when the exchange cannot be asked about the groups of the loop's own
    subaccount, or create one (the session refuses to start)."""
    limit = contracts_limit(config)
    here = client.subaccount or 0  # where the exchange puts the group (its default: 0)
    places = session_order_group_places(store)
    live: set[tuple[str, int]] = set()
    seen: set[int] = set()
    for subaccount in sorted({n for _, n in places} | {here}):
        try:
            groups = client.order_groups.list_order_groups(subaccount=subaccount)
        except KalshiError as exc:
            if subaccount == here:
                raise
            # a key restricted to a subaccount may read no other's (403): the groups there
            # stay listed, for a kill switch run with a key that reaches them
            log.emit("order_groups_kept", {"subaccount": subaccount, "error": exc.one_line()})
            continue
        seen.add(subaccount)
        live |= {(g.order_group_id, subaccount) for g in groups}
    for old in places:
        if old[1] in seen and old not in live:
            forget_order_group(store, old[0])
    delete_idle_groups(client, store, [p for p in places if p in live], log)
    group_id = client.order_groups.create_order_group(limit)
    remember_order_group(store, group_id, subaccount=here)
    log.emit("order_group_created", {"order_group_id": group_id, "contracts_limit": str(limit)})
    return group_id


def delete_idle_groups(
    client: KalshiClient, store: Store, earlier: list[tuple[str, int]], log: EntryLog
) -> None:
    """Delete the groups (id, subaccount) earlier sessions of this state file left that hold no
    resting order: every start makes one, and the exchange caps a user's groups. A group holding
    an order stays, as does every group of a subaccount whose orders cannot be told; a refused
    delete leaves the group listed for the kill switch. Nothing here holds the start back."""
    by_subaccount: dict[int, list[str]] = {}
    for group_id, subaccount in earlier:
        by_subaccount.setdefault(subaccount, []).append(group_id)
    for subaccount, group_ids in sorted(by_subaccount.items()):
        busy = _groups_with_resting_orders(client, store, subaccount, log)
        if busy is None:
            continue
        for group_id in group_ids:
            if group_id not in busy:
                _delete_earlier_group(client, store, group_id, subaccount, log)


def _groups_with_resting_orders(
    client: KalshiClient, store: Store, subaccount: int, log: EntryLog
) -> set[str] | None:
    """The groups of the subaccount's resting orders, from one listing; None when it cannot
    be told: the listing failed, or an order the state file holds as resting is not in it (a
    listing may lag the write that placed the order, and the order may be in any group)."""
    try:
        resting = list(client.on_subaccount(subaccount).orders.iter_orders(status="resting"))
    except KalshiError as exc:
        log.emit("order_groups_kept", {"subaccount": subaccount, "error": exc.one_line()})
        return None
    listed = {o.order_id for o in resting}
    unlisted = sorted(
        i.order_id
        for i in store.orders.open_orders(subaccount=subaccount)
        if i.order_id is not None and i.order_id not in listed
    )
    if unlisted:
        log.emit("order_groups_kept", {"subaccount": subaccount, "unlisted_orders": unlisted})
        return None
    return {g for o in resting if isinstance(g := o.raw.get("order_group_id"), str)}


def _delete_earlier_group(
    client: KalshiClient, store: Store, group_id: str, subaccount: int, log: EntryLog
) -> None:
    try:
        client.order_groups.delete_order_group(group_id, subaccount=subaccount)
    except NotFoundError:
        pass  # gone already (deleted by hand): nothing is left to list
    except KalshiError as exc:
        log.emit("order_group_kept", {"order_group_id": group_id, "error": exc.one_line()})
        return
    forget_order_group(store, group_id)
    log.emit("order_group_deleted", {"order_group_id": group_id})


def close_session_group(
    client: KalshiClient,
    store: Store,
    group_id: str,
    log: EntryLog,
    abandon: threading.Event | None = None,
) -> bool:
    """Delete the group after a clean stop; on failure it stays listed for the kill switch, as
    it does when a second SIGINT or SIGTERM (`abandon`) gives the delete up while it is out."""
    try:
        unless_given_up(partial(client.order_groups.delete_order_group, group_id), abandon)
    except KalshiError as exc:
        log.emit("order_group_kept", {"order_group_id": group_id, "error": exc.message})
        return False
    except GivenUp:
        log.emit("order_group_kept", {"order_group_id": group_id, "error": GROUP_END_GIVEN_UP})
        return False
    forget_order_group(store, group_id)
    log.emit("order_group_deleted", {"order_group_id": group_id})
    return True


def end_session_group(
    client: KalshiClient,
    store: Store,
    group_id: str,
    log: EntryLog,
    *,
    own_resting: int,
    unknown: list[str],
    abandon: threading.Event | None = None,
) -> None:
    """After a stop (not `--once`): with none of the loop's orders resting, delete the group, which
    also refuses an order of unknown outcome that lands later. A group kept while such an order
    may still land is triggered instead, so it is refused rather than rest unmanaged. The group
    stays listed for the kill switch. After `abandon`, nothing more is asked."""
    if own_resting == 0 and close_session_group(client, store, group_id, log, abandon):
        return
    if unknown and not (abandon is not None and abandon.is_set()):
        trigger_session_group(client.order_groups, group_id, log, unknown)


class GroupTrigger(Protocol):
    """The call a stop makes to trigger its group (a `KalshiClient`'s `order_groups`)."""

    def trigger_order_group(self, order_group_id: str) -> None: ...


def trigger_session_group(
    groups: GroupTrigger, group_id: str, log: EntryLog, unknown: list[str]
) -> bool:
    """Trigger the session's group at a stop that may leave something of the loop's on the
    exchange (`unknown`: its orders of unknown outcome): the exchange cancels the group's
    orders and refuses any that land later. Whether it was triggered; both outcomes logged."""
    try:
        groups.trigger_order_group(group_id)
    except KalshiError as exc:
        log.emit(
            "order_group_trigger_failed",
            {"order_group_id": group_id, "unknown_left": unknown, "error": exc.one_line()},
        )
        return False
    log.emit("order_group_triggered", {"order_group_id": group_id, "unknown_left": unknown})
    return True


class _GroupedAnswers(Protocol):
    order_group_id: str | None


class _GroupedAmends(Protocol):
    def group_made(self) -> None: ...


class GroupedExecutor(Protocol):
    """What joining the session's group sets of the loop's executor (a `LoopExecutor`)."""

    @property
    def answers(self) -> _GroupedAnswers: ...

    @property
    def amends(self) -> _GroupedAmends: ...


def join_session_group(executor: GroupedExecutor, group_id: str) -> None:
    """Every order the loop places from now goes into the session's group. The orders it holds
    resting now (an earlier run's, adopted at the start) are outside the group, and an amend
    keeps an order where it is: a requote of one of them goes as a cancel and a new order in
    the group (runner/execution/amends.py `Amends.group_made`)."""
    executor.answers.order_group_id = group_id
    executor.amends.group_made()

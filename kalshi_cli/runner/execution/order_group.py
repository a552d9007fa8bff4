"""The session's order group: a server-side stop under every order one `kalshi trade` run places
(`--order-group`, the default). The exchange matches an order inside its market's shard, where a
group of another shard does not reach, so the session has one group on each shard it trades on
(`SessionGroups`), and each order names its own market's shard's. They are created and recorded,
each with its shard, before the first order, so the kill switch of any process can trigger them;
an order refused because its group was triggered records HALTED. A clean stop deletes each
group; otherwise the next start does, once it holds no resting order. docs/trade-loop.md "The
session's order group", docs/shards.md.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Protocol

from kalshi_cli.runner.execution.give_up import GivenUp, unless_given_up
from kalshi_cli.services.killswitch.order_groups import (
    GroupPlace,
    forget_order_group,
    remember_order_group,
    session_order_group_places,
)
from kalshi_cli.vocabulary.errors import KalshiError, NotFoundError, OrderOutcomeUnknown

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.config import TradeConfig
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import Clock

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


@dataclass(frozen=True)
class SessionGroups:
    """The session's order groups, by the shard each lives on (an order names its market's
    shard's: `AnswerBook.group_of`)."""

    by_shard: dict[int, str]

    def shards(self) -> list[tuple[int, str]]:
        """(shard, group id) of each group, by shard."""
        return sorted(self.by_shard.items())

    def ids(self) -> list[str]:
        return [group_id for _, group_id in self.shards()]


def open_session_group(
    client: KalshiClient,
    store: Store,
    config: TradeConfig,
    log: EntryLog,
    *,
    shards: Collection[int] = (0,),
) -> SessionGroups:
    """Delete what earlier sessions left (`clear_earlier_groups`), then create the session's
    group on each of `shards` and record it with its shard in the state file. Raises the
    client's error when the exchange cannot be asked about the groups of the loop's own
    subaccount, or create one (the session refuses to start; a group made before stays listed
    for the kill switch, and the next start deletes it)."""
    clear_earlier_groups(client, store, log)
    groups = shard_group_maker(client, store, config, log)
    made: dict[int, str] = {}
    for shard in sorted(set(shards)):
        made[shard] = groups.create(shard)
        groups.record(shard, made[shard])
    return SessionGroups(made)


class MakesGroup(Protocol):
    """The session's group on one shard (`shard_group_maker`): made at the exchange, then
    recorded with its shard in the state file. The two steps are apart because a market that
    joins while the loop runs has its group made on a worker, and the state file is written on
    the deciding thread alone (runner/loop/new_markets.py)."""

    def create(self, shard: int) -> str: ...

    def record(self, shard: int, group_id: str) -> None: ...


class _ShardGroupMaker:
    def __init__(self, client: KalshiClient, store: Store, limit: Decimal, log: EntryLog) -> None:
        self._client, self._store, self._limit, self._log = client, store, limit, log
        self._here = client.subaccount or 0  # where the exchange puts the group (its default: 0)

    def create(self, shard: int) -> str:
        """The group made on `shard`; raises the client's error (`OrderOutcomeUnknown`: whether
        it was made is not known)."""
        return self._client.order_groups.create_order_group(self._limit, exchange_index=shard)

    def record(self, shard: int, group_id: str) -> None:
        """The group remembered with its shard before any order can name it, so the kill switch
        of any process triggers it."""
        remember_order_group(self._store, group_id, subaccount=self._here, exchange_index=shard)
        fields = {"order_group_id": group_id, "contracts_limit": str(self._limit)}
        self._log.emit("order_group_created", {**fields, "exchange_index": shard})


def shard_group_maker(
    client: KalshiClient, store: Store, config: TradeConfig, log: EntryLog
) -> MakesGroup:
    """How the session's group on one shard is made: at the start, on each shard its markets
    are on, and for a market that joins while the loop runs on a shard it has none on
    (runner/loop/new_markets.py)."""
    return _ShardGroupMaker(client, store, contracts_limit(config), log)


def group_refusal(shard: int, exc: KalshiError) -> str:
    """Why a market that joins while the loop runs on a shard the session has no group on is
    not traded, when that group could not be made: one line with what to do. The start refuses
    itself for the same (runner/lifecycle/session_group.py `open_group`)."""
    if isinstance(exc, OrderOutcomeUnknown):
        return (
            f"whether the session's order group on shard {shard} was made is unknown: "
            f"{exc.message}; no more groups are created there this run: find it (`kalshi "
            "order-group list`), delete it (`kalshi order-group delete ID`), then start the "
            "loop again to trade there"
        )
    return (
        f"could not create the session's order group on shard {shard}: {exc.message}; it is "
        "tried again at a listing a listing interval on (`trade.new_markets_poll_s`); check the "
        "connection (`kalshi health-check`)"
    )


class ShardGroupCreates:
    """The session's group made (not recorded: `MakesGroup.record`, on the deciding thread) on a
    shard a market joins on while the loop runs, by the rule for a create that failed there:
    after one of unknown outcome, none more on that shard this run (each could leave an empty
    group no record names); after a refusal, the next no sooner than a listing interval on.
    docs/trade-loop.md "Markets that open while the loop runs"."""

    def __init__(self, make: MakesGroup, clock: Clock) -> None:
        self._make, self._clock = make, clock
        self._unknown: dict[int, str] = {}  # shard -> why no create is made there again
        self._refused: dict[int, tuple[float, str]] = {}  # shard -> (when, why) it last failed

    def make(self, shard: int, pace_s: float) -> str:
        """The group's id, made on `shard`; raises `GroupNotMade` with the line a
        market refused for it says (`pace_s`: the listing interval a refused create waits)."""
        if shard in self._unknown:
            raise GroupNotMade(self._unknown[shard])
        now = self._clock.monotonic()
        last = self._refused.get(shard)
        if last is not None and now < last[0] + pace_s:
            raise GroupNotMade(last[1], again=True)
        try:
            return self._make.create(shard)
        except OrderOutcomeUnknown as exc:
            self._unknown[shard] = group_refusal(shard, exc)
            raise GroupNotMade(self._unknown[shard]) from exc
        except KalshiError as exc:
            self._refused[shard] = (now, group_refusal(shard, exc))
            raise GroupNotMade(self._refused[shard][1], again=True) from exc


class GroupNotMade(Exception):
    """The session's group on a shard was not made (`ShardGroupCreates`): the line a market
    refused for it says, and whether a later listing tries that market again (`again`: after a
    refusal; never after an unknown outcome)."""

    def __init__(self, why: str, *, again: bool = False) -> None:
        super().__init__(why)
        self.why, self.again = why, again


def clear_earlier_groups(client: KalshiClient, store: Store, log: EntryLog) -> None:
    """Forget the groups the state file lists that the exchange no longer does, and delete those
    left idle (`delete_idle_groups`). Raises the client's error when the groups of the loop's own
    subaccount cannot be listed."""
    here = client.subaccount or 0
    places = session_order_group_places(store)
    live: set[str] = set()
    seen: set[int] = set()
    for subaccount in sorted({p.subaccount for p in places} | {here}):
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
        live |= {g.order_group_id for g in groups}
    for old in places:
        if old.subaccount in seen and old.order_group_id not in live:
            forget_order_group(store, old.order_group_id)
    delete_idle_groups(client, store, [p for p in places if p.order_group_id in live], log)


def delete_idle_groups(
    client: KalshiClient, store: Store, earlier: list[GroupPlace], log: EntryLog
) -> None:
    """Delete the groups earlier sessions of this state file left that hold no resting order,
    each on its subaccount and shard: every start makes some, and the exchange caps a user's
    groups. A group holding an order stays, as does every group of a subaccount whose orders
    cannot be told; a refused delete leaves the group listed for the kill switch. Nothing here
    holds the start back."""
    by_subaccount: dict[int, list[GroupPlace]] = {}
    for place in earlier:
        by_subaccount.setdefault(place.subaccount, []).append(place)
    for subaccount, places in sorted(by_subaccount.items()):
        busy = _groups_with_resting_orders(client, store, subaccount, log)
        if busy is None:
            continue
        for place in places:
            if place.order_group_id not in busy:
                _delete_earlier_group(client, store, place, log)


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
    client: KalshiClient, store: Store, place: GroupPlace, log: EntryLog
) -> None:
    group_id = place.order_group_id
    try:
        client.order_groups.delete_order_group(
            group_id, subaccount=place.subaccount, exchange_index=place.exchange_index
        )
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
    *,
    exchange_index: int = 0,
) -> bool:
    """Delete the group (on its shard) after a clean stop; on failure it stays listed for the
    kill switch, as it does when a second SIGINT or SIGTERM (`abandon`) gives the delete up
    while it is out."""
    delete = partial(
        client.order_groups.delete_order_group, group_id, exchange_index=exchange_index
    )
    try:
        unless_given_up(delete, abandon)
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
    groups: SessionGroups,
    log: EntryLog,
    *,
    own_resting: int,
    unknown: list[str],
    abandon: threading.Event | None = None,
) -> None:
    """After a stop (not `--once`): with none of the loop's orders resting, delete each shard's
    group, which also refuses an order of unknown outcome that lands later. A group kept while
    such an order may still land is triggered instead, so it is refused rather than rest
    unmanaged. A group kept stays listed for the kill switch. After `abandon`, nothing more is
    asked."""
    for shard, group_id in groups.shards():
        if own_resting == 0 and close_session_group(
            client, store, group_id, log, abandon, exchange_index=shard
        ):
            continue
        if unknown and not (abandon is not None and abandon.is_set()):
            trigger_session_group(client.order_groups, group_id, log, unknown, exchange_index=shard)


class GroupTrigger(Protocol):
    """The call a stop makes to trigger a group on its shard (a `KalshiClient`'s
    `order_groups`)."""

    def trigger_order_group(
        self, order_group_id: str, *, exchange_index: int | None = ...
    ) -> None: ...


class TriggersGroup(Protocol):
    """The loop's trigger of one of its groups, on its shard (a `GroupTrigger`'s call)."""

    def __call__(self, order_group_id: str, *, exchange_index: int | None = ...) -> None: ...


def trigger_each(
    trigger: TriggersGroup | None,
    by_shard: dict[int, str],
    log: EntryLog,
    orders: int,
    abandon: threading.Event | None,
) -> set[str]:
    """A stop's trigger of each shard's group of the session, on its shard; the ids of those not
    triggered (every one when there is no `trigger`). Raises `GivenUp` when a second interrupt
    gives a trigger up while it is out."""
    if trigger is None:
        return set(by_shard.values())
    untriggered: set[str] = set()
    for shard, group in sorted(by_shard.items()):
        fields = {"order_group_id": group, "exchange_index": shard}
        try:
            unless_given_up(partial(trigger, group, exchange_index=shard), abandon)
        except KalshiError as exc:
            untriggered.add(group)
            log.emit("stop_group_trigger_failed", {**fields, "error": exc.one_line()})
            continue
        log.emit("stop_group_triggered", {**fields, "orders": orders})
    return untriggered


def trigger_session_group(
    groups: GroupTrigger,
    group_id: str,
    log: EntryLog,
    unknown: list[str],
    *,
    exchange_index: int = 0,
) -> bool:
    """Trigger one of the session's groups, on its shard, at a stop that may leave something of
    the loop's on the exchange (`unknown`: its orders of unknown outcome): the exchange cancels
    the group's orders and refuses any that land later. Whether it was triggered; both outcomes
    logged."""
    fields = {"order_group_id": group_id, "exchange_index": exchange_index, "unknown_left": unknown}
    try:
        groups.trigger_order_group(group_id, exchange_index=exchange_index)
    except KalshiError as exc:
        log.emit("order_group_trigger_failed", {**fields, "error": exc.one_line()})
        return False
    log.emit("order_group_triggered", fields)
    return True

"""Step 2 of the kill switch, the order groups: the groups of `kalshi trade` sessions, kept in
the state file so that a kill switch run from any process finds them, triggered on the exchange;
and the record of each group's last action that `kalshi order-group show` reads."""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kalshi_cli.services.killswitch.pull import DeadlinePassed
from kalshi_cli.store import StoreError
from kalshi_cli.vocabulary.clock import Deadline
from kalshi_cli.vocabulary.errors import NotFoundError

if TYPE_CHECKING:
    from kalshi_cli.services.killswitch.pull import CancelsOrders, Pull, Tries
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import Clock

# The share of the deadline step 2's triggers may spend (and the trade loop's stop's, of its
# own), so a service that does not answer never holds back the cancels that come after it.
GROUP_STEP_SHARE = 0.2


@dataclass
class GroupTriggers:
    client: CancelsOrders
    store: Store | None
    tries: Tries
    clock: Clock
    deadline_s: float
    halt_wait_s: float

    def trigger(self, run: Pull) -> None:
        """Step 2, with no filter only (a group spans all of a loop's markets on its shard):
        trigger every order group the state file lists on its own subaccount and shard; when
        the client acts on one subaccount only, the groups of that one, the newest first, within
        `GROUP_STEP_SHARE` of the deadline. The groups the exchange does not know are forgotten
        after the cancels."""
        report = run.report
        if not run.every_market or self.store is None:
            return
        try:
            places = session_order_group_places(self.store)
        except StoreError as exc:
            report.errors.append(f"order groups not read: {exc.one_line()}")
            return
        scope = self.client.subaccount
        with Deadline.within(self.clock, GROUP_STEP_SHARE * self.deadline_s) as step:
            deadline = min(run.deadline, step.at)
            # the newest first: the group of a loop that may still be running, which the share
            # must reach before the groups earlier sessions left listed
            for place in reversed(places):
                if scope is not None and place.subaccount != scope:
                    continue
                group_id = place.order_group_id
                try:
                    found = self.tries.call(
                        lambda p=place: self._trigger(p),  # type: ignore[misc]
                        deadline,
                        report,
                    )
                except DeadlinePassed:
                    run.say(f"order group {group_id} not triggered")
                    continue
                if found:
                    report.order_groups_triggered.append(group_id)
                    run.say(f"order group {group_id} triggered")
                else:
                    # deleted (or never this account's): nothing of it can rest, nothing to stop
                    run.unknown_groups.append(group_id)

    def _trigger(self, place: GroupPlace) -> bool:
        """Trigger one group on its subaccount and shard; False when the exchange does not know
        it."""
        try:
            self.client.order_groups.trigger_order_group(
                place.order_group_id,
                subaccount=place.subaccount,
                exchange_index=place.exchange_index,
            )
        except NotFoundError:
            return False
        return True

    def book(self, run: Pull) -> None:
        """Forget the groups the exchange no longer knows, and record each group triggered
        (`kalshi order-group show` reads it). Bookkeeping, so after the cancels and waiting at
        most `halt_wait_s`; a group not forgotten now is forgotten by the next kill."""
        triggered = run.report.order_groups_triggered
        if self.store is None or not (run.unknown_groups or triggered):
            return
        by = f"kill switch ({run.trail.source})"
        with suppress(StoreError), self.store.busy_timeout(self.halt_wait_s):
            for group_id in run.unknown_groups:
                forget_order_group(self.store, group_id)
            for group_id in triggered:
                note_order_group_action(self.store, group_id, "triggered", by)


# Each entry is a group's id (on subaccount 0 and shard 0) or `{"order_group_id": id,
# "subaccount": n, "exchange_index": m}` (either left out: 0): a trigger acts on the group's own
# subaccount and shard, where the exchange finds it.
ORDER_GROUPS_KEY = "trade_order_groups"


@dataclass(frozen=True)
class GroupPlace:
    """Where the exchange keeps one of the trade loop's groups: its subaccount and its shard."""

    order_group_id: str
    subaccount: int = 0
    exchange_index: int = 0

    def to_entry(self) -> str | dict[str, Any]:
        if self.subaccount == 0 and self.exchange_index == 0:
            return self.order_group_id
        entry: dict[str, Any] = {"order_group_id": self.order_group_id}
        if self.subaccount:
            entry["subaccount"] = self.subaccount
        if self.exchange_index:
            entry["exchange_index"] = self.exchange_index
        return entry

    @classmethod
    def from_entry(cls, entry: object) -> GroupPlace | None:
        if isinstance(entry, str) and entry:
            return cls(entry)
        if not isinstance(entry, dict):
            return None
        group_id = entry.get("order_group_id")
        subaccount, shard = entry.get("subaccount", 0), entry.get("exchange_index", 0)
        if not (isinstance(group_id, str) and group_id):
            return None
        if type(subaccount) is not int or type(shard) is not int or shard < 0:
            return None
        return cls(group_id, subaccount, shard)


def session_order_group_places(store: Store) -> list[GroupPlace]:
    """Where the order groups the trade loop created and has not deleted are, oldest first."""
    text = store.entries.get_kv(ORDER_GROUPS_KEY)
    if not text:
        return []
    try:
        entries = json.loads(text)
    except ValueError:
        return []
    if not isinstance(entries, list):
        return []
    return [p for e in entries if (p := GroupPlace.from_entry(e)) is not None]


ORDER_GROUP_ACTIONS_KEY = "order_group_actions"


def note_order_group_action(store: Store, group_id: str, action: str, by: str) -> None:
    """Record that `by` (a command) `action`ed (`triggered`, `reset`) a group: the exchange's
    answer for a group does not say whether it is triggered, so `order-group show` says what
    this state file saw last."""
    with store.transaction():
        actions = _order_group_actions(store)
        actions[group_id] = {"action": action, "at": store.clock.wall(), "by": by}
        store.entries.set_kv(ORDER_GROUP_ACTIONS_KEY, json.dumps(actions))


def order_group_action(store: Store, group_id: str) -> dict[str, Any] | None:
    """What this state file saw done to the group last ({action, at, by}), or None."""
    return _order_group_actions(store).get(group_id)


def _order_group_actions(store: Store) -> dict[str, dict[str, Any]]:
    try:
        actions = json.loads(store.entries.get_kv(ORDER_GROUP_ACTIONS_KEY) or "{}")
    except ValueError:
        return {}
    return actions if isinstance(actions, dict) else {}


def session_order_groups(store: Store) -> list[str]:
    """The ids of the order groups the trade loop created and has not deleted, oldest first."""
    return [place.order_group_id for place in session_order_group_places(store)]


def _write_places(store: Store, places: list[GroupPlace]) -> None:
    store.entries.set_kv(ORDER_GROUPS_KEY, json.dumps([p.to_entry() for p in places]))


def remember_order_group(
    store: Store, group_id: str, *, subaccount: int = 0, exchange_index: int = 0
) -> None:
    with store.transaction():
        places = session_order_group_places(store)
        if group_id not in {p.order_group_id for p in places}:
            _write_places(store, [*places, GroupPlace(group_id, subaccount, exchange_index)])


def forget_order_group(store: Store, group_id: str) -> None:
    with store.transaction():
        places = session_order_group_places(store)
        if group_id in {p.order_group_id for p in places}:
            _write_places(store, [p for p in places if p.order_group_id != group_id])

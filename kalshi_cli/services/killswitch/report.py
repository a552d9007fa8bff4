"""What a pull of the kill switch tells: the report its caller renders (`KillReport`), and the
record it leaves in the state file (`Trail`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kalshi_cli.services.reconcile import book_cancel, book_found
from kalshi_cli.store import StoreError
from kalshi_cli.store.leg_sets import BrokenSet
from kalshi_cli.vocabulary.units import ZERO

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.models import Order


@dataclass
class KillReport:
    proven: bool = False
    cancelled: list[str] = field(default_factory=list)
    contracts_cancelled: Decimal = ZERO
    left: list[str] = field(default_factory=list)
    # the orders a cancel whose answer was lost left ended, as the exchange read by their id
    # tells: filled before the cancel took them, or gone for no cause it would tell
    filled: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    rounds: int = 0
    errors: list[str] = field(default_factory=list)
    unreachable: bool = False
    # the exchange's own cancel-all went out: Kalshi says it may also cancel orders placed in
    # the minute after it (API reference, DELETE /portfolio/events/orders)
    exchange_cancel_all: bool = False
    # what that cancel-all took could not be counted (a listing before or after it, or the
    # fills, could not be read): `cancelled` is then only the orders confirmed one by one
    uncounted: bool = False
    # the order groups of the state file the exchange confirmed triggered (step 2)
    order_groups_triggered: list[str] = field(default_factory=list)
    # step 2b: the RFQs of ours deleted, our quotes cancelled, and what a listing still showed
    rfqs_closed: list[str] = field(default_factory=list)
    quotes_cancelled: list[str] = field(default_factory=list)
    communications_left: list[str] = field(default_factory=list)
    # the state file's side, reported next to the proof but not part of the recorded result
    halted: bool = False  # HALTED is recorded
    result_recorded: bool = False  # the cancelled orders and `kill_switch_result` are recorded
    state_error: str | None = None  # why the state file was not written, or not at first
    # no state file of the account's was given to halt (a paper session's was): a live trade
    # loop on the account's own never saw HALTED
    account_state_unknown: bool = False
    # each order named above: its client order id and the strategy that placed it (None: not
    # known, as for an order this state file never recorded)
    owners: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    # the sets of legs the state file holds neither whole nor flat (`sets_not_ended`): no cancel
    # evens them out, so each is named with what its legs hold; those held to their settlement
    # by design (`BrokenSet.held_to_settlement`) are said apart, as held
    broken_sets: list[BrokenSet] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "proven": self.proven,
            "cancelled": self.cancelled,
            "cancelled_count": None if self.uncounted else len(self.cancelled),
            "contracts_cancelled": None if self.uncounted else str(self.contracts_cancelled),
            "left": self.left,
            "left_count": len(self.left),
            "filled": self.filled,
            "filled_count": len(self.filled),
            "gone": self.gone,
            "gone_count": len(self.gone),
            "rounds": self.rounds,
            "errors": self.errors,
            "unreachable": self.unreachable,
            "exchange_cancel_all": self.exchange_cancel_all,
            "order_groups_triggered": self.order_groups_triggered,
            "rfqs_closed": self.rfqs_closed,
            "quotes_cancelled": self.quotes_cancelled,
            "communications_left": self.communications_left,
            "orders": [
                {"order_id": order_id, "client_order_id": coid, "strategy": strategy}
                for order_id in dict.fromkeys([*self.cancelled, *self.left])
                for coid, strategy in [self.owners.get(order_id, (None, None))]
            ],
            "broken_sets": [b.to_json() for b in self.broken_sets if not b.held_to_settlement()],
            "sets_held_to_settlement": [
                b.to_json() for b in self.broken_sets if b.held_to_settlement()
            ],
        }

    def owner_text(self, order_id: str) -> str:
        """An order as the text report names it: its id, strategy and client order id."""
        coid, strategy = self.owners.get(order_id, (None, None))
        return f"{order_id} (strategy {strategy or 'unknown'}, client order id {coid or 'unknown'})"

    def state_json(self) -> dict[str, Any]:
        """The state file's side, which every answer of the switch carries beside `to_json`:
        whether HALTED is recorded, whether the result is too, and the first reason a write
        failed. Cancels proven with no HALTED recorded leave a trade loop on that file
        placing: whoever pulled the switch must be told."""
        return {
            "halted": self.halted,
            "state_recorded": self.halted and self.result_recorded,
            "state_error": self.state_error,
        }


class Trail:
    """What the kill switch writes to the state file, each part once, best effort.

    A failure to write is reported (the first reason is kept) and never raised: the cancels
    matter more than the record of them."""

    def __init__(
        self,
        store: Store | None,
        report: KillReport,
        *,
        reason: str,
        source: str,
        started: dict[str, Any],
    ) -> None:
        self._store = store
        self._report = report
        self._reason = reason
        self.source = source
        self._started = started
        self.locked = False  # a write failed on another writer's lock

    def halt(self, wait_s: float) -> None:
        """HALTED and the `kill_switch` event, unless already recorded."""
        store = self._store
        if store is None or self._report.halted:
            return
        try:
            with store.busy_timeout(wait_s), store.transaction():
                store.trading.set_trading_state("HALTED", reason=self._reason, source=self.source)
                store.entries.log_entry("kill_switch", self._started)
        except StoreError as exc:
            self._failed(exc)
            return
        self._report.halted = True

    def result(
        self,
        wait_s: float,
        listed: Iterable[Order],
        gone: Iterable[str] = (),
        read: Mapping[str, Order] | None = None,
    ) -> None:
        """The orders `listed` whose create's answer was lost found (`book_found`), the orders
        confirmed cancelled, those the proof showed `gone` (ended by the exchange itself), each
        as the exchange showed it when `read` by its id (cancelled or filled), and the
        `kill_switch_result` event, in one go."""
        read = read or {}
        store, report = self._store, self._report
        if store is None or report.result_recorded:
            return
        try:
            with store.busy_timeout(wait_s), store.transaction():
                now = store.clock.wall()
                for order in listed:
                    book_found(store, order, now=now)
                for order_id in dict.fromkeys((*report.cancelled, *gone, *read)):
                    book_cancel(store, order_id, read.get(order_id))
                store.entries.log_entry("kill_switch_result", report.to_json())
        except StoreError as exc:
            self._failed(exc)
            return
        report.result_recorded = True

    def _failed(self, exc: StoreError) -> None:
        self.locked = self.locked or locked(exc)
        if self._report.state_error is None:
            self._report.state_error = exc.one_line()


# Why an empty listing is no proof when HALTED could not be recorded for another writer's lock
# (the last error of the report, which `kalshi cancel-all` prints after NOT PROVEN).
LOCK_HELD = (
    "HALTED is not recorded: another process held the state file's lock for the whole run, and "
    "a trade loop waiting for that lock places its next order as soon as it gets it "
    "(find the process holding the state file and stop it, then run `kalshi cancel-all` again)"
)


def locked(exc: BaseException | None) -> bool:
    """Did the state file refuse for another writer's lock (`StateFileLocked`: every SQLite
    BUSY or LOCKED failure, store/connection.py `wrap_error`)? A writer exists, and it may be a
    trade loop about to record an intent. A read-only or garbled file refuses everyone, a
    loop's intent included, and a loop sends no order whose intent it could not record."""
    from kalshi_cli.store import StateFileLocked

    return isinstance(exc, StateFileLocked)

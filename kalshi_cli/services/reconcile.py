"""Reconciliation: the exchange's truth brought into the state file, in five named steps.

`resolve_unknown` looks up every intent whose fate is not sure (rejected only once no request for it
can still land), `refresh_resting` updates resting orders, `import_foreign_orders` records orders
placed elsewhere, `correct_fills` copies fills and settlements and corrects rows they contradict,
and `settle_amends` reads orders whose amend was never answered. A read that would move a row
backwards within the read lag of its last write is not applied: the order is read again after the
lag. Idempotent. docs/orders.md "What `kalshi reconcile` does" and "Reads lag writes".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

import msgspec

from kalshi_cli.store.records import (
    CANCELED,
    EXECUTED,
    NOT_ON_EXCHANGE,
    PENDING,
    REJECTED,
    RESTING,
    UNKNOWN,
)
from kalshi_cli.vocabulary.clock import Clock, SystemClock
from kalshi_cli.vocabulary.errors import NotFoundError
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.order_terms import owner_in
from kalshi_cli.vocabulary.owners import EXTERNAL
from kalshi_cli.vocabulary.units import ZERO, TimeInForce

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator

    from kalshi_cli.client.historical import HistoricalCutoff
    from kalshi_cli.client.subaccounts import SubaccountBalance
    from kalshi_cli.store import IntentRecord, Store
    from kalshi_cli.store.settlements import SettlementsRecorded
    from kalshi_cli.vocabulary.models import Fill, Settlement

    # the subaccount of what names none: its number, None (not known), or a function that reads
    # it, asked only when a row naming none needs it (`_asked`)
    LazySubaccount = int | Callable[[], int | None] | None


class _Own(Enum):
    CLIENTS_OWN = "the subaccount the client acts on"


# What a reconcile lists, each on its own: the account's subaccounts (`account_subaccounts`; a
# list may be empty: the exchange lists none), or CLIENTS_OWN for a client acting on one
# (`client.subaccount`), whose listing is that subaccount's alone. A distinct value, never
# None: a client on no subaccount lists every subaccount in one listing, where the orders and
# fills naming none would be booked on the primary (`listed_subaccounts` chooses).
CLIENTS_OWN: Final = _Own.CLIENTS_OWN
Listed = list[int] | Literal[_Own.CLIENTS_OWN]


# How long a read may lag a write unless configured (`read_lag`, docs/configuration.md): about
# three times the 360 ms seen on Kalshi (REFERENCE.md, "Observed on the real wire").
DEFAULT_READ_LAG_S = 1.0


class OrderReads(Protocol):
    """The order reads reconciliation makes (a client's `orders`)."""

    def get_order(self, order_id: str) -> Order: ...

    def iter_orders(
        self, *, ticker: str | None = ..., event_ticker: str | None = ..., status: str | None = ...
    ) -> Iterator[Order]: ...


class FillReads(Protocol):
    """The portfolio reads reconciliation makes (a client's `portfolio`)."""

    def iter_fills(  # as `fills_with_history` and the trade loop's fill reads ask
        self, *, ticker: str | None = ..., min_ts: int | None = ..., limit: int | None = ...
    ) -> Iterator[Fill]: ...

    def iter_settlements(
        self, *, ticker: str | None = ..., min_ts: int | None = ..., subaccount: int | None = ...
    ) -> Iterator[Settlement]: ...


class ArchiveReads(Protocol):
    """The historical tier's reads reconciliation makes (a client's `historical`)."""

    def get_historical_cutoff(self) -> HistoricalCutoff: ...

    def iter_historical_fills(  # as `fills_with_history` reads them
        self, *, ticker: str | None = ..., min_ts: int | None = ...
    ) -> Iterator[Fill]: ...

    def iter_historical_orders(self, *, ticker: str | None = ...) -> Iterator[Order]: ...


class SubaccountReads(Protocol):
    """The subaccounts' balances, which name every subaccount (a client's `subaccounts`)."""

    def subaccount_balances(self) -> list[SubaccountBalance]: ...


class RestingReads(Protocol):
    """What listing an account's resting orders asks of the exchange (`account_resting`): the
    subaccount the client acts on (None: every one), a handle on another, the order listing and
    the subaccounts' balances. A `ReconcileClient` is one, and the kill switch's client."""

    @property
    def subaccount(self) -> int | None: ...

    def on_subaccount(self, subaccount: int | None) -> RestingReads: ...

    @property
    def orders(self) -> OrderReads: ...

    @property
    def subaccounts(self) -> SubaccountReads: ...


class ReconcileClient(Protocol):
    """What reconciliation asks of the exchange: its reads by area, the subaccount the client
    acts on (None: every one), and a handle on another (`on_subaccount`), so a subaccount is
    read without re-scoping the client given."""

    subaccount: int | None

    def on_subaccount(self, subaccount: int | None) -> ReconcileClient: ...

    @property
    def orders(self) -> OrderReads: ...

    @property
    def portfolio(self) -> FillReads: ...

    @property
    def historical(self) -> ArchiveReads: ...

    @property
    def subaccounts(self) -> SubaccountReads: ...


@dataclass
class ReconcileReport:
    resolved_unknown: list[str] = field(default_factory=list)
    still_unknown: list[str] = field(default_factory=list)
    not_on_exchange: list[str] = field(default_factory=list)
    # marked rejected because the exchange did not list them, but they had landed
    found_after_rejection: list[str] = field(default_factory=list)
    orders_updated: list[str] = field(default_factory=list)
    orders_imported: list[str] = field(default_factory=list)
    fills_added: int = 0
    settlements_added: int = 0
    # the wall time the exchange's fills were asked for: whoever reads fills next reads from it
    fills_read_at: float | None = None

    @property
    def changed(self) -> bool:
        return bool(
            self.resolved_unknown
            or self.not_on_exchange
            or self.found_after_rejection
            or self.orders_updated
            or self.orders_imported
            or self.fills_added
            or self.settlements_added
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "resolved_unknown": self.resolved_unknown,
            "still_unknown": self.still_unknown,
            "not_on_exchange": self.not_on_exchange,
            "found_after_rejection": self.found_after_rejection,
            "orders_updated": self.orders_updated,
            "orders_imported": self.orders_imported,
            "fills_added": self.fills_added,
            "settlements_added": self.settlements_added,
            "changed": self.changed,
        }


def reconcile(
    client: ReconcileClient,
    store: Store,
    *,
    clock: Clock | None = None,
    since_ts: int | None = None,
    grace_s: float = 0.0,
    read_lag_s: float = DEFAULT_READ_LAG_S,
    unnamed: Callable[[], int | None] | None = None,
) -> ReconcileReport:
    """Bring orders, fills and settlements from the exchange into the state file (the four
    steps of the module docstring, in order, then the reads that came too soon, again).
    `unnamed`: for a client naming no subaccount, what tells the subaccount of an order or fill
    the exchange lists naming none (the one an unnamed order goes to: a restricted key's own),
    asked only for such an order or fill; without it, 0."""
    clock = clock or SystemClock()
    now = clock.wall()
    report = ReconcileReport()
    doubtful = Doubtful(read_lag_s)
    resolve_unknown(client, store, report, now=now, grace_s=grace_s, read_lag_s=read_lag_s)
    numbers = listed_subaccounts(client)
    resting = refresh_resting(client, store, report, now=now, doubtful=doubtful, numbers=numbers)
    listed = _listed_subaccount(client, unnamed)
    import_foreign_orders(store, resting, report, now=now, doubtful=doubtful, subaccount=listed)
    report.fills_read_at = clock.wall()
    correct_fills(client, store, report, since_ts=since_ts, unnamed=listed, numbers=numbers)
    doubtful.read_again(client, store, report, clock)
    amended = settle_amends(client, store, now=clock.wall(), grace_s=grace_s, read_lag_s=read_lag_s)
    report.still_unknown = [
        i.client_order_id for i in store.orders.intents(status=[PENDING, UNKNOWN])
    ] + amended
    return report


def settle_amends(
    client: ReconcileClient,
    store: Store,
    *,
    now: float,
    grace_s: float = 0.0,
    read_lag_s: float = DEFAULT_READ_LAG_S,
) -> list[str]:
    """Step 5: amends recorded in flight and never settled, each order read once by its id.
    An amend the read shows (`amend_settled_by`) is settled; one not shown is called not made
    once it can no longer land (`landing_wait_s`), and until then its order's client order id
    is returned: its terms are unknown, and a trade loop must not start on the old ones."""
    wait = landing_wait_s(read_lag_s, grace_s)
    unknown: list[str] = []
    reads: dict[str, Order | None] = {}
    for intent, amend in store.orders.amends_in_doubt():
        order_id = intent.order_id
        assert order_id is not None  # resting
        if order_id not in reads:
            scope = None if client.subaccount is None else intent.subaccount
            read: Order | None
            try:
                read = client.on_subaccount(scope).orders.get_order(order_id)
            except NotFoundError:
                read = None
            else:
                apply_order(store, read, now=now)
            reads[order_id] = read
        order = reads[order_id]
        if amend_settled_by(order, amend.price, amend.total):
            store.orders.settle_amend(amend.id, AMEND_READ)
        elif now - amend.at >= wait:
            store.orders.settle_amend(amend.id, amend_not_made(wait))
        elif intent.client_order_id not in unknown:
            unknown.append(intent.client_order_id)
    return unknown


# what an order's history says of an amend a read of the order settled
AMEND_READ = "amend settled: the order read after it"


def amend_not_made(wait_s: float) -> str:
    """What it says of an amend still not shown `wait_s` after it was recorded: it can no
    longer land (`landing_wait_s`)."""
    return f"amend not made: not shown {wait_s:g}s after it was sent, past the signature window"


def amend_settled_by(order: Order | None, price: Decimal, total: Decimal) -> bool:
    """Does this read of an order (None: the exchange knows none by its id) settle an amend
    of it to YES `price` and `total`? When it shows them, or shows the order no longer
    resting: an order that ended takes no amend."""
    if order is None or order.status != RESTING:
        return True
    return order.yes_price == price and order.fill_count + order.remaining_count == total


class Doubtful:
    """Orders whose read came too soon after the state file learned more (module docstring):
    each is read again once the read lag has passed since its row was written."""

    def __init__(self, read_lag_s: float) -> None:
        self.read_lag_s = read_lag_s
        self.settle_at: dict[str, float] = {}  # order id -> wall time a read can be trusted

    def lags(self, intent: IntentRecord, order: Order, *, asked: float) -> bool:
        """Does this read, requested at `asked` (wall time), show less than the row and come
        too soon after it was written to say the row is wrong? Then it is kept for later."""
        if not moves_backwards(intent, order):
            return False
        settle_at = intent.updated_at + self.read_lag_s
        if asked >= settle_at:
            return False
        self.settle_at[order.order_id] = settle_at
        return True

    def read_again(
        self, client: ReconcileClient, store: Store, report: ReconcileReport, clock: Clock
    ) -> None:
        if not self.settle_at:
            return
        wait = max(self.settle_at.values()) - clock.wall()
        if wait > 0:
            clock.sleep(wait)
        for order_id in list(self.settle_at):
            asked = clock.wall()
            try:
                order = client.orders.get_order(order_id)
            except NotFoundError:
                continue
            changed = apply_order(store, order, now=asked, doubtful=self)
            if changed and order_id not in report.orders_updated:
                report.orders_updated.append(order_id)


def resolve_unknown(
    client: ReconcileClient,
    store: Store,
    report: ReconcileReport,
    *,
    now: float,
    grace_s: float = 0.0,
    read_lag_s: float = DEFAULT_READ_LAG_S,
) -> None:
    """Step 1: intents awaiting an answer (and those rejected only because the exchange did not
    list them) looked up by client_order_id, one listing per market."""
    # a listing answers the state up to the read lag old: an order that landed at the end of
    # the window shows only that much later
    wait = landing_wait_s(read_lag_s, grace_s)
    by_market: dict[tuple[str, int | None], dict[str, Order]] = {}
    for intent in _unsettled(store):
        # a client acting on one subaccount lists that one's orders only: an intent of another
        # is looked up through a handle on its own subaccount (`client` never moves, so another
        # thread using it meanwhile acts on its own subaccount throughout)
        scope = None if client.subaccount is None else intent.subaccount
        orders = by_market.get((intent.ticker, scope))
        if orders is None:
            orders = _orders_of_both_tiers(client.on_subaccount(scope), intent.ticker)
            by_market[(intent.ticker, scope)] = orders
        order = orders.get(intent.client_order_id)
        if order is not None:
            take_found(store, intent, order, now=now)
            found = report.found_after_rejection if intent.status == REJECTED else None
            (found if found is not None else report.resolved_unknown).append(intent.client_order_id)
        elif intent.status != REJECTED and now - intent.updated_at >= wait:
            mark_never_placed(store, intent.client_order_id, wait, intent.status)
            report.not_on_exchange.append(intent.client_order_id)


def book_found(store: Store, order: Order, *, now: float) -> bool:
    """An order a listing showed whose intent here awaits its answer (`pending`, or `unknown`:
    the create's answer was lost): found, booked as `resolve_unknown` books one. True when it
    was such an order."""
    intent = store.orders.get_intent(order.client_order_id) if order.client_order_id else None
    if intent is None or intent.status not in (PENDING, UNKNOWN):
        return False
    take_found(store, intent, order, now=now)
    return True


def take_found(
    store: Store,
    intent: IntentRecord | None,
    order: Order,
    *,
    now: float,
    subaccount: LazySubaccount = None,
) -> None:
    """The one rule an order found after its answer was lost (or after it was called never
    placed) is booked by, whoever looked it up by its client order id (a reconcile, the trade
    loop's lookups, `order place` and `order batch`, the kill switch's listing): in one commit,
    its row as the exchange shows it (`book_read`: `subaccount` as it takes it), and the fills
    copied before it was found given its `intent` and strategy. Once the row says found, no
    lookup looks for the order again, so a kill between the two left those fills nobody's for
    good. `intent` None: none is here (the order is booked as `book_read` books one)."""
    with store.transaction():
        book_read(store, order, now=now, subaccount=subaccount)
        if intent is not None:
            store.fills.attribute_fills(
                order.order_id, client_order_id=intent.client_order_id, strategy=intent.strategy
            )


def refresh_resting(
    client: ReconcileClient,
    store: Store,
    report: ReconcileReport,
    *,
    now: float,
    doubtful: Doubtful | None = None,
    numbers: Listed,
) -> dict[str, Order]:
    """Step 2: the state file's resting orders brought up to date; returns the exchange's
    resting orders by order id (step 3 reads them), listed as `account_resting` lists them."""
    resting = account_resting(client, numbers=numbers)
    for intent in store.orders.intents(status=RESTING):
        if not intent.order_id:
            continue
        order = resting.get(intent.order_id)
        if order is None:
            # no longer resting: one lookup says whether it filled or was cancelled
            try:
                order = client.orders.get_order(intent.order_id)
            except NotFoundError:
                # finished before the historical cutoff: only the archive lists it
                order = _archived_order(client, intent.ticker, intent.order_id)
                if order is None:
                    continue
        if apply_order(store, order, now=now, doubtful=doubtful):
            report.orders_updated.append(intent.order_id)
    return resting


def account_resting(
    client: RestingReads,
    *,
    numbers: Listed,
    ticker: str | None = None,
    event_ticker: str | None = None,
) -> dict[str, Order]:
    """The exchange's resting orders by order id (of `ticker` or `event_ticker` when given): the
    client's listing when it acts on one subaccount or none is listed, else each of `numbers`
    listed through its own handle, an order naming no subaccount given the one it was listed on
    (an order names its subaccount to direct members only)."""
    scope = {"ticker": ticker, "event_ticker": event_ticker, "status": "resting"}
    if _one_listing(client, numbers):
        return {o.order_id: o for o in client.orders.iter_orders(**scope)}
    assert numbers is not CLIENTS_OWN
    resting: dict[str, Order] = {}
    for number in numbers:
        for order in client.on_subaccount(number).orders.iter_orders(**scope):
            named = order.subaccount is not None
            resting[order.order_id] = (
                order if named else msgspec.structs.replace(order, subaccount=number)
            )
    return resting


def _orders_of_both_tiers(client: ReconcileClient, ticker: str) -> dict[str, Order]:
    """A market's orders by client_order_id: the live listing, then those archived by the
    historical cutoff (finished before it). Read in that order, an order archived between the
    two reads is found by the second."""
    orders = {o.client_order_id: o for o in client.orders.iter_orders(ticker=ticker)}
    for order in client.historical.iter_historical_orders(ticker=ticker):
        orders.setdefault(order.client_order_id, order)
    return orders


def _archived_order(client: ReconcileClient, ticker: str, order_id: str) -> Order | None:
    return next(
        (
            o
            for o in client.historical.iter_historical_orders(ticker=ticker)
            if o.order_id == order_id
        ),
        None,
    )


def import_foreign_orders(
    store: Store,
    resting: dict[str, Order],
    report: ReconcileReport,
    *,
    now: float,
    doubtful: Doubtful | None = None,
    subaccount: LazySubaccount = None,
) -> None:
    """Step 3: resting orders the state file does not know are recorded as `external`
    (`subaccount`: the one the listing was of, for an order that names none, or what tells
    it)."""
    for order in resting.values():
        known = store.orders.intent_by_order_id(order.order_id) or (
            store.orders.get_intent(order.client_order_id) if order.client_order_id else None
        )
        if known is None:
            import_order(store, order, now=now, subaccount=subaccount)
            report.orders_imported.append(order.order_id)
        elif known.status != RESTING and apply_order(store, order, now=now, doubtful=doubtful):
            # resting on the exchange but not here: marked rejected by a reconcile that ran
            # while its request was in flight, or canceled by a kill switch that guessed wrong
            report.orders_updated.append(order.order_id)


def correct_fills(
    client: ReconcileClient,
    store: Store,
    report: ReconcileReport,
    *,
    since_ts: int | None = None,
    unnamed: LazySubaccount = None,
    numbers: Listed,
) -> None:
    """Step 4: fills and settlements copied, rows marked cancelled that filled first corrected,
    realized P&L written (`unnamed`: as `sync_fills`; `numbers`: what is listed, as
    `sync_account_fills` lists it)."""
    report.fills_added, underfilled = sync_account_fills(
        client, store, since_ts=since_ts, numbers=numbers, unnamed=unnamed
    )
    report.orders_updated += underfilled
    # a client on one subaccount has its settlements listed on that one (`sync_settlements`)
    listed = None if numbers is CLIENTS_OWN else numbers
    recorded = sync_settlements(client, store, subaccounts=listed)
    report.settlements_added = recorded.added
    realize_missing(store, settled=recorded.books)


def never_placed(intent: IntentRecord) -> bool:
    """Rejected only because the exchange did not list it past the landing window (see
    `resolve_unknown`): no order of it exists, and none can land any more."""
    return (
        intent.status == REJECTED
        and intent.order_id is None
        and (intent.error or "").startswith(NOT_ON_EXCHANGE)
    )


def landing_wait_s(read_lag_s: float, grace_s: float = 0.0) -> float:
    """How long after its intent's last change a request not listed can no longer land: the
    signature window, then the read lag of a listing that would show it."""
    from kalshi_cli.client.client import LANDING_WINDOW_S

    return max(grace_s, LANDING_WINDOW_S) + read_lag_s


def mark_never_placed(
    store: Store, client_order_id: str, wait: float, outcome: str = UNKNOWN
) -> None:
    """The one rule an order not listed `wait` seconds after its `outcome` (`unknown`: its
    answer lost; `pending`: never answered) is booked by, whoever looked for it (a reconcile,
    the trade loop's lookups, a batch run again): never placed, past the signature window,
    so `never_placed` knows it and a later listing that shows it puts it right."""
    store.orders.mark_rejected(
        client_order_id,
        reason=f"{NOT_ON_EXCHANGE} {wait:g}s after an {outcome} outcome, past "
        "the signature window; never placed",
    )


def _unsettled(store: Store) -> list[IntentRecord]:
    """Intents awaiting an answer, and those rejected only because the exchange did not list
    them (see `resolve_unknown`)."""
    inferred = [i for i in store.orders.intents(status=REJECTED) if never_placed(i)]
    return store.orders.intents(status=[PENDING, UNKNOWN]) + inferred


def _listed_subaccount(
    client: ReconcileClient, unnamed: Callable[[], int | None] | None
) -> LazySubaccount:
    """The subaccount of what the client lists naming none: the one it acts on, else what
    `unnamed` tells when asked."""
    return client.subaccount if client.subaccount is not None or unnamed is None else unnamed


def _unnamed_fill(fill: Fill, client: ReconcileClient, unnamed: LazySubaccount) -> int | None:
    """The subaccount of `fill` when it names none (`sync_fills`)."""
    if unnamed is None or fill.subaccount is not None:
        return client.subaccount
    return _asked(unnamed)


def _asked(subaccount: LazySubaccount) -> int | None:
    """The subaccount `subaccount` names, a function asked now."""
    return subaccount() if callable(subaccount) else subaccount


def sync_fills(
    client: ReconcileClient,
    store: Store,
    *,
    since_ts: int | None,
    unnamed: LazySubaccount = None,
    listed: list[Fill] | None = None,
) -> tuple[int, list[str]]:
    """(fills added, order ids the state file had as canceled with fewer contracts filled
    than the exchange's fills show: each row now counts them, and says executed when they
    took all it was for, by the rule every fill of a cancelled row follows, `update_order`).
    A fill naming no subaccount and of no known order is of
    the one the client lists (`client.subaccount`; else `unnamed`, asked only then).
    `listed`: the client's fills since `since_ts`, when read already."""
    from kalshi_cli.services.pnl import fill_record_from_api

    records = []
    named: dict[str, int] = {}  # fill id -> the subaccount the exchange lists it under
    filled: dict[str, Decimal] = {}
    # The exchange lists newest first; the state file streams fills by (ts, rowid), so they
    # are written oldest first and fills of the same instant keep their true order. Fills older
    # than the historical cutoff are only on the historical tier: both tiers are read.
    if listed is None:
        listed = _fills_since(client, since_ts)
    # the intents of the listed fills' orders alone, each by its index: a catch-up costs what is
    # new, not what the state file holds (a loop's keeps hours of its orders)
    known_orders = {
        order_id: intent
        for order_id in {f.order_id for f in listed}
        if (intent := store.orders.intent_by_order_id(order_id)) is not None
    }
    read_at = store.clock.wall()  # a fill that says no time happened by then
    for fill in reversed(listed):
        intent = known_orders.get(fill.order_id)
        filled[fill.order_id] = filled.get(fill.order_id, ZERO) + fill.count
        record = fill_record_from_api(
            fill,
            read_at=read_at,
            client_order_id=intent.client_order_id if intent else None,
            strategy=intent.strategy if intent else None,
            # else the one the client lists: a fill naming none is of it
            subaccount=intent.subaccount if intent else _unnamed_fill(fill, client, unnamed),
        )
        records.append(record)
        if record.subaccount and fill.subaccount is not None:
            # rows recorded before subaccounts were kept are 0: only others can be wrong
            named[record.fill_id] = record.subaccount
    records.sort(key=lambda r: r.ts)
    underfilled = [
        order_id
        for order_id, count in filled.items()
        if (intent := known_orders.get(order_id)) is not None
        and intent.status == CANCELED
        and count > intent.filled
    ]
    added = store.fills.record_fills(records)
    for order_id in underfilled:
        store.orders.update_order(order_id=order_id, fill_count=filled[order_id])
    # a fill recorded before the state file kept subaccounts is the primary's until now
    if named and store.fills.correct_subaccounts(named):
        backfill_realized(store)  # computed in the wrong book: each written again
    return added, underfilled


def _fills_since(client: ReconcileClient, since_ts: int | None) -> list[Fill]:
    """The fills the client lists since `since_ts` (every one when None), of both tiers."""
    from kalshi_cli.client.historical import fills_with_history

    return list(fills_with_history(client.portfolio, client.historical, min_ts=since_ts))


def listed_subaccounts(client: RestingReads) -> Listed:
    """What a reconcile of `client` lists: the subaccount it acts on alone (CLIENTS_OWN), else
    each of the account's on its own (`account_subaccounts`)."""
    return CLIENTS_OWN if client.subaccount is not None else account_subaccounts(client)


def _one_listing(client: RestingReads, numbers: Listed) -> bool:
    """Whether `numbers` is read in one listing of `client`'s: the subaccount it acts on, or
    none listed (`[]`). CLIENTS_OWN said of a client on no subaccount is refused: its one
    listing would cover every subaccount and book what names none on the primary."""
    if numbers is CLIENTS_OWN:
        if client.subaccount is None:
            raise ValueError("CLIENTS_OWN is listed for a client acting on no subaccount")
        return True
    return len(numbers) == 0


def account_subaccounts(client: RestingReads) -> list[int]:
    """The subaccounts of the account the key may read (a restricted key's own only; none when
    the exchange lists none), asked on no subaccount (a handle on none, for a client on one)."""
    on_none = client if client.subaccount is None else client.on_subaccount(None)
    balances = on_none.subaccounts.subaccount_balances()
    return sorted({b.subaccount for b in balances})


def sync_account_fills(
    client: ReconcileClient,
    store: Store,
    *,
    since_ts: int | None,
    numbers: Listed,
    unnamed: LazySubaccount = None,
) -> tuple[int, list[str]]:
    """`sync_fills` over the account: the client's own subaccount's listing when it acts on one
    (`numbers` CLIENTS_OWN), else each of `numbers` listed on its own through a handle on it. A
    fill names its subaccount to direct members only (openapi.yaml `Fill.subaccount_number`),
    and a listing on no subaccount covers every one: listed once for all, a fill of subaccount
    1 naming none would be booked on the primary for good. With no subaccount listed, one
    listing, a fill naming none being `unnamed`'s (as `sync_fills`)."""
    if _one_listing(client, numbers):
        return sync_fills(client, store, since_ts=since_ts, unnamed=unnamed)
    assert numbers is not CLIENTS_OWN
    added, underfilled = 0, []
    for number in numbers:
        more, short = sync_fills(client.on_subaccount(number), store, since_ts=since_ts)
        added += more
        underfilled += short
    return added, underfilled


def realize_missing(store: Store, *, settled: Collection[tuple[int | None, str]] = ()) -> None:
    """After copying fills and settlements: every fill without a realized P&L gets one
    (`backfill_realized`), also when nothing was added now, and the fills of the books whose
    settlements changed (`settled`, as `SettlementsRecorded.books` names them) are given theirs
    again (a settlement changes what later fills of its market realized). Fills are copied in one
    commit and given their P&L in the next; a process killed between the two left them without
    it, and the next copy adds nothing: the day's realized P&L (the daily circuit breaker's
    figure) would leave them out for good. Only those books are replayed: a market's average
    cost depends on its own fills and settlements alone, in each subaccount's book."""
    books = store.fills.unrealized_books()
    if settled:
        everyone = store.fills.fill_subaccounts()
        books |= {
            (number, ticker)
            for named, ticker in settled
            for number in (everyone if named is None else [named])
        }
    if books:
        backfill_realized(store, books=books)


def backfill_realized(store: Store, books: Collection[tuple[int, str]] | None = None) -> int:
    """Give every fill its realized P&L (net of its fee) by replaying the history of its
    subaccount (each is its own book) in time order: the daily circuit breaker and `kalshi
    check pnl` add these up per day. A fill copied from the exchange arrives without one, and
    one made before fills already stored changes what they realized (average cost is path
    dependent, within one market of one subaccount), so every figure the replay differs from
    is written, in one transaction. `books`: the (subaccount, market) pairs replayed alone
    (None: every fill). Returns how many were written."""
    from kalshi_cli.services.pnl import book_settlements, realized_per_fill

    settlements = store.settlements.read()
    replayed: Iterable[tuple[int, str | None]] = (
        [(number, None) for number in store.fills.fill_subaccounts()]
        if books is None
        else sorted(books)
    )
    changed = [
        (fill.fill_id, event.net)
        for number, ticker in replayed
        for fill, event in realized_per_fill(
            store.fills.iter_fills(subaccount=number, ticker=ticker),
            book_settlements(
                (s for s in settlements if ticker is None or s.ticker == ticker), number
            ),
        )
        if fill.realized_pnl != event.net
    ]
    with store.transaction():
        for fill_id, net in changed:
            store.fills.set_fill_realized_pnl(fill_id, net)
    return len(changed)


def sync_settlements(
    client: ReconcileClient,
    store: Store,
    *,
    subaccounts: list[int] | None = None,
    since_ts: int | None = None,
) -> SettlementsRecorded:
    """Copy the settlements the state file lacks, listed once per subaccount the account has
    (the client's own only, when it acts on one): the exchange lists a settlement for each
    subaccount that held the market, and the Settlement names none, so each is recorded with
    the subaccount its listing was made for. All are written at once (Store.record_settlements),
    which says how many were new and whose books they changed. `subaccounts`: the account's,
    when the caller has just listed them; `since_ts`: only those settled since then (unix
    seconds; None: every one)."""
    from kalshi_cli.services.pnl import settlement_record_from_api

    if client.subaccount is not None:
        numbers = [client.subaccount]
    elif subaccounts is not None:
        numbers = subaccounts or [0]
    else:
        numbers = account_subaccounts(client) or [0]  # 0 if none answers
    records = [
        settlement_record_from_api(settlement, number)
        for number in numbers
        for settlement in client.portfolio.iter_settlements(subaccount=number, min_ts=since_ts)
    ]
    return store.settlements.record_settlements(records)


# `catch_up`'s cursor (kv), and how far back of it each catch-up reads again: a fill or a
# settlement the exchange lists late (reads lag writes) or stamps by a clock a little off ours is
# still found
CATCH_UP_CURSOR = "fills_caught_up_at"
CATCH_UP_OVERLAP_S = 300.0


@dataclass(frozen=True)
class CatchUpListings:
    """A catch-up's first listings (`list_catch_up`), read apart from its booking so that they
    may go out beside other reads: every subaccount's fills since `since` (both tiers), and
    every subaccount's settlements since then."""

    since: int | None
    fills: list[Fill]
    settlements: list[Settlement]


def catch_up_since(store: Store) -> int | None:
    """Since when a catch-up lists (unix seconds): its cursor less `CATCH_UP_OVERLAP_S`; None,
    everything, for a state file that has none."""
    cursor = store.entries.get_kv(CATCH_UP_CURSOR)
    return None if cursor is None else int(float(cursor) - CATCH_UP_OVERLAP_S)


def list_catch_up(client: ReconcileClient, since: int | None) -> CatchUpListings:
    """The listings every catch-up reads first, since `since` (`catch_up_since`), one after the
    other: `catch_up_fills_listed`, `catch_up_settlements_listed`."""
    fills = catch_up_fills_listed(client, since)
    return CatchUpListings(since, fills, catch_up_settlements_listed(client, since))


def catch_up_fills_listed(client: ReconcileClient, since: int | None) -> list[Fill]:
    """Every subaccount's fills since `since`, of both tiers: a read of the exchange alone,
    nothing of the state file, so another thread may make it."""
    return _fills_since(client.on_subaccount(None), since)


def catch_up_settlements_listed(client: ReconcileClient, since: int | None) -> list[Settlement]:
    """Every subaccount's settlements since `since`, whichever subaccount `client` acts on (the
    cursor is the state file's, as for the fills): a read of the exchange alone."""
    return list(client.on_subaccount(None).portfolio.iter_settlements(min_ts=since))


def catch_up(
    client: ReconcileClient, store: Store, *, now: float, listed: CatchUpListings | None = None
) -> int:
    """What a read command (`positions`, `pnl`) and an order path outside a loop (before the
    daily circuit breaker) bring in, quietly: every subaccount's fills and settlements since its
    last catch-up (less `CATCH_UP_OVERLAP_S`; every one the first time), and the realized P&L of
    what was added; returns how many fills and settlements were added. No order row is changed
    (that is `reconcile`'s). Fills of orders placed here go to their intent and strategy. Every
    subaccount's are listed at once (`listed`: those listings, read from `catch_up_since` when
    the catch-up began at `now`; None: read now), and the account's subaccounts only when
    something new must be told apart by them (`_catch_up_fills`, `_catch_up_settlements`). Each
    subaccount is read through its own handle (`client.on_subaccount`), so another thread using
    `client` is never moved to another subaccount."""
    if listed is None:
        listed = list_catch_up(client, catch_up_since(store))

    @cache
    def numbers() -> list[int]:
        """The account's subaccounts, listed once, and only when something new needs them."""
        return account_subaccounts(client)

    fills = _catch_up_fills(client, store, listed, numbers)
    settled = _catch_up_settlements(client, store, listed, numbers)
    realize_missing(store, settled=settled.books)
    # what it covers is committed by then; lost, the next catch-up lists from the cursor before
    store.entries.set_kv(CATCH_UP_CURSOR, repr(now), durable=False)
    return fills + settled.added


def _catch_up_fills(
    client: ReconcileClient,
    store: Store,
    listed: CatchUpListings,
    numbers: Callable[[], list[int]],
) -> int:
    """Every subaccount's fills since `listed.since` (`listed.fills`), how many were added. The
    cursor is the state file's, not a subaccount's: every subaccount's fills are read even for a
    command acting on one, or another subaccount's fills older than the overlap would be passed
    over for good. One listing naming no subaccount covers every one; it is booked as it is when
    each fill in it the state file lacks is told apart by it (the fill names its subaccount, or
    its order is the state file's) or the account has no subaccount but the primary. Else each
    subaccount is listed on its own (`sync_account_fills`): a fill naming none there would be
    booked on the primary for good. The account's subaccounts (`numbers`) are asked only then."""
    everyone = client.on_subaccount(None)
    since, fills = listed.since, listed.fills
    unknown = store.fills.unknown([f.fill_id for f in fills if f.subaccount is None])
    untold = any(
        f.fill_id in unknown and store.orders.intent_by_order_id(f.order_id) is None for f in fills
    )
    if untold and not set(numbers()) <= {0}:
        added, _ = sync_account_fills(everyone, store, since_ts=since, numbers=numbers())
    else:
        added, _ = sync_fills(everyone, store, since_ts=since, listed=fills)
    return added


def _catch_up_settlements(
    client: ReconcileClient,
    store: Store,
    listed: CatchUpListings,
    numbers: Callable[[], list[int]],
) -> SettlementsRecorded:
    """Every subaccount's settlements settled since `listed.since` (`min_ts`, by their
    `settled_time`; every one when None) that the state file lacks, as recorded. The
    cursor is the state file's, so they are every subaccount's even for a command acting on one
    (as `_catch_up_fills`): listed at once (`listed.settlements`), and only when one of them is
    not recorded yet (`all_recorded`) are the account's subaccounts (`numbers`) asked and each
    listed on its own: a Settlement names none."""
    from kalshi_cli.store.settlements import SettlementsRecorded

    if store.settlements.all_recorded(s.ticker for s in listed.settlements):
        return SettlementsRecorded()
    everyone = client.on_subaccount(None)
    return sync_settlements(everyone, store, subaccounts=numbers(), since_ts=listed.since)


def moves_backwards(intent: IntentRecord, order: Order) -> bool:
    """Does this read of the order show less than the state file knows? Cancelled and executed
    are final on the exchange, and fills only grow: either the read predates a write the row
    learned from, or the row is wrong."""
    if order.fill_count < intent.filled:
        return True
    return intent.status in (CANCELED, EXECUTED) and order.status == RESTING


def book_read(
    store: Store,
    order: Order,
    *,
    now: float,
    subaccount: LazySubaccount = None,
) -> bool:
    """An order read from the exchange, copied in (`apply_order`) unless the state file's row,
    answered already, knows more than it shows (`moves_backwards`): the read lags a write the
    row learned from since, and fills only grow and an ended order never rests again."""
    local = store.orders.intent_by_order_id(order.order_id)
    if (
        local is not None
        and local.status not in (PENDING, UNKNOWN)
        and moves_backwards(local, order)
    ):
        return False
    return apply_order(store, order, now=now, subaccount=subaccount)


def book_cancel(
    store: Store,
    order_id: str,
    read: Order | None = None,
    *,
    subaccount: LazySubaccount = None,
) -> bool:
    """The one rule a cancel is booked by, whoever sent it: answered, the order is cancelled and
    nothing rests (`mark_cancelled`). Refused, by the order read back (`read`): a read still
    showing it resting lags the write and books nothing; one showing it ended is booked
    (`book_read`). True when the row changed."""
    if read is None:
        return store.orders.mark_cancelled(order_id)
    if read.status == RESTING:
        return False
    return book_read(store, read, now=store.clock.wall(), subaccount=subaccount)


def apply_order(
    store: Store,
    order: Order,
    *,
    now: float,
    doubtful: Doubtful | None = None,
    subaccount: LazySubaccount = None,
) -> bool:
    """Copy an exchange order's state into its intent; True when something changed. With
    `doubtful`, a read that moves the row backwards too soon after it was written (`now` is
    when the read was requested, or earlier) is kept there instead (module docstring). An
    order the state file does not know is imported (`import_order`, `subaccount`: the one the
    client that read it acts on, or what tells it, asked only for an import)."""
    intent = (
        store.orders.get_intent(order.client_order_id) if order.client_order_id else None
    ) or store.orders.intent_by_order_id(order.order_id)
    if intent is None:
        import_order(store, order, now=now, subaccount=subaccount)
        return True
    if intent.status in (PENDING, UNKNOWN):
        store.orders.mark_shown(intent.client_order_id, order)
        return True
    if doubtful is not None and doubtful.lags(intent, order, asked=now):
        return False
    # a row recorded before the state file kept subaccounts says 0 until the exchange names one
    moved = order.subaccount is not None and order.subaccount != intent.subaccount
    # the total of a resting or executed order is what filled and what rests, compared on its
    # own: a size-only amend, or a `user_orders` message that copied the counts already, leaves
    # nothing else different. A cancelled one keeps the total it was for (`update_order` never
    # lets it fall below what filled).
    total = None if order.status == CANCELED else order.fill_count + order.remaining_count
    resized = total is not None and intent.count != total
    if (
        intent.status != order.status
        or intent.filled != order.fill_count
        or intent.remaining != order.remaining_count
        or intent.price != order.yes_price
        or resized
        or moved
    ):
        store.orders.update_order(
            client_order_id=intent.client_order_id,
            order_id=order.order_id,
            status=order.status,
            fill_count=order.fill_count,
            remaining_count=order.remaining_count,
            price=order.yes_price,
            count=total,
            subaccount=order.subaccount,
        )
        return True
    return False


def import_order(
    store: Store,
    order: Order,
    *,
    now: float,
    subaccount: LazySubaccount = None,
) -> None:
    """Record an order placed elsewhere, in one transaction: as the strategy its client order
    id names (`owner_in`: a loop whose state file was lost keeps owning it), else external. Its
    subaccount: the one it names, else `subaccount` (the listing's; a callable is asked only
    here), else the primary."""
    from kalshi_cli.client.requests import CreateOrder
    from kalshi_cli.store import IntentRecord
    from kalshi_cli.vocabulary.documents import traders_terms

    # in the trader's words, as every listing reads an order placed elsewhere: a NO order is
    # never a YES sale, whose fills would read `sell yes`
    side, action, _ = traders_terms(order.book_side, order.yes_price, None)
    number = order.subaccount if order.subaccount is not None else _asked(subaccount)
    # the order's terms as the request that would have placed it (the spec requires each of
    # them in an Order, so none is made up); the intent is built from it as a sent one's is
    placed = CreateOrder(
        order.ticker,
        order.book_side,
        order.yes_price,
        order.initial_count or (order.fill_count + order.remaining_count),
        time_in_force=TimeInForce(order.time_in_force),
        client_order_id=order.client_order_id or f"external-{order.order_id}",
    )
    # one commit: a row written pending and killed before its answer has no order id, and an
    # order placed without a client order id could never be found by one, nor imported again
    with store.transaction():
        store.orders.record_intent(
            IntentRecord.pending(
                placed,
                side=side,
                action=action,
                subaccount=number or 0,
                now=now,
                strategy=owner_in(order.client_order_id or "") or EXTERNAL,
                reason="imported by reconcile",
            )
        )
        store.orders.mark_shown(placed.client_order_id, order)

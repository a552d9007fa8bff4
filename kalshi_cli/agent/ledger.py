"""What the assistant spent of its budget (`agent.budget`) on a UTC day, read from the state file's
own records of its orders (no second store), so a new `kalshi mcp` process starts from what the
day's earlier ones placed.

The day's orders are the assistant's (`agent.strategy`) placed that day and not refused, and
those whose amend was sent that day (`orders.amend_sent_at`). Each counts the contracts that
filled or may still fill and the most they could cost: its fills' cost with fees, and the rest
at the order's price with the taker fee at its market's fees (`most_cost`; the caller reads
those for the markets `unbooked_in` names). An order with an unsettled amend in flight counts at
the worse of its old and new terms. A cancel or decrease gives back contracts; the count of
orders never goes down.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.agent.gate import Spent
from kalshi_cli.store.records import PENDING, RESTING, UNKNOWN
from kalshi_cli.vocabulary.clock import day_start, utc_day
from kalshi_cli.vocabulary.models import FeeModel
from kalshi_cli.vocabulary.units import ZERO, BookSide, Side, added_price, from_book

if TYPE_CHECKING:
    from kalshi_cli.store import AmendRecord, FillRecord, IntentRecord, Store

DAY_S = 86_400.0
LIVE = (PENDING, UNKNOWN, RESTING)  # statuses of an order that may still fill


def day_orders(store: Store, strategy: str) -> list[tuple[IntentRecord, bool]]:
    """`strategy`'s orders of today (UTC, on the state file's clock), each with whether it
    was placed today (else amended)."""
    start = day_start(utc_day(store.clock.wall()))
    return store.orders.placed_or_amended(strategy, since=start, until=start + DAY_S)


class FeesUnread(Exception):
    """The day's orders have contracts still to fill in markets whose fees were not read
    (another session placed there a moment ago): `tickers`, to read before asking again."""

    def __init__(self, tickers: set[str]) -> None:
        super().__init__(", ".join(sorted(tickers)))
        self.tickers = tickers


def unbooked_in(store: Store, strategy: str) -> set[str]:
    """The markets where `strategy`'s orders of today have contracts that may fill beyond the
    fills booked, at any of their terms: those whose fees `spent_today` needs."""
    found = day_orders(store, strategy)
    intents = [intent for intent, _ in found]
    fills = fills_by_order(store, intents)
    amends = store.orders.amends_of([intent.client_order_id for intent in intents])
    return {
        intent.ticker
        for intent in intents
        if any(
            unbooked(count, fills.get(intent.order_id or "", ()))
            for _, count in order_terms(intent, amends.get(intent.client_order_id, ()))
        )
    }


def spent_today(store: Store, strategy: str, fees: Mapping[str, FeeModel]) -> Spent:
    """What `strategy`'s orders of today spent (the module docstring), each order's contracts
    still to fill at the fees of its market in `fees`; FeesUnread names the markets missing."""
    found = day_orders(store, strategy)
    fills = fills_by_order(store, [intent for intent, _ in found])
    amends = store.orders.amends_of([intent.client_order_id for intent, _ in found])
    orders, contracts, dollars, unread = 0, ZERO, ZERO, set()
    for intent, placed in found:
        own = fills.get(intent.order_id or "", ())
        terms = order_terms(intent, amends.get(intent.client_order_id, ()))
        model = fees.get(intent.ticker)
        if model is None and any(unbooked(count, own) for _, count in terms):
            unread.add(intent.ticker)
            continue
        count, cost = worst_share(intent.book_side, terms, own, model)
        orders += placed
        contracts += count
        dollars += cost
    if unread:
        raise FeesUnread(unread)
    return Spent(orders, contracts, dollars)


def fills_by_order(store: Store, intents: Iterable[IntentRecord]) -> dict[str, list[FillRecord]]:
    ids = [i.order_id for i in intents if i.order_id]
    found: dict[str, list[FillRecord]] = {}
    for fill in store.fills.of_orders(ids):
        found.setdefault(fill.order_id, []).append(fill)
    return found


def live_contracts(intent: IntentRecord) -> Decimal:
    """The order's contracts that filled or may still fill."""
    return intent.count if intent.status in LIVE else intent.filled


def order_terms(
    intent: IntentRecord, amends: Iterable[AmendRecord]
) -> list[tuple[Decimal, Decimal]]:
    """The terms the order may fill at, as (YES price, contracts that filled or may still
    fill): its row's, and each of its `amends` in flight's (`OrderRepository.amends_of`).
    Ended, it fills no more whatever an amend asked: each counts what filled, at its price."""
    live = intent.status in LIVE
    return [(intent.price, live_contracts(intent))] + [
        (amend.price, amend.total if live else intent.filled) for amend in amends
    ]


def worst_share(
    book_side: BookSide,
    terms: Iterable[tuple[Decimal, Decimal]],
    fills: Iterable[FillRecord],
    fees: FeeModel | None,
) -> tuple[Decimal, Decimal]:
    """`share` of one order at the worst of `terms` (`order_terms`): the most contracts and the
    most dollars of any, each on its own, since the budget limits both."""
    fills = list(fills)
    shares = [share(book_side, price, count, fills, fees) for price, count in terms]
    return max(count for count, _ in shares), max(dollars for _, dollars in shares)


def unbooked(contracts: Decimal, fills: Iterable[FillRecord]) -> Decimal:
    """Of an order's `contracts` that filled or may still fill, those no fill booked holds."""
    return max(contracts - sum((fill.count for fill in fills), ZERO), ZERO)


def share(
    book_side: BookSide,
    yes_price: Decimal,
    contracts: Decimal,
    fills: Iterable[FillRecord],
    fees: FeeModel | None,
) -> tuple[Decimal, Decimal]:
    """(contracts, dollars at most) of one order of `contracts` at `yes_price`, of which
    `fills` are booked: what they cost, and the rest at most at the market's `fees`
    (`most_cost`; None only for an order with none left to fill)."""
    from kalshi_cli.services.orders.limits import most_cost

    fills = list(fills)
    paid = sum((f.count * _added(f.book_side, f.yes_price) + f.fee for f in fills), ZERO)
    rest = unbooked(contracts, fills)
    if not rest:
        return contracts, paid
    if fees is None:
        raise ValueError("contracts left to fill are priced at their market's fees: none given")
    return contracts, paid + most_cost(rest, _added(book_side, yes_price), fees)


def _added(book_side: BookSide, yes_price: Decimal) -> Decimal:
    """The price of the side an order in book terms adds (`added_price`, the order seen from
    YES: a bid buys it, an ask sells it)."""
    return added_price(*from_book(book_side, yes_price, Side.YES))

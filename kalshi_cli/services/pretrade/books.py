"""The books an owner's part is read from, outside and inside a loop: an order resting as they
keep it (`OpenOrder`), the account's fills and settlements replayed from the state file
(`replay`), and the books of an owner outside a loop (`StateBooks`: the assistant's), read by the
rules the trade loop's portfolio reads its own by (`PositionBook.view` and `owner_view`,
services/owner_parts.py). The loop's portfolio (runner/books/portfolio.py) keeps its orders as
`OpenOrder`s and is replayed on start by `replay` too, so a restarted loop and the assistant
count a strategy's part by one rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from kalshi_cli.services.owner_parts import PositionBook, fill_of
from kalshi_cli.vocabulary.decisions import PositionView, RestingOrder
from kalshi_cli.vocabulary.units import Action, BookSide, Side, from_book

if TYPE_CHECKING:
    from kalshi_cli.services.owner_parts import Owners
    from kalshi_cli.services.pnl import Realization
    from kalshi_cli.store import FillRecord, IntentRecord, SettlementRecord, Store


@dataclass
class OpenOrder:
    order_id: str
    client_order_id: str
    ticker: str
    side: Side
    action: Action
    price: Decimal  # of `side`
    remaining: Decimal
    strategy: str | None

    @property
    def view(self) -> RestingOrder:
        return RestingOrder(self.order_id, self.side, self.action, self.price, self.remaining)


def open_order(
    *,
    order_id: str,
    client_order_id: str,
    ticker: str,
    book_side: BookSide,
    yes_price: Decimal,
    side: Side | None,
    remaining: Decimal,
    strategy: str | None,
) -> OpenOrder:
    """From exchange (book side, YES price) terms, as seen from `side` (YES when unknown)."""
    seen_from = side or Side.YES
    action, price = from_book(book_side, yes_price, seen_from)
    return OpenOrder(
        order_id, client_order_id, ticker, seen_from, action, price, remaining, strategy
    )


def resting_order(intent: IntentRecord) -> OpenOrder:
    """The state file's record of an order it holds resting, as the books keep it: what rests
    is the row's `remaining` (its `count` when no answer said)."""
    assert intent.order_id is not None  # resting: the exchange named it
    return open_order(
        order_id=intent.order_id,
        client_order_id=intent.client_order_id,
        ticker=intent.ticker,
        book_side=intent.book_side,
        yes_price=intent.price,
        side=intent.side,
        remaining=intent.remaining if intent.remaining is not None else intent.count,
        strategy=intent.strategy,
    )


class Rests(Protocol):
    """What the state file's resting orders are booked into (`book_resting`): the loop's
    portfolio, its markets and their orders."""

    @property
    def markets(self) -> Mapping[str, object]: ...

    def add_order(self, order: OpenOrder) -> None: ...


def book_resting(
    store: Store, books: Rests, subaccount: int = 0, ticker: str | None = None
) -> None:
    """The orders the state file holds resting on `subaccount` in the markets of `books`
    (`ticker`: that market's alone), in them: the loop's own, and those placed elsewhere that a
    reconcile recorded (the start's, or a joining market's `import_foreign_orders`), which count
    against its limits as its own do. At the start, and for a market that joins the loop."""
    for intent in store.orders.open_orders(subaccount=subaccount):
        if ticker is not None and intent.ticker != ticker:
            continue
        if intent.status == "resting" and intent.order_id and intent.ticker in books.markets:
            books.add_order(resting_order(intent))


class Replayed(Protocol):
    """What the state file's fills and settlements are replayed into (`replay`): the loop's
    portfolio, an owner's `StateBooks`."""

    def replay_fill(self, record: FillRecord) -> Realization: ...

    def book_settlement(self, record: SettlementRecord) -> None: ...


def replay(
    store: Store, books: Replayed, subaccount: int = 0, ticker: str | None = None
) -> list[FillRecord]:
    """Replay every fill and settlement of `subaccount`'s book (its own positions: another
    subaccount's fills are another book) into `books`, oldest first; fills that lack a realized
    P&L (imported by reconcile) get theirs written, so the daily circuit breaker counts them.
    `ticker`: that market's alone (a part of one position needs no other market's fills).
    Returns the fill records."""
    from kalshi_cli.services.pnl import book_history
    from kalshi_cli.store import SettlementRecord

    fills = []
    missing: list[tuple[str, Decimal]] = []
    for event in book_history(store, subaccount, ticker):
        if isinstance(event, SettlementRecord):
            books.book_settlement(event)
            continue
        fills.append(event)
        applied = books.replay_fill(event)
        if event.realized_pnl is None:
            missing.append((event.fill_id, applied.net))
    with store.transaction():
        for fill_id, net in missing:
            store.fills.set_fill_realized_pnl(fill_id, net)
    return fills


class StateBooks:
    """An owner's books outside a loop, rebuilt from the state file (`replay`): the account's
    positions with each owner's part (`PositionBook`), and the orders resting that are added
    (`add_order`). What a budget reads of them (services/pretrade/budgets.py `OwnedBooks`) is
    read as the loop reads its portfolio's."""

    def __init__(self) -> None:
        self.book = PositionBook()
        self.orders: dict[str, OpenOrder] = {}  # order id -> resting order

    @property
    def owners(self) -> Owners[Decimal]:
        return self.book.owners

    def replay_fill(self, record: FillRecord) -> Realization:
        return self.book.fill(fill_of(record))

    def book_settlement(self, record: SettlementRecord) -> None:
        self.book.book_settlement(record)

    def add_order(self, order: OpenOrder) -> None:
        if order.remaining > 0:
            self.orders[order.order_id] = order

    def resting(self, ticker: str) -> list[OpenOrder]:
        return [o for o in self.orders.values() if o.ticker == ticker]

    def unbooked_orders(self) -> Iterable[OpenOrder]:
        """None: nothing is told filled outside a loop that its fills do not hold."""
        return ()

    def owned_view(
        self, ticker: str, owner: str, owner_of: Callable[[OpenOrder], str | None]
    ) -> PositionView:
        """`owner`'s view of `ticker`: its part of the account's position (`owner_view`), with
        the account's resting orders there."""
        resting = tuple(o.view for o in self.resting(ticker))
        return self.book.owner_view(self.book.view(ticker, resting), owner)

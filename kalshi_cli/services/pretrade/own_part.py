"""What an owner's order may take of the account's position (`OwnPart`), for a loop's strategy and
for the assistant alike, and what the assistant owns (`own_books`).

Kalshi nets YES and NO of one market, so an order that takes from the side the account holds
first closes what the account holds, whoever bought it. A strategy of the trade loop and the
assistant are held to one rule (`OwnPart`), each over its own books (`Holdings`): the loop's
(runner/execution/own_orders.py `OwnOrders`), and the assistant's, read here. The assistant is
one owner among the loop's strategies and the person: its orders carry its name
(`agent.strategy`), and so do its fills. Its books: its part of each position, built by its own
fills in the state file as a loop builds a strategy's (services/pretrade/books.py); the account's
position as the exchange shows it (what the netting acts on); and what its own orders already
take, those resting and those pending or of unknown outcome (they may land).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from kalshi_cli.vocabulary.units import ZERO, BookSide

if TYPE_CHECKING:
    from kalshi_cli.services.pretrade.books import OpenOrder, StateBooks
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.decisions import Intent, PositionView


class Holdings(Protocol):
    """What `OwnPart` reads of the account: the loop's (runner/execution/own_orders.py
    `OwnOrders`), or the assistant's (`OwnBooks`), each counted from its own books."""

    def account_held(self, ticker: str) -> Decimal: ...

    def held(self, ticker: str, owner: str) -> Decimal: ...

    def taking(
        self, ticker: str, owner: str, book_side: BookSide, but: Collection[str]
    ) -> Decimal: ...


class OwnPart:
    """One decision's orders cut, in turn, to what each may take of the account's position, so
    that a strategy (or the assistant) never sells contracts another strategy or a person holds:
    - a reduce-only order, to its own part (`Holdings.held`) less what its orders before it in
      this decision take: the exchange caps it only by the account's whole position;
    - any other order that takes from the side the account holds, to its own part too when the
      account holds contracts of that side that are not its own: the exchange nets YES and NO, so
      such an order first closes what the account holds.
    There, what its orders resting or on their way already take comes off its part first (but those
    `gone`: cancelled or replaced by the decision)."""

    def __init__(self, own: Holdings, owner: str, gone: Collection[str]) -> None:
        self._own = own
        self._owner = owner
        self._gone = gone
        self._owned: dict[str, Decimal] = {}  # ticker -> its own part before the decision
        self._left: dict[str, Decimal] = {}  # ticker -> what its orders so far left of it

    def others(self, ticker: str, book_side: BookSide) -> Decimal:
        """How many contracts of the side an order on `book_side` takes from (YES for an ask,
        NO for a bid) the account holds that are not the owner's (0 or less: none)."""
        sign = 1 if book_side is BookSide.ASK else -1
        return self._others(ticker, sign, sign * self._own.account_held(ticker))

    def _others(self, ticker: str, sign: int, account: Decimal) -> Decimal:
        if ticker not in self._owned:
            self._owned[ticker] = self._left[ticker] = self._own.held(ticker, self._owner)
        return account - max(sign * self._owned[ticker], ZERO)

    def count(self, intent: Intent) -> Decimal:
        """How many of the intent's contracts it may take, its orders before it in the
        decision counted."""
        own, ticker = self._own, intent.ticker
        sign = 1 if intent.book_side is BookSide.ASK else -1  # a YES sale or NO buy: +1
        account = sign * own.account_held(ticker)
        if not intent.reduce_only and account <= 0:
            return intent.count  # the account holds none of the side it takes
        others = self._others(ticker, sign, account)
        # ZERO first: max keeps the first of equals, and a bid's sign makes nothing -0
        mine = max(ZERO, sign * self._left[ticker])
        if others > 0 and mine > 0:
            taking = own.taking(ticker, self._owner, intent.book_side, self._gone)
            mine = max(mine - taking, ZERO)
        count = min(intent.count, mine)
        if not intent.reduce_only and others <= 0:
            count = intent.count  # it owns all the account holds there: it may turn it
        self._left[ticker] -= sign * count
        return count


def _recorded_owner(order: OpenOrder) -> str | None:
    return order.strategy


@dataclass
class OwnBooks:
    """The assistant's books rebuilt from the state file (`own_books`): the account's fills
    and settlements with its own name an owner (`portfolio`), its own resting orders, and its
    orders pending or of unknown outcome (`queued`); with the account's positions as the
    exchange shows them (`account`: `PreTradeChecks.account_views`), `OwnPart`'s reading of the
    account (`Holdings`)."""

    name: str
    portfolio: StateBooks
    queued: list[Intent] = field(default_factory=list)
    account: Mapping[str, PositionView] = field(default_factory=dict)

    def account_held(self, ticker: str) -> Decimal:
        """The account's position in `ticker` (+YES / -NO) on the exchange."""
        view = self.account.get(ticker)
        return ZERO if view is None else view.position

    def held(self, ticker: str, owner: str) -> Decimal:
        """`owner`'s part of the position in `ticker` (+YES / -NO), by its own fills."""
        return self.portfolio.owned_view(ticker, owner, _recorded_owner).position

    def taking(self, ticker: str, owner: str, book_side: BookSide, but: Collection[str]) -> Decimal:
        """What `owner`'s orders in `ticker` on `book_side` take, should they all fill: those
        resting (but those `but` names: an amend's own order) and those queued."""
        total = ZERO
        for order in self.portfolio.resting(ticker):
            if order.order_id in but or order.view.book_side is not book_side:
                continue
            if order.strategy == owner:
                total += order.remaining
        for intent in self.queued:
            if intent.ticker == ticker and intent.book_side is book_side:
                total += intent.count
        return total


def own_books(
    store: Store,
    name: str,
    subaccount: int,
    account: Mapping[str, PositionView] | None = None,
    ticker: str | None = None,
) -> OwnBooks:
    """The assistant's books as a loop rebuilds its strategies' on start (`replay`): every
    fill and settlement of the subaccount (of `ticker` alone when given: its part of one
    position), its own name an owner; its orders in the state file that rest, and those
    pending or of unknown outcome."""
    from kalshi_cli.services.pretrade.books import StateBooks, replay, resting_order
    from kalshi_cli.vocabulary.decisions import Intent
    from kalshi_cli.vocabulary.units import from_book

    portfolio = StateBooks()
    portfolio.owners.own(name)
    replay(store, portfolio, subaccount, ticker)
    books = OwnBooks(name, portfolio, account=account or {})
    for order in store.orders.open_orders(subaccount=subaccount):
        if order.strategy != name or ticker not in (None, order.ticker):
            continue
        if order.status == "resting" and order.order_id:
            portfolio.add_order(resting_order(order))
            continue
        action, price = from_book(order.book_side, order.price, order.side)
        books.queued.append(
            Intent(order.ticker, order.side, action, price, order.count, price, "", name)
        )
    return books


def may_take(books: OwnBooks, intent: Intent) -> Decimal:
    """How many of `intent`'s contracts the assistant may take (`OwnPart`): all of them unless
    it takes from a side the account holds of which some contracts are not the assistant's.
    The orders the intent replaces (an amend's) are not counted as taking."""
    return OwnPart(books, books.name, intent.replaces).count(intent)

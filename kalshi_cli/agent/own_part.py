"""What the assistant owns, and what its orders may take of the account's positions.

The assistant is one owner among the loop's strategies and the person: its orders carry its
name (`agent.strategy`), and so do its fills. Kalshi nets YES and NO of one market, so an order
that takes from the side the account holds first closes what the account holds, whoever bought
it. The assistant is held to the rule a loop's strategy is (`OwnPart`,
runner/execution/own_orders.py), read here from its own books: its part of each position, built
by its own fills in the state file as a loop builds a strategy's; the account's position as the
exchange shows it (what the netting acts on); and what its own orders already take, those
resting and those pending or of unknown outcome (they may land).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.vocabulary.units import ZERO, BookSide

if TYPE_CHECKING:
    from kalshi_cli.runner.books.portfolio import OpenOrder, Portfolio
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.decisions import Intent, PositionView


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
    portfolio: Portfolio
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
    """The assistant's books as a loop rebuilds its strategies' on start (`rebuild`): every
    fill and settlement of the subaccount (of `ticker` alone when given: its part of one
    position), its own name an owner; its orders in the state file that rest, and those
    pending or of unknown outcome."""
    from kalshi_cli.runner.books.portfolio import Portfolio, resting_order
    from kalshi_cli.runner.preflight import rebuild
    from kalshi_cli.vocabulary.decisions import Intent
    from kalshi_cli.vocabulary.units import from_book

    portfolio = Portfolio([])
    portfolio.owners.own(name)
    rebuild(store, portfolio, subaccount, ticker)
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
    from kalshi_cli.runner.execution.own_orders import OwnPart

    return OwnPart(books, books.name, intent.replaces).count(intent)

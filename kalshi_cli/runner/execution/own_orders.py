"""Which resting orders are the trade loop's own, what a strategy's order may take of the account's
position (`OwnPart`, services/pretrade/own_part.py: the assistant's rule too), and their
withdrawal.

An order is the loop's when this run sent it or it rests under one of the loop's strategies from an
earlier run (the state file, or `owned_client_order_id`), owned by that strategy (`owner`); one
placed by hand or by another strategy is never the loop's to cancel. Quotes that would add to a
position are withdrawn while trading is blocked, a market is stale or the strategy fails there
(`cancel_adding`), each cancel followed by `after_each` (the heartbeat when due, so a slow
withdrawal does not make the loop look dead).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Container, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.services.pretrade.own_part import OwnPart
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.order_terms import owner_in
from kalshi_cli.vocabulary.units import ZERO, BookSide

if TYPE_CHECKING:
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.execution.cancels import Cancels
    from kalshi_cli.runner.execution.outbox import Outbox
    from kalshi_cli.services.pretrade.books import OpenOrder
    from kalshi_cli.strategy_api import PositionView


def _once_read(view: PositionView) -> Decimal:
    """The view's position once the contracts told filled and not read yet are read: a bid's
    add YES, an ask's NO."""
    if not view.unbooked:
        return view.position
    told = (o.remaining if o.book_side is BookSide.BID else -o.remaining for o in view.unbooked)
    return view.position + sum(told, start=ZERO)


def owner_among(names: Collection[str], order: OpenOrder) -> str | None:
    """The strategy of `names` that owns the order (None: none of them): the state file's record
    of it, else the name its client order id carries."""
    if order.strategy is not None:
        return order.strategy if order.strategy in names else None
    name = owner_in(order.client_order_id)
    return name if name in names else None


class OwnOrders:
    def __init__(
        self,
        *,
        sent: Container[str],
        outbox: Outbox,
        cancels: Cancels,
        portfolio: Portfolio,
        names: Iterable[str],
        after_each: Callable[[], None] | None = None,
    ) -> None:
        self._sent = sent  # the orders this run sent (runner/execution/fills.py `FillSync.sent`)
        self._outbox = outbox
        self._cancels = cancels
        self._portfolio = portfolio
        # each carried whole by its order ids (`Lineup`): the name an id carries is the owner
        self._names = frozenset(names)
        # the heartbeat, if it is due
        self.after_each: Callable[[], None] = after_each or (lambda: None)

    def placed_by_us(self, order: OpenOrder) -> bool:
        """Sent by this loop, or resting under the name of one of its strategies from an
        earlier run: an order placed by hand or by another program is not ours to cancel."""
        return order.order_id in self._sent or self.owner(order) is not None

    def owner(self, order: OpenOrder) -> str | None:
        """The loop's strategy that owns the order (None: no strategy of this loop's): the
        state file's record of it, else the name its client order id carries."""
        return owner_among(self._names, order)

    def held(self, ticker: str, owner: str) -> Decimal:
        """`owner`'s own part of the position in `ticker` (+YES / -NO), with the contracts its
        own orders were told filled and not read yet (`Portfolio.owned_view`): what its exits
        may sell."""
        return _once_read(self._portfolio.owned_view(ticker, owner, self.owner))

    def account_held(self, ticker: str) -> Decimal:
        """The account's position in `ticker` (+YES / -NO) with every contract told filled and
        not read yet: what an order that takes from the side held closes first."""
        return _once_read(self._portfolio.view(ticker))

    def taking(self, ticker: str, owner: str, book_side: BookSide, but: Collection[str]) -> Decimal:
        """What `owner`'s orders in `ticker` on `book_side` take, should they all fill: those
        resting (but the ones `but` names, which its decision replaces or cancels) and those on
        their way (in the tick's batch, waiting for the cancels of the orders they replace,
        sent and not answered, or of unknown outcome)."""
        total = ZERO
        for order in self._portfolio.resting(ticker):
            if order.order_id in but or order.view.book_side is not book_side:
                continue
            if self.owner(order) == owner:
                total += order.remaining
        for intent in self._outbox.pending_in(ticker):
            if intent.strategy == owner and intent.book_side is book_side:
                total += intent.count
        return total

    def within_own(self, owner: str, gone: Collection[str]) -> OwnPart:
        """The cut of one decision of `owner`'s, its orders taken in turn (`OwnPart`); `gone`:
        its resting orders that decision cancels or replaces."""
        return OwnPart(self, owner, gone)

    def room(self, intent: Intent) -> Decimal:
        """What an order of one of the loop's strategies may take now, alone: a replacement,
        its cancels booked, is cut again (`LoopExecutor`), as the orders it replaced may have
        filled since it was decided and the strategy's part is smaller by as much. An order no
        strategy of the loop's decided (a stop-loss) is the account's, and is never cut."""
        if intent.strategy not in self._names:
            return intent.count
        return OwnPart(self, intent.strategy, ()).count(intent)

    def beyond_own(self, ticker: str) -> list[OpenOrder]:
        """The loop's strategies' resting orders in `ticker` that would, should they fill, take
        contracts the account holds that are not their strategy's: each strategy's orders
        taking from the side held, oldest first, held to its own part as a new order is
        (`OwnPart`, what its orders on their way take counted first); those past it. An order
        that rested while the account held nothing of that side (a quote on both sides) closes
        what was bought since, whoever bought it, once it fills."""
        held = self.account_held(ticker)
        if held == 0:
            return []
        # the book side that takes from what is held: an ask (a YES sale, a NO buy) from YES
        taking = BookSide.ASK if held > 0 else BookSide.BID
        orders: dict[str, list[OpenOrder]] = {}
        for order in self._portfolio.resting(ticker):
            owner = self.owner(order)
            if owner is not None and order.view.book_side is taking:
                orders.setdefault(owner, []).append(order)
        beyond: list[OpenOrder] = []
        for owner, own in orders.items():
            part = OwnPart(self, owner, {o.order_id for o in own})
            if part.others(ticker, taking) <= 0:
                continue  # the strategy owns all the account holds there
            for order in own:
                as_new = Intent(
                    ticker, order.side, order.action, order.price, order.remaining,
                    order.price, "resting", owner,
                )  # fmt: skip
                if part.count(as_new) < order.remaining:
                    beyond.append(order)
        return beyond

    def names_ours(self, client_order_id: str | None) -> bool:
        """The client order id carries the name of one of this loop's strategies: the order
        is this loop's (or an earlier run's of its strategies; one loop per account), whether
        the view holds it or not."""
        return owner_in(client_order_id or "") in self._names

    def resting(self) -> list[OpenOrder]:
        """The resting orders this loop placed."""
        return [o for o in list(self._portfolio.orders.values()) if self.placed_by_us(o)]

    def cancel_adding(
        self, why: str, wanted: Callable[[OpenOrder], bool], *, owner: str | None = None
    ) -> None:
        """Cancel this loop's orders (of the markets `wanted`) that would add to a position.
        An order the other way reduces it only as far as the position goes: once the orders placed
        by hand, then this loop's oldest first, would close all of it, the rest would open the
        opposite position, so they go too.

        With `owner` (a strategy stopped alone), only that strategy's orders, against its own part
        (`Portfolio.owned_view`). The position is the one the risk checks count, with the contracts
        told filled whose fills are not read yet (`PositionView.unbooked`)."""
        orders = list(self._portfolio.orders.values())
        if owner is None:

            def held(ticker: str) -> Decimal:
                return _once_read(self._portfolio.view(ticker))
        else:
            orders = [o for o in orders if self.owner(o) == owner]

            def held(ticker: str) -> Decimal:
                return self.held(ticker, owner)

        closing: dict[str, Decimal] = {}  # ticker -> contracts already set to close it
        going: list[OpenOrder] = []
        for order in sorted(orders, key=self.placed_by_us):  # orders placed by hand first
            if not wanted(order):
                continue
            position = held(order.ticker)
            towards_yes = order.view.book_side is BookSide.BID
            reduces = position != 0 and (position > 0) != towards_yes
            if reduces:
                after = closing.get(order.ticker, Decimal(0)) + order.remaining
                if after <= abs(position) or not self.placed_by_us(order):
                    closing[order.ticker] = after
                    continue
            if self.placed_by_us(order):
                going.append(order)
        self._withdraw(going, why)

    def withdraw_all(self, why: str, wanted: Callable[[OpenOrder], bool]) -> None:
        """Cancel every order this loop placed in the markets `wanted`, whichever way it points
        (orders placed by hand stay)."""
        orders = list(self._portfolio.orders.values())
        self._withdraw([o for o in orders if wanted(o) and self.placed_by_us(o)], why)

    def _withdraw(self, orders: list[OpenOrder], why: str) -> None:
        """The orders withdrawn, each cancel off the deciding path side by side with the others
        (runner/execution/cancels.py `withdraw`); then `after_each`: without send workers each
        cancel is waited for, and during an outage each fails only after the client's retries
        (seconds): a dozen of them in one tick made a halted loop look dead (no heartbeat for
        71 s) while it was doing its job."""
        for order in orders:
            self._cancels.withdraw(order.ticker, order.order_id, why)
            self.after_each()

"""One market's order book: YES bids and NO bids, price-time priority, no accounting.

Kalshi's book holds bids only: a YES bid at p and a NO bid at q cross when p + q >= 1. Each side is
keyed by its own price, so "best" is the highest on either side.

A side is a dict of price -> FIFO queue (an `OrderedDict` by order id: append, pop and cancel O(1)),
an ascending price list (`bisect`) and the size per level. `crossing` reads the book without
changing it, so the exchange can plan a whole order (FOK, post-only, balance) first.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import Iterator
from decimal import Decimal
from typing import Generic, TypeVar

T = TypeVar("T")


class BookSideLevels(Generic[T]):
    """The bids of one side: price -> FIFO of (order id -> order)."""

    __slots__ = ("levels", "prices", "sizes")

    def __init__(self) -> None:
        self.levels: dict[Decimal, OrderedDict[str, T]] = {}
        self.prices: list[Decimal] = []  # ascending
        self.sizes: dict[Decimal, Decimal] = {}

    def add(self, price: Decimal, order_id: str, order: T, size: Decimal) -> None:
        queue = self.levels.get(price)
        if queue is None:
            queue = self.levels[price] = OrderedDict()
            insort(self.prices, price)
            self.sizes[price] = size
        else:
            self.sizes[price] += size
        queue[order_id] = order

    def change_size(self, price: Decimal, delta: Decimal) -> None:
        self.sizes[price] += delta

    def remove(self, price: Decimal, order_id: str, size: Decimal) -> None:
        """Take an order off its level; `size` is what it still had resting."""
        queue = self.levels[price]
        del queue[order_id]
        if queue:
            self.sizes[price] -= size
        else:
            del self.levels[price]
            del self.sizes[price]
            del self.prices[bisect_left(self.prices, price)]

    def to_back(self, price: Decimal, order_id: str) -> None:
        """Move an order to the back of its level's queue; its size and the level's stay."""
        self.levels[price].move_to_end(order_id)

    def best(self) -> Decimal | None:
        return self.prices[-1] if self.prices else None

    def crossing(self, limit: Decimal) -> Iterator[tuple[Decimal, T]]:
        """Resting orders with a price >= `limit`, best price first, oldest first."""
        prices = self.prices
        for i in range(len(prices) - 1, -1, -1):
            price = prices[i]
            if price < limit:
                return
            for order in self.levels[price].values():
                yield price, order

    def depth(self, n: int) -> list[tuple[Decimal, Decimal]]:
        """(price, size) ascending; the best `n` levels when n > 0."""
        prices = self.prices[-n:] if n > 0 else self.prices
        return [(p, self.sizes[p]) for p in prices]

    def __len__(self) -> int:
        return sum(len(q) for q in self.levels.values())

    def ahead_of(self, price: Decimal, order_id: str) -> list[T]:
        """The orders resting at `price` that arrived before `order_id` (which must rest
        there), oldest first: the order's queue. Read-only."""
        ahead: list[T] = []
        for queued_id, order in self.levels[price].items():
            if queued_id == order_id:
                return ahead
            ahead.append(order)
        raise KeyError(order_id)


class Book(Generic[T]):
    """YES bids and NO bids of one market."""

    __slots__ = ("no", "yes")

    def __init__(self) -> None:
        self.yes: BookSideLevels[T] = BookSideLevels()
        self.no: BookSideLevels[T] = BookSideLevels()

    def side(self, yes: bool) -> BookSideLevels[T]:
        return self.yes if yes else self.no

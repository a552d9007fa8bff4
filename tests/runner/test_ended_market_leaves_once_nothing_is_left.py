"""A settled market leaves the loop (runner/loop/ended_markets.py `EndedMarkets`) only once
nothing of the loop's is left there: each of contracts held, an order resting, a fill told and
not read, a settlement not booked and a call out or in doubt keeps it alone, and it leaves (once,
said once) when the last of them is gone. The loop tests settle markets with none of these or
with contracts held; here each is held by itself."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kalshi_cli.runner.loop.ended_markets import EndedMarkets
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.decisions import PositionView, RestingOrder
from kalshi_cli.vocabulary.units import Action, Side

SETTLED, OTHER = "KXEND-26JAN01-A", "KXEND-26JAN01-B"
ORDER = (RestingOrder("o-1", Side.YES, Action.BUY, Decimal("0.40"), Decimal(1)),)


class _Books:
    """What the loop holds in each market, and what leaving one does to its books."""

    def __init__(self, with_feed_removal: bool = True) -> None:
        self.views: dict[str, PositionView] = {}
        self.awaited: set[str] = set()  # settlements not booked
        self.busy: set[str] = set()  # calls out, or orders of unknown outcome
        self.removed: list[str] = []  # from the schedule
        self.unsubscribed: list[str] = []
        self.said: list[tuple[str, dict[str, object]]] = []
        self.portfolio = SimpleNamespace(view=lambda t: self.views.get(t, PositionView(t)))
        self.schedule = SimpleNamespace(remove=self.removed.append)
        self.feed = (
            SimpleNamespace(remove_markets=self.unsubscribed.extend)
            if with_feed_removal
            else SimpleNamespace()
        )
        self.log = SimpleNamespace(emit=lambda name, fields: self.said.append((name, fields)))

    def ended(self, store: Store) -> EndedMarkets:
        settlements = SimpleNamespace(awaited=self.awaited)
        executor: Any = SimpleNamespace(
            fills=SimpleNamespace(settlements=settlements),
            unknown_orders=SimpleNamespace(holds=lambda t: False),
        )
        dispatch: Any = SimpleNamespace(busy=lambda t: t in self.busy)
        join: Any = self
        return EndedMarkets(join, executor, dispatch, store, 0)


def _keeps(books: _Books, what: str) -> None:
    """`what` held in SETTLED alone (and every kind of it in OTHER, which has not settled)."""
    books.views[OTHER] = PositionView(OTHER, position=Decimal(3), resting=ORDER, unbooked=ORDER)
    books.awaited.add(OTHER)
    books.busy.add(OTHER)
    if what == "held":
        books.views[SETTLED] = PositionView(SETTLED, position=Decimal(2))
    elif what == "resting":
        books.views[SETTLED] = PositionView(SETTLED, resting=ORDER)
    elif what == "told filled":
        books.views[SETTLED] = PositionView(SETTLED, unbooked=ORDER)
    elif what == "settlement not booked":
        books.awaited.add(SETTLED)
    else:
        books.busy.add(SETTLED)


def _gone(books: _Books) -> None:
    books.views.pop(SETTLED, None)
    books.awaited.discard(SETTLED)
    books.busy.discard(SETTLED)


@pytest.mark.parametrize(
    "what", ["held", "resting", "told filled", "settlement not booked", "a call out"]
)
def test_a_settled_market_waits_while_anything_of_the_loops_is_left_there(
    tmp_path: Path, what: str
) -> None:
    books = _Books()
    with Store.open(tmp_path / "state.db") as store:
        ended = books.ended(store)
        _keeps(books, what)
        ended.settled(SETTLED)
        ended.sweep()
        assert (books.removed, books.said) == ([], [])
        _gone(books)
        ended.sweep()
    assert books.removed == books.unsubscribed == [SETTLED]
    assert books.said == [("market_removed", {"ticker": SETTLED, "why": "settled"})]


def test_a_market_let_go_is_let_go_once_whatever_is_said_of_it_later(tmp_path: Path) -> None:
    books = _Books(with_feed_removal=False)  # a feed that subscribes to no market by name
    with Store.open(tmp_path / "state.db") as store:
        ended = books.ended(store)
        ended.settled(SETTLED)
        ended.sweep()
        assert ended.gone == {SETTLED}
        ended.settled(SETTLED)  # a late message of it
        ended.sweep()
    assert books.removed == [SETTLED]
    assert [name for name, _ in books.said] == ["market_removed"]

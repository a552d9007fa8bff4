"""The state file's resting orders booked into a loop's books (services/pretrade/books.py
`book_resting`) are those of the loop's subaccount, in the markets it trades (one market's alone
when a market joins): an order resting on another subaccount is another book's, and counting
it would hold the loop's limits against orders that are not its own."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.services.pretrade.books import OpenOrder, book_resting
from kalshi_cli.store import Store
from kalshi_cli.store.records import RESTING, IntentRecord
from kalshi_cli.vocabulary.units import Action, BookSide, Side

TRADED, JOINED, OTHER = "KXR-A", "KXR-B", "KXR-C"


class _Books:
    def __init__(self, *tickers: str) -> None:
        self.markets: dict[str, object] = dict.fromkeys(tickers, object())
        self.orders: list[OpenOrder] = []

    def add_order(self, order: OpenOrder) -> None:
        self.orders.append(order)


def _resting(store: Store, name: str, ticker: str, subaccount: int) -> None:
    store.orders.record_intent(
        IntentRecord(
            name, ticker, BookSide.BID, D("0.40"), D(10), Side.YES, Action.BUY,
            subaccount=subaccount,
        )
    )  # fmt: skip
    store.orders.update_order(
        client_order_id=name, order_id=f"o-{name}", status=RESTING, remaining_count=D(7)
    )


def test_only_the_loops_subaccounts_orders_in_its_markets_are_booked(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        _resting(store, "mine", TRADED, 1)
        _resting(store, "primary", TRADED, 0)
        _resting(store, "elsewhere", OTHER, 1)
        _resting(store, "joined", JOINED, 1)
        books = _Books(TRADED, JOINED)
        book_resting(store, books, 1)
        assert sorted((o.order_id, o.remaining) for o in books.orders) == [
            ("o-joined", D(7)),
            ("o-mine", D(7)),
        ]
        one = _Books(TRADED, JOINED)
        book_resting(store, one, 1, JOINED)
        assert [o.order_id for o in one.orders] == ["o-joined"]

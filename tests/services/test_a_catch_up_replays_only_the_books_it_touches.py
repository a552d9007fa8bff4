"""Realized P&L after a catch-up that added fills or settlements is replayed for the markets (of
the subaccounts) the new fills are in and the new settlements settle, not for every fill of the
state file: a loop's file holds every fill for good, and the full replay cost each hand order
about 0.5 s of CPU per 100,000 fills while the loop was filling, and again at each settlement.
Average cost is path dependent within one market's book alone, so replaying the books touched
gives every figure the full replay gives."""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.services.reconcile import backfill_realized, realize_missing
from kalshi_cli.store import FillRecord, SettlementRecord, Store
from kalshi_cli.store.settlements import SettlementsRecorded
from kalshi_cli.vocabulary.units import BookSide

MARKETS = [f"KXEV-M{n:02d}" for n in range(12)]
SUBACCOUNTS = [0, 1, 4]


def _fill(draw: random.Random, n: int, *, ticker: str, subaccount: int, ts: float) -> FillRecord:
    return FillRecord(
        fill_id=f"f{n}",
        order_id=f"o{n}",
        client_order_id=None,
        ticker=ticker,
        book_side=draw.choice([BookSide.BID, BookSide.ASK]),
        yes_price=D(draw.randint(5, 95)) / 100,
        count=D(draw.randint(1, 9)),
        fee=D(draw.randint(0, 3)) / 100,
        is_taker=draw.random() < 0.5,
        ts=ts,
        subaccount=subaccount,
    )


def _settlement(ticker: str, subaccount: int | None, at: float) -> SettlementRecord:
    return SettlementRecord(
        ticker=ticker, event_ticker="KXEV", result="yes", yes_count=D(0), no_count=D(0),
        yes_total_cost=D(0), no_total_cost=D(0), revenue=D(0), fee=D(0), settled_at=at,
        subaccount=subaccount,
    )  # fmt: skip


def _priced_file(path: Path) -> Store:
    """A state file of 600 fills over 12 markets and 3 subaccounts, and settlements (one of
    them copied before subaccounts were kept: every book's), each fill priced."""
    draw = random.Random(7)
    store = Store.open(path)
    store.fills.record_fills(
        _fill(draw, n, ticker=draw.choice(MARKETS), subaccount=draw.choice(SUBACCOUNTS), ts=n)
        for n in range(600)
    )
    store.settlements.record_settlements(
        [_settlement(MARKETS[0], 1, 400.5), _settlement(MARKETS[1], None, 500.5)]
    )
    backfill_realized(store)
    return store


def _new_fills(store: Store) -> set[tuple[int, str]]:
    """Fills copied in (no P&L yet), some before fills their book already holds (which changes
    what those realized) and one after a settlement; the books they are in."""
    draw = random.Random(11)
    new = [
        _fill(draw, 1000, ticker=MARKETS[2], subaccount=0, ts=10.5),
        _fill(draw, 1001, ticker=MARKETS[2], subaccount=4, ts=300.5),
        _fill(draw, 1002, ticker=MARKETS[0], subaccount=1, ts=450.5),
        _fill(draw, 1003, ticker=MARKETS[1], subaccount=4, ts=200.5),
        _fill(draw, 1004, ticker=MARKETS[5], subaccount=1, ts=650.0),
    ]
    assert store.fills.record_fills(new) == len(new)
    return {(f.subaccount, f.ticker) for f in new}


def _new_settlements(store: Store) -> SettlementsRecorded:
    """Settlements copied in after the fills were priced, each before later fills of its books
    (which changes what those realized): one of a subaccount; one of another subaccount that
    replaces the row of its market copied before subaccounts were kept (every book's until
    then); one of no subaccount (every book's)."""
    recorded = store.settlements.record_settlements(
        [
            _settlement(MARKETS[3], 4, 250.5),
            _settlement(MARKETS[1], 0, 500.5),
            _settlement(MARKETS[6], None, 320.5),
        ]
    )
    assert recorded.added == 3
    return recorded


def _figures(store: Store) -> dict[str, D | None]:
    return {f.fill_id: f.realized_pnl for f in store.fills.iter_fills()}


@pytest.fixture
def priced(tmp_path: Path) -> Iterator[Store]:
    with _priced_file(tmp_path / "state.db") as store:
        yield store


def test_the_replay_of_the_books_touched_gives_what_the_full_replay_gives(
    priced: Store, tmp_path: Path
) -> None:
    _new_fills(priced)
    realize_missing(priced)
    with _priced_file(tmp_path / "full.db") as full:
        _new_fills(full)
        backfill_realized(full)
        assert _figures(priced) == _figures(full)
    assert backfill_realized(priced) == 0, "the full replay found a figure to change"
    assert priced.fills.unrealized_books() == set()


def _books_streamed(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """The (subaccount, market) of each fill the store streams from now on, as a replay reads
    them."""
    streamed: list[tuple[int, str]] = []
    iter_fills = store.fills.iter_fills

    def counted(**kwargs: Any) -> Iterator[FillRecord]:
        for fill in iter_fills(**kwargs):
            streamed.append((fill.subaccount, fill.ticker))
            yield fill

    monkeypatch.setattr(store.fills, "iter_fills", counted)
    return streamed


def test_a_catch_up_that_added_fills_replays_only_the_books_they_are_in(
    priced: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    touched = _new_fills(priced)
    streamed = _books_streamed(priced, monkeypatch)
    realize_missing(priced)
    assert streamed, "nothing was replayed"
    assert set(streamed) == touched, set(streamed) ^ touched


def test_the_replay_of_the_books_settled_gives_what_the_full_replay_gives(
    priced: Store, tmp_path: Path
) -> None:
    before = _figures(priced)
    _new_fills(priced)
    realize_missing(priced, settled=_new_settlements(priced).books)
    with _priced_file(tmp_path / "full.db") as full:
        _new_fills(full)
        _new_settlements(full)
        backfill_realized(full)
        assert _figures(priced) == _figures(full)
    changed = {f for f, net in _figures(priced).items() if f in before and before[f] != net}
    assert changed, "no settlement changed a figure: the proof proves nothing"
    assert backfill_realized(priced) == 0, "the full replay found a figure to change"


def test_a_catch_up_that_added_settlements_replays_only_the_books_they_settle(
    priced: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Subaccount 4's book of market 3; every subaccount's of market 1 (its row of no
    subaccount replaced by subaccount 0's) and of market 6 (settled for no subaccount)."""
    recorded = _new_settlements(priced)
    everyone = {(n, MARKETS[m]) for n in SUBACCOUNTS for m in (1, 6)}
    assert recorded.books == {
        (4, MARKETS[3]),
        (0, MARKETS[1]),
        (None, MARKETS[1]),
        (None, MARKETS[6]),
    }
    streamed = _books_streamed(priced, monkeypatch)
    realize_missing(priced, settled=recorded.books)
    assert set(streamed) == {(4, MARKETS[3])} | everyone, set(streamed)

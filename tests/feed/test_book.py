"""LocalBook, SeqTracker and BookSet: pure, no I/O."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kalshi_cli.feed.book import (
    GAP,
    NEXT,
    REPEAT,
    BookSet,
    FeedMessage,
    LocalBook,
    MessageKind,
    SeqTracker,
)
from kalshi_cli.feed.messages import BookSnapshot
from kalshi_cli.vocabulary.models import Orderbook

D = Decimal


def snap(yes: list[list[str]] | None = None, no: list[list[str]] | None = None) -> BookSnapshot:
    msg: dict[str, Any] = {
        "market_ticker": "MKT",
        "market_id": "9b0f6b43-5b68-4f9f-9f02-9a2d1b8ac1a1",
    }
    if yes is not None:
        msg["yes_dollars_fp"] = yes
    if no is not None:
        msg["no_dollars_fp"] = no
    return msgspec.convert(msg, BookSnapshot)


def test_snapshot_builds_sorted_exact_book() -> None:
    book = LocalBook("MKT")
    book.apply_snapshot(snap([["0.0800", "300.00"], ["0.2200", "333.00"]], [["0.5400", "20.00"]]))
    ob = book.to_orderbook()
    assert ob == Orderbook(
        "MKT", ((D("0.22"), D("333")), (D("0.08"), D("300"))), ((D("0.54"), D("20")),)
    )
    assert book.fresh


def test_absent_side_is_empty_and_snapshot_replaces_everything() -> None:
    book = LocalBook("MKT")
    book.apply_snapshot(snap([["0.10", "1.00"]], [["0.50", "2.00"]]))
    book.apply_snapshot(snap(no=[["0.40", "5.00"]]))
    ob = book.to_orderbook()
    assert ob.yes_bids == ()
    assert ob.no_bids == ((D("0.40"), D("5")),)


def test_delta_adds_changes_and_removes_levels_at_zero() -> None:
    book = LocalBook("MKT")
    book.apply_snapshot(snap([["0.5000", "10.00"]]))
    assert book.apply_delta("yes", "0.51", "3.00")
    assert book.apply_delta("yes", "0.5000", "-4.00")
    assert book.apply_delta("no", "0.400", "7.50")
    assert book.to_orderbook().yes_bids == ((D("0.51"), D("3")), (D("0.5"), D("6")))
    # the same level written with another number of decimals is the same level
    assert book.apply_delta("yes", "0.510", "-3.00")
    assert book.apply_delta("no", "0.4", "-7.50")
    ob = book.to_orderbook()
    assert ob.yes_bids == ((D("0.5"), D("6")),)
    assert ob.no_bids == ()


def test_fractional_and_subpenny_stay_exact() -> None:
    book = LocalBook("MKT")
    book.apply_snapshot(snap([["0.0015", "0.10"]]))
    for _ in range(10):
        assert book.apply_delta("yes", "0.0015", "0.01")
    assert book.to_orderbook().yes_bids == ((D("0.0015"), D("0.20")),)


@pytest.mark.parametrize(
    ("side", "price", "delta"),
    [
        ("yes", "0.50", "-11.00"),  # below zero
        ("yes", "0.60", "-1.00"),  # removing a level that is not there
        ("maybe", "0.50", "1.00"),
        ("no", "1.00", "1.00"),
        ("no", "0", "1.00"),
        ("yes", "abc", "1.00"),
        ("yes", "0.50", "NaN"),
        ("yes", "0.50", "Infinity"),  # no defaults in money: an endless level is no size
        ("no", "0.40", "Infinity"),
    ],
)
def test_impossible_delta_marks_book_stale(side: str, price: str, delta: str) -> None:
    book = LocalBook("MKT")
    book.apply_snapshot(snap([["0.50", "10.00"]]))
    assert not book.apply_delta(side, price, delta)
    assert not book.fresh


def test_stale_book_ignores_deltas_until_snapshot() -> None:
    book = LocalBook("MKT")
    assert book.apply_delta("yes", "0.50", "5.00")  # no snapshot yet: ignored, not an error
    assert book.to_orderbook().yes_bids == ()
    book.apply_snapshot(snap([["0.50", "1.00"]]))
    book.fresh = False
    assert book.apply_delta("yes", "0.50", "5.00")
    assert book.to_orderbook().yes_bids == ((D("0.50"), D("1")),)


@pytest.mark.parametrize(
    "level", [["1.50", "1.00"], ["0.50", "Infinity"], ["0.50", "NaN"], ["NaN", "1.00"]]
)
def test_bad_snapshot_level_is_refused(level: list[str]) -> None:
    """A size that is not a finite number (an endless level a venue would fill against
    without end) is refused as a price off (0, 1) is, never kept in the book."""
    book = LocalBook("MKT")
    with pytest.raises(ValueError, match="bad snapshot level"):
        book.apply_snapshot(snap([level]))
    assert book.to_orderbook().yes_bids == ()


def test_replace_reports_change() -> None:
    book = LocalBook("MKT")
    ob = Orderbook("MKT", ((D("0.3"), D("1")),), ())
    assert book.replace(ob)
    assert not book.replace(ob)
    assert book.replace(Orderbook("MKT", ((D("0.3"), D("2")),), ()))
    assert book.to_orderbook().yes_bids == ((D("0.3"), D("2")),)


# no per-example deadline: a busy CI machine can stall any example past Hypothesis's 200 ms
@settings(deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["yes", "no"]),
            st.integers(1, 99),
            st.integers(-500, 500),
        ),
        max_size=60,
    )
)
def test_deltas_match_a_reference_model(ops: list[tuple[str, int, int]]) -> None:
    book = LocalBook("MKT")
    book.apply_snapshot(snap())
    model: dict[tuple[str, Decimal], Decimal] = {}
    for side, cents, hundredths in ops:
        price = D(cents) / 100
        delta = D(hundredths) / 100
        new = model.get((side, price), D(0)) + delta
        if new < 0:
            continue  # the exchange never sends that; covered by the stale test
        other = [p for (s, p) in model if s != side]
        if (side, price) not in model and new and other and price + max(other) >= 1:
            continue  # a crossed book: no exchange sends it; covered by the crossing tests
        assert book.apply_delta(side, f"{price:.4f}", f"{delta:.2f}")
        if new:
            model[(side, price)] = new
        else:
            model.pop((side, price), None)
    ob = book.to_orderbook()
    yes = sorted(((p, q) for (s, p), q in model.items() if s == "yes"), reverse=True)
    no = sorted(((p, q) for (s, p), q in model.items() if s == "no"), reverse=True)
    assert ob.yes_bids == tuple(yes)
    assert ob.no_bids == tuple(no)


# a book is built once for each change and read many times between changes (the loop's pass,
# the strategy, the marks): every read must be the book as it is now, whatever changed it
@settings(deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(
                st.just("delta"),
                st.sampled_from(["yes", "no"]),
                st.integers(1, 99),
                st.integers(-300, 300),
            ),
            st.tuples(
                st.just("snapshot"),
                st.sampled_from(["yes", "no"]),
                st.integers(1, 49),
                st.integers(1, 300),
            ),
            st.tuples(
                st.just("replace"),
                st.sampled_from(["yes", "no"]),
                st.integers(1, 49),
                st.integers(1, 300),
            ),
        ),
        max_size=40,
    )
)
def test_a_book_read_between_changes_is_the_book_as_it_is_now(
    ops: list[tuple[str, str, int, int]],
) -> None:
    book = LocalBook("MKT")
    book.apply_snapshot(snap())
    for kind, side, cents, hundredths in ops:
        price, size = D(cents) / 100, D(hundredths) / 100
        if kind == "delta":
            book.apply_delta(side, f"{price:.4f}", f"{size:.2f}")
        elif kind == "snapshot":
            text = [[f"{price:.4f}", f"{size:.2f}"]]
            book.apply_snapshot(
                snap(text if side == "yes" else None, text if side == "no" else None)
            )
        else:
            level = ((price, size),)
            book.replace(
                Orderbook("MKT", level if side == "yes" else (), level if side == "no" else ())
            )
        if book.fresh:
            assert book.to_orderbook() == Orderbook.of("MKT", book.yes_ticks, book.no_ticks)
            assert book.to_orderbook() is book.to_orderbook()  # built once until it changes


def test_seq_tracker_gap_and_new_baseline() -> None:
    seq = SeqTracker()
    assert seq.place(1, 5) == NEXT  # first message sets the baseline
    assert seq.place(1, 6) == NEXT
    assert seq.place(1, 8) == GAP  # 7 lost
    assert seq.place(1, 9) == NEXT  # one gap reported once
    assert seq.place(1, 9) == REPEAT  # a repeat is no second gap
    assert seq.place(2, 1) == NEXT  # other subscriptions are independent
    seq.accept_if_next(1, 42)
    assert seq.place(1, 10) == NEXT
    seq.accept_if_next(1, 11)
    assert seq.place(1, 12) == NEXT
    seq.forget(1)
    assert seq.place(1, 100) == NEXT


def test_seq_tracker_places_a_repeat_apart_from_a_gap() -> None:
    seq = SeqTracker()
    assert seq.place(1, 5) == NEXT  # the first sets the baseline
    assert seq.place(1, 6) == NEXT
    assert seq.place(1, 6) == REPEAT  # delivered twice: the baseline stays
    assert seq.place(1, 7) == NEXT
    assert seq.place(1, 9) == GAP  # 8 lost
    assert seq.place(1, 8) == REPEAT  # late: its loss was the gap
    assert seq.place(1, 10) == NEXT


def test_bookset_reports_transitions_once() -> None:
    messages: list[FeedMessage] = []
    books = BookSet(messages.append, source="ws")
    books.add(["A", "B"])
    books.snapshot("A", snap([["0.50", "1.00"]]))
    books.snapshot("A", snap([["0.50", "2.00"]]))
    assert [(e.kind, e.ticker) for e in messages] == [
        (MessageKind.FRESH, "A"),
        (MessageKind.BOOK, "A"),
        (MessageKind.BOOK, "A"),
    ]
    messages.clear()
    assert books.mark_stale(None, "idle") == ["A"]  # B was never fresh
    assert books.mark_stale(["A"], "idle") == []
    assert messages == [FeedMessage(MessageKind.STALE, "A", reason="idle", source="ws")]
    assert books.orderbook("A") is None
    books.snapshot("C", snap([["0.50", "1.00"]]))  # not a market of this set: ignored
    assert books.get("C") is None


def test_bookset_bad_snapshot_turns_stale() -> None:
    messages: list[FeedMessage] = []
    books = BookSet(messages.append, source="ws")
    books.add(["A"])
    books.snapshot("A", snap([["0.50", "1.00"]]))
    messages.clear()
    books.snapshot("A", snap([["0.50", "-1.00"]]))
    assert messages == [FeedMessage(MessageKind.STALE, "A", reason="bad_snapshot", source="ws")]
    assert not books.is_fresh("A")


# a level: (side, cents, hundredths); a few prices only, so levels are removed and added again
_KEPT_LEVEL = st.tuples(st.sampled_from(["yes", "no"]), st.integers(1, 5), st.integers(1, 300))


def _crosses_the_other_side(book: LocalBook, side: str, ticks: int) -> bool:
    """`ticks` crosses the other side's best bid, its best found by a fresh `max`."""
    other = book.no_ticks if side == "yes" else book.yes_ticks
    return bool(other) and ticks + max(other) >= 10_000


# each side's prices are kept in order as deltas add and remove levels, and a read-out takes
# that order without sorting: whatever sequence of snapshots, deltas and whole books came, the
# kept order must be a fresh sort of the side's prices, the read-out a fresh sort's, and a new
# level crossing the other side's best must still turn the book stale
@settings(deadline=None)
@given(
    st.lists(
        st.one_of(
            # a delta of a signed size, or one taking the level away (to zero, or below it)
            st.tuples(
                st.just("delta"),
                _KEPT_LEVEL,
                st.integers(-300, 300) | st.sampled_from(["to_zero", "below_zero"]),
                st.booleans(),
            ),
            st.tuples(st.just("snapshot"), st.lists(_KEPT_LEVEL, max_size=6), st.booleans()),
            st.tuples(st.just("replace"), st.lists(_KEPT_LEVEL, max_size=6)),
        ),
        max_size=60,
    )
)
# the ways an order kept goes stale, always tried: a level taken away at zero and added again,
# a snapshot replacing a side, a new best bid on the other side that a new level crosses
@example(
    [
        ("snapshot", [("yes", 1, 5), ("yes", 3, 5)], False),
        ("delta", ("yes", 1, 1), "to_zero", False),
        ("delta", ("yes", 2, 1), 7, False),
        ("delta", ("yes", 1, 1), 4, False),
    ]
)
@example(
    [
        ("delta", ("yes", 1, 1), 5, False),
        ("snapshot", [("yes", 2, 5)], False),
        ("delta", ("yes", 3, 1), 5, False),
        ("replace", [("no", 1, 5)]),
    ]
)
@example(
    [
        ("snapshot", [("yes", 1, 5), ("no", 1, 5)], False),
        ("delta", ("no", 4, 1), 5, False),
        ("delta", ("yes", 5, 1), 5, False),
    ]
)
def test_each_sides_kept_order_is_a_fresh_sort_of_its_prices_whatever_changed_it(
    ops: list[tuple[Any, ...]],
) -> None:
    book = LocalBook("MKT")
    for op in ops:
        if op[0] == "delta":
            (_, (side, tens, _), change, yes_priced) = op
            cents = tens * 10 + 5  # 15 to 55 (85 to 45 in YES-leg prices): they can cross
            ticks = 10_000 - cents * 100 if yes_priced and side == "no" else cents * 100
            held = (book.yes_ticks if side == "yes" else book.no_ticks).get(ticks)
            hundredths = change if type(change) is int else -(held or 0) - (change != "to_zero")
            size = (held or 0) + hundredths
            new_crosses = held is None and size > 0 and _crosses_the_other_side(book, side, ticks)
            fresh = book.fresh
            text, delta = f"{D(cents) / 100:.4f}", f"{D(hundredths) / 100:.2f}"
            applied = book.apply_delta(side, text, delta, yes_priced=yes_priced)
            assert applied == (not fresh or (size >= 0 and not new_crosses))
        else:
            levels = {
                (side, tens * 10 + 5): hundredths for side, tens, hundredths in op[1]
            }  # one size a price
            yes = [(D(c) / 100, D(h) / 100) for (s, c), h in levels.items() if s == "yes"]
            no = [(D(c) / 100, D(h) / 100) for (s, c), h in levels.items() if s == "no"]
            if op[0] == "snapshot":
                sides = (
                    [[f"{p:.4f}", f"{q:.2f}"] for p, q in yes],
                    [[f"{p:.4f}", f"{q:.2f}"] for p, q in no],
                )
                with contextlib.suppress(ValueError):  # a crossed one: nothing taken
                    book.apply_snapshot(snap(*sides), yes_priced=op[2])
            elif not (yes and no and max(yes)[0] + max(no)[0] >= 1):  # REST's books never cross
                book.replace(Orderbook("MKT", tuple(yes), tuple(no)))
        assert book.yes_prices == sorted(book.yes_ticks)
        assert book.no_prices == sorted(book.no_ticks)
        if book.fresh:
            fresh_sort = Orderbook(
                "MKT",
                tuple(sorted(book.yes.items(), reverse=True)),
                tuple(sorted(book.no.items(), reverse=True)),
            )
            assert book.to_orderbook() == fresh_sort

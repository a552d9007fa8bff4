"""An event the loop does not trade is read again in full when a fill read lists a fill there
that its views do not count: once for each such fill, whatever its time says. Two fill reads
out at once may book their reads of it in either order: one booked after a later one,
answered or failed, is passed over, and the views hold what the later one knew."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Any

from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.execution.elsewhere import ElsewhereViews, Views
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import PositionView
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.models import Fill, decode_answer
from kalshi_cli.vocabulary.units import BookSide
from tests.runner.fakes import START

B = "KXSOS-26-B"


def no_bought(name: str, market: str = B, **when: int | None) -> Fill:
    """NO 1 on `market` at $0.80, by hand (made at START unless `when` says otherwise)."""
    body: dict[str, Any] = {
        "fill_id": name,
        "order_id": f"order-{name}",
        "market_ticker": market,
        "book_side": BookSide.ASK.value,
        "count_fp": "1",
        "yes_price_dollars": "0.20",
        "fee_cost": "0",
        "ts": int(START),
        **when,
    }
    return decode_answer(Fill, body)


def counting_reads(
    tmp_path: Path, clock: ManualClock
) -> tuple[ElsewhereViews, list[str], EntryLog]:
    """Views of B (event KXSOS-26), built now, whose every read of the event answers NO 1 on B
    and is noted in the list returned; their log, for the test to close."""
    reads: list[str] = []

    def read(event: str) -> Views:
        reads.append(event)
        return {B: PositionView(B, D(-1), D("0.80"), D("0.80"))}

    log = EntryLog(clock, path=tmp_path / "log.jsonl", stderr=None)
    views = ElsewhereViews(markets={B: "KXSOS-26"}, views={}, read=read, clock=clock, log=log)
    return views, reads, log


def test_a_fill_with_no_time_has_its_event_read_once(tmp_path: Path) -> None:
    """The exchange lists a fill on B with neither `created_time` nor `ts` (the spec requires
    neither), with every fill read: its event is read once, not with each of them (two calls
    each, for as long as the read lists it)."""
    clock = ManualClock(START)
    views, reads, log = counting_reads(tmp_path, clock)
    undated = no_bought("undated", ts=None)
    for _ in range(3):
        clock.advance(5)
        views.book(views.rereading(held=False)([undated]))
    assert reads == ["KXSOS-26"]
    log.close()


def test_a_read_answered_before_a_failed_later_one_leaves_the_fill_only_the_later_listed(
    tmp_path: Path,
) -> None:
    """The first read lists one fill on B and reads the event (NO 1); the second, a second
    later, lists a second fill and fails. Booked second first, then first: B counts NO 2, the
    read of the event holding one of them and the fill listed the other; the first read's
    answer, older, had dropped the second fill until the next fill read."""
    clock = ManualClock(START)
    answers: list[Views | Exception] = [
        {B: PositionView(B, D(-1), D("0.80"), D("0.80"))},
        ServerError("request failed: HTTP 503", status=503),
    ]

    def read(event: str) -> Views:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    log = EntryLog(clock, path=tmp_path / "log.jsonl", stderr=None)
    views = ElsewhereViews(markets={B: "KXSOS-26"}, views={}, read=read, clock=clock, log=log)
    first, second = views.rereading(held=False), views.rereading(held=False)
    clock.advance(1)
    answered = first([no_bought("one")])
    clock.advance(1)
    failed = second([no_bought("one"), no_bought("two")])
    views.book(failed)
    views.book(answered)
    held = views.view(B)
    assert held is not None
    assert held.worst_case(BookSide.ASK) == 2
    log.close()


def test_a_fill_made_up_to_two_seconds_before_the_events_read_has_it_read_once_more(
    tmp_path: Path,
) -> None:
    """A fill on B made 2 s (MARGIN_S) before its event's read, which listed it: the positions
    may not hold it yet (reads lag writes), so the next fill read reads the event once more;
    after that, never again for it."""
    clock = ManualClock(START + 1)  # the start's views; the fill was made at START
    views, reads, log = counting_reads(tmp_path, clock)
    fill = no_bought("made")
    clock.advance(1)  # the event's read that lists it: START + 2
    for _ in range(3):
        views.book(views.rereading(held=False)([fill]))
        clock.advance(5)
    assert reads == ["KXSOS-26", "KXSOS-26"]
    log.close()


def test_an_events_failed_read_does_not_keep_another_events_read_from_being_booked(
    tmp_path: Path,
) -> None:
    """One fill read lists a fill on B (event KXSOS-26) and one on H (KXSOS-27): B's event
    cannot be read, H's can. H holds what its read says, whatever became of B's."""
    clock = ManualClock(START)
    h = "KXSOS-27-H"

    def read(event: str) -> Views:
        if event == "KXSOS-26":
            raise ServerError("request failed: HTTP 503", status=503)
        return {h: PositionView(h, D(-1), D("0.80"), D("0.80"))}

    log = EntryLog(clock, path=tmp_path / "log.jsonl", stderr=None)
    markets = {B: "KXSOS-26", h: "KXSOS-27"}
    views = ElsewhereViews(markets=markets, views={}, read=read, clock=clock, log=log)
    clock.advance(1)
    views.book(views.rereading(held=False)([no_bought("b"), no_bought("h", h)]))
    held = views.view(h)
    assert held is not None and held.position == -1
    log.close()


def test_a_read_passed_over_as_stale_still_books_its_other_events_reads(tmp_path: Path) -> None:
    """The first fill read lists fills on B (event KXSOS-26) and H (KXSOS-27) and reads both;
    a later one lists B's again and reads its event. Booked later first: the first's read of
    KXSOS-26 is passed over as older, and its read of KXSOS-27 is still booked."""
    clock = ManualClock(START)
    h = "KXSOS-27-H"

    def read(event: str) -> Views:
        if event == "KXSOS-26":
            return {B: PositionView(B, D(-1), D("0.80"), D("0.80"))}
        return {h: PositionView(h, D(-3), D("2.40"), D("2.40"))}

    log = EntryLog(clock, path=tmp_path / "log.jsonl", stderr=None)
    markets = {B: "KXSOS-26", h: "KXSOS-27"}
    views = ElsewhereViews(markets=markets, views={}, read=read, clock=clock, log=log)
    first, later = views.rereading(held=False), views.rereading(held=False)
    clock.advance(1)
    both = first([no_bought("b"), no_bought("h", h)])
    clock.advance(1)
    views.book(later([no_bought("b")]))
    views.book(both)
    held = views.view(h)
    assert held is not None and held.position == -3
    log.close()

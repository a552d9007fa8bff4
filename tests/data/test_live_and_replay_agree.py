"""One way to apply market data: the same frames give the same books to the live feed
(`FeedSession`, as the trade loop reads them) and to a replay of their recording (`BookReplay`,
as a backtest, `data export` and the import read them). Where a book cannot be exact it is
stale in both, never fresh and wrong in either."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.data.replay import BookReplay, fractional_market, replay
from kalshi_cli.data.segments import SegmentWriter, frame_line
from kalshi_cli.feed.book import BookSet, FeedMessage, MessageKind
from kalshi_cli.feed.messages import decode
from kalshi_cli.feed.session import FeedSession
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import Orderbook
from tests.feed import wire

START_NS = 1_767_225_600 * 10**9
SID = 7
D = Decimal
# a delta's change without its side: what a frame not in its shape still carries
CHANGE = {"price_dollars": "0.4000", "delta_fp": "1.00"}


def live(
    texts: list[str], tickers: tuple[str, ...] = ("A", "B"), *, yes_priced: bool = False
) -> BookSet:
    """The books a live session keeps from `texts`, on an orderbook subscription `SID` that
    asked for NO-leg prices (`yes_priced`: YES-leg)."""
    messages: list[FeedMessage] = []
    books = BookSet(messages.append, source="ws", yes_priced=yes_priced)
    books.add(tickers)
    session = FeedSession(books, messages.append, clock=ManualClock())
    session.open(lambda text: None)
    session.handle(wire.subscribed(1, "orderbook_delta", SID))
    for text in texts:
        session.handle(text)
    return books


def replayed(
    root: Path, texts: list[str], *, yes_priced: bool = False, recorded: bool = True
) -> BookReplay:
    """The replay of a recording of `texts`, made on a connection that asked for NO-leg
    prices (`yes_priced`: YES-leg); `recorded=False`: imported, without the recorder's
    `connected` record."""
    writer = SegmentWriter(root, fsync=False)
    if recorded:
        prices = "yes_leg" if yes_priced else "no_leg"
        connected = json.dumps({"event": "connected", "orderbook_prices": prices}).encode()
        writer.write(START_NS, b'{"recv_ns":%d,"local":%s}\n' % (START_NS, connected))
    for i, text in enumerate(texts, start=1):
        ns = START_NS + i * 10**6
        writer.write(ns, frame_line(ns, text.encode()))
    writer.close()
    return replay(root)


def replayed_book(books: BookReplay, ticker: str) -> Orderbook | None:
    book = books.books.get(ticker)
    return book.to_orderbook() if book is not None and book.fresh else None


def delta(seq: int, ticker: str, **body: Any) -> str:
    msg = {"market_ticker": ticker, **body}
    return json.dumps({"type": "orderbook_delta", "sid": SID, "seq": seq, "msg": msg})


def test_deltas_sent_as_json_numbers_give_the_same_exact_book(tmp_path: Path) -> None:
    """REFERENCE.md: numbers come as strings or JSON numbers, deltas can be fractional."""
    texts = [
        wire.snapshot(SID, 1, "A", yes=[["0.4000", "10.00"]], no=[["0.5000", "5.00"]]),
        delta(2, "A", side="yes", price_dollars=0.4, delta_fp=2.1),
        delta(3, "A", side="no", price_dollars=0.5, delta_fp=0.1),
        delta(4, "A", side="no", price_dollars=0.5, delta_fp=0.2),
        delta(5, "A", side="yes", price_dollars=0.35, delta_fp=3),
    ]
    exact = Orderbook("A", ((D("0.40"), D("12.1")), (D("0.35"), D(3))), ((D("0.5"), D("5.3")),))
    assert live(texts).orderbook("A") == exact
    assert replayed_book(replayed(tmp_path, texts), "A") == exact


def test_a_fraction_sent_as_a_json_number_shows_a_fractional_market() -> None:
    """The recorder and the import keep a market's granularity from its counts: a fractional
    delta sent as a JSON number was refused as a float and the market kept whole, so the
    backtest's venue refused the recorded fractional liquidity."""

    def sized(size: float) -> str:
        return delta(2, "A", side="yes", price_dollars=0.4, delta_fp=size)

    assert fractional_market(decode(sized(0.37))) == "A"
    assert fractional_market(decode(sized(3))) is None


def test_a_switch_of_prices_leaves_no_book_read_in_the_old_ones(tmp_path: Path) -> None:
    """Asked for YES-leg prices, the exchange sends NO-leg ones. A's snapshot does not cross
    either way (YES 0.40, NO 0.55) and is read as a NO bid at 0.45; B's crosses and switches
    the subscription. A stays stale until its next snapshot, read in the prices now known."""
    texts = [
        wire.snapshot(SID, 1, "A", yes=[["0.4000", "10.00"]], no=[["0.5500", "5.00"]]),
        wire.snapshot(SID, 2, "B", yes=[["0.4000", "10.00"]], no=[["0.3000", "5.00"]]),
    ]
    b = Orderbook("B", ((D("0.40"), D(10)),), ((D("0.30"), D(5)),))
    books = live(texts, yes_priced=True)
    assert (books.orderbook("A"), books.orderbook("B")) == (None, b)
    replay = replayed(tmp_path / "switch", texts, yes_priced=True)
    assert (replayed_book(replay, "A"), replayed_book(replay, "B")) == (None, b)
    # the snapshot the live feed asked for, read in NO-leg prices by both
    texts.append(wire.snapshot(SID, 3, "A", yes=[["0.4000", "10.00"]], no=[["0.5500", "5.00"]]))
    a = Orderbook("A", ((D("0.40"), D(10)),), ((D("0.55"), D(5)),))
    assert live(texts, yes_priced=True).orderbook("A") == a
    assert replayed_book(replayed(tmp_path / "again", texts, yes_priced=True), "A") == a


@pytest.mark.parametrize(
    ("frame", "stale"),
    [
        ({"sid": SID, "seq": 3, "msg": {"market_ticker": "A", **CHANGE}}, ["A"]),
        ({"sid": SID, "seq": 3, "msg": {**CHANGE, "side": "yes"}}, ["A", "B"]),
        ({"sid": SID, "msg": {"market_ticker": "A", **CHANGE, "side": "yes"}}, ["A"]),
        ({"msg": {**CHANGE, "side": "yes"}}, ["A", "B"]),
    ],
    ids=["no-side", "no-market", "no-seq", "nothing-but-the-change"],
)
def test_a_delta_not_in_its_shape_leaves_the_books_it_may_have_changed_stale(
    tmp_path: Path, frame: dict[str, Any], stale: list[str]
) -> None:
    """The live feed takes such a frame for malformed and resyncs every book (`WsFeed`). The
    replay counted it (`bad_frame`) and kept the book fresh without the change it carried, so a
    backtest traded on 10 at 0.40 where the exchange held 11."""
    texts = [
        wire.snapshot(SID, 1, "A", yes=[["0.4000", "10.00"]]),
        wire.snapshot(SID, 2, "B", yes=[["0.2000", "1.00"]]),
        json.dumps({"type": "orderbook_delta", **frame}),
        # the next number: a frame without its number took none
        wire.delta(SID, frame.get("seq", 2) + 1, "A", "yes 0.4000 2.00"),
    ]
    books = replayed(tmp_path, texts)
    assert sorted(t for t, book in books.books.items() if not book.fresh) == stale
    assert books.skipped["bad_frame"] == 1


def test_a_subscription_numbered_anew_leaves_the_old_ones_books_stale(tmp_path: Path) -> None:
    """Imported data has no `connected` record: a new connection shows as a snapshot numbered
    from 1 again. The replay restarted the numbers and kept B's book from the old connection
    fresh, adding the new subscription's delta to it before B's own snapshot came."""
    texts = [
        wire.snapshot(SID, 1, "A", yes=[["0.4000", "10.00"]]),
        wire.snapshot(SID, 2, "B", yes=[["0.2000", "1.00"]]),
        wire.delta(SID, 3, "B", "yes 0.2000 1.00"),
        # the next connection: B changed meanwhile, its snapshot not yet here
        wire.snapshot(SID, 1, "A", yes=[["0.4000", "10.00"]]),
        wire.delta(SID, 2, "B", "yes 0.2000 5.00"),
    ]
    a = Orderbook("A", ((D("0.40"), D(10)),), ())
    replay = replayed(tmp_path, texts, recorded=False)
    assert (replayed_book(replay, "A"), replayed_book(replay, "B")) == (a, None)
    assert replay.skipped["seq_gap"] == 1


@pytest.mark.parametrize(
    "levels",
    [
        {"yes": [[40, 10]], "no": [[55, 5]]},  # cents, before the dollar fields
        {"yes_dollars": [["0.400", 10]], "no_dollars": [["0.550", 5]]},
    ],
    ids=["cents", "dollars-without-fp"],
)
def test_a_snapshot_with_levels_only_in_fields_not_read_is_no_empty_book(
    tmp_path: Path, levels: dict[str, Any]
) -> None:
    """asyncapi-2026-03.yaml: a snapshot once carried its levels in `yes`/`no` (cents) and
    `yes_dollars`/`no_dollars` beside `yes_dollars_fp`/`no_dollars_fp`; an absent `_fp` key
    is an empty side. A frame from before the `_fp` fields (an imported recording) was a
    fresh, empty book, which a strategy would quote into as if nobody bid."""
    msg = {"market_ticker": "A", **levels}
    texts = [json.dumps({"type": "orderbook_snapshot", "sid": SID, "seq": 1, "msg": msg})]
    assert live(texts).orderbook("A") is None
    assert replayed_book(replayed(tmp_path, texts), "A") is None


def test_a_repeated_snapshot_does_not_take_the_book_back(tmp_path: Path) -> None:
    """A frame numbered below the next one was applied already (or its loss was a gap, and
    the snapshot asked for since holds its change). A snapshot sent again after the deltas
    that followed it was taken, live and in a replay: the book went back to before them and
    stayed fresh."""
    texts = [
        wire.snapshot(SID, 1, "A", yes=[["0.4000", "10.00"]]),
        wire.snapshot(SID, 2, "B", yes=[["0.2000", "1.00"]]),
        wire.delta(SID, 3, "A", "yes 0.4000 5.00"),
        wire.snapshot(SID, 1, "A", yes=[["0.4000", "10.00"]]),  # the first frame again
        wire.delta(SID, 4, "B", "yes 0.2000 1.00"),
    ]
    a = Orderbook("A", ((D("0.40"), D(15)),), ())
    # before: A went back to 10 and stayed fresh until the next frame showed a gap
    assert live(texts[:4]).orderbook("A") == a
    assert replayed_book(replayed(tmp_path / "repeat", texts[:4]), "A") == a
    b = Orderbook("B", ((D("0.20"), D(2)),), ())
    books = live(texts)
    assert (books.orderbook("A"), books.orderbook("B")) == (a, b)
    replay = replayed(tmp_path / "after", texts)
    assert (replayed_book(replay, "A"), replayed_book(replay, "B")) == (a, b)
    assert replay.skipped["duplicate"] == 1


def test_a_repeated_delta_is_skipped_by_both(tmp_path: Path) -> None:
    """The replay skipped it (`duplicate`) and kept its books; the live feed took it for a gap
    and marked every book stale, so a backtest traded where the loop it rehearses could not."""
    texts = [
        wire.snapshot(SID, 1, "A", yes=[["0.4000", "10.00"]]),
        wire.snapshot(SID, 2, "B", yes=[["0.2000", "1.00"]]),
        wire.delta(SID, 3, "A", "yes 0.4000 5.00"),
        wire.delta(SID, 3, "A", "yes 0.4000 5.00"),  # delivered twice
        wire.delta(SID, 4, "B", "yes 0.2000 1.00"),
    ]
    a = Orderbook("A", ((D("0.40"), D(15)),), ())
    b = Orderbook("B", ((D("0.20"), D(2)),), ())
    books = live(texts)
    assert (books.orderbook("A"), books.orderbook("B")) == (a, b)
    replay = replayed(tmp_path, texts)
    assert (replayed_book(replay, "A"), replayed_book(replay, "B")) == (a, b)


def test_a_snapshot_listing_a_price_twice_is_refused(tmp_path: Path) -> None:
    """Two sizes for one level: 10, 5 or 15 resting at 0.40, no reading knows which. The book
    kept the last, fresh."""
    texts = [wire.snapshot(SID, 1, "A", yes=[["0.4000", "10.00"], ["0.40", "5.00"]])]
    assert live(texts).orderbook("A") is None
    replay = replayed(tmp_path, texts)
    assert replayed_book(replay, "A") is None
    assert replay.skipped["bad_snapshot"] == 1


def test_a_terminal_channel_error_leaves_its_books_stale(tmp_path: Path) -> None:
    """Code 25, buffer overflow: messages of the subscription were dropped and it must be
    subscribed again (REFERENCE.md). The live feed marks its books stale and resubscribes; the
    replay read the error as a reply and kept them fresh without what the overflow lost, until
    the new subscription's snapshots came."""
    overflow = {"type": "error", "sid": SID, "msg": {"code": 25, "msg": "Buffer overflow"}}
    texts = [
        wire.snapshot(SID, 1, "A", yes=[["0.4000", "10.00"]]),
        wire.snapshot(SID, 2, "B", yes=[["0.2000", "1.00"]]),
        json.dumps(overflow),
    ]
    books = live(texts)
    assert (books.orderbook("A"), books.orderbook("B")) == (None, None)
    replay = replayed(tmp_path / "overflow", texts)
    assert (replayed_book(replay, "A"), replayed_book(replay, "B")) == (None, None)
    # the new subscription's snapshots, numbered from 1 on its own sid
    texts += [
        wire.subscribed(9, "orderbook_delta", SID + 1),
        wire.snapshot(SID + 1, 1, "A", yes=[["0.4000", "12.00"]]),
    ]
    replay = replayed(tmp_path / "again", texts)
    assert replayed_book(replay, "A") == Orderbook("A", ((D("0.40"), D(12)),), ())


def test_a_refused_add_markets_leaves_the_market_stale_until_asked_again(tmp_path: Path) -> None:
    """A refused `add_markets` (a command timeout) brings no snapshot: the added market is
    stale live and in the replay. The live feed asks again after `resnapshot_timeout`; the
    granted one's snapshot, recorded like any frame, makes it fresh in both."""
    messages: list[FeedMessage] = []
    books = BookSet(messages.append, source="ws")
    books.add(["A"])
    clock = ManualClock()
    sent: list[dict[str, Any]] = []
    session = FeedSession(books, messages.append, clock=clock)
    session.open(lambda text: sent.append(json.loads(text)))
    received = [
        wire.subscribed(1, "orderbook_delta", SID),
        wire.snapshot(SID, 1, "A", yes=[["0.4000", "10.00"]]),
    ]
    for text in received:
        session.handle(text)
    sent.clear()
    books.add(["C"])
    session.add_markets(["C"])
    received.append(wire.error(sent[-1]["id"], 18, "Command timeout"))
    session.handle(received[-1])
    sent.clear()
    assert books.orderbook("C") is None
    assert replayed_book(replayed(tmp_path / "refused", received), "C") is None
    clock.advance(session.resnapshot_timeout)
    session.tick()
    asked = next(c for c in sent if c["params"].get("action") == "add_markets")
    assert asked["params"]["market_tickers"] == ["C"]
    received += [
        wire.ok(asked["id"], SID),
        wire.snapshot(SID, 2, "C", yes=[["0.3000", "2.00"]]),
        delta(3, "C", side="yes", price_dollars="0.3000", delta_fp="1.00"),
    ]
    for text in received[-3:]:
        session.handle(text)
    book = Orderbook("C", ((D("0.30"), D(3)),), ())
    assert books.orderbook("C") == book
    assert replayed_book(replayed(tmp_path / "granted", received), "C") == book


def test_a_subscription_granted_again_under_the_old_sid_gives_the_same_books(
    tmp_path: Path,
) -> None:
    """The resubscribe after a terminal error may be granted the ended subscription's sid, its
    numbers from 1 again. The replay took its snapshots and deltas; the live feed dropped them
    as the ended subscription's, every book stale where a backtest traded."""
    overflow = {"type": "error", "sid": SID, "msg": {"code": 25, "msg": "Buffer overflow"}}
    texts = [
        wire.snapshot(SID, 1, "A", yes=[["0.4000", "10.00"]]),
        wire.snapshot(SID, 2, "B", yes=[["0.2000", "1.00"]]),
        json.dumps(overflow),
        wire.subscribed(7, "orderbook_delta", SID),
        wire.snapshot(SID, 1, "A", yes=[["0.4000", "12.00"]]),
        wire.snapshot(SID, 2, "B"),
        wire.delta(SID, 3, "A", "yes 0.4000 1.00"),
    ]
    a, b = Orderbook("A", ((D("0.40"), D(13)),), ()), Orderbook("B", (), ())
    books = live(texts)
    assert (books.orderbook("A"), books.orderbook("B")) == (a, b)
    replay = replayed(tmp_path, texts)
    assert (replayed_book(replay, "A"), replayed_book(replay, "B")) == (a, b)


def test_an_error_taking_the_next_number_is_no_gap(tmp_path: Path) -> None:
    """asyncapi.yaml: an error scoped to a subscription of a sequenced channel carries its
    `seq`. A refused `add_markets` (the market limit, asked again every few minutes) taking
    the next number read as a lost message: every book stale and resnapshotted, live and in
    a replay, where an `ok` at the next number is taken as the command's."""
    limit = {
        "id": 9,
        "type": "error",
        "sid": SID,
        "seq": 3,
        "msg": {"code": 26, "msg": "Subscription market limit exceeded"},
    }
    texts = [
        wire.snapshot(SID, 1, "A", yes=[["0.4000", "10.00"]]),
        wire.snapshot(SID, 2, "B", yes=[["0.2000", "1.00"]]),
        json.dumps(limit),
        wire.delta(SID, 4, "A", "yes 0.4000 1.00"),
    ]
    a, b = Orderbook("A", ((D("0.40"), D(11)),), ()), Orderbook("B", ((D("0.20"), D(1)),), ())
    books = live(texts)
    assert (books.orderbook("A"), books.orderbook("B")) == (a, b)
    replay = replayed(tmp_path, texts)
    assert (replayed_book(replay, "A"), replayed_book(replay, "B")) == (a, b)
    assert replay.skipped["seq_gap"] == 0


def test_a_recording_of_a_channel_subscribed_twice_applies_each_change_once(
    tmp_path: Path,
) -> None:
    """A feed of before subscribed the orderbook channel twice (a terminal error's resubscribe,
    then the refusal of a `get_snapshot` sent before it), the exchange granted both, and its
    recordings hold every book frame twice, under two sids. The replay applied each delta
    twice: a book fresh and wrong. One subscription of a channel is read, the first granted,
    live and in a replay; the live feed ends a second one the exchange grants."""
    texts = [
        wire.subscribed(1, "orderbook_delta", SID),
        wire.subscribed(2, "orderbook_delta", SID + 1),  # granted while the first stands
        wire.snapshot(SID, 1, "A", yes=[["0.4000", "10.00"]]),
        wire.snapshot(SID, 2, "B", yes=[["0.2000", "1.00"]]),
        wire.snapshot(SID + 1, 1, "A", yes=[["0.4000", "10.00"]]),
        wire.snapshot(SID + 1, 2, "B", yes=[["0.2000", "1.00"]]),
        # each subscription sends the one change the exchange made
        wire.delta(SID, 3, "A", "yes 0.4000 1.00"),
        wire.delta(SID + 1, 3, "A", "yes 0.4000 1.00"),
    ]
    a, b = Orderbook("A", ((D("0.40"), D(11)),), ()), Orderbook("B", ((D("0.20"), D(1)),), ())
    messages: list[FeedMessage] = []
    books = BookSet(messages.append, source="ws")
    books.add(["A", "B"])
    sent: list[dict[str, Any]] = []
    session = FeedSession(books, messages.append, clock=ManualClock())
    session.open(lambda text: sent.append(json.loads(text)))
    for text in texts:
        session.handle(text)
    assert (books.orderbook("A"), books.orderbook("B")) == (a, b)
    assert (sent[-1]["cmd"], sent[-1]["params"]) == ("unsubscribe", {"sids": [SID + 1]})
    replay = replayed(tmp_path, texts)
    assert (replayed_book(replay, "A"), replayed_book(replay, "B")) == (a, b)


class LiveRecording:
    """Frames handed to a live session and written down as `kalshi record` writes them: each
    frame as it came, then a `local` record of each event of it the recorder keeps (an error,
    a book turned stale or fresh, a gap), with its market and reason."""

    KEPT = frozenset({MessageKind.ERROR, MessageKind.STALE, MessageKind.FRESH, MessageKind.GAP})

    def __init__(self, session: FeedSession, messages: list[FeedMessage]) -> None:
        self.session, self.events = session, messages
        self.ns = START_NS
        connected = {"event": "connected", "orderbook_prices": "no_leg"}
        self.lines = [b'{"recv_ns":%d,"local":%s}\n' % (self.ns, json.dumps(connected).encode())]

    def handle(self, *texts: str) -> None:
        for text in texts:
            self.ns += 10**6
            self.lines.append(frame_line(self.ns, text.encode()))
            self.events.clear()
            self.session.handle(text)
            for event in self.events:
                if event.kind in self.KEPT:
                    body = {
                        "event": event.kind.value,
                        "ticker": event.ticker,
                        "reason": event.reason,
                    }
                    local = json.dumps({k: v for k, v in body.items() if v}).encode()
                    self.lines.append(b'{"recv_ns":%d,"local":%s}\n' % (self.ns, local))

    def replay(self, root: Path) -> BookReplay:
        writer = SegmentWriter(root, fsync=False)
        for line in self.lines:
            writer.write(START_NS, line)
        writer.close()
        return replay(root)


def test_a_refused_snapshot_leaves_the_books_stale_in_a_replay_as_live(tmp_path: Path) -> None:
    """The probe of a quiet subscription asks for one market's snapshot; refused, the live feed
    resubscribes the orderbook channel: every book stale, the old subscription's late frames
    dropped, until the new one's snapshots. The replay saw the error as a reply it could not
    place and kept every book fresh, taking the old subscription's delta: a backtest traded
    where the loop it rehearses could not."""
    messages: list[FeedMessage] = []
    books = BookSet(messages.append, source="ws")
    books.add(["A", "B"])
    clock = ManualClock()
    sent: list[dict[str, Any]] = []
    session = FeedSession(books, messages.append, clock=clock)
    session.open(lambda text: sent.append(json.loads(text)))
    recording = LiveRecording(session, messages)
    recording.handle(
        wire.subscribed(sent[0]["id"], "orderbook_delta", SID),
        wire.snapshot(SID, 1, "A", yes=[["0.4000", "10.00"]]),
        wire.snapshot(SID, 2, "B", yes=[["0.2000", "1.00"]]),
    )
    clock.advance(session.probe_after)
    session.tick()
    assert sent[-1]["params"]["action"] == "get_snapshot"
    recording.handle(
        wire.error(sent[-1]["id"], 18, "Command timeout"),
        wire.delta(SID, 3, "A", "yes 0.4000 1.00"),  # sent before the unsubscribe was read
    )
    assert (books.orderbook("A"), books.orderbook("B")) == (None, None)
    replayed = recording.replay(tmp_path / "refused")
    assert (replayed_book(replayed, "A"), replayed_book(replayed, "B")) == (None, None)
    unsubscribe, subscribe = sent[-2:]
    assert (unsubscribe["cmd"], subscribe["cmd"]) == ("unsubscribe", "subscribe")
    recording.handle(
        json.dumps({"id": unsubscribe["id"], "type": "unsubscribed", "sid": SID, "seq": 4}),
        wire.subscribed(subscribe["id"], "orderbook_delta", SID + 1),
        wire.snapshot(SID + 1, 1, "A", yes=[["0.4000", "12.00"]]),
        wire.snapshot(SID + 1, 2, "B", yes=[["0.2000", "1.00"]]),
    )
    a, b = Orderbook("A", ((D("0.40"), D(12)),), ()), Orderbook("B", ((D("0.20"), D(1)),), ())
    assert (books.orderbook("A"), books.orderbook("B")) == (a, b)
    replayed = recording.replay(tmp_path / "resubscribed")
    assert (replayed_book(replayed, "A"), replayed_book(replayed, "B")) == (a, b)

"""The WebSocket feed: the protocol on fabricated messages, the connection thread on a fake
connection and manual time, and the whole thing against the simulator over a real socket."""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from kalshi_cli.data.replay import BookReplay
from kalshi_cli.feed.book import RECONNECTED, BookSet, FeedMessage, MessageKind
from kalshi_cli.feed.commands import REFUSAL_RETRY_CAP_S
from kalshi_cli.feed.messages import FeedTrade, FillNotice, Lifecycle, decode
from kalshi_cli.feed.session import DEFAULT_CHANNELS, FeedSession
from kalshi_cli.feed.ws import FeedSocket, WsFeed, websocket_connect
from kalshi_cli.vocabulary.clock import Backoff, ManualClock
from kalshi_cli.vocabulary.models import Order, Orderbook
from kalshi_cli.vocabulary.units import Side
from tests.feed import wire
from tests.feed.helpers import SimBooks
from tests.waiting import wait_until

D = Decimal


@dataclass
class Harness:
    session: FeedSession
    books: BookSet
    clock: ManualClock
    messages: list[FeedMessage] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def feed(self, *texts: str) -> None:
        for text in texts:
            self.session.handle(text)

    def kinds(self) -> list[tuple[MessageKind, str | None]]:
        return [(e.kind, e.ticker) for e in self.messages]


def make(tickers: tuple[str, ...] = ("A", "B")) -> Harness:
    messages: list[FeedMessage] = []
    books = BookSet(messages.append, source="ws")
    books.add(tickers)
    clock = ManualClock()
    session = FeedSession(books, messages.append, clock=clock, resnapshot_timeout=2.0)
    h = Harness(session, books, clock, messages)
    session.open(lambda text: h.sent.append(json.loads(text)))
    return h


def subscribed_with_books(h: Harness, sid: int = 7) -> None:
    """Answer the orderbook subscribe and deliver a snapshot of A and B."""
    h.feed(
        wire.subscribed(1, "orderbook_delta", sid),
        wire.snapshot(sid, 1, "A", yes=[["0.4000", "10.00"]], no=[["0.5000", "5.00"]]),
        wire.snapshot(sid, 2, "B", yes=[["0.1000", "1.00"]]),
    )
    h.messages.clear()
    h.sent.clear()


def test_open_subscribes_each_channel_with_the_markets() -> None:
    h = make()
    assert [c["cmd"] for c in h.sent] == ["subscribe"] * len(DEFAULT_CHANNELS)
    assert [c["id"] for c in h.sent] == [1, 2, 3, 4, 5]
    by_channel = {c["params"]["channels"][0]: c["params"] for c in h.sent}
    assert set(by_channel) == {
        "orderbook_delta",
        "ticker",
        "fill",
        "user_orders",
        "market_lifecycle_v2",
    }
    assert by_channel["orderbook_delta"]["market_tickers"] == ["A", "B"]
    assert by_channel["user_orders"]["market_tickers"] == ["A", "B"]
    assert "market_tickers" not in by_channel["market_lifecycle_v2"]


def test_snapshot_then_deltas() -> None:
    h = make()
    subscribed_with_books(h)
    h.feed(
        wire.delta(7, 3, "A", "yes 0.4100 2.00"),
        wire.delta(7, 4, "A", "no 0.5000 -5.00"),
        wire.delta(7, 5, "B", "yes 0.1000 -1.00"),
    )
    a = h.books.orderbook("A")
    assert a == Orderbook("A", ((D("0.41"), D(2)), (D("0.40"), D(10))), ())
    assert h.books.orderbook("B") == Orderbook("B", (), ())
    assert h.kinds() == [(MessageKind.BOOK, "A"), (MessageKind.BOOK, "A"), (MessageKind.BOOK, "B")]
    assert h.sent == []


def test_a_message_of_an_unknown_type_is_skipped_and_the_feed_goes_on() -> None:
    h = make()
    subscribed_with_books(h)
    unknown = json.dumps({"type": "communications", "sid": 12, "seq": 1, "msg": {"id": "rfq"}})
    assert h.session.handle(unknown) is False  # neither market data nor a malformed frame
    assert h.messages == [] and h.sent == []
    h.feed(wire.delta(7, 3, "A", "yes 0.4000 2.00"))
    assert h.books.orderbook("A").yes_bids == ((D("0.40"), D(12)),)  # type: ignore[union-attr]


def test_a_known_message_in_a_wrong_shape_is_a_malformed_frame() -> None:
    h = make()
    subscribed_with_books(h)
    for bad in (
        '{"type": "orderbook_delta", "sid": 7}',  # no seq, no msg
        '{"type": "orderbook_snapshot", "sid": 7, "seq": 3, "msg": {"market_ticker": "A",'
        ' "yes_dollars_fp": [["0.40", "ten"]]}}',
        "[1, 2]",
    ):
        with pytest.raises(ValueError):  # WsFeed resyncs every book on it
            h.session.handle(bad)


def test_prices_and_counts_sent_as_json_numbers_are_read_exactly() -> None:
    """REFERENCE.md: the wire sends numeric fields as strings or as JSON numbers."""
    h = make()
    h.feed(wire.subscribed(1, "orderbook_delta", 7))
    snapshot = {"market_ticker": "A", "yes_dollars_fp": [[0.4, 10]], "no_dollars_fp": [[0.3, 2.5]]}
    h.feed(json.dumps({"type": "orderbook_snapshot", "sid": 7, "seq": 1, "msg": snapshot}))
    assert h.books.orderbook("A") == Orderbook("A", ((D("0.4"), D(10)),), ((D("0.3"), D("2.5")),))
    trade = {"market_ticker": "A", "yes_price_dollars": 0.56, "count_fp": 3, "taker_side": "no"}
    h.feed(json.dumps({"type": "trade", "sid": 9, "seq": 1, "msg": trade}))
    message = h.messages[-1].payload
    assert isinstance(message, FeedTrade) and message.terms() == (D("0.56"), D(3), Side.NO)


def test_a_delta_sent_as_json_numbers_changes_the_level_it_names_exactly() -> None:
    """REFERENCE.md: numeric fields come as strings or JSON numbers, and deltas can be
    fractional. A delta's price and size were read through the binary float a JSON number
    decodes to: 0.4 was the level 0.4000000000000000222..., a new level beside 0.40 that the
    book kept as fresh, and 0.1 contracts were 0.1000000000000000055..."""
    h = make()
    subscribed_with_books(h)  # A: YES 10 at 0.40, NO 5 at 0.50

    def delta(seq: int, side: str, price: float, size: float) -> str:
        body = {"market_ticker": "A", "price_dollars": price, "delta_fp": size, "side": side}
        return json.dumps({"type": "orderbook_delta", "sid": 7, "seq": seq, "msg": body})

    h.feed(delta(3, "yes", 0.4, 2.1), delta(4, "no", 0.5, 0.1), delta(5, "no", 0.5, 0.2))
    no = ((D("0.5"), D("5.3")),)
    assert h.books.orderbook("A") == Orderbook("A", ((D("0.4"), D("12.1")),), no)
    h.feed(delta(6, "yes", 0.4, -12.1))  # the whole level: gone, not a sliver left
    assert h.books.orderbook("A") == Orderbook("A", (), no)


def test_a_delta_whose_size_is_true_is_impossible() -> None:
    """A JSON `true` is no size: it was read as the number 1 (one contract more), leaving the
    book fresh and wrong."""
    h = make()
    subscribed_with_books(h)
    body = {"market_ticker": "A", "price_dollars": "0.4000", "delta_fp": True, "side": "yes"}
    h.feed(json.dumps({"type": "orderbook_delta", "sid": 7, "seq": 3, "msg": body}))
    assert not h.books.is_fresh("A")
    assert (MessageKind.STALE, "A", "bad_delta") in [
        (e.kind, e.ticker, e.reason) for e in h.messages
    ]


def test_a_trade_missing_its_count_is_passed_on_for_its_reader_to_skip() -> None:
    """Not a malformed frame (that would resync every book): a trade the venue cannot fill
    from, which its applier counts as `bad_trade`."""
    h = make()
    subscribed_with_books(h)
    trade = {"market_ticker": "A", "yes_price_dollars": "0.4000", "taker_outcome_side": "no"}
    h.feed(json.dumps({"type": "trade", "sid": 9, "seq": 1, "msg": trade}))
    [event] = h.messages
    assert event.kind is MessageKind.TRADE and isinstance(event.payload, FeedTrade)
    assert event.payload.terms() is None
    assert h.books.is_fresh("A") and h.sent == []


def test_gap_marks_every_market_of_the_subscription_stale_and_resnapshots() -> None:
    h = make()
    subscribed_with_books(h)
    h.feed(wire.delta(7, 4, "A", "yes 0.4000 1.00"))  # seq 3 was lost
    assert not h.books.is_fresh("A") and not h.books.is_fresh("B")
    assert {(e.kind, e.ticker, e.reason) for e in h.messages} == {
        (MessageKind.STALE, "A", "seq_gap"),
        (MessageKind.STALE, "B", "seq_gap"),
    }
    assert h.sent == [
        {
            "id": 6,
            "cmd": "update_subscription",
            "params": {"sids": [7], "market_tickers": ["A", "B"], "action": "get_snapshot"},
        }
    ]
    # deltas for a stale book are ignored; a second gap does not repeat the request
    h.feed(wire.delta(7, 5, "A", "yes 0.4000 100.00"))
    h.feed(wire.delta(7, 9, "B", "yes 0.3000 1.00"))
    assert len(h.sent) == 1
    h.feed(wire.ok(6, 7), wire.snapshot(7, 10, "A", yes=[["0.4000", "11.00"]]))
    assert h.books.orderbook("A") == Orderbook("A", ((D("0.40"), D(11)),), ())
    assert not h.books.is_fresh("B")
    h.feed(wire.snapshot(7, 11, "B"))
    assert h.books.is_fresh("B")
    h.feed(wire.delta(7, 12, "B", "no 0.2000 3.00"))
    assert h.books.orderbook("B") == Orderbook("B", (), ((D("0.20"), D(3)),))


def test_snapshot_after_a_gap_is_taken_but_the_others_resync() -> None:
    h = make()
    subscribed_with_books(h)
    h.feed(wire.snapshot(7, 9, "A", yes=[["0.3000", "1.00"]]))
    assert h.books.is_fresh("A")
    assert not h.books.is_fresh("B")
    assert h.sent[-1]["params"]["market_tickers"] == ["B"]


def test_unanswered_snapshot_request_is_repeated() -> None:
    h = make()
    subscribed_with_books(h)
    h.feed(wire.delta(7, 5, "A", "yes 0.4000 1.00"))
    assert len(h.sent) == 1
    h.clock.advance(1.0)
    h.session.tick()
    assert len(h.sent) == 1
    h.clock.advance(1.5)
    h.session.tick()
    assert len(h.sent) == 2
    assert h.sent[1]["params"]["action"] == "get_snapshot"
    assert sorted(h.sent[1]["params"]["market_tickers"]) == ["A", "B"]


def test_refused_get_snapshot_resubscribes_the_channel() -> None:
    h = make()
    subscribed_with_books(h)
    h.feed(wire.delta(7, 5, "A", "yes 0.4000 1.00"))
    h.feed(wire.error(6, 13, "Unsupported action"))
    assert [c["cmd"] for c in h.sent[1:]] == ["unsubscribe", "subscribe"]
    assert h.sent[1]["params"] == {"sids": [7]}
    assert h.sent[2]["params"] == {
        "channels": ["orderbook_delta"],
        "market_tickers": ["A", "B"],
        "use_yes_price": False,
    }
    assert any(e.kind is MessageKind.ERROR for e in h.messages)
    # late messages of the old subscription are dropped; the new one starts from its snapshot
    h.feed(wire.delta(7, 6, "A", "yes 0.9000 1.00"))
    h.feed(wire.subscribed(8, "orderbook_delta", 9), wire.snapshot(9, 1, "A"))
    assert h.books.orderbook("A") == Orderbook("A", (), ())


def test_a_refused_orderbook_subscription_is_asked_for_again() -> None:
    """Code 18 (command timeout), 1 (processing error): a refusal that may pass. The books were
    marked stale and nothing asked again; the other channels' messages kept the connection
    alive, so no book could turn fresh until the connection died of something else, and the
    trade loop placed nothing for as long."""
    h = make()
    h.sent.clear()
    h.feed(wire.error(1, 18, "Command timeout"))
    h.clock.advance(1.0)
    h.session.tick()
    assert h.sent == []  # not at once: a refusal that lasts is asked again at a walk
    h.clock.advance(1.5)
    h.session.tick()
    assert [(c["cmd"], c["params"]["channels"]) for c in h.sent] == [
        ("subscribe", ["orderbook_delta"])
    ]
    cid = h.sent[0]["id"]
    h.feed(wire.subscribed(cid, "orderbook_delta", 9), wire.snapshot(9, 1, "A"))
    assert h.books.orderbook("A") == Orderbook("A", (), ())
    h.clock.advance(5.0)
    h.session.tick()
    assert [c["cmd"] for c in h.sent].count("subscribe") == 1  # answered: not asked again


@pytest.mark.parametrize("channel", ["ticker", "fill", "user_orders", "market_lifecycle_v2"])
def test_a_refused_subscription_of_any_channel_is_asked_for_again(channel: str) -> None:
    """Not the orderbook's alone: a refused `fill` or `user_orders` subscription was never asked
    for again, so for the life of the connection the loop heard of its fills only by its fill
    poll and never of its orders' updates."""
    h = make()
    cid = next(c["id"] for c in h.sent if c["params"]["channels"] == [channel])
    h.sent.clear()
    h.feed(wire.error(cid, 18, "Command timeout"))
    h.clock.advance(1.0)
    h.session.tick()
    assert h.sent == []
    h.clock.advance(1.5)
    h.session.tick()
    assert [(c["cmd"], c["params"]["channels"]) for c in h.sent] == [("subscribe", [channel])]
    if channel != "market_lifecycle_v2":  # the markets asked for again are every market's
        assert h.sent[0]["params"]["market_tickers"] == ["A", "B"]
    h.feed(wire.subscribed(h.sent[0]["id"], channel, 9))
    h.clock.advance(5.0)
    h.session.tick()
    assert [c["cmd"] for c in h.sent].count("subscribe") == 1  # granted: not asked again


def refuse_every_ask(
    h: Harness, seconds: float, code: int, asked: Callable[[dict[str, Any]], bool]
) -> tuple[list[float], list[tuple[float, str]]]:
    """Tick every half second for `seconds`, answering each command `asked` picks with error
    `code` at once: when (seconds from the start) it was asked, and the `error` messages said."""
    start = h.clock.monotonic()
    asks: list[float] = []
    said: list[tuple[float, str]] = []
    for _ in range(int(seconds * 2)):
        h.clock.advance(0.5)
        h.session.tick()
        sent, h.sent[:] = list(h.sent), []
        h.messages.clear()
        for command in sent:
            if asked(command):
                asks.append(h.clock.monotonic() - start)
                h.feed(wire.error(command["id"], code, "refused"))
        now = h.clock.monotonic() - start
        said += [(now, str(e.reason)) for e in h.messages if e.kind is MessageKind.ERROR]
    return asks, said


def subscribe_of(channel: str) -> Callable[[dict[str, Any]], bool]:
    return lambda c: c["cmd"] == "subscribe" and c["params"]["channels"] == [channel]


def adding(command: dict[str, Any]) -> bool:
    return bool(command["params"].get("action") == "add_markets")


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_a_refusal_that_lasts_is_asked_again_ever_more_slowly_up_to_the_cap() -> None:
    """Code 26 (market limit exceeded), 9 (authentication required), 8 (unknown channel): a
    refusal that cannot pass was asked again every `resnapshot_timeout` for the life of the
    process, a command the exchange refused each time. The wait doubles from
    `resnapshot_timeout` to the cap, and the channel is still asked for there (a limit may be
    lifted)."""
    h = make()
    cid = next(c["id"] for c in h.sent if c["params"]["channels"] == ["fill"])
    h.sent.clear()
    h.feed(wire.error(cid, 26, "Subscription market limit exceeded"))
    asks, _ = refuse_every_ask(h, 1500.0, 26, subscribe_of("fill"))
    # the first after resnapshot_timeout (2 s here), each later wait twice the one before
    assert asks[:4] == [2.0, 6.0, 14.0, 30.0]
    assert gaps(asks)[:7] == [4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]
    assert gaps(asks)[7:] == [REFUSAL_RETRY_CAP_S] * len(gaps(asks)[7:])
    assert len(asks) >= 10  # asked at the cap again and again, never given up
    assert 60.0 <= REFUSAL_RETRY_CAP_S <= 600.0  # a few minutes


def test_a_refusal_that_lasts_is_said_once_then_once_per_cap_with_its_count() -> None:
    """Every refusal was an `error` message, a log line every 5 s for the life of the process.
    The first is said; a repeat of the same code only once the cap has passed since the last
    said, with how many refusals in a row there have been; another code at once."""
    h = make()
    cid = next(c["id"] for c in h.sent if c["params"]["channels"] == ["user_orders"])
    h.sent.clear()
    h.feed(wire.error(cid, 9, "Authentication required"))
    assert [str(e.reason) for e in h.messages if e.kind is MessageKind.ERROR] == ["subscribe: 9"]
    asks, said = refuse_every_ask(h, 1500.0, 9, subscribe_of("user_orders"))
    assert len(said) < len(asks) / 2
    times = [0.0] + [at for at, _ in said]
    assert all(gap >= REFUSAL_RETRY_CAP_S for gap in gaps(times)), said
    assert said and all(reason.startswith("subscribe: 9 (user_orders, ") for _, reason in said)
    in_a_row = len([at for at in asks if at <= said[-1][0]]) + 1
    assert said[-1][1] == f"subscribe: 9 (user_orders, refusal {in_a_row} in a row)"
    # a refusal of another code is news: said at once
    _, said = refuse_every_ask(h, REFUSAL_RETRY_CAP_S, 18, subscribe_of("user_orders"))
    assert said and said[0][1].startswith("subscribe: 18")


def test_a_granted_subscription_asks_a_later_refusal_again_after_the_first_wait() -> None:
    """The wait grows while refusals last; once the channel is granted, a later refusal (a
    command timeout that passes at once) is asked again after `resnapshot_timeout`, and said."""
    h = make()
    subscribed_with_books(h)
    h.books.add(["C"])
    h.session.add_markets(["C"])
    h.feed(wire.error(h.sent[0]["id"], 26, "Subscription market limit exceeded"))
    h.sent.clear()
    asks, _ = refuse_every_ask(h, 70.0, 26, adding)
    assert gaps(asks)[:3] == [4.0, 8.0, 16.0]  # the wait grew
    for _ in range(300):  # the limit lifted: the next ask of C is granted
        h.clock.advance(0.5)
        h.session.tick()
        add = next((c for c in h.sent if adding(c)), None)
        if add is not None:
            break
    assert add is not None
    h.sent.clear()
    h.feed(wire.ok(add["id"], 7), wire.snapshot(7, 3, "C"))
    h.books.add(["D"])
    h.session.add_markets(["D"])
    h.messages.clear()
    h.feed(wire.error(h.sent[-1]["id"], 18, "Command timeout"))
    assert [str(e.reason) for e in h.messages if e.kind is MessageKind.ERROR] == ["add_markets: 18"]
    h.sent.clear()
    asks, _ = refuse_every_ask(h, 10.0, 18, adding)
    assert asks[:2] == [2.0, 6.0]  # from the first wait again


def test_a_refused_add_markets_is_asked_for_again_and_the_market_turns_fresh() -> None:
    """An `update_subscription` adding markets refused (a command timeout) left the added markets
    out of the subscription: no snapshot came, their books stayed stale, and nothing asked
    again while the other markets' data kept the connection up."""
    h = make()
    subscribed_with_books(h)
    h.books.add(["C"])
    h.session.add_markets(["C"])
    add = h.sent[0]
    assert (add["cmd"], add["params"]["action"]) == ("update_subscription", "add_markets")
    h.sent.clear()
    h.feed(wire.error(add["id"], 18, "Command timeout"))
    assert h.books.orderbook("C") is None
    h.clock.advance(1.0)
    h.session.tick()
    assert h.sent == []
    h.clock.advance(1.5)
    h.session.tick()
    assert [(c["cmd"], c["params"]) for c in h.sent] == [
        ("update_subscription", {"sids": [7], "market_tickers": ["C"], "action": "add_markets"})
    ]
    h.feed(wire.ok(h.sent[0]["id"], 7), wire.snapshot(7, 3, "C"))
    assert h.books.orderbook("C") == Orderbook("C", (), ())
    assert h.books.orderbook("A") is not None  # the others stayed fresh throughout
    h.clock.advance(5.0)
    h.session.tick()
    adds = [c for c in h.sent if c["params"]["action"] == "add_markets"]
    assert len(adds) == 1  # granted: not asked again


def test_a_refused_add_markets_asks_only_for_the_markets_still_wanted() -> None:
    h = make()
    subscribed_with_books(h)
    h.books.add(["C", "D"])
    h.session.add_markets(["C", "D"])
    h.feed(wire.error(h.sent[0]["id"], 1, "Unable to process message"))
    h.session.remove_markets(["D"])
    h.books.remove(["D"])
    h.sent.clear()
    h.clock.advance(2.5)
    h.session.tick()
    assert [c["params"]["market_tickers"] for c in h.sent] == [["C"]]


def test_no_snapshot_is_asked_for_a_market_its_subscription_refused_to_add() -> None:
    """The simulator, and maybe the exchange, answers `get_snapshot` for any market: a probe
    of the quiet subscription, or a resnapshot after a gap, naming a market whose `add_markets`
    was refused made its book fresh while none of its deltas could come, a book frozen as
    fresh. Until an `add_markets` of it is granted, no snapshot of it is asked for."""
    h = make()
    subscribed_with_books(h)
    h.books.add(["C"])
    h.session.add_markets(["C"])
    for _ in range(12):  # every re-ask refused again (the market limit, code 26)
        for command in list(h.sent):
            if command["params"].get("action") == "add_markets":
                h.feed(wire.error(command["id"], 26, "Subscription market limit exceeded"))
        h.sent.clear()
        h.clock.advance(1.0)
        h.session.tick()
        asked = [c["params"] for c in h.sent if c["params"].get("action") == "get_snapshot"]
        assert all("C" not in params["market_tickers"] for params in asked), asked
    h.feed(wire.delta(7, 3, "A", "yes 0.1000 1.00"), wire.delta(7, 5, "A", "yes 0.1000 1.00"))
    asked = [c["params"] for c in h.sent if c["params"].get("action") == "get_snapshot"]
    assert asked and all("C" not in params["market_tickers"] for params in asked)
    assert h.books.orderbook("C") is None


def test_a_gap_while_markets_are_being_added_resnapshots_them_once_they_are_added() -> None:
    """A gap between an added market's snapshot and the `ok` of its `add_markets` makes it
    stale, and no snapshot of a market outside the subscription is asked for: the `ok` asks
    for it, or its book would stay stale on a busy subscription, never probed."""
    h = make()
    subscribed_with_books(h)
    h.books.add(["C"])
    h.session.add_markets(["C"])
    add = h.sent[0]
    h.feed(wire.snapshot(7, 3, "C"), wire.delta(7, 5, "A", "yes 0.4000 1.00"))  # 4 lost
    assert h.books.orderbook("C") is None
    h.sent.clear()
    h.feed(wire.ok(add["id"], 7))
    assert [(c["params"]["action"], c["params"]["market_tickers"]) for c in h.sent] == [
        ("get_snapshot", ["C"])
    ]
    h.feed(wire.snapshot(7, 6, "C"))
    assert h.books.orderbook("C") == Orderbook("C", (), ())


def test_a_refused_snapshot_is_asked_for_again() -> None:
    """A snapshot with an impossible level leaves its market stale, as an impossible delta
    does; the delta asks for a snapshot, the refused snapshot asked for none. A busy
    subscription is never probed, so the market stayed stale for the connection's life."""
    h = make()
    subscribed_with_books(h)
    h.feed(wire.snapshot(7, 3, "A", yes=[["0.4000", "-1.00"]]))
    assert h.books.orderbook("A") is None
    seq = itertools.count(4)
    for _ in range(6):  # B's deltas keep the subscription busy for 3 s
        h.clock.advance(0.5)
        h.feed(wire.delta(7, next(seq), "B", "yes 0.1000 1.00"))
        h.session.tick()
    asked = [c["params"] for c in h.sent if c["params"].get("action") == "get_snapshot"]
    assert [p["market_tickers"] for p in asked] == [["A"]]  # after `resnapshot_timeout`, 2 s
    h.feed(wire.snapshot(7, next(seq), "A", yes=[["0.4000", "3.00"]]))
    assert h.books.orderbook("A") == Orderbook("A", ((D("0.40"), D(3)),), ())


def test_terminal_channel_error_resubscribes() -> None:
    h = make()
    subscribed_with_books(h)
    h.feed(wire.error(0, 25, "Subscription buffer overflow", sid=7))
    assert not h.books.is_fresh("A")
    assert [c["cmd"] for c in h.sent] == ["unsubscribe", "subscribe"]


def test_a_channel_subscribed_twice_never_applies_a_change_twice() -> None:
    """A buffer overflow ended the orderbook subscription while the snapshot a gap asked for
    was unanswered: the resubscribe, then the refusal of that `get_snapshot` (its sid is gone),
    each subscribed the channel, and the exchange grants both. Two subscriptions of one market
    sent every delta twice and both were applied: a book fresh and wrong."""
    h = make()
    subscribed_with_books(h)
    h.feed(wire.delta(7, 4, "A", "yes 0.4000 1.00"))  # seq 3 lost: a snapshot is asked for
    asked = h.sent[-1]["id"]
    h.feed(wire.error(0, 25, "Subscription buffer overflow", sid=7))
    h.feed(wire.error(asked, 7, "Unknown subscription ID"))
    granted = []
    for sid, command in enumerate((c for c in h.sent if c["cmd"] == "subscribe"), start=20):
        granted.append(sid)
        h.feed(
            wire.subscribed(command["id"], "orderbook_delta", sid),
            wire.snapshot(sid, 1, "A", yes=[["0.4000", "10.00"]]),
            wire.snapshot(sid, 2, "B"),
        )
    for sid in granted:  # each subscription sends the one change the exchange made
        h.feed(wire.delta(sid, 3, "A", "yes 0.4000 1.00"))
    assert h.books.orderbook("A") == Orderbook("A", ((D("0.40"), D(11)),), ())
    assert h.books.orderbook("B") == Orderbook("B", (), ())


def test_ok_with_the_next_seq_is_not_a_gap_either_way() -> None:
    """Either reading of an `ok`'s `seq`, with its market list or without it (a subscription
    made with `skip_ticker_ack`)."""
    h = make()
    subscribed_with_books(h)
    h.feed(wire.ok(6, 7, seq=2, tickers=["A", "B"]))  # reports the current seq: not consumed
    h.feed(wire.delta(7, 3, "A", "yes 0.4000 1.00"))
    h.feed(wire.ok(7, 7, seq=4))  # consumes a number
    h.feed(wire.delta(7, 5, "A", "yes 0.4000 1.00"))
    assert h.books.is_fresh("A") and h.books.is_fresh("B")
    assert h.books.orderbook("A").yes_bids == ((D("0.40"), D(12)),)  # type: ignore[union-attr]


def test_impossible_delta_resnapshots_that_market_only() -> None:
    h = make()
    subscribed_with_books(h)
    h.feed(wire.delta(7, 3, "A", "no 0.5000 -6.00"))
    assert not h.books.is_fresh("A") and h.books.is_fresh("B")
    assert h.sent[0]["params"]["market_tickers"] == ["A"]
    assert (MessageKind.STALE, "A") in h.kinds()


def test_private_and_market_messages_pass_through() -> None:
    h = make()
    h.feed(
        wire.subscribed(3, "fill", 2),
        wire.fill(2, "A"),
        wire.user_order(4, "A"),
        wire.ticker_msg(5, "B"),
        wire.lifecycle(6, 1, "A"),
        wire.lifecycle(6, 2, "OTHER"),  # lifecycle covers every market: only ours are passed
        wire.lifecycle(6, 4, "B", "settled"),  # seq 3 lost
    )
    kinds = h.kinds()
    assert kinds == [
        (MessageKind.FILL, "A"),
        (MessageKind.USER_ORDER, "A"),
        (MessageKind.TICKER, "B"),
        (MessageKind.LIFECYCLE, "A"),
        (MessageKind.GAP, None),
        (MessageKind.LIFECYCLE, "B"),
    ]
    fill = h.messages[0].payload
    assert isinstance(fill, FillNotice) and fill.count == Decimal("278.00")
    order = h.messages[1].payload
    assert isinstance(order, Order) and order.remaining_count == Decimal("10.00")
    lifecycle = h.messages[5].payload
    assert isinstance(lifecycle, Lifecycle) and lifecycle.event_type == "settled"


def test_public_trades_pass_through_and_a_trade_seq_gap_is_reported() -> None:
    h = make()
    h.feed(wire.trade(9, 1, "A"), wire.trade(9, 2, "B"), wire.trade(9, 4, "A"))
    assert h.kinds() == [
        (MessageKind.TRADE, "A"),
        (MessageKind.TRADE, "B"),
        (MessageKind.GAP, None),
        (MessageKind.TRADE, "A"),
    ]
    assert h.messages[2].reason == "trade"
    trade = h.messages[0].payload
    assert isinstance(trade, FeedTrade) and trade.count == Decimal("136.00")


def _grant_lifecycle(h: Harness, sid: int) -> None:
    """Answer the last subscribe of the lifecycle channel with `sid`."""
    (*_, command) = (c for c in h.sent if c["params"].get("channels") == ["market_lifecycle_v2"])
    h.feed(wire.subscribed(command["id"], "market_lifecycle_v2", sid))


def test_a_lifecycle_subscription_begun_again_is_a_gap_of_the_channel() -> None:
    """The lifecycle channel has no snapshot: what it said while no subscription of it was read
    (a reconnect, the resubscribe after a terminal error) is never said on the new one, so the
    new one is reported as a gap of the channel, as a lost number is, and the trade loop reads
    its markets' state again. The feed's first subscription is no gap. On the old code a new
    subscription was numbered anew and said nothing: a close or resume sent meanwhile was lost
    without a word."""
    h = make()
    _grant_lifecycle(h, 6)
    h.feed(wire.lifecycle(6, 1, "A"))
    assert h.kinds() == [(MessageKind.LIFECYCLE, "A")]
    h.messages.clear()
    h.session.close()
    h.session.open(lambda text: h.sent.append(json.loads(text)))  # a new connection
    _grant_lifecycle(h, 6)
    h.feed(wire.lifecycle(6, 1, "B"))  # numbered anew: no gap of its own
    gaps = [e.reason for e in h.messages if e.kind is MessageKind.GAP]
    assert gaps == ["market_lifecycle_v2"]
    assert h.kinds() == [(MessageKind.GAP, None), (MessageKind.LIFECYCLE, "B")]
    h.messages.clear()
    h.feed(wire.error(0, 25, "Subscription buffer overflow", sid=6))
    _grant_lifecycle(h, 9)
    assert [e.reason for e in h.messages if e.kind is MessageKind.GAP] == ["market_lifecycle_v2"]


@pytest.mark.parametrize("channel", ["trade", "lifecycle"])
@pytest.mark.parametrize(
    ("seqs", "real"),
    [([1, 2, 4, 4, 5], 1), ([1, 2, 4, 3, 5, 6], 1), ([1, 2, 2, 3], 0)],
    ids=["gap-then-delivered-twice", "gap-then-late", "delivered-twice"],
)
def test_a_message_numbered_below_the_next_is_no_second_gap(
    channel: str, seqs: list[int], real: int
) -> None:
    """The trade and lifecycle channels have no snapshot to resync from: a gap is reported
    once. A message numbered below the next one (sent twice, or the lost one arriving late)
    was counted as a gap and taken as the new baseline, so the next message in order was a
    gap again: a `gap` message for each, where a replay of the same frames counts the real
    one alone."""
    h = make()
    message = wire.trade if channel == "trade" else wire.lifecycle
    frames = [message(9, seq, "A") for seq in seqs]
    h.feed(*frames)
    gaps = [e.reason for e in h.messages if e.kind is MessageKind.GAP]
    kind = "trade" if channel == "trade" else "market_lifecycle_v2"
    assert gaps == [kind] * real
    replay = BookReplay()
    for text in frames:
        replay.apply(0, decode(text))
    assert replay.skipped[f"{kind}_seq_gap"] == real


def test_unfiltered_session_subscribes_every_market_but_never_an_unfiltered_book() -> None:
    messages: list[FeedMessage] = []
    books = BookSet(messages.append, source="ws")
    session = FeedSession(
        books,
        messages.append,
        clock=ManualClock(),
        channels=("orderbook_delta", "trade", "fill"),
        unfiltered=True,
    )
    sent: list[dict[str, Any]] = []
    session.open(lambda text: sent.append(json.loads(text)))
    assert [c["params"] for c in sent] == [{"channels": ["trade"]}, {"channels": ["fill"]}]


def test_frame_sink_gets_every_text_frame_before_its_events_with_the_receive_time() -> None:
    clock = ManualClock()
    server = wire.FakeServer(clock)
    server.books["A"] = ([["0.4000", "3.00"]], [])
    order: list[str] = []
    frames: list[tuple[bytes, int]] = []

    def frame_sink(data: bytes, recv_ns: int) -> None:
        frames.append((data, recv_ns))
        order.append("frame")

    def sink(message: FeedMessage) -> None:
        order.append(message.kind.value)

    stamps = iter(range(1_000, 10**9, 7))
    feed = WsFeed(
        "ws://sim.invalid/trade-api/ws/v2",
        ["A"],
        sink=sink,
        clock=clock,
        idle_timeout=1.0,
        connector=server.connect,
        frame_sink=frame_sink,
        wall_ns=lambda: next(stamps),
    )
    stop = running(feed)
    try:
        wait_until(lambda: feed.is_fresh("A"), 'feed.is_fresh("A")')
        conn = server.connections[0]
        raw = '{"type":"trade",  "sid":99,"seq":1,"msg":{"market_ticker":"A"}}'
        conn.push(raw)
        wait_until(
            lambda: any(data == raw.encode() for data, _ in frames),
            "any(data == raw.encode() for data, _ in frames)",
        )
    finally:
        stop()
    texts = [json.loads(data) for data, _ in frames]
    assert [t["type"] for t in texts][:2] == ["subscribed", "orderbook_snapshot"]
    assert texts[1]["msg"]["yes_dollars_fp"] == [["0.4000", "3.00"]]
    stamps_seen = [ns for _, ns in frames]
    assert stamps_seen == sorted(stamps_seen) and len(set(stamps_seen)) == len(stamps_seen)
    # the snapshot frame is handed over before the FRESH and BOOK messages it causes
    assert order.index("fresh") > order.index("frame", order.index("connected") + 2)


def test_markets_added_and_removed_on_a_live_subscription() -> None:
    h = make(("A",))
    h.feed(wire.subscribed(1, "orderbook_delta", 7), wire.subscribed(4, "user_orders", 8))
    h.sent.clear()
    h.books.add(["C"])
    h.session.add_markets(["C"])
    updates = [c for c in h.sent if c["cmd"] == "update_subscription"]
    assert {(c["params"]["sids"][0], c["params"]["action"]) for c in updates} == {
        (7, "add_markets"),
        (8, "add_markets"),
    }
    # ticker and fill were never acknowledged: they are still pending, not subscribed twice
    assert not [c for c in h.sent if c["cmd"] == "subscribe"]
    h.sent.clear()
    h.session.remove_markets(["C"])
    assert {c["params"]["action"] for c in h.sent} == {"delete_markets"}


def test_a_market_added_while_its_channel_is_being_subscribed_is_added_once_granted() -> None:
    """A market added while the subscribes sent at the connection's start were unanswered was
    left to those subscribes, which did not carry it: it was never in a subscription. The
    probes of the quiet subscription then asked for its snapshot, which the simulator (and
    maybe the exchange) answers for any market: its book turned fresh, and stayed fresh and
    frozen, none of its deltas ever coming."""
    h = make()
    h.books.add(["C"])
    h.session.add_markets(["C"])  # every subscribe sent at open still awaits its answer
    h.feed(
        wire.subscribed(1, "orderbook_delta", 7),
        wire.snapshot(7, 1, "A", yes=[["0.4000", "10.00"]]),
        wire.snapshot(7, 2, "B"),
        wire.subscribed(4, "user_orders", 8),
    )
    seq = itertools.count(3)
    for _ in range(6):  # quiet: the subscription is probed, one market after another
        h.clock.advance(h.session.probe_after)
        h.session.tick()
        for command in h.sent:
            if command["params"].get("action") == "get_snapshot":
                for ticker in command["params"]["market_tickers"]:
                    h.feed(wire.snapshot(7, next(seq), ticker, yes=[["0.2000", "1.00"]]))
        assert h.books.orderbook("C") is None  # outside the subscription: no delta would come
        h.sent[:] = [c for c in h.sent if c["params"].get("action") != "get_snapshot"]
    adds = {c["params"]["sids"][0]: c for c in h.sent if c["params"].get("action") == "add_markets"}
    assert {sid: c["params"]["market_tickers"] for sid, c in adds.items()} == {7: ["C"], 8: ["C"]}
    h.feed(wire.snapshot(7, next(seq), "C", yes=[["0.3000", "2.00"]]))
    h.feed(wire.ok(adds[7]["id"], 7, seq=next(seq), tickers=["A", "B", "C"]))
    assert h.books.orderbook("C") == Orderbook("C", ((D("0.30"), D(2)),), ())


def test_a_market_followed_has_its_orders_and_lifecycle_heard_and_no_book() -> None:
    """A market followed with no book (the trade loop's event's market it does not trade) joins
    the `user_orders` subscription alone: once granted, when followed while it was asked for,
    again after a refusal, and in the subscribe of the next connection. Its lifecycle passes on
    as a booked market's does. Before, neither reached the loop: the subscription carried the
    booked markets alone, and the lifecycle of a market with no book was dropped."""
    h = make()
    h.session.follow(["C", "A"])  # A has its book: followed already
    h.feed(wire.subscribed(4, "user_orders", 8))
    add = {"sids": [8], "market_tickers": ["C"], "action": "add_markets"}
    assert [c["params"] for c in h.sent if c["cmd"] == "update_subscription"] == [add]
    h.feed(wire.error(h.sent[-1]["id"], 18, "Command timeout"))
    h.sent.clear()
    h.clock.advance(2.5)
    h.session.tick()
    assert [c["params"] for c in h.sent] == [add]
    h.messages.clear()  # the refusal's
    h.session.close()
    h.sent.clear()
    h.session.open(lambda text: h.sent.append(json.loads(text)))
    carried = {c["params"]["channels"][0]: c["params"].get("market_tickers") for c in h.sent}
    assert carried["user_orders"] == ["A", "B", "C"]
    assert carried["orderbook_delta"] == carried["fill"] == ["A", "B"]
    h.feed(
        wire.user_order(4, "C"),
        wire.lifecycle(6, 1, "C", "settled"),
        wire.lifecycle(6, 2, "OTHER", "settled"),
    )
    assert h.kinds() == [(MessageKind.USER_ORDER, "C"), (MessageKind.LIFECYCLE, "C")]
    assert h.books.get("C") is None


def test_no_markets_means_no_market_filtered_subscription() -> None:
    h = make(())
    assert [c["params"]["channels"][0] for c in h.sent] == ["market_lifecycle_v2"]
    h.sent.clear()
    h.books.add(["A"])
    h.session.add_markets(["A"])
    assert sorted(c["params"]["channels"][0] for c in h.sent) == [
        "fill",
        "orderbook_delta",
        "ticker",
        "user_orders",
    ]


# ------------------------------------------------------------------------------------------
# The connection thread on a fake connection and manual time


class StubSigner:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def headers_for(self, method: str, path: str) -> dict[str, str]:
        self.calls.append((method, path))
        return {
            "KALSHI-ACCESS-KEY": "k",
            "KALSHI-ACCESS-TIMESTAMP": "1",
            "KALSHI-ACCESS-SIGNATURE": "s",
        }


def fake_feed(
    server: wire.FakeServer, messages: list[FeedMessage], **kwargs: Any
) -> tuple[WsFeed, StubSigner]:
    signer = StubSigner()
    options: dict[str, Any] = {"idle_timeout": 1.0, **kwargs}
    feed = WsFeed(
        "ws://sim.invalid/trade-api/ws/v2",
        ["A"],
        sink=messages.append,
        auth=signer,
        clock=server.clock,
        backoff=Backoff(base=0.2, cap=1.0),
        rng=random.Random(1),
        connector=server.connect,
        **options,
    )
    return feed, signer


def running(feed: WsFeed) -> Callable[[], None]:
    feed.start()
    return feed.stop


def test_silence_makes_stale_then_reconnects_and_resubscribes() -> None:
    clock = ManualClock()
    server = wire.FakeServer(clock)
    server.books["A"] = ([["0.4000", "3.00"]], [])
    messages: list[FeedMessage] = []
    feed, signer = fake_feed(server, messages)
    stop = running(feed)
    try:
        wait_until(lambda: feed.is_fresh("A"), 'feed.is_fresh("A")')
        assert signer.calls[0] == ("GET", "/trade-api/ws/v2")
        assert server.headers[0]["KALSHI-ACCESS-SIGNATURE"] == "s"
        first = server.connections[0]
        # not even a ping arrives: fake time runs on, the watchdog trips, a new connection comes
        server.silent = True
        wait_until(lambda: len(server.connections) >= 2, "len(server.connections) >= 2")
        server.silent = False
        assert first.closed
        assert any(e.kind is MessageKind.STALE and e.reason == "idle" for e in messages)
        assert any(e.kind is MessageKind.DISCONNECTED and e.reason == "idle" for e in messages)
        wait_until(lambda: feed.is_fresh("A"), 'feed.is_fresh("A")')
        second = server.connections[-1]
        # every channel subscribed again (fake time runs on: a probe of the quiet orderbook
        # subscription may follow, sooner on a busy machine)
        subscribed = [c for c in second.sent if c["cmd"] == "subscribe"]
        assert sorted(c["params"]["channels"][0] for c in subscribed) == sorted(DEFAULT_CHANNELS)
        assert second.sent[0]["id"] == 1  # command ids restart with the session
        assert feed.book("A") == Orderbook("A", ((D("0.40"), D(3)),), ())
    finally:
        stop()


def test_a_quiet_market_stays_fresh_through_probes() -> None:
    clock = ManualClock()
    server = wire.FakeServer(clock)
    messages: list[FeedMessage] = []
    feed, _ = fake_feed(server, messages)
    stop = running(feed)
    try:
        wait_until(lambda: feed.is_fresh("A"), 'feed.is_fresh("A")')
        start = clock.monotonic()
        wait_until(
            lambda: clock.monotonic() - start > 5.0, "clock.monotonic() - start > 5.0"
        )  # five idle timeouts of fake time
        assert len(server.connections) == 1
        assert feed.is_fresh("A")
        # no delta came: what kept the book fresh is the snapshot each probe brought back
        probes = [
            c
            for c in server.connections[0].sent
            if c["cmd"] == "update_subscription" and c["params"]["action"] == "get_snapshot"
        ]
        assert len(probes) >= 5
        assert feed.data_age("A") < 1.0
    finally:
        stop()


def test_pings_alone_do_not_keep_a_market_fresh() -> None:
    """A data stall behind live pings: the books go stale after `stale_after` of no data
    (pings and replies do not count), and fresh again once data comes back."""
    clock = ManualClock()
    server = wire.FakeServer(clock)
    server.books["A"] = ([["0.4000", "3.00"]], [])
    messages: list[FeedMessage] = []
    feed, _ = fake_feed(server, messages, idle_timeout=30.0, stale_after=2.0)
    stop = running(feed)
    try:
        wait_until(lambda: feed.is_fresh("A"), 'feed.is_fresh("A")')
        server.stalled = True  # pings go on every 0.25 s of fake time
        wait_until(lambda: not feed.is_fresh("A"), "the stalled book to go stale")
        assert feed.book("A") is None
        assert feed.data_age("A") == math.inf
        assert feed.last_message_age() >= 2.0
        stale = [e for e in messages if e.kind is MessageKind.STALE]
        assert [(e.ticker, e.reason) for e in stale] == [("A", "no_data")]
        assert len(server.connections) == 1  # the pings kept the connection, not the book
        server.stalled = False  # the repeated snapshot request is answered
        wait_until(lambda: feed.is_fresh("A"), "fresh again")
        assert len(server.connections) == 1
        assert feed.book("A") == Orderbook("A", ((D("0.40"), D(3)),), ())
    finally:
        stop()


def test_a_stall_longer_than_idle_timeout_reconnects_despite_pings() -> None:
    clock = ManualClock()
    server = wire.FakeServer(clock)
    messages: list[FeedMessage] = []
    feed, _ = fake_feed(server, messages, idle_timeout=1.0, stale_after=10.0)
    stop = running(feed)
    try:
        wait_until(lambda: feed.is_fresh("A"), 'feed.is_fresh("A")')
        server.stalled = True
        wait_until(lambda: feed.consecutive_failures >= 2, "stalled attempts counted")
        assert any(e.kind is MessageKind.DISCONNECTED and e.reason == "idle" for e in messages)
        server.stalled = False
        wait_until(lambda: feed.is_fresh("A"), 'feed.is_fresh("A")')
        assert feed.consecutive_failures == 0
    finally:
        stop()


def test_refused_connections_back_off_and_count() -> None:
    clock = ManualClock()
    server = wire.FakeServer(clock)
    server.refuse = 3
    messages: list[FeedMessage] = []
    feed, _ = fake_feed(server, messages)
    stop = running(feed)
    try:
        wait_until(lambda: feed.is_fresh("A"), 'feed.is_fresh("A")')
        refused = [e for e in messages if e.kind is MessageKind.DISCONNECTED]
        assert len(refused) == 3
        assert all("ConnectionRefusedError" in e.reason for e in refused)
        assert feed.consecutive_failures == 0  # reset by the connection that delivered
        assert len(server.headers) == 4  # every attempt signs afresh
    finally:
        stop()


def test_server_close_reconnects() -> None:
    clock = ManualClock()
    server = wire.FakeServer(clock)
    messages: list[FeedMessage] = []
    feed, _ = fake_feed(server, messages)
    stop = running(feed)
    try:
        wait_until(lambda: feed.is_fresh("A"), 'feed.is_fresh("A")')
        server.connections[0].push("", wire.CLOSE)
        wait_until(
            lambda: len(server.connections) == 2 and feed.is_fresh("A"),
            'len(server.connections) == 2 and feed.is_fresh("A")',
        )
        assert any(e.reason == "closed by server" for e in messages)
        # the second connection says it is one: what was said between the two was lost
        connected = [e.reason for e in messages if e.kind is MessageKind.CONNECTED]
        assert connected == ["", RECONNECTED], connected
    finally:
        stop()


def test_connection_lost_while_subscribing_reconnects() -> None:
    server = wire.FakeServer()
    server.break_sends = 1
    messages: list[FeedMessage] = []
    feed, _ = fake_feed(server, messages)
    stop = running(feed)
    try:
        wait_until(lambda: feed.is_fresh("A"), 'feed.is_fresh("A")')
        assert len(server.connections) == 2
        lost = [e.reason for e in messages if e.kind is MessageKind.DISCONNECTED]
        assert lost and lost[0].startswith("connection lost")
    finally:
        stop()


def test_malformed_message_resyncs_books() -> None:
    clock = ManualClock()
    server = wire.FakeServer(clock)
    events: list[FeedMessage] = []
    feed, _ = fake_feed(server, events)
    stop = running(feed)
    try:
        wait_until(lambda: feed.is_fresh("A"), 'feed.is_fresh("A")')
        conn = server.connections[0]
        conn.push('{"type": "orderbook_delta", "sid": 1}')
        wait_until(
            lambda: any(c.get("params", {}).get("action") == "get_snapshot" for c in conn.sent),
            'any(c.get("params", {}).get("action") == "get_snapshot" for c in conn.sent)',
        )
        # the error event and the snapshot request come from the feed's thread in either order
        wait_until(
            lambda: any(e.kind is MessageKind.ERROR and "bad message" in e.reason for e in events),
            "an ERROR message for the bad message",
        )
        wait_until(lambda: feed.is_fresh("A"), 'feed.is_fresh("A")')
    finally:
        stop()


# ------------------------------------------------------------------------------------------
# Against the simulator, over a real socket


def test_sim_snapshot_then_deltas_equal_rest_book(sim: Any) -> None:
    books = SimBooks(sim)
    ticker = books.market("FEED-A")
    books.rest_orders(ticker, 3)
    messages: list[FeedMessage] = []
    feed = books.feed([ticker], messages)
    feed.start()
    try:
        wait_until(lambda: feed.book(ticker) is not None, "feed.book(ticker) is not None")
        assert feed.book(ticker) == books.rest_book(ticker)
        books.rest_orders(ticker, 6)
        books.cross(ticker)
        books.wait_equal(feed, ticker)
        assert feed.connections == 1
        assert any(e.kind is MessageKind.BOOK for e in messages)
    finally:
        feed.stop()


def test_sim_markets_added_and_removed_mid_stream_leave_no_false_gap(sim: Any) -> None:
    """The simulator's `ok` to `update_subscription` takes the subscription's next `seq`, as
    Kalshi's does: the feed counts it, so the deltas after it are no gap."""
    books = SimBooks(sim)
    first, second = books.market("FEED-ADD-A"), books.market("FEED-ADD-B")
    messages: list[FeedMessage] = []
    feed = books.feed([first], messages)
    feed.start()
    try:
        wait_until(lambda: feed.is_fresh(first), "feed.is_fresh(first)")
        feed.add_markets([second])
        wait_until(lambda: feed.is_fresh(second), "feed.is_fresh(second)")
        books.rest_orders(first, 3)
        books.rest_orders(second, 3)
        books.wait_equal(feed, first)
        books.wait_equal(feed, second)
        feed.remove_markets([second])
        books.rest_orders(first, 3)
        books.wait_equal(feed, first)
        assert [e for e in messages if e.reason == "seq_gap"] == []
        assert feed.connections == 1
    finally:
        feed.stop()


def test_sim_sequence_gap_resnapshots_to_the_sim_book(sim: Any) -> None:
    books = SimBooks(sim)
    ticker = books.market("FEED-GAP")
    messages: list[FeedMessage] = []
    feed = books.feed([ticker], messages)
    feed.start()
    try:
        wait_until(lambda: feed.is_fresh(ticker), "feed.is_fresh(ticker)")
        sim.set_faults(ws_seq_gap_rate=0.3, seed=11)
        for _ in range(4):
            books.rest_orders(ticker, 5)
        wait_until(
            lambda: any(e.reason == "seq_gap" for e in messages),
            'any(e.reason == "seq_gap" for e in messages)',
        )
        sim.clear_faults()
        books.rest_orders(ticker, 1)  # one more delta after the faults, on a fresh book
        books.wait_equal(feed, ticker)
        assert feed.connections == 1  # resynced in place, not by reconnecting
    finally:
        feed.stop()


def test_sim_dropped_connection_is_resubscribed(sim: Any) -> None:
    books = SimBooks(sim)
    ticker = books.market("FEED-DROP")
    messages: list[FeedMessage] = []
    feed = books.feed([ticker], messages)
    feed.start()
    try:
        wait_until(lambda: feed.is_fresh(ticker), "feed.is_fresh(ticker)")
        sim.set_faults(ws_drop_rate=0.5, seed=3)
        for _ in range(3):
            books.rest_orders(ticker, 3)
            if feed.connections > 1:
                break
        wait_until(lambda: feed.connections > 1, "feed.connections > 1")
        sim.clear_faults()
        books.rest_orders(ticker, 2)
        books.wait_equal(feed, ticker)
        assert any(e.kind is MessageKind.DISCONNECTED for e in messages)
        wanted = {"orderbook_delta", "user_orders", "fill"}
        wait_until(lambda: feed.session.sids.keys() >= wanted, "every channel resubscribed")
    finally:
        feed.stop()


def test_sim_refused_subscriptions_are_asked_for_again_on_the_same_connection(sim: Any) -> None:
    """The simulator refuses every subscribe (code 18) while the fault is on: once it is off,
    the feed holds every channel it needs, its book fresh, without a reconnect."""
    books = SimBooks(sim)
    ticker = books.market("FEED-REFUSED")
    messages: list[FeedMessage] = []
    feed = books.feed([ticker], messages, idle_timeout=30.0)
    feed.session.resnapshot_timeout = 0.5
    sim.set_faults(ws_refuse_subscribe_rate=1.0)
    feed.start()
    try:
        refused = {"fill", "user_orders"}
        wait_until(
            lambda: {e.reason for e in messages} >= {"subscribe: 18"},
            "a subscribe refused",
        )
        sim.clear_faults()
        wanted = {"orderbook_delta", "ticker", "fill", "user_orders", "market_lifecycle_v2"}
        wait_until(lambda: feed.session.sids.keys() >= wanted, f"{refused} asked for again")
        books.rest_orders(ticker, 2)
        books.wait_equal(feed, ticker)
        assert feed.connections == 1  # asked again in place, not by reconnecting
    finally:
        feed.stop()


def test_sim_refused_add_markets_is_asked_for_again_and_never_fresh_before(sim: Any) -> None:
    """While the simulator refuses to add the market, no probe snapshot makes its book fresh
    (none of its deltas would come); once the fault is off, the add asked again is granted."""
    books = SimBooks(sim)
    first = books.market("FEED-ADD-1")
    second = books.market("FEED-ADD-2")
    messages: list[FeedMessage] = []
    refusals: list[bytes] = []

    def frame_sink(data: bytes, _at: int) -> None:
        if json.loads(data).get("type") == "error":
            refusals.append(data)

    feed = books.feed([first], messages, idle_timeout=30.0, frame_sink=frame_sink)
    feed.session.resnapshot_timeout = 0.5
    feed.session.probe_after = 0.1  # the quiet subscription probed through the refusal
    feed.start()
    try:
        wait_until(lambda: feed.is_fresh(first), "feed.is_fresh(first)")
        sim.set_faults(ws_refuse_subscribe_rate=1.0)
        feed.add_markets([second])
        # refused on its four market channels, asked again twice and refused again
        wait_until(lambda: len(refusals) >= 12, "add_markets asked for again")
        # each channel's first refusal said, the ones asked again after it only counted
        assert sum(e.reason == "add_markets: 18" for e in messages) == 4
        assert not [e for e in messages if e.kind is MessageKind.FRESH and e.ticker == second]
        sim.clear_faults()
        books.rest_orders(second, 2)
        books.wait_equal(feed, second)
        assert feed.connections == 1
    finally:
        feed.stop()


def test_a_connection_the_server_closed_gives_its_socket_back(sim: Any) -> None:
    """websocket-client's `close()` does nothing once the server's close frame has arrived, so
    a feed that only called it kept one open socket per reconnect: a loop that runs for days
    through a flaky link would run out of file descriptors."""
    books = SimBooks(sim)
    ticker = books.market("FEED-FD")
    opened: list[Any] = []

    def keep(url: str, headers: Mapping[str, str], timeout: float) -> FeedSocket:
        conn = websocket_connect(url, headers, timeout)
        opened.append(conn)
        return conn

    feed = WsFeed(
        books.maker.ws_url,
        [ticker],
        sink=lambda _event: None,
        auth=books.signer(),
        idle_timeout=5.0,
        backoff=Backoff(base=0.05, cap=0.2),
        connector=keep,
    )
    feed.start()
    try:
        wait_until(lambda: feed.is_fresh(ticker), "feed.is_fresh(ticker)")
        sim.set_faults(ws_drop_rate=1.0)
        books.rest_orders(ticker, 1)
        wait_until(lambda: feed.connections > 2, "reconnects after server closes")
        sim.clear_faults()
        wait_until(lambda: feed.is_fresh(ticker), "feed.is_fresh(ticker)")
    finally:
        feed.stop()
    thrown_away = opened[:-1]
    assert thrown_away
    still_open = [c for c in thrown_away if c.sock is not None and c.sock.fileno() != -1]
    assert not still_open, f"{len(still_open)} of {len(thrown_away)} dropped sockets still open"


def test_sim_silence_stale_then_reconnect_and_resync(sim: Any) -> None:
    books = SimBooks(sim)
    ticker = books.market("FEED-QUIET")
    books.rest_orders(ticker, 2)
    messages: list[FeedMessage] = []
    feed = books.feed([ticker], messages, idle_timeout=0.5)
    feed.start()
    try:
        wait_until(lambda: feed.is_fresh(ticker), "feed.is_fresh(ticker)")
        sim.set_faults(ws_silence_s=1.5)
        books.rest_orders(ticker, 2)  # changes the sim's book while the feed hears nothing
        wait_until(lambda: not feed.is_fresh(ticker), "not feed.is_fresh(ticker)")
        assert feed.book(ticker) is None  # no stale book is handed out
        wait_until(
            lambda: feed.connections >= 2 and feed.is_fresh(ticker),
            "feed.connections >= 2 and feed.is_fresh(ticker)",
        )
        books.wait_equal(feed, ticker)
        assert any(e.kind is MessageKind.STALE and e.reason == "idle" for e in messages)
    finally:
        feed.stop()


def test_sim_refuses_an_unsigned_handshake(sim: Any) -> None:
    books = SimBooks(sim)
    ticker = books.market("FEED-AUTH")
    messages: list[FeedMessage] = []
    feed = books.feed([ticker], messages, signed=False)
    feed.start()
    try:
        wait_until(lambda: feed.consecutive_failures >= 2, "feed.consecutive_failures >= 2")
        assert feed.connections == 0
        assert not feed.is_fresh(ticker)
        refused = [e.reason for e in messages if e.kind is MessageKind.DISCONNECTED]
        assert refused and "401" in refused[0]
    finally:
        feed.stop()


class RecordingBackoff(Backoff):
    """The house's backoff rule, recording the retry number of each wait it is asked for."""

    def __init__(self) -> None:
        super().__init__(base=0.01, cap=0.08)
        self.attempts: list[int] = []

    def delay(self, retry_number: int, rng: random.Random) -> float:
        self.attempts.append(retry_number)
        return super().delay(retry_number, rng)


@pytest.mark.parametrize("first_frames", [[], [wire.subscribed(99, "ticker", 99)]])
def test_a_server_that_drops_every_connection_at_once_gets_a_growing_backoff(
    first_frames: list[str],
) -> None:
    """A handshake that succeeds and a connection that dies right away (a close frame, or a
    message and then the close) must not reset the backoff: that is a reconnect storm."""
    clock = ManualClock()
    server = wire.FakeServer(clock)
    backoff = RecordingBackoff()

    def flapping(url: str, headers: Mapping[str, str], timeout: float) -> wire.FakeConnection:
        conn = server.connect(url, headers, timeout)
        for frame in first_frames:
            conn.push(frame)
        conn.push("", wire.CLOSE)
        return conn

    events: list[FeedMessage] = []
    feed = WsFeed(
        "ws://sim.invalid/trade-api/ws/v2",
        ["A"],
        sink=events.append,
        clock=clock,
        idle_timeout=1.0,
        backoff=backoff,
        connector=flapping,
    )
    stop = running(feed)
    try:
        wait_until(lambda: len(backoff.attempts) >= 6, "len(backoff.attempts) >= 6")
    finally:
        stop()
    assert backoff.attempts[:6] == [1, 2, 3, 4, 5, 6]
    if not first_frames:
        # nothing but a close frame: no message delivered, so MarketData can fall back to REST
        assert feed.consecutive_failures >= 3


def test_a_connection_that_stayed_up_resets_the_backoff() -> None:
    clock = ManualClock()
    server = wire.FakeServer(clock)
    server.refuse = 2
    backoff = RecordingBackoff()
    messages: list[FeedMessage] = []
    feed = WsFeed(
        "ws://sim.invalid/trade-api/ws/v2",
        ["A"],
        sink=messages.append,
        clock=clock,
        idle_timeout=1.0,
        backoff=backoff,
        connector=server.connect,
        stable_after=0.5,
    )
    stop = running(feed)
    try:
        wait_until(lambda: feed.is_fresh("A"), 'feed.is_fresh("A")')
        start = clock.monotonic()
        wait_until(lambda: clock.monotonic() - start > 1.0, "clock.monotonic() - start > 1.0")
        server.connections[0].push("", wire.CLOSE)
        wait_until(lambda: len(backoff.attempts) >= 3, "len(backoff.attempts) >= 3")
    finally:
        stop()
    assert backoff.attempts[:3] == [1, 2, 1]

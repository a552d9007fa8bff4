"""MarketData: freshness, events, and the REST fallback, on a fake server and on the simulator.

These run on real time with short intervals (tens of milliseconds): the WebSocket thread and
the poller thread share one clock, and only real time keeps them in step.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.feed import FeedMessage, MarketData, MessageKind
from kalshi_cli.feed.poller import RestPoller
from kalshi_cli.feed.ws import websocket_connect
from kalshi_cli.vocabulary.clock import Backoff, ManualClock
from kalshi_cli.vocabulary.errors import KalshiError, TransportError
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.models import Order, Orderbook
from tests.feed import wire
from tests.feed.helpers import SimBooks
from tests.waiting import wait_until

D = Decimal
FAST = Backoff(base=0.01, cap=0.05)


class FakeRest:
    def __init__(self, books: dict[str, Orderbook]) -> None:
        self.books = books
        self.calls = 0
        self.failing = False

    def get_orderbook(self, ticker: str, depth: int = 0) -> Orderbook:
        self.calls += 1
        if self.failing:
            raise TransportError("connect timeout to 127.0.0.1")
        return self.books[ticker]


def fake_md(server: wire.FakeServer, rest: FakeRest | None, **kwargs: Any) -> MarketData:
    options: dict[str, Any] = {
        "idle_timeout": 0.3,
        "fallback_after": 3,
        "poll_interval": 0.02,
        "backoff": FAST,
    }
    options.update(kwargs)
    return MarketData(
        ["A"],
        ws_url="ws://sim.invalid/trade-api/ws/v2",
        rest=rest,
        connector=server.connect,
        **options,
    )


def kinds(messages: list[FeedMessage]) -> list[tuple[MessageKind, str]]:
    return [(e.kind, e.reason) for e in messages]


def test_ws_book_events_are_coalesced_and_freshness_reported_once() -> None:
    server = wire.FakeServer()
    server.books["A"] = ([["0.3000", "1.00"]], [])
    md = fake_md(server, None)
    with md:
        wait_until(lambda: md.is_fresh("A"), 'md.is_fresh("A")')
        conn = server.connections[0]
        for _ in range(50):
            conn.push(wire.delta(1, server.next_seq(1), "A", "yes 0.3000 1.00"))
        wait_until(
            lambda: md.book("A") == Orderbook("A", ((D("0.30"), D(51)),), ()),
            'md.book("A") == Orderbook("A", ((D("0.30"), D(51)),), ())',
        )
        events = md.drain_messages()
        assert [e.kind for e in events if e.kind is MessageKind.BOOK] == [MessageKind.BOOK]
        fresh = [e for e in events if e.kind is MessageKind.FRESH]
        assert fresh == [FeedMessage(MessageKind.FRESH, "A", source="feed")]
        assert md.drain_messages() == []
        assert md.mode == "ws"
        assert md.last_message_age() < 0.3


def test_a_book_event_carries_when_the_first_change_since_the_last_drain_arrived() -> None:
    server = wire.FakeServer()
    server.books["A"] = ([["0.3000", "1.00"]], [])
    md = fake_md(server, None)
    with md:
        wait_until(lambda: md.is_fresh("A"), 'md.is_fresh("A")')
        md.drain_messages()
        conn = server.connections[0]
        before = time.monotonic()
        conn.push(wire.delta(1, server.next_seq(1), "A", "yes 0.3000 1.00"))
        wait_until(
            lambda: md.book("A") == Orderbook("A", ((D("0.30"), D(2)),), ()),
            'md.book("A") == Orderbook("A", ((D("0.30"), D(2)),), ())',
        )
        first_seen = time.monotonic()  # the second change arrives after this
        conn.push(wire.delta(1, server.next_seq(1), "A", "yes 0.3000 1.00"))
        wait_until(
            lambda: md.book("A") == Orderbook("A", ((D("0.30"), D(3)),), ()),
            'md.book("A") == Orderbook("A", ((D("0.30"), D(3)),), ())',
        )
        drained_at = time.monotonic()
        (event,) = [e for e in md.drain_messages() if e.kind is MessageKind.BOOK]
        # the loop measures a change's wait from the first change it has not yet seen
        assert event.at is not None and before <= event.at <= first_seen
        conn.push(wire.delta(1, server.next_seq(1), "A", "yes 0.3000 1.00"))
        wait_until(
            lambda: md.book("A") == Orderbook("A", ((D("0.30"), D(4)),), ()),
            'md.book("A") == Orderbook("A", ((D("0.30"), D(4)),), ())',
        )
        (after_drain,) = [e for e in md.drain_messages() if e.kind is MessageKind.BOOK]
        assert after_drain.at is not None and after_drain.at > drained_at


def test_silence_makes_the_market_stale_until_resynced() -> None:
    server = wire.FakeServer()
    md = fake_md(server, None)
    with md:
        wait_until(lambda: md.is_fresh("A"), 'md.is_fresh("A")')
        md.drain_messages()
        server.silent = True
        wait_until(lambda: not md.is_fresh("A"), 'not md.is_fresh("A")')
        assert md.book("A") is None  # the trade loop gets no book to trade on
        wait_until(lambda: len(server.connections) >= 2, "len(server.connections) >= 2")
        server.silent = False
        wait_until(lambda: md.is_fresh("A"), 'md.is_fresh("A")')
        events = md.drain_messages()
        stale = [e for e in events if e.kind is MessageKind.STALE]
        assert stale and stale[0].reason == "idle" and stale[0].source == "feed"
        assert (MessageKind.FRESH, "") in kinds(events)
        assert any(e.kind is MessageKind.CONNECTED for e in events)


def test_falls_back_to_polling_and_returns_to_ws() -> None:
    server = wire.FakeServer()
    server.refuse = 10**9
    server.books["A"] = ([["0.4000", "2.00"]], [])
    polled = Orderbook("A", ((D("0.40"), D(2)),), ((D("0.55"), D(1)),))
    rest = FakeRest({"A": polled})
    md = fake_md(server, rest)
    with md:
        wait_until(
            lambda: md.mode == "rest" and md.is_fresh("A"), 'md.mode == "rest" and md.is_fresh("A")'
        )
        assert md.book("A") == polled
        assert md.ws is not None and md.ws.consecutive_failures >= 3
        server.refuse = 0  # the WebSocket comes back
        wait_until(lambda: md.mode == "ws", 'md.mode == "ws"')
        assert md.book("A") == Orderbook("A", ((D("0.40"), D(2)),), ())
        calls = rest.calls
        pinged_at = server.clock.monotonic()
        wait_until(
            lambda: server.clock.monotonic() - pinged_at > 5.0,
            "server.clock.monotonic() - pinged_at > 5.0",
        )  # several poll intervals
        assert rest.calls <= calls + 1  # the poller stopped
        modes = [e.reason for e in md.drain_messages() if e.kind is MessageKind.MODE]
        assert modes == ["rest", "ws"]


def test_failing_polls_make_the_market_stale() -> None:
    rest = FakeRest({"A": Orderbook("A", ((D("0.40"), D(2)),), ())})
    md = MarketData(["A"], ws_url=None, rest=rest, poll_interval=0.02)
    with md:
        wait_until(lambda: md.is_fresh("A"), 'md.is_fresh("A")')
        assert md.mode == "rest"
        rest.failing = True
        wait_until(lambda: not md.is_fresh("A"), 'not md.is_fresh("A")')
        events = md.drain_messages()
        assert any(e.kind is MessageKind.ERROR and "connect timeout" in e.reason for e in events)
        assert (MessageKind.STALE, "poll_failed") in kinds(events)
        rest.failing = False
        wait_until(lambda: md.is_fresh("A"), 'md.is_fresh("A")')


def test_a_feed_whose_connect_and_poll_both_hang_is_stopped_within_one_wait() -> None:
    """A trade loop stops its feed after its own stop, whose deadline sits inside the service
    manager's stop timeout with little room left. Against an exchange that answers nothing the
    WebSocket's connect and the REST poll both hang; stopping the feed waits for its two threads
    together, at most one join's time, where the old code waited for one, then the other: 10 s
    past the stop's deadline, enough with the last alerts' wait to pass a 30 s stop timeout."""
    released = threading.Event()
    connecting, polling = threading.Event(), threading.Event()
    attempts = []

    def hanging_connect(url: str, headers: Any, timeout: float) -> Any:
        attempts.append(url)
        if len(attempts) > 1:  # the first is refused, so the feed falls back to polling
            connecting.set()
            released.wait(60)
        raise OSError("connection refused")

    class HangingRest(FakeRest):
        def get_orderbook(self, ticker: str, depth: int = 0) -> Orderbook:
            polling.set()
            released.wait(60)
            return super().get_orderbook(ticker, depth)

    rest = HangingRest({"A": Orderbook("A", ((D("0.40"), D(2)),), ())})
    md = MarketData(
        ["A"],
        ws_url="ws://sim.invalid/trade-api/ws/v2",
        rest=rest,
        connector=hanging_connect,
        fallback_after=1,
        poll_interval=0.02,
        backoff=FAST,
    )
    md.start()
    try:
        wait_until(lambda: connecting.is_set() and polling.is_set(), "both threads hang")
        started = time.monotonic()
        md.stop()
        took = time.monotonic() - started
    finally:
        released.set()
    # one wait of the stop's 5 s, not two in turn: the bound is just below two, so that a busy
    # machine's stall past the one wait cannot reach it
    assert took < 2 * 5.0, took


def test_markets_followed_join_the_order_subscription_of_every_connection() -> None:
    """`follow` before the feed starts (the trade loop's event markets it does not trade): the
    first connection's `user_orders` subscribe carries them, no book is kept of them."""
    md = MarketData(["A"], ws_url="ws://sim.invalid/trade-api/ws/v2")
    md.follow(["C"])
    assert md.ws is not None
    sent: list[dict[str, Any]] = []
    md.ws.session.open(lambda text: sent.append(json.loads(text)))
    carried = {c["params"]["channels"][0]: c["params"].get("market_tickers") for c in sent}
    assert carried["user_orders"] == ["A", "C"]
    assert md.book("C") is None and carried["orderbook_delta"] == ["A"]


def test_needs_a_source() -> None:
    with pytest.raises(ValueError, match="needs"):
        MarketData(["A"], ws_url=None, rest=None)


# ------------------------------------------------------------------------------------------
# Against the simulator


def client_for(sim: Any) -> KalshiClient:
    """The real REST client, as the trade loop will hand it to MarketData."""
    key, _ = load_private_key(path=sim.account.private_key_path)
    return KalshiClient(api_base=sim.account.api_base, key_id=sim.account.key_id, private_key=key)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sim_silence_stale_no_book_then_reconnect_and_resync(sim: Any) -> None:
    books = SimBooks(sim)
    ticker = books.market("MD-QUIET")
    books.rest_orders(ticker, 3)
    md = MarketData(
        [ticker], ws_url=sim.account.ws_url, auth=books.signer(), idle_timeout=0.5, backoff=FAST
    )
    with md:
        wait_until(lambda: md.is_fresh(ticker), "md.is_fresh(ticker)")
        sim.set_faults(ws_silence_s=1.5)
        books.rest_orders(ticker, 2)
        wait_until(lambda: not md.is_fresh(ticker), "not md.is_fresh(ticker)")
        assert md.book(ticker) is None
        wait_until(lambda: md.is_fresh(ticker), "md.is_fresh(ticker)")
        books.wait_equal(md, ticker)
        assert md.ws is not None and md.ws.connections >= 2
        events = md.drain_messages()
        assert any(e.kind is MessageKind.STALE and e.reason == "idle" for e in events)


def test_sim_unreachable_ws_falls_back_to_polling(sim: Any) -> None:
    books = SimBooks(sim)
    ticker = books.market("MD-POLL")
    books.rest_orders(ticker, 4)
    client = client_for(sim)
    md = MarketData(
        [ticker],
        ws_url=f"ws://127.0.0.1:{closed_port()}/trade-api/ws/v2",
        auth=books.signer(),
        rest=client.markets,
        fallback_after=2,
        poll_interval=0.1,
        backoff=FAST,
    )
    with client, md:
        wait_until(
            lambda: md.mode == "rest" and md.is_fresh(ticker),
            'md.mode == "rest" and md.is_fresh(ticker)',
        )
        books.wait_equal(md, ticker)
        books.rest_orders(ticker, 2)  # later changes arrive by polling too
        books.wait_equal(md, ticker)
        assert md.ws is not None and md.ws.connections == 0


def test_sim_returns_from_polling_to_ws(sim: Any) -> None:
    books = SimBooks(sim)
    ticker = books.market("MD-BACK")
    books.rest_orders(ticker, 3)
    client = client_for(sim)
    refusals = [3]

    def flaky(url: str, headers: Any, timeout: float) -> Any:
        if refusals[0] > 0:
            refusals[0] -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        return websocket_connect(url, headers, timeout)

    md = MarketData(
        [ticker],
        ws_url=sim.account.ws_url,
        auth=books.signer(),
        rest=client.markets,
        fallback_after=2,
        poll_interval=0.1,
        backoff=FAST,
        connector=flaky,
    )
    with client, md:
        wait_until(
            lambda: md.mode == "ws" and md.ws is not None and md.ws.connections == 1,
            'md.mode == "ws" and md.ws is not None and md.ws.connections == 1',
        )
        books.rest_orders(ticker, 2)
        books.wait_equal(md, ticker)
        modes = [e.reason for e in md.drain_messages() if e.kind is MessageKind.MODE]
        assert modes == ["rest", "ws"]


def test_each_feed_knob_has_one_default() -> None:
    """The idle timeout was 20 s on WsFeed and 30 s on MarketData: whoever built the feed
    directly got another watchdog than the trade loop. Each knob now has one named default."""
    import inspect

    from kalshi_cli.feed.session import (
        IDLE_TIMEOUT_S,
        RESNAPSHOT_TIMEOUT_S,
        STALE_AFTER_S,
        FeedSession,
    )
    from kalshi_cli.feed.ws import WsFeed

    defaults = {"idle_timeout": IDLE_TIMEOUT_S, "stale_after": STALE_AFTER_S}
    defaults["resnapshot_timeout"] = RESNAPSHOT_TIMEOUT_S
    for built in (FeedSession, WsFeed, MarketData):
        parameters = inspect.signature(built).parameters
        for knob, value in defaults.items():
            if knob in parameters:
                assert parameters[knob].default == value, (built.__name__, knob)
    assert IDLE_TIMEOUT_S == 30.0  # the trade loop's watchdog, as docs/feed.md shows


def test_waiting_for_events_wakes_on_a_queued_event_and_draining_resets_it() -> None:
    """The trade loop sleeps in `wait_for_messages` instead of polling every millisecond: it
    must return as soon as the feed queues something, and only then."""
    server = wire.FakeServer()
    server.books["A"] = ([["0.3000", "1.00"]], [])
    md = fake_md(server, None)
    with md:
        wait_until(lambda: md.is_fresh("A"), 'md.is_fresh("A")')
        md.drain_messages()
        assert md.wait_for_messages(0.0) is False  # nothing queued
        server.connections[0].push(wire.delta(1, server.next_seq(1), "A", "yes 0.3000 1.00"))
        assert md.wait_for_messages(60.0) is True  # woken by the delta, long before the timeout
        assert MessageKind.BOOK in [e.kind for e in md.drain_messages()]
        assert md.wait_for_messages(0.0) is False  # drained: nothing queued any more


def test_a_polled_book_whose_best_bids_cross_is_a_failed_poll() -> None:
    """While the WebSocket is down the loop trades on polled books. A REST book whose best YES
    bid reaches the implied YES ask (the bids pay $1 or more together) was taken as sent, a
    fresh book at a price nobody offers, where the WebSocket's snapshot of it is refused. It
    is a failed poll now: the market is stale, and the error, naming the market and the two
    bids, goes to the loop's API error guard as any failed call does."""
    answers = [
        {"orderbook_fp": {"yes_dollars": [["0.5400", "2.00"]], "no_dollars": [["0.4500", "1.00"]]}},
        {"orderbook_fp": {"yes_dollars": [["0.5500", "2.00"]], "no_dollars": [["0.4500", "1.00"]]}},
    ]
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=answers.pop(0)))
    client = KalshiClient(api_base="https://exchange.test/trade-api/v2", transport=transport)
    messages: list[FeedMessage] = []
    poller = RestPoller(client.markets, ["A"], sink=messages.append, clock=ManualClock())
    poller.set_active(True)
    poller.poll_once()
    assert poller.book("A") == Orderbook("A", ((D("0.54"), D(2)),), ((D("0.45"), D(1)),))
    poller.poll_once()
    assert poller.book("A") is None
    assert (MessageKind.STALE, "poll_failed") in kinds(messages)
    (failed,) = [e for e in messages if e.kind is MessageKind.ERROR]
    assert isinstance(failed.error, KalshiError)
    assert "A: best YES bid 0.5500 and NO bid 0.4500 cross" in failed.reason


def test_a_polled_book_listing_a_price_twice_is_a_failed_poll() -> None:
    """Two sizes for one level (10 and 5 at 0.40: 10, 5 or 15 resting, no reading knows
    which). The WebSocket's snapshot of such a book is refused; the polled one kept the last
    size, a fresh book the exchange may not hold."""
    answers = [
        {"orderbook_fp": {"yes_dollars": [["0.4000", "10.00"]]}},
        {"orderbook_fp": {"yes_dollars": [["0.4000", "10.00"], ["0.40", "5.00"]]}},
    ]
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=answers.pop(0)))
    client = KalshiClient(api_base="https://exchange.test/trade-api/v2", transport=transport)
    messages: list[FeedMessage] = []
    poller = RestPoller(client.markets, ["A"], sink=messages.append, clock=ManualClock())
    poller.set_active(True)
    poller.poll_once()
    assert poller.book("A") == Orderbook("A", ((D("0.40"), D(10)),), ())
    poller.poll_once()
    assert poller.book("A") is None
    assert (MessageKind.STALE, "poll_failed") in kinds(messages)
    (failed,) = [e for e in messages if e.kind is MessageKind.ERROR]
    assert "A: bad orderbook level" in failed.reason


def test_events_dropped_from_a_full_queue_are_reported_as_a_gap_at_the_next_drain() -> None:
    """A loop that does not drain for long (a stall) loses the oldest events, fills and order
    updates among them: the drain that follows starts with a gap naming how many went, so the
    loop reads again what they may have said."""
    md = MarketData(["A"], ws_url=None, rest=FakeRest({}), max_messages=3)
    for n in range(5):
        md._on_message(FeedMessage(MessageKind.USER_ORDER, "A", reason=str(n)))
    first, *rest = md.drain_messages()
    assert (first.kind, first.reason, first.data) == (MessageKind.GAP, "events_dropped", {"n": 2})
    assert [e.reason for e in rest] == ["2", "3", "4"]
    md._on_message(FeedMessage(MessageKind.USER_ORDER, "A", reason="5"))
    assert kinds(md.drain_messages()) == [(MessageKind.USER_ORDER, "5")]  # reported once


def test_ticker_and_position_messages_are_held_once_per_market_until_the_next_drain() -> None:
    """A `ticker` or `position` message says nothing but its market (the loop reads prices from
    the book and positions over REST): a thousand of them between two drains are one, as a
    book change is, so a busy ticker channel holds no more than one message a market."""
    md = MarketData(["A", "B"], ws_url=None, rest=FakeRest({}))
    for n in range(1000):
        md._on_message(FeedMessage(MessageKind.TICKER, "AB"[n % 2], source="ws"))
        md._on_message(FeedMessage(MessageKind.POSITION, "B", source="ws"))
        if n == 500:
            md._on_message(FeedMessage(MessageKind.USER_ORDER, "A", reason="placed"))
    drained = [(m.kind, m.ticker) for m in md.drain_messages()]
    assert drained == [
        (MessageKind.TICKER, "A"),
        (MessageKind.POSITION, "B"),
        (MessageKind.TICKER, "B"),
        (MessageKind.USER_ORDER, "A"),
    ]
    md._on_message(FeedMessage(MessageKind.TICKER, "A", source="ws"))
    assert [(m.kind, m.ticker) for m in md.drain_messages()] == [(MessageKind.TICKER, "A")]


def test_a_loop_far_behind_holds_its_order_updates_in_a_bounded_memory() -> None:
    """Order updates (`user_order`, the largest message decoded: some 1.7 kB) keep coming while
    the loop does not drain; what the queue holds stays under 25 MiB whatever the backlog
    (100,000 of them held some 170 MB), and the drain says how many went (the loop then reads its
    fills and the markets' state again: docs/feed.md "Messages")."""
    import tracemalloc
    import uuid

    from kalshi_cli.feed import messages

    backlog = 25_000
    frames = []
    for _ in range(backlog):
        frame = json.loads(wire.user_order(1, "KXFAR-26NOV30-B1"))
        frame["msg"]["order_id"] = str(uuid.uuid4())
        frames.append(json.dumps(frame))
    md = MarketData(["KXFAR-26NOV30-B1"], ws_url=None, rest=FakeRest({}))
    tracemalloc.start()
    try:
        for frame in frames:
            decoded = messages.decode(frame)
            assert isinstance(decoded, messages.UserOrderMessage)
            update = messages.order_update(decoded.msg)
            md._on_message(FeedMessage(MessageKind.USER_ORDER, update.ticker, payload=update))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 25 * 2**20, f"{held / 2**20:.1f} MiB held"
    gap, *kept = md.drain_messages()
    assert (gap.kind, gap.reason) == (MessageKind.GAP, "events_dropped")
    assert gap.data is not None and gap.data["n"] + len(kept) == backlog
    newest = kept[-1].payload
    assert (
        isinstance(newest, Order) and newest.order_id == json.loads(frames[-1])["msg"]["order_id"]
    )

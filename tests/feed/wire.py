"""Server messages shaped exactly as asyncapi.yaml describes them, and a fake connection."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import websocket

from kalshi_cli.vocabulary.clock import ManualClock

MARKET_ID = "9b0f6b43-5b68-4f9f-9f02-9a2d1b8ac1a1"


def subscribed(cid: int, channel: str, sid: int) -> str:
    return json.dumps({"id": cid, "type": "subscribed", "msg": {"channel": channel, "sid": sid}})


def snapshot(
    sid: int,
    seq: int,
    ticker: str,
    yes: list[list[str]] | None = None,
    no: list[list[str]] | None = None,
) -> str:
    msg: dict[str, Any] = {"market_ticker": ticker, "market_id": MARKET_ID}
    if yes:
        msg["yes_dollars_fp"] = yes
    if no:
        msg["no_dollars_fp"] = no
    return json.dumps({"type": "orderbook_snapshot", "sid": sid, "seq": seq, "msg": msg})


def delta(sid: int, seq: int, ticker: str, change: str) -> str:
    """`change` is "side price delta", e.g. "yes 0.4100 -2.00"."""
    side, price, size = change.split()
    return json.dumps(
        {
            "type": "orderbook_delta",
            "sid": sid,
            "seq": seq,
            "msg": {
                "market_ticker": ticker,
                "market_id": MARKET_ID,
                "price_dollars": price,
                "delta_fp": size,
                "side": side,
                "ts_ms": 1669149841000,
            },
        }
    )


def ok(cid: int, sid: int, seq: int | None = None, tickers: list[str] | None = None) -> str:
    body: dict[str, Any] = {"id": cid, "type": "ok", "sid": sid}
    if seq is not None:
        body["seq"] = seq
    if tickers is not None:
        body["msg"] = {"market_tickers": tickers}
    return json.dumps(body)


def error(cid: int, code: int, text: str, sid: int | None = None) -> str:
    body: dict[str, Any] = {"id": cid, "type": "error", "msg": {"code": code, "msg": text}}
    if sid is not None:
        body["sid"] = sid
    return json.dumps(body)


def fill(sid: int, ticker: str) -> str:
    return json.dumps(
        {
            "type": "fill",
            "sid": sid,
            "msg": {
                "trade_id": "d91bc706-ee49-470d-82d8-11418bda6fed",
                "order_id": "ee587a1c-8b87-4dcf-b721-9f6f790619fa",
                "client_order_id": "my-order-1",
                "market_ticker": ticker,
                "is_taker": True,
                "side": "yes",
                "yes_price_dollars": "0.7500",
                "count_fp": "278.00",
                "fee_cost": "0.010000",
                "action": "buy",
                "ts": 1671899397,
                "ts_ms": 1671899397000,
                "post_position_fp": "500.00",
                "purchased_side": "yes",
                "outcome_side": "yes",
                "book_side": "bid",
            },
        }
    )


def user_order(sid: int, ticker: str) -> str:
    return json.dumps(
        {
            "type": "user_order",
            "sid": sid,
            "msg": {
                "order_id": "ee587a1c-8b87-4dcf-b721-9f6f790619fa",
                "ticker": ticker,
                "status": "resting",
                "book_side": "bid",
                "yes_price_dollars": "0.3500",
                "fill_count_fp": "0.00",
                "remaining_count_fp": "10.00",
                "initial_count_fp": "10.00",
                "client_order_id": "my-order-1",
            },
        }
    )


def ticker_msg(sid: int, ticker: str) -> str:
    return json.dumps(
        {
            "type": "ticker",
            "sid": sid,
            "msg": {
                "market_ticker": ticker,
                "market_id": MARKET_ID,
                "price_dollars": "0.480",
                "yes_bid_dollars": "0.450",
                "yes_ask_dollars": "0.530",
                "volume_fp": "33896.00",
                "open_interest_fp": "20422.00",
                "dollar_volume": 16948,
                "dollar_open_interest": 10211,
                "yes_bid_size_fp": "300.00",
                "yes_ask_size_fp": "150.00",
                "last_trade_size_fp": "25.00",
                "ts": 1669149841,
                "ts_ms": 1669149841000,
                "time": "2022-11-22T20:44:01Z",
            },
        }
    )


def trade(sid: int, seq: int, ticker: str) -> str:
    return json.dumps(
        {
            "type": "trade",
            "sid": sid,
            "seq": seq,
            "msg": {
                "trade_id": "d91bc706-ee49-470d-82d8-11418bda6fed",
                "market_ticker": ticker,
                "yes_price_dollars": "0.3600",
                "no_price_dollars": "0.6400",
                "count_fp": "136.00",
                "taker_side": "no",
                "taker_outcome_side": "no",
                "taker_book_side": "ask",
                "is_block_trade": False,
                "ts": 1669149841,
                "ts_ms": 1669149841000,
            },
        }
    )


def lifecycle(sid: int, seq: int, ticker: str, event_type: str = "deactivated") -> str:
    return json.dumps(
        {
            "type": "market_lifecycle_v2",
            "sid": sid,
            "seq": seq,
            "msg": {"market_ticker": ticker, "event_type": event_type, "is_deactivated": True},
        }
    )


TEXT = websocket.ABNF.OPCODE_TEXT
PING = websocket.ABNF.OPCODE_PING
CLOSE = websocket.ABNF.OPCODE_CLOSE


class FakeConnection:
    """Frames queued by the test; an empty queue is a socket timeout that moves the manual clock
    on by `tick`, so the feed's watchdog runs on fake time. Like Kalshi, the fake server pings
    (every `ping_every` fake seconds) unless the test made it `silent`."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.clock = server.clock
        self.tick = server.tick
        self.last_ping = self.clock.monotonic()
        self.incoming: deque[tuple[int, bytes]] = deque()
        self.sent: list[dict[str, Any]] = []
        self.closed = False
        self.timeout: float | None = None
        self.on_send: Callable[[FakeConnection, dict[str, Any]], None] | None = None

    def push(self, text: str, opcode: int = TEXT) -> None:
        self.incoming.append((opcode, text.encode()))

    def recv_data(self, control_frame: bool = False) -> tuple[int, bytes]:
        if self.closed:
            raise websocket.WebSocketConnectionClosedException("closed")
        if self.incoming:
            return self.incoming.popleft()
        time.sleep(0.0005)  # a real socket would block; keeps the fake from hogging the GIL
        self.clock.advance(self.tick)
        now = self.clock.monotonic()
        if not self.server.silent and now - self.last_ping >= self.server.ping_every:
            self.last_ping = now
            return PING, b"heartbeat"
        raise websocket.WebSocketTimeoutException("timed out")

    def send(self, payload: str) -> None:
        if self.server.break_sends > 0:
            self.server.break_sends -= 1
            raise websocket.WebSocketConnectionClosedException("socket is already closed.")
        if self.closed:
            raise websocket.WebSocketConnectionClosedException("closed")
        command = json.loads(payload)
        self.sent.append(command)
        if self.on_send is not None:
            self.on_send(self, command)

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout

    def close(self) -> None:
        self.closed = True

    def shutdown(self) -> None:
        self.closed = True


class FakeServer:
    """Answers subscribe commands like Kalshi (one sid per channel, a snapshot for each market
    of `orderbook_delta`), and can refuse connections. `silent`: nothing at all arrives, not
    even a ping; `stalled`: pings go on but no command is answered and no data comes (the data
    stall behind live pings seen on Kalshi)."""

    def __init__(self, clock: ManualClock | None = None, tick: float = 0.05) -> None:
        # the server's own fake time paces its pings; the feed may run on another clock
        self.clock = clock or ManualClock()
        self.tick = tick
        self.connections: list[FakeConnection] = []
        self.headers: list[Mapping[str, str]] = []
        self.refuse = 0  # refuse this many connection attempts
        self.silent = False
        self.stalled = False
        self.break_sends = 0  # fail this many sends, as a connection lost mid-command does
        self.ping_every = 0.25
        self.books: dict[str, tuple[list[list[str]], list[list[str]]]] = {}
        self._sid = 0
        self.seq: dict[int, int] = {}

    def connect(self, url: str, headers: Mapping[str, str], timeout: float) -> FakeConnection:
        self.headers.append(headers)
        if self.refuse > 0:
            self.refuse -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        conn = FakeConnection(self)
        conn.on_send = self._answer
        self.connections.append(conn)
        return conn

    def next_seq(self, sid: int) -> int:
        self.seq[sid] = self.seq.get(sid, 0) + 1
        return self.seq[sid]

    def _answer(self, conn: FakeConnection, command: dict[str, Any]) -> None:
        if self.silent or self.stalled:
            return
        params = command.get("params", {})
        if command["cmd"] == "subscribe":
            self._sid += 1
            sid = self._sid
            channel = params["channels"][0]
            conn.push(subscribed(command["id"], channel, sid))
            if channel == "orderbook_delta":
                for ticker in params["market_tickers"]:
                    self.push_snapshot(conn, sid, ticker)
        elif command["cmd"] == "update_subscription" and params["action"] == "get_snapshot":
            sid = params["sids"][0]
            conn.push(ok(command["id"], sid))
            for ticker in params["market_tickers"]:
                self.push_snapshot(conn, sid, ticker)

    def push_snapshot(self, conn: FakeConnection, sid: int, ticker: str) -> None:
        yes, no = self.books.get(ticker, ([], []))
        conn.push(snapshot(sid, self.next_seq(sid), ticker, yes, no))

"""The simulator's WebSocket over a real socket with websocket-client."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import websocket

from kalshi_cli.sim.server.embed import start_simulator
from tests.conftest import SimHarness
from tests.sim.wsutil import Ws
from tests.waiting import poll_until
from tests.wire import order_body

T = "KXWS-26JAN01-A"


def place(  # noqa: PLR0917 (reads as the order it places)
    sim: SimHarness,
    account: Any,
    side: str,
    price: str,
    count: str,
    tif: str = "good_till_canceled",
) -> dict[str, Any]:
    return sim.placed(
        account, order_body(T, side=side, price=price, count=count, time_in_force=tif)
    )


def test_orderbook_snapshot_then_contiguous_deltas_that_rebuild_the_book(sim: SimHarness) -> None:
    sim.create_market(T)
    place(sim, sim.account, "bid", "0.40", "5")
    ws = Ws(sim.account)
    (sid,) = ws.subscribe(["orderbook_delta"], market_ticker=T)
    snapshot = ws.recv()
    assert (snapshot["type"], snapshot["sid"], snapshot["seq"]) == ("orderbook_snapshot", sid, 1)
    book = {("yes", p): Decimal(q) for p, q in snapshot["msg"]["yes_dollars_fp"]}
    assert "no_dollars_fp" not in snapshot["msg"]

    mine = place(sim, sim.account, "ask", "0.70", "2")
    other = sim.new_account()
    place(sim, other, "ask", "0.40", "3", "immediate_or_cancel")
    sim.signed(sim.account, "DELETE", f"/portfolio/events/orders/{mine['order_id']}")

    seqs = [1]
    for _ in range(3):
        delta = ws.recv()
        assert delta["type"] == "orderbook_delta" and delta["sid"] == sid
        seqs.append(delta["seq"])
        key = (delta["msg"]["side"], delta["msg"]["price_dollars"])
        book[key] = book.get(key, Decimal(0)) + Decimal(delta["msg"]["delta_fp"])
    assert seqs == [1, 2, 3, 4]
    rest = sim.signed(sim.account, "GET", f"/markets/{T}/orderbook").json()["orderbook_fp"]
    live = {k: v for k, v in book.items() if v}
    assert live == {("yes", p): Decimal(q) for p, q in rest["yes_dollars"]}
    ws.close()


def test_private_channels_report_this_accounts_fills_orders_and_positions(sim: SimHarness) -> None:
    sim.create_market(T)
    ws = Ws(sim.account)
    ws.subscribe(["fill", "user_orders", "market_positions", "trade", "ticker"], market_ticker=T)
    placed = place(sim, sim.account, "bid", "0.40", "5")
    place(sim, sim.new_account(), "ask", "0.40", "2", "immediate_or_cancel")
    seen: dict[str, dict[str, Any]] = {}

    def five_kinds() -> bool:
        message = ws.recv()
        seen[message["type"]] = message
        return len(seen) >= 5

    poll_until(five_kinds, between=lambda: None)
    assert set(seen) == {"fill", "user_order", "market_position", "trade", "ticker"}
    assert seen["fill"]["msg"]["order_id"] == placed["order_id"]
    assert seen["fill"]["msg"]["post_position_fp"] == "2.00"
    assert "seq" not in seen["fill"]
    assert seen["trade"]["seq"] == 1
    assert seen["market_position"]["msg"]["position_fp"] == "2.00"
    ws.close()


def test_lifecycle_channel_reports_settlement(sim: SimHarness) -> None:
    ws = Ws(sim.account)
    ws.subscribe(["market_lifecycle_v2"])
    sim.create_market(T)
    sim.settle(T, "yes")
    announced = ws.recv()  # the market's new event first (asyncapi `event_lifecycle`)
    assert (announced["type"], announced["seq"]) == ("event_lifecycle", 1)
    kinds = []
    while "settled" not in kinds:
        message = ws.recv()
        assert message["type"] == "market_lifecycle_v2"
        kinds.append(message["msg"]["event_type"])
        assert message["seq"] == len(kinds) + 1
    assert kinds[0] == "created"
    ws.close()


def test_commands_and_their_errors(sim: SimHarness) -> None:
    sim.create_market(T)
    sim.create_market("KXWS-26JAN01-B")
    ws = Ws(sim.account)
    (sid,) = ws.subscribe(["orderbook_delta"], market_ticker=T)
    ws.recv()  # snapshot
    ws.send("update_subscription", sid=sid, action="add_markets", market_tickers=["KXWS-26JAN01-B"])
    snapshot = ws.recv()
    assert (snapshot["type"], snapshot["msg"]["market_ticker"], snapshot["seq"]) == (
        "orderbook_snapshot",
        "KXWS-26JAN01-B",
        2,
    )
    ok = ws.recv()
    assert ok["type"] == "ok" and ok["msg"]["market_tickers"] == sorted([T, "KXWS-26JAN01-B"])
    list_id = ws.send("list_subscriptions")
    assert ws.recv() == {
        "id": list_id,
        "type": "ok",
        "msg": [{"channel": "orderbook_delta", "sid": sid}],
    }

    ws.close()


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ({"cmd": "dance"}, 5),
        ({"cmd": "subscribe", "params": {}}, 3),
        ({"cmd": "subscribe", "params": {"channels": ["nope"]}}, 8),
        ({"cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}}, 14),
        ({"cmd": "unsubscribe", "params": {"sids": [99]}}, 7),
        ({"cmd": "update_subscription", "params": {"action": "add_markets"}}, 12),
        ({"cmd": "update_subscription", "params": {"sid": 1}}, 15),
        ({"cmd": "unsubscribe"}, 2),
    ],
)
def test_command_errors_carry_kalshis_codes(
    sim: SimHarness, command: dict[str, Any], code: int
) -> None:
    ws = Ws(sim.account)
    ws.conn.send(json.dumps({"id": 7, **command}))
    reply = ws.recv()
    assert (reply["id"], reply["type"], reply["msg"]["code"]) == (7, "error", code)
    assert reply["msg"]["msg"]
    ws.close()


def test_unsubscribe_stops_messages(sim: SimHarness) -> None:
    sim.create_market(T)
    ws = Ws(sim.account)
    trade_sid, book_sid = ws.subscribe(["trade", "orderbook_delta"], market_ticker=T)
    ws.recv()  # snapshot
    unsub_id = ws.send("unsubscribe", sids=[book_sid])
    # the answer takes the number after the snapshot's, as an `ok` does
    assert ws.recv() == {"id": unsub_id, "type": "unsubscribed", "sid": book_sid, "seq": 2}
    place(sim, sim.account, "bid", "0.40", "1")
    place(sim, sim.new_account(), "ask", "0.40", "1", "immediate_or_cancel")
    message = ws.recv()
    assert (message["type"], message["sid"]) == ("trade", trade_sid)
    ws.close()


def test_the_handshake_needs_a_valid_signature(sim: SimHarness) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(sim.account.ws_url, timeout=3)
    assert info.value.status_code == 401


def test_heartbeat_pings_arrive(tmp_path: Path) -> None:
    with start_simulator(tmp_path, scenario="empty", heartbeat_s=0.1) as running:
        ws = Ws(running.account)
        opcode, _ = ws.conn.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_PING
        ws.close()


def test_a_ticker_names_the_size_of_the_markets_last_trade_whatever_moved_it(
    sim: SimHarness,
) -> None:
    """asyncapi `ticker`: `last_trade_size_fp` is the "contracts in last trade": a ticker sent
    because the book moved, or on subscribing with `send_initial_snapshot`, names the size of the
    market's last trade, as the one sent for the trade does; "0.00" only before any trade."""
    sim.create_market(T)
    ws = Ws(sim.account)
    ws.subscribe(["ticker"], market_ticker=T, send_initial_snapshot=True)
    assert ws.recv()["msg"]["last_trade_size_fp"] == "0.00"
    place(sim, sim.account, "ask", "0.52", "5")
    place(sim, sim.new_account(), "bid", "0.52", "2", "immediate_or_cancel")
    place(sim, sim.account, "bid", "0.30", "1")  # the book moves; no trade
    sizes = [ws.recv()["msg"]["last_trade_size_fp"]]  # the ask rests before any trade
    while True:
        message = ws.recv()["msg"]
        sizes.append(message["last_trade_size_fp"])
        if message["yes_bid_dollars"] == "0.3000":
            break
    assert sizes[0] == "0.00"
    assert set(sizes[1:]) == {"2.00"}  # the trade, the book it left, the bid
    late = Ws(sim.account)
    late.subscribe(["ticker"], market_ticker=T, send_initial_snapshot=True)
    assert late.recv()["msg"]["last_trade_size_fp"] == "2.00"
    ws.close()
    late.close()

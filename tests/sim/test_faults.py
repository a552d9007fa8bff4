"""Each fault knob, shown by its effect on a real client over loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import websocket

from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.vocabulary.keys import load_private_key, signed_headers
from tests.conftest import SimHarness
from tests.openapi_check import RECORDER
from tests.sim.wsutil import Ws
from tests.waiting import PATIENCE_S, wait_until
from tests.wire import order_body

T = "KXFLT-26JAN01-A"
ORDER = order_body(T, count="1")


def test_http_5xx_rate_answers_500_and_changes_nothing(sim: SimHarness) -> None:
    sim.create_market(T)
    sim.set_faults(http_5xx_rate=1.0)
    response = sim.place_order(sim.account, ORDER)
    assert (response.status_code, response.json()["code"]) == (500, "internal_server_error")
    sim.clear_faults()
    assert sim.signed(sim.account, "GET", "/portfolio/orders").json()["orders"] == []


def test_http_429_rate_answers_429_and_is_counted(sim: SimHarness) -> None:
    sim.set_faults(http_429_rate=1.0)
    response = sim.signed(sim.account, "GET", "/portfolio/balance")
    assert (response.status_code, response.json()["code"]) == (429, "too_many_requests")
    assert sim.stats()["accounts"][sim.account.key_id]["rate_limited"] == 1


def test_a_seed_makes_the_fault_sequence_repeatable(sim: SimHarness) -> None:
    def run() -> list[int]:
        sim.set_faults(http_5xx_rate=0.5, seed=42)
        return [httpx.get(sim.account.api_base + "/exchange/status").status_code for _ in range(12)]

    first, second = run(), run()
    assert first == second
    assert set(first) == {200, 503}  # the spec shapes /exchange/status outages as 503


def test_latency_delays_every_answer(sim: SimHarness) -> None:
    sim.set_faults(latency_ms=300)
    started = time.monotonic()
    assert httpx.get(sim.account.api_base + "/exchange/status").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_a_dropped_response_after_commit_leaves_the_order_in_place(sim: SimHarness) -> None:
    sim.create_market(T)
    sim.set_faults(drop_response_after_commit_rate=1.0)
    with pytest.raises(httpx.TransportError):
        sim.place_order(sim.account, {**ORDER, "client_order_id": "c-1"})
    sim.clear_faults()
    orders = sim.signed(sim.account, "GET", "/portfolio/orders").json()["orders"]
    assert [(o["client_order_id"], o["status"]) for o in orders] == [("c-1", "resting")]
    assert sim.stats()["accounts"][sim.account.key_id]["order_create_requests"] == 1


def test_bad_fault_knobs_are_refused(sim: SimHarness) -> None:
    for body in ({"http_5xx_rate": 2}, {"nope": 1}, {"latency_ms": "x"}):
        response = httpx.put(sim.admin_url + "/faults", json=body)
        assert response.status_code == 400, body
    assert httpx.get(sim.admin_url + "/faults").json()["http_5xx_rate"] == 0.0


def _trade_burst(sim: SimHarness, n: int) -> None:
    other = sim.new_account()
    for _ in range(n):
        sim.place_order(sim.account, ORDER)
        sim.place_order(other, {**ORDER, "side": "ask", "time_in_force": "immediate_or_cancel"})


def test_ws_seq_gap_rate_skips_sequence_numbers_and_a_resubscribe_recovers(sim: SimHarness) -> None:
    sim.create_market(T)
    ws = Ws(sim.account)
    (sid,) = ws.subscribe(["orderbook_delta"], market_ticker=T)
    assert ws.recv()["seq"] == 1
    sim.set_faults(ws_seq_gap_rate=1.0)
    sim.place_order(sim.account, ORDER)
    delta = ws.recv()
    assert delta["seq"] == 3  # 2 was skipped: the client must notice the gap
    sim.clear_faults()
    unsub = ws.send("unsubscribe", sids=[sid])
    ws.recv_until(lambda m: m.get("id") == unsub)
    (new_sid,) = ws.subscribe(["orderbook_delta"], market_ticker=T)
    snapshot = ws.recv()
    assert (snapshot["type"], snapshot["sid"], snapshot["seq"]) == (
        "orderbook_snapshot",
        new_sid,
        1,
    )
    assert snapshot["msg"]["yes_dollars_fp"] == [["0.4000", "1.00"]]
    sim.place_order(sim.account, ORDER)
    assert ws.recv()["seq"] == 2
    ws.close()


def test_ws_silence_suppresses_messages_for_a_while(sim: SimHarness) -> None:
    # The silence starts when it is set and lasts 5 s; the first trade is made inside it however
    # slow the machine (it used to last 1 s, and on a loaded machine the first trade's message
    # sometimes came after it had ended). What was sent during the silence is lost, so the
    # first message received after it has a later seq than the subscription's first.
    sim.create_market(T)
    ws = Ws(sim.account, timeout=0.5)
    ws.subscribe(["trade"], market_ticker=T)
    sim.set_faults(ws_silence_s=5.0)
    _trade_burst(sim, 1)

    def a_message() -> dict[str, Any] | None:
        try:
            message: dict[str, Any] = ws.recv()
        except websocket.WebSocketTimeoutException:
            _trade_burst(sim, 1)  # trades until the silence ends and one is sent
            return None
        return message

    received = wait_until(a_message, "a message once the silence ended", between=lambda: None)
    assert received["type"] == "trade"
    assert received["seq"] > 1  # the first trade's message was never sent
    ws.close()


def test_ws_drop_rate_closes_the_connection(sim: SimHarness) -> None:
    sim.create_market(T)
    ws = Ws(sim.account)
    sim.set_faults(ws_drop_rate=1.0)
    ws.send("list_subscriptions")
    opcode, data = ws.conn.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == 1011  # closed instead of answering


def test_ws_refuse_subscribe_rate_refuses_subscribe_and_add_markets(sim: SimHarness) -> None:
    sim.create_market(T)
    ws = Ws(sim.account)
    (sid,) = ws.subscribe(["orderbook_delta"], market_ticker=T)
    ws.recv()  # its snapshot
    sim.set_faults(ws_refuse_subscribe_rate=1.0)
    for cid in (
        ws.send("subscribe", channels=["fill"]),
        ws.send("update_subscription", sids=[sid], market_tickers=[T], action="add_markets"),
    ):
        refusal = ws.recv_until(lambda m, cid=cid: m.get("id") == cid)
        assert (refusal["type"], refusal["msg"]["code"]) == ("error", 18)  # Command timeout
    listed = ws.send("list_subscriptions")  # not a subscription: answered
    assert ws.recv_until(lambda m: m.get("id") == listed)["type"] == "ok"
    sim.clear_faults()
    assert len(ws.subscribe(["fill"])) == 1  # asked again, granted
    ws.close()


# ------------------------------------------------------------------------------------------
# a request held in the network, and 503 on order writes


HELD_S = 5.0


def _orders(sim: SimHarness) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = sim.signed(sim.account, "GET", "/portfolio/orders").json()[
        "orders"
    ]
    return orders


def _creates(sim: SimHarness) -> int:
    return int(sim.stats()["order_create_requests"])


def test_a_held_order_request_lands_after_the_client_gave_up(sim: SimHarness) -> None:
    sim.create_market(T)
    # held long enough that the listing just after the client gave up cannot, on a busy
    # machine, come after the hold (it ends by itself here: clearing it is the next test's)
    sim.set_faults(hold_request_s=HELD_S)
    with pytest.raises(httpx.ReadTimeout):
        sim.place_order(sim.account, {**ORDER, "client_order_id": "held-1"}, timeout=0.3)
    assert _orders(sim) == []  # still in the network
    assert httpx.get(sim.admin_url + "/faults").json()["hold_request_s"] == 0.0  # one request
    wait_until(lambda: _creates(sim) == 1, "the held request to arrive")
    wait_until(lambda: bool(_orders(sim)), "the held order to rest")
    assert [(o["client_order_id"], o["status"]) for o in _orders(sim)] == [("held-1", "resting")]


def test_a_held_batch_of_orders_lands_when_the_faults_are_cleared(sim: SimHarness) -> None:
    """A network hold does not look at what a request carries: a batch create is held too; and
    clearing the faults ends the hold under way, so a test need not wait out a hold set long
    enough for a loaded machine (this one's, longer than the wait for it to land)."""
    sim.create_market(T)
    sim.set_faults(hold_request_s=PATIENCE_S * 2)
    batch = [{**ORDER, "client_order_id": f"held-batch-{n}"} for n in (1, 2)]
    with pytest.raises(httpx.ReadTimeout):
        sim.signed(
            sim.account,
            "POST",
            "/portfolio/events/orders/batched",
            json={"orders": batch},
            timeout=0.3,
        )
    assert _orders(sim) == []  # still in the network
    sim.clear_faults()
    # the admin's count, not the order listing: polling that spends the account's read budget
    wait_until(lambda: _creates(sim) == 1, "the held batch to arrive")
    wait_until(lambda: len(_orders(sim)) == 2, "the held batch to land")
    assert sorted(o["client_order_id"] for o in _orders(sim)) == ["held-batch-1", "held-batch-2"]


def _raw_post(sim: SimHarness, path: str, body: bytes) -> socket.socket:
    """A connection to the simulator on which only the head of a signed POST of `body` to `path`
    (relative to /trade-api/v2) was sent: the test sends the body, or part of it, itself."""
    path = "/trade-api/v2" + path
    key, _ = load_private_key(path=sim.account.private_key_path)
    stamp = int(time.time() * 1000)
    headers = {
        **signed_headers(key, sim.account.key_id, "POST", path, stamp),
        "Host": httpx.URL(sim.account.api_base).netloc.decode(),
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
    }
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    url = httpx.URL(sim.account.api_base)
    sent = socket.create_connection((url.host, url.port or 80))
    sent.sendall(head.encode() + b"\r\n")
    return sent


def test_the_network_holds_a_request_only_once_it_was_sent_whole(sim: SimHarness) -> None:
    """A batch create whose head has arrived but not all of its body is not yet the request
    the network holds (the hold stays armed while a later request is answered); once the rest
    of the body arrives it is, and it lands when the hold ends. On the old code the head alone
    took the hold: a client killed before its body left took it with nothing to land, and a
    test that killed a loop once the hold was taken could find its batch never landed."""
    sim.create_market(T)
    sim.set_faults(hold_request_s=PATIENCE_S * 2)
    batch = [{**ORDER, "client_order_id": f"whole-{n}"} for n in (1, 2)]
    body = json.dumps({"orders": batch}).encode()
    with _raw_post(sim, "/portfolio/events/orders/batched", body) as sent:
        sent.sendall(body[:10])
        sim.signed(sim.account, "GET", "/exchange/status")  # a later request, answered
        assert httpx.get(sim.admin_url + "/faults").json()["hold_request_s"] > 0
        sent.sendall(body[10:])
        wait_until(
            lambda: httpx.get(sim.admin_url + "/faults").json()["hold_request_s"] == 0,
            "the whole request to be held",
        )
        assert _orders(sim) == []  # held in the network
        sim.clear_faults()
        wait_until(lambda: len(_orders(sim)) == 2, "the held batch to land")


def test_a_hold_is_spent_on_the_first_request_though_its_sender_hung_up_before_it_arrived_whole(
    sim: SimHarness,
) -> None:
    """The hold belongs to the first order request to arrive. Its sender hangs up with half its
    body sent: that request never reaches the exchange, and the hold goes with it; the next
    order (of another market) is answered as any other. On the old code the hold stayed armed
    through the hang-up and held that next order instead."""
    other = "KXFLT-26JAN01-B"
    sim.create_market(T)
    sim.create_market(other)
    sim.set_faults(hold_request_s=PATIENCE_S * 2)
    body = json.dumps({**ORDER, "client_order_id": "hung-up"}).encode()
    with _raw_post(sim, "/portfolio/events/orders", body) as sent:
        sent.sendall(body[:10])
    wait_until(lambda: sim.faults()["hold_request_s"] == 0, "the hold to go with the hung-up one")
    answer = sim.placed(sim.account, {**order_body(other, count="1"), "client_order_id": "next"})
    assert [(o["order_id"], o["client_order_id"]) for o in _orders(sim)] == [
        (answer["order_id"], "next")
    ]
    assert _creates(sim) == 1  # the hung-up request never reached the exchange


class _Stall:
    """A response hook that keeps the simulator's event loop (where the hook runs) after its
    answer to the one request the test marks, until released: the simulator comes to whatever
    arrives meanwhile only afterwards, as on a loaded machine. The mark is a query of the
    test's own (`mark`), so no other request on the port (another client, a health probe) is
    the one stalled."""

    PATH = "/exchange/status"

    def __init__(self) -> None:
        self.mark = {"stall": uuid.uuid4().hex}
        self.stalled = threading.Event()
        self.released = threading.Event()

    def hook(  # noqa: PLR0917 (the response_hook's positional signature)
        self, method: str, path: str, query: str, status: int, content_type: str, body: bytes
    ) -> None:
        RECORDER.hook(method, path, query, status, content_type, body)
        marked = method == "GET" and path.endswith(self.PATH) and query == urlencode(self.mark)
        if marked and not self.stalled.is_set():
            self.stalled.set()
            self.released.wait(PATIENCE_S)


def test_a_request_sent_whole_lands_though_the_simulator_reads_it_after_its_client_hung_up(
    tmp_path: Path,
) -> None:
    """The simulator's loop is kept busy while a client sends a batch create whole, gives up
    waiting and closes the connection: the simulator comes to the request only once its
    connection is gone (uvicorn then answers the app's body read with a disconnect, the body
    buffered or not). The network held a request sent whole: it is held and lands all the
    same. Proves that nothing in the pipeline waits before the body is read: a wait there of
    more than a turn of the loop lets the closed connection be seen first, and the batch is
    lost."""
    stall = _Stall()
    harness = SimHarness(
        start_simulator(tmp_path / "sim", scenario="empty", response_hook=stall.hook)
    )
    try:
        harness.create_market(T)
        harness.set_faults(hold_request_s=PATIENCE_S * 2)
        harness.signed(harness.account, "GET", _Stall.PATH)  # a stray request: not stalled
        assert not stall.stalled.is_set()
        # then stalled: asked on a thread, as its answer may stay unsent while the loop is held
        # (uvloop writes it only when the loop turns)
        marked = threading.Thread(
            target=harness.signed,
            args=(harness.account, "GET", _Stall.PATH),
            kwargs={"params": stall.mark},
        )
        marked.start()
        assert stall.stalled.wait(PATIENCE_S)
        batch = [{**ORDER, "client_order_id": f"late-read-{n}"} for n in (1, 2)]
        with pytest.raises(httpx.ReadTimeout):  # sent whole; the client gives up and hangs up
            harness.signed(
                harness.account,
                "POST",
                "/portfolio/events/orders/batched",
                json={"orders": batch},
                timeout=0.3,
            )
        stall.released.set()
        marked.join(PATIENCE_S)
        wait_until(
            lambda: httpx.get(harness.admin_url + "/faults").json()["hold_request_s"] == 0,
            "the request to be held",
        )
        assert _orders(harness) == []  # held in the network
        harness.clear_faults()
        wait_until(lambda: len(_orders(harness)) == 2, "the held batch to land")
    finally:
        stall.released.set()
        harness.close()


def test_a_request_held_past_the_signature_window_is_refused_on_arrival(tmp_path: Path) -> None:
    harness = SimHarness(
        start_simulator(
            tmp_path / "sim", scenario="empty", auth_window_s=1.0, response_hook=RECORDER.hook
        )
    )
    try:
        harness.create_market(T)
        harness.set_faults(hold_request_s=2.5)
        with pytest.raises(httpx.ReadTimeout):
            harness.place_order(
                harness.account, {**ORDER, "client_order_id": "held-2"}, timeout=0.3
            )
        wait_until(lambda: _creates(harness) == 1, "the held request to arrive")
        assert _orders(harness) == []
    finally:
        harness.close()


@pytest.mark.parametrize(
    ("knob", "lands"), [("write_503_rate", False), ("write_503_after_commit_rate", True)]
)
def test_write_503_answers_every_write_that_places_orders(
    sim: SimHarness, knob: str, lands: bool
) -> None:
    """The create, the amend and the batch create alike: the writes a maintenance window
    refuses and `hold_request_s` holds."""
    sim.create_market(T)
    placed = sim.place_order(sim.account, {**ORDER, "client_order_id": "a"}).json()
    sim.set_faults(**{knob: 1.0})
    create = sim.place_order(sim.account, {**ORDER, "client_order_id": "b"})
    amend = sim.signed(
        sim.account,
        "POST",
        f"/portfolio/events/orders/{placed['order_id']}/amend",
        json={"ticker": T, "side": "bid", "price": "0.41", "count": "1"},
    )
    batch = [{**ORDER, "client_order_id": f"batch-{n}"} for n in (1, 2)]
    batched = sim.signed(
        sim.account, "POST", "/portfolio/events/orders/batched", json={"orders": batch}
    )
    reads = sim.signed(sim.account, "GET", "/portfolio/orders")
    cancel = sim.signed(sim.account, "DELETE", f"/portfolio/events/orders/{placed['order_id']}")
    sim.clear_faults()
    assert [(r.status_code, r.json()["code"]) for r in (create, amend, batched)] == [
        (503, "service_unavailable")
    ] * 3
    assert (reads.status_code, cancel.status_code) == (200, 200)  # other paths are untouched
    by_coid = {o["client_order_id"]: o for o in _orders(sim)}
    assert ("b" in by_coid) is lands
    assert ({"batch-1", "batch-2"} <= by_coid.keys()) is lands
    assert (by_coid["a"]["yes_price_dollars"] == "0.4100") is lands


def test_read_lag_serves_orders_and_positions_as_they_were_before_recent_writes(
    sim: SimHarness,
) -> None:
    """REFERENCE.md, "Observed on the real wire": a DELETE acknowledged 200 with reduced_by, a
    GET ~360 ms later still `resting` with the old last_update_time, a second DELETE 404."""
    sim.create_market(T)
    other = sim.new_account()
    placed = sim.place_order(sim.account, {**ORDER, "client_order_id": "a"})
    order_id = placed.json()["order_id"]
    before = sim.signed(sim.account, "GET", f"/portfolio/orders/{order_id}").json()["order"]
    sim.set_faults(read_lag_ms=3000)  # far above how long the next few requests take

    cancel = sim.signed(sim.account, "DELETE", f"/portfolio/events/orders/{order_id}")
    assert (cancel.status_code, cancel.json()["reduced_by"]) == (200, "1.00")
    stale = sim.signed(sim.account, "GET", f"/portfolio/orders/{order_id}").json()["order"]
    assert (stale["status"], stale["last_update_time"]) == ("resting", before["last_update_time"])
    listed = sim.signed(sim.account, "GET", "/portfolio/orders", params={"status": "resting"})
    assert [o["order_id"] for o in listed.json()["orders"]] == [order_id]
    # the write sees the truth: the order is no longer there to cancel
    again = sim.signed(sim.account, "DELETE", f"/portfolio/events/orders/{order_id}")
    assert again.status_code == 404

    # a new order is not listed yet, and looked up alone it is not found
    fresh = sim.place_order(sim.account, {**ORDER, "client_order_id": "b"}).json()["order_id"]
    assert sim.signed(sim.account, "GET", f"/portfolio/orders/{fresh}").status_code == 404
    # a fill: the position lags, the fill itself does not
    sell = {**ORDER, "side": "ask", "time_in_force": "immediate_or_cancel"}
    sim.placed(other, sell)
    positions = sim.signed(sim.account, "GET", "/portfolio/positions").json()
    assert positions["market_positions"] == []
    fills = sim.signed(sim.account, "GET", "/portfolio/fills").json()["fills"]
    assert [f["order_id"] for f in fills] == [fresh]

    def caught_up() -> bool:
        orders = sim.signed(sim.account, "GET", "/portfolio/orders").json()["orders"]
        return {o["order_id"]: o["status"] for o in orders} == {
            order_id: "canceled",
            fresh: "executed",
        }

    # each ask spends the account's read budget: asked at the pace it refills, never into a 429
    wait_until(caught_up, "the reads to catch up", between=lambda: time.sleep(0.1))
    position = sim.signed(sim.account, "GET", "/portfolio/positions").json()["market_positions"]
    assert [(p["ticker"], p["position_fp"]) for p in position] == [(T, "1.00")]

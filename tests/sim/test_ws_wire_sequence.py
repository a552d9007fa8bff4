"""What captures of Kalshi's WebSocket show and the simulator once did otherwise: an `ok` to
`update_subscription` takes the subscription's next sequence number (REFERENCE.md "Observed on
the real wire"), `unsubscribed` carries a `seq` of at least 1 (asyncapi `sequenceNumber`), events
are announced (`event_lifecycle`) and the `multivariate_market_lifecycle` channel is served."""

from __future__ import annotations

from tests.conftest import SimHarness
from tests.sim.test_multivariate import A1, B1, PATH, legs, setup
from tests.sim.test_spec_audit import ws_problems
from tests.sim.test_ws import T, place
from tests.sim.wsutil import Ws

B = "KXWS-26JAN01-B"


def test_an_update_subscription_ok_takes_the_next_sequence_number(sim: SimHarness) -> None:
    sim.create_market(T)
    sim.create_market(B)
    ws = Ws(sim.account)
    (sid,) = ws.subscribe(["orderbook_delta"], market_ticker=T)
    assert ws.recv()["seq"] == 1  # the snapshot
    update = ws.send("update_subscription", sid=sid, action="add_markets", market_tickers=[B])
    snapshot = ws.recv()
    assert (snapshot["type"], snapshot["seq"]) == ("orderbook_snapshot", 2)
    ok = ws.recv()
    assert ok == {
        "id": update,
        "type": "ok",
        "sid": sid,
        "seq": 3,
        "msg": {"market_tickers": [T, B]},
    }
    assert ws_problems(ok) == []
    delete = ws.send("update_subscription", sid=sid, action="delete_markets", market_tickers=[B])
    assert ws.recv() == {
        "id": delete,
        "type": "ok",
        "sid": sid,
        "seq": 4,
        "msg": {"market_tickers": [T]},
    }
    place(sim, sim.account, "bid", "0.40", "1")
    delta = ws.recv()
    assert (delta["type"], delta["seq"]) == ("orderbook_delta", 5)  # no gap after the oks
    ws.close()


def test_unsubscribed_carries_a_sequence_number_of_at_least_one(sim: SimHarness) -> None:
    sim.create_market(T)
    ws = Ws(sim.account)
    trade_sid, ticker_sid = ws.subscribe(["trade", "ticker"], market_ticker=T)
    for sid in (trade_sid, ticker_sid):  # nothing was ever sent on either
        unsub = ws.send("unsubscribe", sids=[sid])
        answer = ws.recv()
        assert answer == {"id": unsub, "type": "unsubscribed", "sid": sid, "seq": 1}
        assert ws_problems(answer) == []
    (book_sid,) = ws.subscribe(["orderbook_delta"], market_ticker=T)
    assert ws.recv()["seq"] == 1
    unsub = ws.send("unsubscribe", sids=[book_sid])
    assert ws.recv() == {"id": unsub, "type": "unsubscribed", "sid": book_sid, "seq": 2}
    ws.close()


def test_a_new_event_is_announced_on_market_lifecycle_v2(sim: SimHarness) -> None:
    ws = Ws(sim.account)
    (sid,) = ws.subscribe(["market_lifecycle_v2"])
    sim.create_market(T, title="A market")
    first, second = ws.recv(), ws.recv()
    assert first == {
        "type": "event_lifecycle",
        "sid": sid,
        "seq": 1,
        "msg": {
            "event_ticker": "KXWS-26JAN01",
            "exchange_index": 0,
            "title": first["msg"]["title"],
            "subtitle": first["msg"]["subtitle"],
            "collateral_return_type": "",
            "series_ticker": "KXWS",
        },
    }
    assert [p for m in (first, second) for p in ws_problems(m)] == []
    assert (second["type"], second["seq"], second["msg"]["event_type"]) == (
        "market_lifecycle_v2",
        2,
        "created",
    )
    # a second market of the same event announces no event again
    sim.create_market(B)
    third = ws.recv()
    assert (third["type"], third["msg"]["market_ticker"]) == ("market_lifecycle_v2", B)
    ws.close()


def test_multivariate_market_lifecycle_carries_combo_events_and_markets_only(
    sim: SimHarness,
) -> None:
    setup(sim)
    ws = Ws(sim.account)
    (sid,) = ws.subscribe(["multivariate_market_lifecycle"])
    sim.create_market("KXPLAIN-26JAN01-P")  # not a combo: not on this channel
    made = sim.signed(sim.account, "POST", PATH, json=legs((A1, "yes"), (B1, "no")))
    assert made.status_code == 200, made.text
    event, market = ws.recv(), ws.recv()
    assert [p for m in (event, market) for p in ws_problems(m)] == []
    assert (event["type"], event["sid"], event["seq"]) == ("event_lifecycle", sid, 1)
    assert event["msg"]["event_ticker"] == made.json()["event_ticker"]
    assert (market["type"], market["sid"], market["seq"]) == (
        "multivariate_market_lifecycle",
        sid,
        2,
    )
    assert market["msg"]["market_ticker"] == made.json()["market_ticker"]
    assert market["msg"]["event_type"] == "created"
    # the next message is the combo's settlement, not the plain market's
    sim.settle(A1, "yes")
    sim.settle(B1, "no")
    settled = ws.recv_until(lambda m: m["msg"].get("event_type") == "settled")
    assert settled["type"] == "multivariate_market_lifecycle"
    assert settled["msg"]["market_ticker"] == made.json()["market_ticker"]
    ws.close()

"""What captures of Kalshi's WebSocket show and the simulator once did otherwise: an `ok` to
`update_subscription` takes the subscription's next sequence number (REFERENCE.md "Observed on
the real wire"), `unsubscribed` carries a `seq` of at least 1 (asyncapi `sequenceNumber`), events
are announced (`event_lifecycle`), the `multivariate_market_lifecycle` channel is served, and
multivariate markets and events are announced there only, no longer on `market_lifecycle_v2`
(Kalshi's changelog)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

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


def test_skip_ticker_ack_leaves_the_market_list_out_of_the_subscriptions_oks(
    sim: SimHarness,
) -> None:
    """asyncapi subscribe `skip_ticker_ack`: "OK responses omit the market_tickers/market_ids
    lists for this subscription"; `subscribed` carries the channel and sid either way."""
    sim.create_market(T)
    sim.create_market(B)
    ws = Ws(sim.account)
    asked = ws.send(
        "subscribe", channels=["orderbook_delta", "ticker"], market_ticker=T, skip_ticker_ack=True
    )
    book = ws.recv()
    assert book == {
        "id": asked,
        "type": "subscribed",
        "msg": {"channel": "orderbook_delta", "sid": 1},
    }
    assert ws.recv()["seq"] == 1  # the snapshot
    assert ws.recv() == {"id": asked, "type": "subscribed", "msg": {"channel": "ticker", "sid": 2}}
    (trades,) = ws.subscribe(["trade"], market_ticker=T)  # without the flag
    add = ws.send("update_subscription", sid=1, action="add_markets", market_tickers=[B])
    assert ws.recv()["type"] == "orderbook_snapshot"
    ok = ws.recv()
    assert ok == {"id": add, "type": "ok", "sid": 1, "seq": 3}
    assert ws_problems(ok) == []
    delete = ws.send("update_subscription", sid=1, action="delete_markets", market_ticker=B)
    assert ws.recv() == {"id": delete, "type": "ok", "sid": 1, "seq": 4}
    add = ws.send("update_subscription", sid=2, action="add_markets", market_tickers=[B])
    assert ws.recv() == {"id": add, "type": "ok", "sid": 2}  # no seq on `ticker`, no list
    add = ws.send("update_subscription", sid=trades, action="add_markets", market_tickers=[B])
    assert ws.recv() == {
        "id": add,
        "type": "ok",
        "sid": trades,
        "seq": 1,
        "msg": {"market_tickers": [T, B]},
    }
    # the subscription still follows its markets, on its own numbers
    place(sim, sim.account, "bid", "0.40", "1")
    delta = ws.recv_until(lambda m: m["type"] == "orderbook_delta")
    assert (delta["msg"]["market_ticker"], delta["seq"]) == (T, 5)
    refused = ws.send("subscribe", channels=["trade"], market_ticker=T, skip_ticker_ack="yes")
    assert ws.recv_until(lambda m: m["type"] == "error") == {
        "id": refused,
        "type": "error",
        "msg": {"code": 11, "msg": "Invalid parameter: skip_ticker_ack must be a boolean"},
    }
    ws.close()


def test_an_orderbook_delta_carries_ts_beside_ts_ms(sim: SimHarness) -> None:
    """REFERENCE.md "Observed on the real wire": deltas carry `ts` (RFC 3339) and `ts_ms`; the
    asyncapi keeps `ts` as a deprecated optional field, so the wire decides: both, one instant."""
    sim.create_market(T)
    ws = Ws(sim.account)
    ws.subscribe(["orderbook_delta"], market_ticker=T)
    assert ws.recv()["type"] == "orderbook_snapshot"
    place(sim, sim.account, "bid", "0.40", "1")
    delta = ws.recv()
    assert delta["type"] == "orderbook_delta" and ws_problems(delta) == []
    stamped = datetime.fromisoformat(delta["msg"]["ts"].replace("Z", "+00:00"))
    assert stamped.utcoffset() == timedelta(0)
    assert int(stamped.timestamp() * 1000) == delta["msg"]["ts_ms"]
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


def test_multivariate_markets_and_events_are_on_their_own_channel_only(sim: SimHarness) -> None:
    """Kalshi's changelog: `market_lifecycle_v2` no longer carries multivariate (KXMVE) markets
    and events, in any of its message types; `multivariate_market_lifecycle` does."""
    setup(sim)
    ws = Ws(sim.account)
    v2, mve = ws.subscribe(["market_lifecycle_v2", "multivariate_market_lifecycle"])
    made = sim.signed(sim.account, "POST", PATH, json=legs((A1, "yes"), (B1, "no")))
    assert made.status_code == 200, made.text
    combo_event, combo = made.json()["event_ticker"], made.json()["market_ticker"]
    sim.create_market("KXMVESOLO-26JAN01-M")  # not made from a collection, named like one
    now = int(sim.running.state.clock.wall())
    fee = {"fee_type_override": "quadratic", "fee_multiplier_override": 2, "scheduled_ts": now}
    for event in (combo_event, "KXMVESOLO-26JAN01"):
        answer = sim.http.post(f"{sim.admin_url}/events/{event}/fee_changes", json=fee)
        assert answer.status_code == 201, answer.text
    sim.create_market("KXPLAIN-26JAN01-P")  # the mark: everything before it has been sent

    def until_created(ticker: str) -> list[dict[str, Any]]:
        seen = [ws.recv()]
        while (seen[-1]["sid"], _named(seen[-1])) != (v2, ticker):
            seen.append(ws.recv())
        return seen

    seen = until_created("KXPLAIN-26JAN01-P")
    on_v2 = [(m["type"], _named(m)) for m in seen if m["sid"] == v2]
    on_mve = [(m["type"], _named(m)) for m in seen if m["sid"] == mve]
    assert on_v2 == [
        ("event_lifecycle", "KXPLAIN-26JAN01"),
        ("market_lifecycle_v2", "KXPLAIN-26JAN01-P"),
    ]
    assert on_mve == [
        ("event_lifecycle", combo_event),
        ("multivariate_market_lifecycle", combo),
        ("event_lifecycle", "KXMVESOLO-26JAN01"),
        ("multivariate_market_lifecycle", "KXMVESOLO-26JAN01-M"),
    ]
    # a combo settled by its legs: the legs' lifecycle on market_lifecycle_v2, the combo's not
    sim.settle(A1, "yes")
    sim.settle(B1, "no")
    later = [ws.recv()]
    while (later[-1]["sid"], later[-1]["msg"].get("event_type")) != (mve, "settled"):
        later.append(ws.recv())
    assert _named(later[-1]) == combo
    sim.create_market("KXPLAIN-26JAN01-Q")
    later += until_created("KXPLAIN-26JAN01-Q")
    assert {_named(m) for m in later if m["sid"] == v2} == {A1, B1, "KXPLAIN-26JAN01-Q"}
    assert {_named(m) for m in later if m["sid"] == mve} == {combo}
    ws.close()


def _named(message: dict[str, Any]) -> str:
    """The market a lifecycle message is about, else its event."""
    body = message["msg"]
    return str(body.get("market_ticker", body.get("event_ticker")))

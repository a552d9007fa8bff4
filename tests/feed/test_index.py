"""The reference index channels on the client: the spec's own example messages decoded to their
exact values, the board keeping the latest of each index, and the feed session subscribing,
growing, listing and reporting them (error codes 24 and 28 included)."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import yaml

from kalshi_cli.feed.book import BookSet, FeedMessage, MessageKind
from kalshi_cli.feed.index import (
    CFB,
    CFB_5HZ,
    PYTH,
    IndexBoard,
    IndexMessageError,
    IndexTick,
    channels_for,
    decode_tick,
)
from kalshi_cli.feed.market_data import MarketData
from kalshi_cli.feed.messages import IndexValueMessage, decode
from kalshi_cli.feed.session import FeedSession
from kalshi_cli.feed.ws import WsFeed
from kalshi_cli.vocabulary.clock import ManualClock
from tests.feed import wire

ASYNCAPI = Path(__file__).resolve().parents[2] / "docs" / "kalshi-api" / "asyncapi.yaml"


@pytest.fixture(scope="module")
def examples() -> dict[str, dict[str, Any]]:
    """The first example payload of each message of asyncapi.yaml, by message name."""
    doc = yaml.safe_load(ASYNCAPI.read_text("utf-8"))
    return {
        name: message["examples"][0]["payload"]
        for name, message in doc["components"]["messages"].items()
        if message.get("examples")
    }


# ---------------------------------------------------------------------------------------------
# decoding


def read_tick(example: dict[str, Any]) -> IndexTick:
    """An example payload decoded as the feed decodes its text, then read as a tick."""
    message = decode(json.dumps(example))
    assert isinstance(message, IndexValueMessage), message
    return decode_tick(message)


def test_the_1hz_example_decodes_value_time_and_both_averages(examples):
    tick = read_tick(examples["cfbenchmarksValue"])
    assert tick.channel == CFB and tick.index_id == "BRTI"
    # the value and its time are the raw CF Benchmarks frame's (`data`), not the average's
    assert tick.value == D("68000.12") and tick.ts == 1710000000.123
    assert tick.avg_60s is not None and tick.avg_60s.value == D("68000.12000000")
    assert tick.avg_60s.count == 3
    assert tick.settlement is not None and tick.settlement.value == D("68000.23000000")
    assert tick.settlement.count == 14 and tick.settlement.start_ts == 1709999980.0


def test_the_5hz_and_pyth_examples_decode_their_value_and_source_time(examples):
    fast = read_tick(examples["cfbenchmarksValue5Hz"])
    assert (fast.channel, fast.index_id, fast.value, fast.ts) == (
        CFB_5HZ,
        "BRTI",
        D("68000.12000000"),
        1710000000.323,
    )
    assert fast.avg_60s is None and fast.settlement is None  # the 5 Hz channel has none
    pyth = read_tick(examples["pythValue"])
    assert (pyth.channel, pyth.index_id, pyth.value, pyth.ts) == (
        PYTH,
        "Metal.XAU/USD",
        D("2365.12345000"),
        1710000000.1,
    )


def test_a_value_message_missing_a_required_field_is_refused(examples):
    broken = json.loads(json.dumps(examples["cfbenchmarksValue5Hz"]))
    del broken["msg"]["value_usd"]
    with pytest.raises(IndexMessageError, match="value_usd"):
        read_tick(broken)
    outside = json.loads(json.dumps(examples["cfbenchmarksValue"]))
    outside["msg"]["data"] = json.dumps({"value": "NaN", "time": 1})
    with pytest.raises(IndexMessageError):
        read_tick(outside)


@pytest.mark.parametrize("body", [None, "BRTI", [1, 2], {"index_id": 5}])
def test_a_value_message_whose_body_is_not_its_channels_shape_is_that_channels_error(
    examples, body
):
    """The frame itself decodes (the feed does not resync its books for it); the body is
    refused where it is read, as the channel's error."""
    sent = {**examples["cfbenchmarksValue5Hz"], "msg": body}
    with pytest.raises(IndexMessageError, match="cfbenchmarks_value_5hz"):
        read_tick(sent)


def test_the_1hz_channel_follows_every_index_and_the_5hz_only_its_five():
    assert channels_for(["BRTI", "BNBUSD_RTI", "BRTI", "ETHUSD_RTI"]) == {
        CFB: ["BRTI", "BNBUSD_RTI", "ETHUSD_RTI"],
        CFB_5HZ: ["BRTI", "ETHUSD_RTI"],
    }
    assert channels_for(["BNBUSD_RTI"]) == {CFB: ["BNBUSD_RTI"]}
    assert channels_for([]) == {}


# ---------------------------------------------------------------------------------------------
# the board


def tick(ts: float, value: str, channel: str = CFB_5HZ, **kw: Any) -> IndexTick:
    return IndexTick(channel, "BRTI", ts, D(value), **kw)


def test_the_board_keeps_the_latest_and_ignores_ticks_not_after_it():
    board = IndexBoard()
    assert board.apply(tick(100.0, "1.0"))
    assert board.apply(tick(100.2, "2.0"))
    assert not board.apply(tick(100.2, "9.0"))  # the same source time, from the other channel
    assert not board.apply(tick(100.1, "9.0"))  # out of order
    view = board.view("BRTI")
    assert view is not None
    assert (view.ts, view.value) == (100.2, D("2.0"))
    assert view.history == ((100.0, D("1.0")), (100.2, D("2.0")))
    assert board.ignored == 2
    assert board.view("ETHUSD_RTI") is None


def test_the_board_forgets_values_older_than_its_horizon():
    board = IndexBoard(keep_s=10.0)
    for s in range(30):
        board.apply(tick(float(s), str(s)))
    view = board.view("BRTI")
    assert view is not None
    assert [t for t, _ in view.history] == [float(s) for s in range(19, 30)]


def test_the_averages_are_the_latest_1hz_ticks_and_the_settlement_one_clears_after_the_close(
    examples,
):
    from kalshi_cli.feed.index import Average

    board = IndexBoard()
    avg = Average(D("100.5"), 59, 0.0)
    settle = Average(D("101.25"), 59, 841.0)
    board.apply(tick(899.0, "101", channel=CFB, avg_60s=avg, settlement=settle))
    board.apply(tick(899.4, "102"))  # a 5 Hz value after it: the averages stay
    view = board.view("BRTI")
    assert view is not None
    assert view.value == D("102") and view.avg_60s == D("100.5") and view.avg_60s_count == 59
    assert view.settlement_avg == D("101.25") and view.settlement_count == 59
    # the first 1 Hz value after the close has no settlement average: the view has none
    board.apply(tick(901.0, "103", channel=CFB, avg_60s=Average(D("101"), 60, 841.0)))
    view = board.view("BRTI")
    assert view is not None
    assert view.settlement_avg is None and view.settlement_count == 0
    assert view.avg_60s == D("101")


# ---------------------------------------------------------------------------------------------
# the feed session


def session_with(indices: dict[str, list[str]]) -> tuple[FeedSession, list[FeedMessage], list[Any]]:
    messages: list[FeedMessage] = []
    books = BookSet(messages.append, source="ws")
    books.add(["A"])
    session = FeedSession(
        books,
        messages.append,
        clock=ManualClock(),
        channels=("orderbook_delta",),
        indices=indices,
    )
    sent: list[Any] = []
    session.open(lambda text: sent.append(json.loads(text)))
    return session, messages, sent


def value_frame(examples: dict[str, Any], name: str, sid: int, seq: int) -> str:
    frame = dict(examples[name])
    frame["sid"], frame["seq"] = sid, seq
    return json.dumps(frame)


def test_index_channels_are_subscribed_with_their_ids_not_markets():
    _, _, sent = session_with({CFB: ["BRTI", "ETHUSD_RTI"], PYTH: ["Metal.XAU/USD"]})
    params = {c["params"]["channels"][0]: c["params"] for c in sent}
    assert params[CFB] == {"channels": [CFB], "index_ids": ["BRTI", "ETHUSD_RTI"]}
    assert params[PYTH] == {"channels": [PYTH], "underlying_tickers": ["Metal.XAU/USD"]}
    assert params["orderbook_delta"]["market_tickers"] == ["A"]


def test_an_index_channel_without_ids_is_not_subscribed_until_one_is_added():
    session, _, sent = session_with({CFB_5HZ: []})
    assert [c["params"]["channels"] for c in sent] == [["orderbook_delta"]]
    session.add_indices(CFB_5HZ, ["BRTI"])
    assert sent[-1]["params"] == {"channels": [CFB_5HZ], "index_ids": ["BRTI"]}


def test_more_indices_and_the_list_go_out_as_updates_of_the_subscription():
    session, events, sent = session_with({CFB: ["BRTI"]})
    assert session.list_indices(CFB) == 0  # not subscribed yet: nothing to name
    session.handle(wire.subscribed(2, CFB, 9))
    session.add_indices(CFB, ["BRTI", "SOLUSD_RTI"])
    assert sent[-1]["cmd"] == "update_subscription"
    assert sent[-1]["params"] == {
        "sid": 9,
        "action": "subscribe_indices",
        "index_ids": ["SOLUSD_RTI"],  # BRTI is followed already
    }
    cid = session.list_indices(CFB)
    assert sent[-1]["params"] == {"sid": 9, "action": "indexlist"}
    answer = {
        "type": "cfbenchmarks_value_indexlist",
        "id": cid,
        "sid": 9,
        "seq": 1,
        "msg": {"index_ids": ["BRTI", "ETHUSD_RTI"]},
    }
    assert session.handle(json.dumps(answer)) is False  # an answer, not market data
    listed = [e for e in events if e.kind is MessageKind.INDEX_LIST]
    assert len(listed) == 1
    assert listed[0].data == {"ids": ["BRTI", "ETHUSD_RTI"]} and listed[0].reason == CFB


def test_pyth_grows_and_lists_with_its_own_actions():
    session, _, sent = session_with({PYTH: ["Metal.XAU/USD"]})
    session.handle(wire.subscribed(2, PYTH, 4))
    session.add_indices(PYTH, ["Metal.XAG/USD"])
    assert sent[-1]["params"] == {
        "sid": 4,
        "action": "subscribe_underlyings",
        "underlying_tickers": ["Metal.XAG/USD"],
    }
    session.list_indices(PYTH)
    assert sent[-1]["params"] == {"sid": 4, "action": "underlying_list"}


@pytest.mark.parametrize(
    ("code", "text"), [(24, "Index IDs required"), (28, "Underlying tickers required")]
)
def test_an_update_refused_for_missing_ids_is_an_error_event(code, text):
    session, events, _ = session_with({CFB: ["BRTI"]})
    session.handle(wire.subscribed(2, CFB, 9))
    cid = session.list_indices(CFB)
    refusal = {"id": cid, "type": "error", "msg": {"code": code, "msg": text}}
    session.handle(json.dumps(refusal))
    errors = [e for e in events if e.kind is MessageKind.ERROR]
    assert [e.reason for e in errors] == [f"indexlist: {code}"]
    assert errors[0].data == {"code": code, "msg": text}


def test_value_messages_reach_the_board_and_are_market_data(examples):
    session, events, _ = session_with({CFB: ["BRTI"], CFB_5HZ: ["BRTI"]})
    session.handle(wire.subscribed(2, CFB, 9))
    session.handle(wire.subscribed(3, CFB_5HZ, 10))
    assert session.handle(value_frame(examples, "cfbenchmarksValue", 9, 1)) is True
    assert session.handle(value_frame(examples, "cfbenchmarksValue5Hz", 10, 1)) is True
    view = session.index_board.view("BRTI")
    assert view is not None
    assert view.value == D("68000.12000000") and view.ts == 1710000000.323  # the 5 Hz, later
    assert view.avg_60s == D("68000.12000000") and view.settlement_avg == D("68000.23000000")
    assert [(e.kind, e.ticker) for e in events] == [(MessageKind.INDEX, "BRTI")] * 2
    # a lost value message is a gap of its channel
    session.handle(value_frame(examples, "cfbenchmarksValue5Hz", 10, 3))
    assert any(e.kind is MessageKind.GAP and e.reason == CFB_5HZ for e in events)


def test_a_broken_index_message_is_an_error_and_leaves_the_books_alone(examples):
    session, events, _ = session_with({CFB: ["BRTI"]})
    session.handle(wire.subscribed(1, "orderbook_delta", 7))
    session.handle(wire.snapshot(7, 1, "A", yes=[["0.4000", "10.00"]]))
    broken = json.loads(value_frame(examples, "cfbenchmarksValue", 9, 1))
    del broken["msg"]["avg_60s_data"]
    session.handle(json.dumps(broken))
    errors = [e for e in events if e.kind is MessageKind.ERROR]
    assert len(errors) == 1 and "bad index message" in errors[0].reason
    assert session._books.is_fresh("A")


def test_market_data_reports_an_index_once_per_drain_and_answers_its_view():
    feed = MarketData(["A"], ws_url="ws://127.0.0.1:1/x", indices={CFB_5HZ: ["BRTI"]})
    assert feed.ws is not None
    for n in range(5):
        feed.ws.index.apply(tick(100.0 + n / 5, f"{n}"))
        feed._on_message(FeedMessage(MessageKind.INDEX, "BRTI", reason=CFB_5HZ))
    drained = feed.drain_messages()
    assert [(e.kind, e.ticker) for e in drained] == [(MessageKind.INDEX, "BRTI")]
    assert drained[0].at is not None
    view = feed.index_view("BRTI")
    assert view is not None and view.value == D("4")
    feed._on_message(FeedMessage(MessageKind.INDEX, "BRTI", reason=CFB_5HZ))
    assert len(feed.drain_messages()) == 1  # news again after the drain


# ---------------------------------------------------------------------------------------------
# against the simulator streaming a scenario's indices over a real socket

INDEX_SCENARIO = """
description: reference indices for the feed tests
indices:
  - id: BRTI
    walk: {start: "95000.00", volatility: "0.0001", seed: 3}
  - id: ETHUSD_RTI
    walk: {start: "3000.00", volatility: "0.0002", seed: 4}
"""


def test_the_feed_follows_an_index_adds_another_and_lists_them_on_the_simulator(
    tmp_path: Path,
) -> None:
    from tests.conftest import _start
    from tests.feed.helpers import SimBooks
    from tests.waiting import wait_until

    (tmp_path / "indices.yaml").write_text(INDEX_SCENARIO)
    sim = _start(tmp_path / "sim", str(tmp_path / "indices.yaml"))
    messages: list[FeedMessage] = []
    try:
        feed = WsFeed(
            sim.account.ws_url,
            [],
            sink=messages.append,
            auth=SimBooks(sim).signer(),
            indices={CFB: ["BRTI"]},
        )
        feed.start()
        try:
            wait_until(lambda: feed.index.view("BRTI") is not None, "a BRTI value")
            view = feed.index.view("BRTI")
            assert view is not None and view.avg_60s is not None
            assert feed.index.view("ETHUSD_RTI") is None  # not followed yet
            feed.add_indices(CFB, ["ETHUSD_RTI"])
            wait_until(lambda: feed.index.view("ETHUSD_RTI") is not None, "an ETH value")
            assert feed.session.list_indices(CFB) != 0
            wait_until(
                lambda: any(e.kind is MessageKind.INDEX_LIST for e in messages),
                "any(e.kind is MessageKind.INDEX_LIST for e in messages)",
            )
            listed = next(e for e in messages if e.kind is MessageKind.INDEX_LIST)
            assert listed.data == {"ids": ["BRTI", "ETHUSD_RTI"]} and listed.reason == CFB
            assert not [e for e in messages if e.kind is MessageKind.ERROR]
        finally:
            feed.stop()
    finally:
        sim.close()

"""The reference-index channels of the simulator's WebSocket (asyncapi `cfbenchmarks_value`,
`cfbenchmarks_value_5hz`, `pyth_value`): every message in the spec's shape, the averages of a
replayed index path against hand-computed values, `indexlist`, the id actions and their error
codes, and the handshake's authentication.

The simulator runs on a test clock that starts 100 s before a quarter-hour close `Q`; the BTC
index replays `index_linear.csv`-like rows written here (`100000 + k` at offset `k` seconds), so
the value at second `Q - 100 + k` is `100000 + k` and every average is a sum of consecutive
integers.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import websocket

from kalshi_cli.sim.core.indices import RETAINED_S, RandomWalk, Replay, SimIndexFeed, SimIndexTick
from kalshi_cli.vocabulary.clock import ManualClock
from tests.conftest import SimHarness, _start
from tests.sim.test_spec_audit import ws_problems
from tests.sim.wsutil import Ws
from tests.waiting import wait_until

Q = 1_800_000_000  # a quarter-hour close (:00, :15, :30, :45): 1_800_000_000 % 900 == 0
ORIGIN = Q - 100
ROWS = 160

SCENARIO = """
description: reference indices for the WebSocket tests
indices:
  - id: BRTI
    replay: btc.csv
  - id: ETHUSD_RTI
    walk: {start: "3000.00", volatility: "0.0002", seed: 5}
  - id: BNBUSD_RTI
    walk: {start: "600.00", volatility: "0.0002", seed: 6}
  - id: Metal.XAU/USD
    source: pyth
    walk: {start: "2365.12", volatility: "0.0001", seed: 7}
"""


def btc(k: int) -> Decimal:
    return Decimal(100_000 + k)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(float(ORIGIN))


@pytest.fixture
def index_sim(tmp_path: Path, clock: ManualClock) -> Iterator[SimHarness]:
    (tmp_path / "btc.csv").write_text(
        "offset_s,value\n" + "".join(f"{k},{btc(k)}.00\n" for k in range(ROWS))
    )
    (tmp_path / "indices.yaml").write_text(SCENARIO)
    harness = _start(tmp_path / "sim", str(tmp_path / "indices.yaml"), clock)
    yield harness
    harness.close()


def connect(sim: SimHarness, clock: ManualClock) -> Ws:
    return Ws(sim.account, now_ms=int(clock.wall() * 1000))


def collect(ws: Ws, done: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def received() -> bool:
        seen.append(ws.recv())
        return done(seen)

    if not done(seen):
        wait_until(received, lambda: f"more than {len(seen)} messages", between=lambda: None)
    return seen


def second(message: dict[str, Any]) -> int:
    return int(json.loads(message["msg"]["data"])["time"]) // 1000


def test_cfbenchmarks_value_averages_match_the_hand_computed_ones(
    index_sim: SimHarness, clock: ManualClock
) -> None:
    ws = connect(index_sim, clock)
    (sid,) = ws.subscribe(["cfbenchmarks_value"], index_ids=["BRTI"])
    clock.advance(121)  # to Q + 21: the feed catches up second by second
    seen = collect(ws, lambda s: bool(s) and second(s[-1]) == Q + 21)
    ws.close()
    assert [p for m in seen for p in ws_problems(m)] == []
    by_second = {second(m): m for m in seen}
    assert [m["seq"] for m in seen] == list(range(1, len(seen) + 1))
    assert {m["sid"] for m in seen} == {sid}

    at_close = by_second[Q]["msg"]  # k = 100
    assert json.loads(at_close["data"]) == {
        "type": "value",
        "id": "BRTI",
        "time": Q * 1000,
        "value": "100100.00",
    }
    # prior ticks only, [Q - 60, Q): k = 40..99, mean 100069.5
    assert at_close["avg_60s_data"] == {
        "value": "100069.50000000",
        "window_size": 60,
        "window_start_ts_ms": (Q - 60) * 1000,
        "window_end_ts_exclusive": Q * 1000,
    }
    # (Q - 60, Q], the close tick included: k = 41..100, mean 100070.5
    assert at_close["last_60s_windowed_average_15min"] == {
        "value": "100070.50000000",
        "window_size": 60,
        "window_start_ts_ms": (Q - 60) * 1000,
        "window_end_ts_exclusive": Q * 1000,
    }
    first_of_minute = by_second[Q - 59]["msg"]  # k = 41, the ":01" tick: counts 1
    assert first_of_minute["last_60s_windowed_average_15min"]["window_size"] == 1
    assert first_of_minute["last_60s_windowed_average_15min"]["value"] == "100041.00000000"
    # the start boundary Q - 60 is not in the final minute, nor is anything after the close
    assert "last_60s_windowed_average_15min" not in by_second[Q - 60]["msg"]
    assert "last_60s_windowed_average_15min" not in by_second[Q + 1]["msg"]
    # 30 s after the origin only 30 prior ticks exist: k = 0..29, mean 100014.5
    assert by_second[ORIGIN + 30]["msg"]["avg_60s_data"]["value"] == "100014.50000000"
    assert by_second[ORIGIN + 30]["msg"]["avg_60s_data"]["window_size"] == 30

    for s, message in by_second.items():  # and every other tick by the same rule
        k = s - ORIGIN
        prior = [btc(j) for j in range(max(0, k - 60), k)]
        avg = message["msg"]["avg_60s_data"]
        assert Decimal(avg["value"]) == sum(prior) / len(prior), s
        assert avg["window_size"] == len(prior)
        if Q - 60 < s <= Q:
            window = [btc(j) for j in range(41, k + 1)]
            quarter = message["msg"]["last_60s_windowed_average_15min"]
            assert Decimal(quarter["value"]) == sum(window) / len(window)
            assert quarter["window_size"] == len(window) == s - (Q - 60)
        else:
            assert "last_60s_windowed_average_15min" not in message["msg"]


def test_the_first_tick_averages_itself_and_a_replay_ends_with_its_rows() -> None:
    feed = SimIndexFeed(float(ORIGIN))
    feed.add("BRTI", "cfbenchmarks", Replay([(0, Decimal("100000.00")), (1000, Decimal("100001"))]))
    ticks: list[SimIndexTick] = []
    feed.add_listener(ticks.append)
    feed.on_tick(ORIGIN + 5.0)
    whole = [t for t in ticks if t.whole_second]
    assert [t.ts_ms // 1000 for t in whole] == [ORIGIN, ORIGIN + 1]  # nothing after the rows
    first = whole[0].avg_60s
    assert first is not None
    assert (first.value, first.window_size) == (Decimal("100000.00"), 0)
    assert len(ticks) == 6  # 5 Hz: ORIGIN .0 .2 .4 .6 .8 and ORIGIN + 1 (the last row)


def test_the_5hz_channel_carries_raw_ticks_five_times_a_second(
    index_sim: SimHarness, clock: ManualClock
) -> None:
    ws = connect(index_sim, clock)
    ws.subscribe(["cfbenchmarks_value_5hz"], index_ids=["BRTI", "BNBUSD_RTI"])
    clock.advance(3)
    seen = collect(ws, lambda s: bool(s) and s[-1]["msg"]["source_ts_ms"] == (ORIGIN + 3) * 1000)
    ws.close()
    assert [p for m in seen for p in ws_problems(m)] == []
    # BNB is a per-second index: never on the 5 Hz channel
    assert {m["msg"]["index_id"] for m in seen} == {"BRTI"}
    stamps = [m["msg"]["source_ts_ms"] for m in seen]
    assert stamps == list(range(stamps[0], (ORIGIN + 3) * 1000 + 1, 200))
    for m in seen:
        k = m["msg"]["source_ts_ms"] // 1000 - ORIGIN  # a 1 Hz file: the value holds
        assert m["msg"]["value_usd"] == f"{btc(k)}.00000000"
        assert "avg_60s_data" not in m["msg"]


def test_index_values_reach_only_the_ids_subscribed(
    index_sim: SimHarness, clock: ManualClock
) -> None:
    ws = connect(index_sim, clock)
    (empty,) = ws.subscribe(["cfbenchmarks_value"])  # no index_ids: nothing flows
    (pyth,) = ws.subscribe(["pyth_value"], underlying_tickers=["all"])
    clock.advance(2)
    seen = collect(ws, lambda s: len(s) >= 2)
    assert {m["type"] for m in seen} == {"pyth_value"}
    assert all(m["sid"] == pyth for m in seen)
    assert seen[0]["msg"]["underlying_ticker"] == "Metal.XAU/USD"
    assert seen[0]["msg"]["source_ts_ms"] % 1000 == 0

    add = ws.send(
        "update_subscription", sid=empty, action="subscribe_indices", index_ids=["BNBUSD_RTI"]
    )
    ok = ws.recv_until(lambda m: m.get("id") == add)
    assert ok == {"id": add, "type": "ok", "sid": empty, "seq": 1}
    clock.advance(2)
    values = collect(ws, lambda s: sum(m["type"] == "cfbenchmarks_value" for m in s) >= 2)
    bnb = [m for m in values if m["type"] == "cfbenchmarks_value"]
    assert {m["msg"]["index_id"] for m in bnb} == {"BNBUSD_RTI"}
    assert [m["seq"] for m in bnb] == [2, 3]  # after the ok's 1

    drop = ws.send(
        "update_subscription", sids=[empty], action="unsubscribe_indices", index_ids=["BNBUSD_RTI"]
    )
    ws.recv_until(lambda m: m.get("id") == drop)
    ws.send("unsubscribe", sids=[pyth])
    ws.recv_until(lambda m: m["type"] == "unsubscribed")
    clock.advance(2)
    probe = ws.send("list_subscriptions")
    after = collect(ws, lambda s: bool(s) and s[-1].get("id") == probe)
    assert [m["type"] for m in after] == ["ok"]  # no index value in between
    ws.close()
    assert [p for m in seen + values + after for p in ws_problems(m)] == []


def test_indexlist_lists_the_channels_indices_without_changing_the_subscription(
    index_sim: SimHarness, clock: ManualClock
) -> None:
    ws = connect(index_sim, clock)
    one, five, pyth = ws.subscribe(["cfbenchmarks_value", "cfbenchmarks_value_5hz", "pyth_value"])
    replies = []
    for sid, action in ((one, "indexlist"), (five, "indexlist"), (pyth, "underlying_list")):
        cmd = ws.send("update_subscription", sid=sid, action=action)
        replies.append(ws.recv_until(lambda m, cmd=cmd: m.get("id") == cmd))
    assert [p for m in replies for p in ws_problems(m)] == []
    assert replies[0] == {
        "type": "cfbenchmarks_value_indexlist",
        "id": replies[0]["id"],
        "sid": one,
        "seq": 1,
        "msg": {"index_ids": ["BNBUSD_RTI", "BRTI", "ETHUSD_RTI"]},
    }
    assert replies[1]["type"] == "cfbenchmarks_value_5hz_indexlist"
    assert replies[1]["msg"] == {"index_ids": ["BRTI", "ETHUSD_RTI"]}
    assert replies[2]["type"] == "pyth_value_underlying_list"
    assert replies[2]["msg"] == {"underlying_tickers": ["Metal.XAU/USD"]}
    clock.advance(2)  # the subscriptions still track nothing
    probe = ws.send("list_subscriptions")
    after = collect(ws, lambda s: bool(s) and s[-1].get("id") == probe)
    assert [m["type"] for m in after] == ["ok"]
    ws.close()


@pytest.mark.parametrize(
    ("channel", "params", "code"),
    [
        ("cfbenchmarks_value", {"action": "subscribe_indices"}, 24),
        ("cfbenchmarks_value", {"action": "unsubscribe_indices"}, 24),
        ("cfbenchmarks_value_5hz", {"action": "subscribe_indices"}, 24),
        ("pyth_value", {"action": "subscribe_underlyings"}, 28),
        ("pyth_value", {"action": "unsubscribe_underlyings"}, 28),
        ("cfbenchmarks_value", {"action": "add_markets", "market_tickers": ["X"]}, 13),
        ("pyth_value", {"action": "indexlist"}, 13),
        ("cfbenchmarks_value", {"action": "subscribe_indices", "index_ids": "BRTI"}, 11),
        ("cfbenchmarks_value", {"action": "subscribe_indices", "index_ids": []}, 11),
    ],
)
def test_index_actions_refuse_with_the_specs_codes(
    index_sim: SimHarness, clock: ManualClock, channel: str, params: dict[str, Any], code: int
) -> None:
    ws = connect(index_sim, clock)
    (sid,) = ws.subscribe([channel])
    cmd = ws.send("update_subscription", sid=sid, **params)
    error = ws.recv_until(lambda m: m.get("id") == cmd)
    ws.close()
    assert (error["type"], error["msg"]["code"]) == ("error", code)
    assert ws_problems(error) == []


def test_a_subscribe_with_market_tickers_or_bad_ids_is_refused(
    index_sim: SimHarness, clock: ManualClock
) -> None:
    ws = connect(index_sim, clock)
    ws.send("subscribe", channels=["cfbenchmarks_value"], market_ticker="KXBTCD-X")
    assert ws.recv()["msg"]["code"] == 11
    ws.send("subscribe", channels=["pyth_value"], underlying_tickers=[1])
    assert ws.recv()["msg"]["code"] == 11
    list_id = ws.send("list_subscriptions")
    assert ws.recv() == {"id": list_id, "type": "ok", "msg": []}
    ws.close()


def test_the_index_channels_need_a_signed_handshake(index_sim: SimHarness) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(index_sim.account.ws_url, timeout=3)
    assert refused.value.status_code == 401


def test_a_seeded_walk_repeats_and_moves_by_its_volatility() -> None:
    def path(seed: int) -> list[Decimal]:
        walk = RandomWalk(Decimal("100000"), volatility=Decimal("0.001"), seed=seed)
        return [v for v in (walk.at(200 * n) for n in range(20_000)) if v is not None]

    a, b, c = path(3), path(3), path(4)
    assert a == b and a != c
    returns = [math.log(float(y) / float(x)) for x, y in itertools.pairwise(a)]
    sd = math.sqrt(sum(r * r for r in returns) / len(returns))
    assert sd == pytest.approx(0.001 * math.sqrt(0.2), rel=0.05)
    still = RandomWalk(Decimal("50.5"), volatility=Decimal(0), seed=1)
    assert {still.at(1000 * n) for n in range(10)} == {Decimal("50.50")}


def test_a_walk_jumps_as_often_as_it_says() -> None:
    walk = RandomWalk(
        Decimal("100000"),
        volatility=Decimal(0),
        jumps_per_hour=Decimal(360),  # one every 10 s
        jump_size=Decimal("0.01"),
        seed=9,
        places=Decimal("0.00000001"),
    )
    values = [walk.at(1000 * n) for n in range(36_001)]
    jumps = sum(1 for x, y in itertools.pairwise(values) if x != y)
    assert jumps == pytest.approx(3600, rel=0.1)


def test_a_clock_jump_past_the_retained_seconds_skips_the_older_part() -> None:
    feed = SimIndexFeed(float(ORIGIN))
    feed.add("BNBUSD_RTI", "cfbenchmarks", RandomWalk(Decimal(600), volatility=Decimal("0.001")))
    ticks: list[SimIndexTick] = []
    feed.add_listener(ticks.append)
    feed.on_tick(ORIGIN + 2 * 3600.0)  # two hours at once
    seconds = [t.ts_ms // 1000 for t in ticks]
    assert seconds == list(range(ORIGIN + 2 * 3600 - RETAINED_S, ORIGIN + 2 * 3600 + 1))
    assert feed.values("BNBUSD_RTI", ORIGIN, ORIGIN + 3600) == []  # nothing of the gap

"""Recorded frames that are not a message's shape, or of a type no reader knows, are counted as
docs/data.md "Reading: what is skipped and why" says, by every reader of a data set: the
replay (`bad_frame`, `bad_snapshot`, `stale_delta`, `unknown_type`, sequence numbers kept
across them), `data info` (rows by type for every market named, the unknown type's too), and
the backtest's driver (`bad_trade`, `bad_lifecycle`, `bad_index`)."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.backtest.engine import Driver, ReplayFeed
from kalshi_cli.backtest.replay_clock import ReplayClock
from kalshi_cli.data.catalog import describe
from kalshi_cli.data.replay import iter_records, replay
from kalshi_cli.data.segments import SegmentWriter, frame_line
from kalshi_cli.venue import LocalVenue, MarketInfo
from tests.feed import wire

T = "KXTEST-26JAN01-T1"
START_NS = 1_767_225_600 * 10**9


def delta(seq: int, **body: Any) -> str:
    return json.dumps({"type": "orderbook_delta", "sid": 1, "seq": seq, "msg": body})


def recording(root: Path, texts: list[str]) -> Path:
    writer = SegmentWriter(root, fsync=False)
    for i, text in enumerate(texts):
        ns = START_NS + i * 10**9
        writer.write(ns, frame_line(ns, text.encode()))
    writer.close()
    return root


def test_book_frames_not_in_their_shape_are_counted_and_keep_their_sequence(
    tmp_path: Path,
) -> None:
    root = recording(
        tmp_path,
        [
            wire.snapshot(1, 1, T, yes=[["0.4000", "10.00"]]),
            # no side: a change lost, T is stale
            delta(2, market_ticker=T, price_dollars="0.4000", delta_fp="1.00"),
            wire.delta(1, 3, T, "yes 0.4000 2.00"),  # the next number: no gap
            delta(4, price_dollars="0.4000", delta_fp="1.00", side="yes"),  # no market
            json.dumps({"type": "orderbook_delta", "sid": 1, "msg": {}}),  # no seq
            wire.snapshot(1, 5, "OTHER", yes=[["cheap", "10.00"]]),  # a level not a level
            delta(6, market_ticker="OTHER", price_dollars="0.4", delta_fp="1.00"),  # stale book
            json.dumps({"type": "orderbook_snapshot", "sid": 1, "seq": 7, "msg": {}}),
            json.dumps({"type": "mystery", "msg": {"market_ticker": T}}),
            json.dumps({"type": "multivariate_market_lifecycle", "sid": 3, "seq": 1, "msg": {}}),
            json.dumps({"type": "order_group_updates", "sid": 4, "seq": 1, "msg": {}}),
            wire.delta(1, 7, T, "yes 0.4000 1.00"),  # the snapshot naming no market took no number
        ],
    )
    books = replay(root)
    assert books.skipped == Counter(bad_frame=4, bad_snapshot=1, stale_delta=3, unknown_type=1)
    assert "seq_gap" not in books.skipped
    # T's book missed the change the delta without a side carried: stale, never 10 or 13 at 0.40
    assert not books.books[T].fresh and books.books[T].yes == {Decimal("0.4"): Decimal(10)}
    assert not books.books["OTHER"].fresh
    assert books.frames == Counter(
        orderbook_delta=6,
        orderbook_snapshot=3,
        mystery=1,
        multivariate_market_lifecycle=1,
        order_group_updates=1,
    )
    info = describe(root)
    rows = {m["ticker"]: m["rows_by_type"] for m in info["market_list"]}
    assert rows[T] == {"orderbook_delta": 3, "orderbook_snapshot": 1, "mystery": 1}
    assert rows["OTHER"] == {"orderbook_delta": 1, "orderbook_snapshot": 1}


def test_a_backtest_counts_a_trade_lifecycle_or_index_value_not_in_its_shape(
    tmp_path: Path,
) -> None:
    root = recording(
        tmp_path,
        [
            wire.snapshot(1, 1, T, yes=[["0.4000", "10.00"]]),
            json.dumps({"type": "trade", "sid": 2, "seq": 1, "msg": {"market_ticker": T,
                        "count_fp": "many", "yes_price_dollars": "0.40"}}),
            json.dumps({"type": "trade", "sid": 2, "seq": 2, "msg": {"market_ticker": T,
                        "yes_price_dollars": "0.40", "taker_outcome_side": "yes"}}),  # no count
            json.dumps({"type": "market_lifecycle_v2", "sid": 3, "seq": 1,
                        "msg": {"market_ticker": T, "event_type": 5}}),
            json.dumps({"type": "cfbenchmarks_value_5hz", "sid": 5, "seq": 1,
                        "msg": {"index_id": "BRTI", "value_usd": "1.0"}}),  # no time
            json.dumps({"type": "pyth_value", "sid": 6, "seq": 1, "msg": "XAU"}),  # no body
        ],
    )  # fmt: skip
    clock = ReplayClock(START_NS / 1e9)
    venue = LocalVenue(
        clock,
        [MarketInfo(T, "KXTEST-26JAN01", "KXTEST", fee_type="quadratic", fee_multiplier="1")],
        balance=Decimal(100),
    )
    feed = ReplayFeed([T], clock)
    driver = Driver(iter_records(root, Counter()), feed, venue, clock)
    driver.advance_to(START_NS / 1e9 + 10)
    assert driver.applier.skipped["bad_trade"] == 2
    assert feed.replay.skipped["bad_lifecycle"] == 1
    # a value without a body too: the live feed reports both as bad index messages
    assert feed.replay.skipped["bad_index"] == 2
    assert feed.replay.books[T].fresh and driver.book_events == 1

"""A recording says in which prices its orderbook NO levels came (`orderbook_prices` on each
`connected` record, and on the record of a switch the feed made), and a replay reads them so: a
recording made before that says nothing, and its NO levels are the NO-leg prices of old."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from kalshi_cli.data.replay import BookReplay, LocalNote, RecordedFrame
from kalshi_cli.feed.messages import convert_frame
from tests.feed import wire

D = Decimal


def frame(text: str) -> RecordedFrame:
    return convert_frame(json.loads(text))


@pytest.mark.parametrize(
    ("connected", "sent"),
    [
        ({"event": "connected", "orderbook_prices": "yes_leg"}, "0.7000"),
        ({"event": "connected", "orderbook_prices": "no_leg"}, "0.3000"),
        ({"event": "connected"}, "0.3000"),  # recorded before the convention was noted
    ],
    ids=["yes-leg", "no-leg", "unsaid"],
)
def test_a_replay_reads_no_levels_in_the_prices_the_recording_names(
    connected: dict[str, Any], sent: str
) -> None:
    replay = BookReplay()
    replay.apply_record(1, LocalNote(**connected), True)
    replay.apply_record(
        2, frame(wire.snapshot(1, 1, "A", yes=[["0.4000", "1.00"]], no=[[sent, "5.00"]])), False
    )
    book = replay.books["A"].to_orderbook()
    assert book.no_bids == ((D("0.30"), D(5)),)


def test_a_switch_the_feed_recorded_is_followed_by_the_replay() -> None:
    replay = BookReplay()
    replay.apply_record(1, LocalNote("connected", "no_leg"), True)
    replay.apply_record(2, LocalNote("error", "yes_leg"), True)
    replay.apply_record(3, frame(wire.snapshot(1, 1, "A", no=[["0.7000", "5.00"]])), False)
    replay.apply_record(4, frame(wire.delta(1, 2, "A", "no 0.6000 2.00")), False)
    assert replay.books["A"].to_orderbook().no_bids == ((D("0.40"), D(2)), (D("0.30"), D(5)))

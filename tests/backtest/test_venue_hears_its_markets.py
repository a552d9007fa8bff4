"""A backtest's venue hears of a recorded book change only where it has matching to do
(backtest/engine.py `Driver._apply`, venue/venue.py `LocalVenue.matches_in`): a delta changes in
place the levels the venue was given with the market's snapshot, so a market with no order of
ours resting and no level our orders took from costs the venue nothing per delta. The venue
still catches up with its clock before each decision: its compaction runs on schedule.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from kalshi_cli.backtest import BacktestSpec, execute
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.sim.core.historical import COMPACT_EVERY_S
from kalshi_cli.venue.timetable import Timetable
from kalshi_cli.venue.venue import LocalVenue

SECONDS = 120


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("hears"), seconds=SECONDS)


def test_the_venue_hears_snapshots_and_the_changes_of_markets_it_matches_in(
    recording: Path,
) -> None:
    told: Counter[str] = Counter()  # "matching" or "idle": the market's state when told
    compactions: list[float] = []
    book_changed, compact = LocalVenue.book_changed, Timetable.compact

    def spy_book(venue: LocalVenue, ticker: str, *args: Any) -> None:
        told["matching" if venue.matches_in(ticker) else "idle"] += 1
        book_changed(venue, ticker, *args)

    def spy_compact(timetable: Timetable) -> None:
        compactions.append(timetable._clock.wall())
        compact(timetable)

    params = (("take_profit", "0.06"), ("order_count", "20"), ("max_hold_s", "60"))
    spec = BacktestSpec(data=str(recording), strategy="spike", params=params)
    with (
        mock.patch.object(LocalVenue, "book_changed", spy_book),
        mock.patch.object(Timetable, "compact", spy_compact),
    ):
        artifacts = execute(spec)
    artifacts.store.close()
    snapshots = artifacts.frames["orderbook_snapshot"]
    assert artifacts.book_events > 10 * snapshots  # the recording is mostly deltas
    # a market with nothing of ours is told its snapshots alone (its first, a resync's)
    assert 0 < told["idle"] <= snapshots
    # the run ordered: the markets it rested in heard their deltas, which fill its orders
    assert told["matching"] > 0
    # compaction once a COMPACT_EVERY_S of the run, though most changes were not told
    span = artifacts.ended - artifacts.started
    assert len(compactions) >= span // COMPACT_EVERY_S - 1
    gaps = [b - a for a, b in itertools.pairwise(compactions)]
    assert max(gaps) < 2 * COMPACT_EVERY_S

"""`clock.utc_day` keeps the last day's bounds: around midnight, where `datetime` rounds a time
less than half a microsecond before it up into the next day, it answers as `datetime` does."""

from __future__ import annotations

import pytest

from kalshi_cli.vocabulary.clock import day_start, utc_datetime, utc_day

MIDNIGHT = 1_767_312_000.0  # 2026-01-02T00:00:00Z


def test_the_day_around_midnight_is_the_one_datetime_gives() -> None:
    offsets = [-1.0, -1e-6, -4e-7, -1e-7, 0.0, 1e-7, 1e-6, 1.0, 86_399.9999996, 86_400.0]
    # each time asked twice, in an order that moves back and forth across the bound, so both
    # the kept bounds and the fresh computation answer
    times = [MIDNIGHT + o for o in offsets]
    for ts in times + times[::-1] + times:
        assert utc_day(ts) == utc_datetime(ts).strftime("%Y-%m-%d"), ts
    assert utc_day(MIDNIGHT - 1.0) == "2026-01-01"
    assert utc_day(MIDNIGHT + 1.0) == "2026-01-02"


@pytest.mark.usefixtures("new_york")
def test_the_day_is_utcs_on_a_machine_in_new_york_and_day_start_reads_it_back() -> None:
    assert utc_day(MIDNIGHT + 3_600) == "2026-01-02"  # 19:00 the day before in New York
    assert day_start(utc_day(MIDNIGHT + 86_399)) == MIDNIGHT

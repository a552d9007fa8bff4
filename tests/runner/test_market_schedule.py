"""The order in which the trade loop visits its markets (runner/schedule.py), and the lag it
measures: news first and oldest news first, the sweep continued rather than restarted, quiet
markets never starved past the revisit bound, and the figures of each report."""

from __future__ import annotations

import pytest

from kalshi_cli.runner.schedule import MarketSchedule

MARKETS = [f"M{n:03d}" for n in range(500)]


def _visits(schedule: MarketSchedule, now: float, count: int) -> list[str]:
    seen = []
    for _ in range(count):
        ticker = schedule.next_market(now)
        if ticker is None:
            break
        schedule.visit(ticker, now)
        seen.append(ticker)
    return seen


def test_markets_with_news_go_before_the_sweep_oldest_news_first() -> None:
    schedule = MarketSchedule(MARKETS, now=0.0, revisit_s=10.0)
    schedule.start_sweep()
    schedule.changed("M499", at=0.5)
    schedule.changed("M250", at=0.7)
    schedule.changed("M499", at=0.9)  # a second change: its wait runs from the first
    assert _visits(schedule, 1.0, 3) == ["M499", "M250", "M000"]
    report = schedule.report(1.0)
    assert report.decisions == 2
    assert report.lag_max_s == 0.5 and report.lag_p50_s == pytest.approx(0.3)


def test_an_unfinished_sweep_is_continued_not_restarted() -> None:
    schedule = MarketSchedule(MARKETS, now=0.0, revisit_s=10.0)
    schedule.start_sweep()
    assert _visits(schedule, 1.0, 300)[-1] == "M299"
    schedule.start_sweep()  # the next timer tick, with the sweep 300 markets in
    assert _visits(schedule, 2.0, 1000) == MARKETS[300:]
    assert not schedule.pending


def test_a_quiet_market_is_visited_within_the_revisit_bound_under_constant_news() -> None:
    # one visit a step, and a change in a busy market every step: without the bound the news
    # would take every visit and the sweep would never move
    schedule = MarketSchedule(MARKETS[:20], now=0.0, revisit_s=5.0)
    step = 0.1
    schedule.start_sweep()
    now = 0.0
    last_seen = {t: 0.0 for t in MARKETS[:20]}
    longest = 0.0
    for _ in range(2000):
        now += step
        schedule.changed("M000", at=now)
        if not schedule.in_sweep("M019"):
            schedule.start_sweep()
        (ticker,) = _visits(schedule, now, 1)
        longest = max(longest, now - last_seen[ticker])
        last_seen[ticker] = now
    # past the bound a market waits only for the overdue markets ahead of it in the sweep
    assert max(now - t for t in last_seen.values()) < 5.0 + 20 * step
    assert longest < 5.0 + 20 * step
    assert schedule.report(now).revisit_max_s < 5.0 + 20 * step


def test_the_report_names_the_longest_wait_still_open_and_starts_a_new_window() -> None:
    schedule = MarketSchedule(MARKETS[:3], now=0.0, revisit_s=10.0)
    schedule.start_sweep()
    _visits(schedule, 1.0, 2)  # M002 not visited since the start
    schedule.changed("M000", at=3.0)
    report = schedule.report(4.0)
    assert report.revisit_max_s == 4.0  # M002, still waiting
    assert report.waiting == 1 and report.decisions == 0 and report.lag_p99_s is None
    _visits(schedule, 4.5, 2)
    report = schedule.report(5.0)
    assert report.decisions == 1 and report.lag_p99_s == 1.5
    assert report.revisit_max_s == 4.5  # M002's wait, closed at its visit


def test_p99_is_the_nearest_rank_of_the_window() -> None:
    schedule = MarketSchedule(MARKETS, now=0.0, revisit_s=100.0)
    for n, ticker in enumerate(MARKETS[:200]):
        schedule.changed(ticker, at=-(n + 1) / 100)  # waits of 0.01 .. 2.00 s at time 0
    _visits(schedule, 0.0, 200)
    report = schedule.report(0.0)
    assert report.decisions == 200
    assert report.lag_p50_s == 1.0 and report.lag_p99_s == 1.98 and report.lag_max_s == 2.0

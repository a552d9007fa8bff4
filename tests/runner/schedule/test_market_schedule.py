"""The order in which the trade loop visits its markets (runner/loop/schedule.py), and the lag
it measures: news first and oldest news first, the sweep continued rather than restarted, quiet
markets never starved past the revisit bound, and the figures of each report."""

from __future__ import annotations

import pytest

from kalshi_cli.runner.loop.event_groups import EventGroup
from kalshi_cli.runner.loop.schedule import MarketSchedule

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
    schedule.changed({"M499": 0.5}, 0.5)
    schedule.changed({"M250": 0.7}, 0.7)
    schedule.changed({"M499": 0.9}, 0.9)  # a second change: its wait runs from the first
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
        schedule.changed({"M000": None}, now)
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
    schedule.changed({"M000": 3.0}, 3.0)
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
        schedule.changed({ticker: -(n + 1) / 100}, 0.0)  # waits of 0.01 .. 2.00 s at time 0
    _visits(schedule, 0.0, 200)
    report = schedule.report(0.0)
    assert report.decisions == 200
    assert report.lag_p50_s == 1.0 and report.lag_p99_s == 1.98 and report.lag_max_s == 2.0


def test_under_news_in_every_market_each_is_visited_once_before_any_twice() -> None:
    """500 markets whose books all keep changing, more news than the loop can visit: the news
    is served oldest first, so no market gets a second turn while another waits for its
    first, and each market's second turn comes in the same order as its first."""
    schedule = MarketSchedule(MARKETS, now=0.0, revisit_s=1e9)
    now = 0.0
    for ticker in MARKETS:
        schedule.changed({ticker: None}, now)
    order: list[str] = []
    for _ in range(2 * len(MARKETS)):
        now += 0.001
        [ticker] = _visits(schedule, now, 1)
        order.append(ticker)
        schedule.changed({ticker: None}, now)  # its book moved again at once
    first, second = order[: len(MARKETS)], order[len(MARKETS) :]
    assert sorted(first) == MARKETS
    assert second == first


def test_a_market_waiting_for_an_exchange_answer_takes_no_turn_and_keeps_its_news() -> None:
    """A parked market (its order call still out) is passed over by the news and the sweep;
    freed, its news waits its turn again, its lag measured from when the news arrived."""
    schedule = MarketSchedule(MARKETS[:3], now=0.0, revisit_s=1e9)
    schedule.start_sweep()
    schedule.changed({"M000": 0.5}, 0.5)
    schedule.park("M000")
    schedule.changed({"M000": 0.7}, 0.7)  # more news while parked: the first still counts
    assert _visits(schedule, 1.0, 10) == ["M001", "M002"]
    assert not schedule.pending
    assert schedule.report(1.0).waiting == 1  # its news still waits
    schedule.unpark("M000")
    assert _visits(schedule, 2.0, 10) == ["M000"]
    assert schedule.report(2.0).lag_max_s == 1.5


def test_a_market_parked_through_a_sweep_joins_the_next() -> None:
    schedule = MarketSchedule(MARKETS[:3], now=0.0, revisit_s=1e9)
    schedule.park("M001")
    schedule.start_sweep()
    assert _visits(schedule, 1.0, 10) == ["M000", "M002"]
    schedule.start_sweep()
    schedule.unpark("M001")
    assert _visits(schedule, 2.0, 10) == ["M000", "M002", "M001"]


def test_the_report_names_the_markets_it_is_behind_on_longest_waiting_first() -> None:
    schedule = MarketSchedule(MARKETS[:4], now=0.0, revisit_s=10.0)
    schedule.start_sweep()
    _visits(schedule, 5.0, 2)  # M000 and M001 visited at 5 s; M002, M003 not since 0 s
    schedule.visit("M003", 1.0)
    assert schedule.report(9.0).behind_on == ()
    report = schedule.report(12.0)
    assert report.behind_on == ("M002", "M003")  # unvisited for 12 s and 11 s
    assert report.to_json()["behind_on"] == ["M002", "M003"]


def test_a_market_at_rest_takes_its_sweep_turn_without_a_visit_until_woken() -> None:
    """A market at rest is passed over where it stands in the sweep (counted as visited then,
    so the others keep their order and the lag figures theirs); news, a wake of its own or of a
    market of its event, and a wake of all give it visits again."""
    markets = MARKETS[:4]
    event = EventGroup("E", ("M002", "M003"), complete=True)
    schedule = MarketSchedule(markets, now=0.0, revisit_s=10.0, events={"M002": event})
    for ticker in ("M001", "M003"):
        schedule.rest(ticker)
    schedule.start_sweep()
    assert _visits(schedule, 1.0, 10) == ["M000", "M002"]
    assert not schedule.pending
    assert schedule.report(1.0).revisit_max_s == 1.0  # M001 and M003 too: passed at 1.0
    schedule.changed({"M001": 1.5}, 1.5)
    schedule.wake("M002")  # wakes M003, of its event
    schedule.start_sweep()
    assert _visits(schedule, 2.0, 10) == ["M001", "M000", "M002", "M003"]
    for ticker in markets:
        schedule.rest(ticker)
    schedule.start_sweep()
    assert _visits(schedule, 3.0, 10) == []
    schedule.wake_all()
    schedule.start_sweep()
    assert _visits(schedule, 4.0, 10) == markets

"""The 24-hour volume window in 16 bytes a trade time answers exactly as the per-trade window
did (sim/core/volume_window.py).

The old window kept a `(time, count)` tuple a trade and, at each tick, took off the counts of
the trades with `time <= now - DAY`. `_OldWindow` below is that code, fed the same trades; every
test compares `str(market.volume_24h)` (value and exponent, what the journal and the served
`volume_24h_fp` print) with it after each trade and each tick, across the 24-hour edge, with
trades and ticks exactly at edge times.
"""

from __future__ import annotations

import pickle
from collections import deque
from decimal import Decimal as D

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.matching import DAY
from kalshi_cli.sim.core.records import SimNotice, TradeHappened
from kalshi_cli.sim.core.serialize import market_json
from kalshi_cli.sim.core.volume_window import VolumeWindow
from kalshi_cli.vocabulary.units import fmt_count
from tests.sim.test_core import ASK, BID, GTC, IOC, Env

T0 = 1_700_000_000.0


class _OldWindow:
    """The per-trade window as it was before (sim/core/matching.py `_trim_volume`, core.py tick)."""

    def __init__(self, exchange: Exchange) -> None:
        self.volume: dict[str, D] = {t: m.volume_24h for t, m in exchange.reference.markets.items()}
        self.window: dict[str, deque[tuple[float, D]]] = {t: deque() for t in self.volume}
        exchange.reference.add_listener(self._on)

    def _on(self, notice: SimNotice) -> None:
        if isinstance(notice, TradeHappened):
            trade = notice.trade
            self.volume[trade.ticker] += trade.count
            self.window[trade.ticker].append((trade.ts, trade.count))

    def tick(self, now: float) -> None:
        for ticker, window in self.window.items():
            while window and window[0][0] <= now - DAY:
                self.volume[ticker] -= window.popleft()[1]


def _advance_to(env: Env, when: float) -> None:
    env.clock.advance(when - env.clock.wall())


def _check(env: Env, old: _OldWindow) -> None:
    for ticker, market in env.ex.reference.markets.items():
        assert str(market.volume_24h) == str(old.volume[ticker]), (ticker, env.clock.wall())
        served = market_json(env.ex.engine, market)["volume_24h_fp"]
        assert served == fmt_count(old.volume[ticker])


def _trade(env: Env, ticker: str, counts: list[str], taker_count: str | None = None) -> None:
    """Makers resting asks of `counts` at 0.40, 0.41, ...; one taker sweeping them all at once
    (one trade time for them all)."""
    for i, count in enumerate(counts):
        env.place(env.a, ASK, f"0.{40 + i}", count, GTC, ticker=ticker)
    total = taker_count or str(sum((D(c) for c in counts), D(0)))
    env.place(env.b, BID, "0.60", total, IOC, ticker=ticker)


def _tick(env: Env, old: _OldWindow) -> None:
    env.ex.tick()
    old.tick(env.clock.wall())
    _check(env, old)


def test_volume_24h_is_what_the_per_trade_window_said_across_the_edge() -> None:
    env = Env(cash=10**9)
    old = _OldWindow(env.ex)
    # trades at binary-exact offsets (so a tick can land exactly on `time + DAY`) and at
    # inexact ones (0.1 steps), counts with different exponents: 1, 2.00, 0.25, 1.5, 3
    plan = [
        (0.0, "FR", ["1", "2.00"]),  # a sweep: two makers, one trade time
        (0.0, "M", ["3"]),
        (0.25, "FR", ["0.25"]),
        (0.5, "FR", ["1.5", "0.50"]),
        (0.7, "M", ["1", "2"]),
        (1.0, "FR", ["1.00"]),
        (3.1, "M", ["5"]),
        (DAY - 0.25, "FR", ["0.75"]),  # just inside the first trades' day
        (DAY, "M", ["2"]),  # exactly a day after the first trades
    ]
    for offset, ticker, counts in plan:
        _advance_to(env, T0 + offset)
        _trade(env, ticker, counts)
        _check(env, old)
        _tick(env, old)
    # ticks across the edge: exactly at each trade time + DAY, just before and after it
    for offset in (0.0, 0.25, 0.5, 0.7, 1.0, 3.1, DAY - 0.25, DAY):
        for step in (-0.25, -0.05, 0.0, 0.05):
            when = T0 + offset + DAY + step
            if when > env.clock.wall():
                _advance_to(env, when)
                _tick(env, old)
        _advance_to(env, max(env.clock.wall(), T0 + offset + DAY + 0.1))
        _trade(env, "FR", ["0.01"])  # trades keep coming while the old ones leave
        _check(env, old)
        _tick(env, old)
    _advance_to(env, env.clock.wall() + 2 * DAY)
    _tick(env, old)
    for market in env.ex.reference.markets.values():
        assert market.volume_24h == 0
    assert any(market.volume > 0 for market in env.ex.reference.markets.values())


def test_the_window_keeps_one_entry_per_trade_time_of_the_last_day() -> None:
    env = Env(cash=10**9)
    old = _OldWindow(env.ex)
    for minute in range(3 * 24 * 60 // 30):  # three days, a sweep of three makers every 30 min
        _advance_to(env, T0 + minute * 1800.0)
        _trade(env, "M", ["1", "1", "2"])
        _tick(env, old)
        window = env.ex.engine.volume_window["M"]
        # the old window held three tuples a sweep; this one entry a trade time, of the last day
        assert len(window) == min(minute + 1, 48)
        assert len(old.window["M"]) == 3 * len(window)
    assert [c for _, c in env.ex.engine.volume_window["M"].entries()] == [D(4)] * 48


def test_a_restored_snapshot_keeps_the_window() -> None:
    window = VolumeWindow([(T0, D("1.50")), (T0, D("0.50")), (T0 + 1.0, D(3))])
    again = pickle.loads(pickle.dumps(window))
    assert again.entries() == [(T0, D(2)), (T0 + 1.0, D(3))]
    assert again.trim(T0) == D(2) and again.oldest == T0 + 1.0
    assert again.trim(T0 + 1.0) == D(3) and len(again) == 0


def test_previous_price_is_the_last_trade_a_day_ago() -> None:
    """openapi.yaml `Market.previous_price_dollars`: "Price for the last traded YES contract on
    this market a day ago": the price of the last trade at least a day old (0 when there is
    none), not of the trade before the last."""
    env = Env(cash=10**9)
    _advance_to(env, T0)

    def previous() -> str:
        env.ex.tick()
        served: str = market_json(env.ex.engine, env.ex.reference.markets["M"])[
            "previous_price_dollars"
        ]
        return served

    env.place(env.a, ASK, "0.40", "1", GTC)
    env.place(env.b, BID, "0.40", "1", IOC)
    _advance_to(env, T0 + 3600.0)
    env.place(env.a, ASK, "0.60", "1", GTC)
    env.place(env.b, BID, "0.60", "1", IOC)
    assert previous() == "0.0000"  # no trade is a day old yet
    _advance_to(env, T0 + DAY - 1.0)
    assert previous() == "0.0000"
    _advance_to(env, T0 + DAY)
    assert previous() == "0.4000"
    _advance_to(env, T0 + DAY + 3600.0)
    assert previous() == "0.6000"
    _advance_to(env, T0 + 5 * DAY)
    assert previous() == "0.6000"  # the last trade stays the price a day ago

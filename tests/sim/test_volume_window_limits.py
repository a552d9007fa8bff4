"""The volume window at its limits: a count past an int64 of
hundredths, and days of trades through the compaction of its arrays."""

from decimal import Decimal as D

from kalshi_cli.sim.core.matching import DAY
from kalshi_cli.sim.core.volume_window import VolumeWindow
from tests.sim.test_core import ASK, BID, GTC, IOC, Env


def test_a_huge_trade_is_booked_whole_and_the_exchange_keeps_ticking() -> None:
    """The window holds a trade time's count in int64 hundredths; a count past that (1e17
    contracts is 1e19 hundredths) once overflowed in the middle of `_fill`, with the time
    appended and not the count, so every later tick failed. Any count the exchange accepts
    must trade and leave the window a day later."""
    env = Env(cash=10**22)
    big = 10**17
    env.place(env.a, ASK, "0.40", big, GTC)
    env.place(env.b, BID, "0.60", big, IOC)
    market = env.ex.reference.markets["M"]
    assert market.volume == market.volume_24h == D(big)
    env.clock.advance(DAY + 1)
    env.ex.tick()
    assert market.volume_24h == 0


def test_counts_of_one_time_past_an_int64_add_up() -> None:
    window = VolumeWindow()
    window.add(1.0, D(6) * 10**16)
    window.add(1.0, D(6) * 10**16)  # one sweep, one time: 1.2e19 hundredths in all
    assert window.entries()[0][0] == 1.0
    assert sum(count for _, count in window.entries()) == D(12) * 10**16
    assert window.trim(1.0) == D(12) * 10**16
    assert len(window) == 0


def test_the_arrays_stay_bounded_after_days_of_trades() -> None:
    """The spent front is dropped (the compaction in `trim`): after four days of a trade a
    minute, trimmed as `tick` does, the arrays hold at most twice a day's entries."""
    window = VolumeWindow()
    per_day = 24 * 60
    for minute in range(4 * per_day):
        now = minute * 60.0
        window.add(now, D(1))
        if window.oldest <= now - DAY:
            assert window.trim(now - DAY) == D(1)
    assert len(window) == per_day
    assert len(window._times) == len(window._counts) <= 2 * per_day

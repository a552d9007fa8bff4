"""Arbitrage across a three-market mutually exclusive event, backtested on a recording of the
default scenario's `KXPRES-SIM-28` (its NO asks add up to less than 2 after fees for 15 s of
every 60 s): the strategy buys whole NO sets, one NO in each market, and after every set the
event's worst case at settlement (vocabulary/event_outcomes.py) is a profit."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.backtest import BacktestSpec, execute
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.vocabulary.event_outcomes import MECNET, EventLeg, event_outcomes
from kalshi_cli.vocabulary.units import ZERO, BookSide

EVENT = ["KXPRES-SIM-28-A", "KXPRES-SIM-28-B", "KXPRES-SIM-28-C"]


def test_a_backtest_buys_whole_no_sets_whose_worst_case_never_goes_below_zero(
    tmp_path: Path,
) -> None:
    data = record_scenario("default", tmp_path / "data", seconds=130, tickers=EVENT)
    # about 20 sets a trade ($40), 100 held at most (the default position limit's 100 a market)
    params = (("max_count", "100"), ("max_cost", "40"))
    spec = BacktestSpec(data=str(data), strategy="arbitrage", params=params, sample_s=5)
    artifacts = execute(spec)
    fills = sorted(artifacts.venue.client.portfolio.iter_fills(), key=lambda f: f.created_time)
    assert fills, "the event's NO sets were bought"
    # every fill buys NO (the ask side of the YES book): no YES set, no sale back
    assert all(f.book_side is BookSide.ASK for f in fills)
    held = {t: ZERO for t in EVENT}
    cost = {t: ZERO for t in EVENT}
    sets: list[tuple[Decimal, Decimal]] = []  # (sets held, worst case) each time they are whole
    for f in fills:
        held[f.ticker] += f.count
        cost[f.ticker] += f.count * (1 - f.yes_price) + f.fee
        if len(set(held.values())) == 1:
            legs = [EventLeg(t, no=held[t], cost=cost[t]) for t in EVENT]
            sets.append((held[EVENT[0]], event_outcomes(MECNET, legs).worst.pnl))
    assert len(set(held.values())) == 1, f"a partial set was left: {held}"
    assert len(sets) >= 2, "several trades, each of whole sets"
    assert all(worst > 0 for _, worst in sets), sets
    # a set of 1.91 pays 2 at least: the worst case of n sets is about 4 cents each
    count, worst = sets[-1]
    assert Decimal("0.02") * count < worst < Decimal("0.09") * count

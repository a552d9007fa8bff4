"""A scenario file sets a market's `settlement_timer_seconds` (openapi.yaml `Market`: "The amount
of time after determination that the market settles"): a market's own, else its series'
default, else 0. Over the wire a scenario's market is served with its timer, held `determined`
once its result is known and paid when its timer runs out; a bad timer is refused naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.sim.core.scenarios import ScenarioError, build_exchange
from kalshi_cli.vocabulary.clock import ManualClock
from tests.conftest import SimHarness, _start
from tests.sim.test_determined_before_settled import _read, _trade
from tests.waiting import wait_until

LONG, SERIES, NONE = "KXTIMER-1-LONG", "KXTIMER-1-SERIES", "KXUNTIMED-1-A"
SCENARIO = """
base: empty
series:
  - ticker: KXTIMER
    title: Timed
    settlement_timer_seconds: 600      # the default of its markets
    events:
      - event_ticker: KXTIMER-1
        title: Timed
        markets:
          - ticker: KXTIMER-1-LONG
            settlement_timer_seconds: 3600
          - ticker: KXTIMER-1-SERIES
  - ticker: KXUNTIMED
    title: Untimed
    events:
      - event_ticker: KXUNTIMED-1
        title: Untimed
        markets:
          - ticker: KXUNTIMED-1-A
"""


def _status(sim: SimHarness, ticker: str) -> str:
    status: str = _read(sim, f"/markets/{ticker}")["market"]["status"]
    return status


def _determine(sim: SimHarness, ticker: str, result: str) -> None:
    determined = httpx.post(f"{sim.admin_url}/markets/{ticker}/determine", json={"result": result})
    assert determined.status_code == 200, determined.text


def test_a_scenario_market_is_held_determined_for_its_timer_then_paid(tmp_path: Path) -> None:
    path = tmp_path / "timers.yaml"
    path.write_text(SCENARIO)
    clock = ManualClock(1_800_000_000.0)
    sim = _start(tmp_path / "sim", str(path), clock)
    try:
        timers = {
            t: _read(sim, f"/markets/{t}")["market"]["settlement_timer_seconds"]
            for t in (LONG, SERIES, NONE)
        }
        assert timers == {LONG: 3600, SERIES: 600, NONE: 0}
        _trade(sim, LONG)  # the account holds 10 YES
        cash = _read(sim, "/portfolio/balance")["balance"]
        _determine(sim, LONG, "yes")
        _determine(sim, SERIES, "no")
        assert _status(sim, LONG) == "determined"
        assert _read(sim, "/portfolio/balance")["balance"] == cash

        # the series' 600 s run out: that market is paid by the tick, the longer one not yet
        clock.advance(600)
        wait_until(lambda: _status(sim, SERIES) == "finalized", "the 600 s market settled")
        assert _status(sim, LONG) == "determined"
        assert _read(sim, "/portfolio/balance")["balance"] == cash
        assert _read(sim, "/portfolio/settlements")["settlements"] == []

        clock.advance(3000)  # 3600 s since it was determined
        wait_until(lambda: _status(sim, LONG) == "finalized", "the 3600 s market settled")
        assert _read(sim, "/portfolio/balance")["balance"] == cash + 1000
        settlements = _read(sim, "/portfolio/settlements")["settlements"]
        assert [(s["ticker"], s["revenue"]) for s in settlements] == [(LONG, 1000)]
    finally:
        sim.close()


def _market_with(timer: Any, *, on_series: bool = False) -> str:
    series_timer = f", settlement_timer_seconds: {timer}" if on_series else ""
    market_timer = "" if on_series else f", settlement_timer_seconds: {timer}"
    return (
        f"series:\n  - {{ticker: X, title: X{series_timer}, events: [{{event_ticker: E, "
        f"title: E, markets: [{{ticker: M{market_timer}}}]}}]}}\n"
    )


@pytest.mark.parametrize("on_series", [False, True])
@pytest.mark.parametrize("bad", ["-1", "1.5", "soon", "true", "null"])
def test_a_scenario_settlement_timer_is_whole_seconds_0_or_more(
    tmp_path: Path, bad: str, on_series: bool
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(_market_with(bad, on_series=on_series))
    where = "series X" if on_series else "M"
    with pytest.raises(ScenarioError, match=f"{where}: settlement_timer_seconds") as refused:
        build_exchange(path, clock=ManualClock())
    assert "0 or more" in str(refused.value)
    path.write_text(_market_with(7, on_series=on_series))
    good = build_exchange(path, clock=ManualClock()).reference.markets["M"]
    assert good.settlement_timer_seconds == 7

"""Collateral return over the simulator's REST API: with netting enabled on a subaccount, an
event's positions hold only their worst-case loss, the rest comes back at the trade, and
settlement pays what is left, so the final balance is netting off's to the cent
(help.kalshi.com "Collateral return"). Every answer is checked against openapi.yaml by the
autouse fixture in conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.sim.server.embed import start_simulator
from tests.conftest import SimHarness
from tests.openapi_check import RECORDER
from tests.wire import order_body

FREE = {"fee_type": "quadratic", "fee_multiplier": "0"}  # no fees: the figures are Kalshi's


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimHarness]:
    harness = SimHarness(
        start_simulator(tmp_path / "sim", scenario="empty", response_hook=RECORDER.hook)
    )
    for n, name in enumerate(("CLINTON", "TILLERSON", "KERRY")):
        harness.create_market(
            f"KXSOS-{name}",
            event_ticker="KXSOS",
            collateral_return_type="MECNET",
            **(FREE if n == 0 else {}),
        )
    for n, strike in enumerate((120, 130)):
        harness.create_market(
            f"KXBTC-T{strike}",
            event_ticker="KXBTC",
            collateral_return_type="DIRECNET",
            strike_type="greater",
            floor_strike=strike,
            **(FREE if n == 0 else {}),
        )
    yield harness
    harness.close()


def _order(ticker: str, side: str, price: str, count: int) -> dict[str, Any]:
    return order_body(ticker, side=side, price=price, count=str(count))


def trade(sim: SimHarness, me: AccountInfo, what: str) -> None:
    """`me` takes "TICKER SIDE PRICE COUNT" from a maker resting the other side: `bid` buys YES,
    `ask` buys NO at 1 - price."""
    ticker, side, price, count = what.split()
    n = int(count)
    maker = sim.new_account(10_000_000)
    other = "ask" if side == "bid" else "bid"
    sim.placed(maker, _order(ticker, other, price, n))
    sim.placed(me, _order(ticker, side, price, n))


def netting(sim: SimHarness, me: AccountInfo) -> None:
    body = {"subaccount_number": 0, "enabled": True}
    assert sim.signed(me, "PUT", "/portfolio/subaccounts/netting", json=body).status_code == 200


def balance(sim: SimHarness, me: AccountInfo) -> tuple[int, int]:
    answer = sim.signed(me, "GET", "/portfolio/balance").json()
    return answer["balance"], answer["portfolio_value"]


def exposure(sim: SimHarness, me: AccountInfo, event: str) -> Decimal:
    answer = sim.signed(me, "GET", "/portfolio/positions", params={"event_ticker": event}).json()
    (row,) = answer["event_positions"]
    return Decimal(row["event_exposure_dollars"])


def test_kalshis_example_no_at_060_and_070_takes_030_and_settles_as_without_netting(
    sim: SimHarness,
) -> None:
    on, off = sim.new_account(100_000), sim.new_account(100_000)
    netting(sim, on)
    for me in (on, off):
        trade(sim, me, "KXSOS-CLINTON ask 0.40 1")  # NO at 0.60
        trade(sim, me, "KXSOS-KERRY ask 0.30 1")  # NO at 0.70
    # $0.30 taken, not $1.30; the position value marked down by the $1 returned
    assert balance(sim, on) == (100_000 - 30, 30)
    assert balance(sim, off) == (100_000 - 130, 130)
    assert exposure(sim, on, "KXSOS") == Decimal("0.30")
    assert exposure(sim, off, "KXSOS") == Decimal("1.30")
    sim.settle("KXSOS-CLINTON", "yes")
    assert balance(sim, on)[0] == 100_000 - 30  # the $1 was paid at the trade
    for name in ("TILLERSON", "KERRY"):
        sim.settle(f"KXSOS-{name}", "no")
    assert balance(sim, on) == balance(sim, off) == (100_000 - 30, 0)


def test_a_ladder_yes_on_the_lowest_strike_and_no_on_the_next_takes_070_not_270(
    sim: SimHarness,
) -> None:
    on, off = sim.new_account(100_000), sim.new_account(100_000)
    netting(sim, on)
    for me in (on, off):
        trade(sim, me, "KXBTC-T120 bid 0.50 3")  # YES 3 at 0.50
        trade(sim, me, "KXBTC-T130 ask 0.40 2")  # NO 2 at 0.60
    assert balance(sim, on) == (100_000 - 70, 70)
    assert balance(sim, off) == (100_000 - 270, 270)
    assert exposure(sim, on, "KXBTC") == Decimal("0.70")
    sim.settle("KXBTC-T120", "yes")
    sim.settle("KXBTC-T130", "yes")
    assert balance(sim, on) == balance(sim, off) == (100_000 - 270 + 300, 0)


def test_selling_a_hedge_leg_takes_the_returned_collateral_back(sim: SimHarness) -> None:
    on = sim.new_account(100_000)
    netting(sim, on)
    trade(sim, on, "KXSOS-CLINTON ask 0.40 1")
    trade(sim, on, "KXSOS-KERRY ask 0.30 1")
    trade(sim, on, "KXSOS-KERRY bid 0.30 1")  # the NO on Kerry sold back at 0.70
    # what is left is NO on Clinton alone: it can lose its whole cost, so all of it is held
    assert balance(sim, on)[0] == 100_000 - 60
    assert exposure(sim, on, "KXSOS") == Decimal("0.60")


def test_get_events_answers_each_events_collateral_return_type_and_markets_their_strikes(
    sim: SimHarness,
) -> None:
    me = sim.account
    events = {
        e["event_ticker"]: (e["collateral_return_type"], e["mutually_exclusive"])
        for e in sim.signed(me, "GET", "/events").json()["events"]
    }
    assert events == {"KXSOS": ("MECNET", True), "KXBTC": ("DIRECNET", False)}
    market = sim.signed(me, "GET", "/markets/KXBTC-T130").json()["market"]
    assert (market["strike_type"], market["floor_strike"]) == ("greater", 130)

"""A group's legs (an arbitrage pair) pass the risk engine together or none is sent, and each leg
after the first goes only once the one before it filled. With send workers the other markets are
decided on while a leg is out: the legs still to go count as resting and hold their slots of the
order-rate cap from the moment the group was allowed, so no decision made meanwhile takes the
room they were judged with, and a leg is never refused for it after its partner filled (which
would leave that partner alone)."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.client.requests import CreateOrder, CreateOrderResult
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce
from tests.runner.fakes import Rig, quiet_market_maker

# the quiet scenario's books stand still: HOLD's YES ask is 0.62, CUT's 0.35, HIGH's bid 0.452
HOLD = "KXFEDDECISION-SIM-DEC-H0"
CUT = "KXFEDDECISION-SIM-DEC-C25"
HIGH = "KXHIGHNY-SIM-D1-T60"


def _leg(ticker: str, price: str) -> Intent:
    return Intent(
        ticker,
        Side.YES,
        Action.BUY,
        Decimal(price),
        Decimal(10),
        Decimal("0.99"),
        "a pair",
        strategy="market-maker",
        time_in_force=TimeInForce.FOK,
    )


def _bid(ticker: str) -> Intent:
    return Intent(
        ticker,
        Side.YES,
        Action.BUY,
        Decimal("0.40"),
        Decimal(10),
        Decimal("0.90"),
        "a quote",
        strategy="market-maker",
    )


def _rig(tmp_path: Path, risk: dict[str, Any]) -> Rig:
    return quiet_market_maker(tmp_path, risk={"min_edge": "0", **risk}, send_workers=2)


def _first_leg_held(rig: Rig) -> tuple[threading.Event, threading.Event]:
    """HOLD's create waits in the network until `release` is set; `out` once it does."""
    out, release = threading.Event(), threading.Event()
    create = rig.client.create_order

    def holding(request: CreateOrder) -> CreateOrderResult:
        if request.ticker == HOLD:
            out.set()
            release.wait(30)
        return create(request)

    rig.client.create_order = holding  # type: ignore[method-assign]
    return out, release


def _pair_then_a_quote(rig: Rig) -> None:
    """The pair decided, its first leg held in the network while HIGH is decided on, then
    everything answered and booked."""
    executor, now = rig.loop.executor, rig.clock.wall()
    out, release = _first_leg_held(rig)
    try:
        assert rig.loop.legs.execute([_leg(HOLD, "0.62"), _leg(CUT, "0.35")], last_data_at=now)
        assert out.wait(30), "the first leg is out"
        executor.execute(_bid(HIGH), last_data_at=now)
    finally:
        release.set()
    dispatch = rig.loop.dispatch
    while dispatch.in_flight:
        assert dispatch.settle(SystemClock(), 30)
    dispatch.close()


def test_a_decision_made_while_the_first_leg_is_out_leaves_the_second_its_rate_slot(
    tmp_path: Path,
) -> None:
    """A cap of 2 orders a minute: the pair takes both. The quote decided while the first leg was
    out took the second leg's slot, and the second leg, refused for the cap once the first
    filled, left 10 HOLD alone."""
    rig = _rig(tmp_path, {"max_orders_per_minute": 2})
    _pair_then_a_quote(rig)
    assert [r.ticker for r in rig.client.requests] == [HOLD, CUT]
    assert rig.loop.portfolio.position(HOLD) == rig.loop.portfolio.position(CUT) == 10


def test_a_decision_made_while_the_first_leg_is_out_leaves_the_second_its_exposure(
    tmp_path: Path,
) -> None:
    """A total exposure of $10.50: the pair takes $9.70. The $4 quote decided while the first
    leg was out fitted beside the first leg alone ($10.20), and the second leg, refused for the
    exposure once the first filled, left 10 HOLD alone."""
    rig = _rig(tmp_path, {"max_orders_per_minute": 1000, "max_total_exposure": "10.50"})
    _pair_then_a_quote(rig)
    assert [r.ticker for r in rig.client.requests] == [HOLD, CUT]
    assert rig.loop.portfolio.position(HOLD) == rig.loop.portfolio.position(CUT) == 10

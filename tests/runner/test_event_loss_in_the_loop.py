"""The trade loop holds its orders to the limit on an event's loss (`risk.max_event_loss`, and a
strategy's own in `trade.budgets`): its events read once at start, its resting orders counted
as filled where they lose, a denial naming the event and the outcome that loses; the hedge goes
out."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.sim.core.records import PlaceRequest
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.models import (
    Action,
    BookSide,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from tests.runner.fakes import START, make_rig, new_exchange, trader

A, B, C = (f"KXSOS-26-{m}" for m in "ABC")

MARKET = """
          - ticker: %s
            title: Who?
            yes_sub_title: "Yes"
            no_sub_title: "No"
            book: {yes_bids: [["%s", "10"]], no_bids: [["0.05", "10"]]}"""
SCENARIO = """
description: Three candidates of a mutually exclusive event, no fees, books that stand still.
fees: {fee_type: quadratic, fee_multiplier: "0"}
series:
  - ticker: KXSOS
    title: Secretary of State
    category: Politics
    frequency: custom
    events:
      - event_ticker: KXSOS-26
        title: Who?
        mutually_exclusive: true
        collateral_return_type: MECNET
        markets:""" + "".join(
    MARKET % (t, bid) for t, bid in ((A, "0.40"), (B, "0.20"), (C, "0.20"))
)


@pytest.mark.parametrize(
    ("limits", "who"),
    [
        ({"risk": {"max_event_loss": "0.65"}}, ""),
        ({"trade": {"budgets": {"spike": {"max_event_loss": "0.65"}}}}, "strategy spike: "),
    ],
    ids=["account", "strategy-budget"],
)
def test_the_worked_example_in_the_loop(tmp_path: Path, limits: dict[str, Any], who: str) -> None:
    clock = ManualClock(START)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    exchange = new_exchange(scenario, clock=clock)
    limits.setdefault("risk", {})["stop_loss_share"] = "0"
    rig = make_rig(
        tmp_path / "s.db",
        exchange=exchange,
        clock=clock,
        account_id=trader(exchange),
        log_path=tmp_path / "log.jsonl",
        **limits,
    )
    rig.step()

    def execute(ticker: str, side: Side, price: str) -> bool:
        intent = Intent(ticker, side, Action.BUY, D(price), D(1), D("0.99"), "t", "spike")
        went: bool = rig.loop.executor.execute(intent, last_data_at=rig.clock.wall(), in_sync=True)
        rig.step(0.1)
        return went

    assert execute(A, Side.NO, "0.60")  # fills at the YES bid of $0.40
    sent = len(rig.client.requests)
    assert not execute(B, Side.YES, "0.10")
    assert len(rig.client.requests) == sent  # nothing was sent
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    (denied,) = [e for e in lines if e.get("event") == "risk_denied"]
    assert denied["code"] == "EVENT_LOSS"
    assert denied["detail"].startswith(f"{who}event KXSOS-26: ")
    assert f"-$0.70 ({A} yes)" in denied["detail"]
    assert execute(C, Side.NO, "0.70")  # the hedge: worst case -$0.30 once it fills
    assert len(rig.client.requests) == sent + 1
    rig.loop.log.close()


def test_a_position_in_a_market_of_the_event_the_loop_does_not_trade_counts(
    tmp_path: Path,
) -> None:
    """NO on C at $0.80 held, C closed awaiting its result, so the loop trades A and B only: C
    still settles with them, so YES on B at $0.10 could lose $0.90 (C yes), past a limit of
    $0.85, and is refused; the loop had read C as nothing held and sent it."""
    clock = ManualClock(START)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    exchange = new_exchange(scenario, clock=clock)
    me = trader(exchange)
    take = PlaceRequest(
        ticker=C,
        book_side=BookSide.ASK,
        price=D("0.20"),
        count=D(1),
        time_in_force=TimeInForce.IOC,
        self_trade_prevention=SelfTradePrevention.TAKER_AT_CROSS,
    )
    assert exchange.desk.place_order(me, take).fills  # NO on C at $0.80
    exchange.settlement.set_market_status(C, "closed")
    risk = {"max_event_loss": "0.85", "stop_loss_share": "0"}
    rig = make_rig(tmp_path / "s.db", exchange=exchange, clock=clock, account_id=me, risk=risk)
    rig.step()
    sent = len(rig.client.requests)
    intent = Intent(B, Side.YES, Action.BUY, D("0.10"), D(1), D("0.99"), "t", "spike")
    assert not rig.loop.executor.execute(intent, last_data_at=rig.clock.wall(), in_sync=True)
    assert len(rig.client.requests) == sent
    rig.loop.log.close()

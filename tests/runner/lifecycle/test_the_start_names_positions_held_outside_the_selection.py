"""A position held at the start in a market the loop does not trade is guarded by its stop-loss
alone, no strategy trading there (docs/risk.md "Stop-loss floor"): the start says so in one line
naming each such position, on the terminal and in the log."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.runner.config import TradeConfig
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.runner.simproc import Book, client_for, log_events, market_maker_session


def test_a_position_held_outside_the_selection_is_named_at_the_start(
    sim: SimHarness, tmp_path: Path
) -> None:
    traded, held = "KXSTOPSCOPE-SIM-A", "KXSTOPSCOPE-SIM-B"
    other = client_for(sim.new_account(balance_cents=10_000_000))
    for ticker in (traded, held):
        sim.create_market(ticker)
        Book(other, ticker).quote("0.40", "0.60")
    account = sim.new_account(balance_cents=10_000_000)
    client = client_for(account)
    bought = client.orders.create_order(
        CreateOrder(
            ticker=held,
            book_side=BookSide.BID,
            price=Decimal("0.60"),
            count=Decimal(10),
            time_in_force=TimeInForce.IOC,
        )
    )
    assert bought.fill_count == 10
    out = io.StringIO()
    try:
        with client:
            market_maker_session(
                account,
                client,
                traded,
                tmp_path,
                TradeConfig(strategies={"market-maker": {}}),
                duration_s=None,
                once=True,
                out=out,
            )
    finally:
        other.close()
    told = " ".join(out.getvalue().split())
    assert (
        f"1 position held in a market this run does not trade: {held} yes 10 (guarded by its "
        "stop-loss alone, no strategy trades there" in told
    ), told
    [event] = [e for e in log_events(tmp_path / "trade.log") if e["event"] == "held_exits_only"]
    assert event["positions"] == f"{held} yes 10"
    assert traded not in event["positions"]

"""The loop's orders meet the stop-loss-at-entry rule (`StopLossAtEntryRule`, docs/risk.md) over
the market's book as the loop reads it: a buy the stop-loss would close as soon as it filled
(the best bid x contracts under `stop_loss_share` x what they cost) is refused and never sent;
the same buy under a floor the bid clears goes out. The rule's own arithmetic is proved in
tests/risk; this proves the loop hands it the book."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce
from tests.runner.fakes import quiet_market_maker, swap_decide

FED = "KXFEDDECISION-SIM-DEC-H0"  # quiet scenario: YES bids 0.60 x 100, 0.59 x 200; ask 0.62


@pytest.mark.parametrize(
    ("share", "sent"),
    # 10 YES at 0.62 cost $6.20; the best bid marks them at $6.00
    [("0.99", False), ("0.90", True)],  # a floor of $6.138 closes them at once; $5.58 does not
)
def test_a_buy_the_stop_loss_would_close_at_once_is_refused_over_the_loops_book(
    tmp_path: Path, share: str, sent: bool
) -> None:
    log = tmp_path / "trade.log"
    limits = {"min_edge": "0", "max_orders_per_minute": 1000, "stop_loss_share": share}
    rig = quiet_market_maker(tmp_path, risk=limits, log_path=log)
    buy = Intent(
        FED, Side.YES, Action.BUY, Decimal("0.62"), Decimal(10), Decimal("0.90"), "buy",
        time_in_force=TimeInForce.GTC,
    )  # fmt: skip
    turns = [buy]

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Intent]:
        return [turns.pop()] if snap.ticker == FED and turns else []

    swap_decide(rig.loop, decide)
    rig.step(0.5)
    rig.step(0.5)
    rig.loop.log.close()
    entries = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines()]
    denied = [e["code"] for e in entries if e["event"] == "risk_denied" and e["ticker"] == FED]
    went = [r for r in rig.client.requests if r.ticker == FED and r.price == Decimal("0.62")]
    if sent:
        assert (denied, len(went)) == ([], 1)
        assert rig.loop.portfolio.position(FED) == 10
    else:
        assert (denied, went) == (["STOP_LOSS_AT_ENTRY"], [])
        assert rig.loop.portfolio.position(FED) == 0

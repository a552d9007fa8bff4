"""The order-rate cap counts an order from the moment the risk engine allows it, so the decisions
after it see its slot taken: an order waiting in the tick's batch, an amend, and a replacement
waiting for the cancels of the orders it replaces. The replacement took its slot only once its
cancels were answered and it went out: every replacement decided while cancels were out was
judged against a window without the others, and all of them went."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.client.requests import CancelResult
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.units import Action, Side
from tests.runner.fakes import Rig, quiet_market_maker, swap_decide

# the quiet scenario's books stand still; bids well under them rest
MARKETS = ("KXFEDDECISION-SIM-DEC-H0", "KXFEDDECISION-SIM-DEC-C25")


def _bid(ticker: str, price: str, replaces: tuple[str, ...] = ()) -> Intent:
    return Intent(
        ticker,
        Side.YES,
        Action.BUY,
        Decimal(price),
        Decimal(5),
        Decimal("0.90"),
        "test",
        replaces=replaces,
    )


def _settle(rig: Rig) -> None:
    dispatch = rig.loop.dispatch
    while dispatch.in_flight:
        assert dispatch.settle(SystemClock(), 30)


def test_replacements_waiting_for_their_cancels_take_their_slots_when_allowed(
    tmp_path: Path,
) -> None:
    """Two bids are out (2 of a cap of 3 a minute); both are replaced in one pass, and their
    cancels are held. Each replacement was judged with 2 slots taken, and both went out once
    the cancels were answered: 4 orders in the minute against a cap of 3."""
    rig = quiet_market_maker(
        tmp_path,
        risk={"max_orders_per_minute": 3, "min_edge": "0"},
        send_workers=2,
        trade={"amend_requotes": False},  # each replacement waits for its cancel
    )
    turn: list[str] = list(MARKETS)

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Intent]:
        if snap.ticker not in turn:
            return []
        turn.remove(snap.ticker)
        if not pos.resting:
            return [_bid(snap.ticker, "0.10")]
        return [_bid(snap.ticker, "0.11", (pos.resting[0].order_id,))]

    swap_decide(rig.loop, decide)
    rig.step(0.5)
    _settle(rig)
    rig.step(0.5)
    assert len(rig.client.requests) == 2
    held, release = threading.Semaphore(0), threading.Event()
    cancel = rig.client.cancel_order

    def waiting(order_id: str, **kw: Any) -> CancelResult:
        held.release()
        release.wait(30)
        return cancel(order_id, **kw)

    rig.client.cancel_order = waiting  # type: ignore[method-assign]
    try:
        turn.extend(MARKETS)
        swap_decide(rig.loop, decide)  # asked afresh, not skipped as quiet markets
        rig.step(0.5)
        assert not turn, "both markets were decided on"
        assert held.acquire(timeout=30), "a replacement's cancel is out"
    finally:
        release.set()
    _settle(rig)
    rig.step(0.5)
    _settle(rig)
    rig.loop.dispatch.close()
    # one replacement went; the other was refused for the cap (its bid cancelled all the same)
    assert len(rig.client.requests) == 3
    assert rig.loop.log.counts.get("risk_denied") == 1

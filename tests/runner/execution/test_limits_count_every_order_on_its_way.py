"""The position and exposure limits, and each strategy's budget, hold before submission with the
loop's calls on send workers: every order on its way counts as resting, also one the decisions
after it cannot see on the exchange or in the view yet (a replacement waiting for its cancels to
be answered, an order of unknown outcome), and until its cancel is answered the order replaced
counts beside its replacement (the cancel may fail, and both then rest)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.client.requests import CancelResult
from kalshi_cli.strategies import Intent, MarketSnapshot, PositionView
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.models import Action, BookSide, Side
from tests.runner.fakes import Rig, make_rig, swap_decide
from tests.waiting import poll_until

RISK = {"max_orders_per_minute": 1000, "min_edge": "0"}


def _bid(ticker: str, price: str, count: str, replaces: tuple[str, ...] = ()) -> Intent:
    return Intent(
        ticker,
        Side.YES,
        Action.BUY,
        Decimal(price),
        Decimal(count),
        Decimal("0.90"),
        "test",
        replaces=replaces,
    )


def _resting_yes_bids(rig: Rig, ticker: str) -> Decimal:
    orders = rig.exchange.orders(rig.client.account_id)
    return sum(
        (
            o.remaining_count
            for o in orders
            if o.ticker == ticker and o.status == "resting" and o.book_side is BookSide.BID
        ),
        Decimal(0),
    )


def _cancels_held(rig: Rig) -> tuple[threading.Event, threading.Event]:
    """Every cancel waits for `release` in the network; `held` is set once one does."""
    held, release = threading.Event(), threading.Event()
    cancel = rig.client.cancel_order

    def waiting(order_id: str, **kw: Any) -> CancelResult:
        held.set()
        release.wait(30)
        return cancel(order_id, **kw)

    rig.client.cancel_order = waiting  # type: ignore[method-assign]
    return held, release


def _settle(rig: Rig) -> None:
    dispatch = rig.loop.dispatch
    while dispatch.in_flight:
        assert dispatch.settle(SystemClock(), 30)


def test_an_order_decided_while_a_replacements_cancel_is_out_counts_the_replacement(
    tmp_path: Path,
) -> None:
    """A strategy replaces its bid of 5 by one of 15 and, in the same visit, bids 10 more; the
    position limit is 20. The 10 was judged beside the old bid of 5 alone: the replacement,
    waiting for its cancel, was nowhere the risk engine looked, so once the cancel was
    answered 25 YES rested against a limit of 20."""
    rig = make_rig(
        tmp_path / "s.db",
        strategy="market-maker",
        risk={**RISK, "max_position_per_market": "20"},
        send_workers=2,
    )
    ticker = next(iter(rig.exchange.markets))
    decided: list[str] = []

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Intent]:
        if snap.ticker != ticker:
            return []
        if not decided:
            decided.append("first")
            return [_bid(ticker, "0.05", "5")]
        if pos.resting and len(decided) == 1:
            decided.append("replaced")
            (old,) = pos.resting
            return [_bid(ticker, "0.06", "15", (old.order_id,)), _bid(ticker, "0.04", "10")]
        return []

    swap_decide(rig.loop, decide)
    try:
        rig.step(0.5)
        _settle(rig)
        assert _resting_yes_bids(rig, ticker) == 5
        held, release = _cancels_held(rig)
        rig.step(0.5)
        assert decided == ["first", "replaced"]
        assert held.wait(30), "the replacement's cancel is out"
        release.set()
        _settle(rig)
        assert poll_until(lambda: not rig.loop.dispatch.in_flight)
    finally:
        release.set()
        rig.loop.dispatch.close()
    # the replacement went; the 10 beside it would have carried the market past the limit
    assert _resting_yes_bids(rig, ticker) == 15
    assert rig.loop.log.counts.get("risk_denied") == 1


"""A market that joins a running loop reads its resting orders again once the feed follows its
orders; when that read fails (the exchange answers 503), the failure counts toward the API error
guard as every read's does, is logged as `orders_read_failed` with the error's one line, and the
read is made again by a later tick, once the guard's backoff is over: an order placed by hand
between the join's listing and the join still reaches the loop's books. docs/trade-loop.md
"Orders placed elsewhere before the feed follows a market"."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.client.orders import OrdersApi
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.errors import ServerError
from tests.conftest import SimHarness
from tests.runner.test_orders_placed_while_a_market_joins_sim import (
    HAND,
    LATER,
    _joined_with_a_hand_order,
    _ticks_until,
)

DOWN = ServerError("the exchange is down", status=503)


def _second_resting_read_fails(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """LATER's resting orders are listed by the join's listing, then read again once the feed
    follows its orders: that second read fails once. How many times they were listed, counted."""
    real = OrdersApi.iter_orders
    asked: list[int] = []

    def iter_orders(self: OrdersApi, **kwargs: Any) -> Any:
        if kwargs.get("ticker") == LATER and kwargs.get("status") == "resting":
            asked.append(1)
            if len(asked) == 2:
                raise DOWN
        return real(self, **kwargs)

    monkeypatch.setattr(OrdersApi, "iter_orders", iter_orders)
    return asked


def test_a_joined_markets_failed_second_read_is_logged_counted_and_made_again(
    sim: SimHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _second_resting_read_fails(monkeypatch)
    began = time.time()
    with _joined_with_a_hand_order(sim, tmp_path, monkeypatch, after=True) as (r, placed):
        assert len(placed) == 1, placed  # rested after the listing's reads, before the join
        (failed,) = _ticks_until(
            r, lambda: r.events("orders_read_failed"), "the second read failing"
        )
        assert failed["error"] == DOWN.one_line(), failed
        assert r.loop.executor.counters.errors >= 1

        def booked() -> bool:
            return placed[0] in {o.order_id for o in r.loop.portfolio.view(LATER).resting}

        _ticks_until(r, booked, "the hand order in the loop's books")
        assert len(asked) == 3, "listed, read again and failed, read again"
        # recorded as of the read that found it, and not read a fourth time
        record = r.store.orders.intent_by_order_id(placed[0])
        assert record is not None and began <= record.created_at <= time.time(), record
        r.loop.tick(r.feed.drain_messages())
        assert r.loop.dispatch.settle(SystemClock(), 30)
        assert len(asked) == 3, "the market's orders were read again after they were booked"
        (order,) = [o for o in r.loop.portfolio.view(LATER).resting if o.order_id == placed[0]]
        assert order.remaining == Decimal(HAND[1]), order
        said = [e for e in r.events("reconciled") if e.get("ticker") == LATER]
        assert [e["orders_imported"] for e in said] == [[placed[0]]], said

"""Orders waiting for the one send worker (runner/execution/sender.py, outbox.py): an order that
only reduces a position goes ahead of a market's first order sent before it, the tick's batch
of first orders between the exits and the requotes, and the tick's batch dropped before a
worker took it (the stop closing the dispatch) is told it never left, so the stop takes none of
its orders for one of unknown outcome."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.client.requests import CreateOrder, CreateOrderResult
from kalshi_cli.runner.execution.dispatch import Urgency
from kalshi_cli.vocabulary.units import TimeInForce
from tests.runner.execution.test_amend_answers import _worker_busy
from tests.runner.execution.test_requote_amends import LAL, QUOTE, _booked_all
from tests.runner.fakes import Rig, make_rig
from tests.waiting import poll_until


def _rig(tmp_path: Path) -> Rig:
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, send_workers=1)
    rig.step(0.1)
    return rig


def test_an_order_that_only_reduces_goes_ahead_of_a_markets_first_order_sent_before_it(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path)
    made: list[str] = []
    create = rig.client.create_order

    def creating(request: CreateOrder) -> CreateOrderResult:
        made.append("exit")
        return create(request)

    rig.client.create_order = creating  # type: ignore[method-assign]
    exit_ = replace(
        QUOTE,
        post_only=False,
        reduce_only=True,
        time_in_force=TimeInForce.IOC,
        reason="a stop-loss",
    )
    dispatch = rig.loop.dispatch
    try:
        release = _worker_busy(rig)
        dispatch.send(("OTHER",), lambda: made.append("first"), lambda _: None, Urgency.FIRST)
        rig.loop.executor.outbox.send(exit_, batch=False, then=lambda filled: None)
        release.set()
        _booked_all(rig)
    finally:
        dispatch.close()
    assert made == ["exit", "first"]


def test_a_batch_in_a_market_not_quoted_yet_goes_between_the_exits_and_the_requotes(
    tmp_path: Path,
) -> None:
    """The tick's batch is its markets' first orders: ahead of a requote sent before it,
    behind an exit sent after it."""
    rig = _rig(tmp_path)
    made: list[str] = []
    rig.client.batch_size = lambda: 2  # type: ignore[attr-defined]
    rig.client.batch_create_orders = lambda creates, **_: made.append("batch")  # type: ignore[attr-defined]
    executor, dispatch = rig.loop.executor, rig.loop.dispatch
    try:
        release = _worker_busy(rig)
        dispatch.send(("OTHER",), lambda: made.append("requote"), lambda _: None)
        for price in ("0.40", "0.39"):
            quote = replace(QUOTE, price=Decimal(price))
            assert executor.execute(quote, last_data_at=rig.clock.wall(), batch=True)
        executor.flush()
        dispatch.send(("OTHER",), lambda: made.append("exit"), lambda _: None, Urgency.EXIT)
        release.set()
        assert poll_until(lambda: len(made) == 3)
    finally:
        release.set()
        dispatch.close()
    assert made == ["exit", "batch", "requote"]


def test_a_batch_dropped_before_a_worker_took_it_is_told_it_never_left(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    sent: list[Any] = []
    rig.client.batch_size = lambda: 2  # type: ignore[attr-defined]
    rig.client.batch_create_orders = sent.append  # type: ignore[attr-defined]
    executor, dispatch = rig.loop.executor, rig.loop.dispatch
    release = _worker_busy(rig)
    try:
        for price in ("0.40", "0.39"):
            quote = replace(QUOTE, price=Decimal(price))
            assert executor.execute(quote, last_data_at=rig.clock.wall(), batch=True)
        executor.flush()
        batch = set(executor.answers.in_flight.intents)
        assert len(batch) == 2
        dispatch.close()  # the stop: what no worker took is dropped
    finally:
        release.set()
        dispatch.close()
    assert sent == []
    assert executor.answers.in_flight.unsent == batch
    assert rig.loop.log.counts.get("intent_dropped") == 2
    assert rig.loop.portfolio.resting(LAL) == []

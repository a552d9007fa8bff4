"""The tick's batch (runner/execution/outbox.py) waits `batch_wait_s` from its first order (the
orders queued after it do not move the wait on, and the next batch waits from its own first),
and goes at once when full. Its orders count in their own market's view only, and stop counting
in the exposure when the flush holds them back."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.vocabulary.errors import OrderOutcomeUnknown
from tests.runner.execution.test_requote_amends import QUOTE
from tests.runner.fakes import make_rig


def test_the_batch_waits_from_when_its_first_order_was_queued(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5})
    outbox = rig.loop.executor.outbox
    for _ in range(2):  # a batch, then the next
        rig.clock.advance(1.0)
        first = rig.clock.monotonic()
        for price in ("0.40", "0.39"):
            outbox.queue(replace(QUOTE, price=Decimal(price)))
            rig.clock.advance(0.01)
        assert outbox.queued_since == first
        outbox.drop("the test sends nothing")


def test_a_full_batch_goes_at_once(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, risk={"stop_loss_share": "0"})
    sent: list[int] = []

    def lost(creates: list[CreateOrder], **_: Any) -> Any:
        sent.append(len(creates))
        raise OrderOutcomeUnknown("timed out", client_order_id=creates[0].client_order_id)

    rig.client.batch_size = lambda: 2  # type: ignore[attr-defined]
    rig.client.batch_create_orders = lost  # type: ignore[attr-defined]
    executor = rig.loop.executor
    for price in ("0.40", "0.39"):
        quote = replace(QUOTE, price=Decimal(price))
        assert executor.execute(quote, last_data_at=rig.clock.wall(), batch=True)
    assert sent == [2]
    assert executor.outbox.queued == []


def test_orders_held_back_from_the_batch_stop_counting_in_the_exposure(tmp_path: Path) -> None:
    """The batch's orders held at the flush (the API error guard backing off) go nowhere: the
    exposure stops counting them."""
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5})
    outbox = rig.loop.executor.outbox
    before = outbox.total_exposure()
    outbox.queue(QUOTE)
    assert outbox.total_exposure() == before + Decimal("4.00")
    rig.loop.executor.guard.backoff_until = rig.clock.monotonic() + 60
    outbox.flush()
    assert rig.loop.log.counts.get("intent_held") == 1
    assert outbox.total_exposure() == before


def test_a_market_counts_only_its_own_orders_waiting_for_the_batch(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5})
    outbox = rig.loop.executor.outbox
    other = next(t for t in rig.exchange.reference.markets if t != QUOTE.ticker)
    outbox.queue(QUOTE)
    assert outbox.queued_view(other) == rig.loop.portfolio.view(other)
    assert outbox.queued_view(QUOTE.ticker) != rig.loop.portfolio.view(QUOTE.ticker)

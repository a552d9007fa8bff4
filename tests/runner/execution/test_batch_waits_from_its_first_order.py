"""The tick's batch waits `batch_wait_s` from its first order (runner/execution/outbox.py): the
orders queued after it do not move the wait on, and the next batch waits from its own first."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

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

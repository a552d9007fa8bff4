"""The trade loop's batched orders under the real simulator's faults, over loopback: what a
batch whose answer never came can still cost, and what the limits must count meanwhile."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.client import KalshiClient
from kalshi_cli.models import BookSide
from tests.conftest import SimHarness
from tests.runner.simproc import pause, wait_for
from tests.runner.test_loop_order_batches_sim import BATCH, rig


def _committed(client: KalshiClient) -> Decimal:
    """What the resting orders would cost if every one filled (both sides of a quote)."""
    return sum(
        (
            (o.yes_price if o.book_side is BookSide.BID else 1 - o.yes_price) * o.remaining_count
            for o in client.iter_orders(status="resting")
        ),
        start=Decimal(0),
    )


def test_orders_of_a_batch_still_in_the_network_count_in_the_total_exposure(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The exposure limit holds three markets' quotes (0.80 each). The first pass's batch
    (markets A to C) is held in the network past the client's deadline, so its orders are
    unknown, and the lookups after the backoff do not find them yet. The next pass must count
    them: the limit leaves no room for D to F, and when the held batch lands the resting
    orders commit no more than the limit."""
    tickers = [f"KXBATCHF-SIM-{c}" for c in "ABCDEF"]
    risk = {"max_total_exposure": "2.5", "backoff_base_s": 0.2}
    params = {"quote_count": "1"}
    with rig(
        sim, tmp_path, tickers, strategy="market-maker", params=params, risk=risk, timeout=1.0
    ) as r:
        sim.set_faults(hold_request_s=8.0)
        r.loop.tick(r.feed.drain_events(), full=True)
        executor = r.loop.executor
        held = set(executor.unknown)
        assert len(held) >= 3, held  # the exposure limit's worth
        assert wait_for(lambda: not executor.backing_off, 10, pause)
        r.loop.tick(r.feed.drain_events(), full=True)
        # the lookups ran and the batch is still in the network: the orders are unknown yet
        assert set(executor.unknown) == held, executor.unknown

        def landed() -> bool:
            coids = {o.client_order_id for o in r.client.iter_orders(status="resting")}
            return held <= coids

        assert wait_for(landed, 20, pause)
        committed = _committed(r.client)
        assert committed <= Decimal("2.5"), (committed, r.requests(sim))
        assert r.requests(sim).get(BATCH) == 1

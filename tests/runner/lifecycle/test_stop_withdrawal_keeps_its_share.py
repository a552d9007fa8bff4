"""The stop's steps before its withdrawal run under the stop's one deadline too, and may use all
they are given: a call still out that the exchange never answers holds the wait for the calls
still out to the end of its share. They still leave the withdrawal its share of the deadline, so
its batch cancel is sent and the quote is withdrawn and proven gone. Before, they could spend the
whole deadline: the withdrawal's calls, made under a deadline already passed, were never sent,
and the quote rested, not proven. Driven on the simulator over loopback, as `kalshi trade`
builds its loop, with a short stop deadline."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from kalshi_cli.runner.execution.stop_shares import STOP_SHARES
from tests.conftest import SimHarness
from tests.runner.sim_rig import rig
from tests.runner.test_calls_off_the_deciding_path_sim import Gate, _placed, _ticking
from tests.waiting import poll_until

TICKER = "KXSHARE-SIM-W"
STOP_S = 4.0


def _holds_the_first_cancel() -> Gate:
    """The exchange never answers the loop's first cancel (a requote's) until the stop is
    over; every other request goes through."""
    gate = Gate()
    seen: list[httpx.Request] = []

    def first_cancel(request: httpx.Request) -> bool:
        if request.method != "DELETE" or seen:
            return False
        seen.append(request)
        return True

    gate.holds = first_cancel
    return gate


def test_a_stop_whose_earlier_steps_take_all_they_may_still_withdraws_and_proves(
    sim: SimHarness, tmp_path: Path
) -> None:
    gate = _holds_the_first_cancel()
    with rig(
        sim, tmp_path, [TICKER], strategy="market-maker", params={"requote_tolerance": "0"},
        transport=gate, send_workers=2, trade={"amend_requotes": False}, read_lag_s=0.0,
        settings={"stop_deadline_s": STOP_S},
    ) as r:  # fmt: skip
        r.loop.tick(r.feed.drain_messages(), full=True)
        assert poll_until(lambda: _placed(r, TICKER) == 2, between=lambda: _ticking(r))
        r.books[TICKER].quote("0.50", "0.70")  # a requote: its cancel is held
        assert poll_until(gate.held.is_set, between=lambda: _ticking(r))
        try:
            began = time.monotonic()
            summary = r.loop.stop.shutdown(cancel_resting=True)
            took = time.monotonic() - began
        finally:
            gate.open.set()
        # the wait for the call still out took all its share, and the stop kept its deadline
        assert STOP_SHARES.calls_out * STOP_S <= took <= STOP_S + 1.0, took
        assert summary.not_proven == (), summary
        assert len(r.events("stop_proven")) == 1
        assert r.events("stop_batch_cancel_failed") == []
        assert list(r.client.orders.iter_orders(status="resting")) == []

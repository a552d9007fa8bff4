"""The stop's worst case for its sets of legs, on the simulator over loopback with the shipped
stop deadline: a call still out that never answers keeps the wait for the calls still out to its
end, and a set of legs is half done (A filled, B's answer comes back within the stop, C not sent
by a stopping loop), so what A and B hold must be sold back before the withdrawal. The sale
back's first create is answered 429: the stop waits the API error guard's pause (a second) and
sells again. The wait for the calls still out must leave the sets their own share of the
deadline for that, before the withdrawal's; the set ends flat, no set left broken."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SimHarness
from tests.runner.sim_rig import rig
from tests.runner.test_leg_sets_under_faults_sim import (
    TICKERS,
    A,
    B,
    FaultsAtLeg,
    _held,
    _never_twice,
    _no,
    _send_set,
    _ticking,
)
from tests.waiting import poll_until

# a market outside the set, whose order's call never answers
HUNG = "KXHUNG-SIM-D"


class OneCreateNeverAnswers(FaultsAtLeg):
    """`FaultsAtLeg`, and the create of an order in `HUNG` never leaves this transport: held
    here until `release`, then failed as never sent (it never reaches the exchange)."""

    def __init__(self, sim: SimHarness, faults: dict[str, dict[str, Any]]) -> None:
        super().__init__(sim, faults)
        self.hung = threading.Event()  # the create is held here
        self.release = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        creates = request.method == "POST" and request.url.path.endswith("/orders")
        if creates and HUNG.encode() in request.content:
            self.hung.set()
            self.release.wait(timeout=120)
            raise httpx.ConnectError("never sent", request=request)
        return super().handle_request(request)


@pytest.mark.slow
def test_a_stop_whose_call_still_out_never_answers_still_sells_back_a_set_half_done(
    sim: SimHarness, tmp_path: Path
) -> None:
    transport = OneCreateNeverAnswers(sim, {B: {"hold_request_s": 1.0}})
    try:
        with rig(
            sim,
            tmp_path,
            [*TICKERS, HUNG],
            strategy="arbitrage",
            params={},
            transport=transport,
            send_workers=2,
        ) as r:
            assert r.loop.executor.execute(_no(HUNG), last_data_at=r.loop.clock.wall())
            assert poll_until(transport.hung.is_set, between=lambda: _ticking(r))
            _send_set(r)
            # A's answer is booked by a tick; then B goes, and is held a second
            assert poll_until(lambda: B not in transport.faults, between=lambda: _ticking(r))
            transport.faults[A] = {"http_429_rate": 1.0}  # A's next create: its sale back
            summary = r.loop.stop.shutdown(cancel_resting=True)
            assert summary.broken_sets == ()
            assert _held(r) == dict.fromkeys(TICKERS, Decimal(0))
            (done,) = r.events("group_done")
            assert done["status"] == "flat", done
            # A's sale back answered 429 (nothing filled), then sold once the pause ended
            sold = [
                (g["ticker"], Decimal(str(g["filled"])))
                for g in r.events("group_leg")
                if g["action"] == "sell"
            ]
            assert sold == [(A, 0), (A, 5), (B, 5)], sold
            assert r.events("group_unwind_failed") == []
            _never_twice(r)
    finally:
        transport.release.set()

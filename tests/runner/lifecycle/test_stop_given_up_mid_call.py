"""A second SIGINT or SIGTERM gives the stop up at once, whichever of its calls is out.

The stop's calls that wait on one answer (the trigger of the session's order group, the batch
cancel, a listing of the resting orders, the proof's listing among them) were made on the loop's
thread and waited for until the answer came or the stop's deadline cut them: a second interrupt
that came while the exchange was slow to answer one was seen only then. With the default 20 s
deadline the person who pressed Ctrl-C twice waited up to 20 s more, and the stop ended saying
its listing failed, not that it was given up. Here the exchange answers a byte a second from
the moment that call leaves, the second interrupt comes as it leaves, and the stop must end at
once: given up (`shutdown_abandoned`, exit 11 saying no listing looked), its quotes named when
no answer said they went, and the fills not read again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.runner.loop.stop import GIVEN_UP
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.models import Order
from tests.conftest import SimHarness
from tests.runner.fakes import Held, make_rig
from tests.runner.lifecycle.test_shutdown_unknown import RISK, _lose_next_create
from tests.runner.lifecycle.test_stop_deadline import TrickleProxy, quoting
from tests.runner.simproc import log_events

# a deadline long enough that a stop waiting for the cut of its call is plain to see: the old
# stop waited for most of it after the second interrupt
STOP_DEADLINE_S = 30.0
# how soon after the second interrupt the stop must be over, on a loaded machine
GIVEN_UP_WITHIN_S = 8.0


class SecondInterruptAt(httpx.HTTPTransport):
    """The real transport; as the stop's call `at` leaves (once `armed`: the stop began), the
    exchange begins answering a byte a second (the proxy) and the person interrupts again
    (`abandon`). Every request made from then on is kept in `after`."""

    def __init__(self, proxy: TrickleProxy, at: str) -> None:
        super().__init__()
        self.proxy = proxy
        self.at = at
        self.armed = False
        self.abandon = threading.Event()
        self.abandoned_at = 0.0
        self.after: list[str] = []

    def _is_the_call(self, request: httpx.Request) -> bool:
        path, method = request.url.path, request.method
        if self.at == "trigger":
            return method == "PUT" and path.endswith("/trigger")
        if self.at == "batch-cancel":
            return method == "DELETE" and path.endswith("/orders/batched")
        resting = request.url.params.get("status") == "resting"
        return method == "GET" and path.endswith("/portfolio/orders") and resting

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.abandon.is_set():
            self.after.append(f"{request.method} {request.url.path}")
        elif self.armed and self._is_the_call(request):
            self.proxy.slow.set()
            self.abandoned_at = time.monotonic()
            self.abandon.set()
        return super().handle_request(request)


@pytest.mark.parametrize(
    ("at", "group"),
    [("trigger", True), ("batch-cancel", False), ("proof", False)],
    ids=["the-trigger", "the-batch-cancel", "the-proofs-listing"],
)
def test_a_second_interrupt_while_a_call_of_the_stop_is_out_gives_it_up_at_once(
    sim: SimHarness, tmp_path: Path, at: str, group: bool
) -> None:
    calls: list[SecondInterruptAt] = []

    def transport(proxy: TrickleProxy) -> SecondInterruptAt:
        calls.append(SecondInterruptAt(proxy, at))
        return calls[0]

    with quoting(
        sim, tmp_path, group=group, transport=transport, stop_deadline_s=STOP_DEADLINE_S
    ) as rig:
        (hook,) = calls
        placed = {o.order_id for o in rig.loop.stop.own.resting()}
        hook.armed = True  # not the start's read of the resting orders: the stop's calls
        summary = rig.loop.stop.shutdown(cancel_resting=True, abandon=hook.abandon)
        took = time.monotonic() - hook.abandoned_at
        assert hook.abandon.is_set(), "the call was made"
        assert took < GIVEN_UP_WITHIN_S, f"{took:.1f} s after the second interrupt"
        assert summary.unlisted == GIVEN_UP
        if at == "proof":
            # the batch cancel's answer said each quote went: nothing is believed resting
            assert summary.not_proven == ()
        else:
            # no answer said the quotes went: each is named
            assert set(summary.not_proven) == placed
        assert not any("/fills" in request for request in hook.after), hook.after
        events = [e["event"] for e in log_events(rig.log)]
        assert "shutdown_abandoned" in events and "stop_proven" not in events


# how long the exchange holds a lookup of an order of unknown outcome (the fakes' own clock
# does not move: this is the wall's, which the old stop waited out)
HELD_S = 10.0


def test_a_second_interrupt_while_a_lookup_is_out_gives_the_stop_up_at_once(
    tmp_path: Path,
) -> None:
    """An order of unknown outcome at the stop, without the session's order group: the stop
    looks it up, and the exchange holds that lookup. The second interrupt comes as it leaves:
    the stop ends without its answer, naming the order (it may still land). The old stop waited
    for the lookup's answer first."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK)
    coid = _lose_next_create(rig, Held(10_000.0))
    abandon, answered = threading.Event(), threading.Event()
    lookup = rig.client.find_order_by_client_id

    def held(client_order_id: str, ticker: str) -> Order | None:
        abandon.set()  # the person presses Ctrl-C again as the lookup leaves
        time.sleep(HELD_S)
        answered.set()
        return lookup(client_order_id, ticker)

    rig.client.find_order_by_client_id = held  # type: ignore[method-assign]
    summary = rig.loop.stop.shutdown(cancel_resting=True, abandon=abandon)
    assert abandon.is_set(), "the order was looked up"
    assert not answered.is_set(), "the stop waited for the held lookup"
    assert summary.not_proven == (coid,)
    assert summary.unlisted == GIVEN_UP
    assert rig.loop.log.counts.get("shutdown_abandoned") == 1


def test_a_second_interrupt_once_the_proof_looked_reads_no_fills_again(tmp_path: Path) -> None:
    """The second interrupt comes as the proof's listing is answered: however the stop ends
    (proven by that listing, or given up just before it was read), the person will not wait,
    and the fills are not read again. The old stop read them under what its deadline left."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK)
    rig.step(0.1)
    assert rig.loop.stop.own.resting()
    abandon = threading.Event()
    listing = rig.client.iter_orders

    def interrupted(**filters: Any) -> Iterator[Order]:
        if filters.get("status") == "resting":
            abandon.set()
        return listing(**filters)

    rig.client.iter_orders = interrupted  # type: ignore[method-assign]
    rig.client.fills_error = ServerError("down", status=503)  # a read made would say so
    rig.loop.stop.shutdown(cancel_resting=True, abandon=abandon)
    assert abandon.is_set(), "the proof listed"
    assert rig.loop.log.counts.get("fill_sync_failed") is None, "no read of the fills was made"

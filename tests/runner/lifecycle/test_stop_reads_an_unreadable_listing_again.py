"""The trade loop's stop lists again, within its deadline, an answer to its proving listing it
cannot read (a body that is no JSON, a page without the list or the cursor the spec requires),
as the kill switch does: a garbled answer from a proxy, or a body cut short, passes like a 503.
It is never proof: a listing that cannot be read says nothing about what rests.

On the old code the client tried again a 503 but not an unreadable answer, and the stop took
the first one as a listing that failed: `kalshi trade` ended NOT PROVEN (exit 11) at once, its
quotes cancelled and most of its deadline left, where the next listing would have proved it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from kalshi_cli.runner.execution.stop_shares import STOP_SHARES
from kalshi_cli.runner.loop.stop import GIVEN_UP
from kalshi_cli.vocabulary.clock import Clock, Deadline
from tests.conftest import SimHarness
from tests.garbled_listings import (
    EACH_REASON,
    ORDERS,
    ListingsGarbledAfterTheCancels,
    a_proxys_page,
)
from tests.runner.sim_rig import Rig, rig
from tests.runner.simproc import log_events

TICKER = "KXSTOPUNREAD-SIM-A"


class ListingsGarbledAfterTheCancel(ListingsGarbledAfterTheCancels):
    """Garbled once the stop's batch cancel was answered."""

    def is_cancel(self, request: httpx.Request) -> bool:
        return request.method == "DELETE" and request.url.path.endswith("/orders/batched")


@contextmanager
def _quoting(
    sim: SimHarness, tmp_path: Path, transport: httpx.BaseTransport, *, stop_deadline_s: float
) -> Iterator[Rig]:
    """The market maker's loop through `transport`, its two quotes on TICKER placed."""
    with rig(
        sim,
        tmp_path,
        [TICKER],
        strategy="market-maker",
        params={},
        transport=transport,
        settings={"stop_deadline_s": stop_deadline_s},
    ) as r:
        r.loop.tick(r.feed.drain_messages(), full=True)
        yield r


@pytest.mark.parametrize(("garbled", "named"), EACH_REASON)
def test_a_proving_listing_that_cannot_be_read_once_is_listed_again_and_proven(
    sim: SimHarness, tmp_path: Path, garbled: Callable[[], httpx.Response], named: str
) -> None:
    """Two quotes resting, withdrawn by the batch cancel; the first listing after it
    unreadable, the next one fine: proven, nothing left, the unreadable answer logged. On the
    old code: not proven, "its listing failed", at the first unreadable listing."""
    transport = ListingsGarbledAfterTheCancel(garbled, times=1)
    with _quoting(sim, tmp_path, transport, stop_deadline_s=4.0) as r:
        assert len(r.loop.stop.own.resting()) == 2
        summary = r.loop.stop.shutdown(cancel_resting=True)
        assert transport.listings_garbled == 1, "the listing after the cancel was garbled"
        assert list(r.client.orders.iter_orders(status="resting")) == []
        assert summary.unlisted == "", summary.unlisted
        assert summary.not_proven == ()
        (proven,) = r.events("stop_proven")
        assert proven["listed_resting"] == 0
        (again,) = r.events("stop_listing_again")
        assert named in str(again["error"]), again


@pytest.mark.parametrize(("garbled", "named"), EACH_REASON[:1] + EACH_REASON[-1:])
def test_proving_listings_that_can_never_be_read_are_not_proven_at_the_deadline(
    sim: SimHarness, tmp_path: Path, garbled: Callable[[], httpx.Response], named: str
) -> None:
    """Every listing after the batch cancel unreadable: the quotes are cancelled on the
    simulator, but no listing could show it, so not proven, the reason named, and only once
    the proof's share of the deadline is spent, listing again in between."""
    transport = ListingsGarbledAfterTheCancel(garbled, times=None)
    deadline_s = 8.0  # the proof's share: a quarter, 2 s
    with _quoting(sim, tmp_path, transport, stop_deadline_s=deadline_s) as r:
        assert len(r.loop.stop.own.resting()) == 2
        started = time.monotonic()
        summary = r.loop.stop.shutdown(cancel_resting=True)
        took = time.monotonic() - started
        transport.cancelled.clear()  # the test's own listing below is read as it is
        assert list(r.client.orders.iter_orders(status="resting")) == [], "the cancel went out"
        assert summary.not_proven == ()
        assert summary.unlisted.startswith("its listing failed: "), summary.unlisted
        assert named in summary.unlisted, summary.unlisted
        assert transport.listings_garbled > 1, "listed again within the deadline"
        assert took < deadline_s + 5, f"the stop took {took:.2f}s of a {deadline_s:g}s deadline"


class WaitsOverrunOnceGarbled:
    """The loop's clock on a machine so loaded that, once a listing came back garbled, every
    wait ends past the deadline it was measured against: the listing after it is never sent."""

    def __init__(self, clock: Clock, transport: ListingsGarbledAfterTheCancel) -> None:
        self._clock = clock
        self._transport = transport

    def wall(self) -> float:
        return self._clock.wall()

    def monotonic(self) -> float:
        return self._clock.monotonic()

    def sleep(self, seconds: float) -> None:
        deadline = Deadline.current()
        if self._transport.listings_garbled and deadline is not None:
            seconds = max(seconds, deadline.remaining() + 0.05)
        self._clock.sleep(seconds)


def test_a_second_interrupt_while_the_stop_lists_again_gives_it_up_at_once(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Every listing after the batch cancel unreadable, and the person interrupts again as the
    first goes back: the stop does not list again until its deadline, it is given up at once
    (the proof's share of a 20 s deadline is 5 s)."""
    abandon = threading.Event()
    transport = ListingsGarbledAfterTheCancel(a_proxys_page, None, abandon)
    with _quoting(sim, tmp_path, transport, stop_deadline_s=20.0) as r:
        started = time.monotonic()
        summary = r.loop.stop.shutdown(cancel_resting=True, abandon=abandon)
        took = time.monotonic() - started
        assert summary.unlisted == GIVEN_UP
        assert transport.listings_garbled == 1
        # not waited out: waiting for the proof's share to end would take its cap (5 s), the
        # bound just below it, so a busy machine's stall of the stop's own calls cannot reach it
        assert took < STOP_SHARES.proof_most_s, f"given up after {took:.2f}s"
        events = [e["event"] for e in log_events(r.log)]
        assert "shutdown_abandoned" in events


class ListingsGarbledThenUnanswered(ListingsGarbledAfterTheCancel):
    """The first listing after the cancel garbled; every one after it sent and never answered
    within the time it was given."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.listings_garbled and request.method == "GET" and request.url.path == ORDERS:
            raise httpx.ReadTimeout("no answer in the time given", request=request)
        return super().handle_request(request)


class WaitsEndAtTheDeadlinesLastMoment(WaitsOverrunOnceGarbled):
    """Once a listing came back garbled, every wait ends with 30 ms of its deadline left: the
    listing after it goes out, and its wait for the answer is cut to those 30 ms."""

    def sleep(self, seconds: float) -> None:
        deadline = Deadline.current()
        if self._transport.listings_garbled and deadline is not None:
            seconds = max(seconds, deadline.remaining() - 0.03)
        self._clock.sleep(seconds)


@pytest.mark.parametrize(
    ("transport_of", "clock_of"),
    [
        pytest.param(
            ListingsGarbledAfterTheCancel, WaitsOverrunOnceGarbled, id="kept from going out"
        ),
        pytest.param(
            ListingsGarbledThenUnanswered, WaitsEndAtTheDeadlinesLastMoment, id="cut short"
        ),
    ],
)
def test_a_listing_again_its_deadline_ends_names_the_unreadable_answer(
    sim: SimHarness,
    tmp_path: Path,
    transport_of: type[ListingsGarbledAfterTheCancel],
    clock_of: type[WaitsOverrunOnceGarbled],
) -> None:
    """The listing after the batch cancel unreadable, and the next one kept by the deadline from
    going out, or sent with 30 ms of it left and not answered in them: not proven, and the reason
    is what the exchange's answer was (not JSON), not "not sent: its deadline had passed" or "no
    response within 0.03s", which say nothing of the exchange."""
    transport = transport_of(a_proxys_page, times=None)
    with _quoting(sim, tmp_path, transport, stop_deadline_s=4.0) as r:
        r.loop.stop.clock = clock_of(r.loop.stop.clock, transport)
        summary = r.loop.stop.shutdown(cancel_resting=True)
        assert transport.listings_garbled == 1
        assert summary.unlisted.startswith("its listing failed: "), summary.unlisted
        assert "not JSON" in summary.unlisted, summary.unlisted

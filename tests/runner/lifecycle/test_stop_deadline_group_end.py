"""The end of the session's order group is part of the stop and keeps to its one deadline.

After the stop proved none of the loop's quotes rests, `kalshi trade` deletes the session's
order group. That delete ran after the stop's deadline had been let go of, under the client's
own bounds (a 10 s timeout, retried for up to 20 s by default): against an exchange that began
answering slowly just then, the process went on past `trade.stop_deadline_s`, and so past the
shipped unit's `TimeoutStopSec=30`, which SIGKILLs it before its summary and exit code. Here the
exchange answers a byte a second from the group's delete on: the run still ends within its
stop deadline (the group, kept, stays listed for the kill switch).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from kalshi_cli.runner.config import TradeConfig
from kalshi_cli.runner.execution.order_group import GROUP_END_GIVEN_UP
from kalshi_cli.services.killswitch.order_groups import session_order_group_places
from kalshi_cli.store import Store
from tests.conftest import SimHarness
from tests.runner.lifecycle.test_stop_deadline import MARGIN_S, TrickleProxy, through_proxy
from tests.runner.simproc import Book, client_for, log_events, market_maker_session

TICKER = "KXSTOPEND-SIM-A"
STOP_DEADLINE_S = 4.0
DURATION_S = 3.0


class SlowFromTheGroupDelete(httpx.HTTPTransport):
    """The real transport; from the delete of an order group on, the proxy trickles answers."""

    def __init__(self, proxy: TrickleProxy) -> None:
        super().__init__()
        self.proxy = proxy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE" and "/portfolio/order_groups/" in request.url.path:
            self.proxy.slow.set()
        return super().handle_request(request)


def test_the_group_delete_after_a_proven_stop_keeps_to_the_stop_deadline(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, TICKER).quote("0.40", "0.60")
    account = sim.new_account(balance_cents=10_000_000)
    proxy, client = through_proxy(account, SlowFromTheGroupDelete)
    log = tmp_path / "trade.log"
    config = TradeConfig(
        strategies={"market-maker": {}}, trade={"stop_deadline_s": STOP_DEADLINE_S}
    )
    try:
        with client:
            started = time.monotonic()
            summary = market_maker_session(
                account, client, TICKER, tmp_path, config, duration_s=DURATION_S
            )
            took = time.monotonic() - started
    finally:
        proxy.close()
        other.close()
    events = [e["event"] for e in log_events(log)]
    assert "order_placed" in events and "stop_proven" in events, events[-10:]
    assert summary.not_proven == ()
    assert proxy.slow.is_set(), "the group's delete was asked"
    # the start, the run's duration, then the stop within its one deadline
    assert took < DURATION_S + STOP_DEADLINE_S + MARGIN_S + 3.0, took
    assert "order_group_kept" in events


# a deadline long enough that a group end waiting for its cut is plain to see
LONG_STOP_DEADLINE_S = 30.0
# how soon after the second interrupt the run must be over, on a loaded machine
GIVEN_UP_WITHIN_S = 8.0


class CtrlCTwiceAtTheGroupDelete(SlowFromTheGroupDelete):
    """As the session's group is being deleted (the exchange answering a byte a second from
    then on), the person presses Ctrl-C twice: SIGINT to this process, the second once the
    first was handled."""

    def __init__(self, proxy: TrickleProxy) -> None:
        super().__init__(proxy)
        self.pressed_at = 0.0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        group_delete = request.method == "DELETE" and "/portfolio/order_groups/" in request.url.path
        if group_delete and not self.pressed_at:
            self.pressed_at = time.monotonic()
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the first handled before the second is sent
            os.kill(os.getpid(), signal.SIGINT)
        return super().handle_request(request)


def test_a_second_interrupt_while_the_group_is_deleted_ends_the_run_at_once(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The group's delete after a proven stop is given up by a second interrupt as the stop's
    other calls are: the person who pressed Ctrl-C twice does not wait for an exchange slow to
    answer it (the run waited until the stop's deadline cut the delete, up to 20 s by
    default). The group, kept, stays listed in the state file for the kill switch."""
    sim.create_market(TICKER)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, TICKER).quote("0.40", "0.60")
    account = sim.new_account(balance_cents=10_000_000)
    transports: list[CtrlCTwiceAtTheGroupDelete] = []

    def transport(proxy: TrickleProxy) -> CtrlCTwiceAtTheGroupDelete:
        transports.append(CtrlCTwiceAtTheGroupDelete(proxy))
        return transports[0]

    proxy, client = through_proxy(account, transport)
    config = TradeConfig(
        strategies={"market-maker": {}}, trade={"stop_deadline_s": LONG_STOP_DEADLINE_S}
    )
    try:
        with client:
            summary = market_maker_session(
                account, client, TICKER, tmp_path, config, duration_s=DURATION_S
            )
            took = time.monotonic() - transports[0].pressed_at
    finally:
        proxy.close()
        other.close()
    assert transports[0].pressed_at, "the group's delete was asked"
    assert took < GIVEN_UP_WITHIN_S, f"{took:.1f} s after the second interrupt"
    assert summary.not_proven == ()
    kept = [e for e in log_events(tmp_path / "trade.log") if e["event"] == "order_group_kept"]
    assert kept and kept[0]["error"] == GROUP_END_GIVEN_UP, kept
    with Store.open(tmp_path / "state.db") as store:
        assert session_order_group_places(store), "the kept group stays listed"

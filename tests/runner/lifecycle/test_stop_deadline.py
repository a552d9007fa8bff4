"""A trade loop's stop has one deadline and proves itself (runner/loop/stop.py).

Twenty quotes rest in ten markets. The stop withdraws them at once (the session's order group
triggered, or one batch cancel without it), then proves nothing of the loop's is left with one
listing. Against an exchange that answers a byte a second (a loopback proxy in front of the
simulator, trickling every answer), the stop still ends within its deadline: the withdrawal
reached the exchange, which cancelled every quote, but no listing could prove it, so the stop
names every order it could not prove gone (`kalshi trade` exits 11 on that). Before, it cancelled
one quote at a time, each held to the client's timeout, then went over the list again: minutes
for twenty quotes, past the shipped unit's 30 s, and an exit 0 whatever was left.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.signing import KalshiAuth
from kalshi_cli.feed import MarketData
from kalshi_cli.runner.assembly import LoopInputs, build_loop
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import StrategyChoice, TradeConfig, TradeOptions
from kalshi_cli.runner.execution.order_group import open_session_group
from kalshi_cli.runner.loop.trade_loop import TradeLoop
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import Deadline, SystemClock
from kalshi_cli.vocabulary.errors import CutShortByDeadline
from kalshi_cli.vocabulary.keys import load_private_key
from tests.conftest import SimHarness
from tests.runner.fakes import DECIDES_IN_STEP, adjusted
from tests.runner.sim_rig import feed_ready
from tests.runner.simproc import Book, client_for, log_events
from tests.waiting import PATIENCE_S, poll_until

STOP_DEADLINE_S = 6.0
# what a stop may take past its deadline on a loaded machine: its bookkeeping and the log
MARGIN_S = 4.0
MARKETS = [f"KXSTOP-SIM-{c}" for c in "ABCDEFGHIJ"]


class TrickleProxy:
    """A loopback TCP proxy in front of the simulator's HTTP port. While `slow` is set, every
    answer goes back one byte a second (requests pass at full speed, so the exchange acts on
    them). Its threads end when `close` is called."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.slow = threading.Event()
        self.closed = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, answers: bool) -> None:
        try:
            while not self.closed.is_set():
                data = source.recv(65536)
                if not data:
                    break
                if not (answers and self.slow.is_set()):
                    sink.sendall(data)
                    continue
                for i in range(len(data)):
                    if self.closed.wait(1.0):  # one byte a second
                        return
                    sink.sendall(data[i : i + 1])
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.closed.set()
        self.server.close()
        for s in self.sockets:
            s.close()


@dataclass
class Rig:
    loop: TradeLoop
    proxy: TrickleProxy
    trader: AccountInfo
    log: Path

    @property
    def key_id(self) -> str:
        return self.trader.key_id

    def requests(self, sim: SimHarness) -> dict[str, int]:
        counts: dict[str, int] = sim.stats()["accounts"].get(self.key_id, {}).get("requests", {})
        return counts


def through_proxy(
    account: AccountInfo,
    transport: Callable[[TrickleProxy], httpx.BaseTransport | None],
    **client_options: Any,
) -> tuple[TrickleProxy, KalshiClient]:
    """A client of `account` reaching the simulator through a new trickle proxy, on the
    transport `transport` makes for that proxy (None: httpx's own)."""
    host, port = account.api_base.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    proxy = TrickleProxy(host, int(port))
    key, _ = load_private_key(path=Path(account.private_key_path))
    client = KalshiClient(
        api_base=account.api_base.replace(f"{host}:{port}", f"127.0.0.1:{proxy.port}"),
        key_id=account.key_id,
        private_key=key,
        transport=transport(proxy),
        **client_options,
    )
    return proxy, client


@contextmanager
def quoting(
    sim: SimHarness,
    tmp_path: Path,
    *,
    group: bool,
    stale_after_s: float = 10.0,
    transport: Callable[[TrickleProxy], httpx.BaseTransport | None] = lambda _: None,
    stop_deadline_s: float = STOP_DEADLINE_S,
) -> Iterator[Rig]:
    """A market-maker loop on its own account, reaching the exchange through a trickle proxy
    (on the transport `transport` makes for it: httpx's own by default), with a bid and an ask
    resting in each of ten markets; a market's data older than `stale_after_s` is stale (the
    feed's and the risk rule's bound, as `kalshi trade` sets)."""
    other = client_for(sim.new_account(balance_cents=10_000_000))
    for ticker in MARKETS:
        sim.create_market(ticker)
        Book(other, ticker).quote("0.40", "0.60")
    trader = sim.new_account(balance_cents=10_000_000)
    # the client's own bound on a request is no part of what is proved: far past the stop's
    # deadline, so only that deadline can end the stop's calls, and the quotes' placements
    # wait for their answers however slowly a loaded machine gives them
    proxy, client = through_proxy(trader, transport, timeout=PATIENCE_S)
    key, _ = load_private_key(path=Path(trader.private_key_path))
    clock = SystemClock()
    feed = MarketData(
        MARKETS,
        ws_url=trader.ws_url,
        auth=KalshiAuth(trader.key_id, key),
        clock=clock,
        stale_after=stale_after_s,
    )
    log_path = tmp_path / "trade.log"
    store = Store.open(tmp_path / "state.db", clock=clock)
    log = EntryLog(clock, path=log_path, stderr=None)
    config = TradeConfig(strategies={"market-maker": {}}, risk={"stale_after_s": stale_after_s})
    settings = {"stop_deadline_s": stop_deadline_s, "batch_wait_s": 1e9, **DECIDES_IN_STEP}
    loop = build_loop(
        LoopInputs(client, store, feed, clock, log, adjust=adjusted(settings)),
        TradeOptions(strategies=(StrategyChoice("market-maker"),), order_group=group),
        config,
        [client.markets.get_market(t) for t in MARKETS],
    )
    if group:
        loop.executor.answers.order_groups = open_session_group(client, store, config, log).by_shard
        loop.stop.trigger_group = client.order_groups.trigger_order_group
    feed.start()
    try:
        assert poll_until(lambda: feed_ready(feed, MARKETS))
        loop.tick(feed.drain_messages(), full=True)
        # the orders go out on the loop's send workers: their answers may still be on their
        # way when the tick ends (on a busy machine), and are booked as they come
        assert loop.dispatch.settle(clock, PATIENCE_S)
        assert len(loop.stop.own.resting()) == 20, [
            (e["event"], e.get("code"), e.get("reason")) for e in log_events(log_path)
        ][-15:]
        yield Rig(loop, proxy, trader, log_path)
    finally:
        proxy.close()
        feed.stop()
        log.close()
        store.close()
        other.close()
        client.close()


def resting_on_the_exchange(sim: SimHarness, rig: Rig) -> int:
    """The trader's resting orders as the simulator itself has them (not through the proxy)."""
    answer = sim.signed(rig.trader, "GET", "/portfolio/orders", params={"status": "resting"})
    return len(answer.json()["orders"])


@pytest.mark.parametrize("group", [True, False], ids=["order-group", "batch-cancel"])
def test_a_stop_withdraws_at_once_and_proves_it(
    sim: SimHarness, tmp_path: Path, group: bool
) -> None:
    with quoting(sim, tmp_path, group=group) as rig:
        summary = rig.loop.stop.shutdown(cancel_resting=True)
        assert summary.not_proven == ()
        assert resting_on_the_exchange(sim, rig) == 0
        sent = rig.requests(sim)
        # one request withdrew them all, none one order at a time
        assert not any(k.startswith("DELETE /portfolio/events/orders/") and "batched" not in k
                       for k in sent), sent  # fmt: skip
        if group:
            assert sum(v for k, v in sent.items() if k.endswith("/trigger")) == 1, sent
        else:
            # batches as large as the tier allows: 20 orders in a few requests
            assert 1 <= sent.get("DELETE /portfolio/events/orders/batched", 0) <= 2, sent
        events = {e["event"] for e in log_events(rig.log)}
        assert "stop_proven" in events and "stop_not_proven" not in events


@pytest.mark.parametrize("group", [True, False], ids=["order-group", "batch-cancel"])
def test_a_stop_against_an_exchange_answering_a_byte_a_second_ends_in_its_deadline(
    sim: SimHarness, tmp_path: Path, group: bool
) -> None:
    with quoting(sim, tmp_path, group=group) as rig:
        placed = {o.order_id for o in rig.loop.stop.own.resting()}
        rig.proxy.slow.set()
        started = time.monotonic()
        summary = rig.loop.stop.shutdown(cancel_resting=True)
        took = time.monotonic() - started
        # the withdrawal reached the exchange: nothing of the loop's rests there
        assert resting_on_the_exchange(sim, rig) == 0
        # but no answer came to prove it: the stop names every order, within its deadline
        assert set(summary.not_proven) == placed
        assert took < STOP_DEADLINE_S + MARGIN_S, took
        [event] = [e for e in log_events(rig.log) if e["event"] == "stop_not_proven"]
        left = event["left_resting"]
        assert isinstance(left, list) and set(left) == placed


def test_a_group_trigger_that_never_answers_leaves_the_stop_time_to_cancel_and_prove(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The order-group service does not answer: each trigger is held until the deadline it runs
    under cuts it, as the client cuts a request. The triggers get a share of the stop's
    deadline (`GROUP_STEP_SHARE`), as the kill switch's do, and the batch cancels and the proof
    go out after them. Before, the one trigger spent the whole withdrawal: no cancel went out,
    and the stop ended NOT PROVEN with every quote resting."""
    with quoting(sim, tmp_path, group=True) as rig:
        asked: list[float] = []

        def never_answered(order_group_id: str, *, exchange_index: int | None = None) -> None:
            asked.append(time.monotonic())
            cut = Deadline.current()
            assert cut is not None  # every call of the stop runs under a deadline
            time.sleep(max(0.0, cut.remaining()))
            raise CutShortByDeadline(f"PUT order group {order_group_id} trigger: no answer")

        rig.loop.stop.trigger_group = never_answered
        started = time.monotonic()
        summary = rig.loop.stop.shutdown(cancel_resting=True)
        assert resting_on_the_exchange(sim, rig) == 0
        assert summary.not_proven == ()
        assert len(asked) == 1
        events = [e["event"] for e in log_events(rig.log)]
        assert "stop_group_trigger_failed" in events and "stop_proven" in events
        assert time.monotonic() - started < STOP_DEADLINE_S + MARGIN_S


def test_a_group_trigger_slower_than_a_request_but_within_its_share_withdraws_the_quotes(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The group service answers a trigger after a pause shorter than the triggers' share of
    the stop deadline (`GROUP_STEP_SHARE`): the trigger is waited for and withdraws the quotes,
    not cut short and said failed."""
    pause_s = 0.3  # a quarter of the triggers' share, a fifth of `STOP_DEADLINE_S` (docs)
    with quoting(sim, tmp_path, group=True) as rig:
        trigger = rig.loop.stop.trigger_group
        assert trigger is not None

        def slow(order_group_id: str, *, exchange_index: int | None = None) -> None:
            cut = Deadline.current()
            assert cut is not None  # every call of the stop runs under a deadline
            time.sleep(min(pause_s, max(0.0, cut.remaining())))
            if cut.remaining() <= 0:
                raise CutShortByDeadline(f"PUT order group {order_group_id} trigger: no answer")
            trigger(order_group_id, exchange_index=exchange_index)

        rig.loop.stop.trigger_group = slow
        summary = rig.loop.stop.shutdown(cancel_resting=True)
        assert resting_on_the_exchange(sim, rig) == 0
        assert summary.not_proven == ()
        events = [e["event"] for e in log_events(rig.log)]
        assert "stop_group_triggered" in events
        assert "stop_group_trigger_failed" not in events

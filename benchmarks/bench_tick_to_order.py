"""Tick to order: from a WebSocket message received to the order request written to the socket, with
the trade loop built as `kalshi trade` builds it against `kalshi sim serve`. Target: p99 under 5 ms.
`bench_tick_to_order_compare.py` runs it for several trees and settings. See docs/benchmarks.md "How
each benchmark measures".

    python benchmarks/bench_tick_to_order.py [--signals 1000] [--state-dir DIR] [--key-type ed25519]
        [--state-durability normal] [--workers N] [--beside NAME ...]

`--beside` adds a strategy to the loop's lineup beside the measured spike (repeat it: three
more make the four-strategy loop); each decides on every change of the market, with params
that never place an order, so the figure is spike's order with the others' decisions on its
path. `--workers` sets `trade.send_workers` (default the trade loop's).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from bisect import bisect_right
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sim_process import admin, client_for, start_simulator, stop_simulator

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.client.signing import KalshiAuth
from kalshi_cli.feed import MarketData
from kalshi_cli.feed.ws import FeedSocket, websocket_connect
from kalshi_cli.runner.assembly import LoopInputs, build_loop
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import StrategyChoice, TradeConfig, TradeOptions, TradeSection
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import BookSide, TimeInForce

TICKER = "KXBENCH-SIM-T2O"
TARGET_P99_MS = 5.0
# params under which each strategy decides on every change and never finds an order worth it
QUIET: dict[str, dict[str, Any]] = {
    "market-maker": {"min_edge": "0.99"},
    "mean-reversion": {"entry_z": "1000"},
    "arbitrage": {"min_edge": "0.99"},
}


class TimedConnection:
    """The WebSocket, noting when each orderbook delta frame was received."""

    def __init__(self, conn: FeedSocket, seen: list[float]) -> None:
        self.conn = conn
        self.seen = seen

    def recv_data(self, control_frame: bool = False) -> tuple[int, bytes]:
        opcode, data = self.conn.recv_data(control_frame)
        if b'"orderbook_delta"' in data:
            self.seen.append(time.monotonic())
        return opcode, data

    def send(self, payload: str) -> Any:
        return self.conn.send(payload)

    def settimeout(self, timeout: float | None) -> None:
        self.conn.settimeout(timeout)

    def close(self) -> None:
        self.conn.close()

    def shutdown(self) -> None:
        self.conn.shutdown()


class TimedTransport(httpx.HTTPTransport):
    """Notes when an order POST is handed over to be written to the socket (through the
    transport `KalshiClient` sends it through)."""

    def __init__(self, on_order: Callable[[float], None]) -> None:
        super().__init__()
        self.on_order = on_order

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/portfolio/events/orders"):
            self.on_order(time.monotonic())
        return super().handle_request(request)


class Driver:
    """The second account: its two resting orders are the book's best bid and ask."""

    def __init__(self, client: KalshiClient) -> None:
        self.client = client
        self.bid = ""
        self.ask = ""

    def _place(self, side: BookSide, price: str) -> str:
        return self.client.orders.create_order(
            CreateOrder(
                ticker=TICKER,
                book_side=side,
                price=Decimal(price),
                count=Decimal("100000"),
                time_in_force=TimeInForce.GTC,
            )
        ).order_id

    def quote(self, bid: str, ask: str, *, up: bool) -> None:
        # move the side that leads first, so the two orders never cross each other
        for side in ("ask", "bid") if up else ("bid", "ask"):
            old = getattr(self, side)
            if old:
                self.client.orders.cancel_order(old, ticker=TICKER)
            book_side = BookSide.ASK if side == "ask" else BookSide.BID
            setattr(self, side, self._place(book_side, ask if side == "ask" else bid))


def wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.0005)
    return False


def grown(count: Callable[[], int], than: int) -> Callable[[], bool]:
    return lambda: count() > than


def drive(
    *,
    driver: Driver,
    loop: Any,
    posts: list[float],
    signals: int,
    stop: threading.Event,
    missed: list[int],
) -> None:
    """Move the book up and down until the loop has sent `signals` orders; `missed` gets the
    number of moves that drew no order (-1 when the strategy stopped firing)."""
    misses = 0
    up = True
    try:
        # the second tick starts only once the first has finished, so the strategy has the
        # 0.50 mid as its window's start before the book moves. Moving on the first tick's
        # start (as this did) raced its REST calls: a first mid of 0.55 (ask moved, bid not
        # yet) made every later move +-9.1%, under the 10% spike, and no order ever came
        wait(lambda: loop.ticks > 1, 5)
        while len(posts) < signals:
            before, fills = len(posts), loop.executor.counters.fills
            if up:
                driver.quote("0.59", "0.61", up=True)
            else:
                driver.quote("0.49", "0.51", up=False)
            up = not up
            # the order, then its fill read back: the loop is idle again before the next move
            if not (
                wait(grown(lambda: len(posts), before), 2.0)
                and wait(grown(lambda: loop.executor.counters.fills, fills), 2.0)
                and wait(lambda: not loop.executor.fills_due, 2.0)
            ):
                misses += 1
                if misses > 20:
                    missed.append(-1)
                    return
        missed.append(misses)
    finally:
        stop.set()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signals", type=int, default=1000)
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where the state file goes (default: a temporary directory); its fsync per "
        "intent is on the measured path",
    )
    parser.add_argument("--key-type", choices=("rsa", "ed25519"), default="rsa")
    parser.add_argument(
        "--state-durability",
        choices=("full", "normal"),
        default="full",
        help="the loop's `trade.state_durability` (docs/safety.md); full is the default",
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile the loop thread; print its top functions"
    )
    parser.add_argument("--workers", type=int, default=TradeSection().send_workers)
    parser.add_argument(
        "--beside",
        action="append",
        default=[],
        choices=sorted(QUIET),
        help="another strategy in the lineup, deciding and placing nothing",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-t2o-"))
    state_dir = args.state_dir or work
    sim, account = start_simulator(work / "sim")
    deltas: list[float] = []
    posts: list[float] = []
    try:
        admin(
            account["api_base"],
            "/markets",
            {
                "ticker": TICKER,
                "event_ticker": "KXBENCH-SIM",
                "series_ticker": "KXBENCH",
                "title": "bench",
            },
        )
        other = admin(account["api_base"], "/accounts", {"balance_cents": 10**10})
        driver = Driver(client_for(other))
        driver.quote("0.49", "0.51", up=True)
        if args.key_type == "ed25519":
            account = admin(
                account["api_base"], "/accounts", {"balance_cents": 100_000, "key_type": "ed25519"}
            )

        clock = SystemClock()
        key, _ = load_private_key(path=Path(account["private_key_path"]))
        client = client_for(account, TimedTransport(posts.append))
        feed = MarketData(
            [TICKER],
            ws_url=account["ws_url"],
            auth=KalshiAuth(account["key_id"], key),
            rest=client.markets,
            clock=clock,
            connector=lambda url, headers, timeout: TimedConnection(
                websocket_connect(url, headers, timeout), deltas
            ),
        )
        store = Store.open(state_dir / "state.db", clock=clock)
        if args.state_durability != "full":
            store.intent_durability = args.state_durability
        log = EntryLog(clock, path=work / "trade.log", stderr=None)
        config = TradeConfig(
            # one window for the whole run, so every move up is measured from 0.50
            strategies={
                "spike": {"window_s": 36_000, "max_hold_s": 36_000},
                **{name: QUIET[name] for name in args.beside},
            },
            risk={"max_orders_per_minute": 100_000, "daily_loss_limit": 1_000_000},
        )
        lineup = ("spike", *args.beside)
        loop = build_loop(
            LoopInputs(client, store, feed, clock, log, send_workers=args.workers),
            TradeOptions(strategies=tuple(StrategyChoice(s) for s in lineup)),
            config,
            [client.markets.get_market(TICKER)],
        )
        stop = threading.Event()
        feed.start()
        if not wait(lambda: feed.is_fresh(TICKER), 15):
            raise SystemExit("the feed never became fresh")
        missed: list[int] = []
        # the loop owns the state file's connection, so it runs here; the driver is the thread
        driver_thread = threading.Thread(
            target=drive,
            kwargs={
                "driver": driver,
                "loop": loop,
                "posts": posts,
                "signals": args.signals,
                "stop": stop,
                "missed": missed,
            },
            daemon=True,
        )
        driver_thread.start()
        if args.profile:
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.runcall(loop.run, stop=stop)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(150)
        else:
            loop.run(stop=stop)
        driver_thread.join(10)
        feed.stop()
        store.close()
        log.close()
        if missed and missed[-1] < 0:
            raise SystemExit(f"the strategy stopped firing after {len(posts)} orders")
    finally:
        stop_simulator(sim)

    latencies = []
    for t in posts:
        i = bisect_right(deltas, t)
        if i:
            latencies.append((t - deltas[i - 1]) * 1000)
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"tick to order ({' + '.join(('spike', *args.beside))}, {args.workers} send workers, "
        "WebSocket delta received -> order POST written): "
        f"n={len(latencies)} p50={p50:.2f} ms p99={p99:.2f} ms max={latencies[-1]:.2f} ms "
        f"(target p99 < {TARGET_P99_MS:g} ms: {'met' if p99 < TARGET_P99_MS else 'NOT met'}); "
        f"{missed[0]} move(s) without an order; {args.key_type} key; "
        f"state_durability {args.state_durability}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

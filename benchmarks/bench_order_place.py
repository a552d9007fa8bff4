"""One `kalshi order place` end to end, cold process, against the simulator over loopback.

Each sample is a fresh `kalshi` process (imports, config, key loading, state file open, the
market read for validation, the intent write, the signed POST, the answer's write), next to
`kalshi --help` (the floor of any cold `kalshi` process) and the same placement in a warm
process through `OrderService` (what is left once the process exists). Samples alternate so
machine noise hits all three alike; the medians are reported, the warm one's CPU time too (of
this process, the simulator's thread included: what the load moves least). `--state-orders N
--state-fills M`: the warm state file holds N finished orders and M priced fills first, as a
trade loop's does (what the daily circuit breaker's catch-up must not read again each order).
`--settling`: before each place a market the account bought a contract of settles, so each
catch-up adds a fill and a settlement (what it replays of the realized P&L is what it costs).

    python benchmarks/bench_order_place.py [--runs 15] [--state-orders N] [--state-fills M]
        [--settling]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.store import FillRecord, IntentRecord, Store
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side

TICKER = "KXBENCH-PLACE-M00"
PRICE = Decimal("0.40")


def kalshi_executable() -> list[str]:
    script = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "kalshi_cli"]


def hold_history(store: Store, orders: int, fills: int) -> None:
    """`orders` finished orders and `fills` priced fills of other markets, written first."""
    with store.transaction():
        for n in range(orders):
            create = CreateOrder(f"KXOLD-M{n % 500}", BookSide.BID, Decimal("0.40"), Decimal(1))
            intent = IntentRecord.pending(
                create, side=Side.YES, action=Action.BUY, subaccount=0, now=time.time() - 3600
            )
            store.orders.record_intent(intent)
            store.orders.mark_sent(
                create.client_order_id,
                order_id=f"old-{n}",
                status="canceled",
                fill_count=Decimal(0),
                remaining_count=Decimal(0),
            )
    store.fills.record_fills(
        FillRecord(
            f"old-fill-{n}",
            f"old-fill-order-{n}",
            None,
            f"KXOLD-M{n % 500}",
            BookSide.BID,
            Decimal("0.40"),
            Decimal(1),
            Decimal("0.01"),
            False,
            time.time() - 86_400 * 30 + n,
            realized_pnl=Decimal(0),
        )
        for n in range(fills)
    )


def _market(admin_url: str, ticker: str) -> None:
    body = {"ticker": ticker, "event_ticker": "KXBENCH-PLACE", "series_ticker": "KXBENCH"}
    httpx.post(admin_url + "/markets", json={**body, "title": ticker}).raise_for_status()


def another_account(admin_url: str) -> KalshiClient:
    """A client of a new account of the simulator: the other side of the account's trades."""
    other = httpx.post(admin_url + "/accounts", json={}).json()
    key, _ = load_private_key(path=other["private_key_path"])
    return KalshiClient(api_base=other["api_base"], key_id=other["key_id"], private_key=key)


def settle_a_held_market(
    admin_url: str, client: KalshiClient, seller: KalshiClient, n: int
) -> None:
    """The account buys one contract of a new market from `seller`, and the market settles."""
    ticker = f"KXBENCH-SETTLES-M{n:02d}"
    _market(admin_url, ticker)
    seller.orders.create_order(CreateOrder(ticker, BookSide.ASK, PRICE, Decimal(1)))
    client.orders.create_order(CreateOrder(ticker, BookSide.BID, PRICE, Decimal(1)))
    httpx.post(f"{admin_url}/markets/{ticker}/settle", json={"result": "yes"}).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--state-orders", type=int, default=0)
    parser.add_argument("--state-fills", type=int, default=0)
    parser.add_argument("--settling", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sim = start_simulator(Path(tmp) / "sim", scenario="empty", tier="prime")
        try:
            _market(sim.admin_url, TICKER)
            account = sim.account
            env = {
                **os.environ,
                "KALSHI_HOME": str(Path(tmp) / "home"),
                "KALSHI_API_BASE": account.api_base,
                "KALSHI_API_KEY_ID": account.key_id,
                "KALSHI_PRIVATE_KEY_PATH": account.private_key_path,
                "KALSHI_TIER": "prime",
            }
            kalshi = kalshi_executable()
            place = [TICKER, "--side", "yes", "--action", "buy", "--count", "1", "--price"]
            key, _ = load_private_key(path=account.private_key_path)
            client = KalshiClient(
                api_base=account.api_base, key_id=account.key_id, private_key=key, tier="prime"
            )
            store = Store.open(Path(tmp) / "warm.db")
            hold_history(store, args.state_orders, args.state_fills)
            service = OrderService(client, store)
            seller = another_account(sim.admin_url) if args.settling else None
            cold, floor, warm, warm_cpu = [], [], [], []
            for i in range(args.runs):
                if seller is not None:
                    settle_a_held_market(sim.admin_url, client, seller, i)
                price = f"0.{10 + i % 40:02d}"
                started = time.perf_counter()
                subprocess.run([*kalshi, "--help"], env=env, capture_output=True, check=True)
                floor.append(time.perf_counter() - started)
                started = time.perf_counter()
                subprocess.run(
                    [*kalshi, "order", "place", *place, price],
                    env=env,
                    capture_output=True,
                    check=True,
                )
                cold.append(time.perf_counter() - started)
                started, cpu = time.perf_counter(), time.process_time()
                request = OrderRequest(TICKER, Side.YES, Action.BUY, Decimal(1), Decimal(price))
                service.place(service.prepare(request))
                warm.append(time.perf_counter() - started)
                warm_cpu.append(time.process_time() - cpu)
            client.close()
            if seller is not None:
                seller.close()
            store.close()
        finally:
            sim.stop()
    c, f, w, u = (statistics.median(x) * 1000 for x in (cold, floor, warm, warm_cpu))
    print(f"kalshi order place (cold process)  median {c:7.1f} ms  n={args.runs}")
    print(f"kalshi --help (cold process)       median {f:7.1f} ms  ({c / f:.1f}x of it)")
    print(f"OrderService.place (warm)          median {w:7.1f} ms  CPU {u:5.1f} ms")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

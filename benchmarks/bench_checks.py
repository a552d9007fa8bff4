"""`kalshi check heartbeat` cold start next to `python -c "import typer"`, and `kalshi check
positions` against the simulator.

The heartbeat check reads only the state file: each run is a fresh process, alternating with the
typer import so machine noise hits both alike, against a state file holding a fresh heartbeat
(the OK path, which sends nothing), interleaved with the baselines of coldstart.py. Its median
is reported, wall and CPU time, with its ratio to the typer import (budget: under 0.5 s wall; the
ratio is reported).
The positions check runs as a fresh process too, against a simulator on loopback started once
by this script, with a few open positions; its p50 and p90 are reported, since a cron check
pays the whole process each time.

    python benchmarks/bench_checks.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from decimal import Decimal
from pathlib import Path

from coldstart import BASELINES, clean_env, kalshi, medians, report, timed

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import BookSide, TimeInForce

BUDGET_S = 0.5  # docs/benchmarks.md: heartbeat cold start, median wall


def client(account: AccountInfo) -> KalshiClient:
    key, _ = load_private_key(path=Path(account.private_key_path))
    return KalshiClient(api_base=account.api_base, key_id=account.key_id, private_key=key)


def open_positions(sim_admin: str, account: AccountInfo, seller: AccountInfo, n: int) -> None:
    import httpx

    with client(account) as me, client(seller) as other:
        for i in range(n):
            ticker = f"KXBENCH-{i}"
            httpx.post(
                f"{sim_admin}/markets",
                json={
                    "ticker": ticker,
                    "event_ticker": "KXBENCH",
                    "series_ticker": "KXB",
                    "title": f"Benchmark market {i}",
                },
                timeout=10,
            ).raise_for_status()
            price, count = Decimal("0.40"), Decimal(10 + i)
            me.orders.create_order(
                CreateOrder(ticker=ticker, book_side=BookSide.BID, price=price, count=count)
            )
            other.orders.create_order(
                CreateOrder(
                    ticker=ticker,
                    book_side=BookSide.ASK,
                    price=price,
                    count=count,
                    time_in_force=TimeInForce.IOC,
                )
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    exe = kalshi()
    with tempfile.TemporaryDirectory() as home:
        env = clean_env(dict(os.environ), home)
        with Store.open(Path(home) / "state" / "sim" / "state.db") as store:
            store.entries.heartbeat(source="trade")
        heartbeat_argv = [exe, "check", "heartbeat", "--warn", "3600", "--crit", "7200"]
        result = medians({**BASELINES, "kalshi check heartbeat": heartbeat_argv}, args.runs, env)

        sim = start_simulator(Path(home) / "sim", scenario="empty")
        try:
            import httpx

            seller = AccountInfo(
                **httpx.post(
                    f"{sim.admin_url}/accounts", json={"balance_cents": 1_000_000}, timeout=10
                ).json()
            )
            open_positions(sim.admin_url, sim.account, seller, 5)
            sim_env = {
                **env,
                "KALSHI_API_BASE": sim.account.api_base,
                "KALSHI_API_KEY_ID": sim.account.key_id,
                "KALSHI_PRIVATE_KEY_PATH": sim.account.private_key_path,
            }
            positions_argv = [exe, "check", "positions"]
            timed(positions_argv, sim_env)
            positions_s = sorted(timed(positions_argv, sim_env).wall for _ in range(args.runs))
        finally:
            sim.stop()

    p50 = statistics.median(positions_s)
    p90 = positions_s[int(0.9 * (len(positions_s) - 1))]
    report(result, args.runs, f"heartbeat < {BUDGET_S} s wall; the ratio to typer is reported")
    print(f"kalshi check positions on the simulator (5 positions), {args.runs} runs")
    print(f"  p50 {p50 * 1000:7.1f} ms   p90 {p90 * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

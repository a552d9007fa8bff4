"""HTTP round trips against the simulator on loopback, measured in one run.

Prints p50/p99 of a signed `GET /markets/{ticker}` and of a signed
`POST /portfolio/events/orders` (a resting one-contract bid; nothing crosses), each over one
keep-alive connection, on the prime tier so the rate limiter never interferes.
Run: `python benchmarks/bench_sim_http.py`.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from kalshi_cli.client.signing import KalshiAuth, load_private_key
from kalshi_cli.sim.embed import start_simulator

N = 500
TICKER = "KXBENCH-26-A"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_simulator(Path(tmp), scenario="empty", tier="prime") as sim,
    ):
        httpx.post(
            sim.admin_url + "/markets",
            json={
                "ticker": TICKER,
                "event_ticker": "KXBENCH-26",
                "series_ticker": "KXBENCH",
                "title": "bench",
            },
        ).raise_for_status()
        key, _ = load_private_key(path=sim.account.private_key_path)
        auth = KalshiAuth(sim.account.key_id, key)
        with httpx.Client(base_url=sim.account.api_base, auth=auth) as client:
            results = {}
            for name, call in (
                ("GET /markets/{ticker}", lambda i: client.get(f"/markets/{TICKER}")),
                (
                    "POST /portfolio/events/orders",
                    lambda i: client.post(
                        "/portfolio/events/orders",
                        json={
                            "ticker": TICKER,
                            "side": "bid",
                            "price": f"0.{10 + i % 40:02d}",
                            "count": "1",
                            "time_in_force": "good_till_canceled",
                            "self_trade_prevention_type": "taker_at_cross",
                        },
                    ),
                ),
            ):
                for i in range(50):  # warm up
                    call(i).raise_for_status()
                samples = []
                for i in range(N):
                    started = time.perf_counter()
                    response = call(i)
                    samples.append((time.perf_counter() - started) * 1000)
                    response.raise_for_status()
                results[name] = samples
    for name, samples in results.items():
        print(
            f"{name:32s} n={len(samples)} p50={statistics.median(samples):.2f} ms "
            f"p99={percentile(samples, 0.99):.2f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

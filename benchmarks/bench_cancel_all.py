"""The kill switch on 1,000 resting orders across 20 markets of one event, on the simulator: `kalshi
cancel-all` (target: under the read lag plus 1 s) and `--event`'s batched cancels (target: at most
1.2x the floor the write budget sets), each the median of `--runs` runs. See docs/benchmarks.md "How
each benchmark measures".

    python benchmarks/bench_cancel_all.py [--tier advanced] [--runs 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.ratelimit import RateLimiter, tier_limits
from kalshi_cli.services.killswitch.switch import KillSwitch
from kalshi_cli.services.reconcile import DEFAULT_READ_LAG_S
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.sim.server.ratelimit import tier_named
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.keys import load_private_key, signed_headers

ORDERS, MARKETS, EVENT = 1000, 20, "KXBENCH-EV"
CANCEL_TOKENS = 2  # per cancelled order (the simulator's and Kalshi's cost)
UNFILTERED_TARGET_S = DEFAULT_READ_LAG_S + 1.0
EVENT_TARGET_RATIO = 1.2


def seed(data_dir: Path) -> None:
    """1,000 resting orders on a prime-tier simulator, placed with batched creates."""
    sim = start_simulator(data_dir, scenario="empty", tier="prime")
    try:
        http = httpx.Client(timeout=30)
        for m in range(MARKETS):
            ticker = f"{EVENT}-M{m:02d}"
            body = {
                "ticker": ticker,
                "event_ticker": EVENT,
                "series_ticker": "KXBENCH",
                "title": ticker,
            }
            response = http.post(sim.admin_url + "/markets", json=body)
            if response.status_code not in (201, 409):
                response.raise_for_status()
        account = sim.account
        key, _ = load_private_key(path=account.private_key_path)
        limiter = RateLimiter(tier_limits("prime"), SystemClock())
        items = [
            {
                "ticker": f"{EVENT}-M{i % MARKETS:02d}",
                "client_order_id": f"bench-{time.time_ns()}-{i}",
                "side": "bid",
                "count": "1.00",
                "price": f"0.{10 + i % 30:02d}",
                "time_in_force": "good_till_canceled",
                "self_trade_prevention_type": "taker_at_cross",
            }
            for i in range(ORDERS)
        ]
        path = "/portfolio/events/orders/batched"
        for start in range(0, ORDERS, 20):
            limiter.acquire("POST", path, items=20)
            request = http.build_request(
                "POST", account.api_base + path, json={"orders": items[start : start + 20]}
            )
            request.headers.update(
                signed_headers(
                    key, account.key_id, "POST", request.url.path, int(time.time() * 1000)
                )
            )
            http.send(request).raise_for_status()
        http.close()
    finally:
        sim.stop()


def kill(data_dir: Path, tier: str, *, event: str | None) -> tuple[float, int, bool]:
    sim = start_simulator(data_dir, scenario="empty", tier=tier)
    try:
        account: AccountInfo = sim.account
        key, _ = load_private_key(path=account.private_key_path)
        with (
            KalshiClient(
                api_base=account.api_base, key_id=account.key_id, private_key=key, tier=tier
            ) as client,
            Store.open(data_dir.parent / "state.db") as store,
        ):
            started = time.perf_counter()
            report = KillSwitch(client, store, SystemClock()).run(event_ticker=event)
            elapsed = time.perf_counter() - started
        return elapsed, len(report.cancelled), report.proven
    finally:
        sim.stop()


def floor_seconds(tier: str) -> float:
    """Seconds the write budget needs for every cancel once the full bucket is spent."""
    exchange = tier_named(tier)
    tokens = ORDERS * CANCEL_TOKENS
    return max(0, tokens - exchange.write_capacity) / exchange.write_per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", default="basic")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for label, event in (("unfiltered", None), (f"--event {EVENT}", EVENT)):
        samples = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                data_dir = Path(tmp) / "sim"
                seed(data_dir)
                elapsed, cancelled, proven = kill(data_dir, args.tier, event=event)
                if cancelled != ORDERS or not proven:
                    sys.exit(f"{label}: cancelled {cancelled}, proven {proven}")
                samples.append(elapsed)
        median = statistics.median(samples)
        if event is None:
            verdict = f"target < {UNFILTERED_TARGET_S:.1f} s"
        else:
            floor = floor_seconds(args.tier)
            verdict = (
                f"floor {floor:.2f} s at tier {args.tier}, {median / floor:.2f}x of it "
                f"(target <= {EVENT_TARGET_RATIO}x)"
            )
        print(f"cancel-all {label:<22} {ORDERS} orders  median {median:6.2f} s  {verdict}")


if __name__ == "__main__":
    main()

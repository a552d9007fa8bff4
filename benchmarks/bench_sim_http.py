"""HTTP round trips against the simulator on loopback, GET and POST measured in one run.

The simulator runs as `kalshi sim serve` does, in its own process (so client and server do not
share one interpreter lock), on the prime tier. Four accounts take turns, so no account comes
near its rate limit. The signed `GET /markets/{ticker}` and the signed
`POST /portfolio/events/orders` alternate in blocks of 100 over one keep-alive connection per
account, so both see the same machine load. The orders cross in pairs between two accounts (a
bid rests, the next ask fills it), so the book stays at most one order deep instead of growing
through the run.

Besides throughput (sequential requests per wall second) and p50/p99 wall latency it prints
the CPU time per request of the server process (user + system, from /proc; Linux only) and of
this client process: on a machine busy with other work
wall latency grows, while CPU per request stays what the simulator costs.
Run: `python benchmarks/bench_sim_http.py [--requests N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from kalshi_cli.client.signing import KalshiAuth
from kalshi_cli.vocabulary.keys import load_private_key

TICKER = "KXBENCH-26-A"
ACCOUNTS = 4
BLOCK = 100
TARGET_P50_MS = 2.0


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process, or None where /proc is not available."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(data_dir: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    code = (
        "from kalshi_cli.sim.server.serve import serve; "
        f"serve('127.0.0.1', 0, {str(data_dir)!r}, 'empty', 1.0, 'prime', 100000)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    text = ""
    while True:  # the account JSON is printed (indented) once the socket is bound
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the simulator exited before announcing its account")
        text += line
        try:
            return proc, json.loads(text)
        except ValueError:
            continue


def order_body(i: int) -> dict[str, str]:
    """Account i % 4: 0 and 2 bid, 1 and 3 sell into those bids at the same price."""
    return {
        "ticker": TICKER,
        "side": "bid" if i % 2 == 0 else "ask",
        "price": "0.50" if i % 4 < 2 else "0.51",
        "count": "1",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000, help="per request kind")
    args = parser.parse_args()
    rounds = max(1, args.requests // BLOCK)
    load_before = (
        Path("/proc/loadavg").read_text().split()[:3] if os.path.exists("/proc/loadavg") else []
    )
    with tempfile.TemporaryDirectory() as tmp:
        proc, account = start_server(Path(tmp))
        try:
            base = account["api_base"].rsplit("/trade-api", 1)[0]
            admin = base + "/sim/v1"
            httpx.post(
                admin + "/markets",
                json={
                    "ticker": TICKER,
                    "event_ticker": "KXBENCH-26",
                    "series_ticker": "KXBENCH",
                    "title": "bench",
                },
            ).raise_for_status()
            clients = []
            for _ in range(ACCOUNTS):
                info = httpx.post(admin + "/accounts", json={"balance_cents": 10**9}).json()
                key, _ = load_private_key(path=Path(info["private_key_path"]))
                auth = KalshiAuth(info["key_id"], key)
                clients.append(httpx.Client(base_url=account["api_base"], auth=auth))

            def get(i: int) -> httpx.Response:
                return clients[i % ACCOUNTS].get(f"/markets/{TICKER}")

            def post(i: int) -> httpx.Response:
                return clients[i % ACCOUNTS].post("/portfolio/events/orders", json=order_body(i))

            calls: dict[str, Callable[[int], httpx.Response]] = {
                "GET /markets/{ticker}": get,
                "POST /portfolio/events/orders": post,
            }
            samples: dict[str, list[float]] = {name: [] for name in calls}
            server_cpu: dict[str, float] = dict.fromkeys(calls, 0.0)
            client_cpu: dict[str, float] = dict.fromkeys(calls, 0.0)
            wall: dict[str, float] = dict.fromkeys(calls, 0.0)
            for call in calls.values():  # warm up
                for i in range(2 * ACCOUNTS * 5):
                    call(i).raise_for_status()
            for _ in range(rounds):
                for name, call in calls.items():
                    cpu0, mine0 = process_cpu_s(proc.pid), time.process_time()
                    block_started = time.perf_counter()
                    for i in range(BLOCK):
                        started = time.perf_counter()
                        response = call(i)
                        samples[name].append((time.perf_counter() - started) * 1000)
                        response.raise_for_status()
                    wall[name] += time.perf_counter() - block_started
                    cpu1 = process_cpu_s(proc.pid)
                    if cpu0 is not None and cpu1 is not None:
                        server_cpu[name] += cpu1 - cpu0
                    client_cpu[name] += time.process_time() - mine0
            for client in clients:
                client.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    load_after = Path("/proc/loadavg").read_text().split()[:3] if load_before else []
    p50s = {}
    for name, values in samples.items():
        n = len(values)
        p50s[name] = statistics.median(values)
        server = f"{server_cpu[name] / n * 1000:.3f} ms" if load_before else "n/a"
        print(
            f"{name:30s} n={n} {n / wall[name]:.0f} req/s p50={p50s[name]:.2f} ms "
            f"p99={percentile(values, 0.99):.2f} ms "
            f"server CPU/req={server} client CPU/req={client_cpu[name] / n * 1000:.3f} ms"
        )
    get_p50, post_p50 = p50s.values()
    print(
        f"POST/GET p50 ratio {post_p50 / get_p50:.2f}; target p50 < {TARGET_P50_MS} ms: "
        f"{'met' if max(get_p50, post_p50) < TARGET_P50_MS else 'NOT met'}; "
        f"load average before {' '.join(load_before) or 'n/a'}, "
        f"after {' '.join(load_after) or 'n/a'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

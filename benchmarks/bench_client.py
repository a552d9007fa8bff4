"""What does our client cost per request, next to plain httpx and one RSA-PSS signature? The
simulator runs in a child process and the variants (plain httpx, presigned, bare transport,
signed, authed, our client, one signature, Ed25519, pykalshi when importable) are timed
interleaved, then again over httpx.MockTransport. Target: (client - plain) <= 1.5 x sign.
See docs/benchmarks.md "How each benchmark measures".

Run: `python benchmarks/bench_client.py [rounds]`, or `--compare-with DIR [--rounds N]`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.ratelimit import BucketLimit, TierLimits
from kalshi_cli.client.signing import KalshiAuth
from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.vocabulary.keys import (
    generate_private_key,
    load_private_key,
    sign_message,
    signed_headers,
)

TICKER = "KXBENCH-1"
MARKET = {"ticker": TICKER, "event_ticker": "KXBENCH", "series_ticker": "KXB", "title": "bench"}
MARKET_BODY = {
    "ticker": TICKER, "event_ticker": "KXBENCH", "status": "active", "title": "bench",
    "yes_bid_dollars": "0.4200", "yes_ask_dollars": "0.4500", "no_bid_dollars": "0.5500",
    "no_ask_dollars": "0.5800", "last_price_dollars": "0.4300", "volume_fp": "10.00",
    "volume_24h_fp": "1.00", "open_interest_fp": "3.00", "price_level_structure": "linear_cent",
    "price_ranges": [{"start": "0.0100", "end": "0.9900", "step": "0.0100"}],
}  # fmt: skip


def _timed(times: dict[str, list[float]], name: str, fn: Callable[[], object]) -> None:
    """Appends the call's wall time to `times[name]` and its CPU time in this process (the
    simulator's is another process's) to `times[name + "_cpu"]`, both in microseconds."""
    cpu = time.process_time()
    times[name].append(_time_us(fn))
    times.setdefault(f"{name}_cpu", []).append((time.process_time() - cpu) * 1e6)


def _time_us(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e6


def _measure(account: dict[str, str], rounds: int) -> dict[str, list[float]]:
    key, _ = load_private_key(path=account["private_key_path"])
    url = f"{account['api_base']}/markets/{TICKER}"
    full_path = httpx.URL(url).path
    second_key, _ = load_private_key(path=account["second_key_path"])
    now_ms = int(time.time() * 1000)
    headers = signed_headers(second_key, account["second_key_id"], "GET", full_path, now_ms)
    times: dict[str, list[float]] = {
        "plain": [], "presigned": [], "transport": [], "signed": [], "authed": [],
        "client": [], "client_ed": [],
    }  # fmt: skip
    peer = _pykalshi_client(account)
    if peer is not None:
        times["pykalshi"] = []
    ed_key, _ = load_private_key(path=account["ed_key_path"])
    third_key, _ = load_private_key(path=account["third_key_path"])
    auth = KalshiAuth(account["third_key_id"], third_key)
    parsed = httpx.URL(url)
    timeouts = httpx.Timeout(10.0).as_dict()

    def to_transport_signed(transport: httpx.BaseTransport) -> object:
        request = httpx.Request("GET", parsed, extensions={"timeout": timeouts})
        auth.sign(request)
        response = transport.handle_request(request)
        response.read()
        return response.json()

    def to_transport(transport: httpx.BaseTransport) -> object:
        request = httpx.Request("GET", parsed, headers=headers, extensions={"timeout": timeouts})
        response = transport.handle_request(request)
        response.read()
        return response.json()

    with (
        httpx.HTTPTransport() as transport,
        httpx.Client(timeout=10.0) as plain,
        httpx.Client(timeout=10.0, headers=headers) as presigned,
        httpx.Client(timeout=10.0, auth=auth) as authed,
        KalshiClient(
            api_base=account["api_base"], key_id=account["key_id"], private_key=key, tier="prime"
        ) as client,
        KalshiClient(
            api_base=account["api_base"], key_id=account["ed_key_id"], private_key=ed_key,
            tier="prime",
        ) as client_ed,
    ):  # fmt: skip
        for _ in range(20):
            plain.get(url).json()
            client.markets.get_market(TICKER)
            client_ed.markets.get_market(TICKER)
            if peer is not None:
                peer.get_market(TICKER)
        for _ in range(rounds):
            _timed(times, "plain", lambda: plain.get(url).json())
            _timed(times, "presigned", lambda: presigned.get(url).json())
            _timed(times, "transport", lambda: to_transport(transport))
            _timed(times, "signed", lambda: to_transport_signed(transport))
            _timed(times, "authed", lambda: authed.get(url).json())
            _timed(times, "client", lambda: client.markets.get_market(TICKER))
            _timed(times, "client_ed", lambda: client_ed.markets.get_market(TICKER))
            if peer is not None:
                _timed(times, "pykalshi", lambda: peer.get_market(TICKER))
    if peer is not None:
        peer.close()
    stats = httpx.get(f"{account['admin_url']}/stats").json()
    refused = stats["rate_limited"]
    if refused:
        print(f"warning: the simulator answered 429 {refused} times; timings include retries")
    message = f"{int(time.time() * 1000)}GET{full_path}"
    times["sign"] = [_time_us(lambda: sign_message(key, message)) for _ in range(rounds)]
    times["sign_ed"] = [_time_us(lambda: sign_message(ed_key, message)) for _ in range(rounds)]
    return times


def _pykalshi_client(account: dict[str, str]) -> Any:
    try:
        from pykalshi import KalshiClient as PyKalshiClient  # type: ignore[import-not-found]
    except ImportError:
        return None
    return PyKalshiClient(
        api_key_id=account["peer_key_id"],
        private_key_path=account["peer_key_path"],
        api_base=account["api_base"],
    )


def _measure_no_network(rounds: int) -> dict[str, float]:
    key = generate_private_key()
    body = json.dumps({"market": MARKET_BODY}).encode()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    transport = httpx.MockTransport(answer)
    huge = TierLimits(BucketLimit(10**9, 10**9), BucketLimit(10**9, 10**9))
    base = "http://exchange.test/trade-api/v2"
    times: dict[str, list[float]] = {"plain": [], "client": []}
    with (
        httpx.Client(transport=transport) as plain,
        KalshiClient(
            api_base=base, key_id="k", private_key=key, transport=transport, rate_limits=huge
        ) as client,
    ):
        for _ in range(rounds * 5):
            times["plain"].append(_time_us(lambda: plain.get(f"{base}/markets/{TICKER}").json()))
            _timed(times, "client", lambda: client.markets.get_market(TICKER))
    message = f"{int(time.time() * 1000)}GET/trade-api/v2/markets/{TICKER}"
    sign = [_time_us(lambda: sign_message(key, message)) for _ in range(rounds * 5)]
    return {
        "plain": statistics.median(times["plain"]),
        "client": statistics.median(times["client"]),
        "sign": statistics.median(sign),
    }


def _serve(data_dir: str, ready: Queue[dict[str, str]], stop: Event) -> None:
    sim = start_simulator(Path(data_dir), scenario="empty", tier="prime")
    httpx.post(f"{sim.admin_url}/markets", json=MARKET).raise_for_status()
    # the presigned and the authed requests each use an account of their own, so no variant
    # spends another's tokens
    info = sim.account.to_json() | {"admin_url": sim.admin_url}
    for name, body in (
        ("second", {}),
        ("third", {}),
        ("ed", {"key_type": "ed25519"}),
        ("peer", {}),
    ):
        extra = httpx.post(f"{sim.admin_url}/accounts", json=body).json()
        info |= {f"{name}_key_id": extra["key_id"], f"{name}_key_path": extra["private_key_path"]}
    ready.put(info)
    stop.wait()
    sim.stop()


CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
sys.path.insert(1, sys.argv[2])
import bench_client
print(json.dumps(bench_client.child_medians(json.loads(sys.argv[3]), int(sys.argv[4]))))
"""


def child_medians(account: dict[str, str], rounds: int) -> dict[str, float]:
    """Medians of `client`, `client_ed`, `pykalshi`, `presigned` and `sign` with the
    `kalshi_cli` this process imported (the tree first on sys.path)."""
    times = _measure(account, rounds)
    return {name: statistics.median(values) for name, values in times.items()}


def compare(tree: str, rounds: int, calls: int) -> int:
    """This tree and `tree`, one fresh process each per round, alternating, one simulator."""
    here = Path(__file__).resolve().parent
    trees = {"this tree": str(here.parent), "--compare-with": tree}
    ctx = multiprocessing.get_context("spawn")
    ready: Queue[dict[str, str]] = ctx.Queue()
    stop = ctx.Event()
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        server = ctx.Process(target=_serve, args=(tmp, ready, stop), daemon=True)
        server.start()
        try:
            account = ready.get(timeout=60)
            for _ in range(rounds):
                for name, path in trees.items():
                    done = subprocess.run(
                        [sys.executable, "-c", CHILD, path, str(here), json.dumps(account),
                         str(calls)],
                        capture_output=True, text=True, check=True,
                    )  # fmt: skip
                    results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
        finally:
            stop.set()
            server.join(timeout=10)
    print(f"signed GET /markets/{{ticker}}: {rounds} rounds of {calls} calls, trees alternating")
    for name, runs in results.items():
        if any("pykalshi" not in run for run in runs):
            print("  pykalshi: not importable here (see the docstring): no peer ratio")
            return 1

        def median(value: Callable[[dict[str, float]], float], of: list[dict[str, float]]) -> float:
            return statistics.median(value(run) for run in of)

        rsa = median(lambda r: r["client"] / r["pykalshi"], runs)
        per_round = ", ".join(f"{r['client'] / r['pykalshi']:.2f}" for r in runs)
        ed = median(lambda r: r["client_ed"] / r["pykalshi"], runs)
        floor = median(lambda r: (r["presigned"] + r["sign"]) / r["pykalshi"], runs)
        bare = median(lambda r: (r["transport"] + r["sign"]) / r["pykalshi"], runs)
        cpu = median(lambda r: r["client_cpu"] / r["pykalshi_cpu"], runs)
        cpu_floor = median(lambda r: (r["presigned_cpu"] + r["sign"]) / r["pykalshi_cpu"], runs)
        cpu_bare = median(lambda r: (r["transport_cpu"] + r["sign"]) / r["pykalshi_cpu"], runs)
        in_call = median(lambda r: r["signed"] / r["pykalshi"], runs)
        cpu_in_call = median(lambda r: r["signed_cpu"] / r["pykalshi_cpu"], runs)
        print(
            f"  {name:15} client RSA {median(lambda r: r['client'], runs):7.1f} us "
            f"= {rsa:.2f}x pykalshi ({median(lambda r: r['pykalshi'], runs):.1f} us), "
            f"Ed25519 {ed:.2f}x; floors: presigned + signature {floor:.2f}x, the same sent "
            f"to httpx's transport {bare:.2f}x, signed there in the call {in_call:.2f}x"
            "; "
            f"per round RSA {per_round}"
        )
        print(
            f"  {'':15} CPU in the calling process: client RSA "
            f"{median(lambda r: r['client_cpu'], runs):.1f} us = {cpu:.2f}x pykalshi's "
            f"({median(lambda r: r['pykalshi_cpu'], runs):.1f} us); floors "
            f"{cpu_floor:.2f}x, {cpu_bare:.2f}x and {cpu_in_call:.2f}x"
        )
    print(f"reported, not targeted; load average {os.getloadavg()[0]:.2f}")
    return 0


def main(rounds: int = 300) -> int:
    # prime reads: 4000 tokens/s; our bucket holds 3600 tokens = 360 requests, so the warm-up
    # and `rounds` (<= 300) signed requests never wait for tokens
    rounds = min(rounds, 300)
    ctx = multiprocessing.get_context("spawn")
    ready: Queue[dict[str, str]] = ctx.Queue()
    stop = ctx.Event()
    with tempfile.TemporaryDirectory() as tmp:
        server = ctx.Process(target=_serve, args=(tmp, ready, stop), daemon=True)
        server.start()
        try:
            account = ready.get(timeout=60)
            times = _measure(account, rounds)
        finally:
            stop.set()
            server.join(timeout=10)

    med = {name: statistics.median(values) for name, values in times.items()}
    overhead = med["client"] - med["plain"]
    ratio = overhead / med["sign"]
    local = _measure_no_network(rounds)
    local_ratio = (local["client"] - local["plain"]) / local["sign"]
    print(f"signed GET /markets/{{ticker}} against the simulator, median of {rounds} rounds")
    print(f"  plain httpx (no signature)          {med['plain']:8.1f} us")
    print(f"  plain httpx, presigned headers      {med['presigned']:8.1f} us")
    print(f"  plain httpx + KalshiAuth (signing)  {med['authed']:8.1f} us")
    print(f"  KalshiClient.get_market             {med['client']:8.1f} us")
    print(f"  one RSA-PSS signature (2048-bit)    {med['sign']:8.1f} us")
    print(f"  presigned, httpx's transport        {med['transport']:8.1f} us")
    print(f"  client overhead over plain httpx    {overhead:8.1f} us")
    print(f"    of which server-side verification {med['presigned'] - med['plain']:8.1f} us")
    print(f"    of which our wrapper (vs authed)  {med['client'] - med['authed']:8.1f} us")
    print(f"  overhead / signature = {ratio:.2f}x (reported)")
    print(f"  KalshiClient.get_market, Ed25519 key {med['client_ed']:8.1f} us")
    print(f"  one Ed25519 signature               {med['sign_ed']:8.1f} us")
    print(f"  Ed25519 client / RSA client = {med['client_ed'] / med['client']:.2f}x")
    if "pykalshi" in med:
        peer = med["pykalshi"]
        print(f"  pykalshi 2.0 get_market (RSA)       {peer:8.1f} us")
        print(
            f"  ours / pykalshi: RSA {med['client'] / peer:.2f}x, "
            f"Ed25519 {med['client_ed'] / peer:.2f}x (reported, not targeted)"
        )
    else:
        print("  pykalshi: not importable here (see the docstring): no peer ratio")
    print(f"the same without network (httpx.MockTransport), median of {rounds * 5}")
    print(
        f"  plain httpx {local['plain']:.1f} us, KalshiClient {local['client']:.1f} us, "
        f"signature {local['sign']:.1f} us: overhead / signature = {local_ratio:.2f}x"
    )
    print(f"load average while measuring: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    if "--compare-with" in sys.argv:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--compare-with", metavar="DIR", required=True)
        parser.add_argument("--rounds", type=int, default=3)
        parser.add_argument("--calls", type=int, default=200)
        args = parser.parse_args()
        sys.exit(compare(args.compare_with, args.rounds, min(args.calls, 300)))
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))

"""Memory of a trade loop watching 200 markets: RSS over time, and its slope.

The loop runs in this process as `kalshi trade` builds it (MarketData over the WebSocket with
all 200 markets subscribed, the signed client, the risk engine, the state file, the JSON log),
against `kalshi sim serve` in another process serving a scenario generated here: 200 markets
whose books a liquidity provider requotes around drifting prices, with noise traders. RSS is
read from /proc every `--every` seconds; the slope is a least-squares fit over the second half of
the run (after the books, histories and caches have filled), in MB per minute. Targets: under
100 MB RSS, and flat. The simulator process's RSS is sampled alongside and printed with its own
slope: it should stay flat too.

    python benchmarks/bench_loop_memory.py [--minutes 10] [--markets 200] [--strategy NAME ...]

`--strategy` repeats: one loop runs them all, as `kalshi trade --strategy A --strategy B` does.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

from sim_process import client_for, start_simulator, stop_simulator

from kalshi_cli.client.signing import KalshiAuth
from kalshi_cli.feed import MarketData
from kalshi_cli.runner import Parts, StrategyChoice, TradeConfig, TradeOptions, build_loop
from kalshi_cli.runner.books.eventlog import EventLog
from kalshi_cli.runner.config import TradeSection
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.keys import load_private_key

TARGET_MB = 100.0


def scenario(markets: int) -> str:
    lines = [
        "description: Many markets quoted around drifting prices, for the memory benchmark.",
        'fees: {fee_type: quadratic, fee_multiplier: "1"}',
        "liquidity_provider: {cash_cents: 10000000000, refresh_seconds: 1.0}",
        "noise_traders: {count: 2, cash_cents: 100000000, mean_interval_seconds: 0.5, "
        "max_size: 5, seed: 3}",
        "series:",
        "  - ticker: KXMEM",
        "    title: Memory benchmark",
        "    category: Test",
        "    frequency: custom",
        "    events:",
    ]
    per_event = 10
    for e in range(0, markets, per_event):
        lines += [
            f"      - event_ticker: KXMEM-SIM-E{e // per_event:03d}",
            f"        title: Event {e // per_event}",
            "        markets:",
        ]
        for m in range(e, min(e + per_event, markets)):
            low = 20 + m % 40
            lines += [
                f"          - ticker: KXMEM-SIM-E{e // per_event:03d}-M{m:03d}",
                f"            title: Market {m}",
                f"            path: {{kind: drift, low: '0.{low:02d}', high: '0.{low + 20:02d}', "
                f"period: {60 + m % 120}}}",
                "            quote: {half_spread: '0.01', size: '100', levels: 3, step: '0.01'}",
            ]
    return "\n".join(lines) + "\n"


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no VmRSS in /proc/{pid}/status (Linux only)")


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    return cov / var * 60 if var else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--markets", type=int, default=200)
    parser.add_argument("--strategy", action="append", help="repeat it: one lineup (spike)")
    parser.add_argument("--every", type=float, default=None, help="seconds between samples")
    args = parser.parse_args()
    strategies = tuple(args.strategy or ["spike"])
    every = args.every or max(5.0, args.minutes * 60 / 24)
    work = Path(tempfile.mkdtemp(prefix="bench-mem-"))
    (work / "scenario.yaml").write_text(scenario(args.markets), encoding="utf-8")
    sim, account = start_simulator(work / "sim", scenario=str(work / "scenario.yaml"))
    samples: list[tuple[float, float]] = []
    sim_samples: list[tuple[float, float]] = []  # the simulator process's RSS
    try:
        clock = SystemClock()
        client = client_for(account)
        markets = [
            m for m in client.markets.iter_markets(status="open") if m.ticker.startswith("KXMEM")
        ]
        key, _ = load_private_key(path=Path(account["private_key_path"]))
        feed = MarketData(
            [m.ticker for m in markets],
            ws_url=account["ws_url"],
            auth=KalshiAuth(account["key_id"], key),
            rest=client.markets,
            clock=clock,
        )
        store = Store.open(work / "state.db", clock=clock)
        log = EventLog(clock, path=work / "trade.log", stderr=None)
        loop = build_loop(
            # the loop's calls off its deciding path, as `kalshi trade` makes them
            Parts(client, store, feed, clock, log, send_workers=TradeSection().send_workers),
            TradeOptions(strategies=tuple(StrategyChoice(s) for s in strategies)),
            TradeConfig(),
            markets,
        )
        stop = threading.Event()
        started = time.monotonic()

        def sample() -> None:
            while not stop.wait(every):
                samples.append((time.monotonic() - started, rss_mb()))
                t, mb = samples[-1]
                sim_samples.append((t, rss_mb(sim.pid)))
                fresh = sum(feed.is_fresh(m.ticker) for m in markets)
                print(
                    f"  t={t:6.0f}s rss={mb:6.1f} MB sim rss={sim_samples[-1][1]:6.1f} MB "
                    f"ticks={loop.ticks} "
                    f"orders={loop.executor.counters.orders} fresh={fresh}/{len(markets)}",
                    flush=True,
                )

        print(
            f"loop memory: {len(markets)} markets, strategies {', '.join(strategies)}, "
            f"{args.minutes:g} min, rss at start {rss_mb():.1f} MB, "
            f"simulator {rss_mb(sim.pid):.1f} MB",
            flush=True,
        )
        sampler = threading.Thread(target=sample, daemon=True)
        feed.start()
        sampler.start()
        try:
            loop.run(stop=stop, duration_s=args.minutes * 60)
        finally:
            stop.set()
            sampler.join(5)
            loop.shutdown(cancel_resting=True)
            feed.stop()
            store.close()
            log.close()
    finally:
        stop_simulator(sim)
    if not samples:
        raise SystemExit("no sample taken: run longer than --every")
    peak = max(mb for _, mb in samples)
    settled = samples[len(samples) // 2 :]
    slope = slope_mb_per_min(settled)
    print(
        f"loop memory: peak RSS {peak:.1f} MB (target < {TARGET_MB:g} MB: "
        f"{'met' if peak < TARGET_MB else 'NOT met'}), slope over the second half "
        f"{slope:+.2f} MB/min, n={len(samples)} samples"
    )
    sim_slope = slope_mb_per_min(sim_samples[len(sim_samples) // 2 :])
    print(
        f"simulator memory: RSS {sim_samples[0][1]:.1f} -> {sim_samples[-1][1]:.1f} MB, "
        f"slope over the second half {sim_slope:+.2f} MB/min"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

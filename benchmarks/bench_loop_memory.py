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
        [--raise-limits] [--trace-top N] [--census-at SECONDS ...] [--call-timeout-s S] [--keep]

`--strategy` repeats: one loop runs them all, as `kalshi trade --strategy A --strategy B` does.
`--raise-limits` lifts the order-rate and exposure limits (and quotes one contract a side), as
bench_loop_lag.py does, so a quoting strategy places orders as fast as the books move: the loop's
bounded records of its orders fill within the run. `--trace-top N` traces allocations
(tracemalloc, which slows the loop and adds its own memory to RSS) and prints the N tracebacks
whose held memory grew most between the middle of the run and its end, after a full collection
each time: what grows, and where it was allocated. `--census-at SECONDS` (repeat it) counts the
live objects by type at those times, after a full collection, without tracing's slowdown, and
prints the types whose count or size grew most from the first census to the last.
"""

from __future__ import annotations

import _sqlite3
import argparse
import ctypes
import gc
import json
import os
import sys
import threading
import time
import tracemalloc
from collections.abc import Sized
from pathlib import Path

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


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def safe_modes(log_path: Path) -> int:
    """How many times the loop entered SAFE_MODE: from then on it places no order, so a
    quoting run's memory no longer grows with its orders (a busy machine's slow answers can
    do it: five calls unanswered within `trade.call_timeout_s`)."""
    lines = log_path.read_text(encoding="utf-8").splitlines()
    states = (json.loads(line) for line in lines)
    return sum(1 for e in states if e.get("event") == "trading_state" and e["state"] == "SAFE_MODE")


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    return cov / var * 60 if var else 0.0


def sqlite_memory_mb() -> float:
    """What SQLite holds in this process (its page caches above all: `cache_size` a connection,
    store/connection.py), which tracemalloc does not see."""
    used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    used.restype = ctypes.c_int64
    return float(used()) / (1024 * 1024)


def traced_snapshot() -> tracemalloc.Snapshot:
    gc.collect()
    return tracemalloc.take_snapshot().filter_traces(
        (
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"),
        )
    )


def census() -> dict[str, tuple[int, int]]:
    """The live objects by type (its module and name): how many, and their bytes by
    `sys.getsizeof`, after a full collection. The collector tracks containers only, so the
    objects they refer to directly are counted too (strings, bytes, numbers, decimals)."""
    gc.collect()
    tracked = gc.get_objects()
    seen: set[int] = set()
    counts: dict[str, list[int]] = {}

    def count(o: object) -> None:
        if id(o) in seen:
            return
        seen.add(id(o))
        kind = type(o)
        name = f"{kind.__module__}.{kind.__qualname__}"
        tally = counts.setdefault(name, [0, 0])
        tally[0] += 1
        tally[1] += sys.getsizeof(o, 0)

    for o in tracked:
        count(o)
    for o in tracked:
        for referent in gc.get_referents(o):
            count(referent)
    del tracked
    return {name: (n, size) for name, (n, size) in counts.items()}


def _named(o: object) -> str:
    """`o`'s type, and for a dict that is an object's `__dict__`, that object's type."""
    named = type(o).__qualname__
    for r in gc.get_referrers(o):
        if getattr(r, "__dict__", None) is o:
            named += f" (__dict__ of {type(r).__qualname__})"
            break
    return named + (f"[{len(o)}]" if isinstance(o, Sized) else "")


def _holder(o: object, skipped: set[int]) -> object | None:
    """The first object that refers to `o`, but those in `skipped` and frames."""
    referrers: list[object] = gc.get_referrers(o)
    for r in referrers:
        if id(r) not in skipped and type(r).__name__ not in ("frame", "list_iterator"):
            return r
    return None


def holders(kinds: list[str], depth: int = 5) -> None:
    """For the newest live object of each type in `kinds` (module.qualname): who holds it,
    `depth` referrers up, as type names; a dict that is an object's `__dict__` is named by its
    object's type. (No closure here holds the objects walked: its cell would be their holder.)"""
    tracked = gc.get_objects()
    newest: dict[str, object] = {}
    for each in tracked:
        kind = type(each)
        name = f"{kind.__module__}.{kind.__qualname__}"
        if name in kinds:
            newest[name] = each
    walk: list[object] = [tracked, newest, kinds]
    for name in kinds:
        chain = [name]
        held = newest.get(name)
        for _ in range(depth):
            if held is None:
                break
            held = _holder(held, {id(w) for w in walk} | {id(walk)})
            if held is not None:
                walk.append(held)
                chain.append(_named(held))
        print("    held: " + " <- ".join(chain), flush=True)
    del tracked, newest, walk


def print_census_growth(
    first: tuple[float, dict[str, tuple[int, int]]],
    last: tuple[float, dict[str, tuple[int, int]]],
    top: int = 25,
) -> None:
    """The types whose live count or bytes grew most from the `first` census to the `last`."""
    (t0, before), (t1, after) = first, last
    rows: list[tuple[int, int, int, int, str]] = []
    for name in before.keys() | after.keys():
        n0, b0 = before.get(name, (0, 0))
        n1, b1 = after.get(name, (0, 0))
        rows.append((b1 - b0, n1 - n0, n1, b1, name))
    total = sum(r[0] for r in rows)
    print(
        f"live objects from {t0:.0f} s to {t1:.0f} s: {total / 1024:+.1f} KiB by sys.getsizeof, "
        f"{sum(r[1] for r in rows):+d} objects"
    )
    for label, by in (("bytes", lambda r: -r[0]), ("count", lambda r: -r[1])):
        print(f"  grew most by {label}:")
        for db, dn, n1, b1, name in sorted(rows, key=by)[:top]:
            print(
                f"    {db / 1024:+9.1f} KiB {dn:+8d} (now {n1} objects, {b1 / 1024:.1f} KiB) {name}"
            )


def print_growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, top: int) -> None:
    """The `top` tracebacks whose held memory grew most from `before` to `after`."""
    diffs = [d for d in after.compare_to(before, "traceback") if d.size_diff > 0]
    total = sum(d.size_diff for d in after.compare_to(before, "filename"))
    print(f"traced growth from the middle of the run to its end: {total / 1024:+.1f} KiB in all")
    for d in diffs[:top]:
        print(
            f"  {d.size_diff / 1024:+9.1f} KiB {d.count_diff:+7d} blocks "
            f"(now {d.size / 1024:.1f} KiB)"
        )
        for line in d.traceback.format(limit=8, most_recent_first=False):
            print(f"    {line}")


def main() -> int:
    # this process as `kalshi trade`'s: httpx's command-line client barred before the simulator's
    # helpers and the loop import httpx (what the loop would hold and never use)
    from kalshi_cli.__main__ import bar_httpx_cli

    bar_httpx_cli()
    from sim_process import add_keep_option, working_dir

    from kalshi_cli.runner.config import TradeSection

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--markets", type=int, default=200)
    parser.add_argument("--strategy", action="append", help="repeat it: one lineup (spike)")
    parser.add_argument("--every", type=float, default=None, help="seconds between samples")
    parser.add_argument(
        "--raise-limits",
        action="store_true",
        help="no order-rate, exposure or daily-loss limit to speak of, a $1,000,000 account; "
        "the market maker quotes 1 contract",
    )
    parser.add_argument(
        "--trace-top",
        type=int,
        default=0,
        metavar="N",
        help="print the N biggest growths in traced memory over the second half of the run",
    )
    parser.add_argument(
        "--settled-from",
        type=float,
        default=None,
        metavar="SECONDS",
        help="fit the slopes from this time on (default: the second half of the run)",
    )
    parser.add_argument(
        "--census-at",
        type=float,
        action="append",
        default=[],
        metavar="SECONDS",
        help="count the live objects by type at this time (repeat it); the growth from the "
        "first census to the last is printed",
    )
    parser.add_argument("--trace-frames", type=int, default=12, help="frames kept a traceback")
    parser.add_argument(
        "--call-timeout-s",
        type=float,
        default=TradeSection().call_timeout_s,
        help="trade.call_timeout_s: the longest the loop waits for one call's answer",
    )
    add_keep_option(parser)
    args = parser.parse_args()
    with working_dir("bench-mem-", keep=args.keep) as work:
        return measure(args, work)


def measure(args: argparse.Namespace, work: Path) -> int:
    from sim_process import client_for, start_simulator, stop_simulator

    from kalshi_cli.client.signing import KalshiAuth
    from kalshi_cli.feed import MarketData
    from kalshi_cli.runner.assembly import LoopInputs, build_loop
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.config import StrategyChoice, TradeConfig, TradeOptions, TradeSection
    from kalshi_cli.store import Store
    from kalshi_cli.store.connection import LOOP_CACHE_KIB
    from kalshi_cli.vocabulary.clock import SystemClock
    from kalshi_cli.vocabulary.keys import load_private_key

    if args.trace_top:
        tracemalloc.start(args.trace_frames)
    strategies = tuple(args.strategy or ["spike"])
    every = args.every or max(5.0, args.minutes * 60 / 24)
    (work / "scenario.yaml").write_text(scenario(args.markets), encoding="utf-8")
    sim, account = start_simulator(
        work / "sim",
        scenario=str(work / "scenario.yaml"),
        # a long quoting run spends more than the default $1,000 on its losses and holds
        balance="1000000" if args.raise_limits else None,
    )
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
        # the state connection capped as `kalshi trade` caps it
        store = Store.open(work / "state.db", clock=clock, cache_kib=LOOP_CACHE_KIB)
        log = EntryLog(clock, path=work / "trade.log", stderr=None)
        loop = build_loop(
            # the loop's calls off its deciding path, as `kalshi trade` makes them
            LoopInputs(client, store, feed, clock, log, send_workers=TradeSection().send_workers),
            TradeOptions(strategies=tuple(StrategyChoice(s) for s in strategies)),
            TradeConfig(
                strategies={"market-maker": {"quote_count": "1"}},
                risk={
                    "max_orders_per_minute": 1_000_000,
                    "max_total_exposure": "100000",
                    "daily_loss_limit": "100000",
                },
                trade={"call_timeout_s": args.call_timeout_s},
            )
            if args.raise_limits
            else TradeConfig(trade={"call_timeout_s": args.call_timeout_s}),
            markets,
        )
        stop = threading.Event()
        started = time.monotonic()
        middle = work / "middle.snapshot"  # on disk: a snapshot held would be in the RSS
        sqlite_samples: list[tuple[float, float]] = []
        censuses: list[tuple[float, dict[str, tuple[int, int]]]] = []
        census_due = sorted(args.census_at)

        def sample() -> None:
            while not stop.wait(every):
                halfway = bool(samples) and samples[-1][0] >= args.minutes * 30
                if args.trace_top and halfway and not middle.exists():
                    traced_snapshot().dump(str(middle))
                samples.append((time.monotonic() - started, rss_mb()))
                t, mb = samples[-1]
                sim_samples.append((t, rss_mb(sim.pid)))
                sqlite_samples.append((t, sqlite_memory_mb()))
                traced = (
                    f"py heap={tracemalloc.get_traced_memory()[0] / 2**20:5.1f} MB "
                    if args.trace_top
                    else ""
                )
                fresh = sum(feed.is_fresh(m.ticker) for m in markets)
                print(
                    f"  t={t:6.0f}s rss={mb:6.1f} MB sqlite={sqlite_samples[-1][1]:5.1f} MB "
                    f"{traced}sim rss={sim_samples[-1][1]:6.1f} MB ticks={loop.ticks} "
                    f"orders={loop.executor.counters.orders} "
                    f"amends={loop.executor.counters.amends} "
                    f"fills={loop.executor.counters.fills} fresh={fresh}/{len(markets)}",
                    flush=True,
                )
                if census_due and t >= census_due[0]:
                    census_due.pop(0)
                    censuses.append((t, census()))
                    if len(censuses) >= 2:
                        before, after = censuses[0][1], censuses[-1][1]
                        grown = sorted(
                            (n for n in after if not n.startswith("builtins.")),
                            key=lambda n: before.get(n, (0, 0))[0] - after[n][0],
                        )[:10]
                        holders(grown)
                    taken = time.monotonic() - started - t
                    print(f"  census at t={t:.0f}s took {taken:.1f} s", flush=True)

        print(
            f"loop memory: {len(markets)} markets, strategies {', '.join(strategies)}, "
            f"{args.minutes:g} min, rss at start {rss_mb():.1f} MB, "
            f"simulator {rss_mb(sim.pid):.1f} MB, call timeout {args.call_timeout_s:g} s, "
            f"load {load()}",
            flush=True,
        )
        sampler = threading.Thread(target=sample, daemon=True)
        feed.start()
        sampler.start()
        end = None
        try:
            loop.run(stop=stop, duration_s=args.minutes * 60)
            end = traced_snapshot() if middle.exists() else None
        finally:
            stop.set()
            sampler.join(5)
            loop.stop.shutdown(cancel_resting=True)
            feed.stop()
            store.close()
            log.close()
        entered = safe_modes(work / "trade.log")
    finally:
        stop_simulator(sim)
    if not samples:
        raise SystemExit("no sample taken: run longer than --every")
    peak = max(mb for _, mb in samples)

    def settled(of: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if args.settled_from is None:
            return of[len(of) // 2 :]
        return [(t, mb) for t, mb in of if t >= args.settled_from]

    slope = slope_mb_per_min(settled(samples))
    fitted = "the second half" if args.settled_from is None else f"{args.settled_from:g} s on"
    print(
        f"loop memory: peak RSS {peak:.1f} MB (target < {TARGET_MB:g} MB: "
        f"{'met' if peak < TARGET_MB else 'NOT met'}), slope over {fitted} "
        f"{slope:+.2f} MB/min, n={len(samples)} samples, load {load()}"
    )
    if entered:
        print(f"SAFE_MODE entered {entered} time(s): the loop stopped placing orders then")
    sqlite_slope = slope_mb_per_min(settled(sqlite_samples))
    print(
        f"of which SQLite: {sqlite_samples[0][1]:.1f} -> {sqlite_samples[-1][1]:.1f} MB, "
        f"slope over {fitted} {sqlite_slope:+.2f} MB/min"
    )
    if len(censuses) >= 2:
        print_census_growth(censuses[0], censuses[-1])
    if end is not None:
        print_growth(tracemalloc.Snapshot.load(str(middle)), end, args.trace_top)
    sim_slope = slope_mb_per_min(settled(sim_samples))
    print(
        f"simulator memory: RSS {sim_samples[0][1]:.1f} -> {sim_samples[-1][1]:.1f} MB, "
        f"slope over {fitted} {sim_slope:+.2f} MB/min"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

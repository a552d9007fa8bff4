"""Recording and replay of market data: what `kalshi record` costs per frame, the bytes it keeps,
and how fast a data set reads back. Goal: replay at least 200,000 book events per second.
See docs/benchmarks.md "How each benchmark measures".

    python benchmarks/bench_data.py [--frames 200000] [--compare-with DIR [--rounds 5]]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kalshi_cli.data.replay import loads_stdlib, parse_line, replay
from kalshi_cli.data.segments import SegmentWriter, frame_line, iter_lines
from kalshi_cli.feed.book import BookSet
from kalshi_cli.feed.session import FeedSession
from kalshi_cli.vocabulary.clock import ManualClock

MARKETS = [f"KXBENCH-26JAN01-T{i:03d}" for i in range(100)]
MARKET_ID = "9b0f6b43-5b68-4f9f-9f02-9a2d1b8ac1a1"
TARGET = 200_000
FRAMES_PER_MARKET_S = 2.0  # the assumed rate of a busy market, for bytes per hour
START_NS = 1_767_225_600 * 10**9


def make_frames(n: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    frames = []
    seq = {"book": 0, "trade": 0}
    sizes: dict[tuple[str, str, int], int] = {}
    for ticker in MARKETS:
        seq["book"] += 1
        levels = [[f"0.{c:02d}00", "100.00"] for c in range(1, 40)]
        for c in range(1, 40):
            sizes[(ticker, "yes", c)] = 100
        frames.append(
            json.dumps(
                {
                    "type": "orderbook_snapshot",
                    "sid": 1,
                    "seq": seq["book"],
                    "msg": {
                        "market_ticker": ticker,
                        "market_id": MARKET_ID,
                        "yes_dollars_fp": levels,
                    },
                },
                separators=(",", ":"),
            ).encode()
        )
    ts = 1_767_225_600_000
    while len(frames) < n:
        ticker = rng.choice(MARKETS)
        ts += rng.randint(0, 3)
        roll = rng.random()
        if roll < 0.85:
            # both sides' bids under 0.50: a book that never crosses, as an exchange's never does
            cents = rng.randint(1, 49)
            side = rng.choice(("yes", "no"))
            held = sizes.get((ticker, side, cents), 0)
            change = rng.randint(-held, 50) if held else rng.randint(1, 50)
            sizes[(ticker, side, cents)] = held + change
            seq["book"] += 1
            body = {
                "type": "orderbook_delta",
                "sid": 1,
                "seq": seq["book"],
                "msg": {
                    "market_ticker": ticker,
                    "market_id": MARKET_ID,
                    "price_dollars": f"0.{cents:02d}00",
                    "delta_fp": f"{change}.00",
                    "side": side,
                    "ts_ms": ts,
                },
            }
        elif roll < 0.95:
            body = {
                "type": "ticker",
                "sid": 2,
                "msg": {
                    "market_ticker": ticker,
                    "market_id": MARKET_ID,
                    "price_dollars": "0.4800",
                    "yes_bid_dollars": "0.4700",
                    "yes_ask_dollars": "0.4900",
                    "volume_fp": "12345.00",
                    "open_interest_fp": "2345.00",
                    "dollar_volume": 5000,
                    "dollar_open_interest": 1000,
                    "ts": ts // 1000,
                    "ts_ms": ts,
                },
            }
        else:
            seq["trade"] += 1
            body = {
                "type": "trade",
                "sid": 3,
                "seq": seq["trade"],
                "msg": {
                    "trade_id": "d91bc706-ee49-470d-82d8-11418bda6fed",
                    "market_ticker": ticker,
                    "yes_price_dollars": "0.3600",
                    "no_price_dollars": "0.6400",
                    "count_fp": "12.00",
                    "taker_side": "no",
                    "taker_outcome_side": "no",
                    "taker_book_side": "ask",
                    "is_block_trade": False,
                    "ts": ts // 1000,
                    "ts_ms": ts,
                },
            }
        frames.append(json.dumps(body, separators=(",", ":")).encode())
    return frames


def record(frames: list[bytes], root: Path, *, level: int, with_feed: bool) -> tuple[float, float]:
    """(wall seconds, CPU seconds) to record `frames`, flushing once per 1,000 frames (a
    second's worth at 100 markets x 10 frames/s)."""
    books = BookSet(lambda e: None, source="ws")
    books.add(MARKETS)
    session = FeedSession(books, lambda e: None, clock=ManualClock(), channels=())
    writer = SegmentWriter(root, level=level, flush_every_s=0.0)
    t0, c0 = time.perf_counter(), time.process_time()
    for i, raw in enumerate(frames):
        ns = START_NS + i * 1_000_000
        writer.write(ns, frame_line(ns, raw))
        if with_feed:
            session.handle(raw)
        if i % 1000 == 999:
            writer.flush()
    writer.close()
    return time.perf_counter() - t0, time.process_time() - c0


def record_zstd(frames: list[bytes], path: Path) -> tuple[float, int] | None:
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        return None
    t0 = time.perf_counter()
    with path.open("wb") as fh:
        writer = zstandard.ZstdCompressor(level=3).stream_writer(fh)
        for i, raw in enumerate(frames):
            ns = START_NS + i * 1_000_000
            writer.write(frame_line(ns, raw))
            if i % 1000 == 999:
                writer.flush(zstandard.FLUSH_BLOCK)
        writer.flush(zstandard.FLUSH_FRAME)
    return time.perf_counter() - t0, path.stat().st_size


# a child that imports kalshi_cli from the tree given first and replays a data set once
REPLAY_CHILD = (
    "import json, sys, time; sys.path[0:0] = [sys.argv[1]]; import kalshi_cli; "
    "from pathlib import Path; from kalshi_cli.data.replay import replay; "
    "c, w = time.process_time(), time.perf_counter(); books = replay(Path(sys.argv[2])); "
    "c, w = time.process_time() - c, time.perf_counter() - w; "
    "print(json.dumps({'cpu': c, 'wall': w, 'applied': books.applied, "
    "'skipped': sum(books.skipped.values()), 'tree': kalshi_cli.__file__}))"
)


def compare(other: Path, n: int, rounds: int) -> None:
    this = Path(__file__).resolve().parent.parent
    trees = {f"before ({other})": other.resolve(), "after (this tree)": this}
    frames = make_frames(n)
    tmp = Path(tempfile.mkdtemp(prefix="bench-data-"))
    try:
        root = tmp / "rec"
        record(frames, root, level=6, with_feed=False)
        print(f"load average at start: {os.getloadavg()[0]:.2f}; {rounds} rounds, {n:,} frames")
        c0 = time.process_time()
        for raw in frames:
            json.loads(raw)
        bare = len(frames) / (time.process_time() - c0)
        print(f"  bare json.loads of the raw frames in this process: {bare:,.0f} frames/CPU-s")
        got: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for _ in range(rounds):
            for name, tree in trees.items():
                out = subprocess.run(
                    [sys.executable, "-c", REPLAY_CHILD, str(tree), str(root)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                result = json.loads(out.splitlines()[-1])
                assert str(result["tree"]).startswith(str(tree)), (result, tree)
                assert not result["skipped"], result
                got[name].append(result)
        applied = {r["applied"] for runs in got.values() for r in runs}
        assert len(applied) == 1, f"the trees disagree on the book events: {applied}"
        events = applied.pop()
        first = None
        for name, runs in got.items():
            cpu_rate = statistics.median(events / r["cpu"] for r in runs)
            wall_rate = statistics.median(events / r["wall"] for r in runs)
            first = first or cpu_rate
            print(
                f"  {name:40} {cpu_rate:>9,.0f} book events/CPU-s ({cpu_rate / first:.2f}x)  "
                f"wall {wall_rate:>9,.0f}/s  target {TARGET:,}: {cpu_rate / TARGET:.2f}x"
            )
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def decoders(root: Path) -> None:
    """Each candidate decoder over the recorded lines (already decompressed), best of three:
    what chose the replay's decoder (data/replay.py "Speed")."""
    lines = list(iter_lines(root, Counter()))
    candidates: dict[str, Callable[[bytes], Any]] = {
        "json.loads": json.loads,
        "stdlib scanner (loads_stdlib)": loads_stdlib,
        "msgspec, stdlib fallback (parse_line)": parse_line,
    }
    try:
        import orjson  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        print("  orjson: not installed (pip install orjson to compare)")
    else:
        candidates["orjson (ints beyond 64 bits become floats)"] = orjson.loads
    for name, decode in candidates.items():
        best = 0.0
        for _ in range(3):
            c0 = time.process_time()
            for line in lines:
                decode(line)
            best = max(best, len(lines) / (time.process_time() - c0))
        print(f"  decode only, {name:38}: {best:>11,.0f} lines/CPU-s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--compare-with", type=Path, metavar="DIR", help="another source tree")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.compare_with:
        compare(args.compare_with, args.frames, args.rounds)
        return
    frames = make_frames(args.frames)
    raw_bytes = sum(len(f) for f in frames)
    book_frames = sum(1 for f in frames if f.startswith(b'{"type":"orderbook'))
    print(f"{len(frames)} frames over {len(MARKETS)} markets, {book_frames} of them book frames")
    print(f"raw JSON: {raw_bytes / len(frames):.0f} bytes per frame")
    tmp = Path(tempfile.mkdtemp(prefix="bench-data-"))
    try:
        print("\nrecording (flush + fsync every 1,000 frames):")
        for level in (1, 6):
            for with_feed in (False, True):
                root = tmp / f"rec-{level}-{with_feed}"
                wall, cpu = record(frames, root, level=level, with_feed=with_feed)
                size = sum(p.stat().st_size for p in (root / "frames").iterdir())
                rate = len(frames) / wall
                share = 1000 / (len(frames) / cpu)  # 100 markets x 10 frames/s
                what = "write + feed.handle" if with_feed else "write only"
                print(
                    f"  gzip {level}, {what:19}: {rate:>9,.0f} frames/s, "
                    f"CPU {100 * share:4.1f}% of a core at 1,000 frames/s, "
                    f"{size / len(frames):5.1f} bytes/frame (x{raw_bytes / size:.1f})"
                )
        zstd = record_zstd(frames, tmp / "z.ndjson.zst")
        if zstd is not None:
            print(
                f"  zstd 3, write only      : {len(frames) / zstd[0]:>9,.0f} frames/s, "
                f"{zstd[1] / len(frames):5.1f} bytes/frame"
            )
        else:
            print("  zstd: not installed (pip install zstandard to compare)")
        root = tmp / "rec-6-False"
        size = sum(p.stat().st_size for p in (root / "frames").iterdir())
        per_hour = size / len(frames) * FRAMES_PER_MARKET_S * 3600
        print(
            f"\nbytes per market-hour at {FRAMES_PER_MARKET_S:g} frames/s a market: "
            f"{per_hour / 1e6:.2f} MB (gzip 6); 100 such markets for a day: "
            f"{per_hour * 100 * 24 / 1e9:.2f} GB"
        )

        print("\nreplay:")
        t0 = time.perf_counter()
        for raw in frames:
            json.loads(raw)
        bare = len(frames) / (time.perf_counter() - t0)
        print(f"  bare json.loads of the raw frames: {bare:>9,.0f} frames/s")
        decoders(root)
        best = best_cpu = 0.0
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            books = replay(root)
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
            best = max(best, books.applied / elapsed)
            best_cpu = max(best_cpu, books.applied / cpu)
            frames_rate = sum(books.frames.values()) / elapsed
        print(
            f"  data.replay (gunzip, parse, seq, Decimal books): {best:>9,.0f} book events/s "
            f"wall, {best_cpu:,.0f}/CPU-s ({frames_rate:,.0f} frames/s; {best / bare:.2f}x "
            f"bare json.loads) {'OK' if best_cpu >= TARGET else 'BELOW'} target {TARGET:,}"
        )
        assert not books.skipped, books.skipped
        try:
            import pyarrow.parquet as pq

            from kalshi_cli.data.export import export
        except ImportError:
            print("  parquet: pyarrow not installed")
        else:
            export(root, tmp / "book.parquet", table="book", fmt="parquet")
            t0 = time.perf_counter()
            rows = pq.read_table(tmp / "book.parquet").to_pylist()
            rate = len(rows) / (time.perf_counter() - t0)
            print(
                f"  Parquet export read back as rows (no book upkeep): {rate:>9,.0f} rows/s, "
                f"{(tmp / 'book.parquet').stat().st_size / len(rows):.1f} bytes/row"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

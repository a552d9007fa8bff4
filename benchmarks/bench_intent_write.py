"""What writing one order intent durably costs: one autocommitted INSERT under the state file's
own pragmas (`store.connection.configure`: WAL, `synchronous=FULL`), next to `synchronous=NORMAL`.

The trade loop writes each intent in its own commit before the order is sent; with FULL that
commit fsyncs the WAL. The two modes are interleaved on one file so disk noise hits both alike,
and each write is timed alone (p50, p99). The file lives in `--dir` (default: the current
directory, i.e. a real disk; /dev/shm would hide the fsync entirely).

This only measures; the state file stays FULL (docs/benchmarks.md has the proposal and the
failures each mode holds against).

    python benchmarks/bench_intent_write.py [--writes 2000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from kalshi_cli.store.connection import configure

ROW = (
    "KXNBAGAME-SIM-LALGSW-LAL",
    "yes",
    "buy",
    "0.4900",
    "10.00",
    "spike",
    "pending",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=Path.cwd())
    args = parser.parse_args()
    times: dict[str, list[float]] = {"FULL": [], "NORMAL": []}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        conn = sqlite3.connect(Path(tmp) / "state.db", isolation_level=None)
        try:
            configure(conn, readonly=False)
            conn.execute(
                "CREATE TABLE intents (client_order_id TEXT PRIMARY KEY, ticker TEXT, side TEXT,"
                " action TEXT, price TEXT, count TEXT, strategy TEXT, status TEXT, ts REAL)"
            )
            for i in range(args.writes):
                for mode in ("FULL", "NORMAL"):
                    conn.execute(f"PRAGMA synchronous = {mode}")
                    start = time.perf_counter()
                    conn.execute(
                        "INSERT INTO intents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (f"{mode}-{i}", *ROW, time.time()),
                    )
                    times[mode].append((time.perf_counter() - start) * 1000)
        finally:
            conn.close()
    print(f"one intent INSERT, autocommitted, {args.writes} each, interleaved, in {args.dir}")
    for mode, values in times.items():
        values.sort()
        p99 = values[int(len(values) * 0.99) - 1]
        print(f"  synchronous={mode:6}  p50 {statistics.median(values):6.3f} ms  p99 {p99:6.3f} ms")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

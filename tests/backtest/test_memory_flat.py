"""A backtest's memory stays flat in its length: a quoting strategy over four times the data
places about four times the orders, and the run's peak memory (the replay and the report)
must not grow with them. Each run is a fresh process measured by `tracemalloc`, so what it
counts is what Python allocates for the run, not the test process's history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kalshi_cli.backtest.scenario import record_scenario
from kalshi_cli.data.manifest import read_manifest

# bytes of peak memory per order placed the longer run may add. Kept per order by design: the
# account's used client order ids (Kalshi never frees one: about 90 bytes each) and the loop's
# bounded memory of its last `MAX_REMEMBERED` orders (fill latency and slippage). Before, each
# order's objects stayed in the venue's exchange and the report read every intent at once:
# about 360-400 bytes an order here (3.3 KB of resident memory an order on a larger data set).
# What is kept by design measures 247-264 bytes an order from run to run, so the bound sits
# between the two, clear of either's noise.
BYTES_PER_ORDER = 320

CHILD = """
import json, sys, tracemalloc
from kalshi_cli.backtest import BacktestSpec, run_backtest
data, start_ns, end_ns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# a run of one second first, so that what is imported on first use is not counted
run_backtest(BacktestSpec(data=data, strategy="market-maker", end_ns=start_ns + 10**9))
spec = BacktestSpec(data=data, strategy="market-maker", end_ns=end_ns)
tracemalloc.start()
report = run_backtest(spec)
print(json.dumps({"peak": tracemalloc.get_traced_memory()[1],
                  "orders": report["totals"]["orders"]}))
"""


@pytest.fixture(scope="module")
def quoted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # three of the default scenario's markets, quoted by its liquidity provider
    tickers = ["KXBTCD-SIM-T97000", "KXBTCD-SIM-T99000", "KXNBAGAME-SIM-LALGSW-LAL"]
    return record_scenario(
        "default", tmp_path_factory.mktemp("quoted"), seconds=600, tickers=tickers
    )


def peak_and_orders(data: Path, seconds: int) -> tuple[int, int]:
    start_ns = int((read_manifest(data) or {})["started_ns"])
    end_ns = start_ns + seconds * 10**9
    # the run alone, in an environment of its own: nothing inherited from the test session (a
    # coverage tracer's arcs would count as the run's memory, and so would whatever an earlier
    # test left in os.environ) and one hash seed, so two runs of the same data allocate alike
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(data.parent), "PYTHONHASHSEED": "0"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(data), str(start_ns), str(end_ns)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    got = json.loads(out.splitlines()[-1])
    return int(got["peak"]), int(got["orders"])


def test_peak_memory_does_not_grow_with_the_orders_a_longer_run_places(quoted: Path) -> None:
    short_peak, short_orders = peak_and_orders(quoted, 150)
    long_peak, long_orders = peak_and_orders(quoted, 600)
    assert long_orders >= 3 * short_orders > 0, (short_orders, long_orders)
    per_order = (long_peak - short_peak) / (long_orders - short_orders)
    assert per_order < BYTES_PER_ORDER, (
        f"peak memory grew {per_order:.0f} bytes per order placed "
        f"({short_peak} -> {long_peak} bytes, {short_orders} -> {long_orders} orders)"
    )

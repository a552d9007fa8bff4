"""A backtest's memory stays flat in its length: a quoting strategy over four times the data
places about four times the orders, and what the run holds at its end, and what its report
takes on top, grow with them only by what is kept by design. Each run is a fresh process
measured by `tracemalloc` after a full collection, so what it counts is what the run keeps
alive, not when the garbage collector last ran nor the test process's history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from kalshi_cli.data.manifest import read_manifest
from kalshi_cli.data.scenario_recording import record_scenario

# bytes a run holds at its end per order placed. Kept per order by design: the account's used
# client order ids (Kalshi never frees one: about 90 bytes each) and the loop's bounded memory
# of its last `MAX_REMEMBERED` orders (fill latency and slippage): 380-420 bytes an order here.
# A venue whose exchange keeps every finished order (its compaction never run) holds about
# 1,200 bytes an order here, so the bound sits between the two.
HELD_PER_ORDER = 800
# bytes the report takes on top of that, per order placed: it reads the run's rows as a
# stream, about 85 bytes an order here; reading every intent at once costs several times that
REPORT_PER_ORDER = 300

CHILD = """
import gc, json, sys, tracemalloc
from pathlib import Path
from kalshi_cli.backtest import BacktestSpec, run_backtest
from kalshi_cli.backtest.dataset import open_dataset
from kalshi_cli.backtest.engine import execute
from kalshi_cli.backtest.report import build_report
data, start_ns, end_ns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# a run of one second first, so that what is imported on first use is not counted
run_backtest(BacktestSpec(data=data, strategy="market-maker", end_ns=start_ns + 10**9))
spec = BacktestSpec(data=data, strategy="market-maker", end_ns=end_ns)
source = open_dataset(spec.data, spec.data_fingerprint)
gc.collect()
tracemalloc.start()
artifacts = execute(spec, source=source)
gc.collect()
held = tracemalloc.get_traced_memory()[0]
tracemalloc.reset_peak()
report = build_report(artifacts)
report_peak = tracemalloc.get_traced_memory()[1] - held
print(json.dumps({"held": held, "report": report_peak, "orders": report["totals"]["orders"]}))
"""


class Measured(NamedTuple):
    held: int  # bytes alive at the run's end
    report: int  # bytes the report's peak added
    orders: int


@pytest.fixture(scope="module")
def quoted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # three of the default scenario's markets, quoted by its liquidity provider
    tickers = ["KXBTCD-SIM-T97000", "KXBTCD-SIM-T99000", "KXNBAGAME-SIM-LALGSW-LAL"]
    return record_scenario(
        "default", tmp_path_factory.mktemp("quoted"), seconds=600, tickers=tickers
    )


def measure(data: Path, seconds: int) -> Measured:
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
    return Measured(int(got["held"]), int(got["report"]), int(got["orders"]))


def test_what_a_run_holds_grows_with_its_orders_only_by_what_is_kept_by_design(
    quoted: Path,
) -> None:
    short, long = measure(quoted, 150), measure(quoted, 600)
    assert long.orders >= 3 * short.orders > 0, (short, long)
    more = long.orders - short.orders
    held = (long.held - short.held) / more
    assert held < HELD_PER_ORDER, f"a run held {held:.0f} more bytes per order ({short}, {long})"
    report = (long.report - short.report) / more
    assert report < REPORT_PER_ORDER, (
        f"the report took {report:.0f} more bytes per order ({short}, {long})"
    )

"""`run_backtest`: one backtest as a pure top-level function of its spec, returning its report:
plain, picklable data in (a `BacktestSpec` naming the data set's path and fingerprint) and out,
which every executor of a sweep maps (executors.py).
"""

from __future__ import annotations

from typing import Any

from kalshi_cli.backtest.dataset import open_dataset
from kalshi_cli.backtest.engine import BacktestSpec, Lookup, execute
from kalshi_cli.backtest.report import build_report


def run_backtest(spec: BacktestSpec, strategies: Lookup | None = None) -> dict[str, Any]:
    """Run `spec` and return its report, its state in memory only. The data set is
    opened through this process's cache (dataset.py); one pinned by a sweep (`data_fingerprint`)
    must not change before the run has read it. `strategies`: the command's lookup."""
    source = open_dataset(spec.data, spec.data_fingerprint)
    run = execute(spec, source=source, strategies=strategies)
    try:
        report = build_report(run)
    finally:
        run.store.close()
    if spec.data_fingerprint:
        # the runs a sweep ranks against each other read the data set it saw, all of it
        source.confirm_read()
    return report

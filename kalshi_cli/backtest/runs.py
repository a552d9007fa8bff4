"""`run_backtest`: one backtest as a pure top-level function of its spec, returning its report.

Plain data in (a `BacktestSpec`, picklable), plain data out (the report's JSON-ready dict):
the shape a process pool maps over a parameter grid, and the one Ray (`ray.remote`) or Dask
(`client.map`) would map on a cluster (docs/backtesting.md, "Sweeps").
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from kalshi_cli.backtest.engine import BacktestSpec, execute
from kalshi_cli.backtest.report import build_report


def run_backtest(spec: BacktestSpec) -> dict[str, Any]:
    """Run `spec` and return its report. The state file lives in a temporary directory that
    is gone afterwards."""
    with tempfile.TemporaryDirectory(prefix="kalshi-backtest-") as tmp:
        artifacts = execute(spec, Path(tmp))
        try:
            return build_report(artifacts)
        finally:
            artifacts.venue.exchange.close()

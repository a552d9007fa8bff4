"""What `kalshi dashboard --backtest RESULT` shows: a finished backtest's results, read-only.

RESULT is the `--out DIR` of `kalshi backtest` (its `report.json` and `backtest.db`) or a saved
`--json` output. The report's figures are shown as written, never recomputed; the last fills come
from the run's state file as the live dashboard reads them (a bare `--json` file has none). Nothing
here acts: no loop is behind a backtest's results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshi_cli.vocabulary.errors import KalshiError, UsageError

if TYPE_CHECKING:
    from kalshi_cli.dashboard.snapshot import FillLine
    from kalshi_cli.vocabulary.clock import Clock

# the report's format (backtest/report.py FORMAT; a test pins that the two agree): the dashboard
# sits below the backtests and does not import them
REPORT_FORMAT = "kalshi-backtest/1"
REPORT_NAME = "report.json"
STATE_NAME = "backtest.db"


@dataclass(frozen=True)
class BacktestView:
    source: Path  # the report file read
    report: dict[str, Any]
    fills: tuple[FillLine, ...] = ()  # newest first, from the run's state file
    fills_note: str | None = None  # why there are none

    @property
    def totals(self) -> dict[str, Any]:
        totals = self.report.get("totals")
        return totals if isinstance(totals, dict) else {}


def load_backtest(result: Path, clock: Clock) -> BacktestView:
    """The results of one backtest: a `--out` directory or a saved `--json` report."""
    report_path = result / REPORT_NAME if result.is_dir() else result
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"no backtest result at {report_path}",
            hint="pass the directory of `kalshi backtest --out DIR`, or a file of its --json",
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the backtest result {report_path}: {exc}") from None
    if not isinstance(report, dict) or report.get("format") != REPORT_FORMAT:
        raise UsageError(
            f"{report_path} is not a backtest report (format {REPORT_FORMAT})",
            hint="a report is what `kalshi backtest --json` prints or `--out DIR` writes",
        )
    fills, note = _fills(report_path.parent / STATE_NAME, clock)
    return BacktestView(report_path, report, fills, note)


def _fills(state: Path, clock: Clock) -> tuple[tuple[FillLine, ...], str | None]:
    from kalshi_cli.dashboard.snapshot import _fills as fill_lines
    from kalshi_cli.store import Store

    try:
        store = Store.open_readonly(state, clock=clock)
    except KalshiError as exc:
        return (), f"the run's state file cannot be read: {exc.one_line()}"
    if store is None:
        return (), "no fills: the run's state file is kept only by `kalshi backtest --out DIR`"
    try:
        return tuple(fill_lines(store)), None
    finally:
        store.close()

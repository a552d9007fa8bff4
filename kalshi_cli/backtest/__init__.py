"""`kalshi backtest`: recorded data through the production trade loop on a local venue and a
simulated clock (engine.py), the report (report.py, html.py), parameter sweeps (sweep.py, mapped
by executors.py on local worker processes or a Dask cluster) and the look-ahead check
(lookahead.py). See docs/backtesting.md."""

from kalshi_cli.backtest.engine import BacktestSpec, execute
from kalshi_cli.backtest.runs import run_backtest

__all__ = ["BacktestSpec", "execute", "run_backtest"]

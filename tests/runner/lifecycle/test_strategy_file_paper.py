"""A strategy file in a paper loop on the simulator's live feed, through `kalshi trade --paper`:
the same spelling as a backtest's, its params from `--params`, its orders filled locally."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.runner.simproc import Book, client_for, log_events, trade_command, trade_env

if TYPE_CHECKING:
    from tests.conftest import SimHarness

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "strategies" / "fair_value.py"
TICKER = "KXPAPERFILE-SIM-A"


@pytest.mark.slow
def test_a_strategy_file_trades_on_paper(sim: SimHarness, tmp_path: Path) -> None:
    sim.create_market(TICKER)
    Book(client_for(sim.new_account(balance_cents=100_000_000)), TICKER).quote("0.40", "0.60")
    paper = sim.new_account(balance_cents=0)
    params = tmp_path / "fv.yaml"
    params.write_text("fair: 0.70\nedge: 0.02\n")  # YES offered at 0.60: below 0.70 - 0.02
    log = tmp_path / "trade.log"
    command = [
        *trade_command(str(EXAMPLE), TICKER, log, "--once"),
        "--paper",
        "--params",
        str(params),
    ]
    done = subprocess.run(
        command,
        env=trade_env(paper, tmp_path / "home", tmp_path / "state.db"),
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    events = log_events(log)
    (started,) = [e for e in events if e["event"] == "started"]
    assert started["strategies"] == [{"name": "fair-value", "spec": str(EXAMPLE)}]
    assert started["strategy"] == f"fair-value ({EXAMPLE})"
    placed = [e for e in events if e["event"] == "order_placed"]
    assert placed and all(e["strategy"] == "fair-value" for e in placed), events
    assert "PAPER" in done.stderr

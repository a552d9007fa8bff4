"""SIGTERM or SIGINT belongs to the run's stop from the start's checks to the summary: one that
comes while the loop is put together (between the reconcile and the loop's first tick, where the
session's order groups are made and the feed is started) stops the run with its summary and exit
code 0, instead of ending the process by the signal's default action with nothing said."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SimHarness
from tests.runner.simproc import trade_env

TICKER = "KXSTOPWHILEBUILT-26JAN01-A"
# `kalshi trade` run with the signal sent to itself as the loop is put together
SIGNALLED_WHILE_BUILT = """
import os, runpy, signal, sys
from kalshi_cli.runner.lifecycle import session
built = session._assemble
def signalled(*args, **kwargs):
    os.kill(os.getpid(), signal.{sig})
    return built(*args, **kwargs)
session._assemble = signalled
sys.argv = ["kalshi", *sys.argv[1:]]
runpy.run_module("kalshi_cli", run_name="__main__")
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_while_the_loop_is_built_stops_the_run_with_its_summary(
    sim: SimHarness, tmp_path: Path, sig: str
) -> None:
    sim.create_market(TICKER)
    log = tmp_path / "trade.log"
    env = trade_env(sim.account, tmp_path / "home", tmp_path / "state.db")
    args = ["trade", "--strategy", "market-maker", "--markets", TICKER, "--duration", "60"]
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            SIGNALLED_WHILE_BUILT.format(sig=sig),
            *args,
            "--log-file",
            str(log),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "summary:" in done.stdout
    events = log.read_text()
    assert '"event":"stop_proven"' in events
    assert '"event":"order_placed"' not in events, "a stopped run placed nothing"

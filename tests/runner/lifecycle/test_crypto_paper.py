"""`kalshi trade --strategy crypto --paper` on the simulator's live crypto scenario: the loop
follows the index the markets' rules name over the signed WebSocket, the built-in model prices
each market from it, and where it disagrees with the market maker's book it buys, filled
locally (nothing reaches the exchange's order book)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.vocabulary.clock import parse_iso
from tests.conftest import SimHarness, _start
from tests.runner.simproc import client_for, log_events, observer_for, trade_command, trade_env
from tests.waiting import stderr_tail, wait_until, while_running


@pytest.fixture
def crypto_sim(tmp_path: Path) -> Iterator[SimHarness]:
    harness = _start(tmp_path / "sim", "crypto")
    yield harness
    harness.close()


@pytest.mark.slow
def test_the_crypto_strategy_trades_on_paper_from_the_live_index(
    crypto_sim: SimHarness, tmp_path: Path
) -> None:
    watcher = client_for(crypto_sim.new_account(balance_cents=0))
    found: list[str] = []

    def listed() -> bool:
        # a quarter with time left for the run (a few seconds to its first fill on a quiet
        # machine): one about to close would be over first (the simulator's quarters follow the
        # wall clock), so the next is awaited, at most this long
        enough = time.time() + 25
        found[:] = [
            m.ticker
            for m in watcher.markets.iter_markets(series_ticker="KXBTC15M", status="open")
            if m.yes_ask > 0 and parse_iso(m.close_time).timestamp() > enough
        ]
        return len(found) == 5

    wait_until(listed, "the quarter's five BTC markets quoted, with time left", within_s=300)
    params = tmp_path / "crypto.yaml"
    # a volatility far above the index's own puts every strike near an even chance, so the
    # model disagrees with the market maker's quotes on the outer strikes and buys there
    params.write_text("min_sigma: 0.001\nmin_returns: 10\nmax_count: 5\n")
    log = tmp_path / "trade.log"
    paper = crypto_sim.new_account(balance_cents=0)
    command = [
        *trade_command("crypto", ",".join(found), log, "--duration", "120"),
        "--paper",
        "--params",
        str(params),
    ]
    err = tmp_path / "stderr.txt"
    with (
        err.open("w") as stderr,
        subprocess.Popen(
            command,
            env=trade_env(paper, tmp_path / "home", tmp_path / "state.db"),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        ) as proc,
    ):
        try:
            # the run lasts until its first paper fill, then stops as a trader stops it
            wait_until(
                lambda: any(e["event"] == "fill_received" for e in log_events(log)),
                stderr_tail(err, "a paper fill"),
                between=while_running(proc, err),
            )
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=150)
    assert proc.returncode == 0, err.read_text()[-3000:]
    done_stderr = err.read_text()
    assert "PAPER" in done_stderr
    events = log_events(log)
    placed = [e for e in events if e["event"] == "order_placed"]
    assert placed, [e["event"] for e in events]
    mine = [e for e in placed if e["strategy"] == "crypto"]
    # the model's orders, and perhaps the risk engine's stop-loss closing one of them
    assert mine and {e["strategy"] for e in placed} <= {"crypto", "stop-loss"}, placed
    for e in mine:
        assert "model builtin:crypto version crypto-1" in str(e["reason"])
        # a buy only where the model's fair value of the side beats its ask (the fair value
        # itself depends on how far the quarter has run, so it is not pinned)
        assert e["action"] == "buy"
        assert Decimal(str(e["price"])) < Decimal(str(e["model_fair"])) < 1
    assert [e for e in events if e["event"] == "fill_received"], "no paper fill"
    # the exchange never saw an order of the paper account
    assert list(observer_for(paper).orders.iter_orders()) == []

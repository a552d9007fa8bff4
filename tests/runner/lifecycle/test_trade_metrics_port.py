"""`kalshi trade --metrics-port`: a running loop serves Prometheus metrics from its state file."""

from __future__ import annotations

import socket
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.runner.simproc import (
    Book,
    client_for,
    observer_for,
    stop,
    trade_command,
    trade_env,
    trade_process,
)
from tests.waiting import poll_until

TICKER = "KXMETRICS-SIM-A"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_a_running_loop_serves_its_heartbeat_trading_state_and_positions(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    maker = client_for(sim.new_account())
    Book(maker, TICKER).quote("0.49", "0.51")
    # the account holds 3 YES when the loop starts: its reconcile copies the fill into the state
    # file, and the dashboard's Positions panel must show them from the loop's endpoint
    with observer_for(sim.account) as holder:
        Book(holder, TICKER).order(BookSide.BID, "0.51", "3", TimeInForce.IOC)
    held = f'kalshi_position_contracts{{subaccount="0",ticker="{TICKER}"}} '
    port = _free_port()
    command = [
        *trade_command("spike", TICKER, tmp_path / "trade.log", "--duration", "60"),
        "--metrics-port",
        str(port),
    ]
    env = trade_env(sim.account, tmp_path / "home", tmp_path / "state.db")
    scraped: list[str] = []

    def heartbeat_scraped() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return proc.poll() is not None
        scraped.append(text)
        return (
            "kalshi_last_heartbeat_timestamp_seconds" in text
            and f'kalshi_feed_message_age_seconds{{ticker="{TICKER}"}}' in text
            and held in text
        )

    with trade_process(command, env) as proc, maker:
        assert poll_until(heartbeat_scraped) and proc.poll() is None
        err = stop(proc)
    assert proc.returncode == 0, err[-2000:]
    assert f"metrics on http://127.0.0.1:{port}/metrics" in err
    text = scraped[-1]
    assert 'kalshi_trading_state{state="ACTIVE"} 1' in text
    position = next(line for line in text.splitlines() if line.startswith(held))
    assert Decimal(position.removeprefix(held)) == 3
    assert "kalshi_open_positions 1" in text.splitlines()
    # what only the running process knows: its client's requests and its loop's counters
    assert 'kalshi_api_requests_total{endpoint="GET portfolio/orders",outcome="ok"}' in text
    assert 'kalshi_api_request_duration_seconds_count{endpoint="GET portfolio/orders"}' in text
    assert "# TYPE kalshi_risk_denials_total counter" in text
    with pytest.raises(OSError):  # the server stopped with the loop
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)

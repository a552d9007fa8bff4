"""`kalshi trade --metrics-port`: a running loop serves Prometheus metrics from its state file."""

from __future__ import annotations

import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import SimHarness
from tests.runner.simproc import Book, client_for, pause, trade_command, trade_env, wait_for

TICKER = "KXMETRICS-SIM-A"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_a_running_loop_serves_its_heartbeat_and_trading_state(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    maker = client_for(sim.new_account())
    Book(maker, TICKER).quote("0.49", "0.51")
    port = _free_port()
    proc = subprocess.Popen(
        [
            *trade_command("spike", TICKER, tmp_path / "trade.log", "--duration", "60"),
            "--metrics-port",
            str(port),
        ],
        env=trade_env(sim.account, tmp_path / "home", tmp_path / "state.db"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    scraped: list[str] = []

    def heartbeat_scraped() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return proc.poll() is not None
        scraped.append(text)
        return "kalshi_last_heartbeat_timestamp_seconds" in text and (
            f'kalshi_feed_message_age_seconds{{ticker="{TICKER}"}}' in text
        )

    try:
        assert wait_for(heartbeat_scraped, 30, pause) and proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        maker.close()
    assert proc.returncode == 0, err[-2000:]
    assert f"metrics on http://127.0.0.1:{port}/metrics" in err
    text = scraped[-1]
    assert 'kalshi_trading_state{state="ACTIVE"} 1' in text
    # what only the running process knows: its client's requests and its loop's counters
    assert 'kalshi_api_requests_total{endpoint="GET portfolio/orders",outcome="ok"}' in text
    assert 'kalshi_api_request_duration_seconds_count{endpoint="GET portfolio/orders"}' in text
    assert "# TYPE kalshi_risk_denials_total counter" in text
    with pytest.raises(OSError):  # the server stopped with the loop
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)

"""`kalshi check exchange`: warns ahead of a maintenance window the exchange schedules, end to
end against the simulator (whose admin API sets the window), with its Nagios line and exit."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.checks.test_check_cli import CRITICAL, OK, WARNING, account_env, check, line
from tests.conftest import SimHarness


def _window(sim: SimHarness, start_in: int, length: int = 1800) -> None:
    now = int(time.time())
    sim.http.delete(sim.admin_url + "/exchange/maintenance").raise_for_status()
    body = {"start_ts": now + start_in, "end_ts": now + start_in + length}
    sim.http.post(sim.admin_url + "/exchange/maintenance", json=body).raise_for_status()


def test_no_window_is_ok(sim: SimHarness, tmp_path: Path) -> None:
    result = check(tmp_path, "exchange", "--no-alert", environ=account_env(sim.account))
    assert result.exit_code == OK, result.output
    assert line(result) == (
        "KALSHI EXCHANGE OK - trading; no maintenance scheduled | 'windows'=0;;;0"
    )


@pytest.mark.parametrize(
    ("start_in", "code", "status"),
    [
        (7200, OK, "OK"),  # beyond the default hour of notice
        (1800, WARNING, "WARNING"),  # within the hour
        (120, CRITICAL, "CRITICAL"),  # within five minutes
    ],
)
def test_a_window_ahead_is_graded_by_its_notice(
    sim: SimHarness, tmp_path: Path, start_in: int, code: int, status: str
) -> None:
    _window(sim, start_in)
    result = check(tmp_path, "exchange", "--no-alert", environ=account_env(sim.account))
    assert result.exit_code == code, result.output
    assert line(result).startswith(f"KALSHI EXCHANGE {status} - ")
    assert "'next_maintenance'=" in line(result) and ";3600;300;0" in line(result)
    if code != OK:
        assert "maintenance in " in line(result)


def test_inside_a_window_is_critical_and_the_thresholds_are_flags(
    sim: SimHarness, tmp_path: Path
) -> None:
    _window(sim, -10)
    result = check(tmp_path, "exchange", "--no-alert", environ=account_env(sim.account))
    assert result.exit_code == CRITICAL, result.output
    assert "under maintenance until" in line(result)
    _window(sim, 1800)
    relaxed = check(
        tmp_path,
        "exchange",
        "--warn",
        "600",
        "--crit",
        "60",
        "--json",
        "--no-alert",
        environ=account_env(sim.account),
    )
    assert relaxed.exit_code == OK, relaxed.output
    document = json.loads(relaxed.stdout)
    assert document["status"] == "OK" and document["name"] == "exchange"

"""`kalshi check exchange`: warns ahead of a maintenance window the exchange schedules, end to
end against the simulator (whose admin API sets the window), with its Nagios line and exit."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kalshi_cli.checks import CheckStatus
from kalshi_cli.checks.remote import check_exchange
from kalshi_cli.checks.thresholds import resolve
from kalshi_cli.vocabulary.errors import ServerError
from tests.checks.test_check_cli import (
    CRITICAL,
    OK,
    WARNING,
    account_env,
    check,
    client_for,
    line,
)
from tests.conftest import SimHarness
from tests.fakes import OneRouteFails


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


def test_an_exchange_that_says_it_is_down_is_critical_though_its_schedule_cannot_be_read(
    sim: SimHarness,
) -> None:
    """`exchange_active: false` is the verdict; the schedule only names the window's end. A
    schedule read that fails then must not make it UNKNOWN (the `warning` route, not the
    pager); with the exchange up, that read is all the check has, and its failure is UNKNOWN."""
    _window(sim, -10)
    failing = OneRouteFails("GET", "/exchange/schedule", 500)
    with client_for(sim.account, transport=failing, max_attempts=1) as client:
        result = check_exchange(client, resolve(None), time.time())
    assert failing.failed == 1
    assert result.status is CheckStatus.CRITICAL, result.summary
    assert result.summary.startswith("exchange under maintenance until ")
    assert result.summary.endswith("; orders are refused")
    assert result.perfdata == ()  # no count of windows it did not read
    sim.http.delete(sim.admin_url + "/exchange/maintenance").raise_for_status()
    # the exchange up: the schedule is all it has, and its failure is `run_check`'s UNKNOWN
    with (
        client_for(sim.account, transport=failing, max_attempts=1) as client,
        pytest.raises(ServerError),
    ):
        check_exchange(client, resolve(None), time.time())


def test_an_exchange_failing_while_it_says_it_is_down_is_critical(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The spec gives `GET /exchange/status`'s 500, 503 and 504 answers the ExchangeStatus shape:
    an exchange failing every request answers its status `exchange_active: false`. That is the
    verdict, CRITICAL (the pager); the check read it as one that could not look, UNKNOWN (the
    `warning` route)."""
    sim.set_faults(http_5xx_rate=1.0)
    try:
        result = check(tmp_path, "exchange", "--no-alert", environ=account_env(sim.account))
    finally:
        sim.clear_faults()
    assert result.exit_code == CRITICAL, result.output
    assert line(result).startswith("KALSHI EXCHANGE CRITICAL - exchange ")
    # a 5xx in the error shape says nothing of the exchange: the check could not look
    failing = OneRouteFails("GET", "/exchange/status", 503)
    with (
        client_for(sim.account, transport=failing, max_attempts=1) as client,
        pytest.raises(ServerError),
    ):
        check_exchange(client, resolve(None), time.time())

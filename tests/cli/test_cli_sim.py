"""End to end: the real client against the simulator over loopback, and the installed script.

The CLI is configured exactly as a user would configure it for a simulator started elsewhere:
KALSHI_API_BASE, KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH from the simulator's account.
Every response is checked against openapi.yaml by the suite's autouse fixture.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.waiting import wait_until

if TYPE_CHECKING:
    from tests.conftest import SimHarness


def account_env(account: AccountInfo) -> dict[str, str]:
    return {
        "KALSHI_API_BASE": account.api_base,
        "KALSHI_API_KEY_ID": account.key_id,
        "KALSHI_PRIVATE_KEY_PATH": account.private_key_path,
    }


def kalshi(args: list[str], home: Path, environ: dict[str, str]) -> Result:
    context = AppContext(environ={"KALSHI_HOME": str(home), **environ})
    return CliRunner().invoke(
        app, args, obj=context, env={"COLUMNS": "100", "NO_COLOR": "1"}, prog_name="kalshi"
    )


def test_market_data_and_portfolio(sim: SimHarness, tmp_path: Path) -> None:
    sim.create_market("KXCLI-26JAN01-T1", title="CLI test market")
    environ = account_env(sim.account)

    listed = kalshi(["markets", "--status", "open", "--json"], tmp_path, environ)
    assert listed.exit_code == 0, listed.output
    markets = json.loads(listed.stdout)["markets"]
    assert [m["ticker"] for m in markets] == ["KXCLI-26JAN01-T1"]

    detail = kalshi(["market", "KXCLI-26JAN01-T1", "--json"], tmp_path, environ)
    assert detail.exit_code == 0, detail.output
    assert json.loads(detail.stdout)["price_level_structure"] == "linear_cent"

    book = kalshi(["orderbook", "KXCLI-26JAN01-T1", "--json"], tmp_path, environ)
    assert book.exit_code == 0, book.output
    assert json.loads(book.stdout)["ticker"] == "KXCLI-26JAN01-T1"

    balance = kalshi(["balance", "--json"], tmp_path, environ)
    assert balance.exit_code == 0, balance.output
    assert json.loads(balance.stdout)["balance"] == "1000.00"

    for command, key in (("positions", "positions"), ("fills", "fills")):
        result = kalshi([command, "--json"], tmp_path, environ)
        assert result.exit_code == 0, result.output
        document = json.loads(result.stdout)
        assert (document[key], document["count"]) == ([], 0)


def test_health_check_passes_against_the_simulator(sim: SimHarness, tmp_path: Path) -> None:
    result = kalshi(["health-check", "--json"], tmp_path, account_env(sim.account))
    assert result.exit_code == 0, result.output
    statuses = {c["name"]: c["status"] for c in json.loads(result.stdout)["checks"]}
    assert statuses == {
        "exchange": "ok",
        "credentials": "ok",
        "shards": "ok",
        "clock skew": "ok",
        "rate-limit tier": "ok",
        "state location": "ok",
        "key file": "ok",
        "state integrity": "skip",
    }


def test_unknown_ticker(sim: SimHarness, tmp_path: Path) -> None:
    result = kalshi(["market", "KXNOPE-1"], tmp_path, account_env(sim.account))
    assert result.exit_code == ExitCode.NOT_FOUND
    assert result.stderr.startswith("Error: unknown ticker KXNOPE-1")
    assert len(result.stderr.splitlines()) == 1


def test_wrong_key_is_a_401(sim: SimHarness, tmp_path: Path) -> None:
    from kalshi_cli.vocabulary.keys import generate_private_key, private_key_pem

    other = tmp_path / "other.pem"
    other.write_bytes(private_key_pem(generate_private_key()))
    other.chmod(0o600)
    environ = {**account_env(sim.account), "KALSHI_PRIVATE_KEY_PATH": str(other)}
    result = kalshi(["balance"], tmp_path, environ)
    assert result.exit_code == ExitCode.AUTH
    assert "HTTP 401" in result.stderr
    assert "belong to the chosen --env" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_embedded_simulator_needs_no_configuration(tmp_path: Path) -> None:
    result = kalshi(["markets", "--json", "--limit", "5"], tmp_path, {})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["count"] > 0  # the default scenario lists markets
    assert (tmp_path / "sim").is_dir()
    balance = kalshi(["balance", "--json"], tmp_path, {})
    assert balance.exit_code == 0, balance.output


def installed_script() -> str:
    script = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.fail("the `kalshi` console script is not installed next to this Python")
    return script


def test_installed_script(sim: SimHarness, tmp_path: Path) -> None:
    sim.create_market("KXCLI-26JAN01-T2")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")},
        **account_env(sim.account),
        "KALSHI_HOME": str(tmp_path),
    }
    script = installed_script()
    ok = subprocess.run(
        [script, "market", "KXCLI-26JAN01-T2", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ticker"] == "KXCLI-26JAN01-T2"
    missing = subprocess.run(
        [script, "market", "KXNOPE-9"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert missing.returncode == ExitCode.NOT_FOUND
    assert missing.stdout == ""
    assert missing.stderr.startswith("Error: unknown ticker KXNOPE-9")


def test_sim_serve_runs_until_ctrl_c(tmp_path: Path) -> None:
    data_dir = tmp_path / "served"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    env["KALSHI_HOME"] = str(tmp_path)
    args = ["sim", "serve", "--port", "0", "--data-dir", str(data_dir), "--scenario", "empty"]
    server = subprocess.Popen(
        [installed_script(), *args, "--balance", "250.50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        account = wait_for_account(data_dir / "account.json")
        result = kalshi(["balance", "--json"], tmp_path, account_env(account))
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["balance"] == "250.50"
    finally:
        server.send_signal(signal.SIGINT)
        _out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err


def wait_for_account(path: Path) -> AccountInfo:
    """The account the simulator wrote to `path`, once its server answers on the address."""

    def serving() -> AccountInfo | None:
        try:
            account = AccountInfo(**json.loads(path.read_text()))
            parts = urlsplit(account.api_base)
            with socket.create_connection((parts.hostname, parts.port), timeout=1):
                return account
        except (OSError, ValueError, TypeError):
            return None

    return wait_until(serving, f"the simulator to write {path} and serve")


def test_a_scenario_file_that_is_not_text_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    """Before: exit 1, "unexpected UnicodeDecodeError ... (a bug)"."""
    binary = tmp_path / "scenario.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    data_dir = tmp_path / "sim"
    args = ["sim", "serve", "--port", "0", "--data-dir", str(data_dir), "--scenario", str(binary)]
    result = kalshi(args, tmp_path, {})
    assert result.exit_code == ExitCode.USAGE, result.output
    assert f"scenario {binary} cannot be read: not UTF-8 text" in result.output
    assert "a bug" not in result.output


@pytest.mark.parametrize("scenario", ["nope", "missing.yaml"])
def test_a_bad_scenario_setting_is_a_config_error_in_one_line_before_any_simulator_starts(
    tmp_path: Path, scenario: str
) -> None:
    """Before: exit 7, with a traceback's excerpt from the server log in its line."""
    result = kalshi(["markets"], tmp_path, {"KALSHI_SIM_SCENARIO": scenario})
    assert result.exit_code == ExitCode.CONFIG, result.output
    (line, *_hint) = result.stderr.splitlines()
    assert line.startswith("Error: KALSHI_SIM_SCENARIO: ") and scenario in line
    assert "Traceback" not in result.output and "File " not in result.output
    assert not (tmp_path / "sim" / "server.log").exists()  # no simulator was started

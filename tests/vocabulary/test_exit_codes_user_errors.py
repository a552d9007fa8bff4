"""A person's mistake exits with its documented code, never 1 ("a bug"), and one clear line.

Each case runs the installed `kalshi` as a process, as a shell or cron would.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.conftest import SimHarness
from tests.runner.simproc import trade_env

BUG = "a bug"


def kalshi(
    *args: str, home: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    environ = env or {**os.environ, "KALSHI_HOME": str(home)}
    for name in ("KALSHI_ENV", "KALSHI_STATE", "KALSHI_CONFIG"):
        if env is None:
            environ.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "kalshi_cli", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_sim_serve_with_an_unknown_scenario_is_a_usage_error(tmp_path: Path) -> None:
    done = kalshi("sim", "serve", "--port", "0", "--scenario", "nope", home=tmp_path)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "no builtin scenario 'nope'" in done.stderr and BUG not in done.stderr
    assert done.stderr.count("\n") == 1


def test_sim_serve_on_a_busy_port_is_a_usage_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = kalshi("sim", "serve", "--host", "127.0.0.1", "--port", str(port), home=tmp_path)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert f"port {port}" in done.stderr and "in use" in done.stderr
    assert BUG not in done.stderr and done.stderr.count("\n") == 1


def test_trade_with_the_exchange_unreachable_exits_7(tmp_path: Path, sim: SimHarness) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens once this closes
    env = trade_env(sim.account, tmp_path / "home", tmp_path / "state.db")
    env["KALSHI_API_BASE"] = f"http://127.0.0.1:{port}/trade-api/v2"
    env["KALSHI_WS_URL"] = f"ws://127.0.0.1:{port}/trade-api/ws/v2"
    (tmp_path / "home").mkdir()
    done = kalshi("trade", "--strategy", "market-maker", "--max-ticks", "1", home=tmp_path, env=env)
    assert done.returncode == ExitCode.UNREACHABLE, done.stderr
    # the first read of the start (the key's subaccount, GET /api_keys) is the one that fails
    assert "exchange which subaccount this API key trades on failed" in done.stderr
    assert "Connection refused" in done.stderr and BUG not in done.stderr


def test_metrics_to_an_unwritable_textfile_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    target = tmp_path / "a-file" / "kalshi.prom"  # its directory can be neither found nor made
    done = kalshi("metrics", "--no-exchange", "--textfile", str(target), home=tmp_path)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert f"cannot write metrics to {target}" in done.stderr and BUG not in done.stderr


@pytest.mark.parametrize("command", [["status"], ["halt", "--reason", "x"], ["resume"], ["pnl"]])
def test_a_state_file_that_is_not_sqlite_exits_17(tmp_path: Path, command: list[str]) -> None:
    state = tmp_path / "notes.txt"
    state.write_text("my notes\n", encoding="utf-8")
    done = kalshi("--state", str(state), *command, home=tmp_path)
    assert done.returncode == ExitCode.BAD_STATE_FILE, done.stderr
    assert "is not an SQLite database" in done.stderr
    assert state.read_text(encoding="utf-8") == "my notes\n"  # left untouched


def test_state_in_a_missing_directory_is_refused_not_created(tmp_path: Path) -> None:
    state = tmp_path / "typo" / "state.db"
    done = kalshi("--state", str(state), "halt", "--reason", "x", home=tmp_path)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "does not exist" in done.stderr and str(state.parent) in done.stderr
    assert "HALTED" not in done.stdout
    assert not state.parent.exists()


def test_the_default_state_directory_is_still_made_on_first_use(tmp_path: Path) -> None:
    done = kalshi("halt", "--reason", "x", home=tmp_path)
    assert done.returncode == ExitCode.OK, done.stderr
    [state] = (tmp_path / "state").rglob("state.db")
    with sqlite3.connect(state) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] > 0


def test_a_reader_that_goes_away_ends_the_output_quietly(tmp_path: Path) -> None:
    """`kalshi ... | head -1`: the write fails with EPIPE; no traceback, no error line, 141."""
    environ = {**os.environ, "KALSHI_HOME": str(tmp_path)}
    environ.pop("KALSHI_STATE", None)
    with subprocess.Popen(
        [sys.executable, "-m", "kalshi_cli", "config", "show"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader is gone before the first line is written
        err = proc.stderr.read()
        proc.wait(timeout=60)
    assert proc.returncode == ExitCode.BROKEN_PIPE == 141
    assert err == ""

"""Trouble writing a file is never exit 1 ("a bug"): a state file that cannot be written is 21
(STATE_WRITE_FAILED) for every command that writes it, the config file's directory that cannot
be written is 18 (DATA_WRITE_FAILED), and a file the disk takes only part of is left not at
all. Each case runs the installed `kalshi` as a process with
root's file-permission override dropped, so a read-only file is read-only even under root."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kalshi_cli.store import Store
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.file_limit import NO_BYTECODE, limited_file_size
from tests.home_guard import password_home_environ

# drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set, then runs the command
WITHOUT_ROOT_OVERRIDE = textwrap.dedent(
    """
    import ctypes, os, sys
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2):
            if libc.prctl(24, cap, 0, 0, 0) != 0:
                raise SystemExit(f"cannot drop capability {cap}: errno {ctypes.get_errno()}")
    os.execv(sys.argv[1], sys.argv[1:])
    """
)


def kalshi(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    assert script is not None, "the kalshi script is not installed beside this python"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "KALSHI_HOME": str(home),
        "HOME": str(home),
        "NO_COLOR": "1",
        **password_home_environ(),
    }
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_ROOT_OVERRIDE, script, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "a bug" not in result.stderr, result.stderr
    assert result.stderr.startswith("Error: "), result.stderr


@pytest.fixture
def read_only_state(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "state.db"
    Store.open(path).close()
    path.chmod(0o400)
    tmp_path.chmod(0o500)  # no journal or WAL file can be made beside it either
    yield path
    tmp_path.chmod(0o700)
    path.chmod(0o600)


@pytest.mark.parametrize("command", [["halt", "--reason", "drill"], ["resume"]])
def test_a_state_file_that_cannot_be_written_is_exit_21(
    tmp_path: Path, read_only_state: Path, command: list[str]
) -> None:
    home = tmp_path.parent / f"{tmp_path.name}-home"
    result = kalshi(home, "--state", str(read_only_state), *command)
    assert result.returncode == ExitCode.STATE_WRITE_FAILED, result.stderr
    one_line_no_traceback(result)
    assert str(read_only_state) in result.stderr


def test_a_config_file_whose_directory_cannot_be_written_is_exit_18(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = kalshi(tmp_path, "--config", str(locked / "config.yaml"), "config", "set",
                        "timeout", "5")  # fmt: skip
    finally:
        locked.chmod(0o700)
    assert result.returncode == ExitCode.DATA_WRITE_FAILED, result.stderr
    one_line_no_traceback(result)
    assert str(locked) in result.stderr
    assert not (locked / "config.yaml").exists()


def test_a_backtest_report_whose_directory_cannot_be_made_is_exit_18_before_it_runs(
    tmp_path: Path,
) -> None:
    # the data set is not even looked at: the refusal comes first
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    result = kalshi(tmp_path, "backtest", "--strategy", "spike", "--data", str(tmp_path),
                    "--html", str(tmp_path / "a-file" / "report.html"))  # fmt: skip
    assert result.returncode == ExitCode.DATA_WRITE_FAILED, result.stderr
    one_line_no_traceback(result)
    assert "a-file" in result.stderr


def test_a_backtest_out_directory_that_cannot_be_made_is_exit_18(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = kalshi(tmp_path, "backtest", "--strategy", "spike", "--data", str(tmp_path),
                        "--out", str(locked / "run"))  # fmt: skip
    finally:
        locked.chmod(0o700)
    assert result.returncode == ExitCode.DATA_WRITE_FAILED, result.stderr
    one_line_no_traceback(result)
    assert not (locked / "run").exists()


def test_a_file_the_machine_will_not_let_grow_is_exit_18_not_a_bug(tmp_path: Path) -> None:
    """`kalshi strategy new` writing past what the machine allows: before, exit 1, "a bug"."""
    script = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    assert script is not None
    result = subprocess.run(
        [script, "strategy", "new", "fair-value", "--dir", str(tmp_path / "s")],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KALSHI_HOME": str(tmp_path),
             "HOME": str(tmp_path), "NO_COLOR": "1", **NO_BYTECODE},
        capture_output=True, text=True, timeout=120, check=False,
        preexec_fn=limited_file_size(64),
    )  # fmt: skip
    assert result.returncode == ExitCode.DATA_WRITE_FAILED, result.stderr
    one_line_no_traceback(result)
    assert "File too large" in result.stderr


LAL = "KXNBAGAME-SIM-LALGSW-LAL"


def _recording(tmp_path: Path) -> Path:
    from kalshi_cli.data.scenario_recording import record_scenario

    return record_scenario("default", tmp_path / "data", seconds=20, tickers=[LAL])


# each command writing one file into `target`, the directory it writes to: its arguments, and
# its exit code when the machine refuses the bytes (a metrics textfile's place is a usage error)
WHOLE: dict[str, tuple[Callable[[Path, Path], list[str]], int]] = {
    "config init": (lambda t, _: ["--config", str(t / "c.yaml"), "config", "init"], 18),
    "backtest --html": (
        lambda t, tmp: [
            "backtest",
            "--strategy",
            "spike",
            "--data",
            str(_recording(tmp)),
            "--html",
            str(t / "r.html"),
        ],
        18,
    ),
    "data export --out": (
        lambda t, tmp: ["data", "export", str(_recording(tmp)), "--out", str(t / "book.csv")],
        18,
    ),
    "metrics --textfile": (
        lambda t, _: ["metrics", "--no-exchange", "--textfile", str(t / "k.prom")],
        2,
    ),
    "strategy new --dir": (lambda t, _: ["strategy", "new", "my-quotes", "--dir", str(t)], 18),
}


@pytest.mark.parametrize("command", WHOLE)
def test_a_file_the_disk_cannot_take_whole_is_not_left_in_part(
    command: str, tmp_path: Path
) -> None:
    """A report, an export, the config, the metrics textfile or a strategy's files that the
    disk refuses part of leave nothing at all: before, a 0-byte config read as a valid, empty
    one ever after, and `backtest --html` left a report cut short."""
    script = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    assert script is not None
    target = tmp_path / "target"
    target.mkdir()
    args, code = WHOLE[command]
    home = tmp_path / "home"
    result = subprocess.run(
        [script, *args(target, tmp_path)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KALSHI_HOME": str(home),
             "HOME": str(home), "NO_COLOR": "1", **NO_BYTECODE},
        capture_output=True, text=True, timeout=120, check=False,
        preexec_fn=limited_file_size(64),
    )  # fmt: skip
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and "a bug" not in result.stderr, result.stderr
    assert any(line.startswith("Error: ") and "File too large" in line
               for line in result.stderr.splitlines()), result.stderr  # fmt: skip
    assert sorted(p.name for p in target.iterdir()) == []  # nor a draft beside it


def test_a_metrics_port_another_program_holds_is_a_usage_error_before_trading(
    tmp_path: Path,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = kalshi(tmp_path, "trade", "--strategy", "market-maker", "--duration", "5",
                        "--metrics-port", str(port))  # fmt: skip
    assert result.returncode == ExitCode.USAGE, result.stderr
    one_line_no_traceback(result)
    assert f"--metrics-port {port}" in result.stderr


def test_trade_with_a_state_directory_it_cannot_write_is_exit_21_before_trading(
    tmp_path: Path,
) -> None:
    """Before: its lock beside the state file failed as "a bug", exit 1."""
    locked = tmp_path / "state"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = kalshi(tmp_path / "home", "--state", str(locked / "state.db"), "trade",
                        "--strategy", "market-maker", "--duration", "3")  # fmt: skip
    finally:
        locked.chmod(0o700)
    assert result.returncode == ExitCode.STATE_WRITE_FAILED, result.stderr
    one_line_no_traceback(result)
    assert "nothing was traded" in result.stderr

"""scripts/cron: the quiet wrapper and the crontab, run as written with a fake `kalshi` on PATH."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import SimHarness

ROOT = Path(__file__).resolve().parents[2]
CRON_DIR = ROOT / "scripts" / "cron"
WRAPPER = CRON_DIR / "kalshi-check"
CRONTAB = CRON_DIR / "crontab.example"

FAKE_KALSHI = """#!/bin/sh
# Records how it was called, then behaves as the test asked.
echo "${KALSHI_ENV:-} $*" >> "$FAKE_KALSHI_LOG"
if [ -n "${FAKE_KALSHI_HANG:-}" ]; then exec sleep 30; fi
if [ -n "${FAKE_KALSHI_STDERR:-}" ]; then echo "$FAKE_KALSHI_STDERR" >&2; fi
echo "${FAKE_KALSHI_LINE:-KALSHI FAKE OK - fine}"
exit "${FAKE_KALSHI_CODE:-0}"
"""


@dataclass
class Fake:
    bin_dir: Path
    log: Path

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def fake(tmp_path: Path) -> Fake:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kalshi"
    script.write_text(FAKE_KALSHI)
    script.chmod(0o755)
    return Fake(bin_dir, tmp_path / "calls.log")


def run_wrapper(
    fake: Fake, *args: str, path: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    full_env = {
        "PATH": path if path is not None else f"{fake.bin_dir}:/usr/bin:/bin",
        "FAKE_KALSHI_LOG": str(fake.log),
        **env,
    }
    return subprocess.run(
        [str(WRAPPER), *args], check=False, env=full_env, capture_output=True, text=True, timeout=20
    )


# --------------------------------------------------------------------------------------------
# The wrapper


def test_wrapper_is_silent_and_exits_0_when_the_check_is_ok(fake: Fake) -> None:
    done = run_wrapper(fake, "positions", FAKE_KALSHI_LINE="KALSHI POSITIONS OK - all good")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert fake.calls() == [" check positions"]


@pytest.mark.parametrize("code", [1, 2, 3])
def test_wrapper_prints_the_line_and_passes_the_code_on_failure(fake: Fake, code: int) -> None:
    line = "KALSHI POSITIONS CRITICAL - 1 market over limit | 'over_limit'=1;0;0"
    done = run_wrapper(fake, "positions", FAKE_KALSHI_LINE=line, FAKE_KALSHI_CODE=str(code))
    assert done.returncode == code
    assert done.stdout == line + "\n"


def test_wrapper_shows_the_checks_stderr_only_on_failure(fake: Fake) -> None:
    problem = "alert check:positions: slack (https://hooks.slack.com/***) failed after 3 attempts"
    ok = run_wrapper(fake, "positions", FAKE_KALSHI_STDERR=problem)
    assert (ok.returncode, ok.stdout) == (0, "")
    bad = run_wrapper(fake, "positions", FAKE_KALSHI_STDERR=problem, FAKE_KALSHI_CODE="2")
    assert bad.returncode == 2 and problem in bad.stdout


def test_wrapper_passes_every_argument_through(fake: Fake) -> None:
    run_wrapper(fake, "heartbeat", "--max-age", "120", KALSHI_ENV="demo")
    assert fake.calls() == ["demo check heartbeat --max-age 120"]


def test_wrapper_maps_an_unexpected_exit_code_to_unknown(fake: Fake) -> None:
    done = run_wrapper(fake, "orders", FAKE_KALSHI_LINE="boom", FAKE_KALSHI_CODE="7")
    assert done.returncode == 3
    assert done.stdout.splitlines() == [
        "boom",
        "KALSHI UNKNOWN - kalshi check orders exited with 7",
    ]


def test_wrapper_without_kalshi_on_path_is_unknown(fake: Fake, tmp_path: Path) -> None:
    done = run_wrapper(fake, "heartbeat", path=str(tmp_path / "empty"))
    assert done.returncode == 3
    assert done.stdout.startswith("KALSHI UNKNOWN - 'kalshi' not found on PATH")


def test_wrapper_uses_kalshi_bin_when_set(fake: Fake, tmp_path: Path) -> None:
    done = run_wrapper(fake, "pnl", path="/usr/bin:/bin", KALSHI_BIN=str(fake.bin_dir / "kalshi"))
    assert done.returncode == 0 and fake.calls() == [" check pnl"]


@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils timeout")
def test_wrapper_stops_a_hung_check_and_reports_unknown(fake: Fake) -> None:
    started = time.monotonic()
    done = run_wrapper(fake, "api", FAKE_KALSHI_HANG="1", KALSHI_CHECK_TIMEOUT="1")
    assert time.monotonic() - started < 10
    assert done.returncode == 3
    assert "KALSHI UNKNOWN - kalshi check api did not finish within 1s" in done.stdout


def test_wrapper_is_valid_posix_sh() -> None:
    assert os.access(WRAPPER, os.X_OK)
    assert WRAPPER.read_text().startswith("#!/bin/sh\n")
    subprocess.run(["sh", "-n", str(WRAPPER)], check=True)


# --------------------------------------------------------------------------------------------
# The crontab

_FIELD_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
_ENV_LINE = re.compile(r"^([A-Z_][A-Z0-9_]*)=(.*)$")


def _valid_field(text: str, low: int, high: int) -> bool:
    for part in text.split(","):
        m = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", part)
        if not m:
            return False
        if m.group(2) is not None:
            start = int(m.group(2))
            end = int(m.group(3)) if m.group(3) is not None else start
            if not low <= start <= end <= high:
                return False
        if m.group(4) is not None and int(m.group(4)) < 1:
            return False
    return True


def parse_crontab(text: str) -> tuple[dict[str, str], list[tuple[list[str], str]]]:
    env: dict[str, str] = {}
    entries: list[tuple[list[str], str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if m := _ENV_LINE.match(stripped):
            env[m.group(1)] = m.group(2)
            continue
        fields = stripped.split(None, 5)
        assert len(fields) == 6, f"not a 5-field cron entry: {line!r}"
        for value, (low, high) in zip(fields[:5], _FIELD_RANGES, strict=True):
            assert _valid_field(value, low, high), f"bad cron field {value!r} in {line!r}"
        entries.append((fields[:5], fields[5]))
    return env, entries


def test_crontab_entries_are_five_field_lines_calling_the_wrapper() -> None:
    env, entries = parse_crontab(CRONTAB.read_text())
    assert env["SHELL"] == "/bin/sh" and "KALSHI_ENV" in env and "MAILTO" in env
    schedule = {cmd: " ".join(when) for when, cmd in entries}
    assert schedule["kalshi-check heartbeat"] == "* * * * *"
    assert schedule["kalshi-check positions"] == "*/5 * * * *"
    assert schedule["kalshi-check orders"] == "*/5 * * * *"
    daily = [when for when, cmd in entries if cmd.startswith("kalshi pnl")]
    assert len(daily) == 1 and daily[0][2:] == ["*", "*", "*"] and "*" not in daily[0][:2]
    for _, cmd in entries:
        assert cmd.split()[0] in ("kalshi-check", "kalshi"), cmd


def test_crontab_runs_every_check() -> None:
    """A check the example leaves out watches nothing: the shards' money (`balance`) and a
    shard's pause (`exchange`) went unwatched on a host installed from it."""
    from kalshi_cli.checks import CHECK_NAMES

    _, entries = parse_crontab(CRONTAB.read_text())
    run = {cmd.split()[1] for _, cmd in entries if cmd.startswith("kalshi-check ")}
    assert set(CHECK_NAMES) <= run, sorted(set(CHECK_NAMES) - run)


def _run_crontab(fake: Fake, **behaviour: str) -> list[subprocess.CompletedProcess[str]]:
    env, entries = parse_crontab(CRONTAB.read_text())
    # The crontab's own variables, with the fake kalshi and this checkout's wrapper put first
    # on its PATH: the commands themselves run exactly as written.
    run_env = {
        **env,
        "PATH": f"{fake.bin_dir}:{CRON_DIR}:{env['PATH']}",
        "FAKE_KALSHI_LOG": str(fake.log),
        **behaviour,
    }
    shell = env["SHELL"]
    return [
        subprocess.run(
            [shell, "-c", cmd], check=False, env=run_env, capture_output=True, text=True, timeout=20
        )
        for _, cmd in entries
    ]


def test_crontab_runs_as_written_and_is_quiet_when_all_is_well(fake: Fake) -> None:
    results = _run_crontab(fake)
    checks = [r for r in results if r.args[2].startswith("kalshi-check")]
    assert checks and all((r.returncode, r.stdout, r.stderr) == (0, "", "") for r in checks)
    calls = fake.calls()
    for name in ("heartbeat", "positions", "orders"):
        assert f"prod check {name}" in calls
    assert "prod pnl" in calls
    summary = next(r for r in results if r.args[2] == "kalshi pnl")
    assert summary.stdout.strip()  # the daily summary is mailed, so it must print something


def test_crontab_mails_only_the_failing_lines(fake: Fake) -> None:
    line = "KALSHI HEARTBEAT CRITICAL - no heartbeat for 300s | 'age'=300s;60;120"
    results = _run_crontab(fake, FAKE_KALSHI_LINE=line, FAKE_KALSHI_CODE="2")
    checks = [r for r in results if r.args[2].startswith("kalshi-check")]
    assert all(r.returncode == 2 and r.stdout == line + "\n" for r in checks)


# --------------------------------------------------------------------------------------------
# The systemd unit

UNIT = ROOT / "deploy" / "systemd" / "kalshi-trade.service"


class _CaseKeepingParser(configparser.RawConfigParser):
    def optionxform(self, optionstr: str) -> str:
        return optionstr  # keep key case: systemd keys are case-sensitive


def _unit() -> configparser.RawConfigParser:
    parser = _CaseKeepingParser(strict=True, delimiters=("=",))
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_runs_kalshi_trade_as_a_dedicated_user_restarting_into_the_journal() -> None:
    service = _unit()["Service"]
    assert service["User"] == "kalshi" and service["User"] != "root"
    assert service["Restart"] == "always"
    assert service["StandardOutput"] == service["StandardError"] == "journal"
    assert service["ExecStart"].split()[1:3] == ["trade", "$KALSHI_TRADE_ARGS"]
    assert service["EnvironmentFile"] == "/etc/kalshi/kalshi-trade.env"
    assert service["NoNewPrivileges"] == "yes"
    # the exit codes a restart cannot fix: config, credentials, auth, halted, another loop running,
    # a key without the scope, a state file that is not one
    from kalshi_cli.vocabulary.exit_codes import ExitCode

    assert service["RestartPreventExitStatus"].split() == [
        str(int(c))
        for c in (
            ExitCode.CONFIG,
            ExitCode.CREDENTIALS,
            ExitCode.AUTH,
            ExitCode.HALTED,
            ExitCode.ALREADY_RUNNING,
            ExitCode.FORBIDDEN,
            ExitCode.BAD_STATE_FILE,
            ExitCode.STATE_MISMATCH,
        )
    ]
    assert service["SuccessExitStatus"] == str(int(ExitCode.INTERRUPTED))
    assert _unit()["Install"]["WantedBy"] == "multi-user.target"
    env_example = (UNIT.parent / "kalshi-trade.env.example").read_text()
    assert re.search(r"^KALSHI_TRADE_ARGS=", env_example, re.M)


def test_a_stop_before_the_loops_stop_is_in_place_exits_130_which_the_unit_counts_clean(
    sim: SimHarness, tmp_path: Path
) -> None:
    """`systemctl stop` right after a start: SIGINT while the start's first request is out, before
    the loop's stop handlers (nothing placed yet) ends the process with 130 (Ctrl-C), a clean stop
    for the unit; 11 (an order not proven gone) is left out of SuccessExitStatus on purpose."""
    import signal
    import socket

    from kalshi_cli.vocabulary.exit_codes import ExitCode
    from tests.runner.simproc import trade_command, trade_env

    with socket.socket() as silent:  # an exchange that takes the request and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.settimeout(60)
        env = trade_env(sim.account, tmp_path / "home", tmp_path / "state.db")
        env["KALSHI_API_BASE"] = f"http://127.0.0.1:{silent.getsockname()[1]}/trade-api/v2"
        (tmp_path / "home").mkdir()
        command = trade_command("spike", "KXUNIT-1", tmp_path / "trade.log", "--duration", "60")
        with subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as loop:
            asked, _ = silent.accept()  # the start's first request is out
            with asked:
                loop.send_signal(signal.SIGINT)
                _, err = loop.communicate(timeout=60)
    assert loop.returncode == ExitCode.INTERRUPTED, err
    success = _unit()["Service"]["SuccessExitStatus"].split()
    assert success == [str(int(ExitCode.INTERRUPTED))]
    assert str(int(ExitCode.NOT_PROVEN)) not in success


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # Only the binary path changes: verify refuses an ExecStart that does not exist here.
    unit = tmp_path / "kalshi-trade.service"
    unit.write_text(UNIT.read_text().replace("/opt/kalshi/venv/bin/kalshi", "/bin/true"))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (done.returncode, done.stderr) == (0, "")

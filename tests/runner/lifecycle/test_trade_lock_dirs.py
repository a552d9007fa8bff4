"""The account lock of `kalshi trade` must hold across the environments one user's processes
run in on one machine. The systemd unit this project ships (deploy/systemd/kalshi-trade.service)
runs the loop with `PrivateTmp=yes` and no `XDG_RUNTIME_DIR`; a person logged in as that user
has a `XDG_RUNTIME_DIR` (or the real /tmp). The per-user lock directory comes from those, so
the service's loop and a second loop started by hand on the same account under another state
file each locked a different file and both traded: the "two loops on one account" the lock is
there to refuse. Here two processes with two different `XDG_RUNTIME_DIR`s stand for them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.conftest import SimHarness
from tests.runner.simproc import (
    Book,
    client_for,
    log_events,
    trade_command,
    trade_env,
)
from tests.waiting import poll_until

TICKER = "KXLOCKDIR-26-A"


@pytest.mark.slow
def test_one_account_is_locked_whatever_the_runtime_directory(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, TICKER).quote("0.49", "0.51")
    trader = sim.new_account(balance_cents=10_000_000)
    (tmp_path / "run-a").mkdir(mode=0o700)
    (tmp_path / "run-b").mkdir(mode=0o700)
    service = {
        **trade_env(trader, tmp_path / "home", tmp_path / "service.db"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run-a"),
    }
    by_hand = {
        **trade_env(trader, tmp_path / "home2", tmp_path / "by-hand.db"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run-b"),
    }
    log = tmp_path / "first.log"
    with subprocess.Popen(
        trade_command("market-maker", TICKER, log, "--duration", "120"),
        env=service,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as first:
        try:
            assert poll_until(
                lambda: (
                    any(e["event"] == "order_placed" for e in log_events(log))
                    or first.poll() is not None
                )
            )
            assert first.poll() is None
            second = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "kalshi_cli",
                    *trade_command("market-maker", TICKER, tmp_path / "2.log", "--duration", "5")[
                        3:
                    ],
                ],
                env=by_hand,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert second.returncode == ExitCode.ALREADY_RUNNING, second.stderr[-2000:]
            assert f"another trade loop (pid {first.pid}" in second.stderr
            assert f"holds the account {trader.key_id}" in second.stderr
        finally:
            first.kill()
            first.wait(timeout=10)
            other.close()


def test_a_user_without_a_passwd_entry_still_takes_the_first_account_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container run as a bare uid (`docker run --user 12345`, Kubernetes `runAsUser`) has no
    password-database entry: `pwd.getpwuid` raises KeyError. The home lock is then skipped as
    for a home that cannot be written, and the loop starts on the first lock alone (before,
    `kalshi trade --live` died with a KeyError traceback)."""
    import pwd

    from kalshi_cli.runner.lifecycle import lock

    def no_entry(uid: int) -> pwd.struct_passwd:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run_dir))
    held = lock.acquire(tmp_path / "s.db", account="key@https://x.invalid", now=0.0)
    try:
        assert list((run_dir / "kalshi").glob("trade-*.lock")), "the first account lock is taken"
        with pytest.raises(lock.LoopAlreadyRunning):
            lock.acquire(tmp_path / "other.db", account="key@https://x.invalid", now=0.0)
    finally:
        held.release()

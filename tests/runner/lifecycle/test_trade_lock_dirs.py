"""The account lock of `kalshi trade` must hold across the environments one user's processes
run in on one machine. The systemd unit this project ships (deploy/systemd/kalshi-trade.service)
runs the loop with `PrivateTmp=yes` and no `XDG_RUNTIME_DIR`; a person logged in as that user
has a `XDG_RUNTIME_DIR` (or the real /tmp). The per-user lock directory comes from those, so
the service's loop and a second loop started by hand on the same account under another state
file each locked a different file and both traded: the "two loops on one account" the lock is
there to refuse. Here two processes with two different `XDG_RUNTIME_DIR`s stand for them."""

from __future__ import annotations

import os
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


def _password_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """The password database names `home` as this user's."""
    import pwd

    def entry(uid: int) -> pwd.struct_passwd:
        return pwd.struct_passwd(("trader", "x", uid, uid, "", str(home), "/bin/sh"))

    monkeypatch.setattr(pwd, "getpwuid", entry)


ACCOUNT = "key@https://x.invalid"


def test_the_account_lock_is_kept_in_the_documented_directories_private_to_the_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`$XDG_RUNTIME_DIR/kalshi` and `~/.local/state/kalshi/locks` under the password home
    (docs/trade-loop.md), each made with its parents and readable by its user alone, hold one
    lock of the account, the second one meeting a loop of another runtime directory; a loop
    started after the first ended takes them again."""
    from kalshi_cli.runner.lifecycle import lock

    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    (tmp_path / "run-b").mkdir(mode=0o700)
    _password_home(monkeypatch, tmp_path / "home")
    runtime = run_dir / "kalshi"
    shared = tmp_path / "home" / ".local" / "state" / "kalshi" / "locks"
    for _ in range(2):  # the directories made by the first, found by the second
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(run_dir))
        with lock.acquire(tmp_path / "s.db", account=ACCOUNT, now=0.0):
            for directory in (runtime, shared):
                assert directory.stat().st_mode & 0o777 == 0o700, directory
                assert [p.name for p in directory.glob("trade-*.lock")] == [
                    lock.account_lock_name(ACCOUNT)
                ]
            monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run-b"))
            with pytest.raises(lock.LoopAlreadyRunning):
                lock.acquire(tmp_path / "other.db", account=ACCOUNT, now=0.0)


def test_without_a_runtime_directory_the_lock_is_kept_in_the_temporary_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No `XDG_RUNTIME_DIR` (the shipped systemd unit): `/tmp/kalshi-<uid>`, of the temporary
    directory the process is given."""
    import tempfile

    from kalshi_cli.runner.lifecycle import lock

    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    _password_home(monkeypatch, tmp_path / "home")
    with lock.acquire(tmp_path / "s.db", account=ACCOUNT, now=0.0):
        kept = tmp_path / "tmp" / f"kalshi-{os.getuid()}"
        assert [p.name for p in kept.glob("trade-*.lock")] == [lock.account_lock_name(ACCOUNT)]


def test_a_runtime_lock_directory_of_another_user_is_neither_used_nor_looked_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another user could hold or forge a lock there: the loop refuses to start, saying which
    directory and how to choose one of its own, and a command looking for a state file's loop
    (`kalshi halt`) believes no lock it finds there."""
    import fcntl
    import json

    from kalshi_cli.runner.lifecycle import lock
    from kalshi_cli.store.connection import file_identity
    from kalshi_cli.store.trade_lock import identity_lock_name, loop_holder
    from kalshi_cli.vocabulary.errors import KalshiError

    run_dir = tmp_path / "run"
    (run_dir / "kalshi").mkdir(parents=True, mode=0o700)
    state = tmp_path / "s.db"
    state.touch()
    identity = file_identity(state)
    assert identity is not None
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run_dir))
    _password_home(monkeypatch, tmp_path / "home")
    owner = (run_dir / "kalshi").stat().st_uid
    monkeypatch.setattr(os, "getuid", lambda: owner + 1)
    with pytest.raises(KalshiError) as refused:
        lock.acquire(state, account=ACCOUNT, now=0.0)
    assert refused.value.message == (
        f"{run_dir / 'kalshi'} belongs to another user; refusing to keep the trade lock there"
    )
    assert refused.value.hint == "set XDG_RUNTIME_DIR to a directory of your own"
    with (run_dir / "kalshi" / identity_lock_name(identity)).open("w") as forged:
        forged.write(json.dumps({"pid": 1}))
        forged.flush()
        fcntl.flock(forged.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert loop_holder(state) is None

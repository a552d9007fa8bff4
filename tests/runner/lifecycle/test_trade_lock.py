"""One trade loop per state file and account (runner/lifecycle/lock.py).

Two `kalshi trade` processes on one simulator: the second exits ALREADY_RUNNING naming the
first, whether it shares the state file or only the account; checks, read-only commands and the
kill switch keep working while the loop runs; a SIGKILLed loop leaves no lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from kalshi_cli.runner.lifecycle.lock import LoopAlreadyRunning, acquire
from kalshi_cli.store import Store
from kalshi_cli.store.connection import file_identity
from kalshi_cli.store.trade_lock import state_lock_path
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.conftest import SimHarness
from tests.runner.simproc import (
    Book,
    client_for,
    kalshi_process,
    log_events,
    trade_command,
    trade_env,
)
from tests.waiting import poll_until

TICKER = "KXLOCK-26-A"
NOW = 1_785_000_000.0


def test_a_second_lock_on_the_state_file_is_refused_naming_the_holder(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    with acquire(state, account=None, now=NOW, lock_dir=tmp_path):
        with pytest.raises(LoopAlreadyRunning) as info:
            acquire(state, account=None, now=NOW, lock_dir=tmp_path)
        assert f"pid {os.getpid()}" in info.value.message
        assert f"holds the state file {state}" in info.value.message
        assert info.value.exit_code is ExitCode.ALREADY_RUNNING
    # released with the holder: the next loop starts
    acquire(state, account=None, now=NOW, lock_dir=tmp_path).release()
    assert state_lock_path(state).exists()  # never deleted: a deleted lock file splits the lock


def test_one_account_under_two_state_files_is_refused(tmp_path: Path) -> None:
    account = "key-1@http://127.0.0.1:9/trade-api/v2"
    with acquire(tmp_path / "a.db", account=account, now=NOW, lock_dir=tmp_path):
        with pytest.raises(LoopAlreadyRunning) as info:
            acquire(tmp_path / "b.db", account=account, now=NOW, lock_dir=tmp_path)
        assert "holds the account key-1 on http://127.0.0.1:9/trade-api/v2" in info.value.message
        # the refused attempt let go of b.db's lock again
        acquire(tmp_path / "b.db", account=None, now=NOW, lock_dir=tmp_path).release()
        # another account is not held
        other = "key-2@http://127.0.0.1:9/trade-api/v2"
        acquire(tmp_path / "c.db", account=other, now=NOW, lock_dir=tmp_path).release()


@pytest.mark.slow
def test_two_trade_processes_one_runs_and_a_sigkill_leaves_no_lock(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, TICKER).quote("0.49", "0.51")
    trader = sim.new_account(balance_cents=10_000_000)
    state = tmp_path / "state.db"
    env = trade_env(trader, tmp_path / "home", state)
    log = tmp_path / "first.log"
    first = subprocess.Popen(
        trade_command("market-maker", TICKER, log, "--duration", "120"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def logged(event: str) -> Callable[[], bool]:
            return lambda: (
                any(e["event"] == event for e in log_events(log)) or (first.poll() is not None)
            )

        assert poll_until(logged("order_placed")) and first.poll() is None

        # the same state file: refused, naming the running loop
        second = kalshi_process(
            env, *trade_command("market-maker", TICKER, tmp_path / "2.log", "--duration", "5")[3:]
        )
        assert second.returncode == ExitCode.ALREADY_RUNNING, second.stderr
        assert f"another trade loop (pid {first.pid}" in second.stderr
        assert f"holds the state file {state}; stop it first" in second.stderr
        assert not (tmp_path / "2.log").exists()  # refused before anything started

        # the same account under another state file: refused too
        elsewhere = trade_env(trader, tmp_path / "home2", tmp_path / "other.db")
        third = kalshi_process(
            elsewhere,
            *trade_command("market-maker", TICKER, tmp_path / "3.log", "--duration", "5")[3:],
        )
        assert third.returncode == ExitCode.ALREADY_RUNNING, third.stderr
        assert f"another trade loop (pid {first.pid}" in third.stderr
        assert f"holds the account {trader.key_id}" in third.stderr

        # checks, read-only commands and the kill switch keep working beside the loop (its first
        # heartbeat ends the tick that placed its first order: it may come after that order)
        assert poll_until(logged("heartbeat")) and first.poll() is None
        # the file it has open, for `halt` and `cancel-all` to tell it from another at the path
        holder = json.loads(state_lock_path(state).read_text())
        identity = file_identity(state)
        assert identity is not None and holder["pid"] == first.pid
        assert holder["state_file"] == list(identity)
        heartbeat = kalshi_process(env, "check", "heartbeat")
        assert heartbeat.returncode == 0, heartbeat.stdout + heartbeat.stderr
        positions = kalshi_process(env, "positions", "--json")
        assert positions.returncode == 0, positions.stderr
        killed = kalshi_process(env, "cancel-all")
        assert killed.returncode == 0, killed.stdout + killed.stderr
        assert first.poll() is None

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=10)
        assert first.stderr is not None
        first.stderr.close()
        other.close()

    # the OS dropped the dead loop's locks: a new loop starts on the same state file
    assert kalshi_process(env, "resume").returncode == 0
    again = kalshi_process(
        env, *trade_command("market-maker", TICKER, tmp_path / "4.log", "--max-ticks", "3")[3:]
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert any(e["event"] == "started" for e in log_events(tmp_path / "4.log"))


@pytest.mark.parametrize("how", ["a symlink", "a path through ..", "a relative path"])
def test_one_state_file_named_another_way_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """The lock follows the name to the file: a second loop on the same state file, named
    through a symlink, `..` or a relative path, takes the same lock and is refused."""
    state = tmp_path / "real" / "state.db"
    (tmp_path / "elsewhere").mkdir()
    if how == "a symlink":
        other = tmp_path / "elsewhere" / "link.db"
        other.symlink_to(state)  # made before the file is: it names the file to come
    elif how == "a path through ..":
        other = tmp_path / "elsewhere" / ".." / "real" / "state.db"
    else:
        monkeypatch.chdir(tmp_path / "elsewhere")
        other = Path("..") / "real" / "state.db"
    with acquire(state, account=None, now=NOW, lock_dir=tmp_path):
        with pytest.raises(LoopAlreadyRunning) as info:
            acquire(other, account=None, now=NOW, lock_dir=tmp_path)
        assert f"pid {os.getpid()}" in info.value.message
    with (
        acquire(other, account=None, now=NOW, lock_dir=tmp_path),
        pytest.raises(LoopAlreadyRunning),
    ):
        acquire(state, account=None, now=NOW, lock_dir=tmp_path)


def test_one_state_file_under_two_hard_links_is_refused(tmp_path: Path) -> None:
    """Two names of one file (one inode) are one state file: the lock is taken on the file's
    identity too, in the user's lock directory, so the second name is refused."""
    state = tmp_path / "a" / "state.db"
    state.parent.mkdir()
    Store.open(state).close()
    linked = tmp_path / "b" / "state.db"
    linked.parent.mkdir()
    os.link(state, linked)
    with acquire(state, account=None, now=NOW, lock_dir=tmp_path):
        with pytest.raises(LoopAlreadyRunning) as info:
            acquire(linked, account=None, now=NOW, lock_dir=tmp_path)
        assert f"pid {os.getpid()}" in info.value.message
        assert f"holds the state file {linked}" in info.value.message
    acquire(linked, account=None, now=NOW, lock_dir=tmp_path).release()


def test_a_state_file_made_after_the_lock_is_locked_by_its_identity_once_opened(
    tmp_path: Path,
) -> None:
    """A loop locks its state file before the file exists; once it holds the file's identity
    (`holds_state`), a loop started on a hard link of it is refused, and a loop that got to the
    identity first has the later holder refused."""
    state = tmp_path / "a" / "state.db"
    linked = tmp_path / "b" / "state.db"
    linked.parent.mkdir()
    with acquire(state, account=None, now=NOW, lock_dir=tmp_path) as first:
        with Store.open(state) as opened:
            first.holds_state(opened.identity)
        os.link(state, linked)
        with pytest.raises(LoopAlreadyRunning):
            acquire(linked, account=None, now=NOW, lock_dir=tmp_path)

    other = tmp_path / "c" / "state.db"
    with acquire(other, account=None, now=NOW, lock_dir=tmp_path) as late:
        Store.open(other).close()
        again = tmp_path / "d" / "state.db"
        again.parent.mkdir()
        os.link(other, again)
        with (
            acquire(again, account=None, now=NOW, lock_dir=tmp_path),
            pytest.raises(LoopAlreadyRunning),
        ):
            late.holds_state(file_identity(other))


def test_the_loop_that_makes_its_state_file_holds_it_before_it_has_a_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop that makes its state file locks the file's identity before the file is linked at
    its name: a loop on a hard link made the moment the name appears is refused at its lock,
    before it opens the file."""
    state = tmp_path / "a" / "state.db"
    linked = tmp_path / "b" / "state.db"
    linked.parent.mkdir()
    link = os.link
    second: list[str] = []

    def link_and_start_a_second_loop(source: Path, target: Path) -> None:
        link(source, target)
        if Path(target) == state:
            link(state, linked)
            try:
                acquire(linked, account=None, now=NOW, lock_dir=tmp_path).release()
                second.append("started")
            except LoopAlreadyRunning:
                second.append("refused")

    monkeypatch.setattr(os, "link", link_and_start_a_second_loop)
    with acquire(state, account=None, now=NOW, lock_dir=tmp_path) as first:
        Store.open(state, claim=first.holds_state).close()
    assert second == ["refused"]


def test_a_loop_whose_state_file_appears_under_its_name_after_its_lock_never_opens_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop locked before its file existed, whose name then became a hard link of a file
    another loop holds, is refused before it connects to the file: it migrates and writes
    nothing in the other loop's file."""
    from kalshi_cli.store.connection import connect

    state = tmp_path / "a" / "state.db"
    state.parent.mkdir()
    Store.open(state).close()
    linked = tmp_path / "b" / "state.db"
    linked.parent.mkdir()
    connected: list[Path] = []

    def noted(path: Path, mode: str) -> object:
        connected.append(Path(path))
        return connect(path, mode)

    monkeypatch.setattr("kalshi_cli.store.store.connect", noted)
    with (
        acquire(state, account=None, now=NOW, lock_dir=tmp_path),
        acquire(linked, account=None, now=NOW, lock_dir=tmp_path) as second,
    ):
        os.link(state, linked)
        with pytest.raises(LoopAlreadyRunning):
            Store.open(linked, claim=second.holds_state).close()
    assert connected == []


def test_a_loop_on_a_file_of_one_link_refuses_a_loop_on_a_link_made_after_its_start(
    tmp_path: Path,
) -> None:
    """The identity lock is taken whatever the file's count of links: a loop started while its
    state file had one name still refuses a loop on a hard link made afterwards (a lock taken
    only for a file of several links would not)."""
    state = tmp_path / "a" / "state.db"
    state.parent.mkdir()
    Store.open(state).close()
    assert state.stat().st_nlink == 1
    linked = tmp_path / "b" / "state.db"
    linked.parent.mkdir()
    with acquire(state, account=None, now=NOW, lock_dir=tmp_path):
        os.link(state, linked)
        with pytest.raises(LoopAlreadyRunning) as info:
            acquire(linked, account=None, now=NOW, lock_dir=tmp_path)
        assert f"holds the state file {linked}" in info.value.message


def test_a_loop_whose_new_state_file_lost_the_race_for_its_name_keeps_no_lock_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop making its state file claims the new file before linking it at its name; when
    another process made a file there first, the loop opens that one, and the lock of the file
    it threw away is let go: that number, free again, is another file's to come."""
    state = tmp_path / "a" / "state.db"
    theirs = tmp_path / "theirs.db"
    Store.open(theirs).close()
    link = os.link
    drafts: list[tuple[int, int]] = []

    def another_process_first(source: Path, target: Path) -> None:
        if Path(target) == state and not drafts:
            drafts.append((os.stat(source).st_dev, os.stat(source).st_ino))
            link(theirs, state)
        link(source, target)

    monkeypatch.setattr(os, "link", another_process_first)
    with acquire(state, account=None, now=NOW, lock_dir=tmp_path) as first:
        with Store.open(state, claim=first.holds_state) as opened:
            assert opened.identity == file_identity(theirs)
        [draft] = drafts
        with (tmp_path / f"state-{draft[0]}-{draft[1]}.lock").open("a") as left:
            fcntl.flock(left.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds it
        with pytest.raises(LoopAlreadyRunning):
            acquire(theirs, account=None, now=NOW, lock_dir=tmp_path)


def test_a_paper_run_whose_lock_directory_cannot_be_made_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dry run or a paper session (no account lock) takes its state file's identity lock in
    the user's lock directory too: one that cannot be made (an XDG_RUNTIME_DIR inherited from
    another user, or under a file) refuses it with the directory and what to do, not as a
    bug (an unexpected OSError), and nothing is left locked."""
    state = tmp_path / "state.db"
    Store.open(state).close()
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "a-file"))
    with pytest.raises(KalshiError) as refused:
        acquire(state, account=None, now=NOW)
    assert str(tmp_path / "a-file" / "kalshi") in refused.value.message
    assert refused.value.hint is not None and "XDG_RUNTIME_DIR" in refused.value.hint
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    acquire(state, account=None, now=NOW, lock_dir=tmp_path).release()  # the file's lock let go


def test_a_loop_making_its_state_file_is_not_said_to_have_another_file_open_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a loop builds its new state file (claimed, not yet linked at its name), a command
    at the path (`kalshi status`, `halt`) finds the loop and no other file open under it: the
    file it will open is the one that appears there. Once linked, the file is the loop's."""
    from kalshi_cli.services.paper_kill import unseen_by_its_loop

    state = tmp_path / "state.db"
    link = os.link
    seen: list[str | None] = []

    def look_then_link(source: Path, target: Path) -> None:
        seen.append(unseen_by_its_loop(state))
        link(source, target)

    monkeypatch.setattr(os, "link", look_then_link)
    with acquire(state, account=None, now=NOW, lock_dir=tmp_path) as first:
        Store.open(state, claim=first.holds_state).close()
        seen.append(unseen_by_its_loop(state))
    assert seen == [None, None]


@pytest.mark.parametrize(
    "written", ["", '{"pid": 12', "[1234]"], ids=["nothing", "half", "no object"]
)
def test_a_loop_still_writing_its_lock_is_found_naming_nothing(
    tmp_path: Path, written: str
) -> None:
    """A lock held before its holder is written in full (a loop starting): a command looking for
    the state file's loop (`kalshi halt`) finds one, named by nothing it could read."""
    from kalshi_cli.store.trade_lock import loop_holder

    state = tmp_path / "state.db"
    with state_lock_path(state).open("w") as held:
        held.write(written)
        held.flush()
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert loop_holder(state) == {}
    assert loop_holder(state) is None

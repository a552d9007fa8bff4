"""The kill switch when the state file fails it: read-only, locked by another process, garbled,
empty, or in a directory that cannot be created. The cancels go out whatever the state file does;
the output says whether the trading state was recorded and, if not, why; the exit code stays the
proof's (0 proven, 11 not proven)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CancelResult
from kalshi_cli.services.killswitch.report import LOCK_HELD
from kalshi_cli.services.killswitch.switch import KillSwitch
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.models import Order
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, cli_env, make_markets, resting_count, seed_resting, state_path
from tests.services.killswitch_fakes import UnexpectedCalls, resting_order
from tests.waiting import wait_until

CANCEL_ALL = "DELETE /portfolio/events/orders"

# Runs a command without the capabilities that let root ignore file permissions, so a file of
# mode 0400 really cannot be written, whoever runs the tests. (PR_CAPBSET_DROP = 24; the
# capabilities are CAP_DAC_OVERRIDE = 1 and CAP_DAC_READ_SEARCH = 2.) Dropped from the bounding
# set, they are gone from the program exec'd next.
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

# Another process that holds the state file's write lock until it reads a line.
LOCK_HOLDER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("ROLLBACK")
    """
)


@contextmanager
def lock_holder(path: Path) -> Iterator[Callable[[], None]]:
    """Another process holding the write lock of the state file at `path` from the block's
    start until the function given is called (or the block ends: it is killed)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    stdin, stdout = holder.stdin, holder.stdout
    assert stdin is not None and stdout is not None

    def release() -> None:
        stdin.write("\n")
        stdin.flush()

    try:
        assert stdout.readline().strip() == "locked"
        yield release
    finally:
        holder.kill()
        holder.wait()
        stdin.close()
        stdout.close()


def kalshi_binary() -> str:
    script = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    assert script is not None, "the kalshi script is not installed beside this python"
    return script


def spawn_kalshi(
    prime: SimHarness, tmp_path: Path, *args: str, wrapper: str | None = None
) -> subprocess.Popen[str]:
    """`kalshi ARGS` as a separate process against the prime simulator, with the same
    KALSHI_HOME as the `kalshi` fixture (so `state_path(tmp_path)` is its state file)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "COLUMNS": "120",
        "NO_COLOR": "1",
        **cli_env(prime.account, tmp_path / "home"),
    }
    command = [kalshi_binary(), *args]
    if wrapper is not None:
        command = [sys.executable, "-c", wrapper, *command]
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def cancel_all_requests(prime: SimHarness) -> int:
    counts: dict[str, int] = (
        prime.stats()["accounts"].get(prime.account.key_id, {}).get("requests", {})
    )
    return counts.get(CANCEL_ALL, 0)


def make_state_file(tmp_path: Path, **extra: str) -> Path:
    path = state_path(tmp_path, **extra)
    Store.open(path).close()
    return path


def seed(prime: SimHarness, markets: int = 3, per_market: int = 5) -> int:
    return seed_resting(prime, make_markets(prime, markets), per_market)


# ------------------------------------------------------------------------------ read-only


def test_a_read_only_state_file_does_not_stop_the_cancels(
    prime: SimHarness, client: KalshiClient, tmp_path: Path
) -> None:
    path = make_state_file(tmp_path)
    path.chmod(0o400)
    seeded = seed(prime)
    try:
        proc = spawn_kalshi(prime, tmp_path, "cancel-all", "--json", wrapper=WITHOUT_ROOT_OVERRIDE)
        out, err = proc.communicate(timeout=120)
    finally:
        path.chmod(0o600)

    assert proc.returncode == ExitCode.OK, err
    document = json.loads(out)
    assert document["proven"] is True
    assert document["cancelled_count"] == seeded
    assert document["halted"] is False
    assert document["state_recorded"] is False
    assert "read-only" in document["state_error"] or "readonly" in document["state_error"]
    assert cancel_all_requests(prime) == 1
    assert resting_count(client) == 0
    with Store.open(path) as store:  # nothing was written, and the file is intact
        assert store.trading.trading_state().state == "ACTIVE"
        assert store.integrity_check() == "ok"


def test_a_state_directory_that_cannot_be_read_does_not_stop_the_cancels(
    prime: SimHarness, client: KalshiClient, tmp_path: Path
) -> None:
    # looking for the file in it failed (Permission denied, exit 18) before the switch ran
    path = make_state_file(tmp_path)
    path.parent.chmod(0)
    seeded = seed(prime)
    try:
        proc = spawn_kalshi(prime, tmp_path, "cancel-all", "--json", wrapper=WITHOUT_ROOT_OVERRIDE)
        out, err = proc.communicate(timeout=120)
    finally:
        path.parent.chmod(0o700)

    assert proc.returncode == ExitCode.OK, err
    document = json.loads(out)
    assert document["cancelled_count"] == seeded and document["halted"] is False
    assert "Permission denied" in document["state_error"]
    assert cancel_all_requests(prime) == 1
    assert resting_count(client) == 0


# ------------------------------------------------------------------------------ locked


def test_a_state_file_locked_by_another_process_cancels_first_and_records_when_released(
    prime: SimHarness, client: KalshiClient, tmp_path: Path
) -> None:
    path = make_state_file(tmp_path)
    seeded = seed(prime)
    with lock_holder(path) as release:
        proc = spawn_kalshi(prime, tmp_path, "cancel-all", "--json")
        # the cancel goes out while the other process still holds the lock; the lock is then
        # let go at once: the switch waits for it a bounded time after its proof, and a test
        # that first watched the orders go (many requests on a busy machine) could let go late
        wait_until(lambda: cancel_all_requests(prime) == 1 or proc.poll() is not None, "cancel")
        assert cancel_all_requests(prime) == 1, proc.communicate(timeout=60)
        release()
        out, err = proc.communicate(timeout=120)

    assert proc.returncode == ExitCode.OK, err
    assert resting_count(client) == 0
    document = json.loads(out)
    assert document["proven"] is True and document["cancelled_count"] == seeded
    # recorded as soon as the lock was released, and the output says it came late and why
    assert document["halted"] is True
    assert document["state_recorded"] is True
    assert "locked" in document["state_error"]
    with Store.open(path) as store:
        assert store.trading.trading_state().state == "HALTED"
        assert store.trading.trading_state().source == "cancel-all"
        (result,) = store.entries.read(kind="kill_switch_result")
        assert result.data["proven"] is True
        assert result.data["cancelled_count"] == seeded


def test_a_lock_held_for_the_whole_run_still_cancels_and_says_not_recorded(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    path = make_state_file(tmp_path)
    seed(prime)
    with lock_holder(path):
        result = kalshi("cancel-all", "--deadline", "2")

    # a writer held the lock to the end: a loop waiting for it would place next, so no proof
    assert result.exit_code == ExitCode.NOT_PROVEN, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("trading state: NOT RECORDED: ")
    assert "locked" in lines[0]
    assert lines[-1] == f"NOT PROVEN: {LOCK_HELD}"
    assert cancel_all_requests(prime) == 1
    assert resting_count(client) == 0


# ------------------------------------------------------------------------------ garbled


def garble_table(path: Path, table: str) -> None:
    """Overwrite the root page of one table with noise: the file still opens (its header, the
    schema and the migrations table are intact), but writing that table fails."""
    conn = sqlite3.connect(path)
    try:
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    finally:
        conn.close()  # the last connection checkpoints the WAL into the file
    with path.open("r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(bytes([0x0D]) + b"\xff" * (page_size - 1))


def test_a_garbled_state_file_still_proves_and_exits_0(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    path = make_state_file(tmp_path)
    garble_table(path, "trading_state")
    seed(prime)

    result = kalshi("cancel-all")

    assert result.exit_code == ExitCode.OK, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("trading state: NOT RECORDED: ")
    assert "malformed" in lines[0]
    assert lines[-1].startswith("PROVEN: no resting order left")
    assert cancel_all_requests(prime) == 1
    assert resting_count(client) == 0


def test_a_garbled_state_file_and_no_exchange_exits_11_not_1(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    path = make_state_file(tmp_path, KALSHI_API_BASE="http://127.0.0.1:9/trade-api/v2")
    garble_table(path, "trading_state")

    result = kalshi(
        "cancel-all",
        "--deadline",
        "1",
        KALSHI_API_BASE="http://127.0.0.1:9/trade-api/v2",
        KALSHI_TIMEOUT="0.5",
    )

    assert result.exit_code == ExitCode.NOT_PROVEN, result.output
    assert result.stdout.startswith("trading state: NOT RECORDED: ")
    assert "NOT PROVEN: the exchange could not be reached" in result.stdout


# ------------------------------------------------------------------------------ no directory


def test_a_state_directory_that_cannot_be_created_does_not_stop_the_cancels(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    # a file where the state directory should be: mkdir fails for root too
    blocker = state_path(tmp_path).parent.parent
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a directory")
    seeded = seed(prime)

    result = kalshi("cancel-all", "--json")

    assert result.exit_code == ExitCode.OK, result.output
    document = json.loads(result.stdout)
    assert document["proven"] is True and document["cancelled_count"] == seeded
    assert document["halted"] is False and document["state_recorded"] is False
    assert str(state_path(tmp_path)) in document["state_error"]
    assert cancel_all_requests(prime) == 1
    assert resting_count(client) == 0
    assert "a bug" not in result.stderr


@pytest.mark.parametrize("named_by", ["--state", "KALSHI_STATE"])
def test_a_missing_state_directory_named_by_flag_or_environment_does_not_stop_the_cancels(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path, named_by: str
) -> None:
    # every other command refuses a --state or KALSHI_STATE whose directory does not exist
    # (a typo); the kill switch cancels all the same, records nothing and makes no directory
    missing = tmp_path / "no-such-dir" / "state.db"
    seeded = seed(prime)

    if named_by == "--state":
        result = kalshi("--state", str(missing), "cancel-all")
    else:
        result = kalshi("cancel-all", KALSHI_STATE=str(missing))

    assert result.exit_code == ExitCode.OK, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("trading state: NOT RECORDED: ")
    assert f"{named_by} {missing}" in first and "does not exist" in first
    assert f"cancelled: {seeded} order(s)" in result.stdout
    assert cancel_all_requests(prime) == 1
    assert resting_count(client) == 0
    assert not missing.parent.exists()


def test_a_directory_named_by_state_does_not_stop_the_cancels(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    # refused as a usage error before the switch ran; now it is no state file (as the same
    # path in KALSHI_STATE is) and the cancels go out
    directory = tmp_path / "a-directory"
    directory.mkdir()
    seed(prime)

    result = kalshi("--state", str(directory), "cancel-all")

    assert result.exit_code == ExitCode.OK, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("trading state: NOT RECORDED: ") and "is a directory" in first
    assert resting_count(client) == 0
    assert list(directory.iterdir()) == []


# ------------------------------------------------------------------------------ empty


def test_an_empty_state_file_is_not_rebuilt_but_the_cancels_go_out(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    path = state_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    seed(prime)

    result = kalshi("cancel-all")

    assert result.exit_code == ExitCode.OK, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("trading state: NOT RECORDED: ")
    assert str(path) in first and "empty" in first
    assert cancel_all_requests(prime) == 1
    assert resting_count(client) == 0
    assert path.stat().st_size == 0


class StuckUntilRound(UnexpectedCalls):
    """An exchange whose one resting order survives the cancels of the first `rounds` listings;
    it calls `on_listing(n)` at each listing, so a test can act between rounds."""

    def __init__(self, rounds: int, on_listing: Callable[[int], None]) -> None:
        self.rounds = rounds
        self.on_listing = on_listing
        self.listings = 0
        self.order = resting_order("slow-1", count="3.00", created=None)

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        self.listings += 1
        self.on_listing(self.listings)
        if self.listings <= self.rounds:
            yield self.order

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        return [CancelResult(oid, Decimal(0), error="busy, try again") for oid, _ in orders]


def test_halted_is_recorded_between_rounds_as_soon_as_a_lock_is_released(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store.open(path).close()
    seen: dict[int, str] = {}
    with ExitStack() as lock, Store.open(path) as store:
        other = lock.enter_context(Store.open(path))  # another connection, holding the lock
        lock.enter_context(other.transaction())

        def on_listing(n: int) -> None:
            if n == 2:
                lock.close()  # the other writer commits and lets go
            reader = Store.open_readonly(path)
            assert reader is not None
            with reader:
                seen[n] = reader.trading.trading_state().state

        exchange = StuckUntilRound(4, on_listing)
        switch = KillSwitch(exchange, store, ManualClock(), deadline_s=30, halt_wait_s=0.05)
        report = switch.run(ticker="KXT-EV-M00")

    assert report.proven and report.halted and report.result_recorded
    assert "locked" in (report.state_error or "")
    # not yet while locked; recorded in the round after the release, long before the end
    assert seen[1] == "ACTIVE" and seen[2] == "ACTIVE"
    assert seen[3] == "HALTED"

"""A file where the state file should be that is not one (empty, not SQLite, another program's
database) is refused and left untouched by every way of opening it; only a path where no file
exists gets a new state file, and two processes creating it at once both end up in the same one."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from kalshi_cli.store import NotAStateFile, Store, StoreError
from kalshi_cli.store.connection import create_state_file
from kalshi_cli.store.migrations import MIGRATIONS
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.exit_codes import ExitCode

OPENERS: dict[str, Callable[[Path], object]] = {
    "open": Store.open,
    "open(create=False)": lambda p: Store.open(p, create=False),
    "open_readonly": Store.open_readonly,
}


def empty(path: Path) -> None:
    path.write_bytes(b"")


def not_sqlite(path: Path) -> None:
    path.write_bytes(b"orders,fills\n1,2\n" * 300)


def foreign(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.commit()
    conn.close()


def no_tables(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 7")  # a database header, and nothing in it
    conn.close()


@pytest.mark.parametrize("opener", OPENERS)
@pytest.mark.parametrize(
    ("make", "what"),
    [
        (empty, "is empty"),
        (not_sqlite, "is not an SQLite database"),
        (foreign, "another program"),
        (no_tables, "no tables"),
    ],
)
def test_an_existing_file_that_is_not_a_state_file_is_refused_and_untouched(
    tmp_path: Path, opener: str, make: Callable[[Path], None], what: str
) -> None:
    path = tmp_path / "state.db"
    make(path)
    before = path.read_bytes()

    with pytest.raises(NotAStateFile) as info:
        OPENERS[opener](path)

    line = info.value.one_line()
    assert str(path) in line and what in line
    assert "move this file aside" in line  # what to do
    assert info.value.exit_code == ExitCode.BAD_STATE_FILE == 17
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]


@pytest.mark.parametrize("opener", OPENERS)
def test_a_symlink_whose_target_is_missing_is_refused_and_nothing_is_made(
    tmp_path: Path, opener: str
) -> None:
    """A link at the state path to nothing is a lost state file, not a missing one: read-only
    it is not "no state file", and opened to write it never gets a new file at its target."""
    path = tmp_path / "state.db"
    path.symlink_to(tmp_path / "moved.db")

    with pytest.raises(NotAStateFile) as info:
        OPENERS[opener](path)

    line = info.value.one_line()
    assert str(path) in line and "moved.db, which does not exist" in line
    assert info.value.exit_code == ExitCode.BAD_STATE_FILE
    assert path.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]


def test_a_damaged_database_is_a_store_error_not_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store.open(path).close()
    data = bytearray(path.read_bytes())
    data[16:100] = b"\xff" * 84  # the header's page size and the rest of it: nonsense
    path.write_bytes(bytes(data))
    for opener in OPENERS.values():
        with pytest.raises(StoreError, match="not a usable state file"):
            opener(path)
    assert path.read_bytes() == bytes(data)


def test_only_a_missing_file_gets_a_new_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store.open(path) as store:
        store.trading.set_trading_state("HALTED", reason="kill switch", source="cancel-all")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]  # no draft left behind
    with Store.open(path) as store:
        assert store.trading.trading_state().state == "HALTED"


CREATOR = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from kalshi_cli.store import Store
    sys.stdin.readline()  # start together
    with Store.open(Path(sys.argv[1])) as store:
        store.entries.log_entry("opened", {"by": sys.argv[2]})
    print("ok", flush=True)
    """
)


def test_processes_creating_the_state_file_at_once_all_open_the_same_one(tmp_path: Path) -> None:
    path = tmp_path / "new" / "state.db"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CREATOR, str(path), str(i)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = [proc.communicate(timeout=60) for proc in procs]

    assert [p.returncode for p in procs] == [0] * 6, results
    with Store.open(path) as store:
        assert [n for n, _ in store.applied_migrations()] == [x.name for x in MIGRATIONS]
        assert sorted(e.data["by"] for e in store.entries.read(kind="opened")) == [
            str(i) for i in range(6)
        ]
    names = {p.name for p in path.parent.iterdir()} - {"state.db-wal", "state.db-shm"}
    assert names == {"state.db"}  # no draft left behind


def test_a_new_state_file_is_made_in_wal_mode_before_anyone_opens_it(tmp_path: Path) -> None:
    """Made in rollback mode, its first openers each turned it to WAL, which takes the file's
    exclusive lock: two at once (a loop's first start, a `kalshi status` beside it) could each
    hold a shared lock waiting for the other's, and SQLite refused one at once, without waiting
    (`StateFileLocked`: 9 of 40 trials of four processes). Made in WAL mode, nobody converts it.
    The header's read and write versions are 2 in WAL mode (sqlite.org/fileformat2.html)."""
    path = tmp_path / "state.db"
    create_state_file(path, SystemClock())
    assert path.read_bytes()[18:20] == b"\x02\x02"

"""The state file on disk: creating, opening and configuring it, and the connection primitives every
repository of the store is given (`Database`).

WAL mode with `synchronous=FULL`, so a committed write survives SIGKILL and a power cut;
`trade.state_durability` "normal" relaxes only the pending intent's own commit, and a write whose
loss costs only work done again (a catch-up's cursor) waits for no sync of its own (`lazy_sync`).
The connection autocommits: writes that belong together use `transaction()` (`BEGIN IMMEDIATE`,
nesting as savepoints), and every repository writes through the one `Database`, so a block over
several is one commit. A Store is used from the thread that opened it. Lists are oldest first; a
`limit` keeps the newest N.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from pathlib import Path
from types import TracebackType
from typing import Any

from kalshi_cli.store import migrations
from kalshi_cli.store.errors import (
    NotAStateFile,
    StateFileLocked,
    StateFileMissing,
    StateFileUnwritable,
    StoreError,
)
from kalshi_cli.vocabulary.clock import Clock
from kalshi_cli.vocabulary.files import fsync_path

BUSY_TIMEOUT_SECONDS = 10.0
# A big import leaves a big WAL; after the next checkpoint SQLite truncates it back to this.
_JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
# Enough to keep the fill_id index's hot pages while a million fills go in (8 MB took a third
# longer); small enough that a full `pnl` scan stays far under its memory budget.
CACHE_KIB = 32 * 1024
# A trade loop's: it runs for weeks, each write touches a few pages (a table's newest, an
# index's leaf), and the file outgrows any cache; a page missed is read from the OS's cache.
LOOP_CACHE_KIB = 2 * 1024

# a database in its connection's memory, gone when it closes (a backtest's state: `Store.in_memory`)
IN_MEMORY = Path(":memory:")

_FULL = 2  # `PRAGMA synchronous`'s FULL
APPLIED_SQL = "SELECT name, applied_at FROM schema_migrations ORDER BY rowid"
INTENT_DURABILITIES = ("full", "normal")


class Database:
    """One open connection to the state file and the primitives over it: the `Store` owns
    it, and every repository of the store is handed the same one, so a transaction opened
    through any of them spans them all (one connection, one depth of nesting)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Clock) -> None:
        self.conn = conn
        self.path = path
        self.clock = clock
        self.depth = 0  # transactions open: 0 outside, 1 in BEGIN, more in savepoints
        self.intent_durability = "full"  # see the module docstring
        # transactions ended by a rollback (or a failed commit): what a repository keeps of
        # the file's rows is good only while this has not moved (`TradingStateRepository`)
        self.rolled_back = 0
        # write transactions begun (BEGIN IMMEDIATE): which one is open, when one is
        self.begun = 0
        # only this connection can write the file (`Store.open(exclusive=True)`)
        self.exclusive = False
        # what to do once the open transaction commits (`Store.when_committed`)
        self.on_commit: list[Callable[[], None]] = []
        # the orders' history for people (`order_history`, `orders.amend_sent_at`) is written:
        # False only in a replay nobody keeps, where nothing reads it (`Store.in_memory`), which
        # holds its amends in flight in the process, not in `amends_in_flight` (`OrderRepository`)
        self.for_people = True

    def intent_sync(self) -> AbstractContextManager[None]:
        """The synchronous mode for a pending intent's own commit: NORMAL inside the block
        when `intent_durability` is "normal" and the block is not inside a transaction (whose
        commit is the outer one's), FULL again after it."""
        if self.intent_durability == "full" or self.depth:
            return _UNCHANGED  # no statement: an order's intent is written before every order
        if self.intent_durability not in INTENT_DURABILITIES:
            raise ValueError(f"intent durability is one of {INTENT_DURABILITIES}")
        return self._normal_sync()

    def lazy_sync(self) -> AbstractContextManager[None]:
        """The synchronous mode for a write whose loss costs only work done again (a catch-up's
        cursor: lost, the next catch-up lists from the one before): NORMAL inside the block on a
        file at FULL, outside a transaction, so its commit reaches the WAL without a sync of its
        own and the next commit at FULL (an order's intent) makes it durable with its own; FULL
        again after it. A scratch file (OFF) is left as it is."""
        if self.depth or self.rows("PRAGMA synchronous") != [(_FULL,)]:
            return _UNCHANGED
        return self._normal_sync()

    @contextmanager
    def _normal_sync(self) -> Iterator[None]:
        self.rows("PRAGMA synchronous = NORMAL")
        try:
            yield
        finally:
            self.rows("PRAGMA synchronous = FULL")

    @contextmanager
    def busy_timeout(self, seconds: float) -> Iterator[None]:
        """Inside the block, wait at most `seconds` for another writer's lock (instead of the
        usual BUSY_TIMEOUT_SECONDS)."""
        self.rows(f"PRAGMA busy_timeout = {max(0, int(seconds * 1000))}")
        try:
            yield
        finally:
            self.rows(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")

    def transaction(self) -> Transaction:
        """Related writes, all or nothing. Nested blocks become savepoints."""
        return Transaction(self)

    def write(self, sql: str, params: Sequence[object]) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise wrap_error(exc, self.path) from exc

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise wrap_error(exc, self.path) from exc

    def stream(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        """A cursor over `sql` fetching a thousand rows at a time: for a reader that streams
        (a million fills) at flat memory."""
        try:
            cursor = self.conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise wrap_error(exc, self.path) from exc
        cursor.arraysize = 1000
        return cursor

    def newest(
        self, sql: str, params: Sequence[object], order: str, limit: int | None
    ) -> list[Any]:
        """Rows of `sql` oldest first by `order`; with a limit, only the newest `limit`."""
        if limit is None:
            return self.rows(f"{sql} ORDER BY {order}", params)
        descending = ", ".join(f"{c.strip()} DESC" for c in order.split(","))
        return list(reversed(self.rows(f"{sql} ORDER BY {descending} LIMIT ?", [*params, limit])))


class Transaction:
    """`Database.transaction`'s block: BEGIN IMMEDIATE (or a savepoint when nested) on entry,
    COMMIT (RELEASE) on a clean exit, ROLLBACK (TO the savepoint) on an exception, an SQLite
    error raised as the store's. A class, not a generator: every order action opens one or
    two, and a generator's context manager costs several calls more each."""

    __slots__ = ("_db", "_savepoint", "_told")

    def __init__(self, db: Database) -> None:
        self._db = db
        self._savepoint: str | None = None
        self._told = 0  # `db.on_commit`'s length at entry: a savepoint's own are after it

    def __enter__(self) -> None:
        db = self._db
        savepoint = self._savepoint = f"sp{db.depth}" if db.depth else None
        try:
            db.conn.execute(f"SAVEPOINT {savepoint}" if savepoint else "BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise wrap_error(exc, db.path) from exc
        if not savepoint:
            db.begun += 1
        db.depth += 1
        self._told = len(db.on_commit)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        db, conn, savepoint = self._db, self._db.conn, self._savepoint
        db.depth -= 1
        if exc is not None:
            db.rolled_back += 1
            del db.on_commit[self._told :]  # what it wrote is undone: nothing of it is told
            if savepoint and conn.in_transaction:
                conn.execute(f"ROLLBACK TO {savepoint}")
                conn.execute(f"RELEASE {savepoint}")
            # an error such as SQLITE_FULL may have rolled the whole transaction back already:
            # its savepoints are gone, and the error to report is that one
            elif not savepoint and conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise wrap_error(exc, db.path) from exc
            return  # the exception goes on as it was
        try:
            conn.execute(f"RELEASE {savepoint}" if savepoint else "COMMIT")
        except sqlite3.Error as error:
            db.rolled_back += 1
            del db.on_commit[self._told :]
            if not savepoint and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise wrap_error(error, db.path) from error
        if not savepoint and db.on_commit:
            calls, db.on_commit = db.on_commit, []
            for call in calls:
                call()


_UNCHANGED = nullcontext()


def create_state_file(
    path: Path, clock: Clock, claim: Callable[[tuple[int, int]], None] | None = None
) -> list[str]:
    """Make a new state file at `path`, which did not exist; return the migrations applied to it
    (none when another process made it first).

    It is built under a temporary name beside `path` and hard-linked into place, which fails if a
    file appeared there meanwhile: `path` only ever holds a whole state file, and of two processes
    creating it at once, one wins and the other opens the winner's file. `claim` is given the new
    file's identity (`file_identity`) before anything is written to it or it has a name anyone
    else knows; raising refuses the file, which is not made."""
    import tempfile  # here, not at the top: a read-only open (a cron check) never needs it

    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Created here so it is private from the start; SQLite gives the -wal and -shm files the
        # same permissions.
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
    except OSError as exc:
        raise _unwritable(path, exc) from exc
    draft = Path(name)
    try:
        try:
            if claim is not None:
                made = os.fstat(fd)
                claim((made.st_dev, made.st_ino))
        finally:
            os.close(fd)
        conn = connect(draft, "rw")
        try:
            # a draft no other process opens: built as a scratch file, no commit synced on its
            # own, and the whole file synced once below, before its name is linked
            configure(conn, readonly=False, durable=False, exclusive=True)
            applied = migrations.apply_pending(conn, clock.wall())
            # linked in WAL mode: its openers turning it to WAL each want the file's exclusive
            # lock, and two at once can each hold a shared lock the other waits for, which
            # SQLite refuses at once (`StateFileLocked`) rather than waiting out
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
        except migrations.MigrationError as exc:
            raise migration_failed(exc, path, f"creating state file {path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise wrap_error(exc, path) from exc
        finally:
            conn.close()
        try:
            fsync_path(draft)
            os.link(draft, path)
        except FileExistsError:
            return []  # another process made it first: open theirs
        except OSError as exc:
            raise _unwritable(path, exc) from exc
        _fsync_dir(path.parent)
        return applied
    finally:
        for leftover in (draft, Path(f"{draft}-wal"), Path(f"{draft}-shm")):
            with suppress(FileNotFoundError):
                leftover.unlink()


def file_identity(path: Path) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the file at `path` (a link followed), None when there is none: which
    file the path names, to compare with the one a connection opened."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _fsync_dir(directory: Path) -> None:
    # the new name must outlive a power cut as surely as what is written inside the file
    with suppress(OSError):
        fsync_path(directory)


_SQLITE_HEADER = b"SQLite format 3\x00"


def state_file_at(path: Path) -> bool:
    """Is there a state file at `path`? The one rule for every command that opens it, reads it
    or reports on it (`kalshi check`, `kalshi state`, `kalshi health-check`): False only when
    there is nothing at all there, the one case where a state file is made or a read-only
    command says there is none yet; True for a regular file, whose content `check_is_state_file`
    then checks; and anything else there is refused (NotAStateFile), as it cannot be one."""
    # A link whose target is gone is something: the state file it named was lost or moved (a
    # volume not mounted), and read as none it would be a quiet, empty history (no HALTED, no
    # orders), or get a new file made through it.
    if not os.path.lexists(path):
        return False
    # A directory cannot be read as one, and a FIFO would hold the open forever.
    if path.is_symlink() and not path.exists():
        raise _not_a_state_file(
            path, f"is a symbolic link to {os.readlink(path)}, which does not exist"
        )
    if path.is_dir():
        raise _not_a_state_file(path, "is a directory")
    if not path.is_file():
        raise _not_a_state_file(path, "is not a regular file")
    return True


def check_is_state_file(path: Path) -> None:
    """Refuse an empty file where the state file should be (what `state_file_at` found there);
    SQLite refuses one that is not a database (`refused_on_open`). Only a stat: opening and
    closing the file here would drop every POSIX lock this process holds on it, and another
    process closing would then delete the WAL under this one's connections (rows lost)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise StoreError(
            f"cannot read state file {path}: {exc.strerror or exc}", hint="check its permissions"
        ) from exc
    if not size:
        raise _not_a_state_file(path, "is empty")


def refused_on_open(exc: sqlite3.Error, path: Path) -> StoreError:
    """`exc`, met opening `path`, as the store's error; a file SQLite does not take for a
    database is named for what it is (its header read only then: nothing can be using it)."""
    if "not a database" in str(exc):
        with suppress(OSError), path.open("rb") as f:
            if f.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
                return _not_a_state_file(path, "is not an SQLite database")
    return wrap_error(exc, path)


def check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse an SQLite database that kalshi-cli did not make: it has no migrations table."""
    ours = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if ours:
        return
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    raise _not_a_state_file(
        path,
        "is an SQLite database with no tables"
        if not tables
        else "is an SQLite database of another program (no schema_migrations table)",
    )


def _not_a_state_file(path: Path, what: str) -> NotAStateFile:
    return NotAStateFile(
        f"{path} {what}: not a kalshi state file, left untouched",
        hint="restore the state file from a backup, or move this file aside to start a new, "
        "empty one",
    )


def _unwritable(path: Path, exc: OSError) -> StoreError:
    reason = f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc)
    return StoreError(
        f"cannot create state file {path}: {reason}",
        hint="check that its directory can be created and written, or choose another --state",
    )


def connect(path: Path, mode: str) -> sqlite3.Connection:
    # A URI with an explicit mode: "rw" and "ro" fail on a missing file instead of creating it.
    uri = ":memory:" if path == IN_MEMORY else f"{path.absolute().as_uri()}?mode={mode}"
    try:
        return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS)
    except sqlite3.Error as exc:
        raise wrap_error(exc, path) from exc


def configure(
    conn: sqlite3.Connection,
    *,
    readonly: bool,
    durable: bool = True,
    exclusive: bool = False,
    cache_kib: int = CACHE_KIB,
) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
    if readonly:
        # forces SQLite to read the header, so a non-database fails here rather than later
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return
    if exclusive:
        # set first, so no shared-memory index is made for other connections; the empty write
        # transaction takes the file's lock, which the connection then holds until it closes
        conn.execute("PRAGMA locking_mode = EXCLUSIVE").fetchone()
    # WAL lets readers read beside the writer; a scratch file no other connection may open
    # has none, and its loss costs nothing: its rollback journal is kept in memory, so a
    # commit writes each changed page once, to the file, and not a second time from the WAL
    # (a crash of the process may then leave it damaged, as `durable=False` allows)
    scratch = exclusive and not durable
    conn.execute(f"PRAGMA journal_mode = {'MEMORY' if scratch else 'WAL'}").fetchone()
    if exclusive:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("COMMIT")
    conn.execute("PRAGMA synchronous = FULL" if durable else "PRAGMA synchronous = OFF")
    conn.execute(f"PRAGMA journal_size_limit = {_JOURNAL_SIZE_LIMIT}")


def migration_failed(
    exc: Exception, path: Path, message: str, hint: str | None = None
) -> StoreError:
    """A migration that failed: the machine's fault (the disk full, read-only) as such, so it
    exits as one (`StateFileUnwritable`); any other as the state file's own trouble."""
    cause = exc.__cause__
    if isinstance(cause, sqlite3.Error):
        wrapped = wrap_error(cause, path)
        if isinstance(wrapped, StateFileUnwritable):
            return wrapped
    return StoreError(message, hint=hint)


def wrap_error(exc: sqlite3.Error, path: Path) -> StoreError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StateFileLocked(
            f"state file {path} is locked by another process",
            hint="another kalshi process is writing it; try again",
        )
    if "readonly" in text or "read-only" in text:
        return StateFileUnwritable(
            f"state file {path} is open read-only: {text}",
            hint="make the file and its directory writable by this user",
        )
    if "full" in text or "disk I/O error" in text:
        return StateFileUnwritable(
            f"state file {path}: {text}", hint="free space on its disk, or check the disk"
        )
    if "not a database" in text or "malformed" in text:
        return NotAStateFile(
            f"{path} is not a usable state file: {text}",
            hint="`kalshi health-check` runs an integrity check; point --state elsewhere",
        )
    if "unable to open" in text:
        return StateFileUnwritable(
            f"cannot open state file {path}: {text}", hint="check its permissions"
        )
    return StoreError(f"state file {path}: {text}")


def missing_error(path: Path) -> StateFileMissing:
    return StateFileMissing(
        f"no state file at {path}",
        hint="nothing has been recorded for this environment yet; check --env and --state",
    )

"""The state file: one SQLite database per environment, the only place sqlite3 is used.

`Store` owns the one connection (opening, migrating, transactions, closing, and the errors SQLite's
failures become) and has one repository per family of records: `store.orders`, `.fills`,
`.settlements`, `.trading`, `.alerts`, `.entries`, `.audit` and `.retention`. They share the
connection, so a `store.transaction()` over several is one commit. This module keeps what concerns
the file as a whole, and the one write that reads across families (`record_intent_if_allowed`).
docs/state-file.md has the tables, the rules and an example.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from kalshi_cli.store import migrations
from kalshi_cli.store.alert_state import AlertStateRepository
from kalshi_cli.store.audit import AuditRepository
from kalshi_cli.store.connection import (
    APPLIED_SQL,
    CACHE_KIB,
    IN_MEMORY,
    Database,
    check_is_state_file,
    check_schema,
    configure,
    connect,
    create_state_file,
    file_identity,
    migration_failed,
    missing_error,
    refused_on_open,
    state_file_at,
    wrap_error,
)
from kalshi_cli.store.entries import EntryRepository
from kalshi_cli.store.errors import StoreError
from kalshi_cli.store.fills import FillRepository
from kalshi_cli.store.leg_sets import LegSetRepository
from kalshi_cli.store.orders import OrderRepository
from kalshi_cli.store.paper import is_paper_state
from kalshi_cli.store.records import (
    AmendRecord,
    IntentRecord,
    MigrationReport,
    TradingStateRecord,
)
from kalshi_cli.store.retention import PruneReport, RetentionPolicy, RetentionRepository
from kalshi_cli.store.settlements import SettlementRepository
from kalshi_cli.store.trading import TradingStateRepository
from kalshi_cli.store.transfer_intents import TransferIntentRepository
from kalshi_cli.vocabulary.clock import Clock, SystemClock

T = TypeVar("T")


class Store:
    """One state file: its connection and a repository per family of records. Use
    `Store.open` or `Store.open_readonly`."""

    # the migrations this process applied when it opened the file (all of them for a new file)
    migrated_on_open: tuple[str, ...] = ()

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        clock: Clock,
        *,
        readonly: bool,
        exclusive: bool = False,
    ) -> None:
        self._conn = conn
        self._exclusive = exclusive
        # `data_version` as read, and in which write transaction (`Database.begun`; -1: none)
        self._version = 0
        self._version_in = -1
        # the file just opened, as the path named it then (`left_its_path`)
        self.identity = file_identity(path)
        self._db = db = Database(conn, path, clock)
        db.exclusive = exclusive
        self.path = path
        self.clock = clock
        self.readonly = readonly
        # a paper session's state file (store/paper.py): no read command copies the
        # exchange's fills into it or compares it with the account
        self.paper = is_paper_state(path)
        self.orders = OrderRepository(db)
        self.fills = FillRepository(db)
        self.settlements = SettlementRepository(db)
        self.trading = TradingStateRepository(db, self.settlements)
        self.alerts = AlertStateRepository(db)
        self.entries = EntryRepository(db)
        self.retention = RetentionRepository(db)
        self.audit = AuditRepository(db)
        self.leg_sets = LegSetRepository(db)
        self.transfer_intents = TransferIntentRepository(db)

    # ------------------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        clock: Clock | None = None,
        create: bool = True,
        durable: bool = True,
        exclusive: bool = False,
        migrate: bool = True,
        cache_kib: int = CACHE_KIB,
        claim: Callable[[tuple[int, int]], None] | None = None,
    ) -> Store:
        """Open (and with `create`, create) the state file and apply pending migrations.

        `durable=False`: a scratch file whose loss costs nothing (a backtest's); commits are not
        fsynced (`synchronous=OFF`). `exclusive=True`: SQLite's lock is held until `close`, so any
        other connection is refused (`StateFileLocked`) and this one never looks for their commits;
        with `durable=False` too, there is no WAL.

        `create=False`: for commands that only read; a missing file raises StateFileMissing and
        nothing is created. A file that exists but is not a state file raises NotAStateFile and is
        left alone.

        `migrate=False`: for a writer that must not hold the write lock for a migration under a loop
        of the version before; a file that needs migrating raises StoreError. A new file is made
        whole.

        `cache_kib`: the most of the file's pages the connection keeps in memory (a trade loop's
        is LOOP_CACHE_KIB).

        `claim`: given the identity (`file_identity`) of the file before this process writes to
        it (a new file's before it is linked at its name) or connects to it; raising refuses
        the open (a trade loop's lock on the file under every name, runner/lifecycle/lock.py)."""
        path = Path(path).expanduser()
        clock = clock or SystemClock()
        if not state_file_at(path):
            if not create:
                raise missing_error(path)
            migrated = create_state_file(path, clock, claim)
        else:
            migrated = []
        check_is_state_file(path)
        identity = file_identity(path)
        if claim is not None and identity is not None:
            claim(identity)  # the file another process made first, or the one there already
        conn = connect(path, "rw")
        with _closed_unless_opened(conn, path):
            check_schema(conn, path)  # before WAL mode is set, which writes the header
            configure(
                conn, readonly=False, durable=durable, exclusive=exclusive, cache_kib=cache_kib
            )
            if migrate:
                migrated += _migrate(conn, path, clock)
            else:
                _refuse_pending(conn, path)
        store = cls(conn, path, clock, readonly=False, exclusive=exclusive)
        store.migrated_on_open = tuple(migrated)
        return store

    @classmethod
    def in_memory(cls, *, clock: Clock, kept: bool = True) -> Store:
        """A state database held in this process's memory (a backtest's): the same schema and
        repositories as a file, written by the same code, but no write reaches a disk; `backup_to`
        saves it as a state file. Nobody else can open it, so it is held as `exclusive`.
        `kept=False`: it is never saved, so what only a person reads of a saved file (each
        order's history, when it was last amended) is not written; nothing in a replay reads
        it, and it was two of an amend's statements in nine. Nor is an amend's record in flight:
        no crash leaves one in doubt in a database that dies with its process, so it is held
        in the process (two more of the nine, its insert and the answer's delete)."""
        conn = connect(IN_MEMORY, "rw")
        try:
            configure(conn, readonly=False, durable=False, exclusive=True)
            migrated = migrations.apply_pending(conn, clock.wall())
        except BaseException:
            conn.close()
            raise
        store = cls(conn, IN_MEMORY, clock, readonly=False, exclusive=True)
        store.migrated_on_open = tuple(migrated)
        store._db.for_people = kept
        return store

    @classmethod
    def migrate(cls, path: Path, *, clock: Clock | None = None) -> MigrationReport:
        """Create the state file if there is none and apply its pending migrations (what
        every `open` does), reporting each known migration with when it was applied and which
        of them this call applied: `kalshi state migrate`."""
        with cls.open(path, clock=clock) as store:
            return MigrationReport(store.migration_status(), list(store.migrated_on_open))

    @classmethod
    def prune(
        cls,
        path: Path,
        policy: RetentionPolicy,
        *,
        agent_strategy: str,
        dry_run: bool = False,
        clock: Clock | None = None,
    ) -> PruneReport:
        """Apply the retention policy to the state file at `path` (`kalshi state prune`), the
        orders of the day of the assistant's `agent_strategy` kept; on a dry run only count. No
        file there: nothing to prune (none is created)."""
        if not state_file_at(Path(path).expanduser()):
            return PruneReport(dry_run)
        with cls.open(path, clock=clock, create=False) as store:
            return store.retention.prune(policy, agent_strategy=agent_strategy, dry_run=dry_run)

    @classmethod
    def open_readonly(cls, path: Path, *, clock: Clock | None = None) -> Store | None:
        """A read-only connection, or None when there is no state file. Never creates anything
        and never migrates: a file that needs migrating raises StoreError, a file that is not
        a state file raises NotAStateFile."""
        path = Path(path).expanduser()
        if not state_file_at(path):
            # only nothing at all is "no state file": a directory or a link to nothing there
            # is a broken one, refused
            return None
        check_is_state_file(path)
        conn = connect(path, "ro")
        with _closed_unless_opened(conn, path):
            configure(conn, readonly=True)
            check_schema(conn, path)
            _refuse_pending(conn, path)
        return cls(conn, path, clock or SystemClock(), readonly=True)

    @classmethod
    def read(
        cls, path: Path, read: Callable[[Store], T], *, clock: Clock | None = None
    ) -> T | None:
        """`read` of the state file at `path` opened read only (`open_readonly`); None when
        there is no state file or it cannot be opened."""
        try:
            store = cls.open_readonly(path, clock=clock)
        except StoreError:
            return None
        if store is None:
            return None
        with store:
            return read(store)

    def backup_to(self, target: Path) -> None:
        """A consistent copy of the whole file at `target` (SQLite's online backup: a copy of
        the bytes could catch a transaction half-written), mode 600 as the file itself. A store
        made not to be kept (`in_memory(kept=False)`) lacks its orders' history: refused."""
        import sqlite3

        if not self._db.for_people:
            raise ValueError("a store made not to be kept has no order history to save")
        try:
            copy = sqlite3.connect(target)
            try:
                self._conn.backup(copy)
            finally:
                copy.close()
        except sqlite3.Error as exc:
            raise wrap_error(exc, target) from exc
        target.chmod(0o600)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------- the connection

    @property
    def intent_durability(self) -> str:
        """ "full" (the default) or "normal": whether a pending intent's own commit is fsynced
        (see `connection.py`)."""
        return self._db.intent_durability

    @intent_durability.setter
    def intent_durability(self, value: str) -> None:
        self._db.intent_durability = value

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Related writes, all or nothing, whichever repositories make them. Nested blocks
        (a repository's own transaction inside one) become savepoints."""
        return self._db.transaction()

    def when_committed(self, call: Callable[[], None]) -> None:
        """`call` once what was written so far is committed: at once outside a transaction,
        after the outermost COMMIT inside one, never if that transaction (or the savepoint it
        was asked in) rolls back. For telling of a write (a log line, an alert) only when
        another process can read it. Calls run in the order asked."""
        if self._db.depth:
            self._db.on_commit.append(call)
        else:
            call()

    def busy_timeout(self, seconds: float) -> contextlib.AbstractContextManager[None]:
        """Inside the block, wait at most `seconds` for another writer's lock (instead of the
        usual BUSY_TIMEOUT_SECONDS): for a caller that has something more urgent to do than
        wait, like the kill switch, whose cancels must not queue behind a stuck writer."""
        return self._db.busy_timeout(seconds)

    def data_version(self) -> int:
        """`PRAGMA data_version`: changes when another connection commits to the file, never for
        this connection's writes (those move `total_changes`). Not read on an `exclusive` file;
        inside a transaction read once."""
        if self._exclusive:
            return 0
        db = self._db
        if db.depth and self._version_in == db.begun:
            return self._version
        self._version = int(db.rows("PRAGMA data_version")[0][0])
        self._version_in = db.begun if db.depth else -1
        return self._version

    def left_its_path(self) -> str | None:
        """Why the file this connection has open is no longer the one its path names (None
        while it is): another process opening the path (`kalshi halt`) then writes a file this
        connection never reads. A file held `exclusive` is nobody else's."""
        if self._exclusive or self.identity is None:
            return None  # asked every pass: no stat of a file that cannot be another's
        now = file_identity(self.path)
        if now == self.identity:
            return None
        what = "deleted or moved away" if now is None else "replaced by another file"
        return f"state file {self.path} was {what}"

    @property
    def rolled_back(self) -> int:
        """Transactions (and savepoints) of this connection ended by a rollback or a failed
        commit: an answer read while this has not moved since is still the file's, even one
        read inside a transaction."""
        return self._db.rolled_back

    @property
    def total_changes(self) -> int:
        """Rows this connection has inserted, updated or deleted since it was opened (rolled
        back or not): it moves with every write of this connection."""
        try:
            return self._conn.total_changes
        except sqlite3.Error as exc:  # a closed connection
            raise wrap_error(exc, self.path) from exc

    @property
    def in_transaction(self) -> bool:
        """A transaction of this connection is open: what it reads may yet be rolled back."""
        return self._conn.in_transaction

    # ------------------------------------------------------------------------------ schema

    def applied_migrations(self) -> list[tuple[str, float]]:
        return [(str(n), float(at)) for n, at in self._db.rows(APPLIED_SQL)]

    @staticmethod
    def known_migrations() -> list[str]:
        return [m.name for m in migrations.MIGRATIONS]

    def migration_status(self) -> list[tuple[str, float | None]]:
        """Every known migration with when it was applied (None: not yet), for
        `kalshi state migrate --list`."""
        done = dict(self.applied_migrations())
        return [(name, done.get(name)) for name in self.known_migrations()]

    def integrity_check(self) -> str:
        """`PRAGMA integrity_check`: "ok", or the problems it found, one per line."""
        return "\n".join(str(row[0]) for row in self._db.rows("PRAGMA integrity_check"))

    # ------------------------------------------------------------- across two table groups

    def record_amend_if_allowed(
        self,
        order_id: str,
        *,
        price: Decimal,
        rest: Decimal,
        post_only: bool | None,
        allowed: Callable[[TradingStateRecord], None],
    ) -> AmendRecord | None:
        """An amend about to be sent, recorded in flight (`OrderRepository.write_amend`: its
        record, with the new total it names; None when no order by that id rests here), with
        the trading state read inside the same write transaction as for a new order: a new
        price or size can add exposure, so it is written, and sent, only while the state
        allows it. A replay nobody keeps opens no transaction for it: the record is held in the
        process (`HeldAmends`), nothing is written, and no other connection can reach its
        database to write a state between the read and the record."""
        if not self._db.for_people:
            allowed(self.trading.trading_state())
            return self.orders.write_amend(order_id, price=price, rest=rest, post_only=post_only)
        with self._db.intent_sync(), self._db.transaction():
            allowed(self.trading.trading_state())
            return self.orders.write_amend(order_id, price=price, rest=rest, post_only=post_only)

    def record_intent_if_allowed(
        self, intent: IntentRecord, allowed: Callable[[TradingStateRecord], None]
    ) -> IntentRecord:
        """`record_intent`, with the trading state read inside the same write transaction:
        `allowed(state)` raises to refuse, and then nothing is written. The transaction holds
        the state file's write lock from the read to the commit, so no HALTED (the kill switch,
        another connection) can be written in between: an intent, and so an order, exists only
        if it was recorded while the state allowed it."""
        with self._db.intent_sync(), self._db.transaction():
            allowed(self.trading.trading_state())
            return self.orders.write_intent(intent)


@contextlib.contextmanager
def _closed_unless_opened(conn: sqlite3.Connection, path: Path) -> Iterator[None]:
    """The checks of a state file being opened: whatever they raise closes the connection
    first, and an SQLite error is refused as the file's (`refused_on_open`)."""
    try:
        yield
    except sqlite3.Error as exc:
        conn.close()
        raise refused_on_open(exc, path) from exc
    except BaseException:
        conn.close()
        raise


def _migrate(conn: sqlite3.Connection, path: Path, clock: Clock) -> list[str]:
    """Apply the pending migrations; one that fails is refused naming the file."""
    try:
        return migrations.apply_pending(conn, clock.wall())
    except migrations.MigrationError as exc:
        raise migration_failed(
            exc,
            path,
            f"state file {path}: {exc}",
            hint="upgrade kalshi-cli or use another --state",
        ) from exc


def _refuse_pending(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a file that needs migrating, for an open that does not migrate, and one recording
    a migration this version does not know (it is from a newer version). A pending migration
    this version does not need (`Migration.needed`: an index) is left to the next that migrates."""
    try:
        recorded = [name for name, _ in migrations.applied(conn)]
        migrations.check_known(recorded, migrations.MIGRATIONS)
    except migrations.MigrationError as exc:
        raise StoreError(f"state file {path}: {exc}", hint="upgrade kalshi-cli") from exc
    todo = migrations.needed_pending(conn)
    if todo:
        raise StoreError(
            f"state file {path} needs migration(s): {', '.join(todo)}",
            hint="run `kalshi state migrate`",
        )

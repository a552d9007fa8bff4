"""The state file: one SQLite database per environment, the only place sqlite3 is used.

`Store` is a facade: one class whose methods are grouped by the tables they serve, each group a
module of this package (a mixin over `connection.StoreBase`):

    connection.py   creating, opening, configuring; transactions, busy timeout (its docstring
                    holds the durability, transaction and thread rules)
    orders.py       intents and their history            (orders, order_history)
    fills.py        fills                                (fills)
    settlements.py  settlements and the day's P&L        (settlements)
    trading.py      trading state and risk trips         (trading_state*, risk_trips)
    alert_state.py  alert de-duplication state and log   (alerts, alert_log)
    events.py       heartbeats, key-value, event log     (heartbeats, kv, events)
    values.py       how Decimals, times and JSON are written and read back
    migrations.py   the named schema migrations

This module keeps what concerns the file as a whole: opening it, its migrations and its
integrity. A new table group is a new mixin module added to the bases of `Store`; a new method
goes to the module of the tables it touches.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from kalshi_cli.clock import Clock, SystemClock
from kalshi_cli.store import migrations
from kalshi_cli.store.alert_state import AlertStateMixin
from kalshi_cli.store.connection import (
    APPLIED_SQL,
    BUSY_TIMEOUT_SECONDS,
    StoreBase,
    check_is_state_file,
    check_schema,
    configure,
    connect,
    create_state_file,
    missing_error,
    wrap_error,
)
from kalshi_cli.store.errors import (
    DuplicateIntentError,
    InvalidTransition,
    NotAStateFile,
    OrderNotFound,
    StateFileMissing,
    StoreError,
)
from kalshi_cli.store.events import EventsMixin
from kalshi_cli.store.fills import FillsMixin
from kalshi_cli.store.orders import OrdersMixin
from kalshi_cli.store.records import IntentRecord, MigrationReport, TradingStateRecord
from kalshi_cli.store.settlements import SettlementsMixin
from kalshi_cli.store.trading import TradingStateMixin

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "DuplicateIntentError",
    "InvalidTransition",
    "NotAStateFile",
    "OrderNotFound",
    "StateFileMissing",
    "Store",
    "StoreError",
]


class Store(
    OrdersMixin,
    FillsMixin,
    SettlementsMixin,
    TradingStateMixin,
    AlertStateMixin,
    EventsMixin,
    StoreBase,
):
    """Domain methods over one state file. Use `Store.open` or `Store.open_readonly`."""

    # the migrations this process applied when it opened the file (all of them for a new file)
    migrated_on_open: tuple[str, ...] = ()

    # ------------------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls, path: Path, *, clock: Clock | None = None, create: bool = True, durable: bool = True
    ) -> Store:
        """Open (and with `create`, create) the state file and apply pending migrations.

        `durable=False` is for a scratch state file whose loss costs nothing (a backtest's):
        commits are not fsynced (`synchronous=OFF`), which makes each one about a hundred
        times cheaper; a crash of the machine may then lose or damage it.

        `create=False` is for commands that only read: a missing file raises StateFileMissing
        and neither the file nor its directory is created. A file that exists but is not a
        state file (empty, not SQLite, or another program's database) raises NotAStateFile and
        is left as it is: only a path where no file exists gets a new state file.
        """
        path = Path(path).expanduser()
        clock = clock or SystemClock()
        if not path.exists():
            if not create:
                raise missing_error(path)
            migrated = create_state_file(path, clock)
        else:
            migrated = []
        check_is_state_file(path)
        conn = connect(path, "rw")
        try:
            check_schema(conn, path)  # before WAL mode is set, which writes the header
            configure(conn, readonly=False, durable=durable)
            migrated += migrations.apply_pending(conn, clock.wall())
        except migrations.MigrationError as exc:
            conn.close()
            raise StoreError(
                f"state file {path}: {exc}", hint="upgrade kalshi-cli or use another --state"
            ) from exc
        except sqlite3.Error as exc:
            conn.close()
            raise wrap_error(exc, path) from exc
        except BaseException:
            conn.close()
            raise
        store = cls(conn, path, clock, readonly=False)
        store.migrated_on_open = tuple(migrated)
        return store

    @classmethod
    def migrate(cls, path: Path, *, clock: Clock | None = None) -> MigrationReport:
        """Create the state file if there is none and apply its pending migrations (what
        every `open` does), reporting each known migration with when it was applied and which
        of them this call applied: `kalshi state migrate`."""
        with cls.open(path, clock=clock) as store:
            return MigrationReport(store.migration_status(), list(store.migrated_on_open))

    @classmethod
    def open_readonly(cls, path: Path, *, clock: Clock | None = None) -> Store | None:
        """A read-only connection, or None when there is no state file. Never creates anything
        and never migrates: a file that needs migrating raises StoreError, a file that is not
        a state file raises NotAStateFile."""
        path = Path(path).expanduser()
        if not path.is_file():
            return None
        check_is_state_file(path)
        conn = connect(path, "ro")
        try:
            configure(conn, readonly=True)
            check_schema(conn, path)
            recorded = [name for name, _ in migrations.applied(conn)]
            migrations.check_known(recorded, migrations.MIGRATIONS)
            todo = migrations.pending(conn)
        except migrations.MigrationError as exc:
            conn.close()
            raise StoreError(f"state file {path}: {exc}", hint="upgrade kalshi-cli") from exc
        except sqlite3.Error as exc:
            conn.close()
            raise wrap_error(exc, path) from exc
        except BaseException:
            conn.close()
            raise
        if todo:
            conn.close()
            raise StoreError(
                f"state file {path} needs migration(s): {', '.join(todo)}",
                hint="run `kalshi state migrate`",
            )
        return cls(conn, path, clock or SystemClock(), readonly=True)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------ schema

    def applied_migrations(self) -> list[tuple[str, float]]:
        return [(str(n), float(at)) for n, at in self._rows(APPLIED_SQL)]

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
        return "\n".join(str(row[0]) for row in self._rows("PRAGMA integrity_check"))

    # ------------------------------------------------------------- across two table groups

    def record_intent_if_allowed(
        self, intent: IntentRecord, allowed: Callable[[TradingStateRecord], None]
    ) -> IntentRecord:
        """`record_intent`, with the trading state read inside the same write transaction:
        `allowed(state)` raises to refuse, and then nothing is written. The transaction holds
        the state file's write lock from the read to the commit, so no HALTED (the kill switch,
        another connection) can be written in between: an intent, and so an order, exists only
        if it was recorded while the state allowed it."""
        with self._intent_sync(), self.transaction():
            allowed(self.trading_state())
            return self.record_intent(intent)

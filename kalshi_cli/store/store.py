"""The state file: one SQLite database per environment, the only place sqlite3 is used.

Durability. The file runs in WAL mode with `synchronous=FULL`. WAL lets a cron check read while
the trade loop writes, and a process killed with SIGKILL loses nothing that was committed (the
WAL is already in the OS). FULL adds an fsync of the WAL at every commit, so a committed write
also survives a power cut or a kernel crash; NORMAL would leave the last commits exposed to that
until the next checkpoint. For a money ledger whose first rule is "the intent is on disk before
the order leaves" that fsync (a fraction of a millisecond on an SSD) is the right trade, and the
hot paths stay cheap anyway: a heartbeat or an event is one autocommitted statement, and a batch
of fills is one `executemany` in one transaction.

Transactions. The connection is in autocommit mode (`isolation_level=None`), so every single
statement commits on its own and nothing is ever left pending by accident. Writes that belong
together use `Store.transaction()`, which takes the write lock up front (`BEGIN IMMEDIATE`, so two
writers never deadlock upgrading a read lock) and nests as SAVEPOINTs: an inner block that fails
is undone without undoing the outer one. `busy_timeout` makes a second process wait for the lock
instead of failing at once.

Threads. A Store holds one connection and is used from the thread that opened it (sqlite3
enforces this). A thread that needs the state file opens its own Store on the same path.

Values. Money and counts are stored as TEXT in a canonical Decimal form (no exponent, no
trailing zeros: "0.56", "0.005", "10", "-1.5") and come back as Decimal; a float is refused at
the door. Times are REAL unix seconds from the injected clock.

Order statuses. An intent is written `pending` before its request is sent. While its outcome is
not known (`pending` or `unknown`) the placing code records the answer with `mark_sent`,
`mark_rejected` or `mark_unknown`; any other use of those is refused as a bug. Afterwards
`update_order` copies what the exchange says, whatever it is, because the exchange is the truth
(the kill switch and reconciliation depend on that). Every change also appends a row to
`order_history` in the same transaction.

Lists are returned oldest first; a `limit` keeps the newest N of them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from kalshi_cli.clock import Clock, SystemClock, utc_datetime
from kalshi_cli.errors import KalshiError
from kalshi_cli.exit_codes import ExitCode
from kalshi_cli.models import ONE, ZERO, Action, BookSide, Side, to_book
from kalshi_cli.store import migrations
from kalshi_cli.store.records import (
    ORDER_STATUSES,
    PENDING,
    REJECTED,
    RESTING,
    SENT_STATUSES,
    TRADING_STATES,
    UNKNOWN,
    AlertLogRecord,
    AlertStateRecord,
    EventRecord,
    FillRecord,
    HeartbeatRecord,
    IntentRecord,
    OrderHistoryRecord,
    RiskTripRecord,
    SettlementRecord,
    TradingStateRecord,
)

BUSY_TIMEOUT_SECONDS = 10.0
# A big import leaves a big WAL; after the next checkpoint SQLite truncates it back to this.
_JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
# Enough to keep the fill_id index's hot pages while a million fills go in (8 MB took a third
# longer); small enough that a full `pnl` scan stays far under its memory budget.
_CACHE_KIB = 32 * 1024
_DAY = 86_400.0
_AWAITING_ANSWER = (PENDING, UNKNOWN)


class StoreError(KalshiError):
    """The state file could not be used as asked."""


class StateFileMissing(StoreError):
    """A read-only command found no state file; it never creates one."""


class NotAStateFile(StoreError):
    """A file exists where the state file should be, but it is not one: empty, not SQLite, or
    a database without our migrations table. It is never rebuilt in place: an empty file is
    what a lost state file looks like, and a new one would forget HALTED and the day's trips."""

    exit_code = ExitCode.BAD_STATE_FILE


class DuplicateIntentError(StoreError):
    exit_code = ExitCode.REJECTED


class InvalidTransition(StoreError):
    """A `mark_*` call on an order whose outcome is already known: a bug in the caller."""


class OrderNotFound(StoreError):
    exit_code = ExitCode.NOT_FOUND


class Store:
    """Domain methods over one state file. Use `Store.open` or `Store.open_readonly`."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, clock: Clock, *, readonly: bool
    ) -> None:
        self._conn = conn
        self.path = path
        self.clock = clock
        self.readonly = readonly
        self._depth = 0

    # ------------------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: Path, *, clock: Clock | None = None, create: bool = True) -> Store:
        """Open (and with `create`, create) the state file and apply pending migrations.

        `create=False` is for commands that only read: a missing file raises StateFileMissing
        and neither the file nor its directory is created. A file that exists but is not a
        state file (empty, not SQLite, or another program's database) raises NotAStateFile and
        is left as it is: only a path where no file exists gets a new state file.
        """
        path = Path(path).expanduser()
        clock = clock or SystemClock()
        if not path.exists():
            if not create:
                raise _missing(path)
            _create(path, clock)
        _check_is_state_file(path)
        conn = _connect(path, "rw")
        try:
            _check_schema(conn, path)  # before WAL mode is set, which writes the header
            _configure(conn, readonly=False)
            migrations.apply_pending(conn, clock.wall())
        except migrations.MigrationError as exc:
            conn.close()
            raise StoreError(
                f"state file {path}: {exc}", hint="upgrade kalshi-cli or use another --state"
            ) from exc
        except sqlite3.Error as exc:
            conn.close()
            raise _wrap(exc, path) from exc
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, clock, readonly=False)

    @classmethod
    def open_readonly(cls, path: Path, *, clock: Clock | None = None) -> Store | None:
        """A read-only connection, or None when there is no state file. Never creates anything
        and never migrates: a file that needs migrating raises StoreError, a file that is not
        a state file raises NotAStateFile."""
        path = Path(path).expanduser()
        if not path.is_file():
            return None
        _check_is_state_file(path)
        conn = _connect(path, "ro")
        try:
            _configure(conn, readonly=True)
            _check_schema(conn, path)
            recorded = [name for name, _ in migrations.applied(conn)]
            migrations.check_known(recorded, migrations.MIGRATIONS)
            todo = migrations.pending(conn)
        except migrations.MigrationError as exc:
            conn.close()
            raise StoreError(f"state file {path}: {exc}", hint="upgrade kalshi-cli") from exc
        except sqlite3.Error as exc:
            conn.close()
            raise _wrap(exc, path) from exc
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
        return [(str(n), float(at)) for n, at in self._rows(_APPLIED_SQL)]  # float-ok: seconds

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

    @contextmanager
    def busy_timeout(self, seconds: float) -> Iterator[None]:  # float-ok: seconds
        """Inside the block, wait at most `seconds` for another writer's lock (instead of the
        usual BUSY_TIMEOUT_SECONDS): for a caller that has something more urgent to do than
        wait, like the kill switch, whose cancels must not queue behind a stuck writer."""
        self._rows(f"PRAGMA busy_timeout = {max(0, int(seconds * 1000))}")
        try:
            yield
        finally:
            self._rows(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Related writes, all or nothing. Nested blocks become savepoints."""
        conn = self._conn
        savepoint = f"sp{self._depth}" if self._depth else None
        try:
            conn.execute(f"SAVEPOINT {savepoint}" if savepoint else "BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc
        self._depth += 1
        try:
            yield
        except BaseException as exc:
            self._depth -= 1
            if savepoint:
                conn.execute(f"ROLLBACK TO {savepoint}")
                conn.execute(f"RELEASE {savepoint}")
            elif conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _wrap(exc, self.path) from exc
            raise
        self._depth -= 1
        try:
            conn.execute(f"RELEASE {savepoint}" if savepoint else "COMMIT")
        except sqlite3.Error as exc:
            if not savepoint and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise _wrap(exc, self.path) from exc

    # ------------------------------------------------------------------------------ intents

    def record_intent(self, intent: IntentRecord) -> IntentRecord:
        """Write an intent before its request is sent; returns it as stored (timestamps set).

        Raises DuplicateIntentError if the client_order_id (or order_id) is already known.
        """
        if intent.status != PENDING:
            raise ValueError(f"an intent is recorded as pending, not {intent.status!r}")
        if to_book(Side(intent.side), Action(intent.action), ZERO).book_side != intent.book_side:
            raise ValueError(
                f"{intent.side} {intent.action} is not book side {intent.book_side} "
                f"(intent {intent.client_order_id})"
            )
        if not ZERO < intent.price < ONE:
            raise ValueError(f"YES price {intent.price} is outside (0, 1)")
        if intent.count <= 0:
            raise ValueError(f"count {intent.count} must be positive")
        now = self.clock.wall()
        stored = replace(
            intent,
            created_at=intent.created_at or now,
            updated_at=intent.updated_at or intent.created_at or now,
        )
        row = (
            stored.client_order_id,
            stored.order_id,
            stored.ticker,
            BookSide(stored.book_side).value,
            _dec(stored.price),
            _dec(stored.count),
            Side(stored.side).value,
            Action(stored.action).value,
            PENDING,
            _dec(stored.filled),
            _opt_dec(stored.remaining),
            stored.strategy,
            _opt_dec(stored.model_fair),
            stored.reason,
            stored.error,
            stored.created_at,
            stored.updated_at,
            str(stored.time_in_force),
            int(stored.post_only),
            int(stored.reduce_only),
        )
        with self.transaction():
            try:
                self._conn.execute(_INSERT_ORDER_SQL, row)
            except sqlite3.IntegrityError as exc:
                raise DuplicateIntentError(
                    f"order {stored.client_order_id} ({stored.order_id or 'no order id'}) "
                    "is already in the state file",
                    hint="every intent needs a fresh client_order_id",
                ) from exc
            self._history(stored.client_order_id, "recorded", stored.created_at)
        return stored

    def mark_sent(
        self,
        client_order_id: str,
        *,
        order_id: str,
        status: str,
        fill_count: Decimal,
        remaining_count: Decimal,
    ) -> None:
        """The exchange accepted the order (status resting, executed or canceled)."""
        if status not in SENT_STATUSES:
            raise ValueError(f"mark_sent takes one of {SENT_STATUSES}, not {status!r}")
        self._answer(
            client_order_id,
            "sent",
            "order_id = ?, status = ?, filled = ?, remaining = ?, error = NULL",
            (order_id, status, _dec(fill_count), _dec(remaining_count)),
            note=None,
        )

    def mark_rejected(self, client_order_id: str, *, reason: str) -> None:
        """The exchange (or the network, before sending) clearly refused it."""
        self._answer(
            client_order_id, "rejected", "status = ?, error = ?", (REJECTED, reason), note=reason
        )

    def mark_unknown(self, client_order_id: str, *, reason: str) -> None:
        """Sent, and no answer came back: to be reconciled, never re-sent."""
        self._answer(
            client_order_id, "unknown", "status = ?, error = ?", (UNKNOWN, reason), note=reason
        )

    def update_order(
        self,
        *,
        client_order_id: str | None = None,
        order_id: str | None = None,
        status: str | None = None,
        fill_count: Decimal | None = None,
        remaining_count: Decimal | None = None,
        price: Decimal | None = None,
        count: Decimal | None = None,
    ) -> bool:
        """Copy the exchange's view of an order; True when a known order changed.

        The row is found by client_order_id when given (then `order_id` is set on it), else by
        order_id. An order the state file does not know is not an error (the kill switch
        cancels orders placed elsewhere): nothing happens and False is returned.
        """
        if client_order_id is None and order_id is None:
            raise ValueError("update_order needs a client_order_id or an order_id")
        if status is not None and (status not in ORDER_STATUSES or status == PENDING):
            raise ValueError(f"update_order cannot set status {status!r}")
        if price is not None and not ZERO < price < ONE:
            raise ValueError(f"YES price {price} is outside (0, 1)")
        wanted: dict[str, object] = {}
        if client_order_id is not None and order_id is not None:
            wanted["order_id"] = order_id
        if status is not None:
            wanted["status"] = status
        if fill_count is not None:
            wanted["filled"] = _dec(fill_count)
        if remaining_count is not None:
            wanted["remaining"] = _dec(remaining_count)
        if price is not None:
            wanted["price"] = _dec(price)
        if count is not None:
            wanted["count"] = _dec(count)
        columns = ", ".join(wanted)
        key_column, key = (
            ("client_order_id", client_order_id)
            if client_order_id is not None
            else ("order_id", order_id)
        )
        with self.transaction():
            row = self._conn.execute(
                f"SELECT client_order_id{', ' + columns if columns else ''} "  # noqa: S608
                f"FROM orders WHERE {key_column} = ?",
                (key,),
            ).fetchone()
            if row is None:
                return False
            coid = str(row[0])
            changed = {c: v for c, v in zip(wanted, row[1:], strict=True) if wanted[c] != v}
            if not changed:
                return False
            now = self.clock.wall()
            sets = ", ".join(f"{c} = ?" for c in changed)
            self._conn.execute(
                f"UPDATE orders SET {sets}, updated_at = ? WHERE client_order_id = ?",  # noqa: S608
                (*(wanted[c] for c in changed), now, coid),
            )
            self._history(coid, "update", now)
        return True

    def get_intent(self, client_order_id: str) -> IntentRecord | None:
        rows = self._rows(f"{_SELECT_ORDERS} WHERE client_order_id = ?", (client_order_id,))
        return _intent(rows[0]) if rows else None

    def intent_by_order_id(self, order_id: str) -> IntentRecord | None:
        rows = self._rows(f"{_SELECT_ORDERS} WHERE order_id = ?", (order_id,))
        return _intent(rows[0]) if rows else None

    def intents(
        self,
        *,
        status: str | list[str] | None = None,
        ticker: str | None = None,
        strategy: str | None = None,
        limit: int | None = None,
    ) -> list[IntentRecord]:
        where: list[str] = []
        params: list[object] = []
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            for s in statuses:
                if s not in ORDER_STATUSES:
                    raise ValueError(f"unknown order status {s!r}")
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        if ticker is not None:
            where.append("ticker = ?")
            params.append(ticker)
        if strategy is not None:
            where.append("strategy = ?")
            params.append(strategy)
        sql = _SELECT_ORDERS + _where(where)
        rows = self._newest(sql, params, "created_at, rowid", limit)
        return [_intent(r) for r in rows]

    def unknown_intents(self) -> list[IntentRecord]:
        return self.intents(status=UNKNOWN)

    def open_orders(self, *, ticker: str | None = None) -> list[IntentRecord]:
        """Intents that may still rest on the exchange: pending, unknown or resting."""
        return self.intents(status=[PENDING, UNKNOWN, RESTING], ticker=ticker)

    def order_history(self, client_order_id: str) -> list[OrderHistoryRecord]:
        rows = self._rows(
            "SELECT client_order_id, status, order_id, filled, remaining, note, at "
            "FROM order_history WHERE client_order_id = ? ORDER BY id",
            (client_order_id,),
        )
        return [
            OrderHistoryRecord(r[0], r[1], r[2], Decimal(r[3]), _opt_decimal(r[4]), r[5], r[6])
            for r in rows
        ]

    # ------------------------------------------------------------------------------ fills

    def record_fill(self, fill: FillRecord) -> bool:
        """Store a fill once; True if it was new (a fill_id seen before is ignored)."""
        cur = self._write(_INSERT_FILL_SQL, _fill_row(fill))
        return cur.rowcount == 1

    def record_fills(self, fills: Iterable[FillRecord]) -> int:
        """Store many fills in one transaction (all or none); returns how many were new."""
        with self.transaction():
            cur = self._conn.executemany(_INSERT_FILL_SQL, (_fill_row(f) for f in fills))
        return max(cur.rowcount, 0)

    def attribute_fills(self, order_id: str, *, client_order_id: str, strategy: str | None) -> int:
        """Give the fills of `order_id` recorded without an intent (copied before the order's
        lost answer was resolved) their intent and strategy; returns how many changed."""
        cur = self._write(
            "UPDATE fills SET client_order_id = ?, strategy = ? "
            "WHERE order_id = ? AND client_order_id IS NULL",
            (client_order_id, strategy, order_id),
        )
        return max(cur.rowcount, 0)

    def set_fill_realized_pnl(self, fill_id: str, realized_pnl: Decimal | None) -> bool:
        cur = self._write(
            "UPDATE fills SET realized_pnl = ? WHERE fill_id = ?",
            (_opt_dec(realized_pnl), fill_id),
        )
        return cur.rowcount == 1

    def fills(
        self,
        *,
        ticker: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> list[FillRecord]:
        sql, params = _fills_query(since=since, until=None, ticker=ticker)
        return list(_fill_records(self._newest(sql, params, "ts, rowid", limit)))

    def iter_fills(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        ticker: str | None = None,
    ) -> Iterator[FillRecord]:
        """Stream fills in time order (`since` inclusive, `until` exclusive) without loading
        them all: memory stays flat whatever the number of fills."""
        sql, params = _fills_query(since=since, until=until, ticker=ticker)
        try:
            cursor = self._conn.execute(f"{sql} ORDER BY ts, rowid", params)
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc
        cursor.arraysize = 1000
        return _fill_records(cursor)

    def iter_fill_rows(
        self, *, since: float | None = None, until: float | None = None
    ) -> Iterator[tuple[str, str, str, str, str, float, str | None]]:
        """(ticker, book_side, yes_price, count, fee, ts, strategy) in time order, money and
        counts as their canonical TEXT: the lean stream `kalshi pnl` parses itself, because
        building a FillRecord per row costs more than the P&L arithmetic over a million fills."""
        where, params = _time_range("ts", since, until)
        try:
            cursor = self._conn.execute(
                "SELECT ticker, book_side, yes_price, count, fee, ts, strategy "  # noqa: S608
                f"FROM fills{where} ORDER BY ts, rowid",
                params,
            )
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc
        cursor.arraysize = 1000
        return cursor

    def count_fills(self) -> int:
        return int(self._rows("SELECT count(*) FROM fills")[0][0])

    # ------------------------------------------------------------------------------ settlements

    def record_settlement(self, s: SettlementRecord) -> bool:
        """Store a market's settlement once; True if it was new."""
        cur = self._write(
            "INSERT OR IGNORE INTO settlements (ticker, event_ticker, result, yes_count, "
            "no_count, yes_total_cost, no_total_cost, revenue, fee, settled_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                s.ticker,
                s.event_ticker,
                s.result,
                _dec(s.yes_count),
                _dec(s.no_count),
                _dec(s.yes_total_cost),
                _dec(s.no_total_cost),
                _dec(s.revenue),
                _dec(s.fee),
                float(s.settled_at),  # float-ok: unix seconds
            ),
        )
        return cur.rowcount == 1

    def settlements(
        self, *, since: float | None = None, until: float | None = None
    ) -> list[SettlementRecord]:
        where, params = _time_range("settled_at", since, until)
        rows = self._rows(
            f"{_SELECT_SETTLEMENTS}{where} ORDER BY settled_at, rowid",
            params,
        )
        return [
            SettlementRecord(
                ticker=r[0],
                event_ticker=r[1],
                result=r[2],
                yes_count=Decimal(r[3]),
                no_count=Decimal(r[4]),
                yes_total_cost=Decimal(r[5]),
                no_total_cost=Decimal(r[6]),
                revenue=Decimal(r[7]),
                fee=Decimal(r[8]),
                settled_at=r[9],
            )
            for r in rows
        ]

    def daily_realized_pnl(self, day: str) -> Decimal:
        """Realized P&L of one UTC day ("YYYY-MM-DD"): the `realized_pnl` of that day's fills
        (those that carry one) plus each settlement of that day's `realized_pnl`
        (revenue - yes_total_cost - no_total_cost - fee)."""
        start = _day_start(day)
        total = ZERO
        for (value,) in self._rows(
            "SELECT realized_pnl FROM fills WHERE ts >= ? AND ts < ? AND realized_pnl IS NOT NULL",
            (start, start + _DAY),
        ):
            total += Decimal(value)
        for s in self.settlements(since=start, until=start + _DAY):
            total += s.realized_pnl
        return total

    # ------------------------------------------------------------------------------ trading state

    def trading_state(self) -> TradingStateRecord:
        """The current state; ACTIVE (source "default") when never set, as of the file's
        creation."""
        rows = self._rows("SELECT state, reason, source, at FROM trading_state WHERE id = 1")
        if rows:
            return TradingStateRecord(*rows[0])
        first = self._rows(_APPLIED_SQL + " LIMIT 1")
        return TradingStateRecord(
            "ACTIVE",
            "never set",
            "default",
            float(first[0][1]) if first else 0.0,  # float-ok
        )

    def set_trading_state(self, state: str, *, reason: str, source: str) -> TradingStateRecord:
        state = str(state.value if isinstance(state, Enum) else state)
        if state not in TRADING_STATES:
            raise ValueError(f"trading state must be one of {TRADING_STATES}, not {state!r}")
        record = TradingStateRecord(state, reason, source, self.clock.wall())
        values = (record.state, record.reason, record.source, record.at)
        with self.transaction():
            self._conn.execute(
                "INSERT INTO trading_state (id, state, reason, source, at) VALUES (1, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET state = excluded.state, reason = excluded.reason, "
                "source = excluded.source, at = excluded.at",
                values,
            )
            self._conn.execute(
                "INSERT INTO trading_state_history (state, reason, source, at) VALUES (?, ?, ?, ?)",
                values,
            )
        return record

    def trading_state_history(self, limit: int = 20) -> list[TradingStateRecord]:
        rows = self._newest(
            "SELECT state, reason, source, at FROM trading_state_history", [], "id", limit
        )
        return [TradingStateRecord(*r) for r in rows]

    def record_risk_trip(
        self,
        *,
        rule: str,
        code: str,
        detail: str,
        ticker: str | None = None,
        day: str | None = None,
    ) -> RiskTripRecord:
        """A risk rule tripped. `day` defaults to today (UTC) by the store's clock."""
        now = self.clock.wall()
        if day is None:
            day = utc_datetime(now).strftime("%Y-%m-%d")
        else:
            _day_start(day)
        record = RiskTripRecord(rule, code, detail, ticker, day, now)
        self._write(
            "INSERT INTO risk_trips (rule, code, detail, ticker, day, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (rule, code, detail, ticker, day, now),
        )
        return record

    def risk_trips(
        self, *, rule: str | None = None, day: str | None = None
    ) -> list[RiskTripRecord]:
        where: list[str] = []
        params: list[object] = []
        if rule is not None:
            where.append("rule = ?")
            params.append(rule)
        if day is not None:
            where.append("day = ?")
            params.append(day)
        rows = self._rows(
            f"SELECT rule, code, detail, ticker, day, at FROM risk_trips{_where(where)} "  # noqa: S608
            "ORDER BY id",
            params,
        )
        return [RiskTripRecord(*r) for r in rows]

    # ------------------------------------------------------------------------------ alerts

    def alert_state(self, fingerprint: str) -> AlertStateRecord | None:
        rows = self._rows(
            "SELECT fingerprint, status, severity, summary, last_sent_at, first_seen_at, "
            "updated_at, error FROM alerts WHERE fingerprint = ?",
            (fingerprint,),
        )
        return AlertStateRecord(*rows[0]) if rows else None

    def record_alert(
        self,
        fingerprint: str,
        *,
        status: str,
        severity: str,
        summary: str,
        sent: bool,
        error: str | None = None,
    ) -> AlertStateRecord:
        """Remember what was (or failed to be) sent for a fingerprint, and log the attempt."""
        now = self.clock.wall()
        with self.transaction():
            previous = self.alert_state(fingerprint)
            same_status = previous is not None and previous.status == status
            record = AlertStateRecord(
                fingerprint=fingerprint,
                status=status,
                severity=severity,
                summary=summary,
                last_sent_at=now if sent else (previous.last_sent_at if previous else None),
                first_seen_at=previous.first_seen_at if previous and same_status else now,
                updated_at=now,
                error=error,
            )
            self._conn.execute(
                "INSERT OR REPLACE INTO alerts (fingerprint, status, severity, summary, "
                "last_sent_at, first_seen_at, updated_at, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    fingerprint,
                    status,
                    severity,
                    summary,
                    record.last_sent_at,
                    record.first_seen_at,
                    now,
                    error,
                ),
            )
            self._conn.execute(
                "INSERT INTO alert_log (fingerprint, status, severity, summary, sent, error, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (fingerprint, status, severity, summary, int(sent), error, now),
            )
        return record

    def alert_log(
        self, *, fingerprint: str | None = None, limit: int = 100
    ) -> list[AlertLogRecord]:
        where, params = (
            ("", []) if fingerprint is None else (" WHERE fingerprint = ?", [fingerprint])
        )
        rows = self._newest(
            f"SELECT fingerprint, status, severity, summary, sent, error, at FROM alert_log{where}",  # noqa: S608
            params,
            "id",
            limit,
        )
        return [AlertLogRecord(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6]) for r in rows]

    # ------------------------------------------------------------------------------ heartbeats

    def heartbeat(self, *, source: str, detail: dict[str, Any] | None = None) -> None:
        """Replace `source`'s heartbeat row: one cheap autocommitted statement per loop."""
        self._write(
            "INSERT OR REPLACE INTO heartbeats (source, at, detail) VALUES (?, ?, ?)",
            (source, self.clock.wall(), _json(detail or {})),
        )

    def last_heartbeat(self, source: str | None = None) -> HeartbeatRecord | None:
        if source is None:
            rows = self._rows("SELECT source, at, detail FROM heartbeats ORDER BY at DESC LIMIT 1")
        else:
            rows = self._rows(
                "SELECT source, at, detail FROM heartbeats WHERE source = ?", (source,)
            )
        return HeartbeatRecord(rows[0][0], rows[0][1], json.loads(rows[0][2])) if rows else None

    def set_kv(self, key: str, value: str) -> None:
        self._write(
            "INSERT OR REPLACE INTO kv (key, value, updated_at) VALUES (?, ?, ?)",
            (key, value, self.clock.wall()),
        )

    def get_kv(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM kv WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def log_event(self, kind: str, data: dict[str, Any]) -> None:
        """Append to the event log: one autocommitted insert. Decimals are written as strings."""
        self._write(
            "INSERT INTO events (kind, at, data) VALUES (?, ?, ?)",
            (kind, self.clock.wall(), _json(data)),
        )

    def events(
        self, *, kind: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[EventRecord]:
        where: list[str] = []
        params: list[object] = []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        sql = f"SELECT id, kind, at, data FROM events{_where(where)}"  # noqa: S608
        rows = self._newest(sql, params, "id", limit)
        return [EventRecord(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def prune_events(self, *, before: float) -> int:
        """Delete events older than `before`; returns how many went."""
        return max(self._write("DELETE FROM events WHERE at < ?", (before,)).rowcount, 0)

    # ------------------------------------------------------------------------------ internals

    def _answer(
        self,
        client_order_id: str,
        what: str,
        sets: str,
        values: tuple[object, ...],
        *,
        note: str | None,
    ) -> None:
        """Record the answer to a sent intent; only while its outcome is not yet known."""
        with self.transaction():
            row = self._conn.execute(
                "SELECT status FROM orders WHERE client_order_id = ?", (client_order_id,)
            ).fetchone()
            if row is None:
                raise OrderNotFound(f"no intent {client_order_id} in the state file")
            if row[0] not in _AWAITING_ANSWER:
                raise InvalidTransition(
                    f"cannot mark intent {client_order_id} {what}: it is already {row[0]}",
                    hint="use update_order to copy the exchange's state",
                )
            now = self.clock.wall()
            self._conn.execute(
                f"UPDATE orders SET {sets}, updated_at = ? WHERE client_order_id = ?",  # noqa: S608
                (*values, now, client_order_id),
            )
            self._history(client_order_id, note if note is not None else what, now)

    def _history(self, client_order_id: str, note: str, at: float) -> None:
        self._conn.execute(
            "INSERT INTO order_history (client_order_id, status, order_id, filled, remaining, "
            "note, at) SELECT client_order_id, status, order_id, filled, remaining, ?, ? "
            "FROM orders WHERE client_order_id = ?",
            (note, at, client_order_id),
        )

    def _write(self, sql: str, params: Sequence[object]) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc

    def _newest(
        self, sql: str, params: Sequence[object], order: str, limit: int | None
    ) -> list[Any]:
        """Rows of `sql` oldest first by `order`; with a limit, only the newest `limit`."""
        if limit is None:
            return self._rows(f"{sql} ORDER BY {order}", params)
        descending = ", ".join(f"{c.strip()} DESC" for c in order.split(","))
        return list(reversed(self._rows(f"{sql} ORDER BY {descending} LIMIT ?", [*params, limit])))


# ---------------------------------------------------------------------------------- helpers

_APPLIED_SQL = "SELECT name, applied_at FROM schema_migrations ORDER BY rowid"

_ORDER_COLUMNS = (
    "client_order_id, order_id, ticker, book_side, price, count, side, action, status, filled, "
    "remaining, strategy, model_fair, reason, error, created_at, updated_at, time_in_force, "
    "post_only, reduce_only"
)
_INSERT_ORDER_SQL = f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES ({', '.join('?' * 20)})"  # noqa: S608
_SELECT_ORDERS = f"SELECT {_ORDER_COLUMNS} FROM orders"  # noqa: S608

_FILL_COLUMNS = (
    "fill_id, order_id, client_order_id, ticker, book_side, yes_price, count, fee, is_taker, ts, "
    "strategy, realized_pnl"
)
_INSERT_FILL_SQL = f"INSERT OR IGNORE INTO fills ({_FILL_COLUMNS}) VALUES ({', '.join('?' * 12)})"  # noqa: S608
_SELECT_SETTLEMENTS = (
    "SELECT ticker, event_ticker, result, yes_count, no_count, yes_total_cost, no_total_cost, "
    "revenue, fee, settled_at FROM settlements"
)
_BOOK_SIDES = {side.value: side for side in BookSide}
_BOOK_SIDE_TEXT: dict[object, str] = {side.value: side.value for side in BookSide}
_SIDES = {side.value: side for side in Side}
_ACTIONS = {action.value: action for action in Action}
_DECIMAL_CACHE_SIZE = 65_536
_DECIMAL_TEXT: dict[Decimal, str] = {}


def _create(path: Path, clock: Clock) -> None:
    """Make a new state file at `path`, which did not exist.

    It is built (migrated, in WAL mode) under a temporary name beside `path` and then hard-linked
    into place, which fails if a file appeared there meanwhile. So `path` only ever holds a whole
    state file: a second process opening it at the same moment never finds a half-made one (that
    would look like the empty file every open refuses), and of two processes creating it at once,
    one wins and the other opens the winner's file.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Created here so it is private from the start; SQLite gives the -wal and -shm files the
        # same permissions.
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
    except OSError as exc:
        raise _unwritable(path, exc) from exc
    os.close(fd)
    draft = Path(name)
    try:
        conn = _connect(draft, "rw")
        try:
            _configure(conn, readonly=False)
            migrations.apply_pending(conn, clock.wall())
        except migrations.MigrationError as exc:
            raise StoreError(f"creating state file {path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise _wrap(exc, path) from exc
        finally:
            conn.close()  # the last connection folds the WAL into the file and removes it
        try:
            os.link(draft, path)
        except FileExistsError:
            return  # another process made it first: open theirs
        except OSError as exc:
            raise _unwritable(path, exc) from exc
        _fsync_dir(path.parent)
    finally:
        for leftover in (draft, Path(f"{draft}-wal"), Path(f"{draft}-shm")):
            with suppress(FileNotFoundError):
                leftover.unlink()


def _fsync_dir(directory: Path) -> None:
    # the new name must outlive a power cut as surely as what is written inside the file
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_SQLITE_HEADER = b"SQLite format 3\x00"


def _check_is_state_file(path: Path) -> None:
    """Refuse, before SQLite touches it, a file that cannot be a state file."""
    try:
        with path.open("rb") as f:
            head = f.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(
            f"cannot read state file {path}: {exc.strerror or exc}", hint="check its permissions"
        ) from exc
    if not head:
        raise _not_a_state_file(path, "is empty")
    if head != _SQLITE_HEADER:
        raise _not_a_state_file(path, "is not an SQLite database")


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
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


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    # A URI with an explicit mode: "rw" and "ro" fail on a missing file instead of creating it.
    uri = f"{path.absolute().as_uri()}?mode={mode}"
    try:
        return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS)
    except sqlite3.Error as exc:
        raise _wrap(exc, path) from exc


def _configure(conn: sqlite3.Connection, *, readonly: bool) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
    if readonly:
        # forces SQLite to read the header, so a non-database fails here rather than later
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return
    conn.execute("PRAGMA journal_mode = WAL").fetchone()
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(f"PRAGMA journal_size_limit = {_JOURNAL_SIZE_LIMIT}")


def _wrap(exc: sqlite3.Error, path: Path) -> StoreError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreError(
            f"state file {path} is locked by another process",
            hint="another kalshi process is writing it; try again",
        )
    if "readonly" in text or "read-only" in text:
        return StoreError(f"state file {path} is open read-only: {text}")
    if "not a database" in text or "malformed" in text:
        return StoreError(
            f"{path} is not a usable state file: {text}",
            hint="`kalshi health-check` runs an integrity check; point --state elsewhere",
        )
    if "unable to open" in text:
        return StoreError(f"cannot open state file {path}: {text}", hint="check its permissions")
    return StoreError(f"state file {path}: {text}")


def _missing(path: Path) -> StateFileMissing:
    return StateFileMissing(
        f"no state file at {path}",
        hint="nothing has been recorded for this environment yet; check --env and --state",
    )


def _dec(value: object) -> str:
    """The canonical TEXT of a Decimal: no exponent, no trailing zeros, no negative zero.

    The text depends only on the numeric value, so it is cached by value: batches of fills
    repeat a few hundred prices, counts and fees. Only exact Decimals use the cache, because a
    float or a bool would compare equal to one and slip past the type check.
    """
    if type(value) is Decimal:
        text = _DECIMAL_TEXT.get(value)
        if text is None:
            text = _canonical(value)
            if len(_DECIMAL_TEXT) < _DECIMAL_CACHE_SIZE:
                _DECIMAL_TEXT[value] = text
        return text
    return _canonical(value)


def _canonical(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(
            f"expected a Decimal for a money or count value, got {type(value).__name__}"
        )
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"{value} is not a finite number")
    text = f"{number:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _opt_dec(value: Decimal | None) -> str | None:
    return None if value is None else _dec(value)


def _opt_decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, default=_json_default, separators=(",", ":"), ensure_ascii=False)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write a {type(value).__name__} to the event log")


def _day_start(day: str) -> float:
    try:
        parsed = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"day must be YYYY-MM-DD, got {day!r}") from exc
    return parsed.timestamp()


def _where(conditions: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def _time_range(column: str, since: float | None, until: float | None) -> tuple[str, list[object]]:
    where: list[str] = []
    params: list[object] = []
    if since is not None:
        where.append(f"{column} >= ?")
        params.append(since)
    if until is not None:
        where.append(f"{column} < ?")
        params.append(until)
    return _where(where), params


def _intent(r: Sequence[Any]) -> IntentRecord:
    return IntentRecord(
        client_order_id=r[0],
        order_id=r[1],
        ticker=r[2],
        book_side=_BOOK_SIDES[r[3]],
        price=Decimal(r[4]),
        count=Decimal(r[5]),
        side=_SIDES[r[6]],
        action=_ACTIONS[r[7]],
        status=r[8],
        filled=Decimal(r[9]),
        remaining=_opt_decimal(r[10]),
        strategy=r[11],
        model_fair=_opt_decimal(r[12]),
        reason=r[13],
        error=r[14],
        created_at=r[15],
        updated_at=r[16],
        time_in_force=r[17],
        post_only=bool(r[18]),
        reduce_only=bool(r[19]),
    )


def _fill_row(f: FillRecord) -> tuple[object, ...]:
    return (
        f.fill_id,
        f.order_id,
        f.client_order_id,
        f.ticker,
        _book_side_text(f.book_side),
        _dec(f.yes_price),
        _dec(f.count),
        _dec(f.fee),
        int(bool(f.is_taker)),
        float(f.ts),  # float-ok: unix seconds
        f.strategy,
        _opt_dec(f.realized_pnl),
    )


def _book_side_text(value: object) -> str:
    # a dict lookup, not BookSide(value): this runs once per fill in a batch of a million
    text = _BOOK_SIDE_TEXT.get(value)
    if text is None:
        raise ValueError(f"book side must be bid or ask, not {value!r}")
    return text


def _fills_query(
    *, since: float | None, until: float | None, ticker: str | None
) -> tuple[str, list[object]]:
    where, params = _time_range("ts", since, until)
    if ticker is not None:
        where = f"{where} AND ticker = ?" if where else " WHERE ticker = ?"
        params.append(ticker)
    return f"SELECT {_FILL_COLUMNS} FROM fills{where}", params  # noqa: S608


def _fill_records(rows: Iterable[Sequence[Any]]) -> Iterator[FillRecord]:
    """Rows to FillRecords, as fast as Python allows: this loop is most of `kalshi pnl`.

    Prices, counts and fees repeat (a few hundred distinct values), so their Decimals are cached;
    the record's dict is filled directly instead of through the frozen dataclass __init__.
    """
    cache: dict[str, Decimal] = {}
    cached = cache.get
    new = object.__new__
    set_attr = object.__setattr__
    sides = _BOOK_SIDES
    limit = _DECIMAL_CACHE_SIZE

    def parse(text: str) -> Decimal:
        number = Decimal(text)
        if len(cache) < limit:
            cache[text] = number
        return number

    for r in rows:
        yes_price = cached(r[5])
        if yes_price is None:
            yes_price = parse(r[5])
        count = cached(r[6])
        if count is None:
            count = parse(r[6])
        fee = cached(r[7])
        if fee is None:
            fee = parse(r[7])
        pnl = r[11]
        record = new(FillRecord)
        set_attr(
            record,
            "__dict__",
            {
                "fill_id": r[0],
                "order_id": r[1],
                "client_order_id": r[2],
                "ticker": r[3],
                "book_side": sides[r[4]],
                "yes_price": yes_price,
                "count": count,
                "fee": fee,
                "is_taker": r[8] == 1,
                "ts": r[9],
                "strategy": r[10],
                "realized_pnl": None if pnl is None else Decimal(pnl),
            },
        )
        yield record

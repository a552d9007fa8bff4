"""Heartbeats, the entry log and a small key-value table (tables `heartbeats`, `events`, `kv`):
each write one cheap autocommitted statement, because the trade loop makes them every pass."""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from typing import Any

from kalshi_cli.store.connection import Database
from kalshi_cli.store.records import ExchangeBinding, HeartbeatRecord, LogEntry
from kalshi_cli.store.values import json_text, where_given

_BINDING = "exchange_binding"

# the trade loop's own rows: its heartbeat's source, and the key of when it last received
# market data (unix seconds, as text); the loop writes them, `status`, the local checks, the
# dashboard, the metrics and the paper kill switch read them
LOOP_SOURCE = "trade"
FEED_HEARD_KEY = "feed.last_message_at"


def _key_subaccount_name(endpoint: str, key_id: str) -> str:
    return f"api_key_subaccount {endpoint} {key_id}"


class EntryRepository:
    """Heartbeats per source, key-value settings, and the append-only entry log."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def heartbeat(self, *, source: str, detail: dict[str, Any] | None = None) -> None:
        """Replace `source`'s heartbeat row: one cheap autocommitted statement per loop."""
        self._db.write(
            "INSERT OR REPLACE INTO heartbeats (source, at, detail) VALUES (?, ?, ?)",
            (source, self._db.clock.wall(), json_text(detail or {})),
        )

    def last_heartbeat(self, source: str | None = None) -> HeartbeatRecord | None:
        if source is None:
            rows = self._db.rows(
                "SELECT source, at, detail FROM heartbeats ORDER BY at DESC LIMIT 1"
            )
        else:
            rows = self._db.rows(
                "SELECT source, at, detail FROM heartbeats WHERE source = ?", (source,)
            )
        return HeartbeatRecord(rows[0][0], rows[0][1], json.loads(rows[0][2])) if rows else None

    def loop_heartbeat(self) -> HeartbeatRecord | None:
        """The trade loop's last heartbeat (None: it never wrote one)."""
        return self.last_heartbeat(LOOP_SOURCE)

    def feed_heard(self) -> str | None:
        """When the trade loop last received market data, as stored (unix seconds as text);
        None when it never did."""
        return self.get_kv(FEED_HEARD_KEY)

    def feed_heard_at(self) -> tuple[float, str] | None:
        """`feed_heard` read as a time: (unix seconds, or nan when the row is not a number, the
        text stored), for `vocabulary.clock.age_of`; None when the loop never heard any."""
        raw = self.feed_heard()
        if raw is None:
            return None
        try:
            return float(raw), raw  # unix seconds, not money
        except ValueError:
            return math.nan, raw

    def set_kv(self, key: str, value: str, *, durable: bool = True) -> None:
        """`durable=False`: a value whose loss costs only work done again, committed without a
        sync of its own (`Database.lazy_sync`)."""
        with nullcontext() if durable else self._db.lazy_sync():
            write_kv(self._db, key, value)

    def get_kv(self, key: str) -> str | None:
        return read_kv(self._db, key)

    def api_key_subaccount(self, endpoint: str, key_id: str) -> int | None:
        """The subaccount the API key `key_id` of `endpoint` is restricted to (0: none), as
        kept by `remember_api_key_subaccount`; None when not kept."""
        raw = self.get_kv(_key_subaccount_name(endpoint, key_id))
        return None if raw is None else int(raw)

    def remember_api_key_subaccount(self, endpoint: str, key_id: str, subaccount: int) -> None:
        """Keep what the exchange said of a key's restriction: it never changes (a key is made
        with it and only ever listed or deleted, openapi.yaml 3.31.0) and a key id is unique."""
        self.set_kv(_key_subaccount_name(endpoint, key_id), str(subaccount))

    def exchange_binding(self) -> ExchangeBinding | None:
        """The exchange endpoint and account this state file belongs to; None until bound."""
        raw = self.get_kv(_BINDING)
        if raw is None:
            return None
        data = json.loads(raw)
        return ExchangeBinding(
            str(data["endpoint"]),
            str(data["account"]),
            float(data["bound_at"]),  # time
        )

    def bind_exchange(self, endpoint: str, account: str) -> ExchangeBinding:
        """Bind the file to `endpoint` and `account` unless it is bound already; the binding
        in force is returned (the first one wins: a binding never changes)."""
        with self._db.transaction():
            existing = self.exchange_binding()
            if existing is not None:
                return existing
            binding = ExchangeBinding(endpoint, account, self._db.clock.wall())
            self.set_kv(
                _BINDING,
                json.dumps(
                    {"endpoint": endpoint, "account": account, "bound_at": binding.bound_at}
                ),
            )
            return binding

    def rebind_exchange(self, endpoint: str, account: str) -> ExchangeBinding | None:
        """Bind the file to `endpoint` and `account` whatever it was bound to (`kalshi state
        bind`: a new key of the same account); the previous binding is returned and kept in
        the entry log."""
        with self._db.transaction():
            previous = self.exchange_binding()
            now = self._db.clock.wall()
            self.set_kv(
                _BINDING, json.dumps({"endpoint": endpoint, "account": account, "bound_at": now})
            )
            self.log_entry(
                "exchange_rebound",
                {
                    "endpoint": endpoint,
                    "previous_endpoint": previous.endpoint if previous else None,
                    "previous_account": previous.account if previous else None,
                },
            )
            return previous

    def log_entry(self, kind: str, data: dict[str, Any]) -> None:
        """Append to the entry log: one autocommitted insert. Decimals are written as strings."""
        self._db.write(
            "INSERT INTO events (kind, at, data) VALUES (?, ?, ?)",
            (kind, self._db.clock.wall(), json_text(data)),
        )

    def read(
        self, *, kind: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[LogEntry]:
        where, params = where_given({"kind = ?": kind, "at >= ?": since})
        sql = f"SELECT id, kind, at, data FROM events{where}"  # noqa: S608
        rows = self._db.newest(sql, params, "id", limit)
        return [LogEntry(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def count(self, kind: str) -> int:
        [(count,)] = self._db.rows("SELECT COUNT(*) FROM events WHERE kind = ?", (kind,))
        return int(count)


def write_kv(db: Database, key: str, value: str) -> None:
    """The `kv` row `key` set to `value`, stamped with the time."""
    db.write(
        "INSERT OR REPLACE INTO kv (key, value, updated_at) VALUES (?, ?, ?)",
        (key, value, db.clock.wall()),
    )


def read_kv(db: Database, key: str) -> str | None:
    """The `kv` row `key`'s value; None when there is none."""
    rows = db.rows("SELECT value FROM kv WHERE key = ?", (key,))
    return str(rows[0][0]) if rows else None

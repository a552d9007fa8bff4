"""Named schema migrations, applied on open, each in one transaction with its own record, so a
failed migration leaves nothing behind and two processes opening a new file apply each one
exactly once. A released migration is never renamed or edited (a schema change is a new one
appended to `MIGRATIONS`), and a file recording a migration this code does not know is refused.
See docs/state-file.md "Migrations".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """`needed` False: it only makes reads faster (an index), so this version reads and writes a
    file without it the same: an open that does not migrate (a `kalshi check` beside the loop of
    the version before) takes the file with it pending (`needed_pending`)."""

    name: str
    statements: tuple[str, ...]
    needed: bool = True


_STATUS_CHECK = "status IN ('pending', 'resting', 'executed', 'canceled', 'rejected', 'unknown')"
_STATE_CHECK = "state IN ('ACTIVE', 'REDUCING', 'HALTED', 'SAFE_MODE')"
# The fills table's columns as 0001 made them: 0006 rebuilds the table with these and 0003's
# `subaccount`, so a fill row keeps every constraint it had.
_FILL_COLUMNS = """\
            fill_id TEXT NOT NULL UNIQUE,
            order_id TEXT NOT NULL,
            client_order_id TEXT,
            ticker TEXT NOT NULL,
            book_side TEXT NOT NULL CHECK (book_side IN ('bid', 'ask')),
            yes_price TEXT NOT NULL,
            count TEXT NOT NULL,
            fee TEXT NOT NULL,
            is_taker INTEGER NOT NULL CHECK (is_taker IN (0, 1)),
            ts REAL NOT NULL,
            strategy TEXT,
            realized_pnl TEXT"""
# A settlement's columns after its market's as 0001 made them: 0004 rebuilds the table keyed
# by market and subaccount with these.
_SETTLEMENT_COLUMNS = """\
            event_ticker TEXT NOT NULL,
            result TEXT NOT NULL,
            yes_count TEXT NOT NULL,
            no_count TEXT NOT NULL,
            yes_total_cost TEXT NOT NULL,
            no_total_cost TEXT NOT NULL,
            revenue TEXT NOT NULL,
            fee TEXT NOT NULL,
            settled_at REAL NOT NULL"""

INITIAL = Migration(
    "0001_initial",
    (
        f"""
        CREATE TABLE orders (
            client_order_id TEXT PRIMARY KEY,
            order_id TEXT UNIQUE,
            ticker TEXT NOT NULL,
            book_side TEXT NOT NULL CHECK (book_side IN ('bid', 'ask')),
            price TEXT NOT NULL,
            count TEXT NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('yes', 'no')),
            action TEXT NOT NULL CHECK (action IN ('buy', 'sell')),
            status TEXT NOT NULL CHECK ({_STATUS_CHECK}),
            filled TEXT NOT NULL,
            remaining TEXT,
            strategy TEXT,
            model_fair TEXT,
            reason TEXT,
            error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            time_in_force TEXT NOT NULL,
            post_only INTEGER NOT NULL CHECK (post_only IN (0, 1)),
            reduce_only INTEGER NOT NULL CHECK (reduce_only IN (0, 1))
        )
        """,
        "CREATE INDEX orders_status ON orders (status)",
        "CREATE INDEX orders_ticker ON orders (ticker, created_at)",
        "CREATE INDEX orders_created ON orders (created_at)",
        f"""
        CREATE TABLE order_history (
            id INTEGER PRIMARY KEY,
            client_order_id TEXT NOT NULL REFERENCES orders (client_order_id),
            status TEXT NOT NULL CHECK ({_STATUS_CHECK}),
            order_id TEXT,
            filled TEXT NOT NULL,
            remaining TEXT,
            note TEXT,
            at REAL NOT NULL
        )
        """,
        "CREATE INDEX order_history_order ON order_history (client_order_id, id)",
        f"""
        CREATE TABLE fills (
{_FILL_COLUMNS}
        )
        """,
        "CREATE INDEX fills_ts ON fills (ts)",
        "CREATE INDEX fills_ticker_ts ON fills (ticker, ts)",
        f"""
        CREATE TABLE settlements (
            ticker TEXT PRIMARY KEY,
{_SETTLEMENT_COLUMNS}
        )
        """,
        "CREATE INDEX settlements_at ON settlements (settled_at)",
        f"""
        CREATE TABLE trading_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            state TEXT NOT NULL CHECK ({_STATE_CHECK}),
            reason TEXT NOT NULL,
            source TEXT NOT NULL,
            at REAL NOT NULL
        )
        """,
        f"""
        CREATE TABLE trading_state_history (
            id INTEGER PRIMARY KEY,
            state TEXT NOT NULL CHECK ({_STATE_CHECK}),
            reason TEXT NOT NULL,
            source TEXT NOT NULL,
            at REAL NOT NULL
        )
        """,
        """
        CREATE TABLE risk_trips (
            id INTEGER PRIMARY KEY,
            rule TEXT NOT NULL,
            code TEXT NOT NULL,
            detail TEXT NOT NULL,
            ticker TEXT,
            day TEXT NOT NULL,
            at REAL NOT NULL
        )
        """,
        "CREATE INDEX risk_trips_day ON risk_trips (day, rule)",
        "CREATE INDEX risk_trips_rule ON risk_trips (rule, id)",
        """
        CREATE TABLE alerts (
            fingerprint TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            severity TEXT NOT NULL,
            summary TEXT NOT NULL,
            last_sent_at REAL,
            first_seen_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            error TEXT
        )
        """,
        """
        CREATE TABLE alert_log (
            id INTEGER PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            status TEXT NOT NULL,
            severity TEXT NOT NULL,
            summary TEXT NOT NULL,
            sent INTEGER NOT NULL CHECK (sent IN (0, 1)),
            error TEXT,
            at REAL NOT NULL
        )
        """,
        "CREATE INDEX alert_log_fingerprint ON alert_log (fingerprint, id)",
        """
        CREATE TABLE heartbeats (
            source TEXT PRIMARY KEY,
            at REAL NOT NULL,
            detail TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE kv (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at REAL NOT NULL
        )
        """,
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            at REAL NOT NULL,
            data TEXT NOT NULL
        )
        """,
        "CREATE INDEX events_kind ON events (kind, id)",
    ),
)


# -- 0002_fill_integer_units (`kalshi pnl` over integers) ------------------------------------
# Each fill's price, count and fee also as an integer of a fixed unit (1e-6 dollars, 1e-2 contracts,
# 1e-8 dollars), NULL where the text does not fit exactly, parsed from the text as a string so
# nothing rounds. Dropped again by 0006. Never edit `_text_to_units` or the statements below.


def _text_to_units(column: str, scale: int) -> str:
    negative = f"substr({column}, 1, 1) = '-'"
    digits = f"(CASE WHEN {negative} THEN substr({column}, 2) ELSE {column} END)"
    dot = f"instr({digits}, '.')"
    whole = f"(CASE {dot} WHEN 0 THEN {digits} ELSE substr({digits}, 1, {dot} - 1) END)"
    fraction = f"(CASE {dot} WHEN 0 THEN '' ELSE substr({digits}, {dot} + 1) END)"
    return (
        f"(CASE WHEN {digits} NOT GLOB '*[^0-9.]*' AND instr({fraction}, '.') = 0 "
        f"AND length({fraction}) <= {scale} AND length({whole}) BETWEEN 1 AND 9 THEN "
        f"(CASE WHEN {negative} THEN -1 ELSE 1 END) * "
        f"(CAST({whole} AS INTEGER) * {10**scale} "
        f"+ CAST(substr({fraction} || '{'0' * scale}', 1, {scale}) AS INTEGER)) END)"
    )


FILL_INTEGER_UNITS = Migration(
    "0002_fill_integer_units",
    (
        "ALTER TABLE fills ADD COLUMN yes_price_e6 INTEGER",
        "ALTER TABLE fills ADD COLUMN count_e2 INTEGER",
        "ALTER TABLE fills ADD COLUMN fee_e8 INTEGER",
        f"UPDATE fills SET yes_price_e6 = {_text_to_units('yes_price', 6)}, "  # noqa: S608
        f"count_e2 = {_text_to_units('count', 2)}, fee_e8 = {_text_to_units('fee', 8)}",
        "CREATE INDEX fills_without_units ON fills (ts) "
        "WHERE yes_price_e6 IS NULL OR count_e2 IS NULL OR fee_e8 IS NULL",
    ),
)


# -- 0003_order_fill_subaccount: each subaccount is its own book ------------------------------
# Kalshi keeps orders, fills and positions per subaccount (0 the primary, 1-63), so every order and
# fill row says whose it is. Rows written before are the primary's until the exchange says
# otherwise: forgetting the catch-up cursor makes the next read take every fill again, and
# `Store.correct_subaccounts` sets each the subaccount the exchange lists. Nothing is guessed here.
ORDER_FILL_SUBACCOUNT = Migration(
    "0003_order_fill_subaccount",
    (
        "ALTER TABLE orders ADD COLUMN subaccount INTEGER NOT NULL DEFAULT 0 "
        "CHECK (subaccount BETWEEN 0 AND 63)",
        "ALTER TABLE fills ADD COLUMN subaccount INTEGER NOT NULL DEFAULT 0 "
        "CHECK (subaccount BETWEEN 0 AND 63)",
        # the fills of the numbered subaccounts: empty for an account that trades on the
        # primary only, so `kalshi pnl` learns that in one look-up, not a scan of every fill
        "CREATE INDEX fills_subaccount ON fills (subaccount, ts) WHERE subaccount != 0",
        "DELETE FROM kv WHERE key = 'fills_caught_up_at'",
    ),
)

# -- 0004_settlement_subaccount: a settlement per (market, subaccount) ------------------------
# When two subaccounts hold a market as it settles, the exchange lists a settlement for each (the
# Settlement object names none; the listing takes `subaccount`). A row copied before this migration
# cannot tell whose it is: it keeps NULL and counts as before until the import, listing per
# subaccount, replaces it (Store.record_settlement).
SETTLEMENT_SUBACCOUNT = Migration(
    "0004_settlement_subaccount",
    (
        f"""
        CREATE TABLE settlements_by_subaccount (
            ticker TEXT NOT NULL,
            subaccount INTEGER CHECK (subaccount BETWEEN 0 AND 63),
{_SETTLEMENT_COLUMNS}
        )
        """,
        "INSERT INTO settlements_by_subaccount (ticker, subaccount, event_ticker, result, "
        "yes_count, no_count, yes_total_cost, no_total_cost, revenue, fee, settled_at) "
        "SELECT ticker, NULL, event_ticker, result, yes_count, no_count, yes_total_cost, "
        "no_total_cost, revenue, fee, settled_at FROM settlements ORDER BY rowid",
        "DROP TABLE settlements",
        "ALTER TABLE settlements_by_subaccount RENAME TO settlements",
        # one row per market and subaccount; NULL (copied before this migration) at most once
        "CREATE UNIQUE INDEX settlements_key ON settlements (ticker, IFNULL(subaccount, -1))",
        "CREATE INDEX settlements_at ON settlements (settled_at)",
    ),
)

# -- 0005_alert_scope: what an alert's breach covers, a column of its own ----------------------
# The scope last delivered (markets, subaccounts; NULL: none recorded, the next one taken quietly),
# in `alerts` and `alert_log`, apart from the summary. No summary is read or cut.
ALERT_SCOPE = Migration(
    "0005_alert_scope",
    (
        "ALTER TABLE alerts ADD COLUMN scope TEXT",
        "ALTER TABLE alert_log ADD COLUMN scope TEXT",
    ),
)

# -- 0006_fill_money_text_only: a fill's money once, as its text ------------------------------
# The integer copies of 0002 are dropped with their index: `kalshi pnl` parses the text itself. The
# table is rebuilt rather than altered (`DROP COLUMN` needs SQLite 3.35; Debian 11 ships 3.34),
# every row keeping its rowid, with the constraints and indexes of 0001 and 0003.
FILL_MONEY_TEXT_ONLY = Migration(
    "0006_fill_money_text_only",
    (
        "DROP INDEX fills_without_units",
        f"""
        CREATE TABLE fills_text_only (
{_FILL_COLUMNS},
            subaccount INTEGER NOT NULL DEFAULT 0 CHECK (subaccount BETWEEN 0 AND 63)
        )
        """,
        "INSERT INTO fills_text_only (rowid, fill_id, order_id, client_order_id, ticker, "
        "book_side, yes_price, count, fee, is_taker, ts, strategy, realized_pnl, subaccount) "
        "SELECT rowid, fill_id, order_id, client_order_id, ticker, book_side, yes_price, count, "
        "fee, is_taker, ts, strategy, realized_pnl, subaccount FROM fills ORDER BY rowid",
        "DROP TABLE fills",
        "ALTER TABLE fills_text_only RENAME TO fills",
        "CREATE INDEX fills_ts ON fills (ts)",
        "CREATE INDEX fills_ticker_ts ON fills (ticker, ts)",
        "CREATE INDEX fills_subaccount ON fills (subaccount, ts) WHERE subaccount != 0",
    ),
)

# -- 0007_fills_by_order: an order's fills found without a scan ------------------------------
# Retention removes a finished order only once the file holds fills for every contract it says
# filled, so it looks up each order's fills.
FILLS_BY_ORDER = Migration(
    "0007_fills_by_order",
    ("CREATE INDEX fills_order ON fills (order_id)",),
)

# -- 0008_agent_audit: what an assistant asked and what came of it ----------------------------
# `kalshi mcp` records every write tool call, its arguments and its outcome, refused ones too.
AGENT_AUDIT = Migration(
    "0008_agent_audit",
    (
        "CREATE TABLE agent_audit ("
        " id INTEGER PRIMARY KEY,"
        " at REAL NOT NULL,"
        " session TEXT NOT NULL,"
        " tool TEXT NOT NULL,"
        " arguments TEXT NOT NULL,"
        " outcome TEXT NOT NULL,"
        " detail TEXT NOT NULL)",
        "CREATE INDEX agent_audit_at ON agent_audit (at)",
    ),
)

# -- 0009_amends_in_flight: an amend in flight, a record of its own -----------------------------
# An amend is written before it is sent and known until something settles it (its answer, its
# refusal, its drop unsent, a read of the order): a loop that starts while one may still land does
# not know the order's terms. A table rather than columns: an order may have two amends out at once,
# each settled by its own answer; a record goes with its order. Each resting order whose last
# "amend%" history note is a sent one gets that amend's record, at the note's time.
AMENDS_IN_FLIGHT = Migration(
    "0009_amends_in_flight",
    (
        """
        CREATE TABLE amends_in_flight (
            id INTEGER PRIMARY KEY,
            client_order_id TEXT NOT NULL
                REFERENCES orders (client_order_id) ON DELETE CASCADE,
            price TEXT NOT NULL,
            total TEXT NOT NULL,
            at REAL NOT NULL
        )
        """,
        "CREATE INDEX amends_in_flight_order ON amends_in_flight (client_order_id)",
        # 'amend sent: YES price ' is 22 characters, ', total ' 8
        "INSERT INTO amends_in_flight (client_order_id, price, total, at) "
        "SELECT h.client_order_id, substr(h.note, 23, instr(h.note, ', total ') - 23), "
        "substr(h.note, instr(h.note, ', total ') + 8), h.at "
        "FROM orders o JOIN order_history h ON h.id = (SELECT MAX(id) FROM order_history "
        "WHERE client_order_id = o.client_order_id AND note LIKE 'amend%') "
        "WHERE o.status = 'resting' AND h.note GLOB 'amend sent: YES price ?*, total ?*' "
        "ORDER BY h.id",
    ),
)

# -- 0010_orders_amend_sent_at: when an order's latest amend was sent ----------------------------
# The assistant's day budget (agent/ledger.py) counts the orders whose amend was sent that day; a
# column of the order's own row stays as long as the order (retention removes history notes sooner).
# Set from each order's latest "amend sent: " note (NULL: none).
ORDERS_AMEND_SENT_AT = Migration(
    "0010_orders_amend_sent_at",
    (
        "ALTER TABLE orders ADD COLUMN amend_sent_at REAL",
        "UPDATE orders SET amend_sent_at = (SELECT MAX(h.at) FROM order_history h "
        "WHERE h.client_order_id = orders.client_order_id AND h.note GLOB 'amend sent: *')",
    ),
)

# -- 0011_fill_pnl_changes: a count of the changes to fills other than additions -------------
# A reader of the day's realized P&L keeps its sum and adds only the fills with a rowid above the
# last it summed, which holds while fills are only added. These triggers count every other change
# that can move a day's sum (a fill removed, or its time, realized P&L or rowid changed); a reader
# that finds the count moved sums the day again. They live in the file, so every writer keeps the
# count.
FILL_PNL_CHANGES = Migration(
    "0011_fill_pnl_changes",
    (
        "CREATE TABLE fill_pnl_changes ("
        " id INTEGER PRIMARY KEY CHECK (id = 1),"
        " changes INTEGER NOT NULL)",
        "INSERT INTO fill_pnl_changes (id, changes) VALUES (1, 0)",
        "CREATE TRIGGER fills_pnl_changed AFTER UPDATE ON fills "
        "WHEN old.rowid IS NOT new.rowid OR old.ts IS NOT new.ts "
        "OR old.realized_pnl IS NOT new.realized_pnl "
        "BEGIN UPDATE fill_pnl_changes SET changes = changes + 1; END",
        "CREATE TRIGGER fills_pnl_removed AFTER DELETE ON fills "
        "BEGIN UPDATE fill_pnl_changes SET changes = changes + 1; END",
    ),
)

# -- 0012_assignments: the contracts no strategy bought, given to one (`kalshi trade --assign`) -
# Kept until changed or cleared, so a restart gives them to the same strategy. One strategy per
# market.
ASSIGNMENTS = Migration(
    "0012_assignments",
    (
        "CREATE TABLE assignments ("
        " ticker TEXT PRIMARY KEY, strategy TEXT NOT NULL, at REAL NOT NULL)",
    ),
)

# -- 0013_leg_sets: the sets of legs the trade loop opened, until each ends whole or flat ---------
# A set (an arbitrage across an event) is written before its first leg goes; its legs' orders name
# it in their reason (`(set ID)`), so what each leg holds is read from the orders it sent. A start
# after a kill finds a set still `open` or `broken` and unwinds it (runner/execution/leg_sets.py).
LEG_SETS = Migration(
    "0013_leg_sets",
    (
        "CREATE TABLE leg_sets ("
        " set_id TEXT PRIMARY KEY,"
        " strategy TEXT,"
        " status TEXT NOT NULL,"
        " legs TEXT NOT NULL,"
        " note TEXT NOT NULL DEFAULT '',"
        " created_at REAL NOT NULL,"
        " updated_at REAL NOT NULL)",
        "CREATE INDEX leg_sets_status ON leg_sets (status)",
    ),
)

TRANSFER_INTENTS = Migration(
    "0014_transfer_intents",
    (
        "CREATE TABLE transfer_intents ("
        " id INTEGER PRIMARY KEY,"
        " amount TEXT NOT NULL,"
        " source INTEGER NOT NULL,"
        " target INTEGER NOT NULL,"
        " subaccount INTEGER NOT NULL,"
        " known TEXT NOT NULL,"
        " status TEXT NOT NULL"
        " CHECK (status IN ('open', 'made', 'not_made', 'refused', 'ambiguous')),"
        " transfer_id TEXT,"
        " created_at REAL NOT NULL,"
        " updated_at REAL NOT NULL)",
        "CREATE INDEX transfer_intents_status ON transfer_intents (status)",
    ),
)

# -- 0015_leg_set_subaccount: a set of legs is its subaccount's ---------------------------------
# A state file shared by loops on several subaccounts holds each one's sets; a loop takes up only
# its own (store/leg_sets.py). A set written before this migration gets the subaccount of its first
# order (every order of a set goes on its loop's subaccount), else 0: a set that sent nothing holds
# nothing anywhere.
LEG_SET_SUBACCOUNT = Migration(
    "0015_leg_set_subaccount",
    (
        "ALTER TABLE leg_sets ADD COLUMN subaccount INTEGER NOT NULL DEFAULT 0 "
        "CHECK (subaccount BETWEEN 0 AND 63)",
        "UPDATE leg_sets SET subaccount = COALESCE((SELECT o.subaccount FROM orders o "
        "WHERE o.reason LIKE '%(set ' || leg_sets.set_id || ')' ORDER BY o.rowid LIMIT 1), 0)",
    ),
)

# -- 0016_leg_set_settling: the legs of a set the loop holds to their settlement -----------------
# A set left broken because a leg is held to its settlement by design (its market no longer
# trades, or a sale back is sure to lose against holding it: runner/execution/leg_sets.py) says
# which, as a JSON list of leg indexes, so `kalshi check orders` does not call it a leg to sell
# by hand. A set written before holds none.
LEG_SET_SETTLING = Migration(
    "0016_leg_set_settling",
    ("ALTER TABLE leg_sets ADD COLUMN settling TEXT NOT NULL DEFAULT '[]'",),
)

# -- 0017_fills_without_realized: the fills still to be priced found without a scan ------------
# Fills are copied in one commit and given their realized P&L in the next; every catch-up (each hand
# order's, before the daily circuit breaker) asks whether a process stopped between the two left
# any, which read every fill of the file (0.3 s for 1,000,000). The partial index holds those
# alone: none, as a rule.
FILLS_WITHOUT_REALIZED = Migration(
    "0017_fills_without_realized",
    ("CREATE INDEX fills_without_realized ON fills (ts) WHERE realized_pnl IS NULL",),
    needed=False,
)

MIGRATIONS: tuple[Migration, ...] = (
    INITIAL,
    FILL_INTEGER_UNITS,
    ORDER_FILL_SUBACCOUNT,
    SETTLEMENT_SUBACCOUNT,
    ALERT_SCOPE,
    FILL_MONEY_TEXT_ONLY,
    FILLS_BY_ORDER,
    AGENT_AUDIT,
    AMENDS_IN_FLIGHT,
    ORDERS_AMEND_SENT_AT,
    FILL_PNL_CHANGES,
    ASSIGNMENTS,
    LEG_SETS,
    TRANSFER_INTENTS,
    LEG_SET_SUBACCOUNT,
    LEG_SET_SETTLING,
    FILLS_WITHOUT_REALIZED,
)


class MigrationError(Exception):
    """A migration failed (and was rolled back) or the file is from a newer version."""


def applied(conn: sqlite3.Connection) -> list[tuple[str, float]]:
    """The recorded migrations, oldest first; empty for a new file."""
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not has_table:
        return []
    rows = conn.execute("SELECT name, applied_at FROM schema_migrations ORDER BY rowid").fetchall()
    return [(str(name), float(at)) for name, at in rows]  # applied-at seconds


def check_known(recorded: Sequence[str], migrations: Sequence[Migration]) -> None:
    known = {m.name for m in migrations}
    newer = [name for name in recorded if name not in known]
    if newer:
        raise MigrationError(
            f"the state file records migration(s) this version does not know: {', '.join(newer)}"
        )


def pending(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    done = {name for name, _ in applied(conn)}
    return [m.name for m in migrations if m.name not in done]


def needed_pending(conn: sqlite3.Connection) -> list[str]:
    """The pending migrations this version needs to read and write the file (`Migration.needed`)."""
    todo = set(pending(conn))
    return [m.name for m in MIGRATIONS if m.needed and m.name in todo]


def apply_pending(
    conn: sqlite3.Connection, now: float, migrations: Sequence[Migration] = MIGRATIONS
) -> list[str]:
    """Apply what is missing; return the names applied. `conn` must be in autocommit mode
    (isolation_level=None) so the transactions here are the only ones."""
    recorded = [name for name, _ in applied(conn)]
    check_known(recorded, migrations)
    if not [m for m in migrations if m.name not in recorded]:
        return []
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    done: list[str] = []
    for migration in migrations:
        conn.execute("BEGIN IMMEDIATE")
        try:
            already = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE name = ?", (migration.name,)
            ).fetchone()
            if not already:
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                    (migration.name, now),
                )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
        except BaseException:
            _rollback(conn)
            raise
        if not already:
            done.append(migration.name)
    return done


def _rollback(conn: sqlite3.Connection) -> None:
    # some errors (a full disk, an interrupt) make SQLite roll back on its own
    if conn.in_transaction:
        conn.execute("ROLLBACK")

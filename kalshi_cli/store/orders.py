"""Order intents and their history (tables `orders` and `order_history`), and the amends of orders
in flight (`amends_in_flight`).

An intent is written `pending` before its request is sent; while its outcome is not known the
placing code records the answer with `mark_sent`, `mark_rejected` or `mark_unknown` (any other use
is refused as a bug, but for a lost answer: `mark_unknown` leaves a row answered already as it
is). Afterwards `update_order` copies what the exchange says, because the exchange is the truth;
only a total below what filled is raised to that. Every change appends to `order_history` in the
same transaction. An amend is recorded in flight before it is sent
(`write_amend`) and is in doubt (`amends_in_doubt`) until `settle_amend` removes it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from kalshi_cli.store.connection import Database
from kalshi_cli.store.errors import DuplicateIntentError, InvalidTransition, OrderNotFound
from kalshi_cli.store.records import (
    CANCELED,
    EXECUTED,
    ORDER_STATUSES,
    PENDING,
    REJECTED,
    RESTING,
    SENT_STATUSES,
    UNKNOWN,
    AmendRecord,
    IntentRecord,
    OrderHistoryRecord,
)
from kalshi_cli.store.values import (
    BOOK_SIDES,
    dec_text,
    figure_text,
    opt_dec_text,
    opt_decimal,
    subaccount_number,
    where_given,
)
from kalshi_cli.vocabulary.units import ONE, ZERO, Action, BookSide, Side, TimeInForce, book_side_of

if TYPE_CHECKING:
    from kalshi_cli.vocabulary.models import Order

_AWAITING_ANSWER = (PENDING, UNKNOWN)
_IN_CALLERS = nullcontext()  # `OrderRepository._block` without a savepoint: no statement
_ORDER_COLUMNS = (
    "client_order_id, order_id, ticker, book_side, price, count, side, action, status, filled, "
    "remaining, strategy, model_fair, reason, error, created_at, updated_at, time_in_force, "
    "post_only, reduce_only, subaccount"
)
_INSERT_ORDER_SQL = f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES ({', '.join('?' * 21)})"  # noqa: S608
_SELECT_ORDERS = f"SELECT {_ORDER_COLUMNS} FROM orders"  # noqa: S608
_SIDES = {side.value: side for side in Side}
_ACTIONS = {action.value: action for action in Action}


@dataclass(frozen=True, slots=True)
class OrderRow:
    """The columns of an order's row that `update_order` compares, as the row holds them
    (money and counts as their text). Read by `OrderRepository.row` in a transaction, it is
    handed back to `update_order` there, which then does not read again what was just read."""

    client_order_id: str
    order_id: str | None
    status: str
    subaccount: int
    filled: str
    remaining: str | None
    price: str
    count: str

    @property
    def filled_count(self) -> Decimal:
        """`filled` as the count it is."""
        return Decimal(self.filled)


_ROW_COLUMNS = ", ".join(f.name for f in fields(OrderRow))
# the row as `row` reads it: what a replay nobody keeps holds with the record (`HeldAmends`)
_AMENDABLE_SQL = (
    f"SELECT {_ROW_COLUMNS} FROM orders o WHERE order_id = ? AND status = ? AND NOT "  # noqa: S608
    "EXISTS (SELECT 1 FROM amends_in_flight a WHERE a.client_order_id = o.client_order_id)"
)
# a requote's amend keeps the order's terms: good till cancelled, not reducing, post-only as sent
_AMENDABLE_KEEPING_SQL = (
    f"{_AMENDABLE_SQL} AND time_in_force = '{TimeInForce.GTC.value}' AND post_only = ? "
    "AND reduce_only = 0"
)
_SELECT_ROW = f"SELECT {_ROW_COLUMNS} FROM orders WHERE"  # noqa: S608


class HeldAmends:
    """The amends in flight of a replay nobody keeps (`Database.for_people` False), by id in the
    order written: no crash can leave one in doubt in a database that dies with its process,
    and nothing but its `OrderRepository` reads them, so they are held here rather than written
    as rows of `amends_in_flight` that the same action's answer deletes. Each means what its row
    would: in doubt from the commit that wrote it to the commit of what settles it."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._by_id: dict[int, AmendRecord] = {}
        # the order's row as each record's write read it, with the connection's count of rows
        # changed then: while that has not moved (no row written since, and no other
        # connection reaches the database), it is the row
        self._read: dict[int, tuple[int, OrderRow]] = {}

    def records(self) -> Collection[AmendRecord]:
        return self._by_id.values()

    def hold(self, row: OrderRow, price: Decimal, total: Decimal, now: float) -> AmendRecord | None:
        """`write_amend`'s record of an amend of the order whose `row` it read, held once the
        transaction writing it commits (at once outside one); None while one of the order is
        held already (two never race)."""
        coid = row.client_order_id
        if any(held.client_order_id == coid for held in self._by_id.values()):
            return None
        record = AmendRecord(max(self._by_id, default=0) + 1, coid, price, total, now)
        self._read[record.id] = (self._db.conn.total_changes, row)
        if self._db.depth:
            self._db.on_commit.append(partial(self._by_id.__setitem__, record.id, record))
        else:
            self._by_id[record.id] = record
        return record

    def let_go(self, amend: int, savepoint: bool) -> bool:
        """`settle_amend` (no history to write): the record gone once what settles it commits,
        so a booking rolled back leaves it in doubt; False when none has that id."""
        if not savepoint and not self._db.depth:
            raise RuntimeError("settle_amend without a savepoint runs inside a transaction")
        if amend not in self._by_id:
            return False
        if self._db.depth:
            self._db.on_commit.append(partial(self._forget, amend))
        else:
            self._forget(amend)
        return True

    def row_read(self, amend: int) -> OrderRow | None:
        """The order's row as the write of the record `amend` read it, if no row has been
        written since; else None."""
        read = self._read.get(amend)
        if read is None or read[0] != self._db.conn.total_changes:
            return None
        return read[1]

    def _forget(self, amend: int) -> None:
        self._by_id.pop(amend, None)
        self._read.pop(amend, None)


class OrderRepository:
    """Intents: recorded before sending, answered once, then kept equal to the exchange."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # the amends in flight of a replay nobody keeps (`Database.for_people` False)
        self._held = HeldAmends(db)

    def record_intent(self, intent: IntentRecord) -> IntentRecord:
        """Write an intent before its request is sent; returns it as stored (timestamps set).

        Raises DuplicateIntentError if the client_order_id (or order_id) is already known.
        """
        with self._db.intent_sync(), self._db.transaction():
            return self.write_intent(intent)

    def write_intent(self, intent: IntentRecord) -> IntentRecord:
        """`record_intent` inside the caller's transaction (`Store.record_intent_if_allowed`,
        which reads the trading state in it): a savepoint of its own would cost every order two
        statements more, and an error here ends the caller's transaction all the same."""
        if not self._db.depth:
            raise RuntimeError("write_intent runs inside a transaction: use record_intent")
        if intent.status != PENDING:
            raise ValueError(f"an intent is recorded as pending, not {intent.status!r}")
        if book_side_of(Side(intent.side), Action(intent.action)) != intent.book_side:
            raise ValueError(
                f"{intent.side} {intent.action} is not book side {intent.book_side} "
                f"(intent {intent.client_order_id})"
            )
        if not ZERO < intent.price < ONE:
            raise ValueError(f"YES price {intent.price} is outside (0, 1)")
        if intent.count <= 0:
            raise ValueError(f"count {intent.count} must be positive")
        stored = intent
        if not (intent.created_at and intent.updated_at):  # stamped by the caller, as a rule
            now = self._db.clock.wall()
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
            dec_text(stored.price),
            dec_text(stored.count),
            Side(stored.side).value,
            Action(stored.action).value,
            PENDING,
            dec_text(stored.filled),
            opt_dec_text(stored.remaining),
            stored.strategy,
            figure_text(stored.model_fair),
            stored.reason,
            stored.error,
            stored.created_at,
            stored.updated_at,
            str(stored.time_in_force),
            int(stored.post_only),
            int(stored.reduce_only),
            subaccount_number(stored.subaccount),
        )
        try:
            self._db.conn.execute(_INSERT_ORDER_SQL, row)
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
            (order_id, status, dec_text(fill_count), dec_text(remaining_count)),
            note=None,
        )

    def mark_shown(self, client_order_id: str, order: Order) -> None:
        """`mark_sent` with what the exchange shows of the order (a lookup, a reconcile's
        listing, an import), its total raised to what filled if that is more (`update_order`):
        an amend not seen here may have grown the order since the row's total was written."""
        with self._db.transaction():
            self.mark_sent(
                client_order_id,
                order_id=order.order_id,
                status=order.status,
                fill_count=order.fill_count,
                remaining_count=order.remaining_count,
            )
            if order.fill_count:
                self.update_order(
                    client_order_id=client_order_id, fill_count=order.fill_count, savepoint=False
                )

    def mark_rejected(self, client_order_id: str, *, reason: str) -> None:
        """The exchange (or the network, before sending) clearly refused it."""
        self._answer(
            client_order_id, "rejected", "status = ?, error = ?", (REJECTED, reason), note=reason
        )

    def withdraw(self, client_order_ids: list[str]) -> None:
        """Forget intents whose request the exchange refused whole before acting on any of it
        (a 4xx answer to the whole request): nothing of them exists anywhere, so they leave no
        record a rerun would take for an order sent. Only pending intents are withdrawn."""
        with self._db.transaction():
            for client_order_id in client_order_ids:
                row = self.row(client_order_id, "client_order_id")
                if row is None or row.status != PENDING:
                    raise InvalidTransition(
                        f"cannot withdraw intent {client_order_id}: it is "
                        f"{'not recorded' if row is None else row.status}"
                    )
                self._db.conn.execute(
                    "DELETE FROM order_history WHERE client_order_id = ?", (client_order_id,)
                )
                self._db.conn.execute(
                    "DELETE FROM orders WHERE client_order_id = ?", (client_order_id,)
                )

    def mark_unknown(self, client_order_id: str, *, reason: str) -> None:
        """Sent, and no answer came back: to be reconciled, never re-sent. A row answered
        already (a read recorded the order while its request was out: a trade loop's read of
        its resting orders, a reconcile) is left as it is: the lost answer tells nothing the
        row does not know, and the order is looked up all the same."""
        with suppress(InvalidTransition):
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
        subaccount: int | None = None,
        savepoint: bool = True,
        row: OrderRow | None = None,
    ) -> bool:
        """Copy the exchange's view of an order; True when a known order changed.

        The row is found by client_order_id when given (then `order_id` is set on it), else by
        order_id. An order the state file does not know is not an error (the kill switch
        cancels orders placed elsewhere): nothing happens and False is returned. `savepoint`:
        see `_block`. `row`: the order's row as `row()` read it in the caller's open
        transaction, nothing written to it since, so it is not read again.
        """
        key_column = "order_id" if client_order_id is None else "client_order_id"
        key = order_id if client_order_id is None else client_order_id
        if key is None:
            raise ValueError("update_order needs a client_order_id or an order_id")
        wanted = _columns(
            order_id=order_id if client_order_id is not None else None,
            status=status,
            subaccount=subaccount,
            filled=fill_count,
            remaining=remaining_count,
            price=price,
            count=count,
        )
        if row is not None and (not self._db.depth or getattr(row, key_column) != key):
            raise ValueError(f"update_order of {key} was handed another row, or none read here")
        with self._block(savepoint, "update_order"):
            row = row or self.row(key, key_column)
            if row is None:
                return False
            _fill_wins(wanted, status=row.status, count=row.count)
            _total_covers_filled(wanted, filled=row.filled, count=row.count)
            changed = {c: getattr(row, c) for c in wanted if wanted[c] != getattr(row, c)}
            if not changed:
                return False
            now = self._db.clock.wall()
            # the statement and its values in one plain loop: every amend booked comes here
            sets, values = "", []
            for column in changed:
                sets += f"{column} = ?, "
                values.append(wanted[column])
            values += (now, row.client_order_id)
            self._db.conn.execute(
                f"UPDATE orders SET {sets}updated_at = ? WHERE client_order_id = ?",  # noqa: S608
                values,
            )
            if self._db.for_people:
                self._history(row.client_order_id, _change_name(changed, wanted), now)
        return True

    def mark_cancelled(self, order_id: str) -> bool:
        """An order the exchange cancelled, or no longer lists as resting: canceled, nothing
        rests (`update_order`); True when a known order changed. A cancel is booked through
        `book_cancel` (services/reconcile.py), whoever sent it."""
        return self.update_order(order_id=order_id, status=CANCELED, remaining_count=ZERO)

    def write_amend(
        self, order_id: str, *, price: Decimal, rest: Decimal, post_only: bool | None
    ) -> AmendRecord | None:
        """An amend of a resting order about to be sent, inside the caller's transaction: its record
        in `amends_in_flight` (in doubt until `settle_amend`) and a history row, while the
        order's row keeps what the exchange last said. The new total is what the row says filled
        plus `rest`. None, nothing written, when no order by that id rests here, when an amend
        of it is in flight already (two never race), or (with `post_only`: a requote) none on the
        terms an amend keeps."""
        if not self._db.depth and self._db.for_people:  # a held record needs none
            raise RuntimeError("write_amend runs inside a transaction")
        if not ZERO < price < ONE:
            raise ValueError(f"YES price {price} is outside (0, 1)")
        if rest <= 0:
            raise ValueError(f"count {rest} to rest must be positive")
        # the order resting, and no amend of it in flight, in one read
        if post_only is None:
            row = self._db.conn.execute(_AMENDABLE_SQL, (order_id, RESTING)).fetchone()
        else:
            keeping = (order_id, RESTING, int(post_only))
            row = self._db.conn.execute(_AMENDABLE_KEEPING_SQL, keeping).fetchone()
        if row is None:
            return None
        coid, total, now = str(row[0]), Decimal(row[4]) + rest, self._db.clock.wall()
        if not self._db.for_people:
            return self._held.hold(OrderRow(*row), price, total, now)
        price_text, total_text = dec_text(price), dec_text(total)
        written = self._db.conn.execute(
            "INSERT INTO amends_in_flight (client_order_id, price, total, at) VALUES (?, ?, ?, ?)",
            (coid, price_text, total_text, now),
        )
        assert written.lastrowid is not None  # an INSERT into a rowid table
        # the order's row keeps the exchange's terms until the answer; when it was last
        # amended is this file's own fact (the day an assistant's budget counts it in)
        if self._db.for_people:
            self._db.conn.execute(
                "UPDATE orders SET amend_sent_at = ? WHERE client_order_id = ?", (now, coid)
            )
            self._history(coid, f"amend sent: YES price {price_text}, total {total_text}", now)
        return AmendRecord(written.lastrowid, coid, price, total, now)

    def settle_amend(self, amend: int, note: str | None = None, *, savepoint: bool = True) -> bool:
        """The amend `write_amend` recorded with id `amend` settled (answered and booked,
        refused, never sent, or shown by a read): its record gone and, when given, `note` a
        row of its order's history, in one transaction (`savepoint`: see `_block`). False, and
        nothing written, when no record has that id: something settled it already (another
        process's reconcile, with its own note), or retention removed its order with it."""
        if not self._db.for_people:
            return self._held.let_go(amend, savepoint)
        with self._block(savepoint, "settle_amend"):
            row = None
            if note is not None:  # an answer booked (the common case) writes no note
                row = self._db.conn.execute(
                    "SELECT client_order_id FROM amends_in_flight WHERE id = ?", (amend,)
                ).fetchone()
            gone = self._db.conn.execute("DELETE FROM amends_in_flight WHERE id = ?", (amend,))
            if gone.rowcount == 0:  # with a note, nothing was read either
                return False
            if row is not None and note is not None:
                self._history(str(row[0]), note, self._db.clock.wall())
        return True

    def amends_in_doubt(self) -> list[tuple[IntentRecord, AmendRecord]]:
        """The amends of resting orders recorded and not settled since (`write_amend`,
        `settle_amend`), oldest first, each with its order: sent, or about to be, and nothing
        heard of since (its answer still out, or lost: its process killed while it was out).
        An order that no longer rests takes no amend, so its records are not in doubt; they go
        when retention removes the order."""
        if not self._db.for_people:
            return [
                (intent, amend)
                for amend in self._held.records()
                if (intent := self.get_intent(amend.client_order_id)) is not None
                and intent.status == RESTING
            ]
        rows = self._db.rows(
            "SELECT a.id, a.client_order_id, a.price, a.total, a.at FROM amends_in_flight a "
            "JOIN orders o USING (client_order_id) WHERE o.status = ? ORDER BY a.id",
            (RESTING,),
        )
        found = []
        for amend_id, coid, price, total, at in rows:
            intent = self.get_intent(str(coid))
            if intent is not None:  # None: another process's retention removed it since
                terms = Decimal(price), Decimal(total)
                found.append((intent, AmendRecord(int(amend_id), str(coid), *terms, float(at))))
        return found

    def amends_of(self, client_order_ids: Collection[str]) -> dict[str, list[AmendRecord]]:
        """The amends recorded and not settled since (`write_amend`, `settle_amend`) of these
        orders, by client order id, oldest first, whatever the order's status now: what may
        yet have changed each order's terms on the exchange, whoever sent it."""
        ids = list(client_order_ids)
        if not ids:
            return {}
        if not self._db.for_people:
            wanted = set(ids)
            held: dict[str, list[AmendRecord]] = {}
            for amend in self._held.records():
                if amend.client_order_id in wanted:
                    held.setdefault(amend.client_order_id, []).append(amend)
            return held
        marks = ", ".join("?" * len(ids))
        found: dict[str, list[AmendRecord]] = {}
        for amend_id, coid, price, total, at in self._db.rows(
            "SELECT id, client_order_id, price, total, at FROM amends_in_flight "  # noqa: S608
            f"WHERE client_order_id IN ({marks}) ORDER BY id",
            ids,
        ):
            record = AmendRecord(int(amend_id), str(coid), Decimal(price), Decimal(total), at)
            found.setdefault(record.client_order_id, []).append(record)
        return found

    def get_intent(self, client_order_id: str) -> IntentRecord | None:
        rows = self._db.rows(f"{_SELECT_ORDERS} WHERE client_order_id = ?", (client_order_id,))
        return _intent(rows[0]) if rows else None

    def row(
        self, key: str, key_column: str = "order_id", *, amend: int | None = None
    ) -> OrderRow | None:
        """The row of the order by that id as `update_order` compares it (None: no such row):
        what booking an amend's answer or a decrease reads, and hands to `update_order`. With
        `amend` (the record of an amend of that order being booked), a replay nobody keeps
        reads it again only when a row was written since the record read it."""
        if amend is not None and not self._db.for_people:
            held = self._held.row_read(amend)
            if held is not None and getattr(held, key_column) == key:
                return held
        found = self._db.conn.execute(f"{_SELECT_ROW} {key_column} = ?", (key,)).fetchone()
        return None if found is None else OrderRow(*found)

    def intent_by_order_id(self, order_id: str) -> IntentRecord | None:
        rows = self._db.rows(f"{_SELECT_ORDERS} WHERE order_id = ?", (order_id,))
        return _intent(rows[0]) if rows else None

    def intents(
        self,
        *,
        status: str | list[str] | None = None,
        ticker: str | None = None,
        strategy: str | None = None,
        limit: int | None = None,
        subaccount: int | None = None,
        since: float | None = None,
    ) -> list[IntentRecord]:
        """The intents, newest last; `subaccount` keeps that subaccount's only, `since` those
        made at or after it (unix seconds)."""
        statuses = None if status is None else [status] if isinstance(status, str) else list(status)
        for s in statuses or ():
            if s not in ORDER_STATUSES:
                raise ValueError(f"unknown order status {s!r}")
        where, params = where_given(
            {
                f"status IN ({', '.join('?' * len(statuses or ()))})": statuses,
                "ticker = ?": ticker,
                "strategy = ?": strategy,
                "subaccount = ?": subaccount,
                "created_at >= ?": since,
            }
        )
        rows = self._db.newest(_SELECT_ORDERS + where, params, "created_at, rowid", limit)
        return [_intent(r) for r in rows]

    def placed_or_amended(
        self, strategy: str, *, since: float, until: float
    ) -> list[tuple[IntentRecord, bool]]:
        """`strategy`'s orders placed in [since, until) (unix seconds) that the exchange did
        not refuse, and those placed before whose latest amend was sent in it (`write_amend`;
        one amended in it and again after is found by the later: the window asked is today),
        oldest first, each with whether it was placed then: what the assistant's budget of a
        day reads (agent/ledger.py)."""
        rows = self._db.rows(
            f"{_SELECT_ORDERS} WHERE strategy = ? AND status != ? AND ("
            "(created_at >= ? AND created_at < ?) OR (amend_sent_at >= ? AND amend_sent_at < ?))"
            " ORDER BY created_at, rowid",
            (strategy, REJECTED, since, until, since, until),
        )
        found = [_intent(r) for r in rows]
        return [(intent, since <= intent.created_at < until) for intent in found]

    def sent_since(self, since: float, subaccount: int) -> list[float]:
        """When each order of `subaccount` was placed, and each one's latest amend sent, at or
        after `since` (unix seconds): what the order-rate cap counts again after a restart."""
        rows = self._db.rows(
            "SELECT created_at FROM orders WHERE created_at >= ? AND subaccount = ? UNION ALL "
            "SELECT amend_sent_at FROM orders WHERE amend_sent_at >= ? AND subaccount = ?",
            (since, subaccount, since, subaccount),
        )
        return sorted(r[0] for r in rows)

    def iter_intents(self) -> Iterator[IntentRecord]:
        """Every intent, oldest first, streamed without loading them all: a backtest's report
        reads each of a run's orders once, and memory stays flat whatever their number."""
        return map(_intent, self._db.stream(f"{_SELECT_ORDERS} ORDER BY created_at, rowid"))

    def open_orders(
        self, *, ticker: str | None = None, subaccount: int | None = None
    ) -> list[IntentRecord]:
        """Intents that may still rest on the exchange: pending, unknown or resting (of
        `subaccount` only, when given)."""
        return self.intents(
            status=[PENDING, UNKNOWN, RESTING], ticker=ticker, subaccount=subaccount
        )

    def order_history(self, client_order_id: str) -> list[OrderHistoryRecord]:
        rows = self._db.rows(
            "SELECT client_order_id, status, order_id, filled, remaining, note, at "
            "FROM order_history WHERE client_order_id = ? ORDER BY id",
            (client_order_id,),
        )
        return [
            OrderHistoryRecord(r[0], r[1], r[2], Decimal(r[3]), opt_decimal(r[4]), r[5], r[6])
            for r in rows
        ]

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
        with self._db.transaction():
            now = self._db.clock.wall()
            # the status is tested by the update itself: an answer is recorded for every order
            # sent, and only a refused one needs the row read to say why
            answered = self._db.conn.execute(
                f"UPDATE orders SET {sets}, updated_at = ? WHERE client_order_id = ? "  # noqa: S608
                f"AND status IN ({', '.join('?' * len(_AWAITING_ANSWER))})",
                (*values, now, client_order_id, *_AWAITING_ANSWER),
            ).rowcount
            if not answered:
                row = self.row(client_order_id, "client_order_id")
                if row is None:
                    raise OrderNotFound(f"no intent {client_order_id} in the state file")
                raise InvalidTransition(
                    f"cannot mark intent {client_order_id} {what}: it is already {row.status}",
                    hint="use update_order to copy the exchange's state",
                )
            self._history(client_order_id, note if note is not None else what, now)

    def _block(self, savepoint: bool, what: str) -> AbstractContextManager[object]:
        """A method's writes in a transaction of their own, a savepoint inside the caller's (an
        error undoes them alone, so a caller that catches it and goes on keeps none of them);
        or, with `savepoint` False, as plain statements of the caller's open transaction, for
        a caller that lets any error undo its whole block (`OrderAmends.book`: the
        savepoint and its release were two statements more for every write of every amend
        booked)."""
        if savepoint:
            return self._db.transaction()
        if not self._db.depth:
            raise RuntimeError(f"{what} without a savepoint runs inside a transaction")
        return _IN_CALLERS

    def _history(self, client_order_id: str, note: str, at: float) -> None:
        """A row of the order's history, as its row stands now (`Database.for_people`)."""
        if not self._db.for_people:
            return
        self._db.conn.execute(
            "INSERT INTO order_history (client_order_id, status, order_id, filled, remaining, "
            "note, at) SELECT client_order_id, status, order_id, filled, remaining, ?, ? "
            "FROM orders WHERE client_order_id = ?",
            (note, at, client_order_id),
        )


def _columns(
    *, order_id: str | None, status: str | None, subaccount: int | None, **amounts: Decimal | None
) -> dict[str, object]:
    """The columns `update_order` sets (those given), as the row holds them."""
    if status is not None and (status not in ORDER_STATUSES or status == PENDING):
        raise ValueError(f"update_order cannot set status {status!r}")
    price = amounts["price"]
    if price is not None and not ZERO < price < ONE:
        raise ValueError(f"YES price {price} is outside (0, 1)")
    wanted: dict[str, object] = {}
    if order_id is not None:
        wanted["order_id"] = order_id
    if status is not None:
        wanted["status"] = status
    for column, value in amounts.items():
        if value is not None:
            wanted[column] = dec_text(value)
    if subaccount is not None:
        wanted["subaccount"] = subaccount_number(subaccount)
    return wanted


def _fill_wins(wanted: dict[str, object], *, status: str, count: str) -> None:
    """The fill wins: a cancel booked after an order executed, or before fills that took
    exactly all it was for, leaves it executed. The exchange's read (status with what filled)
    is kept as it says; fills beyond the total leave it canceled (an amend grew it)."""
    cancelled_after = wanted.get("status") == CANCELED and "filled" not in wanted
    filled_after = "filled" in wanted and "status" not in wanted and status == CANCELED
    if (cancelled_after and status == EXECUTED) or (
        filled_after and Decimal(str(wanted["filled"])) == Decimal(str(wanted.get("count", count)))
    ):
        wanted["status"] = EXECUTED


def _total_covers_filled(wanted: dict[str, object], *, filled: str, count: str) -> None:
    """Raise the total `wanted` leaves the row (`count`, else the row's) to what it leaves
    filled, if that is more. An order never fills more than its total, so a row that would
    say so holds a total out of date: an amend sent elsewhere grew the order, and the read
    that shows its fills cannot show its new total once it has ended (a cancelled order rests
    nothing; `initial_count` is the size it was placed with). What filled is then the least
    the total was."""
    now_filled = Decimal(str(wanted.get("filled", filled)))
    if now_filled > Decimal(str(wanted.get("count", count))):
        wanted["count"] = dec_text(now_filled)


def _change_name(changed: dict[str, object], wanted: dict[str, object]) -> str:
    """What an exchange update did to an order, as a person says it (`changed` holds the old
    values, `wanted` the new): a new price is an amend, a new status its name, more filled a
    fill, less resting without a fill a decrease, more resting an amend of its size."""
    if "price" in changed:
        return "amend"
    if "status" in changed:
        return str(wanted["status"])
    if "filled" in changed:
        return "fill"
    if "remaining" in changed or "count" in changed:
        column = "remaining" if "remaining" in changed else "count"
        before, after = Decimal(str(changed[column])), Decimal(str(wanted[column]))
        return "decrease" if after < before else "amend"
    return "update"


def _intent(r: Sequence[Any]) -> IntentRecord:
    return IntentRecord(
        client_order_id=r[0],
        order_id=r[1],
        ticker=r[2],
        book_side=BOOK_SIDES[r[3]],
        price=Decimal(r[4]),
        count=Decimal(r[5]),
        side=_SIDES[r[6]],
        action=_ACTIONS[r[7]],
        status=r[8],
        filled=Decimal(r[9]),
        remaining=opt_decimal(r[10]),
        strategy=r[11],
        model_fair=opt_decimal(r[12]),
        reason=r[13],
        error=r[14],
        created_at=r[15],
        updated_at=r[16],
        time_in_force=r[17],
        post_only=bool(r[18]),
        reduce_only=bool(r[19]),
        subaccount=r[20],
    )

"""The sets of legs the trade loop opened (table `leg_sets`): each written before its first leg goes
and marked as it ends (`whole`, `flat`) or is left `broken`. What a leg holds is not a column: it is
read from the orders the set sent, each naming the set in its reason (`(set ID)`), so a kill between
an answer and a write of the set loses nothing (runner/execution/leg_sets.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kalshi_cli.store.connection import Database
from kalshi_cli.store.records import PENDING, UNKNOWN
from kalshi_cli.store.values import dec_text
from kalshi_cli.vocabulary.units import ZERO, Action, Side

# a set not ended yet: on its way (`open`), or one a sale back could not flatten (`broken`)
UNFINISHED = ("open", "broken")


@dataclass(frozen=True)
class SetLeg:
    """One leg of a set as decided: its market, side, price and count."""

    ticker: str
    side: Side
    price: Decimal
    count: Decimal


@dataclass(frozen=True)
class LegSetRecord:
    set_id: str
    strategy: str | None
    status: str  # open, whole, flat or broken
    legs: tuple[SetLeg, ...]
    note: str
    created_at: float
    updated_at: float


def set_tag(set_id: str) -> str:
    """What the reason of every order of a set ends with."""
    return f"(set {set_id})"


def set_of(reason: str) -> str | None:
    """The set an order's reason names (`set_tag`; None: no set's)."""
    _, tag, tail = reason.rpartition("(set ")
    return tail[:-1] if tag and tail.endswith(")") else None


@dataclass(frozen=True)
class BrokenSet:
    """A set of legs not ended whole or flat, as the state file holds it: each leg's market,
    side, count asked and what the set holds of it (None: unknown, an order of the leg's is of
    unknown outcome)."""

    set_id: str
    strategy: str | None
    status: str
    legs: tuple[tuple[str, str, Decimal, Decimal | None], ...]  # ticker, side, count, held

    def to_json(self) -> dict[str, Any]:
        return {
            "set_id": self.set_id,
            "strategy": self.strategy,
            "status": self.status,
            "legs": [
                {"ticker": t, "side": side, "count": str(count), "held": _held(held)}
                for t, side, count, held in self.legs
            ],
        }

    def text(self) -> str:
        held = ", ".join(
            f"{t} {side} {_held(held)} of {count}" for t, side, count, held in self.legs
        )
        return f"set {self.set_id} ({self.strategy or 'unknown'}, {self.status}): {held}"


def _held(held: Decimal | None) -> str:
    return "unknown" if held is None else str(held)


def _book(
    held: dict[tuple[str, Side], Decimal], ticker: Any, side: Any, action: Any, filled: Any
) -> None:
    """An order of a set counted in what the set holds of its leg (`held`, by market and side):
    what a buy filled added, what a sale back filled taken off; an order of no leg counts
    nothing."""
    key = (str(ticker), Side(side))
    if key in held:
        held[key] += (1 if Action(action) is Action.BUY else -1) * Decimal(filled)


class LegSetRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def begin(self, set_id: str, strategy: str | None, legs: Sequence[SetLeg]) -> None:
        """A set about to send its first leg, `open`."""
        now = self._db.clock.wall()
        text = json.dumps(
            [
                {
                    "ticker": g.ticker,
                    "side": g.side.value,
                    "price": dec_text(g.price),
                    "count": dec_text(g.count),
                }
                for g in legs
            ]
        )
        self._db.write(
            "INSERT INTO leg_sets (set_id, strategy, status, legs, created_at, updated_at) "
            "VALUES (?, ?, 'open', ?, ?, ?)",
            (set_id, strategy, text, now, now),
        )

    def mark(self, set_id: str, status: str, note: str = "") -> None:
        """The set ended (`whole`, `flat`) or was left `broken`, and what it holds (`note`)."""
        self._db.write(
            "UPDATE leg_sets SET status = ?, note = ?, updated_at = ? WHERE set_id = ?",
            (status, note, self._db.clock.wall(), set_id),
        )

    def unfinished(self) -> list[LegSetRecord]:
        """The sets not ended whole or flat, oldest first."""
        rows = self._db.rows(
            "SELECT set_id, strategy, status, legs, note, created_at, updated_at FROM leg_sets "
            "WHERE status IN (?, ?) ORDER BY created_at, set_id",
            UNFINISHED,
        )
        return [
            LegSetRecord(
                set_id=str(r[0]),
                strategy=r[1],
                status=str(r[2]),
                legs=tuple(
                    SetLeg(g["ticker"], Side(g["side"]), Decimal(g["price"]), Decimal(g["count"]))
                    for g in json.loads(r[3])
                ),
                note=str(r[4]),
                created_at=float(r[5]),
                updated_at=float(r[6]),
            )
            for r in rows
        ]

    def held(self, record: LegSetRecord) -> list[Decimal]:
        """What the set holds of each leg, from the orders it sent (their reason names it): what
        its buys filled less what its sales back filled, as the state file knows them."""
        rows = self._db.rows(
            "SELECT ticker, side, action, filled FROM orders WHERE reason LIKE ?",
            (f"%{set_tag(record.set_id)}",),
        )
        held = {(g.ticker, g.side): ZERO for g in record.legs}
        for ticker, side, action, filled in rows:
            _book(held, ticker, side, action, filled)
        return [held[(g.ticker, g.side)] for g in record.legs]

    def whole(self, subaccount: int) -> list[tuple[tuple[SetLeg, ...], Decimal]]:
        """The sets that ended whole, each with its legs and the whole sets it holds on
        `subaccount` (what its orders there filled of its emptiest leg, as `held` reads them: a
        state file shared by loops on several subaccounts holds each one's sets): read in two
        statements."""
        legs = {
            str(r[0]): tuple(
                SetLeg(g["ticker"], Side(g["side"]), Decimal(g["price"]), Decimal(g["count"]))
                for g in json.loads(r[1])
            )
            for r in self._db.rows("SELECT set_id, legs FROM leg_sets WHERE status = 'whole'")
        }
        if not legs:
            return []
        held = {k: {(g.ticker, g.side): ZERO for g in v} for k, v in legs.items()}
        rows = self._db.rows(
            "SELECT ticker, side, action, filled, reason FROM orders "
            "WHERE reason LIKE ? AND subaccount = ?",
            ("%(set %)", subaccount),
        )
        for ticker, side, action, filled, reason in rows:
            of = held.get(set_of(str(reason)) or "")
            if of is not None:
                _book(of, ticker, side, action, filled)
        return [(v, min(held[k].values())) for k, v in legs.items()]

    def held_by_others(self, set_id: str, strategy: str, ticker: str, side: Side) -> Decimal:
        """What `strategy`'s sets other than `set_id` that are not flat (on their way, broken
        or whole) hold of `side` in `ticker`, from their orders as `held` reads them: what a
        sale back of `set_id` must leave to them."""
        others = {
            str(r[0])
            for r in self._db.rows(
                "SELECT set_id FROM leg_sets WHERE strategy = ? AND set_id != ? "
                "AND status IN (?, ?, ?)",
                (strategy, set_id, *UNFINISHED, "whole"),
            )
        }
        if not others:
            return ZERO
        held = dict.fromkeys(others, ZERO)
        rows = self._db.rows(
            "SELECT action, filled, reason FROM orders WHERE ticker = ? AND side = ? "
            "AND reason LIKE ?",
            (ticker, side.value, "%(set %)"),
        )
        for action, filled, reason in rows:
            found = set_of(str(reason))
            if found in held:
                sign = 1 if Action(action) is Action.BUY else -1
                held[found] += sign * Decimal(filled)
        return sum((max(h, ZERO) for h in held.values()), ZERO)

    def in_doubt(self, record: LegSetRecord) -> list[bool]:
        """Whether each leg has an order of the set whose outcome the state file does not know
        (its answer lost, or never written): what the leg holds may be more than `held` says."""
        rows = self._db.rows(
            "SELECT DISTINCT ticker, side FROM orders WHERE reason LIKE ? AND status IN (?, ?)",
            (f"%{set_tag(record.set_id)}", PENDING, UNKNOWN),
        )
        doubted = {(str(ticker), Side(side)) for ticker, side in rows}
        return [(g.ticker, g.side) in doubted for g in record.legs]

    def not_ended(self) -> list[BrokenSet]:
        """The sets neither whole nor flat, each with what its legs hold (`held`; None where an
        order of the leg is of unknown outcome: `in_doubt`), as `kalshi cancel-all` and
        `kalshi status` name them."""
        return [
            BrokenSet(
                r.set_id,
                r.strategy,
                r.status,
                tuple(
                    (g.ticker, g.side.value, g.count, None if doubt else held)
                    for g, held, doubt in zip(r.legs, self.held(r), self.in_doubt(r), strict=True)
                ),
            )
            for r in self.unfinished()
        ]

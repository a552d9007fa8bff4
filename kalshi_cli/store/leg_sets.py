"""The sets of legs the trade loop opened (table `leg_sets`): each written before its first leg goes
and marked as it ends (`whole`, `flat`) or is left `broken`, with the legs it holds to their
settlement (column `settling`: legs the loop does not mean to sell back). What a leg holds is not a
column: it is read from the orders the set sent, each naming the set in its reason (`(set ID)`), so
a kill between an answer and a write of the set loses nothing (runner/execution/leg_sets.py).

A set is its loop's subaccount's (column `subaccount`): a state file shared by loops on several
subaccounts holds each one's sets, and every reader that acts on sets (a start's unwinding, the
whole sets the stop-loss leaves, what a sale back leaves to other sets) is handed the loop's
subaccount and reads that subaccount's sets only; the reports (`not_ended`) list every
subaccount's, each named."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kalshi_cli.store.connection import Database
from kalshi_cli.store.records import PENDING, UNKNOWN
from kalshi_cli.store.values import dec_text
from kalshi_cli.vocabulary.units import ZERO, Action, Side

# a set not ended yet: on its way (`open`), or one a sale back could not flatten (`broken`)
UNFINISHED = ("open", "broken")
_COLUMNS = "set_id, strategy, status, legs, note, created_at, updated_at, subaccount, settling"


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
    subaccount: int
    # the legs (by index) held to their settlement when the set was last marked
    settling: frozenset[int] = frozenset()


def held_to_settlement(status: str, unhedged: Collection[int], settling: Collection[int]) -> bool:
    """The one rule of a set held to its settlement by design, not broken: it leaves a leg
    unhedged, and every leg it so leaves the loop holds to its settlement (`settling`: the market
    no longer trades, or a sale back is sure to lose against holding). A set left `open` never is
    (its row was never marked). `kalshi check orders`, `kalshi status`, `kalshi cancel-all` and
    the trade loop's stop say such a set as held, and ask nothing of the trader for it (the stop
    does not exit NOT_PROVEN for it)."""
    return status != "open" and bool(unhedged) and set(unhedged) <= set(settling)


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
    unknown outcome); the legs (by index) the loop holds to their settlement, and those whose
    market's settlement on the set's subaccount is recorded."""

    set_id: str
    strategy: str | None
    status: str
    subaccount: int
    legs: tuple[tuple[str, str, Decimal, Decimal | None], ...]  # ticker, side, count, held
    settling: frozenset[int] = frozenset()
    settled: frozenset[int] = frozenset()

    def unhedged(self) -> list[int]:
        """The legs known to hold beyond the whole sets whose market has not settled: what the
        set leaves unhedged. A leg whose order is of unknown outcome may hold nothing, so the set
        is sure of no whole set; that leg is not counted here, its order is (`kalshi check
        orders`' unknown orders, `kalshi reconcile`)."""
        helds = [held for *_, held in self.legs]
        sets = ZERO if None in helds else min(h for h in helds if h is not None)
        return [
            i
            for i, (*_, held) in enumerate(self.legs)
            if held is not None and held > sets and i not in self.settled
        ]

    def held_to_settlement(self) -> bool:
        """Whether the set is held to its settlement by design, not broken
        (`held_to_settlement`), as its row says."""
        return held_to_settlement(self.status, self.unhedged(), self.settling)

    def to_json(self) -> dict[str, Any]:
        return {
            "set_id": self.set_id,
            "strategy": self.strategy,
            "status": self.status,
            "held_to_settlement": self.held_to_settlement(),
            "subaccount": self.subaccount,
            "legs": [
                {"ticker": t, "side": side, "count": str(count), "held": _held(held)}
                for t, side, count, held in self.legs
            ],
        }

    def text(self) -> str:
        held = ", ".join(
            f"{t} {side} {_held(held)} of {count}" for t, side, count, held in self.legs
        )
        status = "held to settlement" if self.held_to_settlement() else self.status
        return (
            f"set {self.set_id} ({self.strategy or 'unknown'}, {status}, "
            f"subaccount {self.subaccount}): {held}"
        )


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

    def begin(
        self, set_id: str, strategy: str | None, legs: Sequence[SetLeg], subaccount: int
    ) -> None:
        """A set about to send its first leg on `subaccount`, `open`."""
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
            "INSERT INTO leg_sets (set_id, strategy, status, legs, created_at, updated_at, "
            "subaccount) VALUES (?, ?, 'open', ?, ?, ?, ?)",
            (set_id, strategy, text, now, now, subaccount),
        )

    def mark(
        self, set_id: str, status: str, note: str = "", settling: Collection[int] = ()
    ) -> None:
        """The set ended (`whole`, `flat`) or was left `broken`, what it holds (`note`) and the
        legs (by index) it holds to their settlement (`settling`)."""
        self._db.write(
            "UPDATE leg_sets SET status = ?, note = ?, settling = ?, updated_at = ? "
            "WHERE set_id = ?",
            (status, note, json.dumps(sorted(settling)), self._db.clock.wall(), set_id),
        )

    def unfinished(self, subaccount: int) -> list[LegSetRecord]:
        """The sets of `subaccount` not ended whole or flat, oldest first."""
        return self._records("status IN (?, ?) AND subaccount = ?", (*UNFINISHED, subaccount))

    def _records(self, where: str, params: tuple[Any, ...]) -> list[LegSetRecord]:
        sql = f"SELECT {_COLUMNS} FROM leg_sets WHERE {where} ORDER BY created_at, set_id"  # noqa: S608
        rows = self._db.rows(sql, params)
        return [
            LegSetRecord(
                set_id=str(r[0]),
                strategy=r[1],
                status=str(r[2]),
                legs=_legs(r[3]),
                note=str(r[4]),
                created_at=float(r[5]),
                updated_at=float(r[6]),
                subaccount=int(r[7]),
                settling=frozenset(int(i) for i in json.loads(r[8])),
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
        """The sets of `subaccount` that ended whole, each with its legs and the whole sets it
        holds (what its orders filled of its emptiest leg, as `held` reads them): read in two
        statements."""
        legs = {
            str(r[0]): _legs(r[1])
            for r in self._db.rows(
                "SELECT set_id, legs FROM leg_sets WHERE status = 'whole' AND subaccount = ?",
                (subaccount,),
            )
        }
        if not legs:
            return []
        held = {k: {(g.ticker, g.side): ZERO for g in v} for k, v in legs.items()}
        rows = self._db.rows(
            "SELECT ticker, side, action, filled, reason FROM orders WHERE reason LIKE ?",
            ("%(set %)",),
        )
        for ticker, side, action, filled, reason in rows:
            of = held.get(set_of(str(reason)) or "")
            if of is not None:
                _book(of, ticker, side, action, filled)
        return [(v, min(held[k].values())) for k, v in legs.items()]

    def held_by_others(
        self, set_id: str, strategy: str, ticker: str, side: Side, subaccount: int
    ) -> Decimal:
        """What `strategy`'s sets other than `set_id` on its `subaccount` that are not flat (on
        their way, broken or whole) hold of `side` in `ticker`, from their orders as `held` reads
        them: what a sale back of `set_id` must leave to them."""
        others = {
            str(r[0])
            for r in self._db.rows(
                "SELECT set_id FROM leg_sets WHERE strategy = ? AND set_id != ? "
                "AND status IN (?, ?, ?) AND subaccount = ?",
                (strategy, set_id, *UNFINISHED, "whole", subaccount),
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
        """Every subaccount's sets neither whole nor flat, each with its subaccount and what its
        legs hold (`held`; None where an order of the leg is of unknown outcome: `in_doubt`), as
        `kalshi cancel-all` and `kalshi status` name them, and `kalshi check orders` grades
        them (`settling`, and the legs whose market's settlement is recorded for the set's
        subaccount or, copied before subaccounts were kept, for none)."""
        records = self._records("status IN (?, ?)", UNFINISHED)
        if not records:
            return []
        settled = {
            (str(t), s)
            for t, s in self._db.rows("SELECT DISTINCT ticker, subaccount FROM settlements", ())
        }
        return [
            BrokenSet(
                r.set_id,
                r.strategy,
                r.status,
                r.subaccount,
                tuple(
                    (g.ticker, g.side.value, g.count, None if doubt else held)
                    for g, held, doubt in zip(r.legs, self.held(r), self.in_doubt(r), strict=True)
                ),
                r.settling,
                frozenset(
                    i
                    for i, g in enumerate(r.legs)
                    if {(g.ticker, r.subaccount), (g.ticker, None)} & settled
                ),
            )
            for r in records
        ]


def _legs(text: str) -> tuple[SetLeg, ...]:
    """A set's legs as its row holds them."""
    return tuple(
        SetLeg(g["ticker"], Side(g["side"]), Decimal(g["price"]), Decimal(g["count"]))
        for g in json.loads(text)
    )

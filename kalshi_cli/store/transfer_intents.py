"""The moves of money between exchange shards that `kalshi shard move` is sending (table
`transfer_intents`): each written before its request leaves, with what the transfer history held
then (`known`), and closed once its outcome is known. The request carries no idempotency key, so a
move killed between sending and its answer leaves its row `open`, and the next run looks it up in
the history instead of sending the money again (services/shards.py). docs/shards.md."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from kalshi_cli.store.connection import Database
from kalshi_cli.store.values import dec_text

# how an intent ended: its transfer found (`made`), not in the history (`not_made`), refused by
# the exchange (`refused`), or more than one transfer could be it (`ambiguous`)
OUTCOMES = ("made", "not_made", "refused", "ambiguous")


@dataclass(frozen=True)
class TransferIntentRecord:
    intent_id: int
    amount: Decimal  # dollars
    source: int  # shard
    target: int  # shard
    subaccount: int  # whose money (0: the primary account)
    known: frozenset[str]  # the transfer ids the history listed before it was sent
    status: str  # open, or one of OUTCOMES
    transfer_id: str | None
    created_at: float  # unix seconds


class TransferIntentRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self, amount: Decimal, source: int, target: int, subaccount: int, known: Iterable[str]
    ) -> int:
        """A move about to be sent, `open`; its id."""
        now = self._db.clock.wall()
        cursor = self._db.write(
            "INSERT INTO transfer_intents (amount, source, target, subaccount, known, status, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?)",
            (dec_text(amount), source, target, subaccount, json.dumps(sorted(known)), now, now),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def close(self, intent_id: int, outcome: str, transfer_id: str | None = None) -> None:
        """The move's outcome is known (one of `OUTCOMES`)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"not an outcome of a transfer intent: {outcome}")
        self._db.write(
            "UPDATE transfer_intents SET status = ?, transfer_id = ?, updated_at = ? WHERE id = ?",
            (outcome, transfer_id, self._db.clock.wall(), intent_id),
        )

    def close_open(self, intent_id: int, outcome: str) -> bool:
        """The open move closed `outcome` (not made, ambiguous: a lookup's finding, with no
        transfer), unless it is no longer open (False: nothing written): another run on the
        file may have found it made meanwhile, in a history that showed it that run's transfer
        sooner. One statement, as `claim` is."""
        if outcome not in OUTCOMES or outcome == "made":
            raise ValueError(f"not an outcome a lookup closes a move with: {outcome}")
        cursor = self._db.write(
            "UPDATE transfer_intents SET status = ?, transfer_id = NULL, updated_at = ? "
            "WHERE id = ? AND status = 'open'",
            (outcome, self._db.clock.wall(), intent_id),
        )
        return cursor.rowcount == 1

    def claim(self, intent_id: int, transfer_id: str) -> bool:
        """The open move closed `made` by `transfer_id`, unless a move already was (False:
        nothing written); True too when this move already was (another run on the file found
        it for this one). One statement, so two runs on the file never both claim one
        transfer, nor both close one move."""
        cursor = self._db.write(
            "UPDATE transfer_intents SET status = 'made', transfer_id = ?, updated_at = ? "
            "WHERE id = ? AND ((status = 'open' AND NOT EXISTS (SELECT 1 FROM "
            "transfer_intents WHERE status = 'made' AND transfer_id = ?)) OR "
            "(status = 'made' AND transfer_id = ?))",
            (transfer_id, self._db.clock.wall(), intent_id, transfer_id, transfer_id),
        )
        return cursor.rowcount == 1

    def claimed(self, but: int | None = None) -> set[str]:
        """The transfers some move (`but` that one) was closed `made` with."""
        rows = self._db.rows(
            "SELECT transfer_id FROM transfer_intents WHERE status = 'made' AND id IS NOT ?",
            (but,),
        )
        return {row[0] for row in rows}

    def open_intents(self) -> list[TransferIntentRecord]:
        """The moves sent whose outcome is not known yet, oldest first."""
        rows = self._db.rows(
            "SELECT id, amount, source, target, subaccount, known, status, transfer_id, "
            "created_at FROM transfer_intents WHERE status = 'open' ORDER BY id"
        )
        return [
            TransferIntentRecord(
                row[0],
                Decimal(row[1]),
                row[2],
                row[3],
                row[4],
                frozenset(json.loads(row[5])),
                row[6],
                row[7],
                row[8],
            )
            for row in rows
        ]

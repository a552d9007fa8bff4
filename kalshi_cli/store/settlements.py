"""Settlements (table `settlements`): what each settled market paid, once per subaccount."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from kalshi_cli.store.connection import Database
from kalshi_cli.store.records import SettlementRecord
from kalshi_cli.store.values import dec_text, where_given

_SELECT_SETTLEMENTS = (
    "SELECT ticker, event_ticker, result, yes_count, no_count, yes_total_cost, no_total_cost, "
    "revenue, fee, settled_at, subaccount FROM settlements"
)


@dataclass(frozen=True)
class SettlementsRecorded:
    """What `record_settlements` wrote: how many settlements were new (`added`), and the books
    whose settlements changed (`books`: (subaccount, market); subaccount None, every subaccount's
    book of the market: a row of no subaccount settles each, added or replaced)."""

    added: int = 0
    books: frozenset[tuple[int | None, str]] = frozenset()


class SettlementRepository:
    """Settled markets, each stored once per subaccount that held it."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record_settlement(self, s: SettlementRecord) -> bool:
        """Store a market's settlement for its subaccount once; True if it was new."""
        return self.record_settlements([s]).added == 1

    def record_settlements(self, records: list[SettlementRecord]) -> SettlementsRecorded:
        """Store each settlement once per (market, subaccount), all or none; returns how many
        were new and whose books they changed. A settlement of a known subaccount replaces the
        row of its market copied before subaccounts were kept (NULL), which is one of these
        listed again: give every subaccount's settlements of a market in one call, so none is
        missing in between."""
        added = 0
        books: set[tuple[int | None, str]] = set()
        with self._db.transaction():
            for s in records:
                if s.subaccount is not None:
                    replaced = self._db.write(
                        "DELETE FROM settlements WHERE ticker = ? AND subaccount IS NULL",
                        (s.ticker,),
                    )
                    if replaced.rowcount:
                        books.add((None, s.ticker))
                cur = self._db.write(
                    "INSERT OR IGNORE INTO settlements (ticker, subaccount, event_ticker, result, "
                    "yes_count, no_count, yes_total_cost, no_total_cost, revenue, fee, "
                    "settled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        s.ticker,
                        s.subaccount,
                        s.event_ticker,
                        s.result,
                        dec_text(s.yes_count),
                        dec_text(s.no_count),
                        dec_text(s.yes_total_cost),
                        dec_text(s.no_total_cost),
                        dec_text(s.revenue),
                        dec_text(s.fee),
                        float(s.settled_at),  # unix seconds
                    ),
                )
                if cur.rowcount == 1:
                    added += 1
                    books.add((s.subaccount, s.ticker))
        return SettlementsRecorded(added, frozenset(books))

    def all_recorded(self, tickers: Iterable[str]) -> bool:
        """Whether a listing of every subaccount's settlements naming `tickers` (a market once
        for each subaccount that held it) holds none the state file lacks: each market has as
        many rows of a known subaccount as it is listed (the exchange lists one per
        subaccount, and a market's rows are each of one; a row copied before subaccounts were
        kept is not counted, so a listing by subaccount replaces it)."""
        listed = Counter(tickers)
        if not listed:
            return True
        rows = self._db.rows(
            "SELECT ticker, count(*) FROM settlements WHERE subaccount IS NOT NULL GROUP BY ticker"
        )
        recorded = {str(t): int(n) for t, n in rows}
        return all(recorded.get(t, 0) >= n for t, n in listed.items())

    def read(
        self, *, since: float | None = None, until: float | None = None, ticker: str | None = None
    ) -> list[SettlementRecord]:
        """Settlements in time order (`since` inclusive, `until` exclusive); of `ticker` only,
        when given (one look-up in the unique index of a market's settlements)."""
        where, params = where_given(
            {"settled_at >= ?": since, "settled_at < ?": until, "ticker = ?": ticker}
        )
        rows = self._db.rows(
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
                subaccount=r[10],
            )
            for r in rows
        ]

"""Settlements (table `settlements`) and the day's realized P&L, which adds them to the fills'."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.store.connection import StoreBase
from kalshi_cli.store.records import SettlementRecord
from kalshi_cli.store.values import DAY_SECONDS, day_start, dec_text, time_range
from kalshi_cli.units import ZERO

_SELECT_SETTLEMENTS = (
    "SELECT ticker, event_ticker, result, yes_count, no_count, yes_total_cost, no_total_cost, "
    "revenue, fee, settled_at, subaccount FROM settlements"
)


class SettlementsMixin(StoreBase):
    """Settled markets, each stored once per subaccount that held it, and the realized P&L of a
    UTC day (every subaccount's settlements, each once)."""

    def record_settlement(self, s: SettlementRecord) -> bool:
        """Store a market's settlement for its subaccount once; True if it was new."""
        return self.record_settlements([s]) == 1

    def record_settlements(self, records: list[SettlementRecord]) -> int:
        """Store each settlement once per (market, subaccount), all or none; returns how many
        were new. A settlement of a known subaccount replaces the row of its market copied
        before subaccounts were kept (NULL), which is one of these listed again: give every
        subaccount's settlements of a market in one call, so none is missing in between."""
        added = 0
        with self.transaction():
            for s in records:
                if s.subaccount is not None:
                    self._write(
                        "DELETE FROM settlements WHERE ticker = ? AND subaccount IS NULL",
                        (s.ticker,),
                    )
                cur = self._write(
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
                added += cur.rowcount == 1
        return added

    def settlements(
        self, *, since: float | None = None, until: float | None = None
    ) -> list[SettlementRecord]:
        where, params = time_range("settled_at", since, until)
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
                subaccount=r[10],
            )
            for r in rows
        ]

    def daily_realized_pnl(self, day: str) -> Decimal:
        """Realized P&L of one UTC day ("YYYY-MM-DD"): the `realized_pnl` of that day's fills
        (those that carry one) plus each settlement of that day's `realized_pnl`
        (revenue - yes_total_cost - no_total_cost - fee)."""
        start = day_start(day)
        total = ZERO
        for (value,) in self._rows(
            "SELECT realized_pnl FROM fills WHERE ts >= ? AND ts < ? AND realized_pnl IS NOT NULL",
            (start, start + DAY_SECONDS),
        ):
            total += Decimal(value)
        for s in self.settlements(since=start, until=start + DAY_SECONDS):
            total += s.realized_pnl
        return total

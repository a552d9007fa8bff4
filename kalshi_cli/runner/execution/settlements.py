"""Settlements into the trade loop's books while it runs, a part of its `FillSync`. A market whose
result the feed announces is read with the fill reads (`GET /portfolio/settlements`, after the
fills) until its settlement is listed, then booked as a restart's rebuild books it: into the
state file once, then into the account's position and every strategy's part
(`Portfolio.apply_settlement`). So the day's P&L, each strategy's limit and the exposure see a
settlement when it happens. docs/trade-loop.md "A market that settles while the loop runs".
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from kalshi_cli.services.pnl import settlement_record_from_api

if TYPE_CHECKING:
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.books.records import LoopTradingRecords
    from kalshi_cli.services.orders.context import OrderClient
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.models import Settlement


class SettlementReads:
    def __init__(
        self,
        *,
        client: OrderClient,
        store: Store,
        records: LoopTradingRecords,
        portfolio: Portfolio,
        log: EntryLog,
    ) -> None:
        self._client = client
        self._store = store
        self._records = records
        self._portfolio = portfolio
        self._log = log
        # the markets whose result is known and whose settlement is not booked yet
        self.awaited: set[str] = set()

    def result_known(self, ticker: str) -> None:
        """The feed says `ticker` has its result: its settlement is read from the next fill
        read on, while the account holds contracts there."""
        market = self._portfolio.pnl.markets.get(ticker)
        if market is None or not market.settled:  # not booked already (the start's rebuild)
            self.awaited.add(ticker)

    def to_ask(self) -> tuple[str, ...]:
        """The awaited markets whose settlement a fill read lists: those where the account
        holds contracts, read or told filled (a series of hundreds settling at once would
        otherwise cost a read each). One held by none waits for the read's fills (`book`)."""
        view = self._portfolio.view
        return tuple(t for t in self.awaited if view(t).position != 0 or view(t).unbooked)

    def listed(self, markets: Iterable[str]) -> list[Settlement]:
        """The exchange's part, off the deciding path: the loop's subaccount's settlements of
        `markets` (none listed yet for a market whose payout is still to come)."""
        here = self._client.subaccount or 0
        portfolio = self._client.portfolio
        return [
            s
            for ticker in markets
            for s in portfolio.iter_settlements(ticker=ticker, subaccount=here)
            if s.ticker == ticker
        ]

    def book(self, listed: Iterable[Settlement], held: Collection[str]) -> None:
        """The settlements a read listed, booked once the read's fills are: each into the state
        file and the books. A market with a fill `held` back (its order's answer not booked)
        waits for it: a settlement comes after every fill of its market. An awaited market with
        none listed stays awaited while the loop holds contracts there (read or told filled),
        and is let go when it holds none (nothing to pay), its fills read."""
        here = self._client.subaccount or 0
        found = {s.ticker: s for s in listed}
        for ticker in list(self.awaited):
            if ticker in held:
                continue
            settlement = found.get(ticker)
            if settlement is None:
                view = self._portfolio.view(ticker)
                if view.position == 0 and not view.unbooked:
                    self.awaited.discard(ticker)
                continue
            self.awaited.discard(ticker)
            record = settlement_record_from_api(settlement, here)
            new = self._store.settlements.record_settlement(record)
            self._portfolio.book_settlement(record)
            if new:
                self._records.add_realized(record.settled_at, record.realized_pnl)
            else:  # another process (a reconcile) copied it first: the file has it
                self._records.forget_realized(record.settled_at)
            self._log.emit(
                "settlement_booked",
                {
                    "ticker": ticker,
                    "result": record.result,
                    "revenue": record.revenue,
                    "fee": record.fee,
                    "realized_pnl": record.realized_pnl,
                },
            )

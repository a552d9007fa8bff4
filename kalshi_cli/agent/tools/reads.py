"""The read tools: the exchange's (its status, markets, events, series, books, trades and candles)
and the account's (balance, positions, orders, fills, P&L, the trading state, the checks' results
and the audit of write calls), each as the command of the same name shows it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from pydantic import Field

from kalshi_cli.agent.tools.common import (
    LIST_MAX,
    AnyTicker,
    Limit,
    Series,
    Status,
    Text,
    Ticker,
    order_document,
)
from kalshi_cli.vocabulary.errors import KalshiError

if TYPE_CHECKING:
    import threading
    from collections.abc import Sequence
    from decimal import Decimal
    from pathlib import Path

    from kalshi_cli.agent.tools.common import Access
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.store.audit import AuditRecord
    from kalshi_cli.vocabulary.clock import Clock

# the tools that act on the account's own state file, and record their calls there
KILL_SWITCH_TOOLS = ("cancel_all", "halt")


@dataclass
class ReadTools:
    access: Access
    clock: Clock
    exchange: threading.Lock  # held around every call of the client, one per process

    def exchange_status(self) -> dict[str, Any]:
        """Whether the exchange and trading are active, and its schedule (maintenance)."""
        with self.exchange:
            client = self.access.client()
            return {
                "environment": self.access.settings().money_env,  # the stakes, as `budget`'s
                "status": msgspec.to_builtins(client.exchange.get_exchange_status()),
                "schedule": msgspec.to_builtins(client.exchange.get_exchange_schedule()),
            }

    def markets(
        self,
        status: Status = "open",
        series: Series = None,
        event: Annotated[Text | None, Field(description="an event's ticker")] = None,
        tickers: Annotated[
            list[Text] | None, Field(max_length=LIST_MAX, description="only these")
        ] = None,
        limit: Limit = 50,
    ) -> dict[str, Any]:
        """Markets by status (open, closed, settled, unopened; default open), series, event or
        tickers, at most `limit` (1 to 200), as `kalshi markets --json` lists them."""
        from kalshi_cli.vocabulary.documents import market_summary_json

        with self.exchange:
            found = list(
                self.access.client().markets.iter_markets(
                    limit=limit,
                    status=status,
                    series_ticker=series,
                    event_ticker=event,
                    tickers=tickers,
                )
            )
        return {"markets": [market_summary_json(m) for m in found], "count": len(found)}

    def search(
        self, text: Annotated[Text, Field(description="words to find")], limit: Limit = 20
    ) -> dict[str, Any]:
        """Series and open events whose ticker or title holds every word of `text`."""
        with self.exchange:
            found = self.access.client().markets.search_listings(text, limit=limit)
        return {"matches": found}

    def events(
        self, status: Status = "open", series: Series = None, limit: Limit = 50
    ) -> dict[str, Any]:
        """Events by status and series, as the exchange sends them."""
        with self.exchange:
            found = list(
                self.access.client().markets.iter_events(
                    limit=limit, status=status, series_ticker=series
                )
            )
        return {"events": found, "count": len(found)}

    def series(
        self, category: Annotated[Text | None, Field(description="Economics, Crypto...")] = None
    ) -> dict[str, Any]:
        """Every series (of one category), with its fee type and settlement sources."""
        with self.exchange:
            return {"series": self.access.client().markets.list_series(category=category)}

    def market(self, ticker: Ticker) -> dict[str, Any]:
        """One market with its rules, and the settlement sources its series names."""
        from kalshi_cli.vocabulary.documents import market_json

        with self.exchange:
            markets = self.access.client().markets
            found = markets.get_market(ticker)
            event = markets.get_event(found.event_ticker).get("event") or {}
            series_ticker = event.get("series_ticker")
            series = markets.get_series(series_ticker) if series_ticker else {}
        return market_json(found) | {
            "series_ticker": series_ticker,
            "settlement_sources": series.get("settlement_sources") or [],
        }

    def orderbook(
        self,
        ticker: Ticker,
        depth: Annotated[int, Field(ge=0, le=LIST_MAX, description="levels a side; 0: all")] = 0,
    ) -> dict[str, Any]:
        """Bids of both sides, the implied asks (a YES ask is 1 - the best NO bid), spread, mid."""
        from kalshi_cli.vocabulary.documents import orderbook_json

        with self.exchange:
            return orderbook_json(self.access.client().markets.get_orderbook(ticker, depth))

    def trades(self, ticker: Ticker, limit: Limit = 50) -> dict[str, Any]:
        """The market's trades tape, newest first, as `kalshi trades --json`."""
        from kalshi_cli.vocabulary.documents import trade_json

        with self.exchange:
            found = self.access.client().markets.iter_trades(ticker=ticker, limit=limit)
            return {"trades": [trade_json(t) for t in found]}

    def candles(
        self,
        ticker: Ticker,
        period: Annotated[Literal["1m", "1h", "1d"], Field(description="a candle's span")] = "1h",
        hours: Annotated[int, Field(ge=1, le=24 * 366, description="back from now")] = 24,
    ) -> dict[str, Any]:
        """The market's candlesticks of `period` over the last `hours`."""
        end = int(self.clock.wall())
        with self.exchange:
            found = self.access.client().markets.market_candles(
                ticker, start_ts=end - hours * 3600, end_ts=end, period=period
            )
        return {"ticker": ticker, "period": period, "candles": msgspec.to_builtins(found)}

    def balance(self) -> dict[str, Any]:
        """Cash and portfolio value of the configured account, in dollars, as `kalshi balance`:
        the total and each exchange shard's part (`shards`: an order is paid from its market's
        shard). Reading only: no tool moves money between shards."""
        from kalshi_cli.vocabulary.documents import balance_json

        with self.exchange:
            return balance_json(self.access.client(auth=True).portfolio.get_balance())

    def positions(self) -> dict[str, Any]:
        """Open positions marked to market (the bid and the mid), as `kalshi positions`."""
        from kalshi_cli.services.positions import mark_to_market, open_caught_up
        from kalshi_cli.services.pretrade.settings import load_risk_limits

        settings = self.access.settings()
        limit = load_risk_limits(settings.config_path).max_position_per_market
        with self.exchange:
            client = self.access.client(auth=True)
            state = open_caught_up(settings.state, client, now=self.clock.wall())
            try:
                view = mark_to_market(client, state.store, limit=limit, paper=state.paper)
            finally:
                if state.store is not None:
                    state.store.close()
        return view.to_json()

    def event_positions(
        self, event: Annotated[Text | None, Field(description="an event's ticker")] = None
    ) -> dict[str, Any]:
        """The account's positions by event, each event's worst and best case at settlement and
        the exchange's `event_exposure_dollars`, as `kalshi positions --by event --json`."""
        from kalshi_cli.services.positions import event_rows

        with self.exchange:
            rows = event_rows(self.access.client(auth=True), event_ticker=event)
        return {"events": [r.to_json() for r in rows], "count": len(rows)}

    def orders(
        self,
        status: Annotated[
            Literal["resting", "executed", "canceled"], Field(description="the orders' status")
        ] = "resting",
        ticker: AnyTicker = None,
    ) -> dict[str, Any]:
        """The exchange's orders, each with the strategy that placed it (the state file's), as
        `kalshi order list --json`: a field the exchange did not send is null, never a default."""
        with self.exchange, self.access.open_store() as store:
            found = self.access.client(auth=True).orders.iter_orders(
                status=status, ticker=ticker, limit=LIST_MAX
            )
            listed = [order_document(store, o) for o in found]
        return {"orders": listed, "count": len(listed)}

    def fills(self, ticker: AnyTicker = None, limit: Limit = 50) -> dict[str, Any]:
        """The account's fills (of one market), newest first, as `kalshi fills --json`."""
        from kalshi_cli.vocabulary.documents import fill_intent, fill_json

        with self.exchange, self.access.open_store() as store:
            found = self.access.client(auth=True).portfolio.iter_fills(ticker=ticker, limit=limit)
            return {"fills": [fill_json(f, fill_intent(f, store)) for f in found]}

    def pnl(
        self,
        by: Annotated[
            Literal["strategy", "market", "day"], Field(description="one line for each")
        ] = "strategy",
    ) -> dict[str, Any]:
        """Realized P&L grouped by strategy, market or day, marked to market, as `kalshi pnl`."""
        from kalshi_cli.services.pnl_report import pnl_report
        from kalshi_cli.services.pretrade.settings import load_risk_limits

        settings = self.access.settings()

        def exchange() -> tuple[KalshiClient, Decimal | None]:
            limit = load_risk_limits(settings.config_path).max_position_per_market
            return self.access.client(auth=True), limit

        with self.exchange:
            report = pnl_report(settings.state, since=None, since_ts=None, by=by, exchange=exchange)
        return report.document

    def loop_status(self) -> dict[str, Any]:
        """The trading state and why, the trade loop's heartbeat and lag, as `kalshi status`."""
        from kalshi_cli.services.orders.status import trading_status

        status = trading_status(self.access.settings().state, self.clock.wall())
        return {
            "state": status.state,
            "reason": status.reason,
            "source": status.source,
        } | status.details()

    def checks(self, limit: Limit = 20) -> dict[str, Any]:
        """The last results of `kalshi check` as the state file's alert log keeps them."""
        from kalshi_cli.store import Store

        store = Store.open_readonly(self.access.settings().state)
        if store is None:
            return {"checks": []}
        with store:
            rows = store.alerts.alert_log(limit=limit)
        return {
            "checks": [
                {
                    "check": r.fingerprint,
                    "status": r.status,
                    "severity": r.severity,
                    "summary": r.summary,
                    "at": r.at,
                }
                for r in rows
            ]
        }

    def audit(self, limit: Limit = 50) -> dict[str, Any]:
        """The write tool calls of every session, newest last. On a paper session's state file,
        with the `cancel_all` and `halt` calls its account's own state file records (each row
        then names its `state_file`), and a note that says where they are."""
        from kalshi_cli.store.paper import is_paper_state

        state = self.access.settings().state
        rows = [r.to_json() for r in _audit_rows(state, limit=limit)]
        if not is_paper_state(state):
            return {"audit": rows}
        # `cancel_all` and `halt` act on the account, so they halt and record in the file the
        # kill switch halts (`cancel_all`): a paper session's are there, not in its own file,
        # with every other session's of the account (the rest of that file's rows are theirs)
        try:
            account = self.access.kill_switch_state()
        except KalshiError:
            note = (
                f"{state} is a paper session's state file, and the account's own state file "
                "cannot be told from it: a cancel_all or halt of a session on it records its row "
                "nowhere, and none is shown"
            )
            return {"audit": rows, "notes": [note]}
        kills = [
            r.to_json() | {"state_file": str(account)}
            for r in _audit_rows(account, tools=KILL_SWITCH_TOOLS, limit=limit)
        ]
        merged = sorted(rows + kills, key=lambda row: float(row["at"]))[-limit:]
        note = (
            f"{state} is a paper session's state file: cancel_all and halt act on the account, "
            f"and are recorded in the account's own, {account}; its rows of them (every "
            "session's) are shown with their state_file"
        )
        return {"audit": merged, "notes": [note]}


def _audit_rows(
    state: Path, *, tools: Sequence[str] | None = None, limit: int
) -> list[AuditRecord]:
    """The last `limit` rows of the state file's audit (of the `tools` named), oldest first;
    none when the file does not exist (a read creates none)."""
    from kalshi_cli.store import Store

    store = Store.open_readonly(state)
    if store is None:
        return []
    with store:
        return store.audit.entries(tools=tools, limit=limit)

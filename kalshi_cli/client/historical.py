"""The historical tier: the cutoff, and the archived markets, candlesticks, trades, fills, orders
and positions that have left the live endpoints (openapi.yaml 3.31.0, tag `historical`).

A record moves to the historical tier once older than its cutoff (`GET /historical/cutoff`). A
reader of a whole history reads both tiers, as `fills_with_history` does: live first, then the
historical tier for what is older than the cutoff, each record once (reading live first finds a
record that moves meanwhile rather than losing it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, Protocol, TypeVar

import msgspec

from kalshi_cli.client.connection import (
    MARKETS_PAGE_MAX,
    Area,
    Connection,
    Params,
    Rows,
    missing_as,
    path_segment,
)
from kalshi_cli.vocabulary.clock import as_utc
from kalshi_cli.vocabulary.models import Fill, Market, Order, Position, Trade


class HistoricalCutoff(msgspec.Struct, frozen=True):
    """The boundary between the tiers, as unix seconds (GetHistoricalCutoffResponse)."""

    market_settled_ts: float  # unix seconds
    trades_created_ts: float  # unix seconds
    orders_updated_ts: float  # unix seconds
    market_positions_last_updated_ts: float | None  # unix seconds; optional field


class _CutoffAnswer(msgspec.Struct, frozen=True):
    """The answer as sent: each boundary an RFC 3339 time."""

    market_settled_ts: datetime
    trades_created_ts: datetime
    orders_updated_ts: datetime
    market_positions_last_updated_ts: datetime | None = None


def _seconds(moment: datetime) -> float:
    return as_utc(moment).timestamp()


def _cutoff(content: bytes) -> HistoricalCutoff:
    sent = msgspec.json.decode(content, type=_CutoffAnswer)
    positions = sent.market_positions_last_updated_ts
    return HistoricalCutoff(
        _seconds(sent.market_settled_ts),
        _seconds(sent.trades_created_ts),
        _seconds(sent.orders_updated_ts),
        None if positions is None else _seconds(positions),
    )


T = TypeVar("T")


def _time_window(ticker: str | None, min_ts: int | None, max_ts: int | None) -> Params:
    """The filters of a listing by market and time range (unset ones are not sent)."""
    return {"ticker": ticker, "min_ts": min_ts, "max_ts": max_ts}


class HistoricalApi(Area):
    """The historical tier (see the module docstring)."""

    def get_historical_cutoff(self) -> HistoricalCutoff:
        response = self._conn.request("GET", "/historical/cutoff")
        return self._conn.decode(response, _cutoff, "historical cutoff")

    def iter_historical_markets(
        self,
        *,
        tickers: list[str] | None = None,
        event_ticker: str | None = None,
        series_ticker: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Market]:
        """Archived (settled before the cutoff) markets; the filters are mutually exclusive."""
        params: Params = {
            "tickers": ",".join(tickers) if tickers else None,
            "event_ticker": event_ticker,
            "series_ticker": series_ticker,
        }
        return self._conn.listing(
            "/historical/markets", "markets", Market, params, limit, private=False,
            cursor_required=True,
        )  # fmt: skip

    def get_historical_market(self, ticker: str) -> Market:
        with missing_as(f"no archived market {ticker}", "a market settled recently is still live"):
            fields = self._conn.get_fields(f"/historical/markets/{path_segment(ticker)}")
        return self._conn.item(Market, fields, "market", "market")

    def get_historical_candlesticks(
        self, ticker: str, *, start_ts: int, end_ts: int, period_interval: int
    ) -> list[dict[str, Any]]:
        """An archived market's candlesticks (MarketCandlestickHistorical), as sent."""
        path = f"/historical/markets/{path_segment(ticker)}/candlesticks"
        return self._candles(path, "historical candlesticks", start_ts, end_ts, period_interval)

    def get_live_candlesticks(
        self, series_ticker: str, ticker: str, *, start_ts: int, end_ts: int, period_interval: int
    ) -> list[dict[str, Any]]:
        """A live market's candlesticks (GetMarketCandlesticks), as sent: the live tier's
        counterpart of `get_historical_candlesticks`."""
        path = f"/series/{path_segment(series_ticker)}/markets/{path_segment(ticker)}/candlesticks"
        return self._candles(path, "candlesticks", start_ts, end_ts, period_interval)

    def _candles(
        self, path: str, what: str, start_ts: int, end_ts: int, period_interval: int
    ) -> list[dict[str, Any]]:
        params: Params = {
            "start_ts": start_ts,
            "end_ts": end_ts,
            "period_interval": period_interval,
        }
        candles: Rows = self._conn.get_field(path, "candlesticks", Rows, what, params=params)
        return candles

    def iter_historical_trades(
        self,
        *,
        ticker: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        limit: int | None = None,
    ) -> Iterator[Trade]:
        """`GET /historical/trades` within a time range: the archived half of a market's trades
        (the live half is `client.markets.iter_trades`)."""
        params = _time_window(ticker, min_ts, max_ts)
        return self._conn.listing(
            "/historical/trades", "trades", Trade, params, limit, private=False,
            cursor_required=True,
        )  # fmt: skip

    def get_trades_page(
        self,
        *,
        historical: bool,
        ticker: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        cursor: str | None = None,
        limit: int = MARKETS_PAGE_MAX,
    ) -> tuple[list[Trade], str]:
        """One page of `GET /markets/trades` (or `/historical/trades`): (trades, next cursor;
        "" on the last page). For a reader that keeps its place between pages, as a resumable
        download does."""
        params: Params = {"ticker": ticker, "min_ts": min_ts, "max_ts": max_ts}
        path = "/historical/trades" if historical else "/markets/trades"
        return self._conn.page(
            path, "trades", Trade, cursor=cursor, limit=limit, params=params, auth=False,
            cursor_required=True,
        )  # fmt: skip

    def iter_historical_fills(
        self,
        *,
        ticker: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        limit: int | None = None,
    ) -> Iterator[Fill]:
        params = _time_window(ticker, min_ts, max_ts)
        return fill_listing(self._conn, "/historical/fills", params, limit)

    def iter_historical_orders(
        self,
        *,
        ticker: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        limit: int | None = None,
    ) -> Iterator[Order]:
        params = _time_window(ticker, min_ts, max_ts)
        return self._conn.listing(
            "/historical/orders", "orders", Order, params, limit, private=True,
            cursor_required=True,
        )  # fmt: skip

    def iter_historical_positions(
        self, *, ticker: str | None = None, event_ticker: str | None = None
    ) -> Iterator[Position]:
        """Settled positions archived by whole event (never split with the live listing)."""
        params: Params = {"ticker": ticker, "event_ticker": event_ticker}
        return self._conn.listing(
            "/historical/positions", "market_positions", Position, params, private=True,
            cursor_required=False,
        )  # fmt: skip


def fill_listing(conn: Connection, path: str, params: Params, limit: int | None) -> Iterator[Fill]:
    """The fills of a fill listing of either tier, page by page; a fill lacking a field the
    spec requires is quarantined (`conn.fill_quarantine`), never listed (models.Fill)."""
    listed = conn.listing(
        path, "fills", conn.fill_quarantine.fill_or_none, params, limit, private=True,
        cursor_required=True,
    )  # fmt: skip
    return (fill for fill in listed if fill is not None)


class LiveFills(Protocol):
    """Where `fills_with_history` reads the live fills: a client's `portfolio`."""

    def iter_fills(
        self, *, ticker: str | None, min_ts: int | None, limit: int | None
    ) -> Iterator[Fill]: ...


class ArchivedFills(Protocol):
    """Where `fills_with_history` reads the archived fills: a client's `historical`."""

    def get_historical_cutoff(self) -> HistoricalCutoff: ...

    def iter_historical_fills(
        self, *, ticker: str | None, min_ts: int | None
    ) -> Iterator[Fill]: ...


def fills_with_history(
    live: LiveFills,
    archive: ArchivedFills,
    *,
    ticker: str | None = None,
    min_ts: int | None = None,
    limit: int | None = None,
) -> Iterator[Fill]:
    """The account's fills from both tiers, newest first, each once (by fill id): the live
    listing, then, unless `limit` was reached or `min_ts` is after the cutoff, the archived
    fills older than what the live listing reached back to."""
    seen: set[str] = set()
    for fill in live.iter_fills(ticker=ticker, min_ts=min_ts, limit=limit):
        seen.add(fill.fill_id)
        yield fill
    if limit is not None and len(seen) >= limit:
        return
    cutoff = archive.get_historical_cutoff()
    if min_ts is not None and min_ts >= cutoff.trades_created_ts:
        return  # everything asked for is newer than the cutoff: all of it is live
    left = None if limit is None else limit - len(seen)
    yield from _unseen(
        archive.iter_historical_fills(ticker=ticker, min_ts=min_ts), seen, left, lambda f: f.fill_id
    )


def _unseen(
    items: Iterable[T], seen: set[str], limit: int | None, key: Callable[[T], str]
) -> Iterator[T]:
    if limit is not None and limit <= 0:
        return
    given = 0
    for item in items:
        k = key(item)
        if k in seen:
            continue
        seen.add(k)
        yield item
        given += 1
        if limit is not None and given >= limit:
            return

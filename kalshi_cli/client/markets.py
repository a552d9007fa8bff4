"""Market data: the exchange's status, markets, order books, events, series and trades."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from kalshi_cli.client.base import (
    EVENTS_PAGE_MAX,
    MARKETS_PAGE_MAX,
    ClientBase,
    Params,
    as_dict,
    flag_param,
    not_found_with_hint,
    path_segment,
)
from kalshi_cli.client.pagination import paginate
from kalshi_cli.vocabulary.errors import (
    NotFoundError,
)
from kalshi_cli.vocabulary.models import ExchangeStatus, Market, Orderbook, Trade, decode_orderbook


class MarketDataApi(ClientBase):
    """Market data: the exchange's status, markets, order books, events, series and trades."""

    def get_exchange_status(self) -> ExchangeStatus:
        return self._answer(ExchangeStatus, self._request("GET", "/exchange/status"), "status")

    def get_markets_page(
        self,
        *,
        cursor: str | None = None,
        limit: int = 100,
        status: str | None = None,
        series_ticker: str | None = None,
        event_ticker: str | None = None,
        tickers: list[str] | None = None,
        **extra: str | int | None,
    ) -> tuple[list[Market], str]:
        """One page of `GET /markets`: (markets, next cursor; "" on the last page). `extra`
        passes other documented filters through (`min_close_ts`, `mve_filter`, ...)."""
        params: Params = {
            "status": status,
            "series_ticker": series_ticker,
            "event_ticker": event_ticker,
            "tickers": ",".join(tickers) if tickers else None,
            **extra,
        }
        return self._page(
            "/markets",
            "markets",
            Market,
            cursor=cursor,
            limit=limit,
            params=params,
            auth=False,
        )

    def iter_markets(
        self,
        *,
        limit: int | None = None,
        page_size: int = MARKETS_PAGE_MAX,
        on_page: Callable[[int], None] | None = None,
        **filters: Any,
    ) -> Iterator[Market]:
        """Every market matching `filters` (as `get_markets_page`), following cursors.
        `on_page(markets_so_far)` runs after each page, for progress output."""
        return paginate(
            lambda cursor, size: self.get_markets_page(cursor=cursor, limit=size, **filters),
            page_size=min(page_size, MARKETS_PAGE_MAX),
            limit=limit,
            on_page=on_page,
            what="markets",
        )

    def get_market(self, ticker: str) -> Market:
        try:
            fields = self._get_fields(f"/markets/{path_segment(ticker)}")
        except NotFoundError as exc:
            raise not_found_with_hint(
                exc, f"unknown ticker {ticker}", "`kalshi markets` lists them"
            ) from exc
        return self._item(Market, fields, "market", "market")

    def get_orderbook(self, ticker: str, depth: int = 0) -> Orderbook:
        try:
            # public since API 3.31.0 (3.13-3.30 required a signature): with a key it is signed
            # all the same, so a server that still wants one gets it
            response = self._request(
                "GET", f"/markets/{path_segment(ticker)}/orderbook", params={"depth": depth or None}
            )
        except NotFoundError as exc:
            raise not_found_with_hint(
                exc, f"unknown ticker {ticker}", "`kalshi markets` lists them"
            ) from exc
        return self._decode(
            response, lambda content: decode_orderbook(ticker, content), "orderbook"
        )

    def get_event(self, event_ticker: str, *, with_nested_markets: bool = False) -> dict[str, Any]:
        """The `GET /events/{event_ticker}` body as sent: `{"event": {...}, "markets": [...]}`."""
        try:
            body: dict[str, Any] = self._get(
                f"/events/{path_segment(event_ticker)}",
                params={"with_nested_markets": flag_param(with_nested_markets)},
            )
        except NotFoundError as exc:
            raise not_found_with_hint(exc, f"unknown event {event_ticker}", None) from exc
        return body

    def iter_events(
        self,
        *,
        limit: int | None = None,
        page_size: int = EVENTS_PAGE_MAX,
        status: str | None = None,
        series_ticker: str | None = None,
        with_nested_markets: bool = False,
        on_page: Callable[[int], None] | None = None,
        **extra: str | int | None,
    ) -> Iterator[dict[str, Any]]:
        params: Params = {
            "status": status,
            "series_ticker": series_ticker,
            "with_nested_markets": flag_param(with_nested_markets),
            **extra,
        }
        return self._iterate(
            "/events",
            "events",
            as_dict,
            params=params,
            limit=limit,
            page_size=min(page_size, EVENTS_PAGE_MAX),
            auth=False,
            on_page=on_page,
        )

    def get_series(self, series_ticker: str) -> dict[str, Any]:
        try:
            body = self._get(f"/series/{path_segment(series_ticker)}")
        except NotFoundError as exc:
            raise not_found_with_hint(exc, f"unknown series {series_ticker}", None) from exc
        return self._parse(lambda b: as_dict(b["series"]), body, "series")

    def get_series_fee_changes(
        self, *, series_ticker: str | None = None, show_historical: bool = False
    ) -> list[dict[str, Any]]:
        """`GET /series/fee_changes`: the scheduled changes of series' fees (SeriesFeeChange:
        id, series_ticker, fee_type, fee_multiplier, scheduled_ts), those still to come unless
        `show_historical`."""
        body = self._get(
            "/series/fee_changes",
            params={"series_ticker": series_ticker, "show_historical": flag_param(show_historical)},
        )
        return self._parse(
            lambda b: [as_dict(c) for c in b["series_fee_change_arr"]],
            body,
            "series fee changes",
        )

    def iter_trades(
        self,
        *,
        ticker: str | None = None,
        limit: int | None = None,
        page_size: int = 1000,
        min_ts: int | None = None,
        max_ts: int | None = None,
        on_page: Callable[[int], None] | None = None,
    ) -> Iterator[Trade]:
        """The trades tape, newest first; `min_ts`/`max_ts` in Unix seconds."""
        return self._iterate(
            "/markets/trades",
            "trades",
            Trade,
            params={"ticker": ticker, "min_ts": min_ts, "max_ts": max_ts},
            limit=limit,
            page_size=min(page_size, 1000),
            auth=False,
            on_page=on_page,
        )

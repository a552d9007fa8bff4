"""Market data (openapi.yaml 3.31.0, tags `market` and `events`): markets, order books, events,
series, the trades tape, candlesticks, event forecasts and a search. A candle price the exchange
leaves out (no trade in the period) is None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import msgspec

from kalshi_cli.client.connection import (
    EVENTS_PAGE_MAX,
    MARKETS_PAGE_MAX,
    Area,
    Params,
    Rows,
    as_dict,
    flag_param,
    missing_as,
    path_segment,
)
from kalshi_cli.client.pagination import paginate
from kalshi_cli.vocabulary.errors import ValidationError
from kalshi_cli.vocabulary.models import (
    Answer,
    Market,
    Orderbook,
    Trade,
    decode_answer,
    decode_orderbook,
    decode_orderbooks,
)
from kalshi_cli.vocabulary.request_ranges import ORDERBOOK_DEPTH_MAX
from kalshi_cli.vocabulary.units import ZERO

# the filters the spec allows (openapi.yaml 3.31.0): anything else is refused before it is sent,
# not answered by the exchange's 400 (or by a server that ignores it with every market)
MARKET_STATUSES = ("unopened", "open", "paused", "closed", "settled")  # GET /markets
EVENT_STATUSES = ("unopened", "open", "closed", "settled")  # GET /events
CANDLE_PERIODS = {"1m": 1, "1h": 60, "1d": 1440}  # the spec's period_interval, in minutes
# `GET /markets/candlesticks` returns up to 10,000 candlesticks in all (openapi.yaml)
CANDLES_PER_REQUEST = 10_000
BATCH_MAX = 100  # tickers per batch candlestick or order book request


class Ohlc(msgspec.Struct, frozen=True):
    """One side's prices over a candle's period; a price the exchange leaves out or sends as
    null (no trade in the period) is None. `previous` is the traded price's only."""

    open: Decimal | None = msgspec.field(default=None, name="open_dollars")
    low: Decimal | None = msgspec.field(default=None, name="low_dollars")
    high: Decimal | None = msgspec.field(default=None, name="high_dollars")
    close: Decimal | None = msgspec.field(default=None, name="close_dollars")
    previous: Decimal | None = msgspec.field(default=None, name="previous_dollars")


_NO_PRICES = Ohlc()


class Candle(Answer, frozen=True, kw_only=True):
    """One `MarketCandlestick`: the period ending at `end_ts` (inclusive, Unix seconds)."""

    end_ts: int = msgspec.field(name="end_period_ts")
    yes_bid: Ohlc = _NO_PRICES
    yes_ask: Ohlc = _NO_PRICES
    price: Ohlc = _NO_PRICES  # traded YES price; all None when nothing traded
    volume: Decimal = msgspec.field(default=ZERO, name="volume_fp")
    open_interest: Decimal = msgspec.field(default=ZERO, name="open_interest_fp")

    @property
    def previous_price(self) -> Decimal | None:
        return self.price.previous


# the candles of these answers are kept as their bytes until each is decoded as a `Candle`
# keeping them as its `raw` (`_candles`)
class _MarketCandles(msgspec.Struct, frozen=True):
    market_ticker: str
    candlesticks: list[msgspec.Raw]


class _EventCandles(Answer, frozen=True):
    """`GET /series/{s}/events/{e}/candlesticks`: each market's candles, in the order of
    `market_tickers`, and where the exchange cut the range."""

    market_tickers: list[str]
    market_candlesticks: list[list[msgspec.Raw]]
    adjusted_end_ts: int


def _check_status(status: str | None, allowed: tuple[str, ...], what: str) -> None:
    if status is not None and status not in allowed:
        raise ValidationError(
            f"{what} status {status!r} is not one the exchange filters by",
            code="bad_status",
            hint=f"one of {', '.join(allowed)}, or none for every status",
        )


def _candles(items: list[msgspec.Raw]) -> list[Candle]:
    return [decode_answer(Candle, item) for item in items]


class MarketsApi(Area):
    """Markets, order books, events, series, trades and candlesticks."""

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
        _check_status(status, MARKET_STATUSES, "market")
        params: Params = {
            "status": status,
            "series_ticker": series_ticker,
            "event_ticker": event_ticker,
            "tickers": ",".join(tickers) if tickers else None,
            **extra,
        }
        return self._conn.page(
            "/markets",
            "markets",
            Market,
            cursor=cursor,
            limit=limit,
            params=params,
            auth=False,
            cursor_required=True,
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
        with _unknown_ticker(ticker):
            fields = self._conn.get_fields(f"/markets/{path_segment(ticker)}")
        return self._conn.item(Market, fields, "market", "market")

    def get_orderbook(self, ticker: str, depth: int = 0) -> Orderbook:
        if not 0 <= depth <= ORDERBOOK_DEPTH_MAX:
            raise ValidationError(
                f"order book depth {depth} is out of range",
                code="bad_depth",
                hint=f"levels per side: 1 to {ORDERBOOK_DEPTH_MAX}, or 0 for every level",
            )
        with _unknown_ticker(ticker):
            # public in the pinned spec, signed whenever a key is configured (`signing.signs`)
            response = self._conn.request(
                "GET", f"/markets/{path_segment(ticker)}/orderbook", params={"depth": depth or None}
            )
        return self._conn.decode(
            response, lambda content: decode_orderbook(ticker, content), "orderbook"
        )

    def get_event(self, event_ticker: str, *, with_nested_markets: bool = False) -> dict[str, Any]:
        """The `GET /events/{event_ticker}` body as sent: `{"event": {...}, "markets": [...]}`."""
        with missing_as(f"unknown event {event_ticker}", None):
            body: dict[str, Any] = self._conn.get(
                f"/events/{path_segment(event_ticker)}",
                params={"with_nested_markets": flag_param(with_nested_markets)},
            )
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
        _check_status(status, EVENT_STATUSES, "event")
        params: Params = {
            "status": status,
            "series_ticker": series_ticker,
            "with_nested_markets": flag_param(with_nested_markets),
            **extra,
        }
        return self._conn.iterate(
            "/events",
            "events",
            as_dict,
            params=params,
            limit=limit,
            page_size=min(page_size, EVENTS_PAGE_MAX),
            auth=False,
            cursor_required=True,
            on_page=on_page,
        )

    def get_series(self, series_ticker: str) -> dict[str, Any]:
        with missing_as(f"unknown series {series_ticker}", None):
            fields = self._conn.get_fields(f"/series/{path_segment(series_ticker)}")
        series: dict[str, Any] = self._conn.field(fields, "series", dict[str, Any], "series")
        return series

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
        """The trades tape, newest first; `min_ts`/`max_ts` in Unix seconds. A 404 for the
        `ticker` asked about is an unknown ticker, as for the market's other reads."""
        tape = self._conn.iterate(
            "/markets/trades",
            "trades",
            Trade,
            params={"ticker": ticker, "min_ts": min_ts, "max_ts": max_ts},
            limit=limit,
            page_size=min(page_size, 1000),
            auth=False,
            cursor_required=True,
            on_page=on_page,
        )
        return tape if ticker is None else _of_ticker(tape, ticker)

    def list_series(self, *, category: str | None = None) -> list[dict[str, Any]]:
        """`GET /series`: every series (of one category), as sent."""
        series: Rows = self._conn.get_field(
            "/series", "series", Rows, "series", params={"category": category}
        )
        return series

    def get_market_candlesticks(
        self,
        series_ticker: str,
        ticker: str,
        *,
        start_ts: int,
        end_ts: int,
        period_minutes: int,
    ) -> list[Candle]:
        with _unknown_ticker(ticker):
            fields = self._conn.get_fields(
                f"/series/{path_segment(series_ticker)}/markets/{path_segment(ticker)}"
                "/candlesticks",
                params={"start_ts": start_ts, "end_ts": end_ts, "period_interval": period_minutes},
            )
        return self._conn.items(Candle, fields, "candlesticks", "candlesticks")

    def batch_market_candlesticks(
        self, tickers: list[str], *, start_ts: int, end_ts: int, period_minutes: int
    ) -> dict[str, list[Candle]]:
        """`GET /markets/candlesticks`: ticker -> its candles, up to 100 tickers a request."""
        out: dict[str, list[Candle]] = {}
        for i in range(0, len(tickers), BATCH_MAX):
            markets: list[_MarketCandles] = self._conn.get_field(
                "/markets/candlesticks",
                "markets",
                list[_MarketCandles],
                "candlesticks",
                params={
                    "market_tickers": ",".join(tickers[i : i + BATCH_MAX]),
                    "start_ts": start_ts,
                    "end_ts": end_ts,
                    "period_interval": period_minutes,
                },
            )
            out.update((m.market_ticker, _candles(m.candlesticks)) for m in markets)
        return out

    def get_event_candlesticks(
        self,
        series_ticker: str,
        event_ticker: str,
        *,
        start_ts: int,
        end_ts: int,
        period_minutes: int,
    ) -> tuple[dict[str, list[Candle]], int]:
        """`GET /series/{s}/events/{e}/candlesticks`: ticker -> candles for every market of
        the event, and the end the exchange cut the range at (`adjusted_end_ts`)."""
        response = self._conn.request(
            "GET",
            f"/series/{path_segment(series_ticker)}/events/{path_segment(event_ticker)}"
            "/candlesticks",
            params={"start_ts": start_ts, "end_ts": end_ts, "period_interval": period_minutes},
        )
        answer = self._conn.answer(_EventCandles, response, "event candlesticks")
        candles = self._conn.parse(
            lambda a: {
                t: _candles(cs)
                for t, cs in zip(a.market_tickers, a.market_candlesticks, strict=True)
            },
            answer,
            "event candlesticks",
        )
        return candles, answer.adjusted_end_ts

    def market_candles(
        self, ticker: str, *, start_ts: int, end_ts: int, period: str
    ) -> list[Candle]:
        """One market's candles by ticker alone (the batch call needs no series ticker);
        `period` is 1m, 1h or 1d. The batch call answers at most `CANDLES_PER_REQUEST` candles
        (the earliest), so a longer range is asked window by window: eleven months of 1m
        candles asked at once came back as the first week's, before the market existed."""
        minutes = CANDLE_PERIODS[period]
        window_s = CANDLES_PER_REQUEST * minutes * 60
        candles: list[Candle] = []
        with _unknown_ticker(ticker):
            for lo in range(start_ts, end_ts + 1, window_s):
                found = self.batch_market_candlesticks(
                    [ticker],
                    start_ts=lo,
                    end_ts=min(end_ts, lo + window_s - 1),
                    period_minutes=minutes,
                )
                candles += found.get(ticker, [])
        return candles

    def search_listings(
        self, text: str, *, limit: int = 50, on_page: Callable[[int], None] | None = None
    ) -> list[dict[str, str]]:
        """Series, then open events, whose ticker or title holds every word of `text`
        (case-insensitive): Kalshi's API has no text search. Each match is {kind, ticker,
        title}; at most `limit`."""
        words = text.lower().split()
        # the rows as `list_series` and `/events` give them (the CLI prints them as sent): a text
        # match only, so a row of any shape is searched, never refused as a Struct would be

        def hit(*fields: Any) -> bool:
            haystack = " ".join(str(f or "") for f in fields).lower()
            return all(w in haystack for w in words)

        matches = [
            {"kind": "series", "ticker": str(s.get("ticker", "")), "title": str(s.get("title", ""))}
            for s in self.list_series()
            if hit(s.get("ticker"), s.get("title"))
        ]
        if len(matches) < limit:
            for e in self.iter_events(status="open", on_page=on_page):
                if hit(e.get("event_ticker"), e.get("title"), e.get("sub_title")):
                    matches.append(
                        {
                            "kind": "event",
                            "ticker": str(e.get("event_ticker", "")),
                            "title": str(e.get("title", "")),
                        }
                    )
                    if len(matches) >= limit:
                        break
        return matches[:limit]

    def get_event_forecast_history(
        self,
        series_ticker: str,
        event_ticker: str,
        *,
        percentiles: list[int],
        start_ts: int,
        end_ts: int,
        period_interval: int,
    ) -> list[dict[str, Any]]:
        """`GET .../forecast_percentile_history` (signed): ForecastPercentilesPoint per period
        (`period_interval` 0 = 5 seconds, else minutes), as sent."""
        points: Rows = self._conn.get_field(
            f"/series/{path_segment(series_ticker)}/events/{path_segment(event_ticker)}"
            "/forecast_percentile_history",
            "forecast_history",
            Rows,
            "forecast history",
            params={
                "percentiles": [str(p) for p in percentiles],
                "start_ts": start_ts,
                "end_ts": end_ts,
                "period_interval": period_interval,
            },
            auth=True,
        )
        return points

    def get_orderbooks(self, tickers: list[str]) -> dict[str, Orderbook]:
        """`GET /markets/orderbooks`: ticker -> its whole book, up to 100 tickers a request."""
        out: dict[str, Orderbook] = {}
        for i in range(0, len(tickers), BATCH_MAX):
            response = self._conn.request(
                "GET", "/markets/orderbooks", params={"tickers": tickers[i : i + BATCH_MAX]}
            )
            out.update(self._conn.decode(response, decode_orderbooks, "orderbooks"))
        return out


def _of_ticker(tape: Iterator[Trade], ticker: str) -> Iterator[Trade]:
    # pages are fetched as the tape is read, so the 404 arrives here, not at the call
    with _unknown_ticker(ticker):
        yield from tape


def _unknown_ticker(ticker: str) -> AbstractContextManager[None]:
    """A 404 about `ticker`: a ticker the exchange does not know."""
    return missing_as(f"unknown ticker {ticker}", "`kalshi markets` lists them")

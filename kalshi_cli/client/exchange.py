"""The exchange's schedule and market history: maintenance windows, the user-data timestamp,
series listings, event fee changes, candlesticks (one market, a batch, an event) and batch
order books (openapi 3.31.0).

Candles come back as `Candle`, prices and counts as `Decimal` parsed at the boundary; a price
the exchange leaves out or sends as null (no trade in the period) is None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from kalshi_cli.client.base import (
    EVENTS_PAGE_MAX,
    ClientBase,
    as_dict,
    not_found_with_hint,
    path_segment,
)
from kalshi_cli.vocabulary.clock import parse_iso
from kalshi_cli.vocabulary.errors import NotFoundError
from kalshi_cli.vocabulary.models import ZERO, Answer, decode_answer

if TYPE_CHECKING:
    from kalshi_cli.vocabulary.models import Orderbook

__all__ = [
    "BATCH_MAX",
    "CANDLE_PERIODS",
    "Candle",
    "ExchangeDataApi",
    "ExchangeSchedule",
    "MaintenanceWindow",
    "Ohlc",
]


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


class MaintenanceWindow(msgspec.Struct, frozen=True):
    start: datetime = msgspec.field(name="start_datetime")
    end: datetime = msgspec.field(name="end_datetime")

    def __post_init__(self) -> None:
        # a time without an offset is UTC (as `clock.parse_iso` reads one), never this machine's
        for name in ("start", "end"):
            moment = getattr(self, name)
            if moment.tzinfo is None:
                msgspec.structs.force_setattr(self, name, moment.replace(tzinfo=UTC))


class ExchangeSchedule(msgspec.Struct, frozen=True):
    """`GET /exchange/schedule`: the weekly standard hours (as sent, times in ET) and the
    maintenance windows, by start."""

    standard_hours: list[dict[str, Any]] = msgspec.field(default_factory=list)
    maintenance_windows: list[MaintenanceWindow] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        self.maintenance_windows.sort(key=lambda w: w.start)


class _ScheduleAnswer(msgspec.Struct, frozen=True):
    schedule: ExchangeSchedule


CANDLE_PERIODS = {"1m": 1, "1h": 60, "1d": 1440}  # the spec's period_interval, in minutes
BATCH_MAX = 100  # tickers per batch candlestick or order book request


class ExchangeDataApi(ClientBase):
    """The schedule, series, event fee changes, candlesticks and batch order books."""

    def get_exchange_schedule(self) -> ExchangeSchedule:
        response = self._request("GET", "/exchange/schedule")
        return self._decode(
            response,
            lambda content: msgspec.json.decode(content, type=_ScheduleAnswer).schedule,
            "exchange schedule",
        )

    def get_user_data_timestamp(self) -> datetime:
        """When the exchange's portfolio reads (balance, orders, fills, positions) were last
        true: reads right after a write may show the state from before it."""
        body = self._get("/exchange/user_data_timestamp")
        return self._parse(lambda b: parse_iso(b["as_of_time"]), body, "user data timestamp")

    def list_series(self, *, category: str | None = None) -> list[dict[str, Any]]:
        """`GET /series`: every series (of one category), as sent."""
        body = self._get("/series", params={"category": category})
        return self._parse(lambda b: [as_dict(s) for s in b["series"]], body, "series")

    def iter_event_fee_changes(
        self, *, event_ticker: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """`GET /events/fee_changes`: EventFeeChange (id, event_ticker, series_ticker,
        fee_type_override, fee_multiplier_override, scheduled_ts; both overrides null: the
        override is cleared)."""
        return self._iterate(
            "/events/fee_changes",
            "event_fee_changes",
            as_dict,
            params={"event_ticker": event_ticker},
            limit=None,
            page_size=1000,
            auth=False,
        )

    def get_market_candlesticks(
        self,
        series_ticker: str,
        ticker: str,
        *,
        start_ts: int,
        end_ts: int,
        period_minutes: int,
    ) -> list[Candle]:
        try:
            body = self._get(
                f"/series/{path_segment(series_ticker)}/markets/{path_segment(ticker)}"
                "/candlesticks",
                params={"start_ts": start_ts, "end_ts": end_ts, "period_interval": period_minutes},
            )
        except NotFoundError as exc:
            raise not_found_with_hint(
                exc, f"unknown ticker {ticker}", "`kalshi markets` lists them"
            ) from exc
        return self._parse(
            lambda b: [decode_answer(Candle, c) for c in b["candlesticks"]], body, "candlesticks"
        )

    def batch_market_candlesticks(
        self, tickers: list[str], *, start_ts: int, end_ts: int, period_minutes: int
    ) -> dict[str, list[Candle]]:
        """`GET /markets/candlesticks`: ticker -> its candles, up to 100 tickers a request."""
        out: dict[str, list[Candle]] = {}
        for i in range(0, len(tickers), BATCH_MAX):
            body = self._get(
                "/markets/candlesticks",
                params={
                    "market_tickers": ",".join(tickers[i : i + BATCH_MAX]),
                    "start_ts": start_ts,
                    "end_ts": end_ts,
                    "period_interval": period_minutes,
                },
            )
            out.update(
                self._parse(
                    lambda b: {
                        m["market_ticker"]: [decode_answer(Candle, c) for c in m["candlesticks"]]
                        for m in b["markets"]
                    },
                    body,
                    "candlesticks",
                )
            )
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
        body = self._get(
            f"/series/{path_segment(series_ticker)}/events/{path_segment(event_ticker)}"
            "/candlesticks",
            params={"start_ts": start_ts, "end_ts": end_ts, "period_interval": period_minutes},
        )

        def parse(b: dict[str, Any]) -> tuple[dict[str, list[Candle]], int]:
            candles = {
                ticker: [decode_answer(Candle, c) for c in cs]
                for ticker, cs in zip(b["market_tickers"], b["market_candlesticks"], strict=True)
            }
            return candles, int(b["adjusted_end_ts"])

        return self._parse(parse, body, "event candlesticks")

    def market_candles(
        self, ticker: str, *, start_ts: int, end_ts: int, period: str
    ) -> list[Candle]:
        """One market's candles by ticker alone (the batch call needs no series ticker);
        `period` is 1m, 1h or 1d."""
        try:
            found = self.batch_market_candlesticks(
                [ticker], start_ts=start_ts, end_ts=end_ts, period_minutes=CANDLE_PERIODS[period]
            )
        except NotFoundError as exc:
            raise not_found_with_hint(
                exc, f"unknown ticker {ticker}", "`kalshi markets` lists them"
            ) from exc
        return found.get(ticker, [])

    def search_listings(
        self, text: str, *, limit: int = 50, on_page: Callable[[int], None] | None = None
    ) -> list[dict[str, str]]:
        """Series, then open events, whose ticker or title holds every word of `text`
        (case-insensitive): Kalshi's API has no text search. Each match is {kind, ticker,
        title}; at most `limit`."""
        words = text.lower().split()

        def hit(*fields: Any) -> bool:
            haystack = " ".join(str(f or "") for f in fields).lower()
            return all(w in haystack for w in words)

        matches = [
            {"kind": "series", "ticker": str(s.get("ticker", "")), "title": str(s.get("title", ""))}
            for s in self.list_series()
            if hit(s.get("ticker"), s.get("title"))
        ]
        if len(matches) < limit:
            events = self._iterate(
                "/events",
                "events",
                as_dict,
                params={"status": "open"},
                limit=None,
                page_size=EVENTS_PAGE_MAX,
                auth=False,
                on_page=on_page,
            )
            for e in events:
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
        body = self._get(
            f"/series/{path_segment(series_ticker)}/events/{path_segment(event_ticker)}"
            "/forecast_percentile_history",
            params={
                "percentiles": [str(p) for p in percentiles],
                "start_ts": start_ts,
                "end_ts": end_ts,
                "period_interval": period_interval,
            },
            auth=True,
        )
        return self._parse(
            lambda b: [as_dict(p) for p in b["forecast_history"]], body, "forecast history"
        )

    def get_orderbooks(self, tickers: list[str]) -> dict[str, Orderbook]:
        """`GET /markets/orderbooks`: ticker -> its whole book, up to 100 tickers a request."""
        from kalshi_cli.vocabulary.models import decode_orderbook

        out: dict[str, Orderbook] = {}
        for i in range(0, len(tickers), BATCH_MAX):
            body = self._get("/markets/orderbooks", params={"tickers": tickers[i : i + BATCH_MAX]})
            out.update(
                self._parse(
                    lambda b: {
                        o["ticker"]: decode_orderbook(o["ticker"], o) for o in b["orderbooks"]
                    },
                    body,
                    "orderbooks",
                )
            )
        return out

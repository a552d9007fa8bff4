"""Market data routes: event fee changes, the exchange schedule and maintenance windows, the
user-data timestamp, batch order books and candlesticks, and event candlesticks, built from the
core's own state, the market history the server records (`sim/server/history.py`) and the
schedule (`sim/server/schedule.py`).
"""

from __future__ import annotations

from kalshi_cli.sim.core import serialize as ser
from kalshi_cli.sim.core.records import ExchangeError, bad_request
from kalshi_cli.sim.server.routes.market_data import candle_range, market_candles
from kalshi_cli.sim.server.routing import (
    Endpoint,
    Json,
    RequestContext,
    SimState,
    found,
    paginate,
    query_bool,
    query_int,
    query_str,
)
from kalshi_cli.vocabulary.clock import iso_utc

# BatchGetMarketCandlesticks: "Accepts up to 100 market tickers per request" and "Returns up to
# 10,000 candlesticks total across all markets"; GetMarketOrderbooks: 1-100 tickers. Event
# candlesticks stop at the same total and say where (`adjusted_end_ts`).
MAX_TICKERS = 100
MAX_CANDLES = 10_000


def handle_get_event_fee_changes(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    """GetEventFeeChanges: every scheduled change of an event's fee override (of one event, or
    of all), in the order they take effect, past ones included (the operation has no
    `show_historical`); a change with both overrides null clears the override."""
    limit = query_int(ctx, "limit", 100, 1, 1000) or 100
    changes = state.exchange.reference.fees.event_fee_changes(query_str(ctx, "event_ticker"))
    page, cursor = paginate(changes, lambda c: c.id, limit, query_str(ctx, "cursor"))
    return 200, {
        "event_fee_changes": [ser.event_fee_change_json(c) for c in page],
        "cursor": cursor,
    }


def handle_get_exchange_schedule(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    """GetExchangeSchedule: open around the clock, and the maintenance windows not over yet."""
    return 200, state.schedule.schedule_json(
        state.exchange.reference.created_time, state.clock.wall()
    )


def handle_get_user_data_timestamp(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    """GetUserDataTimestamp: "when the data from ... GetBalance, GetOrder(s), GetFills,
    GetPositions was last validated". The simulator's portfolio reads are current except under
    the `read_lag_ms` fault, when they answer the state of that long ago (`sim/server/lag.py`)."""
    return 200, {"as_of_time": iso_utc(state.clock.wall() - state.faults.read_lag_s)}


def handle_get_market_orderbooks(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    """GetMarketOrderbooks: each market's whole book, in the order asked."""
    tickers = _known(state, ctx, "tickers")
    return 200, {
        "orderbooks": [
            {"ticker": t, **ser.orderbook_json(state.exchange.engine, t, 0)} for t in tickers
        ]
    }


def _known(state: SimState, ctx: RequestContext, name: str) -> list[str]:
    raw = ctx.request.query_params.getlist(name)
    tickers = list(dict.fromkeys(t.strip() for value in raw for t in value.split(",") if t.strip()))
    if not tickers:
        raise bad_request(f"{name} is required", "missing_parameters")
    if len(tickers) > MAX_TICKERS:
        raise bad_request(f"at most {MAX_TICKERS} {name}")
    for ticker in tickers:
        found(state.exchange.reference.markets.get(ticker), f"market {ticker}")
    return tickers


def handle_batch_get_market_candlesticks(
    state: SimState, ctx: RequestContext
) -> tuple[int, Json | None]:
    """BatchGetMarketCandlesticks: per market, as GetMarketCandlesticks would answer, until
    10,000 candles in all (the later markets' lists are cut short, then empty)."""
    tickers = _known(state, ctx, "market_tickers")
    start, end, period = candle_range(ctx, None)
    before = query_bool(ctx, "include_latest_before_start")
    left = MAX_CANDLES
    out = []
    for ticker in tickers:
        candles = market_candles(
            state,
            state.exchange.reference.markets[ticker],
            start,
            end,
            period,
            include_latest_before_start=before,
            limit=left,
        )[:left]
        left -= len(candles)
        out.append({"market_ticker": ticker, "candlesticks": candles})
    return 200, {"markets": out}


def handle_get_event_candlesticks(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    """GetMarketCandlesticksByEvent: one candle list per market of the event, over the same
    periods. When all of them together would pass 10,000 candles, the range ends earlier and
    `adjusted_end_ts` says where; otherwise it is the `end_ts` asked."""
    event_ticker = ctx.path_param("ticker")
    event = state.exchange.reference.events.get(event_ticker)
    if event is None or event.series_ticker != ctx.path_param("series_ticker"):
        raise ExchangeError(404, "not_found", f"event {event_ticker} not found in that series")
    start, end, period = candle_range(ctx, (1, 60, 1440))
    markets = state.exchange.reference.event_markets(event_ticker)
    per_market = MAX_CANDLES // max(len(markets), 1)
    lists = [market_candles(state, m, start, end, period, limit=per_market) for m in markets]
    longest = max((len(c) for c in lists), default=0)
    adjusted = end
    if longest == per_market and lists:
        last = max(c[-1]["end_period_ts"] for c in lists if c)
        adjusted = min(end, int(last))
    return 200, {
        "market_tickers": [m.ticker for m in markets],
        "market_candlesticks": lists,
        "adjusted_end_ts": adjusted,
    }


# GetEventForecastPercentilesHistory's period_interval: "0 for 5-second intervals, or 1, 60, or
# 1440 for minute-based intervals"
FORECAST_PERIOD_S = {0: 5, 1: 60, 60: 3600, 1440: 86_400}
MAX_PERCENTILES = 10


def handle_get_forecast_history(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    """GetEventForecastPercentilesHistory: at the end of each period in the range, the event's
    forecast then in effect (the last one set at or before it), at the percentiles asked. The
    simulator forecasts nothing itself: the forecasts are what a scenario or test set through
    `POST /sim/v1/events/{ticker}/forecasts`; periods before the first have no point, and
    `numerical_forecast` is the raw value (the simulator does no processing)."""
    event_ticker = ctx.path_param("ticker")
    event = state.exchange.reference.events.get(event_ticker)
    if event is None or event.series_ticker != ctx.path_param("series_ticker"):
        raise ExchangeError(404, "not_found", f"event {event_ticker} not found in that series")
    percentiles = _percentiles(ctx)
    start, end, period = candle_range(ctx, FORECAST_PERIOD_S, bounded=False)
    seconds = FORECAST_PERIOD_S[period]
    last = min(end, -(-int(state.clock.wall()) // seconds) * seconds)
    first = -(-start // seconds) * seconds
    history = []
    for period_end in range(first, last + 1, seconds)[:MAX_CANDLES]:
        forecast = state.market_history.forecast_at(event_ticker, period_end)
        if forecast is None:
            continue
        history.append(
            {
                "event_ticker": event_ticker,
                "end_period_ts": period_end,
                "period_interval": period,
                "percentile_points": [
                    {
                        "percentile": p,
                        "raw_numerical_forecast": float(forecast[p]),  # JSON number
                        "numerical_forecast": float(forecast[p]),  # JSON number
                        "formatted_forecast": f"{forecast[p].normalize():f}",
                    }
                    for p in percentiles
                    if p in forecast
                ],
            }
        )
    return 200, {"forecast_history": history}


def _percentiles(ctx: RequestContext) -> list[int]:
    """The required `percentiles` (repeated, or comma-separated): 1-10 integers in 0-9999."""
    raw = [
        part.strip()
        for value in ctx.request.query_params.getlist("percentiles")
        for part in value.split(",")
        if part.strip()
    ]
    if not raw:
        raise bad_request("percentiles is required", "missing_parameters")
    if len(raw) > MAX_PERCENTILES:
        raise bad_request(f"at most {MAX_PERCENTILES} percentiles")
    out = []
    for text in raw:
        if not text.isdigit() or not 0 <= int(text) <= 9999:
            raise bad_request(f"percentile {text!r} is not an integer in 0-9999")
        out.append(int(text))
    return list(dict.fromkeys(out))


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/events/fee_changes", handle_get_event_fee_changes, private=False),
    Endpoint("GET", "/exchange/schedule", handle_get_exchange_schedule, private=False),
    Endpoint("GET", "/exchange/user_data_timestamp", handle_get_user_data_timestamp, private=False),
    Endpoint("GET", "/markets/orderbooks", handle_get_market_orderbooks, private=False),
    Endpoint("GET", "/markets/candlesticks", handle_batch_get_market_candlesticks, private=False),
    Endpoint(
        "GET",
        "/series/{series_ticker}/events/{ticker}/candlesticks",
        handle_get_event_candlesticks,
        private=False,
    ),
    # the one market-data operation the spec signs (`security` on it)
    Endpoint(
        "GET",
        "/series/{series_ticker}/events/{ticker}/forecast_percentile_history",
        handle_get_forecast_history,
    ),
)

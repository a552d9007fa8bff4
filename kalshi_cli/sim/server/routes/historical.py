"""The historical tier's routes (openapi.yaml 3.31.0, tag `historical`). Which records are archived
is `sim/core/historical.py`'s `Archive`; the live routes drop exactly those, so each record is
served by one tier at a time. Fills, orders and positions need the account's signature; the rest
are public.
"""

from __future__ import annotations

from kalshi_cli.sim.core import serialize as ser
from kalshi_cli.sim.core.historical import Archive, SimCandle, candle_window, candles
from kalshi_cli.sim.core.record_views import OrderRef
from kalshi_cli.sim.core.records import ExchangeError, SimMarket, bad_request
from kalshi_cli.sim.server.routes.market_data import candle_range, trades_listing
from kalshi_cli.sim.server.routes.multivariate import is_multivariate
from kalshi_cli.sim.server.routes.portfolio import (
    fills_listing,
    filtered_page,
    ledger_query,
    orders_json,
)
from kalshi_cli.sim.server.routes.subaccounts import read_ledgers
from kalshi_cli.sim.server.routing import (
    Endpoint,
    Json,
    RequestContext,
    SimState,
    matches,
    orders_page,
    paginate,
    query_int,
    query_list,
    query_str,
    shard_of,
    within,
)
from kalshi_cli.vocabulary.clock import iso_utc
from kalshi_cli.vocabulary.units import fmt_count, fmt_dollars


def archive(state: SimState, now: float | None = None) -> Archive:
    """The exchange's records split at the cutoffs of `now` (default: the clock's now)."""
    return Archive(state.exchange, state.history, state.clock.wall() if now is None else now)


def handle_get_historical_cutoff(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    cut = archive(state, ctx.now)
    return 200, {
        "market_settled_ts": iso_utc(cut.cutoff),
        "trades_created_ts": iso_utc(cut.cutoff),
        "orders_updated_ts": iso_utc(cut.cutoff),
        "market_positions_last_updated_ts": iso_utc(cut.positions_cutoff),
    }


def handle_get_historical_markets(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    limit = query_int(ctx, "limit", 100, 0, 1000) or 100
    tickers = query_list(ctx, "tickers")
    event_ticker = query_str(ctx, "event_ticker")
    series_ticker = query_str(ctx, "series_ticker")
    mve_filter = query_str(ctx, "mve_filter")
    if mve_filter not in (None, "exclude"):
        raise bad_request("mve_filter must be exclude")
    used = [
        name
        for name, value in (
            ("tickers", tickers),
            ("event_ticker", event_ticker),
            ("series_ticker", series_ticker),
        )
        if value is not None
    ]
    if len(used) > 1:
        # GetHistoricalMarkets: "Filters are mutually exclusive."
        raise bad_request(f"filters {' and '.join(used)} cannot be combined")
    markets = [
        m
        for m in archive(state, ctx.now).markets()
        if (mve_filter is None or not is_multivariate(state.exchange, m.ticker))
        and (tickers is None or m.ticker in tickers)
        and matches(m, event_ticker=event_ticker, series_ticker=series_ticker)
    ]
    page, cursor = paginate(markets, lambda m: m.ticker, limit, query_str(ctx, "cursor"))
    return 200, {
        "markets": [ser.market_json(state.exchange.engine, m) for m in page],
        "cursor": cursor,
    }


def _archived_market(state: SimState, ctx: RequestContext) -> SimMarket:
    """The archived market of the path; a live one is not in the historical database."""
    ticker = ctx.path_param("ticker")
    market = state.exchange.reference.markets.get(ticker)
    if market is None or not archive(state, ctx.now).market(market):
        raise ExchangeError(404, "not_found", f"market {ticker} not found")
    return market


def handle_get_historical_market(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    return 200, {"market": ser.market_json(state.exchange.engine, _archived_market(state, ctx))}


def _candle_json(c: SimCandle) -> Json:
    ohlc = {
        "open": fmt_dollars(c.open),
        "low": fmt_dollars(c.low),
        "high": fmt_dollars(c.high),
        "close": fmt_dollars(c.close),
    }
    return {
        "end_period_ts": c.end_period_ts,
        "yes_bid": dict(ohlc),
        "yes_ask": dict(ohlc),
        "price": {
            **ohlc,
            "mean": fmt_dollars(c.mean),
            "previous": None if c.previous is None else fmt_dollars(c.previous),
        },
        "volume": fmt_count(c.volume),
        "open_interest": fmt_count(c.open_interest),
    }


def handle_get_market_candlesticks_historical(
    state: SimState, ctx: RequestContext
) -> tuple[int, Json | None]:
    start, end, period = candle_range(ctx, (1, 60, 1440), bounded=False)
    market = _archived_market(state, ctx)
    window = candle_window(state.exchange.history.trade_timeline(market.ticker), start, end, period)
    found = candles(window, start, end, period, market.open_interest)
    return 200, {"ticker": market.ticker, "candlesticks": [_candle_json(c) for c in found]}


def handle_get_trades_historical(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    return trades_listing(state, ctx, live=False)


def handle_get_fills_historical(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    # GetFillsHistorical has no order_id filter: ticker alone
    return fills_listing(state, ctx, "ticker", live=False)


def handle_get_historical_orders(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    cut = archive(state, ctx.now)
    query, ledger = ledger_query(state, ctx, "ticker")  # GetHistoricalOrders: by ticker alone
    if ledger is None:  # several subaccounts' orders merged by time
        return filtered_page(
            state,
            ctx,
            "orders",
            query,
            rows=cut.orders,
            field=lambda o: o.ticker,
            when=lambda o: o.created_time,
            cursor_key=lambda o: o.order_id,
            to_json=ser.order_json,
        )
    ticker, lo, hi = query.ticker, query.lo, query.hi  # GetHistoricalOrders declares no shard
    orders = state.exchange.history.orders_newest_first(ledger)  # no archived order rebuilt

    def keep(ref: OrderRef) -> bool:
        t, status, created, updated = orders.head(ref)
        return (
            status != "resting"
            and updated < cut.cutoff
            and (ticker is None or t == ticker)
            and within(created, lo, hi)
        )

    page, next_cursor = orders_page(orders, keep, query_str(ctx, "cursor"), query.limit)
    return 200, orders_json(state, (orders.record(r) for r in page), next_cursor)


def handle_get_historical_positions(
    state: SimState, ctx: RequestContext
) -> tuple[int, Json | None]:
    ticker = query_str(ctx, "ticker")
    event_ticker = query_str(ctx, "event_ticker")
    limit = query_int(ctx, "limit", 100, 1, 1000) or 100
    # SubaccountQueryDefaultPrimary: the named subaccount's archived positions, 0's if omitted
    cut = archive(state, ctx.now)
    positions = [
        p
        for ledger in read_ledgers(state, ctx, all_by_default=False)
        for p in cut.positions(ledger)
    ]

    selected = [
        p
        for p in positions
        if (ticker is None or p.ticker == ticker)
        and (event_ticker is None or state.exchange.reference.event_of(p.ticker) == event_ticker)
    ]
    page, cursor = paginate(selected, lambda p: p.ticker, limit, query_str(ctx, "cursor"))
    return 200, {
        "market_positions": [ser.position_json(p, shard_of(state, p.ticker)) for p in page],
        "event_positions": ser.event_positions_json(state.exchange, page),
        "cursor": cursor,
    }


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/historical/cutoff", handle_get_historical_cutoff, private=False),
    Endpoint("GET", "/historical/markets", handle_get_historical_markets, private=False),
    Endpoint("GET", "/historical/markets/{ticker}", handle_get_historical_market, private=False),
    Endpoint(
        "GET",
        "/historical/markets/{ticker}/candlesticks",
        handle_get_market_candlesticks_historical,
        private=False,
    ),
    Endpoint("GET", "/historical/trades", handle_get_trades_historical, private=False),
    Endpoint("GET", "/historical/fills", handle_get_fills_historical),
    Endpoint("GET", "/historical/orders", handle_get_historical_orders),
    Endpoint("GET", "/historical/positions", handle_get_historical_positions),
)

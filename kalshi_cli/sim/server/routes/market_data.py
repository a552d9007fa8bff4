"""Market data routes: the exchange status, markets, order books, trades, candlesticks,
events, series and their fee changes. Public: authentication is checked only when sent."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from decimal import Decimal

from kalshi_cli.sim.core import serialize as ser
from kalshi_cli.sim.core.historical import Archive
from kalshi_cli.sim.core.records import ExchangeError, SimEvent, SimMarket, SimSeries, bad_request
from kalshi_cli.sim.server.history import candle_trades, candlesticks, period_ends
from kalshi_cli.sim.server.ratelimit import DEFAULT_COST, ENDPOINT_COSTS
from kalshi_cli.sim.server.routes.multivariate import is_multivariate
from kalshi_cli.sim.server.routing import (
    API_PREFIX,
    Endpoint,
    Json,
    RequestContext,
    SimState,
    found,
    invalid_status_filter,
    matches,
    paginate,
    query_bool,
    query_int,
    query_list,
    query_str,
    ts_filter,
    view_page,
    within,
)
from kalshi_cli.vocabulary.clock import iso_utc
from kalshi_cli.vocabulary.units import fmt_count

INT32_MAX = 2**31 - 1


def handle_get_exchange_status(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    """Active unless a maintenance window covers now (`sim/server/schedule.py`): then neither the
    exchange nor trading is, and the estimated resume time is the window's end. Each shard's own
    status beside it ("The top-level fields above reflect the default exchange index (0)")."""
    window = state.schedule.current(state.clock.wall())
    statuses = state.shards.statuses(state.exchange, active=window is None)
    default = statuses[0]
    status: Json = {
        "exchange_active": default["exchange_active"],
        "trading_active": default["trading_active"],
        "intra_exchange_transfers_active": default["intra_exchange_transfers_active"],
        "exchange_index_statuses": statuses,
    }
    if window is not None:
        status["exchange_estimated_resume_time"] = iso_utc(window.end)
    return 200, status


def handle_get_markets(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    limit = query_int(ctx, "limit", 100, 0, 1000) or 100
    status = query_str(ctx, "status")
    if status is not None and status not in ser.STATUS_FILTER:
        raise invalid_status_filter()
    event_ticker = query_str(ctx, "event_ticker")
    series_ticker = query_str(ctx, "series_ticker")
    tickers = query_list(ctx, "tickers")
    created = ts_filter(ctx, "min_created_ts", "max_created_ts")
    close = ts_filter(ctx, "min_close_ts", "max_close_ts")
    settled = ts_filter(ctx, "min_settled_ts", "max_settled_ts")
    updated = ts_filter(ctx, "min_updated_ts", "max_updated_ts")
    mve_filter = query_str(ctx, "mve_filter")
    if mve_filter not in (None, "exclude", "only"):
        raise bad_request("mve_filter must be only or exclude")
    _check_market_filter_combination(
        status=status,
        created=created,
        close=close,
        settled=settled,
        updated=updated,
        mve_filter=mve_filter,
        event_ticker=event_ticker,
        tickers=tickers,
        series_ticker=series_ticker,
    )
    archived = Archive(state.exchange, state.history, ctx.now).market
    listed = [  # every filter but those of what changes: the status, settlement, updates
        m
        for m in state.exchange.reference.markets.values()
        if not archived(m)
        and (
            mve_filter is None
            or is_multivariate(state.exchange, m.ticker) == (mve_filter == "only")
        )
        and matches(m, event_ticker=event_ticker, series_ticker=series_ticker)
        and (tickers is None or m.ticker in tickers)
        and within(m.created_time, *created)
        and within(m.close_time, *close)
    ]
    markets = [
        m
        for m in listed
        if (status is None or m.status in ser.STATUS_FILTER[status])
        and within(m.settled_time, *settled)
        and within(m.updated_time, *updated)
    ]
    page, cursor = paginate(markets, lambda m: m.ticker, limit, query_str(ctx, "cursor"), listed)
    return 200, {
        "markets": [ser.market_json(state.exchange.engine, m) for m in page],
        "cursor": cursor,
    }


def _check_market_filter_combination(
    *,
    status: str | None,
    created: tuple[int | None, int | None],
    close: tuple[int | None, int | None],
    settled: tuple[int | None, int | None],
    updated: tuple[int | None, int | None],
    mve_filter: str | None,
    event_ticker: str | None,
    tickers: list[str] | None,
    series_ticker: str | None,
) -> None:
    """GET /markets: timestamp families exclude one another and some statuses (spec table)."""
    families = {
        "min/max_created_ts": (created, (None, "unopened", "open")),
        "min/max_close_ts": (close, (None, "closed")),
        "min/max_settled_ts": (settled, (None, "settled")),
    }
    used = [name for name, (pair, _) in families.items() if pair != (None, None)]
    if updated != (None, None):
        used.append("min/max_updated_ts")
    if len(used) > 1:
        raise bad_request(f"timestamp filters {' and '.join(used)} cannot be combined")
    for name in used:
        if name == "min/max_updated_ts":
            if status is not None or event_ticker is not None or tickers is not None:
                raise bad_request("min/max_updated_ts cannot be combined with other filters")
            if mve_filter == "only" or (series_ticker is not None and mve_filter != "exclude"):
                raise bad_request(
                    "min/max_updated_ts combine only with mve_filter=exclude (and series_ticker "
                    "with it)"
                )
        elif status not in families[name][1]:
            raise bad_request(f"{name} cannot be combined with status={status}")


def _market_or_404(state: SimState, ticker: str) -> SimMarket:
    """A live market: one archived to the historical tier is not found here."""
    market = state.exchange.reference.markets.get(ticker)
    if market is None or Archive(state.exchange, state.history, state.clock.wall()).market(market):
        raise ExchangeError(404, "not_found", f"market {ticker} not found")
    return market


def handle_get_market(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    market = _market_or_404(state, ctx.path_param("ticker"))
    return 200, {"market": ser.market_json(state.exchange.engine, market)}


def handle_get_market_orderbook(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    market = _market_or_404(state, ctx.path_param("ticker"))
    depth = query_int(ctx, "depth", 0, 0, 100) or 0
    return 200, ser.orderbook_json(state.exchange.engine, market.ticker, depth)


def trades_listing(state: SimState, ctx: RequestContext, *, live: bool) -> tuple[int, Json | None]:
    """The trades of the live tier (made at or after the cutoff) or, not `live`, of the
    historical one, read by index (none rebuilt but the page's). An unknown ticker is a 404:
    `not_found` from the historical tier, the core's `market_not_found` from the live one."""
    limit = query_int(ctx, "limit", 100, 0, 1000) or 100
    ticker = query_str(ctx, "ticker")
    lo, hi = ts_filter(ctx, "min_ts", "max_ts")
    only_block = query_bool(ctx, "is_block_trade")  # the simulator has no block trades
    if not live and ticker is not None:
        found(state.exchange.reference.markets.get(ticker), f"market {ticker}")
    cutoff = Archive(state.exchange, state.history, ctx.now).cutoff
    trades = state.exchange.history.trades_newest_first(ticker)
    if only_block:
        return 200, {"trades": [], "cursor": ""}

    def keep(i: int) -> bool:
        ts = trades.ts(i)
        return (ts >= cutoff) == live and within(ts, lo, hi)

    spans = trades.spans_from(cutoff, lo, hi) if live else trades.spans_before(cutoff, lo, hi)
    return view_page(ctx, "trades", trades, spans, keep, ser.trade_json, limit)


def handle_get_trades(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    return trades_listing(state, ctx, live=True)


def handle_get_market_candlesticks(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    market = _market_or_404(state, ctx.path_param("ticker"))
    if market.series_ticker != ctx.path_param("series_ticker"):
        raise ExchangeError(404, "not_found", f"market {market.ticker} is not in that series")
    start, end, period = candle_range(ctx, (1, 60, 1440))
    candles = market_candles(
        state,
        market,
        start,
        end,
        period,
        include_latest_before_start=query_bool(ctx, "include_latest_before_start"),
    )
    return 200, {"ticker": market.ticker, "candlesticks": candles}


def candle_range(
    ctx: RequestContext, periods: Collection[int] | None, *, bounded: bool = True
) -> tuple[int, int, int]:
    """`start_ts`, `end_ts` and `period_interval` (minutes; one of `periods` when given), all
    required. `bounded`: the period within the spec's int32 minimum of 1 and maximum (an
    operation whose spec gives no bounds checks only `periods`)."""
    start = query_int(ctx, "start_ts", None)
    end = query_int(ctx, "end_ts", None)
    period = query_int(ctx, "period_interval", None, *((1, INT32_MAX) if bounded else ()))
    if start is None or end is None or period is None:
        raise bad_request("start_ts, end_ts and period_interval are required", "missing_parameters")
    if periods is not None and period not in periods:
        raise bad_request(f"period_interval must be one of {', '.join(map(str, periods))}")
    if end < start:
        raise bad_request("end_ts must not be before start_ts")
    return start, end, period


def market_candles(
    state: SimState,
    market: SimMarket,
    start: int,
    end: int,
    period_min: int,
    *,
    include_latest_before_start: bool = False,
    limit: int | None = None,
) -> list[Json]:
    """A market's candlesticks, from its own trades and the recorded book (`sim/server/history.py`);
    at most `limit` periods (the earliest)."""
    period_s = period_min * 60
    ends = period_ends(start, end, period_s, market.created_time, state.clock.wall())
    if limit is not None:
        ends = ends[:limit]
    return candlesticks(
        state.market_history.track(market.ticker),
        candle_trades(state.exchange.history.trade_timeline(market.ticker), ends, period_s),
        ends,
        period_s,
        include_latest_before_start=include_latest_before_start,
    )


def _event_status_matches(state: SimState, event_ticker: str, status: str) -> bool:
    statuses = {m.status for m in state.exchange.reference.event_markets(event_ticker)}
    return bool(statuses & ser.STATUS_FILTER[status])


def handle_get_events(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    limit = query_int(ctx, "limit", 200, 1, 200) or 200
    status = query_str(ctx, "status")
    if status is not None and status not in ("unopened", "open", "closed", "settled"):
        raise invalid_status_filter()
    series_ticker = query_str(ctx, "series_ticker")
    tickers = query_list(ctx, "tickers")
    nested = query_bool(ctx, "with_nested_markets")
    milestones = query_bool(ctx, "with_milestones")
    min_close = query_int(ctx, "min_close_ts", None)
    min_updated = query_int(ctx, "min_updated_ts", None)
    listed = _events_listed(state, series_ticker, tickers, min_close)
    events = [
        e
        for e in listed
        if (status is None or _event_status_matches(state, e.event_ticker, status))
        and (min_updated is None or e.updated_time >= min_updated)
    ]
    page, cursor = paginate(
        events, lambda e: e.event_ticker, limit, query_str(ctx, "cursor"), listed
    )
    response: Json = {"events": [_event_json(state, e, nested) for e in page], "cursor": cursor}
    if milestones:
        response["milestones"] = []  # the simulator has no milestones
    return 200, response


def _events_listed(
    state: SimState, series_ticker: str | None, tickers: list[str] | None, min_close: int | None
) -> list[SimEvent]:
    """The events every filter but those of what changes (the status, updates) keeps."""
    closes: dict[str, list[float]] = defaultdict(list)
    if min_close is not None:
        for m in state.exchange.reference.markets.values():
            closes[m.event_ticker].append(m.close_time)
    return [
        e
        for e in state.exchange.reference.events.values()
        # "This endpoint excludes multivariate events" (GET /events/multivariate lists them)
        if not is_multivariate(state.exchange, e.event_ticker)
        and matches(e, series_ticker=series_ticker)
        and (tickers is None or e.event_ticker in tickers)
        # "at least one market with close timestamp greater than" min_close_ts
        and (min_close is None or any(c > min_close for c in closes[e.event_ticker]))
    ]


def _event_json(state: SimState, event: SimEvent, nested: bool) -> Json:
    markets = _event_markets(state, event.event_ticker) if nested else None
    series = state.exchange.reference.series.get(event.series_ticker)
    return ser.event_json(
        event, series, markets, state.exchange.reference.fees.event_fee_override(event.event_ticker)
    )


def _event_markets(state: SimState, event_ticker: str) -> list[Json]:
    return [
        ser.market_json(state.exchange.engine, m)
        for m in state.exchange.reference.event_markets(event_ticker)
    ]


def handle_get_event(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    ticker = ctx.path_param("event_ticker")
    event = found(state.exchange.reference.events.get(ticker), f"event {ticker}")
    markets = _event_markets(state, ticker)
    nested = query_bool(ctx, "with_nested_markets")
    series = state.exchange.reference.series.get(event.series_ticker)
    return 200, {
        "event": ser.event_json(
            event,
            series,
            markets if nested else None,
            state.exchange.reference.fees.event_fee_override(ticker),
        ),
        "markets": markets,
    }


def _series_out(
    state: SimState, series: SimSeries, *, volume: bool, product_metadata: bool
) -> Json:
    data = ser.series_json(series, state.exchange.reference.fees.series_fees(series.ticker))
    if volume:
        traded = sum(
            (
                m.volume
                for m in state.exchange.reference.markets.values()
                if m.series_ticker == series.ticker
            ),
            Decimal(0),
        )
        data["volume_fp"] = fmt_count(traded)
    if product_metadata:
        data["product_metadata"] = {}  # the simulator keeps no product metadata
    return data


def handle_get_series_list(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    category = query_str(ctx, "category")
    tags = query_list(ctx, "tags")
    volume = query_bool(ctx, "include_volume")
    product_metadata = query_bool(ctx, "include_product_metadata")
    min_updated = query_int(ctx, "min_updated_ts", None)
    series = [
        s
        for s in state.exchange.reference.series.values()
        if (category is None or s.category == category)
        and (tags is None or any(t in s.tags for t in tags))
        and (min_updated is None or s.updated_time >= min_updated)
    ]
    out = [_series_out(state, s, volume=volume, product_metadata=product_metadata) for s in series]
    return 200, {"series": out}


def handle_get_series_fee_changes(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    """GetSeriesFeeChanges: the scheduled changes still to come (`show_historical`: those
    already in effect too), of one series or of all."""
    changes = ser.series_fee_changes_json(
        state.exchange.reference.fees.fee_changes(query_str(ctx, "series_ticker")),
        state.clock.wall(),
        historical=query_bool(ctx, "show_historical"),
    )
    return 200, {"series_fee_change_arr": changes}


def handle_get_series(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    ticker = ctx.path_param("series_ticker")
    volume = query_bool(ctx, "include_volume")
    series = found(state.exchange.reference.series.get(ticker), f"series {ticker}")
    return 200, {"series": _series_out(state, series, volume=volume, product_metadata=False)}


def handle_get_account_endpoint_costs(
    state: SimState, ctx: RequestContext
) -> tuple[int, Json | None]:
    costs = [
        {"method": method, "path": API_PREFIX + template, "cost": cost}
        for (method, template), cost in ENDPOINT_COSTS.items()
    ]
    return 200, {"default_cost": DEFAULT_COST, "endpoint_costs": costs}


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/exchange/status", handle_get_exchange_status, private=False),
    Endpoint("GET", "/markets", handle_get_markets, private=False),
    Endpoint("GET", "/markets/trades", handle_get_trades, private=False),
    Endpoint("GET", "/markets/{ticker}", handle_get_market, private=False),
    # public since API 3.31.0 (the spec dropped its `security`)
    Endpoint("GET", "/markets/{ticker}/orderbook", handle_get_market_orderbook, private=False),
    Endpoint(
        "GET",
        "/series/{series_ticker}/markets/{ticker}/candlesticks",
        handle_get_market_candlesticks,
        private=False,
    ),
    Endpoint("GET", "/events", handle_get_events, private=False),
    Endpoint("GET", "/events/{event_ticker}", handle_get_event, private=False),
    Endpoint("GET", "/series", handle_get_series_list, private=False),
    Endpoint("GET", "/series/fee_changes", handle_get_series_fee_changes, private=False),
    Endpoint("GET", "/series/{series_ticker}", handle_get_series, private=False),
    Endpoint("GET", "/account/endpoint_costs", handle_get_account_endpoint_costs, private=False),
)

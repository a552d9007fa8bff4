"""Multivariate (combo) event collections and the combo markets made from them (openapi.yaml tag
`multivariate`). A collection is data a scenario defines; creating a combo for a selection of
legs enforces the collection's rules, always names the same market for the same selection, and
makes an ordinary market of the core that settles once every leg has. See docs/simulator.md
"Multivariate collections and combo markets".
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass
from typing import Any

from kalshi_cli.sim.core import serialize as ser
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import SimEvent, SimMarket, SimSeries, bad_request
from kalshi_cli.sim.server import scenario_data
from kalshi_cli.sim.server.routes.reference_data import seconds_of
from kalshi_cli.sim.server.routing import (
    Endpoint,
    InvalidQuery,
    Json,
    RequestContext,
    SimState,
    field_bool,
    found,
    paginate,
    query_bool,
    query_int,
    query_str,
)
from kalshi_cli.vocabulary.models import PRICE_STRUCTURES

KIND = "multivariate_event_collections"
# Kalshi names every multivariate collection, and so every combo event and market made from
# one, with this prefix (its changelog filters tickers so named from `market_lifecycle_v2`)
MVE_PREFIX = "KXMVE"


@dataclass(frozen=True)
class Leg:
    event_ticker: str
    market_ticker: str
    side: str


@dataclass(frozen=True)
class Combo:
    collection_ticker: str
    event_ticker: str
    market_ticker: str
    legs: tuple[Leg, ...]


_COMBOS: weakref.WeakKeyDictionary[Exchange, dict[str, Combo]] = weakref.WeakKeyDictionary()


def combos(exchange: Exchange) -> dict[str, Combo]:
    """market ticker -> the combo it is; the first use adds the settling tick hook."""
    found = _COMBOS.get(exchange)
    if found is None:
        found = _COMBOS[exchange] = {}
        exchange.add_tick_hook(lambda _now: _settle_combos(exchange, found))
    return found


def is_multivariate(exchange: Exchange, ticker: str) -> bool:
    """Whether a market or an event is multivariate: named with Kalshi's prefix, or a combo
    made here from a collection a scenario named otherwise. The one answer to the question,
    wherever the simulator asks it: which lifecycle channel carries a market or an event, what
    `mve_filter` keeps, what GET /events leaves out."""
    if ticker.startswith(MVE_PREFIX):
        return True
    known = combos(exchange)
    return ticker in known or any(c.event_ticker == ticker for c in known.values())


def _settle_combos(exchange: Exchange, known: dict[str, Combo]) -> None:
    for combo in known.values():
        market = exchange.reference.markets.get(combo.market_ticker)
        if market is None or market.status == "settled":
            continue
        legs = [exchange.reference.markets.get(leg.market_ticker) for leg in combo.legs]
        if all(m is not None and m.status == "settled" for m in legs):
            won = all(
                m is not None and m.result == leg.side
                for m, leg in zip(legs, combo.legs, strict=True)
            )
            exchange.settlement.settle(combo.market_ticker, "yes" if won else "no")


def _status(collection: Json, now: float) -> str:
    opens, closes = (
        seconds_of(collection.get("open_date")),
        seconds_of(collection.get("close_date")),
    )
    if opens is not None and now < opens:
        return "unopened"
    if closes is not None and now >= closes:
        return "closed"
    return "open"


def _collection(state: SimState, ticker: str) -> Json:
    collection = scenario_data.of(state.exchange).find(KIND, ticker)
    return found(collection, f"multivariate event collection {ticker}")


def handle_collections(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    status = query_str(ctx, "status")
    if status is not None and status not in ("unopened", "open", "closed"):
        raise InvalidQuery(ctx.operation, "status: value is not one of [unopened open closed]")
    event = query_str(ctx, "associated_event_ticker")
    series = query_str(ctx, "series_ticker")
    limit = query_int(ctx, "limit", 100, 1, 200) or 100
    rows = [
        c
        for c in scenario_data.of(state.exchange).get(KIND)
        if (status is None or _status(c, ctx.now) == status)
        and (event is None or event in (c.get("associated_event_tickers") or []))
        and (series is None or c.get("series_ticker") == series)
    ]
    key = "collection_ticker"
    page, cursor = paginate(rows, lambda c: str(c[key]), limit, query_str(ctx, "cursor"))
    return 200, {"multivariate_contracts": page, "cursor": cursor}


def handle_collection(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    return 200, {"multivariate_contract": _collection(state, ctx.path_param("collection_ticker"))}


def _legs(raw: Any) -> tuple[Leg, ...]:
    if not isinstance(raw, list) or not raw:
        raise bad_request("selected_markets is required", "missing_parameters")
    legs = []
    for item in raw:
        if not isinstance(item, dict):
            raise bad_request("each selected market is an object")
        event, market, side = (item.get(k) for k in ("event_ticker", "market_ticker", "side"))
        if not (isinstance(event, str) and isinstance(market, str) and isinstance(side, str)):
            raise bad_request("a selected market needs event_ticker, market_ticker and side")
        legs.append(Leg(event, market, side))
    return tuple(legs)


def _check(exchange: Exchange, collection: Json, legs: tuple[Leg, ...]) -> None:
    associated = {e.get("ticker"): e for e in collection.get("associated_events") or []}
    allowed = set(collection.get("associated_event_tickers") or []) | set(associated)
    for leg in legs:
        _check_leg(exchange, collection, associated, allowed, leg)
    if len({leg.market_ticker for leg in legs}) != len(legs):
        raise bad_request("a market is selected twice")
    events = [leg.event_ticker for leg in legs]
    if collection.get("is_single_market_per_event") and len(set(events)) != len(events):
        raise bad_request("one market per event in this collection")
    _check_count(collection, len(legs), "")
    for ticker, event in associated.items():
        _check_count(event, events.count(ticker), f" of event {ticker}")


def _check_leg(
    exchange: Exchange, collection: Json, associated: dict[Any, Json], allowed: set[Any], leg: Leg
) -> None:
    if leg.side not in ("yes", "no"):
        raise bad_request(f"side {leg.side!r} must be yes or no")
    if leg.event_ticker not in allowed:
        raise bad_request(f"event {leg.event_ticker} is not in this collection")
    market = exchange.reference.markets.get(leg.market_ticker)
    if market is None or market.event_ticker != leg.event_ticker:
        raise bad_request(f"market {leg.market_ticker} is not in event {leg.event_ticker}")
    yes_only = collection.get("is_all_yes") or associated.get(leg.event_ticker, {}).get(
        "is_yes_only"
    )
    if yes_only and leg.side != "yes":
        raise bad_request(f"event {leg.event_ticker} takes the yes side only")


def _check_count(rules: Json, n: int, of: str) -> None:
    """`n` markets within the rules' `size_min` and `size_max`."""
    lo, hi = rules.get("size_min"), _size_max(rules)
    if (isinstance(lo, int) and n < lo) or (hi is not None and n > hi):
        raise bad_request(f"select between {lo} and {hi or 'any number of'} markets{of}")


def _size_max(rules: Json) -> int | None:
    """The maximum number of markets, or None for none: the spec's null, and the 0 real
    collections write for "no maximum" (a maximum of 0 would refuse every combo)."""
    hi = rules.get("size_max")
    return hi if isinstance(hi, int) and not isinstance(hi, bool) and hi > 0 else None


def handle_create_market(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    exchange = state.exchange
    ticker = ctx.path_param("collection_ticker")
    collection = _collection(state, ticker)
    body: Json = ctx.body
    legs = _legs(body.get("selected_markets"))
    if _status(collection, ctx.now) != "open":
        raise bad_request(f"collection {ticker} is {_status(collection, ctx.now)}")
    _check(exchange, collection, legs)
    ordered = (
        legs if collection.get("is_ordered") else tuple(sorted(legs, key=lambda g: g.market_ticker))
    )
    digest = (
        hashlib.sha256("|".join(f"{g.market_ticker}:{g.side}" for g in ordered).encode())
        .hexdigest()[:10]
        .upper()
    )
    event_ticker = f"{ticker}-{digest}"
    market_ticker = f"{event_ticker}-1"
    known = combos(exchange)
    if market_ticker not in exchange.reference.markets:
        # known before it exists: the WebSocket's lifecycle messages of its creation ask
        known[market_ticker] = Combo(ticker, event_ticker, market_ticker, ordered)
        try:
            _create(exchange, collection, (event_ticker, market_ticker), ordered, ctx.now)
        except BaseException:
            del known[market_ticker]
            raise
    answer: Json = {"event_ticker": event_ticker, "market_ticker": market_ticker}
    if field_bool(body, "with_market_payload"):
        answer["market"] = ser.market_json(
            exchange.engine, exchange.reference.markets[market_ticker]
        )
    return 200, answer


def _create(
    exchange: Exchange,
    collection: Json,
    combo: tuple[str, str],
    legs: tuple[Leg, ...],
    now: float,
) -> None:
    event_ticker, market_ticker = combo
    series_ticker = str(collection["series_ticker"])
    if series_ticker not in exchange.reference.series:
        exchange.reference.add_series(
            SimSeries(ticker=series_ticker, title=str(collection["title"]))
        )
    title = " & ".join(f"{g.side} {g.market_ticker}" for g in legs)
    shard = exchange.reference.series[series_ticker].exchange_index  # the combos' shard
    exchange.reference.add_event(
        SimEvent(event_ticker, series_ticker, str(collection["title"]), title, exchange_index=shard)
    )
    closes = min(exchange.reference.markets[g.market_ticker].close_time for g in legs)
    exchange.add_market(
        SimMarket(
            ticker=market_ticker,
            event_ticker=event_ticker,
            series_ticker=series_ticker,
            title=title,
            yes_sub_title=title,
            no_sub_title=title,
            status="open",
            price_level_structure="linear_cent",
            price_ranges=PRICE_STRUCTURES["linear_cent"],
            open_time=now,
            close_time=closes,
            latest_expiration_time=closes,
            created_time=now,
            updated_time=now,
        )
    )


def handle_multivariate_events(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    exchange = state.exchange
    limit = query_int(ctx, "limit", 100, 1, 200) or 100
    series = query_str(ctx, "series_ticker")
    collection = query_str(ctx, "collection_ticker")
    nested = query_bool(ctx, "with_nested_markets")
    rows = [
        c
        for c in combos(exchange).values()
        if c.event_ticker in exchange.reference.events
        and (collection is None or c.collection_ticker == collection)
        and (series is None or exchange.reference.events[c.event_ticker].series_ticker == series)
    ]
    page, cursor = paginate(rows, lambda c: c.event_ticker, limit, query_str(ctx, "cursor"))
    events = []
    for combo in page:
        event = exchange.reference.events[combo.event_ticker]
        markets = (
            [ser.market_json(exchange.engine, exchange.reference.markets[combo.market_ticker])]
            if nested
            else None
        )
        events.append(
            ser.event_json(event, exchange.reference.series.get(event.series_ticker), markets)
        )
    return 200, {"events": events, "cursor": cursor}


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/events/multivariate", handle_multivariate_events, private=False),
    Endpoint("GET", "/multivariate_event_collections", handle_collections, private=False),
    Endpoint(
        "GET",
        "/multivariate_event_collections/{collection_ticker}",
        handle_collection,
        private=False,
    ),
    Endpoint("POST", "/multivariate_event_collections/{collection_ticker}", handle_create_market),
)

"""Portfolio reads (balance, positions, fills, settlements, orders) and the account's rate
limits and endpoint costs. Reads of orders and positions go through the read replica, so a
`read_lag_ms` fault shows what the wire showed: reads lagging writes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from kalshi_cli.sim.core import serialize as ser
from kalshi_cli.sim.core.account_state import floor_cents
from kalshi_cli.sim.core.historical import Archive
from kalshi_cli.sim.core.record_views import OrderRef, OrdersNewestFirst
from kalshi_cli.sim.core.records import (
    ExchangeError,
    SimFill,
    SimOrder,
    SimPosition,
    SimSettlement,
    bad_request,
    not_found,
    owner,
)
from kalshi_cli.sim.core.reference import exchange_shards
from kalshi_cli.sim.server.routes.subaccounts import read_ledger, read_ledgers
from kalshi_cli.sim.server.routing import (
    Endpoint,
    Json,
    RequestContext,
    SimState,
    invalid_status_filter,
    matches,
    on_shard,
    orders_page,
    paginate,
    query_int,
    query_list,
    query_str,
    shard_of,
    shard_query,
    ts_filter,
    view_page,
    within,
)
from kalshi_cli.vocabulary.units import ZERO, fmt_dollars


def handle_get_balance(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    """The balance and portfolio value of every shard, or of the one `exchange_index` names
    ("If omitted, both include all exchange indexes"), with what is available on each shard."""
    shard = shard_query(ctx)
    ledger = read_ledger(state, ctx)
    accounts = state.exchange.accounts
    # on each shard, exact cash less what is held there, floored to $0.0001; the balance is
    # their sum (`AccountState.sync`), and `balance` that truncated to the cent
    held = accounts.acct(ledger).balances()
    every = sorted(set(exchange_shards(state.exchange.reference)) | set(held))
    shards = {index: held.get(index, ZERO) for index in every}
    balance = accounts.account(ledger).balance if shard is None else shards.get(shard, ZERO)
    answer: Json = {
        "balance": floor_cents(balance),
        "balance_dollars": fmt_dollars(balance),
        "portfolio_value": accounts.portfolio_value_cents(ledger, shard),
        # the spec: "Unix timestamp of the last update to the balance", not of the read
        "updated_ts": int(accounts.balance_updated(ledger, shard)),
    }
    if ctx.key_subaccount is None:
        # the spec: "omitted only when using a subaccount-restricted API key"
        answer["balance_breakdown"] = [
            {"exchange_index": index, "balance": fmt_dollars(available)}
            for index, available in shards.items()
            if shard is None or index == shard
        ]
    return 200, answer


def handle_get_positions(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    limit = query_int(ctx, "limit", 100, 1, 1000) or 100
    ticker = query_str(ctx, "ticker")
    event_ticker = query_str(ctx, "event_ticker")
    filters = query_list(ctx, "count_filter") or []
    if any(f not in ("position", "total_traded") for f in filters):
        raise bad_request("count_filter takes position and/or total_traded")
    shard = shard_query(ctx)
    ledgers = read_ledgers(state, ctx, all_by_default=False)
    positions = [p for ledger in ledgers for p in state.lagged_positions(ledger)]
    archived = Archive(state.exchange, state.history, ctx.now).position

    listed = [  # every filter but the counts, which change
        p
        for p in positions
        if not archived(p)
        and (ticker is None or p.ticker == ticker)
        and (event_ticker is None or state.exchange.reference.event_of(p.ticker) == event_ticker)
        and on_shard(state, p.ticker, shard)
    ]
    selected = [p for p in listed if _counted(p, filters)]
    page, cursor = paginate(selected, lambda p: p.ticker, limit, query_str(ctx, "cursor"), listed)
    return 200, {
        "market_positions": [ser.position_json(p, shard_of(state, p.ticker)) for p in page],
        "event_positions": ser.event_positions_json(
            state.exchange, _events_opened(state, selected, page), ledgers
        ),
        "cursor": cursor,
    }


def _counted(p: SimPosition, filters: list[str]) -> bool:
    """Whether a position passes `count_filter`: a position, a total traded, other than 0."""
    return ("position" not in filters or p.position != 0) and (
        "total_traded" not in filters or p.total_traded != 0
    )


def _events_opened(
    state: SimState, selected: list[SimPosition], page: list[SimPosition]
) -> list[SimPosition]:
    """The positions of the events whose line the page carries. An event's line is "the
    aggregate event position": every selected market of it, listed once, on the page of its
    first market (our reading: the spec does not say how it pages)."""
    on_page = {id(p) for p in page}
    event_of = state.exchange.reference.event_of
    first: dict[str, SimPosition] = {}
    for p in selected:
        first.setdefault(event_of(p.ticker) or p.ticker, p)
    opened = {event for event, p in first.items() if id(p) in on_page}
    return [p for p in selected if (event_of(p.ticker) or p.ticker) in opened]


class _TickerRow(Protocol):
    @property
    def ticker(self) -> str: ...


R = TypeVar("R", bound=_TickerRow)


def _newest_first(
    state: SimState,
    ctx: RequestContext,
    rows: Callable[[str], Sequence[R]],
    when: Callable[[R], float | None],
) -> Sequence[R]:
    """The rows of every subaccount the request covers (all unless it names one), newest
    first."""
    ledgers = read_ledgers(state, ctx, all_by_default=True)
    if len(ledgers) == 1:
        return rows(ledgers[0])
    merged = [r for ledger in ledgers for r in rows(ledger)]
    return sorted(merged, key=lambda r: when(r) or 0.0, reverse=True)


@dataclass(frozen=True, slots=True)
class ListingQuery:
    """What a portfolio listing is asked for: its `limit`, `ticker`, the filter its query
    parameter `by` names (`wanted`), `min_ts`/`max_ts` (`lo`, `hi`) and the shard."""

    limit: int
    ticker: str | None
    wanted: str | None
    lo: int | None
    hi: int | None
    shard: int | None


def listing_query(ctx: RequestContext, by: str) -> ListingQuery:
    """A portfolio listing's query parameters, read in this order, so the first bad one is the
    one refused."""
    limit = query_int(ctx, "limit", 100, 1, 1000) or 100
    ticker = query_str(ctx, "ticker")
    wanted = query_str(ctx, by)
    lo, hi = ts_filter(ctx, "min_ts", "max_ts")
    return ListingQuery(limit, ticker, wanted, lo, hi, shard_query(ctx))


def ledger_query(state: SimState, ctx: RequestContext, by: str) -> tuple[ListingQuery, str | None]:
    """A portfolio listing's query, and the one ledger it covers, to read by index; None for the
    ledger when the whole list answers it (several subaccounts' records merged by time)."""
    query = listing_query(ctx, by)
    ledgers = read_ledgers(state, ctx, all_by_default=True)
    return query, ledgers[0] if len(ledgers) == 1 else None


def filtered_page(
    state: SimState,
    ctx: RequestContext,
    name: str,
    query: ListingQuery,
    *,
    rows: Callable[[str], Sequence[R]],
    field: Callable[[R], str | None],
    when: Callable[[R], float | None],
    cursor_key: Callable[[R], str],
    to_json: Callable[[R, int], Json],
) -> tuple[int, Json | None]:
    """A portfolio listing filtered by the `query`: its ticker, its `wanted` (matched against
    `field`), its times (against `when`) and its shard, then paginated. `to_json` takes a row
    and its market's shard."""
    ticker, wanted, lo, hi, shard = query.ticker, query.wanted, query.lo, query.hi, query.shard
    selected = [
        r
        for r in _newest_first(state, ctx, rows, when)
        if (ticker is None or r.ticker == ticker)
        and (wanted is None or field(r) == wanted)
        and within(when(r), lo, hi)
        and on_shard(state, r.ticker, shard)
    ]
    page, cursor = paginate(selected, cursor_key, query.limit, query_str(ctx, "cursor"))
    return 200, {name: [to_json(r, shard_of(state, r.ticker)) for r in page], "cursor": cursor}


def fills_listing(
    state: SimState, ctx: RequestContext, by: str, *, live: bool
) -> tuple[int, Json | None]:
    """The fills of the live tier (made at or after the cutoff) or, not `live`, of the
    historical one, filtered by `ticker`, the query parameter `by` (a fill's field: `order_id`
    live, `ticker` historical) and the times. One ledger is read by index, only the page's fills
    rebuilt; another shard, or several subaccounts' fills merged by time, list them whole."""
    archive = Archive(state.exchange, state.history, ctx.now)
    cutoff = archive.cutoff
    query, ledger = ledger_query(state, ctx, by)
    if ledger is not None:
        ticker, wanted, lo, hi, shard = query.ticker, query.wanted, query.lo, query.hi, query.shard
        fills = state.exchange.history.fills_newest_first(ledger)
        field = getattr(fills, by)  # the view's reader of that field by index

        def keep(i: int) -> bool:
            ts = fills.ts(i)
            return (
                (ts >= cutoff) == live
                and (ticker is None or fills.ticker(i) == ticker)
                and (wanted is None or field(i) == wanted)
                and within(ts, lo, hi)
                and on_shard(state, fills.ticker(i), shard)
            )

        spans = fills.spans_from(cutoff, lo, hi) if live else fills.spans_before(cutoff, lo, hi)
        return view_page(ctx, "fills", fills, spans, keep, _fill_json(state), query.limit)

    def live_rows(account_id: str) -> list[SimFill]:
        fills = state.exchange.history.fills(account_id, since=cutoff)
        return [f for f in fills if not archive.fill(f)]

    return filtered_page(
        state,
        ctx,
        "fills",
        query,
        rows=live_rows if live else archive.fills,
        field=lambda f: getattr(f, by),
        when=lambda f: f.ts,
        cursor_key=lambda f: f.fill_id,
        to_json=ser.fill_json,
    )


def _fill_json(state: SimState) -> Callable[[SimFill], Json]:
    """`ser.fill_json` of a fill on its market's shard."""
    return lambda f: ser.fill_json(f, shard_of(state, f.ticker))


def handle_get_fills(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    return fills_listing(state, ctx, "order_id", live=True)


@dataclass(frozen=True, slots=True)
class _HeldSettlement:
    """A settlement beside the subaccount it was paid to. A market settles once on every
    subaccount that held it, so its ticker alone does not name one row of a listing that
    covers several subaccounts: a cursor naming the ticker would lead back to the first of
    them, and the pages after it would repeat without end."""

    subaccount: int
    settlement: SimSettlement

    @property
    def ticker(self) -> str:
        return self.settlement.ticker

    @property
    def cursor(self) -> str:
        return f"{self.settlement.ticker}:{self.subaccount}"


def handle_get_settlements(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    return filtered_page(
        state,
        ctx,
        "settlements",
        listing_query(ctx, "event_ticker"),
        rows=lambda ledger: [
            _HeldSettlement(owner(ledger)[1], s)
            for s in state.exchange.accounts.settlements(ledger)
        ],
        field=lambda r: r.settlement.event_ticker,
        when=lambda r: r.settlement.settled_time,
        cursor_key=lambda r: r.cursor,
        to_json=lambda r, shard: ser.settlement_json(r.settlement, shard),
    )


def handle_get_orders(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    limit = query_int(ctx, "limit", 100, 1, 1000) or 100
    ticker = query_str(ctx, "ticker")
    event_tickers = query_list(ctx, "event_ticker")
    if event_tickers is not None and len(event_tickers) > 10:
        raise bad_request("at most 10 event tickers")
    status = query_str(ctx, "status")
    if status is not None and status not in ("resting", "canceled", "executed"):
        raise invalid_status_filter()
    lo, hi = ts_filter(ctx, "min_ts", "max_ts")
    cut = Archive(state.exchange, state.history, ctx.now)
    shard = shard_query(ctx)
    ledgers = read_ledgers(state, ctx, all_by_default=True)
    if len(ledgers) == 1 and not state.lags(ledgers[0]):
        return _orders_by_index(state, ctx, ledgers[0], cut.cutoff, limit, shard=shard)
    archived = cut.order
    orders = _newest_first(
        state,
        ctx,
        lambda ledger: state.lagged_orders(ledger, since=cut.cutoff),
        lambda o: o.created_time,
    )

    listed = [  # every filter but the status, which changes
        o
        for o in orders
        if not archived(o)
        and matches(o, ticker=ticker)
        and (event_tickers is None or state.exchange.reference.event_of(o.ticker) in event_tickers)
        and within(o.created_time, lo, hi)
        and on_shard(state, o.ticker, shard)
    ]
    selected = [o for o in listed if matches(o, status=status)]
    page, cursor = paginate(selected, lambda o: o.order_id, limit, query_str(ctx, "cursor"), listed)
    return 200, orders_json(state, page, cursor)


def orders_json(state: SimState, page: Iterable[SimOrder], cursor: str) -> Json:
    """A page of orders as `GET /portfolio/orders` and `/historical/orders` answer it: each
    order on its market's shard, then the cursor."""
    return {
        "orders": [ser.order_json(o, shard_of(state, o.ticker)) for o in page],
        "cursor": cursor,
    }


def _orders_by_index(
    state: SimState,
    ctx: RequestContext,
    ledger: str,
    cutoff: float,
    limit: int,
    *,
    shard: int | None,
) -> tuple[int, Json | None]:
    """`GET /portfolio/orders` of one ledger, as the whole-list path answers it, walking the
    orders newest placed first and rebuilding only the page's archived ones; the archive is
    left out when none of it can be listed (a `resting` filter, or every archived order last
    updated before the cutoff)."""
    ticker = query_str(ctx, "ticker")
    event_tickers = query_list(ctx, "event_ticker")
    status = query_str(ctx, "status")
    lo, hi = ts_filter(ctx, "min_ts", "max_ts")
    live, archive = state.exchange.history.order_store(ledger)
    stored = OrdersNewestFirst(live, archive)  # where a cursor's order is found
    if archive is not None and (status == "resting" or archive.latest_update < cutoff):
        archive = None
    orders = OrdersNewestFirst(live, archive)
    markets = state.exchange.reference.markets

    def listed(ref: OrderRef) -> bool:  # every filter but the status, which changes
        t, st, created, updated = stored.head(ref)
        if st != "resting" and updated < cutoff:
            return False  # the historical tier's
        market = markets.get(t)
        if event_tickers is not None and (market.event_ticker if market else None) not in (
            event_tickers
        ):
            return False
        if shard is not None and (market.exchange_index if market else 0) != shard:
            return False
        return (ticker is None or t == ticker) and within(created, lo, hi)

    def keep(ref: OrderRef) -> bool:
        return listed(ref) and (status is None or stored.head(ref)[1] == status)

    cursor = query_str(ctx, "cursor")
    page, next_cursor = orders_page(orders, keep, cursor, limit, listed=listed, stored=stored)
    return 200, orders_json(state, (orders.record(r) for r in page), next_cursor)


def handle_get_order(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    order_id = ctx.path_param("order_id")
    # the spec gives this path no subaccount: the order of any subaccount the key may read
    missing = not_found()
    archive = Archive(state.exchange, state.history, ctx.now)
    for ledger in read_ledgers(state, ctx, all_by_default=True):
        try:
            order = state.lagged_order(ledger, order_id)
        except ExchangeError as exc:
            missing = exc
            continue
        if archive.order(order):
            raise not_found()  # archived: only GET /historical/orders lists it
        return 200, {"order": ser.order_json(order, shard_of(state, order.ticker))}
    raise missing


def handle_get_account_api_limits(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    tier = state.tier
    return 200, {
        "usage_tier": tier.name,
        "read": {"refill_rate": tier.read_per_s, "bucket_capacity": tier.read_capacity},
        "write": {"refill_rate": tier.write_per_s, "bucket_capacity": tier.write_capacity},
        "grants": [],
    }


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/portfolio/balance", handle_get_balance),
    Endpoint("GET", "/portfolio/positions", handle_get_positions),
    Endpoint("GET", "/portfolio/fills", handle_get_fills),
    Endpoint("GET", "/portfolio/settlements", handle_get_settlements),
    Endpoint("GET", "/portfolio/orders", handle_get_orders),
    Endpoint("GET", "/portfolio/orders/{order_id}", handle_get_order),
    Endpoint("GET", "/account/limits", handle_get_account_api_limits),
)

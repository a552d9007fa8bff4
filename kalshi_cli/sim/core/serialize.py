"""Core objects -> the JSON shapes of the pinned openapi.yaml (3.30.0) and asyncapi.yaml.

Prices go out as FixedPointDollars strings (4 decimals, up to 6 for averages; fees and costs always
6, as on the wire), counts as FixedPointCount strings (2 decimals), balances as integer cents beside
`balance_dollars`, times as the spec says. Core statuses map to Kalshi's (unopened -> initialized,
open -> active, paused -> inactive, closed, determined, settled -> finalized). Book levels are in
ascending price (best bid last). A record of an account's (an order, a fill, a position, a
settlement) is on its market's shard: the caller, who has the markets, says which
(`exchange_index`).
"""

from __future__ import annotations

import functools
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kalshi_cli.sim.core import indices, records
from kalshi_cli.sim.core.order_groups import SimOrderGroup
from kalshi_cli.sim.core.records import (
    FeeOverride,
    MarketStatus,
    OrderGroupChanged,
    SimEvent,
    SimEventFeeChange,
    SimFeeChange,
    SimFill,
    SimMarket,
    SimOrder,
    SimPosition,
    SimSeries,
    SimSettlement,
    SimTrade,
    owner,
)
from kalshi_cli.vocabulary.clock import iso_utc
from kalshi_cli.vocabulary.models import FeeModel
from kalshi_cli.vocabulary.units import ONE, ZERO, BookSide, fmt_count, fmt_dollars

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kalshi_cli.sim.core.exchange import Exchange  # the served exchange: its routes' shapes
    from kalshi_cli.sim.core.matching import MatchingEngine

MARKET_STATUS: dict[MarketStatus, str] = {
    "unopened": "initialized",
    "open": "active",
    "paused": "inactive",
    "closed": "closed",
    "determined": "determined",
    "settled": "finalized",
}
# the `GET /markets` filter's words (openapi `MarketStatusQuery`, which has no `determined`) ->
# the core statuses each lists: a determined market is closed to trading and not yet settled
STATUS_FILTER: dict[str, frozenset[MarketStatus]] = {
    "unopened": frozenset({"unopened"}),
    "open": frozenset({"open"}),
    "paused": frozenset({"paused"}),
    "closed": frozenset({"closed", "determined"}),
    "settled": frozenset({"settled"}),
}

Json = dict[str, Any]
Level = tuple[Decimal, Decimal]

# A market's own times rarely change, and `GET /markets/{ticker}` formats six of them per call.
_market_time = functools.lru_cache(maxsize=4096)(iso_utc)
_ONE_DOLLAR = fmt_dollars(ONE)


def _amount(value: Decimal) -> str:
    """Money (a cost, fee, P&L, total) with six places as on the wire; a price keeps four."""
    return fmt_dollars(value, 6)


def market_id(ticker: str) -> str:
    """A stable UUID per ticker for the WebSocket `market_id` fields."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kalshi-sim:{ticker}"))


def ts_ms(ts: float) -> int:
    return int(ts * 1000)


def outcome_side(book_side: BookSide) -> str:
    return "yes" if book_side is BookSide.BID else "no"


def _sides(book_side: BookSide) -> Json:
    """An order's or a fill's side in the V2 terms and in the deprecated pair beside them: a bid
    buys YES, an ask buys NO."""
    side = outcome_side(book_side)
    return {"outcome_side": side, "book_side": book_side.value, "side": side, "action": "buy"}


def _taker_sides(taker_book_side: BookSide) -> Json:
    """A trade's taker side, in each of the names the spec gives it."""
    side = outcome_side(taker_book_side)
    return {
        "taker_side": side,
        "taker_outcome_side": side,
        "taker_book_side": taker_book_side.value,
    }


def _prices(yes_price: Decimal) -> Json:
    """A YES price and the NO price it makes ($1.00 less it), as a record sends both."""
    return {
        "yes_price_dollars": fmt_dollars(yes_price),
        "no_price_dollars": fmt_dollars(ONE - yes_price),
    }


def levels_json(levels: list[Level]) -> list[list[str]]:
    return [[fmt_dollars(p), fmt_count(q)] for p, q in levels]


def top_of_book(books: MatchingEngine, ticker: str) -> tuple[Level | None, Level | None]:
    """(best YES bid, best NO bid)."""
    yes, no = books.book(ticker, 1)
    return (yes[-1] if yes else None), (no[-1] if no else None)


def quote_json(books: MatchingEngine, ticker: str) -> Json:
    best_yes, best_no = top_of_book(books, ticker)
    yes_bid = best_yes[0] if best_yes else ZERO
    no_bid = best_no[0] if best_no else ZERO
    return {
        "yes_bid_dollars": fmt_dollars(yes_bid),
        "yes_bid_size_fp": fmt_count(best_yes[1] if best_yes else ZERO),
        "yes_ask_dollars": fmt_dollars(ONE - no_bid),
        "yes_ask_size_fp": fmt_count(best_no[1] if best_no else ZERO),
        "no_bid_dollars": fmt_dollars(no_bid),
        "no_ask_dollars": fmt_dollars(ONE - yes_bid),
    }


def market_json(books: MatchingEngine, m: SimMarket) -> Json:
    quote = quote_json(books, m.ticker)
    known = m.status in ("determined", "settled") and m.result in ("yes", "no")
    data: Json = {
        "ticker": m.ticker,
        "event_ticker": m.event_ticker,
        "market_type": "binary",
        "title": m.title,
        "yes_sub_title": m.yes_sub_title,
        "no_sub_title": m.no_sub_title,
        "created_time": _market_time(m.created_time),
        "updated_time": _market_time(m.updated_time),
        "open_time": _market_time(m.open_time),
        "close_time": _market_time(m.close_time),
        "expected_expiration_time": _market_time(m.latest_expiration_time),
        "latest_expiration_time": _market_time(m.latest_expiration_time),
        "settlement_timer_seconds": m.settlement_timer_seconds,
        "status": MARKET_STATUS[m.status],
        **quote,
        "last_price_dollars": fmt_dollars(m.last_price),
        # Kalshi's previous_* are the values a day ago; the simulator keeps no quote history.
        "previous_yes_bid_dollars": quote["yes_bid_dollars"],
        "previous_yes_ask_dollars": quote["yes_ask_dollars"],
        "previous_price_dollars": fmt_dollars(m.previous_price),
        "volume_fp": fmt_count(m.volume),
        "volume_24h_fp": fmt_count(m.volume_24h),
        "open_interest_fp": fmt_count(m.open_interest),
        "notional_value_dollars": _ONE_DOLLAR,
        "result": m.result,
        "can_close_early": True,
        "expiration_value": (m.expiration_value or m.result) if known else "",
        "rules_primary": m.rules_primary,
        "rules_secondary": m.rules_secondary,
        "price_level_structure": m.price_level_structure,
        "price_ranges": [r.to_api() for r in m.price_ranges],
        "exchange_index": m.exchange_index,
        "settlement_bounds_type": "default" if m.settlement_floor is None else "floor",
    }
    if m.settlement_floor is not None:
        data["settlement_floor_dollars"] = fmt_dollars(m.settlement_floor)
    if m.fee_waiver_expiration_time is not None:
        data["fee_waiver_expiration_time"] = iso_utc(m.fee_waiver_expiration_time)
    if m.strike_type:  # x-omitempty, as floor_strike and cap_strike
        data["strike_type"] = m.strike_type
    # the spec's strikes are JSON numbers (`format: double`): the shortest text of the
    # float reads back as the same decimal (114999.99, never 114999.98999)
    if m.floor_strike is not None:
        data["floor_strike"] = float(m.floor_strike)
    if m.cap_strike is not None:
        data["cap_strike"] = float(m.cap_strike)
    if known:  # "Only filled after determination"; `settlement_ts` "Only ... for settled"
        data["settlement_value_dollars"] = fmt_dollars(m.yes_settlement_value)
        if m.status == "settled" and m.settled_time is not None:
            data["settlement_ts"] = iso_utc(m.settled_time)
    return data


def event_json(
    ev: SimEvent,
    series: SimSeries | None,
    markets: list[Json] | None,
    fee_override: FeeOverride | None = None,
) -> Json:
    """`fee_override`: the event's fee override in effect (type, multiplier; either None for
    the series'), sent as `fee_type_override`/`fee_multiplier_override`, each absent when
    null (x-omitempty)."""
    data: Json = {
        "event_ticker": ev.event_ticker,
        "series_ticker": ev.series_ticker,
        "sub_title": ev.sub_title,
        "title": ev.title,
        "collateral_return_type": ev.collateral_return_type,
        "mutually_exclusive": ev.mutually_exclusive,
        "category": series.category if series else "",
        "settlement_sources": [],
        "product_metadata": None,
        "exchange_index": ev.exchange_index,
    }
    override_type, override_multiplier = fee_override or (None, None)
    if override_type is not None:
        data["fee_type_override"] = override_type
    if override_multiplier is not None:
        data["fee_multiplier_override"] = _fee_number(override_multiplier)
    if markets is not None:
        data["markets"] = markets
    return data


def _fee_number(multiplier: str | None) -> float | None:
    """A fee multiplier as the spec's JSON number (double)."""
    return None if multiplier is None else float(Decimal(multiplier))  # JSON number


def event_fee_change_json(c: SimEventFeeChange) -> Json:
    return {
        "id": c.id,
        "event_ticker": c.event_ticker,
        "series_ticker": c.series_ticker,
        "fee_type_override": c.fee_type_override,
        "fee_multiplier_override": _fee_number(c.fee_multiplier_override),
        "scheduled_ts": iso_utc(c.scheduled_ts),
    }


def ws_event_fee_msg(c: SimEventFeeChange) -> Json:
    """asyncapi `event_fee_update`: both null when the override was cleared."""
    return {
        "event_ticker": c.event_ticker,
        "fee_type_override": c.fee_type_override,
        "fee_multiplier_override": _fee_number(c.fee_multiplier_override),
    }


def series_json(s: SimSeries, fees: FeeModel) -> Json:
    return {
        "ticker": s.ticker,
        "frequency": s.frequency,
        "title": s.title,
        "category": s.category,
        "categories": [s.category],
        "tags": list(s.tags),
        "settlement_sources": [],
        "contract_url": "",
        "contract_terms_url": "",
        "fee_type": fees.fee_type.value,
        "fee_multiplier": float(fees.multiplier),  # a JSON number in the spec
        "additional_prohibitions": [],
        "exchange_index": s.exchange_index,
    }


def fee_change_json(c: SimFeeChange) -> Json:
    return {
        "id": c.id,
        "series_ticker": c.series_ticker,
        "fee_type": c.fee_type,
        "fee_multiplier": float(Decimal(c.fee_multiplier)),  # a JSON number (spec)
        "scheduled_ts": iso_utc(c.scheduled_ts),
    }


def series_fee_changes_json(
    changes: Iterable[SimFeeChange], now: float, *, historical: bool
) -> list[Json]:
    """GetSeriesFeeChanges' `series_fee_change_arr`: the changes still to come at `now` (unix
    seconds); with `historical` (`show_historical`), those already in effect too."""
    return [fee_change_json(c) for c in changes if historical or c.scheduled_ts > now]


def orderbook_json(books: MatchingEngine, ticker: str, depth: int) -> Json:
    yes, no = books.book(ticker, depth)
    return {"orderbook_fp": {"yes_dollars": levels_json(yes), "no_dollars": levels_json(no)}}


def _order_progress(o: SimOrder) -> Json:
    """An order's counts and what its fills cost, as REST and the `user_orders` channel
    send them."""
    return {
        "fill_count_fp": fmt_count(o.fill_count),
        "remaining_count_fp": fmt_count(o.remaining_count),
        "initial_count_fp": fmt_count(o.initial_count),
        "taker_fill_cost_dollars": _amount(o.taker_fill_cost),
        "maker_fill_cost_dollars": _amount(o.maker_fill_cost),
        "taker_fees_dollars": _amount(o.taker_fees),
        "maker_fees_dollars": _amount(o.maker_fees),
    }


def order_json(o: SimOrder, exchange_index: int = 0) -> Json:
    return {
        "order_id": o.order_id,
        "user_id": owner(o.account_id)[0],
        "client_order_id": o.client_order_id,
        "ticker": o.ticker,
        **_sides(o.book_side),
        "type": "limit",
        "status": o.status,
        **_prices(o.price),
        **_order_progress(o),
        "expiration_time": iso_utc(o.expiration_time) if o.expiration_time else None,
        "created_time": iso_utc(o.created_time),
        "last_update_time": iso_utc(o.last_update_time),
        "self_trade_prevention_type": o.self_trade_prevention.value,
        "order_group_id": o.order_group_id,
        "cancel_order_on_pause": o.cancel_order_on_pause,
        "subaccount_number": owner(o.account_id)[1],
        "exchange_index": exchange_index,
    }


def fill_json(f: SimFill, exchange_index: int = 0) -> Json:
    return {
        "fill_id": f.fill_id,
        "exchange_index": exchange_index,
        "trade_id": f.trade_id,
        "order_id": f.order_id,
        "ticker": f.ticker,
        "market_ticker": f.ticker,
        **_sides(f.book_side),
        "count_fp": fmt_count(f.count),
        **_prices(f.price),
        "is_taker": f.is_taker,
        "created_time": iso_utc(f.ts),
        "fee_cost": _amount(f.fee),
        "subaccount_number": owner(f.account_id)[1],
        "ts": int(f.ts),
    }


def trade_json(t: SimTrade) -> Json:
    return {
        "trade_id": t.trade_id,
        "ticker": t.ticker,
        "count_fp": fmt_count(t.count),
        **_prices(t.price),
        **_taker_sides(t.taker_book_side),
        "created_time": iso_utc(t.ts),
        "is_block_trade": False,
    }


def position_json(p: SimPosition, exchange_index: int = 0) -> Json:
    return {
        "ticker": p.ticker,
        "exchange_index": exchange_index,
        "total_traded_dollars": _amount(p.total_traded),
        "position_fp": fmt_count(p.position),
        "market_exposure_dollars": _amount(p.cost_basis),
        "realized_pnl_dollars": _amount(p.realized_pnl),
        "fees_paid_dollars": _amount(p.fees_paid),
        "last_updated_ts": iso_utc(p.last_updated),
    }


def event_positions_json(
    exchange: Exchange, positions: list[SimPosition], ledgers: Sequence[str] = ()
) -> list[Json]:
    """Per event: `total_cost_dollars` and `total_cost_shares_fp` what was spent and traded
    there ("Total spent on this event", as `total_traded_dollars` is on a market; "shares
    traded ... including both YES and NO"), `event_exposure_dollars` ("cost of the aggregate
    event position") the cost of what is held less the collateral returned on it to the
    `ledgers` that net (accounts.py)."""
    by_event: dict[str, list[SimPosition]] = defaultdict(list)
    for p in positions:
        by_event[exchange.reference.event_of(p.ticker) or p.ticker].append(p)
    return [
        {
            "event_ticker": event_ticker,
            "total_cost_dollars": _amount(sum((p.total_traded for p in ps), ZERO)),
            "total_cost_shares_fp": fmt_count(sum((p.volume for p in ps), ZERO)),
            "event_exposure_dollars": _amount(
                sum((p.cost_basis for p in ps), ZERO)
                - sum(
                    (
                        exchange.accounts.collateral.returned_dollars(ledger, event_ticker)
                        for ledger in ledgers
                    ),
                    ZERO,
                )
            ),
            "realized_pnl_dollars": _amount(sum((p.realized_pnl for p in ps), ZERO)),
            "fees_paid_dollars": _amount(sum((p.fees_paid for p in ps), ZERO)),
        }
        for event_ticker, ps in by_event.items()
    ]


def settlement_json(s: SimSettlement, exchange_index: int = 0) -> Json:
    data: Json = {
        "ticker": s.ticker,
        "exchange_index": exchange_index,
        "event_ticker": s.event_ticker,
        "market_result": s.market_result,
        "yes_count_fp": fmt_count(s.yes_count),
        "yes_total_cost_dollars": _amount(s.yes_total_cost),
        "no_count_fp": fmt_count(s.no_count),
        "no_total_cost_dollars": _amount(s.no_total_cost),
        "revenue": s.revenue_cents,
        "settled_time": iso_utc(s.settled_time),
        "fee_cost": _amount(s.fee_cost),
    }
    if s.yes_value is not None and s.yes_value * 100 == int(s.yes_value * 100):
        data["value"] = int(s.yes_value * 100)  # cents per YES contract; none for a sub-cent
    return data


def fill_averages(fills: list[SimFill]) -> Json:
    """`average_fill_price` (YES terms) and `average_fee_paid` per contract, when filled."""
    averages = records.fill_averages(fills)
    if averages is None:
        return {}
    price, fee = averages
    return {"average_fill_price": fmt_dollars(price), "average_fee_paid": fmt_dollars(fee)}


# WebSocket payloads (asyncapi.yaml) --------------------------------------------------------


def ws_ticker_msg(
    books: MatchingEngine, m: SimMarket, last_trade_size: Decimal, now: float
) -> Json:
    quote = quote_json(books, m.ticker)
    return {
        "market_ticker": m.ticker,
        "market_id": market_id(m.ticker),
        "price_dollars": fmt_dollars(m.last_price),
        "yes_bid_dollars": quote["yes_bid_dollars"],
        "yes_ask_dollars": quote["yes_ask_dollars"],
        "yes_bid_size_fp": quote["yes_bid_size_fp"],
        "yes_ask_size_fp": quote["yes_ask_size_fp"],
        "last_trade_size_fp": fmt_count(last_trade_size),
        "volume_fp": fmt_count(m.volume),
        "open_interest_fp": fmt_count(m.open_interest),
        "dollar_volume": int(m.volume * m.last_price),
        "dollar_open_interest": int(m.open_interest * m.last_price),
        "ts": int(now),
        "ts_ms": ts_ms(now),
        "time": iso_utc(now),
    }


def ws_frame(kind: str, sid: int, seq: int | None, msg: Json) -> Json:
    """A WebSocket channel message as the simulator sends it (and a scenario's recording writes
    it): its type, its subscription, its number on a channel that numbers them (None: one that
    does not), then the message."""
    frame: Json = {"type": kind, "sid": sid}
    if seq is not None:
        frame["seq"] = seq
    frame["msg"] = msg
    return frame


def ws_snapshot_msg(books: MatchingEngine, ticker: str, *, yes_priced: bool) -> Json:
    """The `msg` of an `orderbook_snapshot`: every level of both sides, the NO bids in YES-leg
    prices when `yes_priced` (`use_yes_price`: a NO bid at q is 1 - q), an empty side left
    out."""
    yes, no = books.book(ticker, 0)
    msg: Json = {"market_ticker": ticker, "market_id": market_id(ticker)}
    if yes:
        msg["yes_dollars_fp"] = levels_json(yes)
    if no:
        msg["no_dollars_fp"] = levels_json(
            [(ONE - price, size) for price, size in no] if yes_priced else no
        )
    return msg


def ws_delta_msg(event: records.BookChanged, now: float, *, yes_priced: bool) -> Json:
    """The `msg` of an `orderbook_delta` (`now`: the time of a change that has none), the NO
    side's price in YES-leg prices when `yes_priced`. Whose order moved the level is the
    subscriber's to add, and only its own (the server's part)."""
    at_ms = ts_ms(event.ts or now)
    no_side = event.side.value == "no"
    return {
        "market_ticker": event.ticker,
        "market_id": market_id(event.ticker),
        "price_dollars": fmt_dollars(ONE - event.price if yes_priced and no_side else event.price),
        "delta_fp": fmt_count(event.delta),
        "side": event.side.value,
        # the wire sends the deprecated RFC 3339 `ts` too (REFERENCE.md "Observed on the real
        # wire"), the same millisecond
        "ts": iso_utc(at_ms / 1000),
        "ts_ms": at_ms,
    }


def ws_trade_msg(t: SimTrade) -> Json:
    return {
        "trade_id": t.trade_id,
        "market_ticker": t.ticker,
        **_prices(t.price),
        "count_fp": fmt_count(t.count),
        **_taker_sides(t.taker_book_side),
        "is_block_trade": False,
        "ts": int(t.ts),
        "ts_ms": ts_ms(t.ts),
    }


def ws_fill_msg(f: SimFill, exchange_index: int = 0) -> Json:
    side = outcome_side(f.book_side)
    return {
        "trade_id": f.trade_id,
        "order_id": f.order_id,
        "client_order_id": f.client_order_id,
        "market_ticker": f.ticker,
        "exchange_index": exchange_index,
        "is_taker": f.is_taker,
        "side": side,
        "action": "buy",
        "outcome_side": side,
        "book_side": f.book_side.value,
        "purchased_side": side,
        "yes_price_dollars": fmt_dollars(f.price),
        "count_fp": fmt_count(f.count),
        "fee_cost": _amount(f.fee),
        "post_position_fp": fmt_count(f.post_position),
        "ts": int(f.ts),
        "ts_ms": ts_ms(f.ts),
        "subaccount": owner(f.account_id)[1],
    }


def ws_user_order_msg(o: SimOrder, exchange_index: int = 0) -> Json:
    side = outcome_side(o.book_side)
    data: Json = {
        "order_id": o.order_id,
        "user_id": owner(o.account_id)[0],
        "ticker": o.ticker,
        "exchange_index": exchange_index,
        "status": o.status,
        "side": side,
        "is_yes": side == "yes",
        "outcome_side": side,
        "book_side": o.book_side.value,
        "yes_price_dollars": fmt_dollars(o.price),
        **_order_progress(o),
        "client_order_id": o.client_order_id,
        "self_trade_prevention_type": o.self_trade_prevention.value,
        "created_time": iso_utc(o.created_time),
        "created_ts_ms": ts_ms(o.created_time),
        "last_update_time": iso_utc(o.last_update_time),
        "last_updated_ts_ms": ts_ms(o.last_update_time),
        "subaccount_number": owner(o.account_id)[1],
    }
    if o.expiration_time:
        data["expiration_time"] = iso_utc(o.expiration_time)
        data["expiration_ts_ms"] = o.expiration_time * 1000
    if o.order_group_id is not None:
        data["order_group_id"] = o.order_group_id
    return data


def ws_lifecycle_msg(m: SimMarket, event_type: str, ts: float) -> Json:
    """A `market_lifecycle_v2` message with the keys asyncapi.yaml gives that event type
    (each optional key "will ONLY exist" on the events its description names)."""
    msg: Json = {"event_type": event_type, "market_ticker": m.ticker}
    if event_type == "created":
        msg.update(
            exchange_index=m.exchange_index,
            open_ts=int(m.open_time),
            close_ts=int(m.close_time),
            price_level_structure=m.price_level_structure,
            price_ranges=[r.to_api() for r in m.price_ranges],
        )
    elif event_type in ("activated", "deactivated"):
        msg["is_deactivated"] = event_type == "deactivated"
    elif event_type == "close_date_updated":
        msg["close_ts"] = int(m.close_time)
    elif event_type == "determined" and m.result in ("yes", "no"):
        msg.update(
            result=m.result,
            determination_ts=int(ts),
            settlement_value=fmt_dollars(m.yes_settlement_value),
        )
    elif event_type == "settled":
        msg["settled_ts"] = int(m.settled_time if m.settled_time is not None else ts)
    return msg


# the event types asyncapi's `multivariateMarketLifecyclePayload` lists
MVE_LIFECYCLE_EVENTS = frozenset(
    {"created", "activated", "deactivated", "close_date_updated", "determined", "settled"}
)


def ws_mve_lifecycle_msg(m: SimMarket, event_type: str, ts: float) -> Json:
    """A `multivariate_market_lifecycle` message: the `market_lifecycle_v2` keys that payload
    schema has (no `price_ranges`)."""
    msg = ws_lifecycle_msg(m, event_type, ts)
    msg.pop("price_ranges", None)
    return msg


def ws_event_lifecycle_msg(ev: SimEvent) -> Json:
    """An `event_lifecycle` message (asyncapi `eventLifecyclePayload`): an event was created."""
    return {
        "event_ticker": ev.event_ticker,
        "exchange_index": ev.exchange_index,
        "title": ev.title,
        "subtitle": ev.sub_title,
        "collateral_return_type": ev.collateral_return_type,
        "series_ticker": ev.series_ticker,
    }


def ws_position_msg(account_id: str, ticker: str, p: SimPosition | None) -> Json:
    user, subaccount = owner(account_id)
    return {
        "user_id": user,
        "subaccount": subaccount,
        "market_ticker": ticker,
        "position_fp": fmt_count(p.position if p else ZERO),
        "position_cost_dollars": _amount(p.cost_basis if p else ZERO),
        "realized_pnl_dollars": _amount(p.realized_pnl if p else ZERO),
        "fees_paid_dollars": _amount(p.fees_paid if p else ZERO),
        "position_fee_cost_dollars": _amount(p.fees_paid if p else ZERO),
        "volume_fp": fmt_count(p.volume if p else ZERO),
    }


# order groups (sim/core/order_groups.py) ----------------------------------------------------------


def order_group_json(g: SimOrderGroup) -> Json:
    """An `OrderGroup` of `GET /portfolio/order_groups`."""
    return {
        "id": g.order_group_id,
        "contracts_limit_fp": fmt_count(g.contracts_limit),
        "is_auto_cancel_enabled": True,
        "exchange_index": g.exchange_index,
    }


def ws_order_group_msg(event: OrderGroupChanged) -> Json:
    msg: Json = {"event_type": event.event_type, "order_group_id": event.order_group_id}
    if event.contracts_limit is not None:
        msg["contracts_limit_fp"] = fmt_count(event.contracts_limit)
    msg["ts_ms"] = ts_ms(event.ts)
    return msg


def ws_index_msg(channel: str, tick: indices.SimIndexTick) -> Json:
    """The `msg` of an index value, in asyncapi's shape for the channel: the raw upstream frame
    in `data` (CF Benchmarks' `{"type":"value","id",...,"time","value"}`), the values to 8
    places where the spec says so."""
    value_8 = str(tick.value.quantize(indices.AVERAGE_PLACES))
    if channel == "pyth_value":
        return {
            "underlying_ticker": tick.index_id,
            "value_usd": value_8,
            "source_ts_ms": tick.ts_ms,
            "received_at": tick.received_ms,
        }
    frame = json.dumps(
        {"type": "value", "id": tick.index_id, "time": tick.ts_ms, "value": str(tick.value)},
        separators=(",", ":"),
    )
    if channel == "cfbenchmarks_value_5hz":
        return {
            "index_id": tick.index_id,
            "value_usd": value_8,
            "source_ts_ms": tick.ts_ms,
            "received_at": tick.received_ms,
            "data": frame,
        }
    assert tick.avg_60s is not None  # every 1 Hz CF Benchmarks tick has it
    msg: Json = {
        "index_id": tick.index_id,
        "received_at": tick.received_ms,
        "data": frame,
        "avg_60s_data": tick.avg_60s.to_json(),
    }
    if tick.quarter is not None:
        msg["last_60s_windowed_average_15min"] = tick.quarter.to_json()
    return msg

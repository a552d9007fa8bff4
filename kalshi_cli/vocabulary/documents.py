"""The `--json` documents of a market, an order book, a balance, a fill, a trade, an order and a
shard's status,
as docs/output.md lists them: money and prices are dollar strings, counts strings with 2
decimals, times as the exchange sent them, a field the exchange did not send absent or null,
never a default. One place for them, so a command's `--json` and the assistant's tool of the
same name (`kalshi mcp`) cannot give two shapes of one thing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kalshi_cli.vocabulary.models import (
    Balance,
    Fill,
    Level,
    Market,
    Order,
    Orderbook,
    ShardStatus,
    Trade,
    min_tick,
)
from kalshi_cli.vocabulary.units import (
    ONE,
    Action,
    BookSide,
    Side,
    fmt_count,
    fmt_dollars,
    from_book,
    outcome_side_of,
)


def market_summary_json(m: Market) -> dict[str, Any]:

    return {
        "ticker": m.ticker,
        "event_ticker": m.event_ticker,
        "title": m.title,
        "status": m.status,
        "yes_bid": fmt_dollars(m.yes_bid),
        "yes_ask": fmt_dollars(m.yes_ask),
        "no_bid": fmt_dollars(m.no_bid),
        "no_ask": fmt_dollars(m.no_ask),
        "last_price": fmt_dollars(m.last_price),
        "volume": fmt_count(m.volume),
        "volume_24h": fmt_count(m.volume_24h),
        "open_interest": fmt_count(m.open_interest),
        "open_time": m.open_time or None,
        "close_time": m.close_time or None,
        "latest_expiration_time": m.latest_expiration_time or None,
        # what the market pays on, as the wire has it (the strikes are JSON numbers there)
        "strike_type": m.raw.get("strike_type") or None,
        "floor_strike": m.raw.get("floor_strike"),
        "cap_strike": m.raw.get("cap_strike"),
        # the exchange shard (matching engine) it lives on: the shard whose money buys it
        "exchange_index": m.exchange_index,
    }


def market_json(m: Market) -> dict[str, Any]:

    document = market_summary_json(m)
    document.update(
        {
            "subtitle": m.yes_sub_title or None,
            "result": m.result or None,
            # the value the result was read from (a settled crypto market's index value), as
            # the wire has it; empty until the market settles
            "expiration_value": m.raw.get("expiration_value") or None,
            "price_level_structure": m.price_level_structure,
            "price_ranges": [r.to_api() for r in m.price_ranges],
            "min_tick": fmt_dollars(min_tick(m.price_ranges)),
            "rules_primary": m.rules_primary or None,
            "rules_secondary": m.rules_secondary or None,
        }
    )
    return document


def _level(level: Level | None) -> dict[str, str] | None:

    return None if level is None else {"price": fmt_dollars(level[0]), "size": fmt_count(level[1])}


def orderbook_json(book: Orderbook) -> dict[str, Any]:

    return {
        "ticker": book.ticker,
        "yes_bids": [_level(lv) for lv in book.yes_bids],
        "no_bids": [_level(lv) for lv in book.no_bids],
        "best_yes_bid": _level(book.best_yes_bid),
        "best_yes_ask": _level(book.yes_ask),
        "best_no_bid": _level(book.best_no_bid),
        "best_no_ask": _level(book.no_ask),
        "spread": None if book.spread is None else fmt_dollars(book.spread),
        "mid": None if book.mid is None else fmt_dollars(book.mid),
    }


def money_text(value: Decimal) -> str:
    """2 decimals, or every digit when there are sub-cent ones (fees are charged to $0.0001):
    a balance or a fee total is never rounded in a report."""
    cents = value.quantize(Decimal("0.01"))
    return f"{cents:f}" if cents == value else f"{value.normalize():f}"


def balance_json(balance: Balance) -> dict[str, Any]:
    """The balance, its total over every shard and each shard's part (`shards`, by
    `exchange_index`; null when the exchange gave no breakdown, never all on shard 0)."""
    value = balance.portfolio_value
    shards = (
        None
        if balance.breakdown is None
        else [
            {"exchange_index": b.exchange_index, "balance_dollars": money_text(b.balance)}
            for b in balance.breakdown
        ]
    )
    return {
        "balance": money_text(balance.balance),
        "portfolio_value": None if value is None else money_text(value),
        "updated_ts": balance.updated_ts or None,
        "shards": shards,
    }


def shard_status_json(exchange_index: int, status: ShardStatus | None) -> dict[str, Any]:
    """A shard's status (`kalshi exchange status`, `kalshi shard list`); each field null when
    the exchange did not list the shard."""
    return {
        "exchange_index": exchange_index,
        "description": None if status is None else status.description,
        "exchange_active": None if status is None else status.exchange_active,
        "trading_active": None if status is None else status.trading_active,
        "intra_exchange_transfers_active": (
            None if status is None else status.intra_exchange_transfers_active
        ),
    }


def fill_json(f: Fill, intent: Any = None) -> dict[str, Any]:
    """A fill in both vocabularies; its trader's terms by `traders_terms` from `intent`, the
    state file's record of its order (`fill_intent`; None: placed elsewhere)."""
    side, action, price = traders_terms(f.book_side, f.yes_price, intent)
    return {
        "fill_id": f.fill_id,
        "order_id": f.order_id,
        "ticker": f.ticker,
        "action": action.value,
        "side": side.value,
        "price": fmt_dollars(price),
        "amount": fmt_dollars(f.count * price),
        "book_side": f.book_side.value,
        "yes_price": fmt_dollars(f.yes_price),
        "count": fmt_count(f.count),
        "fee": fmt_dollars(f.fee),
        "is_taker": f.is_taker,
        "created_time": f.created_time or None,
        "ts": f.ts,
        "strategy": intent.strategy if intent is not None else None,
    }


def trade_json(t: Trade) -> dict[str, Any]:
    return {
        "trade_id": t.trade_id,
        "ticker": t.ticker,
        "created_time": t.created_time,
        "yes_price": fmt_dollars(t.yes_price),
        "no_price": fmt_dollars(ONE - t.yes_price),
        "count": fmt_count(t.count),
        "taker_side": taker_side(t),
    }


def taker_side(t: Trade) -> str:
    """The side the taker bought: `yes` (a bid took an ask) or `no`."""
    side = t.raw.get("taker_outcome_side")
    if side in ("yes", "no"):
        return str(side)
    return "yes" if t.taker_book_side == "bid" else "no" if t.taker_book_side == "ask" else ""


def order_json(order: Order, intent: Any) -> dict[str, Any]:
    """An exchange order in both vocabularies; its trader's terms by `traders_terms` from
    `intent`, the state file's record of it (an `IntentRecord`; None: placed elsewhere)."""
    side, action, price = traders_terms(order.book_side, order.yes_price, intent)
    return {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id or None,
        "ticker": order.ticker,
        "side": side.value,
        "action": action.value,
        "price": fmt_dollars(price),
        "book_side": order.book_side.value,
        "yes_price": fmt_dollars(order.yes_price),
        "count": fmt_count(order.fill_count + order.remaining_count),
        "fill_count": fmt_count(order.fill_count),
        "remaining_count": fmt_count(order.remaining_count),
        "status": order.status,
        "fees": fmt_dollars(order.fees),
        "created_time": order.created_time or None,
        # as the exchange holds it now (an amend may have moved it); null: good till cancelled
        "expiration_time": order.expiration_time or None,
        "strategy": intent.strategy if intent is not None else None,
        "local_status": intent.status if intent is not None else None,
    }


def fill_intent(f: Fill, store: Any) -> Any:
    """The state file's record of the fill's order (an `IntentRecord`), None when the order was
    placed elsewhere or there is no state file."""
    return store.orders.intent_by_order_id(f.order_id) if store is not None and f.order_id else None


def traders_terms(
    book_side: BookSide, yes_price: Decimal, intent: Any
) -> tuple[Side, Action, Decimal]:
    """An order's or a fill's (book side, YES price) in the trader's words, the one rule of
    `kalshi order list`, `kalshi fills`, the assistant, the dashboard and the row `reconcile`
    records for an order placed elsewhere: the side its order's `intent` (the state file's
    `IntentRecord`) named when it was placed here; else, for an order placed elsewhere, the
    side it positions the account for (the spec's `outcome_side`: `bid` YES, `ask` NO; the
    exchange's `side`/`action` are deprecated), bought. With the action and the price of that
    side."""
    side = intent.side if intent is not None else outcome_side_of(book_side)
    action, price = from_book(book_side, yes_price, side)
    return side, action, price

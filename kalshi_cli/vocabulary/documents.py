"""The `--json` documents of a market and an order book, as docs/output.md lists them: prices
are dollar strings with 4 decimals, counts strings with 2, times as the exchange sent them. One
place for them, so `kalshi market --json` and the assistant's `market` tool (`kalshi mcp`) cannot
give two shapes of one market."""

from __future__ import annotations

from typing import Any

from kalshi_cli.vocabulary.models import Level, Market, Orderbook, min_tick
from kalshi_cli.vocabulary.units import fmt_count, fmt_dollars


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

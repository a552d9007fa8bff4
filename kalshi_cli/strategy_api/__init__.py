"""The strategy API: the one import a strategy needs (`from kalshi_cli.strategy_api import ...`).

A strategy is a pure function `decide(snapshot, position, params)`: no I/O, no clock (time is
`snapshot.ts`), `Decimal` for every price and count. It is handed one market at one moment
(`MarketSnapshot`), the market's `PositionView` (the account's position and `own`, this run's part)
and its `Params`, and returns `Intent`s (each with its fair value and a reason) and `Cancel`s, which
the risk engine checks before anything is sent. A module exposes a `Strategy(name, params_type,
decide)`; docs/strategies.md, "Write your own".

`STRATEGY_API_VERSION` changes only when a strategy of the previous version would break.
"""

from __future__ import annotations

from kalshi_cli.strategy_api.index import IndexView, MarketTerms
from kalshi_cli.strategy_api.params import (
    ParamField,
    Params,
    Search,
    Updatable,
    param_fields,
    params_dict,
    params_text,
    reload_params,
    search_ranges,
    updatable_fields,
    validate_params,
)
from kalshi_cli.strategy_api.snapshot import (
    LINEAR_CENT,
    EventLimit,
    EventMarket,
    EventView,
    MarketSnapshot,
    buy_at_ask,
    close_at_bid,
    snap_to_grid,
)
from kalshi_cli.strategy_api.strategy import Strategy
from kalshi_cli.strategy_api.window import MidWindow
from kalshi_cli.vocabulary.decisions import (
    FLAT,
    Cancel,
    Decision,
    Holding,
    Intent,
    Note,
    PositionView,
    RestingOrder,
    best_ask,
    best_bid,
    require,
)
from kalshi_cli.vocabulary.decode import Range
from kalshi_cli.vocabulary.models import Level, Orderbook, PriceRange, min_tick, trading_fee
from kalshi_cli.vocabulary.units import ONE, ZERO, Action, Side, TimeInForce, side_value

# 2: `MarketSnapshot` is a frozen msgspec Struct (a copy with a field changed is
# `msgspec.structs.replace`, not `dataclasses.replace`)
# 3: `MarketSnapshot.complement` (a two-market event's other market) is `event`, every other
# market of a mutually exclusive event, for a strategy built with `uses_events`
STRATEGY_API_VERSION = 3

__all__ = [
    "FLAT",
    "LINEAR_CENT",
    "ONE",
    "STRATEGY_API_VERSION",
    "ZERO",
    "Action",
    "Cancel",
    "Decision",
    "EventLimit",
    "EventMarket",
    "EventView",
    "Holding",
    "IndexView",
    "Intent",
    "Level",
    "MarketSnapshot",
    "MarketTerms",
    "MidWindow",
    "Note",
    "Orderbook",
    "ParamField",
    "Params",
    "PositionView",
    "PriceRange",
    "Range",
    "RestingOrder",
    "Search",
    "Side",
    "Strategy",
    "TimeInForce",
    "Updatable",
    "best_ask",
    "best_bid",
    "buy_at_ask",
    "close_at_bid",
    "min_tick",
    "param_fields",
    "params_dict",
    "params_text",
    "reload_params",
    "require",
    "search_ranges",
    "side_value",
    "snap_to_grid",
    "trading_fee",
    "updatable_fields",
    "validate_params",
]

"""Market maker: post-only quotes on both sides of a fair value (the YES mid moved against
inventory), `spread` apart, while inventory has room and the edge after the maker fee clears
`min_edge`. A quote within `requote_tolerance`, or at its queue's front one tick off, is kept.
docs/strategies.md "market-maker".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Annotated

from kalshi_cli.strategy_api import (
    ONE,
    Action,
    Cancel,
    Decision,
    Intent,
    MarketSnapshot,
    Params,
    PositionView,
    RestingOrder,
    Side,
    Strategy,
    TimeInForce,
    Updatable,
    min_tick,
    require,
    side_value,
    snap_to_grid,
)

NAME = "market-maker"


class MarketMakerParams(Params, frozen=True):
    spread: Annotated[Decimal, Updatable] = Decimal("0.04")
    quote_count: Annotated[Decimal, Updatable] = Decimal("10")
    max_inventory: Decimal = Decimal("50")
    skew: Annotated[Decimal, Updatable] = Decimal("0.02")
    min_edge: Annotated[Decimal, Updatable] = Decimal("0.005")
    requote_tolerance: Annotated[Decimal, Updatable] = Decimal("0.02")

    def __post_init__(self) -> None:
        require(self.spread > 0, "spread must be positive")
        require(self.quote_count > 0, "quote_count must be positive")
        require(self.max_inventory > 0, "max_inventory must be positive")
        require(self.skew >= 0, "skew must not be negative")
        require(self.requote_tolerance >= 0, "requote_tolerance must not be negative")


def decide(
    snap: MarketSnapshot, pos: PositionView, params: MarketMakerParams
) -> Sequence[Decision]:
    wanted = _quotes(snap, pos, params)
    out: list[Decision] = []
    for side in (Side.YES, Side.NO):
        resting = [o for o in pos.resting if o.side is side and o.action is Action.BUY]
        quote = wanted.get(side)
        if quote is None:
            out += [Cancel(snap.ticker, o.order_id, f"{NAME}: no {side} quote") for o in resting]
        elif not (len(resting) == 1 and _still_good(resting[0], quote, snap, params)):
            out.append(replace(quote, replaces=tuple(o.order_id for o in resting)))
    return out


def _quotes(
    snap: MarketSnapshot, pos: PositionView, params: MarketMakerParams
) -> dict[Side, Intent]:
    book = snap.book
    mid = book.mid
    if mid is None or book.yes_ask is None or book.no_ask is None:
        return {}
    tick = min_tick(snap.price_ranges)
    inventory = max(-ONE, min(ONE, pos.position / params.max_inventory))
    centre = mid - params.skew * inventory
    half = params.spread / 2
    # the highest bid that still does not cross the opposite best ask
    caps = {Side.YES: book.yes_ask[0] - tick, Side.NO: book.no_ask[0] - tick}
    targets = {Side.YES: centre - half, Side.NO: ONE - (centre + half)}
    quotes: dict[Side, Intent] = {}
    for side in (Side.YES, Side.NO):
        room = params.max_inventory - (pos.position if side is Side.YES else -pos.position)
        price = snap_to_grid(min(targets[side], caps[side]), snap.price_ranges, up=False)
        if room <= 0 or price is None:
            continue
        intent = Intent(
            ticker=snap.ticker,
            side=side,
            action=Action.BUY,
            price=price,
            count=min(params.quote_count, room),
            model_fair=side_value(side, centre),
            reason=f"{NAME}: {side} bid {price} around mid {mid} (inventory {pos.position})",
            strategy=NAME,
            post_only=True,
            time_in_force=TimeInForce.GTC,
            fee_rate=snap.maker_fee_rate,
        )
        if intent.edge_after_fees >= params.min_edge:
            quotes[side] = intent
    return quotes


def _still_good(
    order: RestingOrder, quote: Intent, snap: MarketSnapshot, params: MarketMakerParams
) -> bool:
    """Close enough to the wanted quote (within `requote_tolerance`), or at the front of its
    queue with the wanted price one tick cheaper; in both cases still with its edge and no
    larger than wanted: leave it, keeping its place in the queue."""
    if order.remaining > quote.count:
        return False
    kept = replace(quote, price=order.price, count=order.remaining)
    if kept.edge_after_fees < params.min_edge:
        return False
    if abs(order.price - quote.price) <= params.requote_tolerance:
        return True
    one_tick_below = snap_to_grid(
        order.price - min_tick(snap.price_ranges), snap.price_ranges, up=False
    )
    return order.queue_position == 0 and quote.price == one_tick_below


def _always(_: PositionView) -> bool:
    return True


STRATEGY = Strategy(
    NAME,
    MarketMakerParams,
    decide,
    uses_queue_positions=True,
    reads_mids=False,
    reads_top=True,  # of the book, the mid and the asks
    clock_free=_always,
)

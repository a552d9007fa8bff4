"""Spike: fade a sharp move, expecting part of it to come back.

When the YES mid has moved by more than `spike_share` over `window_s`, the strategy takes the other
side at the ask (IOC): a jump up buys NO, a drop buys YES, at a fair value assuming `reversion` of
the move comes back. In a position it only manages the exit: take-profit at the average entry plus
`take_profit`, or a time stop after `max_hold_s` (at least `window_s`, so the same spike does not
trigger again), both a reducing IOC sell at the bid.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated

from kalshi_cli.strategies.fade import fade
from kalshi_cli.strategy_api import (
    Decision,
    MarketSnapshot,
    Params,
    PositionView,
    Search,
    Side,
    Strategy,
    Updatable,
    best_bid,
    close_at_bid,
    require,
    side_value,
)

NAME = "spike"


class SpikeParams(Params, frozen=True):
    # the Search ranges are what `kalshi backtest --search` tries (window_s stays below the
    # default max_hold_s, which must be at least it)
    window_s: Annotated[float, Search(15, 120, 15)] = 60.0
    spike_share: Annotated[Decimal, Search("0.04", "0.20", "0.02")] = Decimal("0.10")
    reversion: Annotated[Decimal, Search("0.2", "1.0", "0.2")] = Decimal("0.5")
    take_profit: Annotated[Decimal, Updatable, Search("0.01", "0.10", "0.01")] = Decimal("0.03")
    max_hold_s: float = 300.0
    order_count: Annotated[Decimal, Updatable] = Decimal("10")
    min_edge: Annotated[Decimal, Updatable] = Decimal("0.01")

    def __post_init__(self) -> None:
        require(self.window_s > 0, "window_s must be positive")
        require(self.spike_share > 0, "spike_share must be positive")
        require(0 < self.reversion <= 1, "reversion must be in (0, 1]")
        require(self.take_profit > 0, "take_profit must be positive")
        require(self.max_hold_s >= self.window_s, "max_hold_s must be at least window_s")
        require(self.order_count > 0, "order_count must be positive")


def decide(snap: MarketSnapshot, pos: PositionView, params: SpikeParams) -> Sequence[Decision]:
    if pos.held_side is not None:
        return _exit(snap, pos, pos.held_side, params)
    if pos.resting:
        return []
    mid = snap.book.mid
    start = snap.window(snap.ts - params.window_s).first()
    if mid is None or start is None or start <= 0:
        return []
    move = (mid - start) / start
    if abs(move) <= params.spike_share:
        return []
    return fade(
        snap,
        mid - params.reversion * (mid - start),
        yes_rich=move > 0,
        count=params.order_count,
        reason=f"spike: mid {start} -> {mid} ({move:+.1%}) in {params.window_s:g}s, fading",
        strategy=NAME,
        min_edge=params.min_edge,
    )


def _exit(
    snap: MarketSnapshot, pos: PositionView, held: Side, params: SpikeParams
) -> Sequence[Decision]:
    bid = best_bid(snap.book, held)
    if bid is None:
        return []
    if bid[0] >= pos.avg_entry_price + params.take_profit:
        why = f"take-profit: bid {bid[0]} >= entry {pos.avg_entry_price} + {params.take_profit}"
    elif pos.opened_at is not None and snap.ts - pos.opened_at >= params.max_hold_s:
        why = f"time stop: held {snap.ts - pos.opened_at:g}s >= {params.max_hold_s:g}s"
    else:
        return []
    mid = snap.book.mid
    fair = bid[0] if mid is None else side_value(held, mid)
    exit_ = close_at_bid(snap, pos, fair=fair, reason=why, strategy=NAME)
    return [] if exit_ is None else [exit_]


def _when_flat(position: PositionView) -> bool:
    # the time stop reads the clock while a position is held
    return position.held_side is None


# of the book, `decide` reads the mid and the best bid and ask (`best_bid`, `fade`)
STRATEGY = Strategy(NAME, SpikeParams, decide, reads_top=True, clock_free=_when_flat)

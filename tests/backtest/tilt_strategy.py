"""tilt: the scaffold's pattern of reasons, `NAME: what`, with a take-profit and a time stop."""

from decimal import Decimal
from typing import Annotated

from kalshi_cli.strategy_api import (
    Decision,
    MarketSnapshot,
    Params,
    PositionView,
    Range,
    Side,
    Strategy,
    best_bid,
    buy_at_ask,
    close_at_bid,
)

NAME = "tilt"


class TiltParams(Params, frozen=True):
    fair: Annotated[Decimal, Range(gt=0, lt=1)] = Decimal("0.60")
    take_profit: Annotated[Decimal, Range(gt=0, lt=1)] = Decimal("0.04")
    max_hold_s: Annotated[Decimal, Range(gt=0)] = Decimal("20")


def decide(snapshot: MarketSnapshot, position: PositionView, params: TiltParams) -> list[Decision]:
    own = position.own
    if own.held_side is not None:
        bid = best_bid(snapshot.book, own.held_side)
        if bid is None:
            return []
        held = snapshot.ts - (own.opened_at or snapshot.ts)
        if bid.price >= own.avg_entry_price + params.take_profit:
            why = f"{NAME}: take-profit"
        elif held >= params.max_hold_s:
            why = f"{NAME}: time stop: held {held:.0f}s"
        else:
            return []
        exit_ = close_at_bid(snapshot, own, fair=bid.price, reason=why, strategy=NAME)
        return [] if exit_ is None else [exit_]
    if position.resting:
        return []
    for side, fair in ((Side.YES, params.fair), (Side.NO, 1 - params.fair)):
        intent = buy_at_ask(
            snapshot,
            side,
            count=Decimal(5),
            fair=fair,
            reason=f"{NAME}: {side.value} below fair",
            strategy=NAME,
            min_edge=Decimal("0.02"),
        )
        if intent is not None:
            return [intent]
    return []


STRATEGY = Strategy(NAME, TiltParams, decide, clock_free=None)

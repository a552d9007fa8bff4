"""Fair value: buy whichever side is offered below the fair value you believe in, by at least
`edge`, and take the profit when the bid for it rises `take_profit` above what was paid.

A trader's own strategy, as docs/strategies.md "Write your own" builds it: one import, a
params Struct, a pure `decide`. It manages only the position its own orders built
(`position.own`): contracts bought by hand or by an earlier run are never sold by it.
"""

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
    Updatable,
    best_bid,
    buy_at_ask,
    close_at_bid,
    side_value,
)

NAME = "fair-value"


class FairValueParams(Params, frozen=True):
    fair: Annotated[Decimal, Range(gt=0, lt=1), Updatable] = Decimal("0.50")  # of YES
    edge: Annotated[Decimal, Range(ge=0, lt=1), Updatable] = Decimal("0.03")
    take_profit: Annotated[Decimal, Range(gt=0, lt=1)] = Decimal("0.05")
    order_count: Annotated[Decimal, Range(gt=0)] = Decimal("5")


def decide(
    snapshot: MarketSnapshot, position: PositionView, params: FairValueParams
) -> list[Decision]:
    own = position.own
    if own.held_side is not None:  # manage what this run bought, nothing else
        bid = best_bid(snapshot.book, own.held_side)
        if bid is None or bid.price < own.avg_entry_price + params.take_profit:
            return []
        why = f"{NAME}: take-profit, bid {bid.price} >= entry {own.avg_entry_price} + tp"
        exit_ = close_at_bid(snapshot, own, fair=bid.price, reason=why, strategy=NAME)
        return [] if exit_ is None else [exit_]
    if position.resting:
        return []
    for side in (Side.YES, Side.NO):
        if position.held_side not in (None, side):
            continue  # buying this side would sell contracts the account holds
        fair = side_value(side, params.fair)  # NO's is 1 - YES's
        intent = buy_at_ask(
            snapshot,
            side,
            count=params.order_count,
            fair=fair,
            reason=f"{NAME}: {side.value} offered below {fair} - {params.edge}",
            strategy=NAME,
            min_edge=params.edge,
        )
        if intent is not None:
            return [intent]
    return []


STRATEGY = Strategy(NAME, FairValueParams, decide)

"""Arbitrage: buy YES and NO together when both asks plus fees cost less than the $1.00 payout, in
one market or across the two markets of a mutually exclusive two-outcome event (emitted only
from the lower ticker, so one opportunity is traded once). Both legs are fill-or-kill; a single
filled leg is a risk this strategy accepts and the stop-loss and position limits cover. Each
leg's fair value carries half the pair's edge. See docs/strategies.md "arbitrage".
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated

from kalshi_cli.strategy_api import (
    ONE,
    Action,
    Decision,
    Intent,
    MarketSnapshot,
    Params,
    PositionView,
    Side,
    Strategy,
    TimeInForce,
    Updatable,
    require,
    trading_fee,
)

NAME = "arbitrage"


class ArbitrageParams(Params, frozen=True):
    max_count: Annotated[Decimal, Updatable] = Decimal("50")
    min_edge: Annotated[Decimal, Updatable] = Decimal("0.01")

    def __post_init__(self) -> None:
        require(self.max_count > 0, "max_count must be positive")
        require(self.min_edge >= 0, "min_edge must not be negative")


def pair_edge(yes_ask: Decimal, no_ask: Decimal, count: Decimal, fee_rate: Decimal) -> Decimal:
    """Locked profit per YES+NO pair after both fees, at `count` pairs."""
    fees = trading_fee(count, yes_ask, fee_rate) + trading_fee(count, no_ask, fee_rate)
    return ONE - (yes_ask + no_ask) - fees / count


def decide(snap: MarketSnapshot, pos: PositionView, params: ArbitrageParams) -> Sequence[Decision]:
    yes_ask, no_ask = snap.book.yes_ask, snap.book.no_ask
    if yes_ask is not None and no_ask is not None:
        legs = _pair(
            (snap.ticker, Side.YES, yes_ask), (snap.ticker, Side.NO, no_ask), snap, params, "NO"
        )
        if legs:
            return legs
    other = snap.complement
    if other is None or snap.ticker >= other.ticker:
        return []
    other_yes_ask = other.book.yes_ask
    if yes_ask is None or other_yes_ask is None:
        return []
    return _pair(
        (snap.ticker, Side.YES, yes_ask),
        (other.ticker, Side.YES, other_yes_ask),
        snap,
        params,
        f"YES of {other.ticker}",
    )


Leg = tuple[str, Side, tuple[Decimal, Decimal]]  # (ticker, side bought, (ask, depth))


def _pair(
    first: Leg, second: Leg, snap: MarketSnapshot, params: ArbitrageParams, second_name: str
) -> list[Decision]:
    count = min(first[2][1], second[2][1], params.max_count)
    if count <= 0:
        return []
    if ONE - (first[2][0] + second[2][0]) < params.min_edge:
        return []  # fees only lower the edge: no pair at these asks at any size (the usual case)
    edge = pair_edge(first[2][0], second[2][0], count, snap.fee_rate)
    if edge < params.min_edge:
        return []
    reason = (
        f"arbitrage: YES {first[2][0]} + {second_name} {second[2][0]} + fees leaves "
        f"{edge:.4f} per pair"
    )
    legs: list[Decision] = []
    for ticker, side, (price, _depth) in (first, second):
        fee_each = trading_fee(count, price, snap.fee_rate) / count
        legs.append(
            Intent(
                ticker=ticker,
                side=side,
                action=Action.BUY,
                price=price,
                count=count,
                model_fair=price + fee_each + edge / 2,
                reason=reason,
                strategy=NAME,
                time_in_force=TimeInForce.FOK,
                fee_rate=snap.fee_rate,
            )
        )
    return legs


def _always(_: PositionView) -> bool:
    return True


STRATEGY = Strategy(
    NAME,
    ArbitrageParams,
    decide,
    uses_complements=True,
    reads_mids=False,
    clock_free=_always,
)

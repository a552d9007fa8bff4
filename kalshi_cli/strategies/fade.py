"""Fading a move: the entry the built-in strategies that expect a price to come back share
(`spike`, `mean-reversion`). With YES rich against the fair value the NO side is bought, with YES
cheap the YES side, at its ask, valued at the fair value of the side bought."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.strategy_api import Decision, MarketSnapshot, Side, buy_at_ask, side_value


def fade(
    snap: MarketSnapshot,
    fair_yes: Decimal,
    *,
    yes_rich: bool,
    count: Decimal,
    reason: str,
    strategy: str,
    min_edge: Decimal,
) -> list[Decision]:
    """The IOC buy at the ask (`buy_at_ask`) of the side a move made cheap: NO when YES is rich
    (`yes_rich`), else YES, its fair value the side's of `fair_yes`; none when no ask gives the
    edge."""
    side = Side.NO if yes_rich else Side.YES
    intent = buy_at_ask(
        snap,
        side,
        count=count,
        fair=side_value(side, fair_yes),
        reason=reason,
        strategy=strategy,
        min_edge=min_edge,
    )
    return [] if intent is None else [intent]

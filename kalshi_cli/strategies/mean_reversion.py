"""Mean reversion: trade the z-score of the mid against its rolling mean.

Over the last `window_s` seconds of mids (at least `min_samples`), above `entry_z` YES is rich and
the strategy buys NO at its ask; below -`entry_z` it buys YES, at the rolling mean as fair value. A
reducing IOC sell at the bid closes the position once z is back inside `exit_z`. One position at a
time.
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
    Side,
    Strategy,
    Updatable,
    close_at_bid,
    require,
    side_value,
)
from kalshi_cli.strategy_api.window import EXACT, MidWindow

NAME = "mean-reversion"


class MeanReversionParams(Params, frozen=True):
    window_s: float = 300.0
    min_samples: int = 20
    entry_z: Annotated[Decimal, Updatable] = Decimal("2.0")
    exit_z: Annotated[Decimal, Updatable] = Decimal("0.5")
    order_count: Annotated[Decimal, Updatable] = Decimal("10")
    min_edge: Annotated[Decimal, Updatable] = Decimal("0.01")

    def __post_init__(self) -> None:
        require(self.window_s > 0, "window_s must be positive")
        require(self.min_samples >= 2, "min_samples must be at least 2")
        require(self.entry_z > 0, "entry_z must be positive")
        require(0 <= self.exit_z < self.entry_z, "exit_z must be in [0, entry_z)")
        require(self.order_count > 0, "order_count must be positive")


def zscore(
    values: Sequence[Decimal] | MidWindow, current: Decimal
) -> tuple[Decimal, Decimal] | None:
    """(mean, z of `current`) over `values`; None when they do not vary.

    From the exact sum S and sum of squares Q (O(1) for a `MidWindow`): mean = S / n, variance = (n
    Q - S^2) / n^2 with an exact numerator, rounded once. z agrees with the two-pass formula to all
    but its last digits (tests/strategies/test_mean_reversion.py)."""
    window = values if isinstance(values, MidWindow) else MidWindow.of([(0.0, v) for v in values])
    n = len(window)
    total = window.total()
    mean = total / n
    spread = EXACT.subtract(
        EXACT.multiply(n, window.total_of_squares()), EXACT.multiply(total, total)
    )
    if spread == 0:
        return None
    variance = spread / (n * n)
    return mean, (current - mean) / variance.sqrt()


def decide(
    snap: MarketSnapshot, pos: PositionView, params: MeanReversionParams
) -> Sequence[Decision]:
    mid = snap.book.mid
    window = snap.window(snap.ts - params.window_s)
    if mid is None or len(window) < params.min_samples:
        return []
    stats = zscore(window, mid)
    if stats is None:
        return []
    mean, z = stats
    held = pos.held_side
    if held is not None:
        back = z >= -params.exit_z if held is Side.YES else z <= params.exit_z
        fair = side_value(held, mean)
        why = f"mean-reversion exit: z {z:.2f} back inside {params.exit_z}"
        exit_ = close_at_bid(snap, pos, fair=fair, reason=why, strategy=NAME) if back else None
        return [] if exit_ is None else [exit_]
    if pos.resting or abs(z) < params.entry_z:
        return []
    return fade(
        snap,
        mean,
        yes_rich=z > 0,
        count=params.order_count,
        reason=f"mean-reversion: z {z:.2f} vs mean {mean:.4f} over {len(window)} mids",
        strategy=NAME,
        min_edge=params.min_edge,
    )


def _always(_: PositionView) -> bool:
    return True


# of the book, `decide` reads the mid and the best bid and ask (`close_at_bid`, `fade`)
STRATEGY = Strategy(NAME, MeanReversionParams, decide, reads_top=True, clock_free=_always)

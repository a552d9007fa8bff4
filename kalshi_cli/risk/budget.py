"""A strategy's own budget inside the account's limits (`trade.budgets.NAME`), and what the risk
engine reads of it for one intent (`Owned`).

A budget bounds one strategy on top of the account's limits, counting only what it owns: its part of
each position, its resting orders, and today's P&L of its own fills. An order past its contracts or
dollars is refused (`STRATEGY_BUDGET`); a strategy whose loss today reaches its daily limit is
stopped alone for the day, while the account's breaker still stops everything. docs/risk.md "Budgets
per strategy".
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from kalshi_cli.vocabulary.decisions import PositionView, require

if TYPE_CHECKING:
    from kalshi_cli.risk.event_loss import EventBook


class Budget(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """`trade.budgets.NAME`: each limit optional (None: the account's limits alone)."""

    # contracts of its own in one market, its resting orders one way counted as filled
    max_contracts: Decimal | None = None
    # dollars at risk of its own in every market (entry cost and resting orders, as the
    # account's `max_total_exposure` counts them)
    max_exposure: Decimal | None = None
    # its own realized loss today (UTC), dollars: at it, the strategy stops for the day
    daily_loss_limit: Decimal | None = None
    # what one event's worst case at settlement may lose of its own, dollars (EVENT_LOSS)
    max_event_loss: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("max_contracts", "max_exposure", "daily_loss_limit", "max_event_loss"):
            value = getattr(self, name)
            require(value is None or value > 0, f"{name} must be positive")


@dataclass(frozen=True)
class Owned:
    """What one strategy owns, for the intent at hand: its own view of the intent's market
    (its part of the position, its own resting and queued orders), its dollars at risk in every
    other market, its budget, and why it is stopped (None: it trades)."""

    name: str
    budget: Budget
    position: PositionView
    exposure_elsewhere: Decimal
    stopped: str | None = None
    event: EventBook | None = None  # its own part of the intent's event, when limited

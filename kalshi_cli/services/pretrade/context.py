"""The one builder of an order's risk context (`risk.rules.RiskContext`), whoever sends the order:
`risk_context`, fed by the path's view of that order (`OrderSource`).

Two views feed it: a command's or the assistant's order (account.py: what the path hands in its
`OrderView`, the exchange read once per order or batch), and the trade loop's (loop.py: what the
executor hands in its `LoopView`, what the loop read at its start, its books and its feed). Each
view answers every question the builder asks, and decides alone what its answer needs read (a
command reads the event only when a limit on its loss is set, the balance only when the order
opens anything; the loop read both at its start). A new limit over what the context holds is one
rule and its config key; a new input the rules read is one field of `RiskContext`, one line here
and one answer in each view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from kalshi_cli.risk.rules import RiskContext

if TYPE_CHECKING:
    from decimal import Decimal

    from kalshi_cli.risk.budget import Owned
    from kalshi_cli.risk.event_loss import EventBook
    from kalshi_cli.risk.rules import ShardBalances
    from kalshi_cli.vocabulary.decisions import PositionView
    from kalshi_cli.vocabulary.models import Orderbook
    from kalshi_cli.vocabulary.trading_state import TradingState

__all__ = ["OrderSource", "risk_context"]


class OrderSource(Protocol):
    """A path's view of the one order it asks to be judged (its market, what it commits)."""

    @property
    def total_exposure(self) -> Decimal:
        """The account's exposure, this order's market with what is on its way counted."""
        ...

    @property
    def last_data_at(self) -> float | None:
        """When the market's fresh book last had data (None: no fresh book, from a gap until it
        is resynced too, or no feed: the path has none)."""
        ...

    def now(self) -> float:
        """The wall clock now, unix seconds."""
        ...

    def state(self) -> TradingState:
        """The trading state the order is sent under."""
        ...

    def position(self) -> PositionView:
        """The order's market as the path counts it."""
        ...

    def event(self) -> EventBook | None:
        """The market's event over the path's view (None: no limit on its loss is set)."""
        ...

    def owned(self, event: EventBook | None, now: float) -> Owned | None:
        """The owner's own part, for its budget (None: it has none)."""
        ...

    def fee_rates(self, now: float) -> tuple[Decimal, Decimal] | None:
        """The market's (taker, maker) fee rates now (None: the path prices no edge)."""
        ...

    def book(self) -> Orderbook | None:
        """The market's book, as the stop-loss reads it (None: the path keeps none)."""
        ...

    def shard(self, position: PositionView) -> ShardBalances | None:
        """The market's shard and each shard's balance (None: not known, or not needed), the
        order's market as `position` (what `position` answered)."""
        ...


def risk_context(source: OrderSource) -> RiskContext:
    """The risk context of `source`'s order: what every rule reads, built here alone."""
    now = source.now()
    event = source.event()
    position = source.position()
    return RiskContext(
        now=now,
        state=source.state(),
        position=position,
        total_exposure=source.total_exposure,
        last_data_at=source.last_data_at,
        owned=source.owned(event, now),
        fee_rates=source.fee_rates(now),
        book=source.book(),
        event=event,
        shard=source.shard(position),
    )

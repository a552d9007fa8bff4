"""The views of a market a turn of the trade loop decides on (runner/loop/market_pass.py): the
loop's, which the stop-loss may replace, and each strategy's own, with only its own resting
orders and their queue positions. Orders placed by hand are the person's, and another
strategy's are not a strategy's to touch; the risk engine still counts them all. The loop's
view holds what the market holds beside the whole sets of legs there while each of their legs
is held (runner/execution/whole_sets.py): a whole set pays what it cost whatever the outcome,
so the stop-loss never judges nor sells a leg of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.runner.loop.lineup import Member
from kalshi_cli.vocabulary.decisions import PositionView

if TYPE_CHECKING:
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.execution.own_orders import OwnOrders
    from kalshi_cli.runner.loop.queue_positions import QueuePositions


# a market's contracts whole sets of legs hold there, given each market's position
# (runner/execution/whole_sets.py `WholeSets.hedged`)
Hedged = Callable[[str, Callable[[str], Decimal]], Decimal]


class TurnViews:
    def __init__(
        self, portfolio: Portfolio, own: OwnOrders, queue: QueuePositions, hedged: Hedged
    ) -> None:
        self._portfolio, self._own, self._queue = portfolio, own, queue
        self._hedged = hedged

    def loop(self, ticker: str) -> PositionView:
        """The market's position beside the whole sets of legs there, with only the loop's
        resting orders (any strategy's): what the stop-loss judges and may replace. Orders
        placed by hand are the person's; the risk engine still counts them (it reads the
        whole view)."""
        view = self._portfolio.view(ticker)
        hedged = self._hedged(ticker, self._portfolio.position)
        if hedged:
            view = view.without(hedged)
        if not view.resting:
            return view
        mine = {o.order_id for o in self._portfolio.resting(ticker) if self._own.placed_by_us(o)}
        if len(mine) != len(view.resting):
            view = replace(view, resting=tuple(o for o in view.resting if o.order_id in mine))
        return view

    def member(self, member: Member, ticker: str) -> PositionView:
        """What one strategy decides on: the market's whole position (the risk rules count
        it), the part its own fills built (`own`), and only its own resting orders, with their
        queue positions: what it may cancel or replace. Another strategy's orders and the
        person's are not its to touch; the risk engine still counts them."""
        name = member.name
        # what its own orders filled that is not read yet, not another strategy's
        view = self._portfolio.owned_view(ticker, name, self._own.owner)
        if not view.resting:
            return view
        mine = {o.order_id for o in self._portfolio.resting(ticker) if self._own.owner(o) == name}
        if len(mine) != len(view.resting):
            view = replace(view, resting=tuple(o for o in view.resting if o.order_id in mine))
        if self._queue.positions and view.resting:
            ahead = self._queue.positions
            resting = (replace(o, queue_position=ahead.get(o.order_id)) for o in view.resting)
            view = replace(view, resting=tuple(resting))
        return view

"""The queue positions of the loop's resting orders, for a strategy that requotes by them (the
market maker): read each full tick off the deciding path (runner/execution/dispatch.py); the
positions last read stand until the answer is booked. A failed read leaves them unknown, which
never keeps an order that would otherwise be replaced.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.vocabulary.errors import KalshiError

if TYPE_CHECKING:
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.execution.call_guard import CallGuard
    from kalshi_cli.runner.execution.dispatch import CallAnswer, Dispatch
    from kalshi_cli.runner.execution.own_orders import OwnOrders
    from kalshi_cli.runner.loop.shared import Tuning
    from kalshi_cli.runner.ports import LoopClient


class QueuePositions:
    def __init__(
        self,
        *,
        client: LoopClient,
        dispatch: Dispatch,
        own: OwnOrders,
        guard: CallGuard,
        tuning: Tuning,
        log: EntryLog,
    ) -> None:
        self._client = client  # the queue positions of the loop's orders are read through it
        self._dispatch = dispatch
        self._own = own
        self._guard = guard
        self._tuning = tuning
        self._log = log
        # order id -> contracts ahead of it
        self.positions: dict[str, Decimal] = {}
        self._reading = False  # a read of them is out

    def read(self) -> None:
        """Ask for the positions again, unless no strategy uses them, the run is dry, the API
        error guard backs off or no order of the loop's rests (then none are known)."""
        tuning = self._tuning
        if (
            not tuning.lineup.any("uses_queue_positions")
            or tuning.settings.dry_run
            or self._guard.backing_off
        ):
            self.positions = {}
            return
        tickers = {o.ticker for o in self._own.resting()}
        if not tickers:
            self.positions = {}
            return
        if self._reading:
            return
        self._reading = True
        orders = self._client.orders

        def booked(answer: CallAnswer[dict[str, Decimal]]) -> None:
            self._reading = False
            try:
                self.positions = answer.get()
            except KalshiError as exc:
                self.positions = {}
                self._log.emit("queue_positions_unavailable", {"error": str(exc)})

        self._dispatch.send(
            (), lambda: orders.get_queue_positions(market_tickers=sorted(tickers)), booked
        )

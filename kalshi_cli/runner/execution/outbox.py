"""The orders a tick of the trade loop decided, sent together: a part of its `LoopExecutor`.

Orders that add to a position wait here, once allowed, until the tick's visits end, the first has
waited `batch_wait_s`, or they fill a batch; then their intents are written in one transaction, one
`POST /portfolio/events/orders/batched` carries them, each answer is booked as a single order's (a
lost answer leaves every order unknown, never resent), and their fills are read once. While they
wait the risk engine counts them as resting, and the circuit breaker is checked again before they
leave. Reducing orders never wait. Booking is the `AnswerBook`'s (runner/execution/answers.py).
docs/trade-loop.md "Orders sent together".
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, cast

from kalshi_cli.runner.execution.dispatch import CallAnswer
from kalshi_cli.services.orders.batch import SendsBatches
from kalshi_cli.vocabulary.units import ZERO

if TYPE_CHECKING:
    from kalshi_cli.client.batch_orders import BatchItem
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.execution.answers import AnswerBook
    from kalshi_cli.runner.execution.dispatch import Wire
    from kalshi_cli.runner.execution.sender import Sender
    from kalshi_cli.runner.execution.shared import Holds
    from kalshi_cli.vocabulary.decisions import Intent, PositionView


class Outbox:
    def __init__(
        self,
        *,
        wire: Wire,
        portfolio: Portfolio,
        log: EntryLog,
        holds: Holds,
        sender: Sender,
        answers: AnswerBook,
        stale: set[str],
    ) -> None:
        self._client = wire.client
        self._dispatch = wire.dispatch
        self._portfolio = portfolio
        self._log = log
        self._guard = holds.guard
        self._unknown = holds.unknown
        self._sender = sender
        self.answers = answers
        # how many orders one request may carry (1: this client sends one at a time)
        self._batch_size: int | None = None
        # orders the risk engine allowed this tick, waiting to go out together
        self.queued: list[Intent] = []
        self.queued_since = 0.0  # monotonic, when the oldest of them was queued
        # replacements allowed and waiting for the cancels of the orders they replace (their
        # `replaces` left out: a cancel may fail, and both would rest)
        self.replacing: list[Intent] = []
        # what each market's pending orders add to its exposure, their sum, and the markets
        # whose share must be worked out again (`pending_exposure`): added to by the orders on
        # their way and those of unknown outcome as they change, and by the view here
        self._added: dict[str, Decimal] = {}
        self._added_total = ZERO
        self._stale = stale
        portfolio.listeners.append(self._touch)

    # ---------------------------------------------------------------- waiting

    def batch_size(self) -> int:
        """How many orders one request may carry (1: this client sends one at a time); asked
        of the client once."""
        if self._batch_size is None:
            orders = self._client.orders
            size = orders.batch_size() if isinstance(orders, SendsBatches) else 1
            self._batch_size = size if isinstance(size, int) and size > 1 else 1
        return self._batch_size

    def pending(self) -> list[Intent]:
        """The orders allowed and not yet booked: queued for the batch, waiting for the cancels
        of the orders they replace, or sent and their answers not back
        (runner/execution/dispatch.py)."""
        in_flight = self.answers.in_flight.intents
        if not in_flight and not self.replacing:
            return self.queued
        return [*self.queued, *self.replacing, *in_flight.values()]

    @property
    def pending_exposure(self) -> Decimal:
        """The exposure the pending orders add: in each market with some, its view with all of them
        resting less its view alone, from the views as they are now (an order's share depends on
        the others and on the position). Each market's share is kept, and worked out again only
        for markets whose view or pending orders changed (`_touch`)."""
        for ticker in self._stale:
            # a market whose orders are all booked (every order action's once its answer is
            # back) adds nothing: its view is not worked out twice to say so
            pending = self.pending_in(ticker)
            added = ZERO
            if pending:
                view = self._portfolio.view(ticker)
                added = _after_all(view, pending).exposure() - view.exposure()
            self._added_total += added - self._added.pop(ticker, ZERO)
            if added:
                self._added[ticker] = added
        self._stale.clear()
        return self._added_total

    def _touch(self, ticker: str) -> None:
        """The market's view or its pending orders changed: its share is worked out again."""
        self._stale.add(ticker)

    def pending_in(self, ticker: str) -> list[Intent]:
        """The market's orders that may rest beside its view: its pending orders (`pending`),
        in the same order, then its orders of unknown outcome."""
        # asked twice of every order (its market's view, the exposure): most often nothing
        # waits in the batch or beside a replaced order, and nothing is built to say so
        mine: list[Intent] = []
        if self.queued or self.replacing:
            mine = [i for i in (*self.queued, *self.replacing) if i.ticker == ticker]
        return [*mine, *self.answers.in_flight.of_market(ticker), *self._unknown.intents_in(ticker)]

    def replacing_until(self, intent: Intent) -> Callable[[], None]:
        """A replacement allowed, its cancels sent: until the function returned is called (the
        cancels are answered), it counts as resting beside the orders it replaces, which rest
        until then and would go on resting if a cancel failed. The decisions made meanwhile
        (another strategy's in its market, any market's for the exposure) must not find room
        the replacement is about to take."""
        beside = intent.replacing_none()
        self.replacing.append(beside)
        self._touch(intent.ticker)

        def answered() -> None:
            self.replacing = [i for i in self.replacing if i is not beside]
            self._touch(intent.ticker)

        return answered

    def total_exposure(self) -> Decimal:
        """The account's exposure as the risk engine counts it: the view's, each pending order
        as if it rested, and each order of unknown outcome too (it may rest)."""
        return self._portfolio.total_exposure() + self.pending_exposure

    def send(self, intent: Intent, *, batch: bool, then: Callable[[Decimal | None], None]) -> bool:
        """An allowed order on its way: sent at once (it reduces, `batch` is False, or the
        client sends one at a time), `then` handed its answer as the `Sender` books it; or held
        for the tick's batch, True. Its slot of the order-rate cap is the executor's to take."""
        if batch and not intent.reduce_only and self.batch_size() > 1:
            self.queue(intent)
            return True
        self._sender.submit(intent, then=then)
        return False

    def queued_view(self, ticker: str) -> PositionView:
        """The market's view as if each pending order for it rested."""
        return _after_all(self._portfolio.view(ticker), self.pending_in(ticker))

    def queue(self, intent: Intent) -> Decimal:
        """Hold an allowed order for the tick's batch; nothing of it is filled yet."""
        if not self.queued:
            self.queued_since = self._guard.stamp()
        self.queued.append(intent)
        self._touch(intent.ticker)
        return ZERO

    def drop(self, reason: str, which: Callable[[Intent], bool] = lambda intent: True) -> None:
        """What waits (`which` of it) goes nowhere: each order dropped, for `reason`."""
        queued = [i for i in self.queued if which(i)]
        self.queued = [i for i in self.queued if not which(i)]
        for intent in queued:
            self._touch(intent.ticker)
            self._log.emit("intent_dropped", {"ticker": intent.ticker, "reason": reason})

    def flush(self) -> None:
        """Send what waits: one request a batch, a lone order as a single one. The executor
        asks the risk engine first (`LoopExecutor.flush`)."""
        if not self.queued:
            return
        queued, self.queued = self.queued, []
        for intent in queued:
            self._touch(intent.ticker)  # each goes on its way, or is held or dropped
        size = self.batch_size()
        for start in range(0, len(queued), size):
            if self._guard.backing_off:
                # an earlier call of this tick failed: what waits is held, as a pass's rest is
                for intent in queued[start:]:
                    self._log.emit(
                        "intent_held",
                        {"ticker": intent.ticker, "reason": "backing off after API errors"},
                    )
                return
            chunk = []
            for intent in queued[start : start + size]:
                # an earlier batch of this flush may have left an order of unknown outcome in
                # its market: no new adding order goes beside it (as the executor holds one)
                if self._unknown.holds(intent.ticker):
                    self._log.emit(
                        "intent_held",
                        {
                            "ticker": intent.ticker,
                            "reason": "an order of unknown outcome in this market",
                        },
                    )
                else:
                    chunk.append(intent)
            if not chunk:
                continue
            if len(chunk) == 1:
                self._sender.submit(chunk[0])
            else:
                self._submit_batch(chunk)

    # ---------------------------------------------------------------- sending

    def _submit_batch(self, chunk: list[Intent]) -> None:
        recorded = self.answers.record_all(chunk)
        if not recorded:
            return
        creates = [create for _, create in recorded]
        batches = cast(SendsBatches, self._client.orders)  # batch_size() said so
        self.answers.sending(recorded)

        def booked(answer: CallAnswer[list[BatchItem]]) -> None:
            self.answers.answered(recorded)
            if not self.answers.never_sent(recorded, answer):
                self.answers.book_batch(recorded, answer)
            self.answers.settled()

        dispatch = self._dispatch
        tickers = [intent.ticker for intent, _ in recorded]
        dispatch.send(
            tickers,
            partial(batches.batch_create_orders, creates),
            booked,
            dispatch.urgency(tickers, reduce_only=False),
            places=True,
            unmade=self.answers.unmade(recorded),
        )


def _after_all(view: PositionView, pending: list[Intent]) -> PositionView:
    """`view` with each of `pending` resting beside it, in turn."""
    for intent in pending:
        view = view.after(intent)
    return view

"""One order to the exchange, a part of the trade loop's `LoopExecutor`: `OrderService.submit` split
at the wire, so the request goes off the deciding path and its answer is booked when it is back.
What it shares with a batch is the `AnswerBook`'s (runner/execution/answers.py).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING

from kalshi_cli.runner.execution.dispatch import run_call

if TYPE_CHECKING:
    from kalshi_cli.runner.execution.answers import AnswerBook
    from kalshi_cli.runner.execution.dispatch import CallAnswer, Dispatch
    from kalshi_cli.services.orders.place import OrderService, SentOrder
    from kalshi_cli.vocabulary.decisions import Intent


class Sender:
    def __init__(
        self,
        *,
        orders: OrderService,
        answers: AnswerBook,
        dispatch: Dispatch,
    ) -> None:
        self.orders = orders
        self._answers = answers
        self.dispatch = dispatch

    def submit(
        self, intent: Intent, *, then: Callable[[Decimal | None], None] | None = None
    ) -> None:
        """Record the intent and send it once, off the deciding path (runner/execution/dispatch.py);
        `then` is handed the count filled at once, or None when it did not go out, once the
        answer is booked. Its slot of the order-rate cap is the executor's to take."""
        create = self._answers.create(intent)
        if not self._answers.record(intent, create):
            if then is not None:
                then(None)
            return
        recorded = [(intent, create)]
        self._answers.sending(recorded)

        def booked(answer: CallAnswer[SentOrder]) -> None:
            self._answers.answered(recorded)
            if self._answers.never_sent(recorded, answer):
                filled = None
            else:
                # the API error guard and the fill's latency count from when it left (a worker
                # took it: it may wait behind more urgent calls sent after it, and answered)
                filled = self._answers.book(intent, create, answer.sent_at, answer.get())
            self._answers.settled()
            if then is not None:
                then(filled)

        urgency = self.dispatch.urgency((intent.ticker,), reduce_only=intent.reduce_only)
        self.dispatch.send(
            (intent.ticker,),
            partial(self.orders.send, create),
            booked,
            urgency,
            places=True,
            unmade=self._answers.unmade(recorded),
        )

    def submit_now(self, intent: Intent, stamp: Callable[[], float]) -> Decimal | None:
        """Record the intent, send it once on this thread and book its answer: the count filled
        at once, or None when it did not go out or its answer was lost (then it is of unknown
        outcome). For a stop, once the dispatch takes no more calls: a set of legs unwound
        (runner/execution/leg_sets.py)."""
        create = self._answers.create(intent)
        if not self._answers.record(intent, create):
            return None
        answer = run_call(partial(self.orders.send, create), stamp)
        return self._answers.book(intent, create, answer.sent_at, answer.get())

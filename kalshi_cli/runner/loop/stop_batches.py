"""The stop's batch cancels (runner/loop/stop.py, step 1 without an order group), by the kill
switch's rule (services/killswitch/batch_shares.py): the batches spend at most
`STOP_SHARES.batch_cancels` of what the withdrawal has left when they begin, each batch an equal
share of it, so a batch the exchange never answers is cut at the end of its share, the later
batches still go out, and the cancels one by one of what they left get the rest; a batch refused
whole is sent again one order to a batch within its share. A batch is as large as one request of
the client carries (`cancels_per_batch`), as the kill switch's."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

from kalshi_cli.runner.execution.give_up import unless_given_up
from kalshi_cli.runner.execution.stop_shares import STOP_SHARES
from kalshi_cli.services.killswitch.batch_shares import (
    BatchRefused,
    cancel_in_shares,
    cancels_per_batch,
    refused_whole,
)
from kalshi_cli.vocabulary.clock import Deadline
from kalshi_cli.vocabulary.errors import KalshiError

if TYPE_CHECKING:
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.loop.settings import LoopSettings
    from kalshi_cli.runner.ports import LoopClient
    from kalshi_cli.services.pretrade.books import OpenOrder
    from kalshi_cli.vocabulary.clock import Clock


class BatchCancelling(Protocol):
    """What the stop's batch cancels read of the loop (runner/loop/stop.py `StoppingLoop`)."""

    client: LoopClient
    clock: Clock
    log: EntryLog
    executor: LoopExecutor

    @property
    def settings(self) -> LoopSettings: ...


def batch_cancel_at_stop(
    loop: BatchCancelling, own: list[OpenOrder], abandon: threading.Event | None = None
) -> None:
    """The loop's orders in batch cancel requests, each within its share (module docstring);
    each one cancelled is booked so (none when a second interrupt comes first: `GivenUp`)."""
    whole = Deadline.current()
    left = loop.settings.stop_deadline_s if whole is None else whole.remaining()
    until = loop.clock.monotonic() + STOP_SHARES.batch_cancels * max(left, 0.0)
    cancel_in_shares(
        loop.clock,
        own,
        cancels_per_batch(loop.client.orders, len(own)),
        until,
        lambda batch, ends, _lost: _send(loop, batch, ends, abandon),
    )


def _send(
    loop: BatchCancelling, batch: list[OpenOrder], ends: float, abandon: threading.Event | None
) -> None:
    """One batch cancel, its request cut at `ends`; its cancels booked. `BatchRefused` when the
    exchange refused the request whole; any other failure is logged, its orders left to the
    cancels one by one."""
    here = loop.client.subaccount
    pairs: list[tuple[str, str | None]] = [(o.order_id, o.ticker) for o in batch]
    where = {o.order_id: here for o in batch} if here else None
    batch_cancel = loop.client.orders.batch_cancel
    try:
        with Deadline(loop.clock, ends).scope():  # never past the withdrawal's
            results = unless_given_up(lambda: batch_cancel(pairs, subaccounts=where), abandon)
    except KalshiError as exc:
        loop.log.emit("stop_batch_cancel_failed", {"orders": len(batch), "error": exc.one_line()})
        if refused_whole(exc):
            raise BatchRefused from exc
        return
    tickers = {o.order_id: o.ticker for o in batch}
    for result in results:
        if result.error is None and result.order_id in tickers:
            loop.executor.cancels.booked_cancelled(
                tickers[result.order_id], result.order_id, result.reduced_by, "shutdown"
            )

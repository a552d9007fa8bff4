"""Cancels in batches under one deadline, the one rule of the kill switch's batches and the trade
loop's stop's (runner/loop/stop_batches.py): each batch's tries run within an equal share of
what is left until the end (the last gets all that is left), so a batch the exchange keeps failing
or never answers holds no later batch back; a batch the exchange refuses whole (`BatchRefused`)
is sent again one order to a batch within its share, so that only the order it refuses is left.
A batch is as large as one request of the client may carry (`cancels_per_batch`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from kalshi_cli.vocabulary.errors import MAY_PASS, ApiError, refuses_the_key

if TYPE_CHECKING:
    from kalshi_cli.vocabulary.clock import Clock

T = TypeVar("T")


@runtime_checkable
class SizesBatchCancels(Protocol):
    """A client's order calls whose batch cancel request has a largest size: the
    `KalshiClient`'s (its write budget's, `OrdersApi.batch_cancel_size`)."""

    def batch_cancel_size(self) -> int: ...


def cancels_per_batch(orders: object, count: int) -> int:
    """How many of `count` cancels go in one batch of `orders` (a client's order calls): as
    many as one request carries (`SizesBatchCancels`), so that no more requests go out than
    the write budget needs; all of them in one for order calls that state no size (a local
    venue's, which cancels each in turn)."""
    if isinstance(orders, SizesBatchCancels):
        return orders.batch_cancel_size()
    return max(count, 1)


class BatchRefused(Exception):
    """The exchange refused a whole batch cancel request (a 4xx other than 429 and 401): per
    openapi.yaml a batch answers for each order it names (an order it cannot cancel, one gone
    too, is its own item's `error`), so a refusal of the request (an item it cannot take, more
    items than the tier allows) says nothing of the other orders in it. `lost`: an earlier try's
    answer was lost (`may_have_acted`), so that try may have cancelled some of them."""

    def __init__(self, *, lost: bool = False) -> None:
        super().__init__()
        self.lost = lost


def refused_whole(exc: BaseException | None) -> bool:
    """`exc` refuses the batch request itself (`BatchRefused`), not the key (a 401: every other
    request would be refused too), and will not pass by sending it again."""
    return isinstance(exc, ApiError) and not isinstance(exc, MAY_PASS) and not refuses_the_key(exc)


def cancel_in_shares(
    clock: Clock,
    orders: Sequence[T],
    size: int,
    until: float,
    send: Callable[[list[T], float, bool], None],
    *,
    lost: bool = False,
) -> None:
    """`orders` in batches of `size`, each sent by `send(batch, ends, lost)` within its share of
    what is left until `until` (monotonic), which ends at `ends`: `send` must be over by then. A
    batch `send` says was refused whole (`BatchRefused`) is sent again one order to a batch
    within the same share, `lost` telling `send` that a try of the batch they were in lost its
    answer (so a refusal of one of them may mean that try cancelled it)."""
    chunks = [list(orders[i : i + size]) for i in range(0, len(orders), size)]
    for number, chunk in enumerate(chunks):
        ends = clock.monotonic() + (until - clock.monotonic()) / (len(chunks) - number)
        try:
            send(chunk, ends, lost)
        except BatchRefused as refused:
            if len(chunk) > 1:
                cancel_in_shares(clock, chunk, 1, ends, send, lost=refused.lost)
            # an order refused alone still rests: what comes after the batches finds it

"""The one retry policy: which failures are tried again, how long to wait, when to give up. Each
request names a `Resend` mode by what a repeat could do, and every retry is bounded by attempts
and by the caller's deadline. docs/library.md "How a request travels", step 4. And the one rule
of a write whose answer was lost after it left: when the exchange may have acted
(`may_have_acted`), what the write then says (`UnknownOutcome`), and what a failure after such a
try says (`resent`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import Enum
from typing import NamedTuple, TypeVar

import httpx
import msgspec

from kalshi_cli.vocabulary.clock import Backoff, Clock, Deadline
from kalshi_cli.vocabulary.errors import (
    MAY_PASS,
    ConflictError,
    KalshiError,
    NotSentPastDeadline,
    OrderOutcomeUnknown,
    RateLimitedError,
    ServerError,
    TransportError,
    order_exists,
    raise_reported,
    reported,
)

log = logging.getLogger("kalshi_cli.client")

T = TypeVar("T")

# httpx failures raised before any byte of the request left this machine
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class Resend(Enum):
    ALWAYS = "always"
    IF_UNSENT = "if_unsent"
    NEVER = "never"


def nothing_sent(exc: BaseException) -> bool:
    """True when a TransportError failed before the request reached the exchange."""
    return isinstance(exc, TransportError) and isinstance(exc.__cause__, _UNSENT)


def may_have_acted(exc: BaseException) -> bool:
    """A failed write the exchange may have done all the same: it was sent, and its answer was
    lost (no answer, a 5xx, one that cannot be read), or it was done before (a 409
    `order_already_exists`: the same create, sent before, its answer not recorded); not one
    refused before acting (a 429, any other 4xx) or never sent. The one judgement of a write's
    failure (`Connection.write`), of a failed batch create's rows (`order batch`: looked up, or
    withdrawn, never booked refused) and of a batch's items refused after a lost answer."""
    if isinstance(exc, ConflictError):
        return order_exists(exc.code)
    return (
        isinstance(exc, MAY_PASS)
        and not isinstance(exc, RateLimitedError)
        and not nothing_sent(exc)
    )


class UnknownOutcome(NamedTuple):
    """How a write says its outcome is unknown when its answer was lost after it was sent
    (`Connection.write`): the exchange may have acted, so the write is neither done nor
    refused, and sending it again could do it twice. The caller names the exception (its class,
    the ids it carries, the read that tells) and the words; the rule (`retry.may_have_acted`)
    decides when it is raised, and `of` builds every message from them, so that every write
    says it alike:

    - a 5xx: "the exchange answered HTTP 503 to {what}; {doubt}";
    - a connection lost after sending: "{the connection's message}; {lost or doubt}";
    - an answer that cannot be read: "the exchange answered HTTP 201 to {what} but its answer
      could not be read; {doubt}" (`Connection.written`), or, read by the transport, "{its
      message}; {lost or doubt}";
    - a 409 `order_already_exists`: "the exchange answered HTTP 409 order_already_exists to
      {what}: sent before under the same client order id, its answer not recorded here".
    """

    what: str
    """The write, as the messages name it: "order X", "the amend of order X"."""
    doubt: str
    """What may or may not be so: "it may or may not exist"."""
    error: Callable[[str], OrderOutcomeUnknown]
    """The exception of one message, with the caller's ids and hint."""
    lost: str = ""
    """The doubt after a lost connection's message, when that message names the request
    rather than the write and "it" would be unclear ("order X may or may not exist"); "" is
    `doubt`."""

    @classmethod
    def read_by(
        cls, what: str, doubt: str, read_back: str, *, hint: str | None = None
    ) -> UnknownOutcome:
        """The unknown outcome of a write that is no order (an RFQ, a quote, a subaccount, an
        order group, an API key): an `OrderOutcomeUnknown` without a client order id, whose
        hint names `read_back`, the command that shows what the exchange has (or says `hint`
        in full). `doubt` names the thing, since it also follows a lost connection's message,
        which names the request."""
        told = hint or f"`{read_back}` shows what the exchange has"
        return cls(
            what, doubt, lambda message: OrderOutcomeUnknown(message, client_order_id="", hint=told)
        )

    @classmethod
    def of_created(
        cls, what: str, doubt: str, client_order_id: str, *, lost: str
    ) -> UnknownOutcome:
        """The unknown outcome of a write that creates orders (one, or a batch named by its
        first): an `OrderOutcomeUnknown` carrying `client_order_id`, by which it is looked up."""
        return cls(
            what,
            doubt,
            lambda message: OrderOutcomeUnknown(message, client_order_id=client_order_id),
            lost=lost,
        )

    def of(self, failed: KalshiError) -> OrderOutcomeUnknown:
        """The unknown outcome `failed` tells (one `may_have_acted` says so of), in its kind's
        words; `failed` itself when it already is one of this write's kind."""
        if isinstance(failed, ConflictError):
            message = (
                f"the exchange answered HTTP 409 order_already_exists to {self.what}: sent "
                "before under the same client order id, its answer not recorded here"
            )
        elif isinstance(failed, ServerError):
            message = f"the exchange answered HTTP {failed.status} to {self.what}; {self.doubt}"
        else:
            # a lost connection's or an unreadable answer's message ends a sentence the doubt
            # goes on with
            message = f"{failed.message.rstrip('.')}; {self.lost or self.doubt}"
        told = self.error(message)
        return failed if isinstance(failed, type(told)) else told


def resent(send: Callable[[Callable[[KalshiError], object]], T], unknown: UnknownOutcome) -> T:
    """`send(on_retry)`, a write its retries send again: once a try's answer was lost after it
    left (`may_have_acted`), the last try's failure (a 429, a refusal) speaks of that try only,
    and is raised as `unknown.error` (a transfer whose resends were answered 429 had moved the
    money, and was reported as not made)."""
    acted: list[KalshiError] = []

    def keep(exc: KalshiError) -> None:
        if may_have_acted(exc):
            acted.append(exc)

    try:
        return send(keep)
    except OrderOutcomeUnknown:
        raise
    except KalshiError as exc:
        if not acted:
            raise
        raise unknown.error(
            f"{acted[0].message.rstrip('.')}; sent again, {unknown.what} was answered: "
            f"{exc.message.rstrip('.')}; {unknown.doubt}"
        ) from exc


def is_retryable(exc: KalshiError, mode: Resend) -> bool:
    if mode is Resend.NEVER or isinstance(exc, OrderOutcomeUnknown):
        return False
    if isinstance(exc, NotSentPastDeadline):
        # the deadline passed before it left (or its turn from the client's own rate limiter
        # comes after it, and the two draw nearer together): a retry fails alike, and its
        # backoff only spends the caller's deadline
        return False
    if isinstance(exc, RateLimitedError):
        return True
    if mode is Resend.IF_UNSENT:
        return nothing_sent(exc)
    return isinstance(exc, (TransportError, ServerError))


# the most one call may spend retrying, unless its client was built with less (`kalshi trade`'s)
DEFAULT_RETRY_BUDGET_S = 20.0

_BUDGET: ContextVar[float | None] = ContextVar("kalshi_retry_budget", default=None)


@contextmanager
def retry_budget(seconds: float) -> Iterator[None]:
    """Each call made in the block, on this thread, may spend `seconds` retrying, whatever budget
    its client was built with: a caller whose short budget is for what waits on its calls (the
    trade loop's ticks, SIGTERM) gives the calls nothing waits on yet the default one (the
    start's reads before the loop ticks, runner/lifecycle/session.py), and a stop during them
    the short one again (runner/preflight.py)."""
    token = _BUDGET.set(seconds)
    try:
        yield
    finally:
        _BUDGET.reset(token)


class RetryPolicy(msgspec.Struct, frozen=True):
    """How often and how long a request is tried, and the waits between tries."""

    max_attempts: int = 4
    max_seconds: float = DEFAULT_RETRY_BUDGET_S
    base_delay: float = 0.25
    max_delay: float = 8.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """The wait before retry `retry_number` (1 for the first retry): full jitter."""
        return Backoff(self.base_delay, self.max_delay).delay(retry_number, rng)

    def run(
        self,
        call: Callable[[], T],
        *,
        mode: Resend,
        clock: Clock,
        rng: random.Random,
        what: str,
        on_retry: Callable[[KalshiError], object] | None = None,
    ) -> T:
        """Run `call`, retrying the failures `mode` allows until attempts or time run out;
        the last error is raised, or the one before a try its deadline kept from going out
        (`reported`). `on_retry` is told each failure tried again."""
        backoff = Backoff(self.base_delay, self.max_delay)
        budget = _BUDGET.get()
        seconds = self.max_seconds if budget is None else budget
        with Deadline.after(clock, seconds).scope() as deadline:
            attempt = 1
            before: KalshiError | None = None
            while True:
                try:
                    return call()
                except KalshiError as exc:
                    if attempt >= self.max_attempts or not is_retryable(exc, mode):
                        raise_reported(exc, before)
                    delay = backoff.next_delay(attempt, deadline, rng)
                    if delay is None:
                        raise
                    before = reported(exc, before)
                    if on_retry is not None:
                        on_retry(exc)
                    log.info(
                        "retrying %s after %s (attempt %d of %d, in %.2fs)",
                        what,
                        exc.message,
                        attempt + 1,
                        self.max_attempts,
                        delay,
                    )
                    clock.sleep(delay)
                    attempt += 1

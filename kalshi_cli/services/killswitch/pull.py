"""One pull of the kill switch: what it asks of the exchange (the protocols), how each of its
calls is tried under the run's one deadline (`Tries`), and what each step leaves for the steps
after it (`Pull`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from kalshi_cli.vocabulary.clock import Backoff, Deadline
from kalshi_cli.vocabulary.errors import (
    MAY_PASS,
    ApiError,
    KalshiError,
    NotSentPastDeadline,
    answered,
)

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Iterator

    from kalshi_cli.client.communications import Quote, Rfq
    from kalshi_cli.client.requests import CancelResult
    from kalshi_cli.services.killswitch.report import KillReport, Trail
    from kalshi_cli.services.reconcile import SubaccountReads
    from kalshi_cli.store import IntentRecord
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.models import Fill, Order

T = TypeVar("T")


class OrdersToCancel(Protocol):
    """The order calls the kill switch makes (a client's `orders`)."""

    def iter_orders(
        self, *, ticker: str | None = ..., event_ticker: str | None = ..., status: str | None = ...
    ) -> Iterator[Order]: ...

    def cancel_all_orders(self) -> None: ...

    def get_order(self, order_id: str) -> Order: ...

    def batch_cancel(
        self,
        orders: list[tuple[str, str | None]],
        *,
        subaccounts: dict[str, int] | None = ...,
    ) -> list[CancelResult]: ...


class FillsSince(Protocol):
    """The fills the kill switch reads to settle in-flight orders (a client's `portfolio`)."""

    def iter_fills(self, *, min_ts: int | None = ...) -> Iterator[Fill]: ...


class GroupsToTrigger(Protocol):
    """The order-group call the kill switch makes (a client's `order_groups`)."""

    def trigger_order_group(
        self,
        order_group_id: str,
        *,
        subaccount: int | None = ...,
        exchange_index: int | None = ...,
    ) -> None: ...


class CancelsOrders(Protocol):
    """What the kill switch asks of the exchange, by area, and the subaccount the client acts
    on (None: every one)."""

    @property
    def subaccount(self) -> int | None: ...

    def on_subaccount(self, subaccount: int | None) -> CancelsOrders: ...

    @property
    def orders(self) -> OrdersToCancel: ...

    @property
    def subaccounts(self) -> SubaccountReads: ...

    @property
    def portfolio(self) -> FillsSince: ...

    @property
    def order_groups(self) -> GroupsToTrigger: ...


class ClosesRfqs(Protocol):
    """The RFQ side of an account the kill switch closes (step 2b): a client's `communications`.
    A paper loop has none (its venue knows no RFQs)."""

    def iter_rfqs(
        self,
        *,
        market_ticker: str | None = ...,
        event_ticker: str | None = ...,
        status: str | None = ...,
        mine: bool = ...,
        subaccount: int | None = ...,
    ) -> Iterator[Rfq]: ...

    def delete_rfq(self, rfq_id: str) -> None: ...

    def iter_quotes(self, *, status: str | None = ..., mine: bool = ...) -> Iterator[Quote]: ...

    def delete_quote(self, quote_id: str, *, rfq_id: str | None = ...) -> None: ...


# An exchange no connection reaches (nothing was sent) for this long is given up on before the
# deadline, so NOT PROVEN is said at once; a cron run or the person tries again.
UNREACHABLE_GIVE_UP_S = 5.0

# between tries of one request and between proof rounds: 0.1 s doubling, capped at 2 s, with
# full jitter (the client's own retries inside each try wait by the same rule)
_BACKOFF = Backoff(0.1, 2.0)


class DeadlinePassed(Exception):
    pass


@dataclass
class Pull:
    """One pull of the switch: what each step leaves for the steps after it."""

    report: KillReport
    trail: Trail
    say: Callable[[str], None]
    ticker: str | None
    event_ticker: str | None
    deadline: float = 0.0  # monotonic; the whole run's, set once HALTED was tried
    # when HALTED was recorded (None: not yet): no order intent is recorded after it
    halted_at: float | None = None  # monotonic
    # a listing requested before this reflects neither HALTED nor the last cancel sent
    settled_at: float = 0.0  # monotonic
    cancelled_since_listing: bool = False
    closed_at: float | None = None  # monotonic; when step 2b's deletes were answered
    # step 2b could not list: whatever it could not see may still execute, so only the proof's
    # listing at the end can prove the RFQ side
    rfq_side_unlisted: bool = False
    proof_asked: float | None = None  # wall time the proof's listing was asked
    listed: dict[str, Order] = field(default_factory=dict)  # every order any listing showed
    latest: set[str] | None = None  # order ids of the latest listing
    landed: set[str] = field(default_factory=set)  # client order ids any listing showed
    # the subaccount of each order listed naming none, as its own subaccount's listing showed
    # (None: the account has one subaccount, whose it is)
    whose: dict[str, int | None] = field(default_factory=dict)
    unknown_groups: list[str] = field(default_factory=list)  # step 2's, forgotten at the end
    # the state file's orders in scope that may rest, by order id, read before any cancel
    known: dict[str, IntentRecord] = field(default_factory=dict)
    # the orders a cancel refused only when sent again after its answer was lost, with what the
    # resend answered: the lost one may have cancelled them, or they filled meanwhile
    doubted: dict[str, str] = field(default_factory=dict)
    # each of those as the exchange showed it when asked by its id afterwards
    read_back: dict[str, Order] = field(default_factory=dict)

    @property
    def every_market(self) -> bool:
        return self.ticker is None and self.event_ticker is None

    def halt(self, wait_s: float, clock: Clock) -> None:
        """HALTED, unless recorded already, waiting at most `wait_s` for another writer's lock;
        `halted_at` is when it first was."""
        self.trail.halt(wait_s)
        if self.halted_at is None and self.report.halted:
            self.halted_at = clock.monotonic()


@dataclass
class Tries:
    """Every call of the switch to the exchange, tried until the run's deadline, and how long no
    connection has reached the exchange, counted across the run's steps."""

    clock: Clock
    rng: random.Random
    # monotonic: since when no connection has reached the exchange (`call`)
    _unreachable_since: float | None = field(default=None, init=False)

    def call(self, call: Callable[[], T], deadline: float, report: KillReport) -> T:
        """`call`'s result, tried again on a failure that may pass (a 429, a 5xx, no answer,
        an answer that cannot be read) until `deadline`; raises DeadlinePassed when it is
        spent, or at once on a failure that will not pass. Only a result read in full is
        returned: a listing that cannot be read is never taken for an empty one."""
        from kalshi_cli.client.retry import nothing_sent  # the client: not for `config show`

        attempt = 0
        while True:
            if self.clock.monotonic() >= deadline:
                raise DeadlinePassed
            try:
                result = call()
                report.unreachable = False
                self._unreachable_since = None
                return result
            except NotSentPastDeadline:
                # its deadline kept it from going out: it says nothing of the exchange, and the
                # failure before it is the one the report names
                raise DeadlinePassed from None
            except MAY_PASS as exc:
                # the one rule of the failures that pass (the stop's listings take it too): an
                # answer garbled by a proxy or cut short passes as a 503 does
                report.errors.append(exc.one_line())
                # the doubt of a cancel answered 5xx is raised as a `TransportError`: it was
                # answered all the same
                report.unreachable = not answered(exc)
                # counted across the run's steps: each step would otherwise start its own wait
                if not nothing_sent(exc):
                    self._unreachable_since = None
                elif self._unreachable_since is None:
                    self._unreachable_since = self.clock.monotonic()
                elif self.given_up_unreachable():
                    report.errors.append(
                        f"no connection reached the exchange for {UNREACHABLE_GIVE_UP_S:g}s: "
                        "given up before the deadline"
                    )
                    raise DeadlinePassed from None
            except ApiError as exc:
                # a 4xx other than 429 will not get better by retrying; and it is an answer
                report.errors.append(exc.one_line())
                report.unreachable = False
                raise DeadlinePassed from None
            except KalshiError as exc:
                report.errors.append(exc.one_line())
                raise DeadlinePassed from None
            attempt += 1
            self.pause(attempt, deadline)

    def given_up_unreachable(self) -> bool:
        """No connection has reached the exchange for `UNREACHABLE_GIVE_UP_S`: the run is
        given up on (`call`)."""
        since = self._unreachable_since
        return since is not None and self.clock.monotonic() - since >= UNREACHABLE_GIVE_UP_S

    def pause(self, attempt: int, deadline: float) -> None:  # monotonic
        """Back off before trying again; past the deadline, stop."""
        delay = _BACKOFF.next_delay(attempt, Deadline(self.clock, deadline), self.rng)
        if delay is None:
            raise DeadlinePassed
        self.clock.sleep(delay)

    def wait_until(self, moment: float, deadline: float) -> None:  # monotonic
        delay = moment - self.clock.monotonic()
        if delay <= 0:
            return
        if self.clock.monotonic() + delay >= deadline:
            raise DeadlinePassed
        self.clock.sleep(delay)

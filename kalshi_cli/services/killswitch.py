"""The kill switch: halt, cancel everything, then prove nothing is left.

`KillSwitch.run` takes the steps of docs/kill-switch.md in order: record HALTED, trigger the trade
loop's order groups, the exchange's cancel-all (or batched cancels under a filter), close the RFQ
side, then list and cancel again until a listing taken after the read lag comes back empty while no
order of the state file can still land, or the run's one `clock.Deadline` is spent. Only such a
listing is proof; the cancels go out whatever the state file does. The steps stay in one module
because each rests on what the ones before it saw under that deadline.
"""

from __future__ import annotations

import json
import random
from contextlib import suppress
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import msgspec

from kalshi_cli.services.reconcile import DEFAULT_READ_LAG_S, book_cancel
from kalshi_cli.store import AccountStateUnknown, StoreError
from kalshi_cli.store.records import PENDING, RESTING, UNKNOWN
from kalshi_cli.vocabulary.clock import Backoff, Deadline, parse_iso
from kalshi_cli.vocabulary.errors import (
    MAY_PASS,
    ApiError,
    AuthError,
    ForbiddenError,
    KalshiError,
    NotFoundError,
    NotSentPastDeadline,
    TransportError,
)
from kalshi_cli.vocabulary.models import ZERO

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from kalshi_cli.client.communications import Quote, Rfq
    from kalshi_cli.client.pacing import Pacing
    from kalshi_cli.client.requests import CancelResult
    from kalshi_cli.services.reconcile import SubaccountReads
    from kalshi_cli.store import IntentRecord, Store
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.models import Fill, Order

T = TypeVar("T")


class OrdersToCancel(Protocol):
    """The order calls the kill switch makes (a client's `orders`)."""

    def iter_orders(
        self, *, ticker: str | None = ..., event_ticker: str | None = ..., status: str | None = ...
    ) -> Iterator[Order]: ...

    def cancel_all_orders(self) -> None: ...

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

    def trigger_order_group(self, order_group_id: str, *, subaccount: int | None = ...) -> None: ...


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


# Shares of the deadline a step may spend, so a service that does not answer never holds back
# the cancels that come after it: step 2b's RFQ side, step 2's order-group triggers, and the
# listing before the exchange's cancel-all (it only names what the cancel-all took).
RFQ_STEP_SHARE = 0.2
GROUP_STEP_SHARE = 0.2
LIST_FIRST_SHARE = 0.05


# How long an order intent may stay `pending` while its request can still land: the client's
# LANDING_WINDOW_S (a test keeps them equal; the client is not imported for a constant).
IN_FLIGHT_S = 40.0


@dataclass
class KillReport:
    proven: bool = False
    cancelled: list[str] = field(default_factory=list)
    contracts_cancelled: Decimal = ZERO
    left: list[str] = field(default_factory=list)
    rounds: int = 0
    errors: list[str] = field(default_factory=list)
    unreachable: bool = False
    # the exchange's own cancel-all went out: Kalshi says it may also cancel orders placed in
    # the minute after it (API reference, DELETE /portfolio/events/orders)
    exchange_cancel_all: bool = False
    # the order groups of the state file the exchange confirmed triggered (step 2)
    order_groups_triggered: list[str] = field(default_factory=list)
    # step 2b: the RFQs of ours deleted, our quotes cancelled, and what a listing still showed
    rfqs_closed: list[str] = field(default_factory=list)
    quotes_cancelled: list[str] = field(default_factory=list)
    communications_left: list[str] = field(default_factory=list)
    # the state file's side, reported next to the proof but not part of the recorded result
    halted: bool = False  # HALTED is recorded
    result_recorded: bool = False  # the cancelled orders and `kill_switch_result` are recorded
    state_error: str | None = None  # why the state file was not written, or not at first
    # no state file of the account's was given to halt (a paper session's was): a live trade
    # loop on the account's own never saw HALTED
    account_state_unknown: bool = False
    # each order named above: its client order id and the strategy that placed it (None: not
    # known, as for an order this state file never recorded)
    owners: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "proven": self.proven,
            "cancelled": self.cancelled,
            "cancelled_count": len(self.cancelled),
            "contracts_cancelled": str(self.contracts_cancelled),
            "left": self.left,
            "left_count": len(self.left),
            "rounds": self.rounds,
            "errors": self.errors,
            "unreachable": self.unreachable,
            "exchange_cancel_all": self.exchange_cancel_all,
            "order_groups_triggered": self.order_groups_triggered,
            "rfqs_closed": self.rfqs_closed,
            "quotes_cancelled": self.quotes_cancelled,
            "communications_left": self.communications_left,
            "orders": [
                {"order_id": order_id, "client_order_id": coid, "strategy": strategy}
                for order_id in dict.fromkeys([*self.cancelled, *self.left])
                for coid, strategy in [self.owners.get(order_id, (None, None))]
            ],
        }

    def owner_text(self, order_id: str) -> str:
        """An order as the text report names it: its id, strategy and client order id."""
        coid, strategy = self.owners.get(order_id, (None, None))
        return f"{order_id} (strategy {strategy or 'unknown'}, client order id {coid or 'unknown'})"

    def state_json(self) -> dict[str, Any]:
        """The state file's side, which every answer of the switch carries beside `to_json`:
        whether HALTED is recorded, whether the result is too, and the first reason a write
        failed. Cancels proven with no HALTED recorded leave a trade loop on that file
        placing: whoever pulled the switch must be told."""
        return {
            "halted": self.halted,
            "state_recorded": self.halted and self.result_recorded,
            "state_error": self.state_error,
        }


# How long the switch keeps cancelling and listing before it gives up proving (docs/kill-switch.md).
DEFAULT_DEADLINE_S = 60.0
# An exchange no connection reaches (nothing was sent) for this long is given up on before the
# deadline, so NOT PROVEN is said at once; a cron run or the person tries again.
UNREACHABLE_GIVE_UP_S = 5.0


class _DeadlinePassed(Exception):
    pass


class _RfqSideUnlisted(Exception):
    """Step 2b's listing never answered within its share of the deadline."""


@dataclass
class _Pull:
    """One pull of the switch: what each step leaves for the steps after it."""

    report: KillReport
    trail: _Trail
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

    @property
    def every_market(self) -> bool:
        return self.ticker is None and self.event_ticker is None


# between tries of one request and between proof rounds: 0.1 s doubling, capped at 2 s, with
# full jitter (the client's own retries inside each try wait by the same rule)
_BACKOFF = Backoff(0.1, 2.0)


class KillSwitch:
    def __init__(
        self,
        client: CancelsOrders,
        store: Store | None,
        clock: Clock,
        *,
        deadline_s: float = DEFAULT_DEADLINE_S,
        batch_size: int = 20,
        rng: random.Random | None = None,
        halt_wait_s: float = 1.0,
        record_wait_s: float = 10.0,
        state_error: str | None = None,
        read_lag_s: float = DEFAULT_READ_LAG_S,
        communications: ClosesRfqs | None = None,
        state_fault: KalshiError | None = None,
        pace: Callable[[], Pacing] | None = None,
    ) -> None:
        """`halt_wait_s`/`record_wait_s`: how long HALTED, then what is recorded at the end,
        may wait for another writer's lock. `state_error`/`state_fault`: why there is no
        `store` (a lock held by another writer is no proof). `communications`: the RFQ side
        closed in step 2b (None on a paper loop). `pace`: see `_pace`."""
        self.client = client
        self.store = store
        self.clock = clock
        self.deadline_s = deadline_s
        # monotonic: since when no connection has reached the exchange (`_retry`)
        self._unreachable_since: float | None = None
        self.batch_size = batch_size
        self._rng = rng or random.Random()
        self.halt_wait_s = halt_wait_s
        self.record_wait_s = record_wait_s
        self.state_error = state_error
        self.state_fault = state_fault
        self.read_lag_s = read_lag_s
        self.communications = communications
        self.pace = pace

    def run(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        source: str = "cancel-all",
        on_progress: Callable[[str], None] | None = None,
    ) -> KillReport:
        """The steps of docs/kill-switch.md, in the order they go out."""
        run = self._start(ticker, event_ticker, source, on_progress)
        self._halt(run)  # 1
        # the client's requests run under the deadline too (the module docstring)
        with Deadline.after(self.clock, self.deadline_s).scope() as deadline:
            run.deadline = deadline.at
            self._read_known(run)
            self._trigger_order_groups(run)  # 2
            self._pace(run)  # 2a, with a filter
            try:
                self._exchange_cancel_all(run)  # 3, with no filter
                self._cancel_known(run)  # 3 with a filter, before any listing
                self._close_rfq_side(run)  # 2b
                self._cancel_and_prove_in_rounds(run)  # 3 with a filter, and 4
            except _DeadlinePassed:
                run.report.proven = False
            self._prove_rfq_side_closed(run)
            self._count_what_the_cancel_all_cancelled(run)
            self._name_what_may_be_left(run)
            self._record_halted_at_last(run)
            self._refuse_proof_while_a_loop_may_place(run)
            self._book_groups(run)
            self._record_result(run)
        return run.report

    def _start(
        self,
        ticker: str | None,
        event_ticker: str | None,
        source: str,
        on_progress: Callable[[str], None] | None,
    ) -> _Pull:
        report = KillReport()
        scope = ticker or event_ticker or "all markets"
        trail = _Trail(
            self.store,
            report,
            reason=f"kill switch ({scope})",
            source=source,
            started={"ticker": ticker, "event_ticker": event_ticker},
        )
        if self.store is None:
            report.state_error = self.state_error or "no state file"
            trail.locked = _locked(self.state_fault)
            report.account_state_unknown = isinstance(self.state_fault, AccountStateUnknown)
        return _Pull(
            report=report,
            trail=trail,
            say=on_progress or (lambda _msg: None),
            ticker=ticker,
            event_ticker=event_ticker,
        )

    def _halt(self, run: _Pull) -> None:
        """Step 1: HALTED first, so a running trade loop stops placing while we cancel; but
        never in their way (it waits at most `halt_wait_s` for another writer's lock)."""
        run.trail.halt(self.halt_wait_s)
        if run.report.halted:
            run.halted_at = self.clock.monotonic()
        else:
            run.say(f"HALTED not recorded ({run.report.state_error}); cancelling anyway")
        run.settled_at = self.clock.monotonic() + self.read_lag_s

    def _pace(self, run: _Pull) -> None:
        """Step 2a: with a filter, batched cancels go at the account's own rate limits
        (`client/pacing.py`); the one cancel-all request without a filter does not wait on it."""
        if self.pace is not None and (run.ticker or run.event_ticker):
            run.say(f"rate limits: {self.pace().describe()}")

    def _halt_again(self, run: _Pull) -> None:
        """HALTED, if the state file has become writable since, without waiting."""
        run.trail.halt(0.0)
        if run.halted_at is None and run.report.halted:
            run.halted_at = self.clock.monotonic()

    def _trigger_order_groups(self, run: _Pull) -> None:
        """Step 2, with no filter only (a group spans all of a loop's markets)."""
        if run.every_market:
            run.unknown_groups = self._trigger_groups(run.deadline, run.report, run.say)

    def _read_known(self, run: _Pull) -> None:
        """The state file's orders that may rest in scope (none by event, which a row does not
        name), read before any cancel: step 3's with a filter, and what an unproven report
        names."""
        if self.store is None or run.event_ticker is not None:
            return
        scope = self.client.subaccount
        with suppress(StoreError):
            for intent in self.store.orders.intents(
                status=[PENDING, UNKNOWN, RESTING], ticker=run.ticker
            ):
                if intent.order_id and (scope is None or intent.subaccount == scope):
                    run.known[intent.order_id] = intent

    def _exchange_cancel_all(self, run: _Pull) -> None:
        """Step 3 with no filter: list the resting orders once within `LIST_FIRST_SHARE` of the
        deadline (so the report can name them), then the exchange's own cancel-all. A slow or
        failed first listing must not hold it back."""
        if not run.every_market:
            return
        with (
            suppress(_DeadlinePassed),
            Deadline.within(self.clock, LIST_FIRST_SHARE * self.deadline_s) as step,
        ):
            self._list_resting(run, min(run.deadline, step.at))
        refused: list[ApiError] = []

        def cancel_all() -> None:
            try:
                self.client.orders.cancel_all_orders()
            except MAY_PASS:
                raise  # retried
            except ApiError as exc:
                if isinstance(exc, AuthError) and not isinstance(exc, ForbiddenError):
                    raise  # a refused key: every other call would be refused too
                refused.append(exc)

        self._retry(cancel_all, run.deadline, run.report)
        if refused:
            # refused for this call (a key that may cancel only its own subaccount's orders):
            # the rounds below cancel what rests order by order, and prove it
            run.report.errors.append(refused[0].one_line())
            run.say("the exchange refused its cancel-all: cancelling order by order")
            return
        run.report.exchange_cancel_all = True
        self._cancels_sent(run)
        run.say(f"exchange cancel-all sent ({len(run.listed)} resting before)")

    def _cancel_known(self, run: _Pull) -> None:
        """Step 3 without the exchange's cancel-all (a filter, or a cancel-all refused): the
        state file's orders in scope are cancelled before any listing, which a slow exchange
        may not answer in time; the rounds then list and cancel what else rests."""
        if run.report.exchange_cancel_all or not run.known:
            return
        run.say(f"cancelling the state file's {len(run.known)} order(s) first")
        with suppress(_DeadlinePassed):
            self._cancel_batch(list(run.known.values()), run.deadline, run.report)
            self._cancels_sent(run)

    def _close_rfq_side(self, run: _Pull) -> None:
        """Step 2b, right after the exchange's cancel-all (first, with a filter)."""
        try:
            run.closed_at = self._close_communications(
                run.ticker, run.event_ticker, run.deadline, run.report, run.say
            )
        except _RfqSideUnlisted:
            run.rfq_side_unlisted = True
        if run.closed_at is not None:
            run.settled_at = max(run.settled_at, run.closed_at + self.read_lag_s)
            run.cancelled_since_listing = True

    def _cancel_and_prove_in_rounds(self, run: _Pull) -> None:
        """Step 4 (with a filter its first round is step 3's listing and cancels): list,
        cancel what is still resting, until a listing that counts as proof comes back empty
        or the deadline passes."""
        while not self._proof_round(run):
            pass

    def _proof_round(self, run: _Pull) -> bool:
        """One listing and what it calls for. True: it is the proof."""
        report = run.report
        report.rounds += 1
        if run.cancelled_since_listing:
            # a listing any sooner could still show what was just cancelled
            self._wait_until(run.settled_at, run.deadline)
        asked, asked_wall = self.clock.monotonic(), self.clock.wall()
        resting = self._list_resting(run)
        run.latest = {o.order_id for o in resting}
        report.left = [o.order_id for o in resting]
        if resting:
            self._cancel_round(run, resting)
            return False
        if asked < run.settled_at:
            # it may predate HALTED: an order placed just before may not be listed yet
            run.say(f"round {report.rounds}: none resting, listing again after the read lag")
            self._wait_until(run.settled_at, run.deadline)
            return False
        waiting = self._why_empty_is_no_proof(run, asked, asked_wall)
        if waiting is None:
            report.proven = True
            run.proof_asked = asked_wall
            return True
        if waiting not in report.errors:
            report.errors.append(waiting)
        run.say(f"round {report.rounds}: none resting, but {waiting}")
        self._pause(report.rounds, run.deadline)
        return False

    def _cancel_round(self, run: _Pull, resting: list[Order]) -> None:
        """Cancel in batches what a listing still showed resting."""
        report = run.report
        run.say(f"round {report.rounds}: {len(resting)} resting, cancelling")
        self._halt_again(run)
        self._cancel_batch(resting, run.deadline, report)
        self._cancels_sent(run)
        if report.rounds > 1:
            # an order the exchange keeps refusing to cancel must not turn the proof into a
            # loop that spends the whole rate budget until the deadline
            self._pause(report.rounds - 1, run.deadline)
        if self.clock.monotonic() >= run.deadline:
            raise _DeadlinePassed

    def _cancels_sent(self, run: _Pull) -> None:
        """Cancels were answered: a listing requested within the read lag may not show them."""
        run.settled_at = self.clock.monotonic() + self.read_lag_s
        run.cancelled_since_listing = True

    def _list_resting(self, run: _Pull, deadline: float | None = None) -> list[Order]:
        orders = self._retry(
            lambda: self._named(run, self._resting_in_scope(run, self.client)),
            run.deadline if deadline is None else deadline,
            run.report,
        )
        for order in orders:
            run.listed.setdefault(order.order_id, order)
            run.landed.add(order.client_order_id)
        return orders

    @staticmethod
    def _resting_in_scope(run: _Pull, client: CancelsOrders) -> list[Order]:
        orders = client.orders.iter_orders(
            ticker=run.ticker, event_ticker=run.event_ticker, status="resting"
        )
        return list(orders)

    def _named(self, run: _Pull, orders: list[Order]) -> list[Order]:
        """`orders`, each naming its subaccount. A listing on no subaccount covers every one,
        but an order names its subaccount to direct members only, and a cancel item naming none
        is the primary's (openapi.yaml): such an order is found in its own subaccount's listing,
        each once (`run.whose`), or its cancel would be refused round after round."""
        if self.client.subaccount is not None:
            return orders  # its own subaccount's alone, and its cancels go there
        if any(o.subaccount is None and o.order_id not in run.whose for o in orders):
            try:
                balances = self.client.subaccounts.subaccount_balances()
                numbers = sorted({b.subaccount for b in balances})
                if len(numbers) > 1:
                    for number in numbers:
                        on_it = self.client.on_subaccount(number)
                        for order in self._resting_in_scope(run, on_it):
                            run.whose[order.order_id] = number
            except KalshiError as exc:
                # costs the orders whose subaccount it would tell, never the listing: the
                # others are cancelled all the same
                run.report.errors.append(
                    f"could not tell the subaccount of every order: {exc.one_line()}"
                )
            for order in orders:  # one subaccount, or not listed on its own: as the exchange
                run.whose.setdefault(order.order_id, None)  # reads an item naming none
        return [
            msgspec.structs.replace(o, subaccount=found)
            if o.subaccount is None and (found := run.whose.get(o.order_id)) is not None
            else o
            for o in orders
        ]

    def _why_empty_is_no_proof(self, run: _Pull, asked: float, asked_wall: float) -> str | None:
        """Why an empty listing requested at `asked` is no proof, by the state file's order
        intents, or, when they cannot be read, by the time since HALTED (None: it is proof)."""
        try:
            return self._waiting(run.ticker, asked_wall, run.landed)
        except StoreError as exc:
            # no row can say what is still in the network: only time since HALTED
            if run.halted_at is None:
                self._halt_again(run)
            return self._unreadable(exc, asked, run.halted_at)

    def _prove_rfq_side_closed(self, run: _Pull) -> None:
        """Step 2b's proof: the RFQ side is listed again (a delete refused leaves one open),
        and when step 2b could not list it, listed here; else the run is not proven."""
        listed_again = run.closed_at is not None or run.rfq_side_unlisted
        if listed_again and self._communications_left(
            run.ticker, run.event_ticker, run.settled_at, run.deadline, run.report
        ):
            run.report.proven = False

    def _count_what_the_cancel_all_cancelled(self, run: _Pull) -> None:
        """The orders of the first listing that the latest no longer shows, and that no batch
        confirmed, were taken off by the exchange's cancel-all or filled: their fills decide."""
        if not run.report.exchange_cancel_all or run.latest is None:
            return
        confirmed = set(run.report.cancelled)
        gone = [
            order
            for order_id, order in run.listed.items()
            if order_id not in run.latest and order_id not in confirmed
        ]
        self._count_cancelled_by_cancel_all(gone, run.deadline, run.report)

    def _name_what_may_be_left(self, run: _Pull) -> None:
        """Not proven with no listing read after the cancels: every order known (the state
        file's and any listing's) not confirmed cancelled may be left. And every order named
        gets its client order id and strategy, the state file's when it knows them."""
        report = run.report
        if not report.proven and run.latest is None:
            confirmed = set(report.cancelled)
            report.left = [i for i in {**run.listed, **run.known} if i not in confirmed]
        for order_id in dict.fromkeys([*report.cancelled, *report.left]):
            intent = run.known.get(order_id)
            if intent is None and self.store is not None:
                with suppress(StoreError):
                    intent = self.store.orders.intent_by_order_id(order_id)
            listed = run.listed.get(order_id)
            coid = intent.client_order_id if intent else listed.client_order_id if listed else ""
            report.owners[order_id] = (coid or None, intent.strategy if intent else None)

    def _record_halted_at_last(self, run: _Pull) -> None:
        """What could not be recorded yet gets one more chance, waiting for a lock a little;
        a HALTED recorded only after the proof's listing must not have let an order by."""
        report = run.report
        remaining = max(0.0, run.deadline - self.clock.monotonic())
        was_halted = report.halted
        run.trail.halt(max(self.halt_wait_s, min(remaining, self.record_wait_s)))
        if report.halted and not was_halted:
            run.say("HALTED recorded, after the cancels")
            if run.proof_asked is not None:  # an empty listing counted: HALTED came after it
                self._late_halted(run.ticker, run.proof_asked, run.landed, report)

    def _refuse_proof_while_a_loop_may_place(self, run: _Pull) -> None:
        """HALTED reached no loop that may place after the listing: another writer held the
        lock to the end (a loop waiting for it places next), or the account's own state file
        could not be told (a live loop on it re-quotes at once)."""
        report = run.report
        if not report.proven or report.halted:
            return
        if run.trail.locked:
            report.proven = False
            report.errors.append(LOCK_HELD)
        elif report.account_state_unknown and report.state_error is not None:
            report.proven = False
            report.errors.append(report.state_error)

    def _record_result(self, run: _Pull) -> None:
        """The orders confirmed cancelled and the `kill_switch_result` event."""
        run.trail.result(self.halt_wait_s if run.report.halted else 0.0)

    def _late_halted(
        self,
        ticker: str | None,
        asked: float,  # wall time
        landed: set[str],
        report: KillReport,
    ) -> None:
        """HALTED was recorded only after the proof's listing (asked at `asked`): a loop that
        got the state file's lock before the switch may have recorded an intent in between,
        and sent its order after that listing. The intents are read again, as of that listing:
        one it cannot account for takes the proof back (and is named even when the RFQ side
        took it back already)."""
        try:
            waiting = self._waiting(ticker, asked, landed)
        except StoreError as exc:
            waiting = f"the state file's order intents cannot be read ({exc.one_line()})"
        if waiting is not None:
            report.proven = False
            report.errors.append(
                f"HALTED was recorded only after the last listing, and {waiting} "
                "(run `kalshi cancel-all` again)"
            )

    def _book_groups(self, run: _Pull) -> None:
        """Forget the groups the exchange no longer knows, and record each group triggered
        (`kalshi order-group show` reads it). Bookkeeping, so after the cancels and waiting at
        most `halt_wait_s`; a group not forgotten now is forgotten by the next kill."""
        triggered = run.report.order_groups_triggered
        if self.store is None or not (run.unknown_groups or triggered):
            return
        by = f"kill switch ({run.trail.source})"
        with suppress(StoreError), self.store.busy_timeout(self.halt_wait_s):
            for group_id in run.unknown_groups:
                forget_order_group(self.store, group_id)
            for group_id in triggered:
                note_order_group_action(self.store, group_id, "triggered", by)

    def _trigger_groups(
        self, deadline: float, report: KillReport, say: Callable[[str], None]
    ) -> list[str]:
        """Step 2: trigger every order group the state file lists on its own subaccount; when
        the client acts on one subaccount only, the groups of that one (see the module
        docstring), the newest first, within `GROUP_STEP_SHARE` of the deadline. Returns the
        groups the exchange does not know, to forget after the cancels."""
        unknown: list[str] = []
        if self.store is None:
            return unknown
        try:
            places = session_order_group_places(self.store)
        except StoreError as exc:
            report.errors.append(f"order groups not read: {exc.one_line()}")
            return unknown
        scope = self.client.subaccount
        with Deadline.within(self.clock, GROUP_STEP_SHARE * self.deadline_s) as step:
            deadline = min(deadline, step.at)
            # the newest first: the group of a loop that may still be running, which the share
            # must reach before the groups earlier sessions left listed
            for group_id, subaccount in reversed(places):
                if scope is not None and subaccount != scope:
                    continue
                try:
                    found = self._retry(
                        lambda g=group_id, n=subaccount: self._trigger(g, n),  # type: ignore[misc]
                        deadline,
                        report,
                    )
                except _DeadlinePassed:
                    say(f"order group {group_id} not triggered")
                    continue
                if found:
                    report.order_groups_triggered.append(group_id)
                    say(f"order group {group_id} triggered")
                else:
                    # deleted (or never this account's): nothing of it can rest, nothing to stop
                    unknown.append(group_id)
        return unknown

    def _open_communications(
        self, comms: ClosesRfqs, ticker: str | None, event_ticker: str | None
    ) -> tuple[list[Rfq], list[Quote]]:
        """The account's open RFQs, and its own quotes that may still execute (open, accepted,
        or confirmed: that one's delete is refused, and the proof's listing names it), in the
        switch's scope. With `--event` only the confirmed ones: an open or accepted quote of
        ours executes only on our confirmation, which HALTED refuses; a quote names its market,
        not its event, so it is in the event when its RFQ is listed there."""
        rfqs = list(
            comms.iter_rfqs(
                market_ticker=ticker,
                event_ticker=event_ticker,
                status="open",
                mine=True,
                subaccount=self.client.subaccount,
            )
        )
        quotes: list[Quote] = []
        if event_ticker is None:
            for status in ("open", "accepted", "confirmed"):
                quotes += [
                    q
                    for q in comms.iter_quotes(status=status, mine=True)
                    if ticker is None or q.market_ticker == ticker
                ]
            return rfqs, quotes
        confirmed = list(comms.iter_quotes(status="confirmed", mine=True))
        if confirmed:
            # a confirmed quote's RFQ stays open until the execution
            in_event = {r.rfq_id for r in comms.iter_rfqs(event_ticker=event_ticker, status="open")}
            quotes = [q for q in confirmed if q.rfq_id in in_event]
        return rfqs, quotes

    def _close_communications(
        self,
        ticker: str | None,
        event_ticker: str | None,
        deadline: float,
        report: KillReport,
        say: Callable[[str], None],
    ) -> float | None:  # monotonic
        """Step 2b: delete the open RFQs and our open or accepted quotes in scope. Returns
        when the last delete was answered (None when nothing was sent); a failure is reported
        and never holds the order cancels back."""
        comms = self.communications
        if comms is None:
            return None
        deadline = min(deadline, self.clock.monotonic() + RFQ_STEP_SHARE * self.deadline_s)
        try:
            rfqs, quotes = self._retry(
                lambda: self._open_communications(comms, ticker, event_ticker), deadline, report
            )
        except _DeadlinePassed:
            report.errors.append("RFQs and quotes not listed: none closed")
            raise _RfqSideUnlisted from None
        for rfq in rfqs:
            with suppress(_DeadlinePassed):
                self._retry(partial(comms.delete_rfq, rfq.rfq_id), deadline, report)
                report.rfqs_closed.append(rfq.rfq_id)
        for quote in quotes:
            with suppress(_DeadlinePassed):
                delete = partial(comms.delete_quote, quote.quote_id, rfq_id=quote.rfq_id)
                self._retry(delete, deadline, report)
                report.quotes_cancelled.append(quote.quote_id)
        if rfqs or quotes:
            closed, cancelled = len(report.rfqs_closed), len(report.quotes_cancelled)
            say(f"{closed} RFQ(s) closed, {cancelled} quote(s) cancelled")
            return self.clock.monotonic()
        return None

    def _communications_left(
        self,
        ticker: str | None,
        event_ticker: str | None,
        settled_at: float,  # monotonic
        deadline: float,  # monotonic
        report: KillReport,
    ) -> bool:
        """The proof of step 2b, once it sent a delete (refused or not): a listing requested
        after the read lag of the last delete shows nothing of ours still open. True when
        something is left or nothing could be listed."""
        comms = self.communications
        if comms is None:
            return False
        try:
            self._wait_until(settled_at, deadline)
            rfqs, quotes = self._retry(
                lambda: self._open_communications(comms, ticker, event_ticker), deadline, report
            )
        except _DeadlinePassed:
            report.errors.append("RFQs and quotes not listed again: their closing is not proven")
            return True
        report.communications_left = [r.rfq_id for r in rfqs] + [q.quote_id for q in quotes]
        return bool(report.communications_left)

    def _trigger(self, group_id: str, subaccount: int) -> bool:
        """Trigger one group; False when the exchange does not know it."""
        try:
            self.client.order_groups.trigger_order_group(group_id, subaccount=subaccount)
        except NotFoundError:
            return False
        return True

    def _waiting(
        self,
        ticker: str | None,
        asked: float,  # wall time
        landed: set[str],
    ) -> str | None:
        """Why an empty listing requested at `asked` is no proof, by the state file's order
        intents (None: it is proof). Raises StoreError when they cannot be read."""
        if self._in_flight(ticker, asked):
            # an order whose intent is still pending may land after this listing
            return "an order of this state file is still awaiting its answer"
        late = self._may_still_land(ticker, landed)
        if not late:
            return None
        # a request held in the network can land after this listing
        from kalshi_cli.client.client import LANDING_WINDOW_S

        return (
            f"{late} order(s) whose answer was lost may still land "
            f"(up to {LANDING_WINDOW_S:g}s after the answer was lost)"
        )

    def _in_flight(self, ticker: str | None, asked: float) -> bool:  # wall time
        """Could an order of this state file be missing from a listing requested at `asked`?
        A `pending` intent younger than IN_FLIGHT_S may still land (an older one is a crash's
        leftover), and one acknowledged (`resting`) within the read lag may not be listed yet."""
        if self.store is None:
            return False
        unsettled = self.store.orders.intents(status=[PENDING, RESTING], ticker=ticker)
        now = self.clock.wall()
        return any(
            now - intent.created_at < IN_FLIGHT_S
            if intent.status == PENDING
            else intent.updated_at > asked - self.read_lag_s
            for intent in unsettled
        )

    def _may_still_land(self, ticker: str | None, landed: set[str]) -> int:
        """How many orders of this state file whose answer was lost (`unknown`) could still
        reach the exchange: none marked more than LANDING_WINDOW_S ago (its signature has
        expired), and none a listing of this run showed (it landed and was cancelled)."""
        from kalshi_cli.client.client import LANDING_WINDOW_S

        if self.store is None:
            return 0
        lost = self.store.orders.intents(status=UNKNOWN, ticker=ticker)
        now = self.clock.wall()
        return sum(
            1
            for intent in lost
            if intent.client_order_id not in landed and now - intent.updated_at < LANDING_WINDOW_S
        )

    def _unreadable(
        self,
        exc: StoreError,
        asked: float,  # monotonic
        halted_at: float | None,  # monotonic
    ) -> str | None:
        """Why an empty listing requested at `asked` is no proof when the state file's order
        intents cannot be read (None: it is proof). Then only time can say: no intent is
        recorded once HALTED is, and one recorded before lands within IN_FLIGHT_S, so a
        listing whose read lag reaches past that since HALTED shows every one. Without HALTED
        recorded, a running trade loop may still place, and no listing is proof."""
        why = f"the state file's order intents cannot be read ({exc.one_line()})"
        if halted_at is None:
            return f"{why} and HALTED is not recorded: a running trade loop may still place orders"
        if asked - self.read_lag_s >= halted_at + IN_FLIGHT_S:
            return None
        return (
            f"{why}: an order of it may still land until {IN_FLIGHT_S:g}s after HALTED was recorded"
        )

    def _count_cancelled_by_cancel_all(
        self, gone: list[Order], deadline: float, report: KillReport
    ) -> None:
        """The orders the exchange's cancel-all took off the book, told apart from those that
        filled: an order was cancelled with what its listed count leaves after all its fills.
        Fills are read from the oldest order's creation (a listing of fills is never older than
        a listing of orders, and by now it is past the read lag of the cancel-all)."""
        if not gone:
            return
        try:
            since: int | None = (
                min(int(parse_iso(o.created_time or "").timestamp()) for o in gone) - 1
            )
        except ValueError:
            since = None  # a creation time that does not parse: every fill
        try:
            fills = self._retry(
                lambda: list(self.client.portfolio.iter_fills(min_ts=since)), deadline, report
            )
        except _DeadlinePassed:
            report.errors.append(
                f"{len(gone)} order(s) gone after the cancel-all, not counted: their fills could "
                "not be read (`kalshi reconcile` settles them)"
            )
            return
        filled: dict[str, Decimal] = {}
        for fill in fills:
            filled[fill.order_id] = filled.get(fill.order_id, ZERO) + fill.count
        for order in gone:
            left = order.fill_count + order.remaining_count - filled.get(order.order_id, ZERO)
            if left > 0:
                report.cancelled.append(order.order_id)
                report.contracts_cancelled += left

    def _wait_until(self, moment: float, deadline: float) -> None:  # monotonic
        delay = moment - self.clock.monotonic()
        if delay <= 0:
            return
        if self.clock.monotonic() + delay >= deadline:
            raise _DeadlinePassed
        self.clock.sleep(delay)

    def _batch_cancel(self, chunk: list[Order] | list[IntentRecord]) -> list[CancelResult]:
        """A listing covers every subaccount, and a cancel item the exchange reads as
        subaccount 0's unless it names another: each item names its order's."""
        pairs: list[tuple[str, str | None]] = [(o.order_id or "", o.ticker) for o in chunk]
        elsewhere = {o.order_id or "": o.subaccount for o in chunk if o.subaccount}
        if elsewhere:
            return self.client.orders.batch_cancel(pairs, subaccounts=elsewhere)
        return self.client.orders.batch_cancel(pairs)

    def _cancel_batch(
        self, orders: list[Order] | list[IntentRecord], deadline: float, report: KillReport
    ) -> None:
        for start in range(0, len(orders), self.batch_size):
            chunk = orders[start : start + self.batch_size]
            results = self._retry(
                lambda chunk=chunk: self._batch_cancel(chunk),  # type: ignore[misc]
                deadline,
                report,
            )
            for r in results:
                if r.error is None:
                    report.cancelled.append(r.order_id)
                    report.contracts_cancelled += r.reduced_by
                else:
                    report.errors.append(f"{r.order_id}: {r.error}")

    def _retry(self, call: Callable[[], T], deadline: float, report: KillReport) -> T:
        """`call`'s result, tried again on a failure that may pass (a 429, a 5xx, no answer,
        an answer that cannot be read) until `deadline`; raises _DeadlinePassed when it is
        spent, or at once on a failure that will not pass. Only a result read in full is
        returned: a listing that cannot be read is never taken for an empty one."""
        from kalshi_cli.client.retry import nothing_sent  # the client: not for `config show`

        attempt = 0
        while True:
            if self.clock.monotonic() >= deadline:
                raise _DeadlinePassed
            try:
                result = call()
                report.unreachable = False
                self._unreachable_since = None
                return result
            except NotSentPastDeadline:
                # its deadline kept it from going out: it says nothing of the exchange, and the
                # failure before it is the one the report names
                raise _DeadlinePassed from None
            except MAY_PASS as exc:
                # the one rule of the failures that pass (the stop's listings take it too): an
                # answer garbled by a proxy or cut short passes as a 503 does
                report.errors.append(exc.one_line())
                report.unreachable = isinstance(exc, TransportError)
                # counted across the run's steps: each step would otherwise start its own wait
                if not nothing_sent(exc):
                    self._unreachable_since = None
                elif self._unreachable_since is None:
                    self._unreachable_since = self.clock.monotonic()
                elif self.clock.monotonic() - self._unreachable_since >= UNREACHABLE_GIVE_UP_S:
                    report.errors.append(
                        f"no connection reached the exchange for {UNREACHABLE_GIVE_UP_S:g}s: "
                        "given up before the deadline"
                    )
                    raise _DeadlinePassed from None
            except ApiError as exc:
                # a 4xx other than 429 will not get better by retrying; and it is an answer
                report.errors.append(exc.one_line())
                report.unreachable = False
                raise _DeadlinePassed from None
            except KalshiError as exc:
                report.errors.append(exc.one_line())
                raise _DeadlinePassed from None
            attempt += 1
            self._pause(attempt, deadline)

    def _pause(self, attempt: int, deadline: float) -> None:  # monotonic
        """Back off before trying again; past the deadline, stop."""
        delay = _BACKOFF.next_delay(attempt, Deadline(self.clock, deadline), self._rng)
        if delay is None:
            raise _DeadlinePassed
        self.clock.sleep(delay)


def run_kill_switch(
    client: CancelsOrders,
    open_store: Callable[[], Store],
    clock: Clock,
    *,
    deadline_s: float = DEFAULT_DEADLINE_S,
    read_lag_s: float = DEFAULT_READ_LAG_S,
    ticker: str | None = None,
    event_ticker: str | None = None,
    source: str = "cancel-all",
    on_progress: Callable[[str], None] | None = None,
    communications: ClosesRfqs | None = None,
    pace: Callable[[], Pacing] | None = None,
) -> KillReport:
    """Halt, cancel, prove, whatever the state file does: `open_store` failing is named in the
    report (`state_error`) and the cancels go out anyway. `kalshi cancel-all` and the
    dashboard's kill key both pull the switch through here."""
    store = None
    state_error = None
    state_fault: KalshiError | None = None
    try:
        store = open_store()
    except KalshiError as exc:
        state_error, state_fault = exc.one_line(), exc
    try:
        switch = KillSwitch(
            client,
            store,
            clock,
            deadline_s=deadline_s,
            state_error=state_error,
            read_lag_s=read_lag_s,
            communications=communications,
            state_fault=state_fault,
            pace=pace,
        )
        return switch.run(
            ticker=ticker, event_ticker=event_ticker, source=source, on_progress=on_progress
        )
    finally:
        if store is not None:
            store.close()


class _Trail:
    """What the kill switch writes to the state file, each part once, best effort.

    A failure to write is reported (the first reason is kept) and never raised: the cancels
    matter more than the record of them."""

    def __init__(
        self,
        store: Store | None,
        report: KillReport,
        *,
        reason: str,
        source: str,
        started: dict[str, Any],
    ) -> None:
        self.store = store
        self.report = report
        self.reason = reason
        self.source = source
        self.started = started
        self.locked = False  # a write failed on another writer's lock

    def halt(self, wait_s: float) -> None:
        """HALTED and the `kill_switch` event, unless already recorded."""
        store = self.store
        if store is None or self.report.halted:
            return
        try:
            with store.busy_timeout(wait_s), store.transaction():
                store.trading.set_trading_state("HALTED", reason=self.reason, source=self.source)
                store.events.log_event("kill_switch", self.started)
        except StoreError as exc:
            self._failed(exc)
            return
        self.report.halted = True

    def result(self, wait_s: float) -> None:
        """The orders confirmed cancelled and the `kill_switch_result` event, in one go."""
        store, report = self.store, self.report
        if store is None or report.result_recorded:
            return
        try:
            with store.busy_timeout(wait_s), store.transaction():
                for order_id in report.cancelled:
                    book_cancel(store, order_id)
                store.events.log_event("kill_switch_result", report.to_json())
        except StoreError as exc:
            self._failed(exc)
            return
        report.result_recorded = True

    def _failed(self, exc: StoreError) -> None:
        self.locked = self.locked or _locked(exc)
        if self.report.state_error is None:
            self.report.state_error = exc.one_line()


# Why an empty listing is no proof when HALTED could not be recorded for another writer's lock
# (the last error of the report, which `kalshi cancel-all` prints after NOT PROVEN).
LOCK_HELD = (
    "HALTED is not recorded: another process held the state file's lock for the whole run, and "
    "a trade loop waiting for that lock places its next order as soon as it gets it "
    "(find the process holding the state file and stop it, then run `kalshi cancel-all` again)"
)


def _locked(exc: BaseException | None) -> bool:
    """Did the state file refuse for another writer's lock (`StateFileLocked`: every SQLite
    BUSY or LOCKED failure, store/connection.py `wrap_error`)? A writer exists, and it may be a
    trade loop about to record an intent. A read-only or garbled file refuses everyone, a
    loop's intent included, and a loop sends no order whose intent it could not record."""
    from kalshi_cli.store import StateFileLocked

    return isinstance(exc, StateFileLocked)


# The order groups of `kalshi trade` sessions, kept in the state file so that a kill switch run
# from any process finds them. Each entry is a group's id (on subaccount 0) or
# `{"order_group_id": id, "subaccount": n}`: a trigger acts on subaccount 0 unless it names another.
ORDER_GROUPS_KEY = "trade_order_groups"


def session_order_group_places(store: Store) -> list[tuple[str, int]]:
    """(id, subaccount) of the order groups the trade loop created and has not deleted,
    oldest first."""
    text = store.events.get_kv(ORDER_GROUPS_KEY)
    if not text:
        return []
    try:
        entries = json.loads(text)
    except ValueError:
        return []
    if not isinstance(entries, list):
        return []
    places = []
    for entry in entries:
        if isinstance(entry, str) and entry:
            places.append((entry, 0))
        elif isinstance(entry, dict):
            group_id, subaccount = entry.get("order_group_id"), entry.get("subaccount")
            if isinstance(group_id, str) and group_id and type(subaccount) is int:
                places.append((group_id, subaccount))
    return places


ORDER_GROUP_ACTIONS_KEY = "order_group_actions"


def note_order_group_action(store: Store, group_id: str, action: str, by: str) -> None:
    """Record that `by` (a command) `action`ed (`triggered`, `reset`) a group: the exchange's
    answer for a group does not say whether it is triggered, so `order-group show` says what
    this state file saw last."""
    with store.transaction():
        actions = _order_group_actions(store)
        actions[group_id] = {"action": action, "at": store.clock.wall(), "by": by}
        store.events.set_kv(ORDER_GROUP_ACTIONS_KEY, json.dumps(actions))


def order_group_action(store: Store, group_id: str) -> dict[str, Any] | None:
    """What this state file saw done to the group last ({action, at, by}), or None."""
    return _order_group_actions(store).get(group_id)


def _order_group_actions(store: Store) -> dict[str, dict[str, Any]]:
    try:
        actions = json.loads(store.events.get_kv(ORDER_GROUP_ACTIONS_KEY) or "{}")
    except ValueError:
        return {}
    return actions if isinstance(actions, dict) else {}


def session_order_groups(store: Store) -> list[str]:
    """The ids of the order groups the trade loop created and has not deleted, oldest first."""
    return [group_id for group_id, _ in session_order_group_places(store)]


def _write_places(store: Store, places: list[tuple[str, int]]) -> None:
    entries = [g if n == 0 else {"order_group_id": g, "subaccount": n} for g, n in places]
    store.events.set_kv(ORDER_GROUPS_KEY, json.dumps(entries))


def remember_order_group(store: Store, group_id: str, *, subaccount: int = 0) -> None:
    with store.transaction():
        places = session_order_group_places(store)
        if group_id not in {g for g, _ in places}:
            _write_places(store, [*places, (group_id, subaccount)])


def forget_order_group(store: Store, group_id: str) -> None:
    with store.transaction():
        places = session_order_group_places(store)
        if group_id in {g for g, _ in places}:
            _write_places(store, [(g, n) for g, n in places if g != group_id])

"""From a strategy's decision to the exchange, and fills back into the loop's view.

An intent goes: risk `evaluate` (in memory, the trading state read fresh from the state file)
-> cancels of the orders it `replaces` (the intent is dropped unless every cancel succeeded) ->
`OrderService.submit` (intent written, request sent once, answer written). No REST call is
made on the way, so the time from a book change to the order on the wire is the strategy, the
risk rules, one SQLite write and one HTTP POST. After every exchange call the API error guard
hears how it went; while it asks for a backoff, nothing is sent.

An order whose answer was lost (a timeout, a dropped connection, a 5xx) and that
`OrderService` could not find right away is never sent again: it is looked up by its client
order id once a second until the exchange lists it (then it counts as resting or filled, and
its fills are its strategy's) or until it can no longer land: the exchange acts on a request
only while its signature timestamp is inside the acceptance window, so LANDING_WINDOW_S after
the failure (the window plus a margin, see client/base.py) an order still not listed was never
placed. A request held in the network can land late within that time, so until then its
market takes no new order, except reducing ones (nautilus_trader's rule: no further order
commands while a write's outcome is unknown), and a strategy that still sees no position there
cannot double it.

Fills arrive on the `fill` channel, but that message carries no fill id, so it is a signal, not
the record: each one (and each order answer that reports a fill, and a timer as the fallback for
a lost message) makes the loop read new fills from `GET /portfolio/fills`. Each fill is applied
once (by fill id) to the in-memory view and written to the state file with its realized P&L,
which is what the daily circuit breaker adds up; the same transaction moves its order's row on
(filled, remaining, executed), as a `user_orders` message does with the exchange's own counts,
so the state file never keeps a filled quote `resting`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from kalshi_cli.client.client import LANDING_WINDOW_S
from kalshi_cli.errors import (
    ApiError,
    BadRequestError,
    KalshiError,
    NotFoundError,
    OrderOutcomeUnknown,
    TradingHaltedError,
    TransportError,
)
from kalshi_cli.models import ZERO, Action, Side, from_book, parse_count, to_book
from kalshi_cli.pnl import fill_record_from_api, fill_subaccount
from kalshi_cli.reconcile import NOT_ON_EXCHANGE
from kalshi_cli.risk import RiskEngine
from kalshi_cli.risk.state import halt
from kalshi_cli.runner.eventlog import EventLog
from kalshi_cli.runner.ledger import LoopLedger
from kalshi_cli.runner.order_group import GROUP_TRIGGERED
from kalshi_cli.runner.portfolio import OpenOrder, Portfolio, open_order
from kalshi_cli.store.errors import OrderNotRecorded
from kalshi_cli.store.records import CANCELED, EXECUTED, RESTING, SENT_STATUSES
from kalshi_cli.strategies import Cancel, Intent

if TYPE_CHECKING:
    from kalshi_cli.clock import Clock
    from kalshi_cli.models import Fill, Order
    from kalshi_cli.orders import OrderClient, OrderService
    from kalshi_cli.store import FillRecord, IntentRecord, Store


MAX_REMEMBERED = 10_000

# why an order of unknown outcome is left after a stop under the session's order group
ONE_LOOK = "not found at the one look; the session's order group refuses it if it lands"


@dataclass(frozen=True)
class Unknown:
    ticker: str
    since: float  # monotonic, when the failure was seen (after the request was signed)


def wait_out_unknown(
    unknown: dict[str, Unknown],
    look: Callable[[], None],
    clock: Clock,
    log: EventLog,
    abandon: threading.Event | None = None,
) -> None:
    """What a stop without an order group does for an order that may still land: `look` (which
    removes from `unknown` each it settles) once a second until none is left, each left is
    LANDING_WINDOW_S past its failure (a lookup failed), or `abandon` is set."""
    if unknown:
        waits = {"client_order_ids": sorted(unknown), "at_most_s": LANDING_WINDOW_S}
        log.emit("shutdown_waits_unknown", waits)
    while unknown:
        if abandon is not None and abandon.is_set():
            return
        look()
        now = clock.monotonic()
        if all(now - lost.since >= LANDING_WINDOW_S for lost in unknown.values()):
            return  # each could be looked up no more: a lookup failed
        clock.sleep(1.0)


@dataclass
class Sent:
    """What the loop remembers of an order it sent, for fill latency and slippage."""

    client_order_id: str
    side: Side
    action: Action
    price: Decimal
    model_fair: Decimal
    strategy: str
    sent_at: float  # monotonic


@dataclass
class Counters:
    orders: int = 0
    fills: int = 0
    denied: int = 0
    cancels: int = 0
    errors: int = 0


class Executor:
    def __init__(
        self,
        *,
        client: OrderClient,
        store: Store,
        orders: OrderService,
        risk: RiskEngine,
        ledger: LoopLedger,
        portfolio: Portfolio,
        log: EventLog,
        clock: Clock,
        dry_run: bool = False,
    ) -> None:
        self.client = client
        self.store = store
        self.orders = orders
        self.risk = risk
        self.ledger = ledger
        self.portfolio = portfolio
        self.log = log
        self.clock = clock
        self.dry_run = dry_run
        self.counters = Counters()
        # order id -> what was sent, for every order this run placed (the oldest forgotten past
        # MAX_REMEMBERED: a loop runs for weeks; a fill of a forgotten order is attributed
        # from the state file instead)
        self.sent: OrderedDict[str, Sent] = OrderedDict()
        self.backoff_until = 0.0  # monotonic
        self.safe_mode_tripped = False  # set when an error puts trading into SAFE_MODE
        # client order id -> an order whose answer was lost; its market takes no new
        # (non-reducing) order until the exchange says what became of it
        self.unknown: dict[str, Unknown] = {}
        self.fills_due = False
        self._cancel_shortfalls = 0  # cancels that found less resting than the view held
        self._seen: dict[str, float] = {}  # fill id applied -> its time
        # order id -> contracts filled, counted fill by fill, for the orders whose state-file
        # row may still be resting (replayed at start for those, then kept as fills arrive)
        self._filled: dict[str, Decimal] = {}
        self._last_fill_ts = clock.wall()
        # the session's order group (runner/order_group.py): every order goes into it
        self.order_group_id: str | None = None

    # ---------------------------------------------------------------- guard

    @property
    def backing_off(self) -> bool:
        return self.clock.monotonic() < self.backoff_until

    def _ok(self) -> None:
        self.risk.api_guard.record_success()

    def _failed(self, error: BaseException) -> None:
        self.counters.errors += 1
        verdict = self.risk.api_guard.record_error(error)
        if verdict.delay_s > 0:
            self.backoff_until = self.clock.monotonic() + verdict.delay_s
        if verdict.safe_mode:
            self.safe_mode_tripped = True

    def _group_triggered(self, intent: Intent, exc: ApiError) -> None:
        """The exchange refused the order because the session's order group is triggered (its
        contracts limit hit, or a kill switch): stop placing, as the kill switch would."""
        reason = f"the exchange triggered order group {self.order_group_id}"
        self.log.emit(
            "order_group_triggered",
            {**_intent_fields(intent), "order_group_id": self.order_group_id, "error": exc.message},
        )
        halt(self.ledger, reason=reason, source="order group")

    def lift_backoff(self) -> None:
        """`kalshi resume`: new orders and fill reads may go out again at once."""
        if self.backing_off:
            self.log.emit("backoff_lifted", {"reason": "trading resumed"})
        self.backoff_until = 0.0

    # ---------------------------------------------------------------- intents

    def execute(self, intent: Intent, *, last_data_at: float | None, in_sync: bool) -> bool:
        """Evaluate and, when allowed, send; True when an order went out (or would have)."""
        return self._execute(intent, last_data_at=last_data_at, in_sync=in_sync) is not None

    def _execute(
        self, intent: Intent, *, last_data_at: float | None, in_sync: bool
    ) -> Decimal | None:
        """What `execute` does; the count filled at once (all of it in a dry run), or None
        when nothing went out."""
        self.log.emit("signal", _intent_fields(intent))
        if self.backing_off:
            # an earlier call of this same pass failed: the rest of the pass waits it out too
            self.log.emit(
                "intent_held", {"ticker": intent.ticker, "reason": "backing off after API errors"}
            )
            return None
        if not intent.reduce_only and self.holds_unknown(intent.ticker):
            self.log.emit(
                "intent_held",
                {"ticker": intent.ticker, "reason": "an order of unknown outcome in this market"},
            )
            return None
        if self._denied(intent, last_data_at=last_data_at, in_sync=in_sync):
            return None
        if self.dry_run:
            self.log.emit("dry_run_order", _intent_fields(intent))
            return intent.count
        if intent.replaces:
            shortfalls = self._cancel_shortfalls
            if not self._cancel_all(intent.ticker, intent.replaces, "replaced"):
                self.log.emit(
                    "intent_dropped",
                    {"ticker": intent.ticker, "reason": "a replaced order could not be cancelled"},
                )
                return None
            if self._cancel_shortfalls != shortfalls:
                # a replaced order filled before its cancel landed, and the view has not seen
                # that fill: read it, and ask the risk engine again with it counted
                self.sync_fills()
                if self.backing_off or self._denied(
                    intent, last_data_at=last_data_at, in_sync=in_sync
                ):
                    return None
        return self._submit(intent)

    def _denied(self, intent: Intent, *, last_data_at: float | None, in_sync: bool) -> bool:
        ctx = self.risk.context(
            self.portfolio.view(intent.ticker),
            total_exposure=self.portfolio.total_exposure(),
            last_data_at=last_data_at,
            in_sync=in_sync,
        )
        if self.risk.evaluate(intent, ctx):
            self.counters.denied += 1
            return True
        return False

    def execute_group(
        self, intents: list[Intent], *, last_data_at: float | None, in_sync: bool
    ) -> bool:
        """Legs that only make sense together (an arbitrage pair). Every leg must pass the risk
        engine with the legs before it counted (their order-rate slots, the exposure they add),
        or none is sent; then each leg goes out only once the one before it filled in full, so
        a leg denied, rejected or killed at the exchange never leaves its partner alone. The
        one leg risk left (the first fills, the second is then killed) is the position limit's
        and the stop-loss's."""
        if self.risk.rate_cap.count() + len(intents) > self.risk.rate_cap.limit:
            return self._drop_group(intents[0], "the order-rate cap has no room for every leg")
        added = ZERO
        for intent in intents:
            if not intent.reduce_only and self.holds_unknown(intent.ticker):
                return self._drop_group(intent, "an order of unknown outcome here")
            view = self.portfolio.view(intent.ticker)
            ctx = self.risk.context(
                view,
                total_exposure=self.portfolio.total_exposure() + added,
                last_data_at=last_data_at,
                in_sync=in_sync,
            )
            if self.risk.evaluate(intent, ctx):
                self.counters.denied += 1
                return self._drop_group(intent, "a leg was denied by the risk engine")
            added += view.after(intent).exposure() - view.exposure()
        for n, intent in enumerate(intents):
            filled = self._execute(intent, last_data_at=last_data_at, in_sync=in_sync)
            if filled is None or filled < intent.count:
                if n + 1 < len(intents):
                    self.log.emit(
                        "group_broken",
                        {
                            "ticker": intent.ticker,
                            "reason": "a leg did not fill in full; the legs after it not sent",
                        },
                    )
                return n > 0 or filled is not None
        return True

    def _drop_group(self, intent: Intent, reason: str) -> bool:
        self.log.emit("group_dropped", {"ticker": intent.ticker, "reason": reason})
        return False

    def _submit(self, intent: Intent) -> Decimal | None:
        """Send it once; the count filled at once, or None when it did not go out."""
        from kalshi_cli.client.requests import CreateOrder

        book = to_book(intent.side, intent.action, intent.price)
        create = CreateOrder(
            ticker=intent.ticker,
            book_side=book.book_side,
            price=book.yes_price,
            count=intent.count,
            time_in_force=intent.time_in_force,
            post_only=intent.post_only,
            reduce_only=intent.reduce_only,
            order_group_id=self.order_group_id,
        )
        sent_at = self.clock.monotonic()
        try:
            outcome = self.orders.submit(
                create,
                side=intent.side,
                action=intent.action,
                strategy=intent.strategy,
                model_fair=intent.model_fair,
                reason=intent.reason,
            )
        except OrderOutcomeUnknown as exc:
            self._failed(exc)
            self.unknown[create.client_order_id] = Unknown(intent.ticker, self.clock.monotonic())
            self.fills_due = True
            self.log.emit(
                "order_unknown",
                {
                    **_intent_fields(intent),
                    "client_order_id": create.client_order_id,
                    "error": exc.message,
                },
            )
            return None
        except OrderNotRecorded as exc:
            self._not_recorded(intent, exc)
            raise
        except TradingHaltedError as exc:
            # HALTED (or SAFE_MODE) written after the risk engine read the state: the intent
            # was refused in the transaction that would have recorded it, and nothing was sent
            self.log.emit("intent_dropped", {"ticker": intent.ticker, "reason": exc.message})
            return None
        except (ApiError, TransportError) as exc:
            if self.order_group_id and isinstance(exc, ApiError) and exc.code == GROUP_TRIGGERED:
                self._group_triggered(intent, exc)
                return None
            self._failed(exc)
            self.log.emit("order_rejected", {**_intent_fields(intent), "error": exc.message})
            return None
        finally:
            self.risk.record_sent()
        self._ok()
        self.counters.orders += 1
        if outcome.order_id:
            if len(self.sent) >= MAX_REMEMBERED:
                self.sent.popitem(last=False)
            self.sent[outcome.order_id] = Sent(
                create.client_order_id,
                intent.side,
                intent.action,
                intent.price,
                intent.model_fair,
                intent.strategy,
                sent_at,
            )
        self.log.emit(
            "order_placed",
            {
                **_intent_fields(intent),
                "client_order_id": create.client_order_id,
                "order_id": outcome.order_id,
                "status": outcome.status,
                "filled": outcome.fill_count,
                "remaining": outcome.remaining_count,
            },
        )
        if outcome.order_id and outcome.remaining_count > 0 and outcome.status == "resting":
            self.portfolio.add_order(
                OpenOrder(
                    outcome.order_id,
                    create.client_order_id,
                    intent.ticker,
                    intent.side,
                    intent.action,
                    intent.price,
                    outcome.remaining_count,
                    intent.strategy,
                )
            )
        if outcome.fill_count > 0:
            # the position must be known before the next decision in this market
            self.sync_fills()
        return outcome.fill_count

    def _not_recorded(self, intent: Intent, exc: OrderNotRecorded) -> None:
        """The order reached the exchange (or may have) and the state file could not take its
        answer: the loop still knows of it, so the stop that follows withdraws it
        (runner/state_fault.py)."""
        if exc.order_id is None:
            self.unknown[exc.client_order_id] = Unknown(intent.ticker, self.clock.monotonic())
            return
        if exc.remaining > 0:
            book = to_book(intent.side, intent.action, intent.price)
            self.portfolio.add_order(
                open_order(
                    order_id=exc.order_id,
                    client_order_id=exc.client_order_id,
                    ticker=intent.ticker,
                    book_side=book.book_side,
                    yes_price=book.yes_price,
                    side=intent.side,
                    remaining=exc.remaining,
                    strategy=intent.strategy,
                )
            )
        self.sent[exc.order_id] = Sent(
            exc.client_order_id,
            intent.side,
            intent.action,
            intent.price,
            intent.model_fair,
            intent.strategy,
            self.clock.monotonic(),
        )

    def holds_unknown(self, ticker: str) -> bool:
        return any(u.ticker == ticker for u in self.unknown.values())

    def resolve_unknown(self, *, guarded: bool = True) -> None:
        """Look each order of unknown outcome up by its client order id: found, it takes the
        exchange's state (and counts as resting or filled); still missing LANDING_WINDOW_S
        after its failure, it can no longer land and was never placed. Never sent again.
        `guarded=False` (a lookup during the API error guard's backoff, while trading is
        blocked): the guard hears neither its failure nor its success, so a storm of errors
        neither extends the backoff nor trips SAFE_MODE again through these lookups."""
        for client_order_id, lost in list(self.unknown.items()):
            try:
                order = self.client.find_order_by_client_id(client_order_id, lost.ticker)
            except KalshiError as exc:
                if guarded:
                    self._failed(exc)
                return
            if guarded:
                self._ok()
            if order is None:
                if self.clock.monotonic() - lost.since < LANDING_WINDOW_S:
                    continue
                reason = (
                    f"{NOT_ON_EXCHANGE} {LANDING_WINDOW_S:g}s after its answer was lost, past "
                    "the signature window; never placed"
                )
                self.store.mark_rejected(client_order_id, reason=reason)
                status = "rejected"
            else:
                self._adopt(client_order_id, order)
                status = order.status
            del self.unknown[client_order_id]
            self.log.emit(
                "order_resolved",
                {"ticker": lost.ticker, "client_order_id": client_order_id, "status": status},
            )

    def see_unknown_through(
        self, abandon: threading.Event | None = None, *, wait: bool = True
    ) -> list[str]:
        """At shutdown: look the orders of unknown outcome up once a second until each is found
        (it then counts as resting or filled, so the shutdown's cancels reach it) or can no
        longer land (LANDING_WINDOW_S after its failure). A stop that returned at once would
        leave an order that lands afterwards resting with nobody to manage it, and without an
        order group nothing on the exchange's side stops it. `wait=False`: one look only (the
        session's order group, deleted or triggered after the stop, refuses what lands later).
        Returns the client order ids still unknown, each logged: when `abandon` is set (a
        second SIGINT or SIGTERM: the person will not wait; `shutdown_abandoned`), when the
        window has passed with the exchange not answering the lookups, or after the one look
        (`shutdown_unknown_left`; `kalshi reconcile` settles them)."""
        if not wait:
            self.resolve_unknown(guarded=False)
        else:
            look = partial(self.resolve_unknown, guarded=False)
            wait_out_unknown(self.unknown, look, self.clock, self.log, abandon)
        left = sorted(self.unknown)
        if left and abandon is not None and abandon.is_set():
            self.log.emit(
                "shutdown_abandoned", {"unknown_left": left, "reason": "interrupted again"}
            )
        elif left:
            reason = "the exchange did not answer the lookups" if wait else ONE_LOOK
            self.log.emit("shutdown_unknown_left", {"unknown_left": left, "reason": reason})
        return left

    def _adopt(self, client_order_id: str, order: Order) -> None:
        self.store.mark_sent(
            client_order_id,
            order_id=order.order_id,
            status=order.status,
            fill_count=order.fill_count,
            remaining_count=order.remaining_count,
        )
        intent = self.store.get_intent(client_order_id)
        if intent is not None:
            # fills read while the order was still unknown here carry no intent yet
            self.store.attribute_fills(
                order.order_id, client_order_id=client_order_id, strategy=intent.strategy
            )
        if order.status == "resting" and intent is not None:
            self.portfolio.add_order(
                open_order(
                    order_id=order.order_id,
                    client_order_id=client_order_id,
                    ticker=order.ticker,
                    book_side=order.book_side,
                    yes_price=order.yes_price,
                    side=intent.side,
                    remaining=order.remaining_count,
                    strategy=intent.strategy,
                )
            )
        if order.fill_count > 0:
            self.fills_due = True

    # ---------------------------------------------------------------- cancels

    def cancel(self, decision: Cancel) -> bool:
        if self.dry_run:
            self.log.emit(
                "dry_run_cancel", {"ticker": decision.ticker, "order_id": decision.order_id}
            )
            return True
        return self._cancel_all(decision.ticker, (decision.order_id,), decision.reason)

    def _cancel_all(self, ticker: str, order_ids: Iterable[str], reason: str) -> bool:
        ok = True
        for order_id in order_ids:
            ok = self.cancel_order(ticker, order_id, reason) and ok
        return ok

    def cancel_order(
        self, ticker: str, order_id: str, reason: str, *, withdraw: bool = False
    ) -> bool:
        """Cancel one order. A `withdraw` (a quote pulled because trading is blocked) goes out
        whatever the backoff, and its failure neither extends the backoff nor counts toward
        SAFE_MODE: the loop tries it again on its next pass, and the client's rate limiter
        still paces it."""
        try:
            result = self.client.cancel_order(order_id, ticker=ticker)
        except KalshiError as exc:
            if withdraw:
                self.counters.errors += 1
            else:
                self._failed(exc)
            self.log.emit(
                "cancel_failed", {"ticker": ticker, "order_id": order_id, "error": exc.one_line()}
            )
            if isinstance(exc, (BadRequestError, NotFoundError)):
                self._refresh_order(order_id)
            return False
        self._ok()
        self.counters.cancels += 1
        believed = self.portfolio.orders.get(order_id)
        if believed is not None and result.reduced_by < believed.remaining:
            # fewer cancelled than the view had resting: the rest filled, unseen so far
            self._cancel_shortfalls += 1
            self.fills_due = True
        self.store.update_order(order_id=order_id, status="canceled", remaining_count=ZERO)
        self.portfolio.update_order(order_id, remaining=ZERO, status="canceled")
        self.log.emit(
            "order_cancelled",
            {
                "ticker": ticker,
                "order_id": order_id,
                "reduced_by": result.reduced_by,
                "reason": reason,
            },
        )
        return True

    def _refresh_order(self, order_id: str) -> None:
        """A cancel refused because the order is no longer resting (filled, or gone): the
        `user_orders` message saying so was missed or is still on its way, so ask for the
        order once. Left as it was, the loop would count it as resting and try to cancel it on
        every tick."""
        try:
            order = self.client.get_order(order_id)
        except NotFoundError:
            self.portfolio.update_order(order_id, remaining=ZERO, status="canceled")
            return
        except KalshiError as exc:
            self._failed(exc)
            return
        self._ok()
        if order.status == "resting":
            # the refusal says it no longer rests: this read lags the write that ended it
            # (reads lag writes on Kalshi). Not written back; the view stops counting it, and
            # fills decide what it became
            self.portfolio.update_order(order_id, remaining=ZERO, status="canceled")
            self.fills_due = True
            return
        self.store.update_order(
            order_id=order_id,
            status=order.status,
            fill_count=order.fill_count,
            remaining_count=order.remaining_count,
        )
        self.portfolio.update_order(order_id, remaining=order.remaining_count, status=order.status)
        if order.fill_count > 0:
            self.fills_due = True

    # ---------------------------------------------------------------- fills

    def sync_fills(self, *, since_ts: int | None = None) -> int:
        """Read new fills from the exchange; apply and record each one once."""
        self.fills_due = False
        try:
            fills = list(
                self.client.iter_fills(min_ts=since_ts if since_ts is not None else self._since())
            )
        except KalshiError as exc:
            self._failed(exc)
            self.fills_due = True
            self.log.emit("fill_sync_failed", {"error": exc.one_line()})
            return 0
        self._ok()
        # the listing covers every subaccount: another's fills are another book, not the loop's
        here = self.client.subaccount or 0
        new = [
            f
            for f in fills
            if f.ticker in self.portfolio.markets
            and fill_subaccount(f, here) == here
            and not self._known(f)
        ]
        new.sort(key=lambda f: (f.ts or 0, f.created_time))
        for fill in new:
            self._apply(fill)
        return len(new)

    def _since(self) -> int:
        # fills are read with a margin: a fill of the same second may land after a read
        return int(self._last_fill_ts) - 2

    def _known(self, fill: Fill) -> bool:
        return fill.fill_id in self._seen

    def load_seen(self, records: Iterable[FillRecord]) -> None:
        """The fills already applied (replayed from the state file at start)."""
        open_ids = set(self.portfolio.orders)
        for record in records:
            self._seen[record.fill_id] = record.ts
            self._last_fill_ts = max(self._last_fill_ts, record.ts)
            if record.order_id in open_ids:
                self._filled[record.order_id] = (
                    self._filled.get(record.order_id, ZERO) + record.count
                )
        self._forget_old_fills()

    def _forget_old_fills(self) -> None:
        """Fills older than the read window are never listed again, so their ids need not be
        kept (a state file holds every fill ever; the loop only the recent ones)."""
        if len(self._seen) < MAX_REMEMBERED:
            return
        horizon = self._since() - 60
        self._seen = {k: ts for k, ts in self._seen.items() if ts >= horizon}

    def _apply(self, fill: Fill) -> None:
        sent = self.sent.get(fill.order_id)
        intent = self.store.intent_by_order_id(fill.order_id)
        if sent is None and intent is None and self.holds_unknown(fill.ticker):
            # perhaps an order of unknown outcome that landed late: find it before the fill
            # is recorded, so the fill is its strategy's
            self.resolve_unknown()
            intent = self.store.intent_by_order_id(fill.order_id)
        strategy = sent.strategy if sent else (intent.strategy if intent else None)
        coid = sent.client_order_id if sent else (intent.client_order_id if intent else None)
        record = fill_record_from_api(fill, client_order_id=coid, strategy=strategy)
        event = self.portfolio.apply_fill(
            fill.ticker,
            fill.book_side,
            fill.yes_price,
            fill.count,
            fill.fee,
            ts=record.ts,
            strategy=strategy,
        )
        with self.store.transaction():  # one commit for the fill and its order's row
            new = self.store.record_fill(replace(record, realized_pnl=event.net))
            if intent is not None:
                self._order_filled(intent, fill.count)
        if new:
            self.ledger.add_realized(record.ts, event.net)
        else:  # another process (a reconcile) copied it first: the file has its P&L
            self.ledger.forget_realized(record.ts)
        self._seen[fill.fill_id] = record.ts
        self._last_fill_ts = max(self._last_fill_ts, record.ts)
        self._forget_old_fills()
        self.counters.fills += 1
        self.log.emit("fill_received", self._fill_fields(fill, sent, event.net))

    def _order_filled(self, row: IntentRecord, count: Decimal) -> None:
        """A fill of an order the state file knows: its row follows (filled, remaining,
        executed once nothing is left), so a filled quote is not left `resting` there when the
        `user_orders` message saying so is lost. The count filled is the larger of the row's
        (the exchange's last answer) and the fills counted one by one, which both only ever
        fall short of the truth; what rests is never more than the row last said."""
        order_id = row.order_id or ""
        total = self._filled.get(order_id, ZERO) + count
        if row.status != RESTING:
            # pending or unknown: resolved by its own lookup; executed or canceled: final
            if row.status in (EXECUTED, CANCELED):
                self._filled.pop(order_id, None)
            else:
                self._filled[order_id] = total
            return
        filled = max(row.filled, total)
        remaining = max(row.count - filled, ZERO)
        if row.remaining is not None:
            remaining = min(remaining, row.remaining)
        status = EXECUTED if remaining == 0 else RESTING
        self.store.update_order(
            order_id=order_id, status=status, fill_count=filled, remaining_count=remaining
        )
        self.portfolio.update_order(order_id, remaining=remaining, status=status)
        if status == RESTING:
            self._filled[order_id] = total
        else:
            self._filled.pop(order_id, None)

    def order_message(self, data: Any) -> bool:
        """A `user_orders` message: the exchange's own counts go into the order's row. False
        when the message is older than what the state file holds (the order already ended, or
        more of it had filled): the caller then ignores it, so a late `resting` message cannot
        bring back an order whose cancel was answered."""
        order_id = str(data.get("order_id", ""))
        status = str(data.get("status", ""))
        row = self.store.intent_by_order_id(order_id) if order_id else None
        if row is None:
            return True  # placed elsewhere: the loop still counts it, the state file does not
        filled = parse_count(data.get("fill_count_fp", "0"))
        if row.status in (EXECUTED, CANCELED) or filled < row.filled:
            if row.status in (EXECUTED, CANCELED):
                self.portfolio.update_order(order_id, remaining=ZERO, status=row.status)
            return False
        if status in SENT_STATUSES and row.status == RESTING:
            self.store.update_order(
                order_id=order_id,
                status=status,
                fill_count=filled,
                remaining_count=parse_count(data.get("remaining_count_fp", "0")),
            )
            if status != RESTING:
                self._filled.pop(order_id, None)
        return True

    def _fill_fields(self, fill: Fill, sent: Sent | None, realized: Decimal) -> dict[str, Any]:
        side = sent.side if sent else Side.YES
        action, price = from_book(fill.book_side, fill.yes_price, side)
        fields: dict[str, Any] = {
            "ticker": fill.ticker,
            "side": side,
            "action": action,
            "price": price,
            "count": fill.count,
            "fee": fill.fee,
            "order_id": fill.order_id,
            "fill_id": fill.fill_id,
            "realized_pnl": realized,
            "position": self.portfolio.position(fill.ticker),
        }
        if sent is not None:
            worse = price - sent.price if sent.action is Action.BUY else sent.price - price
            fields["latency_ms"] = round((self.clock.monotonic() - sent.sent_at) * 1000, 3)
            fields["slippage"] = worse
            fields["model_fair"] = sent.model_fair
            fields["strategy"] = sent.strategy
        return fields


def _intent_fields(intent: Intent) -> dict[str, Any]:
    return {
        "ticker": intent.ticker,
        "side": intent.side,
        "action": intent.action,
        "price": intent.price,
        "count": intent.count,
        "model_fair": intent.model_fair,
        "edge": intent.edge_after_fees.quantize(Decimal("0.0001")),
        "tif": intent.time_in_force,
        "reduce_only": intent.reduce_only,
        "strategy": intent.strategy,
        "reason": intent.reason,
    }

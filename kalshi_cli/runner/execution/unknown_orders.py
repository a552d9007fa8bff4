"""Orders whose answer was lost, a part of the trade loop's `LoopExecutor`. Such an order is never
sent again: it is looked up by its client order id once a second until the exchange lists it or
it can no longer show (`landing_s`), and until then its market takes only reducing orders.
docs/orders.md "Orders that land late".
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING

from kalshi_cli.client.client import LANDING_WINDOW_S
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.execution.dispatch import CallAnswer, Urgency, run_call
from kalshi_cli.services.pretrade.books import resting_order
from kalshi_cli.services.reconcile import mark_never_placed, take_found
from kalshi_cli.store.records import RESTING
from kalshi_cli.vocabulary.clock import Deadline
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.units import ZERO

if TYPE_CHECKING:
    from decimal import Decimal

    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.execution.call_guard import CallGuard
    from kalshi_cli.runner.execution.dispatch import Dispatch, Wire
    from kalshi_cli.services.pretrade.books import OpenOrder
    from kalshi_cli.store import FillRecord, IntentRecord, Store
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.decisions import Intent
    from kalshi_cli.vocabulary.models import Order, QuarantinedFill


# client order id -> what its lookup by that id answered (the order, or None: not listed)
Looked = list[tuple[str, CallAnswer["Order | None"]]]

# the send workers' share lookups of lost orders may take at once: one in LOOKUP_SHARE
LOOKUP_SHARE = 16


class Turns:
    """Reads of what is in doubt, taking turns, off the deciding path: one read out per key at
    a time, those read least recently first, and at most one send worker in `LOOKUP_SHARE` on
    them: after an outage that left hundreds in doubt, their reads must not take every worker
    from the markets that are not."""

    def __init__(self, dispatch: Dispatch, stamp: Callable[[], float]) -> None:
        self.looking: set[str] = set()  # keys whose read is out
        self._last: dict[str, float] = {}  # key -> when its last read was sent (monotonic)
        self._dispatch = dispatch
        self._stamp = stamp

    def due(self, keys: Collection[str]) -> Iterator[str]:
        """Each of `keys` whose read goes now, marked as out (`looking`) until it is booked."""
        room = max(1, self._dispatch.workers // LOOKUP_SHARE) if self._dispatch.threaded else None
        self._last = {k: at for k, at in self._last.items() if k in keys}
        for key in sorted(keys, key=lambda k: self._last.get(k, -math.inf)):
            if key in self.looking:
                continue
            if room is not None and len(self.looking) >= room:
                return
            self.looking.add(key)
            self._last[key] = self._stamp()
            yield key


# why an order of unknown outcome is left after a stop under the session's order group
ONE_LOOK = "not found at the one look; the session's order group refuses it if it lands"


@dataclass(frozen=True)
class LostAnswer:
    """An order sent whose answer never came: its market, and since when it is unknown."""

    ticker: str
    since: float  # monotonic, when the failure was seen (after the request was signed)
    # the order it is: until the lookups find it (then the view holds it) or it can no longer
    # land, it counts as resting, toward the total exposure beside its market's other orders
    # that may rest (runner/execution/outbox.py `pending_exposure`) and toward its strategy's
    # budget (None: not known, a stop's own record)
    intent: Intent | None = None


def wait_out_unknown(
    unknown: dict[str, LostAnswer],
    look: Callable[[], None],
    clock: Clock,
    log: EntryLog,
    abandon: threading.Event | None = None,
    *,
    landing_s: float = LANDING_WINDOW_S,
) -> None:
    """What a stop without an order group does for an order that may still land: `look` (which
    removes from `unknown` each it settles) once a second until none is left, each left is
    `landing_s` past its failure (a lookup failed), or `abandon` is set."""
    if unknown:
        waits = {"client_order_ids": sorted(unknown), "at_most_s": landing_s}
        log.emit("shutdown_waits_unknown", waits)
    deadline = Deadline.current()  # the stop's (runner/loop/stop.py)
    while unknown:
        if abandon is not None and abandon.is_set():
            return
        if deadline is not None and deadline.passed():
            return
        look()
        now = clock.monotonic()
        if all(now - lost.since >= landing_s for lost in unknown.values()):
            return  # each could be looked up no more: a lookup failed
        # never past the deadline: what comes after this wait (the stop's proof) has its share
        clock.sleep(1.0 if deadline is None else min(1.0, max(deadline.remaining(), 0.0)))


class UnknownOrders:
    def __init__(
        self,
        *,
        wire: Wire,
        store: Store,
        portfolio: Portfolio,
        log: EntryLog,
        clock: Clock,
        guard: CallGuard,
        fills_due: Callable[[], None],
        alert: Callable[[str, str, str, dict[str, str]], None],  # post an operator alert
        told_filled: Callable[[OpenOrder, Decimal], None],
        on_change: Callable[[str], None],
        landing_s: float = LANDING_WINDOW_S,
    ) -> None:
        self.dispatch = wire.dispatch
        # how long after its failure a lost order that no listing shows can no longer show: it
        # may land until LANDING_WINDOW_S, and a listing shows it a read lag later
        # (`services.reconcile.landing_wait_s`, the rule `kalshi reconcile` follows too)
        self.landing_s = landing_s
        self._turns = Turns(self.dispatch, guard.stamp)  # markets in doubt (resolve_later)
        self._client = wire.client
        self._store = store
        self._portfolio = portfolio
        self._log = log
        self._clock = clock
        self._guard = guard
        self._fills_due = fills_due  # called when an order found had filled: a fill read is due
        self._alert = alert
        # client order id -> an order whose answer was lost; its market takes no new
        # (non-reducing) order until the exchange says what became of it
        self.unknown: dict[str, LostAnswer] = {}
        # ticker -> why the loop's position there is in doubt (a fill of it was quarantined:
        # never applied, so the loop's view may be short of the exchange's); it takes no new
        # non-reducing order for the rest of the run
        self.doubted: dict[str, str] = {}
        # order id -> its fills the loop booked as nobody's while its market had an order of
        # unknown outcome, whose they may be: given to that order's strategy if a lookup finds
        # it (`_adopt`). The loop's own record, not the state file's: a reconcile in another
        # process may attribute them there first, or copy in fills the loop has not booked yet
        self.unclaimed: dict[str, list[FillRecord]] = {}
        # order id -> an amend whose answer was lost (runner/execution/amends.py): the order
        # may rest at its old or its new price and size, so its market takes no new
        # non-reducing order and the amend counts as resting beside the order until a read
        # settles it
        self.amending: dict[str, LostAnswer] = {}
        # told the market of each order of unknown outcome added or settled (the outbox counts
        # them toward the exposure)
        self.on_change: Callable[[str], None] = on_change
        # told what an order found has filled, which no fill read may have brought in yet
        # (`AppliedFills.told_filled`): found, it no longer counts as an order that may rest,
        # and its fills must count somewhere until they are read
        self._told_filled: Callable[[OpenOrder, Decimal], None] = told_filled
        # client order id -> told what its order filled once a lookup settles it (None: never
        # placed): a set of legs waits on its leg of unknown outcome (`when_settled`)
        self._watchers: dict[str, Callable[[Decimal | None], None]] = {}

    def unclaimed_fill(self, fill: FillRecord) -> None:
        """A fill booked as nobody's: kept while an order of unknown outcome in its market may
        be its order."""
        lost = {u.ticker for u in self.unknown.values()}
        self.unclaimed = {o: kept for o, kept in self.unclaimed.items() if kept[0].ticker in lost}
        if fill.ticker in lost:
            self.unclaimed.setdefault(fill.order_id, []).append(fill)

    def holds(self, ticker: str) -> bool:
        # asked before every order that adds: most find nothing in doubt, so no generator is
        # made to look through an empty map
        if ticker in self.doubted:
            return True
        if self.unknown and any(u.ticker == ticker for u in self.unknown.values()):
            return True
        return any(u.ticker == ticker for u in self.amending.values()) if self.amending else False

    def doubt(self, ticker: str, why: str) -> None:
        self.doubted.setdefault(ticker, why)

    def fill_quarantined(self, found: QuarantinedFill) -> None:
        """A fill the exchange listed without a field the spec requires: never applied. It is
        logged, kept in the state file (`kalshi metrics` counts it), alerted, and its market
        takes no new non-reducing order for the rest of the run: the loop's position there may
        be short of the exchange's (runbooks/13-fill-quarantined.md)."""
        ticker = found.ticker or "?"
        fields = {"ticker": ticker, "order_id": found.order_id, "fill": found.key}
        fields["reason"] = found.reason
        self._log.emit("fill_quarantined", fields)
        self._store.entries.log_entry("fill_quarantined", {**fields, "raw": dict(found.raw)})
        self.doubt(ticker, found.reason)
        self._alert(
            "fill_quarantined",
            found.key,
            f"a fill in {ticker} lacks a field the spec requires ({found.reason}); not applied, "
            f"and {ticker} takes no new order",
            {k: str(v) for k, v in fields.items()},
        )

    def unanswered(self, sent: Mapping[str, Intent], why: str) -> None:
        """Orders sent whose answers will not be waited for (client order id -> intent): each
        may rest on the exchange, so each is unknown from now, looked up and proven gone as one
        whose answer was lost; a call that never left is found absent the same way."""
        for client_order_id, intent in sent.items():
            self.lost(client_order_id, intent.ticker, intent)
            self._store.orders.mark_unknown(client_order_id, reason=why)
            self._log.emit(
                "order_unknown",
                {"ticker": intent.ticker, "client_order_id": client_order_id, "error": why},
            )

    def lost(self, client_order_id: str, ticker: str, intent: Intent | None = None) -> None:
        """An order whose answer was lost (or could not be recorded), from now; `intent`: the
        order it is."""
        since = self._clock.monotonic()
        self.unknown[client_order_id] = LostAnswer(ticker, since, intent)
        # its fills may be read before it is found, booked as nobody's: the market's parts are
        # kept from here, so that giving them to its strategy (`_adopt`) can rebuild them
        self._portfolio.owners.keep_replay(ticker)
        self.on_change(ticker)

    def lost_as(self, intent: Intent) -> str | None:
        """The client order id of `intent` (this very value) when its answer was lost (None:
        it was not): how a caller that sent it learns its order is of unknown outcome."""
        return next((c for c, u in self.unknown.items() if u.intent is intent), None)

    def when_settled(self, client_order_id: str, told: Callable[[Decimal | None], None]) -> None:
        """`told` what the order of unknown outcome filled once a lookup settles it (None
        when it was never placed: it may be sent again), on the thread that books the lookup."""
        self._watchers[client_order_id] = told

    def intents_in(self, ticker: str) -> list[Intent]:
        """The market's orders of unknown outcome, each as the intent it is: they may rest,
        and a lost batch's may all land, so the total exposure counts them beside the
        market's other orders that may rest."""
        if not self.unknown and not self.amending:
            return []  # asked of every order: most often none is in doubt
        return [
            u.intent
            for u in (*self.unknown.values(), *self.amending.values())
            if u.ticker == ticker and u.intent
        ]

    def intents(self) -> list[Intent]:
        """The orders of unknown outcome, each as the intent it is: a strategy's budget counts
        its own as resting, as the account's exposure counts every one."""
        return [
            u.intent
            for u in (*self.unknown.values(), *self.amending.values())
            if u.intent is not None
        ]

    def resolve(self, *, guarded: bool = True, markets: Collection[str] | None = None) -> None:
        """Look each order of unknown outcome up by its client order id (only those in `markets`,
        when given): found, it takes the exchange's state; still missing `landing_s` after its
        failure, it was never placed. Never sent again. `guarded=False` (during the backoff): the
        API error guard hears nothing of these lookups."""
        self._settle(self.look(self.in_markets(markets)), guarded=guarded)

    def in_markets(self, markets: Collection[str] | None = None) -> dict[str, LostAnswer]:
        """The orders of unknown outcome (in `markets`, when given), as they are now: what a
        worker's `look` may be handed, since it must not read the live table."""
        if markets is None:
            return dict(self.unknown)
        return {c: u for c, u in self.unknown.items() if u.ticker in markets}

    def settle(self, looked: Looked) -> None:
        """Book lookups a worker made (`look`), on the deciding thread."""
        self._settle(looked, guarded=True)

    def resolve_later(self, *, guarded: bool = True) -> None:
        """`resolve` with the lookups off the deciding path (runner/execution/dispatch.py), each
        market's orders on a call of their own, so a lookup held in the network holds only its
        own market's (the others' are booked meanwhile, and their markets quote again); the
        answers are settled when booked. The markets take `Turns`."""
        by_market: dict[str, dict[str, LostAnswer]] = {}
        for client_order_id, lost in self.unknown.items():
            by_market.setdefault(lost.ticker, {})[client_order_id] = lost
        for ticker in self._turns.due(by_market):
            booked = partial(self._looked, ticker, guarded)
            self.dispatch.send((), partial(self.look, by_market[ticker]), booked, Urgency.EXIT)

    def _looked(self, ticker: str, guarded: bool, answer: CallAnswer[Looked]) -> None:
        """A market's lookups made on a worker (`resolve_later`), booked."""
        self._turns.looking.discard(ticker)
        self._settle(answer.get(), guarded=guarded)

    def look(self, lost: dict[str, LostAnswer]) -> Looked:
        """The exchange's part of `resolve` alone (no state file, no view): each lookup in
        turn, until one fails (the rest wait for the next round)."""
        looked: list[tuple[str, CallAnswer[Order | None]]] = []
        orders = self._client.orders
        for client_order_id, unknown in lost.items():
            found = run_call(
                partial(orders.find_order_by_client_id, client_order_id, unknown.ticker),
                self._guard.stamp,
            )
            looked.append((client_order_id, found))
            if found.error is not None:
                break
        return looked

    def _settle(self, looked: Looked, *, guarded: bool) -> None:
        """Each lookup booked as of when it was sent (`found.sent_at`)."""
        for client_order_id, found in looked:
            sent_at = found.sent_at
            lost = self.unknown.get(client_order_id)
            if lost is None:
                continue  # settled meanwhile (a stop's lookups, a fill read)
            try:
                order = self._guard.heard(found, guarded=guarded)
            except KalshiError:
                return
            filled: Decimal | None
            if order is None:
                # judged by when the lookup was sent: it shows the exchange as it was then,
                # and the order may land after that until its window closes
                if sent_at - lost.since < self.landing_s:
                    continue
                mark_never_placed(self._store, client_order_id, self.landing_s)
                status, filled = "rejected", None
            else:
                row = self._adopt(client_order_id, order)
                status, filled = row.status, row.filled
            del self.unknown[client_order_id]
            if not any(u.ticker == lost.ticker for u in self.unknown.values()):
                self._portfolio.owners.drop_replay(lost.ticker)
            self.on_change(lost.ticker)
            self._log.emit(
                "order_resolved",
                {"ticker": lost.ticker, "client_order_id": client_order_id, "status": status},
            )
            told = self._watchers.pop(client_order_id, None)
            if told is not None:
                told(filled)

    def see_through(
        self,
        abandon: threading.Event | None = None,
        *,
        wait: bool = True,
        after_look: Callable[[], None] = lambda: None,
        looks: Callable[[dict[str, LostAnswer]], Looked] | None = None,
    ) -> list[str]:
        """At shutdown: look the orders of unknown outcome up once a second until each is found (so
        the shutdown's cancels reach it) or can no longer show (`landing_s` after its failure),
        since one that landed later would rest with nobody to manage it. `wait=False`: one look
        only. Returns the client order ids still unknown, each logged (`shutdown_unknown_left`;
        `kalshi reconcile` settles them) unless a second signal gave the wait up: the stop then
        says what it gave up (`shutdown_abandoned`, runner/loop/stop.py).
        `after_look` runs after each look, so the stop cancels what it found at once. `looks`:
        how the lookups are made."""
        make = self.look if looks is None else looks

        def look() -> None:
            self._settle(make(self.in_markets()), guarded=False)
            after_look()

        if not wait:
            look()
        else:
            wait_out_unknown(
                self.unknown, look, self._clock, self._log, abandon, landing_s=self.landing_s
            )
        left = sorted(self.unknown)
        if left and not (abandon is not None and abandon.is_set()):
            reason = "the exchange did not answer the lookups" if wait else ONE_LOOK
            self._log.emit("shutdown_unknown_left", {"unknown_left": left, "reason": reason})
        return left

    def _adopt(self, client_order_id: str, order: Order) -> IntentRecord:
        """The order a lookup found, booked; its row as it stands after. The read is applied as
        reconcile applies one (`book_read`): the row may have moved on since the lookup was
        sent (the orders' read again recorded it, then its `user_orders` messages or fills
        carried it on), and it moves only forward. The loop's books follow the row, not the
        read: an older read neither brings back an ended order nor lowers what the feed told
        filled."""
        intent = self._store.orders.get_intent(client_order_id)
        given = self.unclaimed.pop(order.order_id, [])
        # fills read while the order was still unknown here carry no intent yet: its
        # strategy's from now, in the state file (with the order's row, in one commit) and in
        # the loop's owned parts
        now, subaccount = self._clock.wall(), self._client.subaccount
        take_found(self._store, intent, order, now=now, subaccount=subaccount)
        if intent is not None and intent.strategy and given:
            self._portfolio.give_fills(intent.strategy, given)
        row = self._store.orders.get_intent(client_order_id)
        assert row is not None and row.order_id is not None  # booked just now, or before
        shown = resting_order(row)
        if row.status != RESTING:
            shown = replace(shown, remaining=ZERO)  # ended: out of the view (`add_order`)
        self._portfolio.add_order(shown)
        if row.filled > 0:
            self._told_filled(shown, row.filled)
            self._fills_due()
        return row

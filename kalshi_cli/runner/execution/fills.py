"""Fills back into the trade loop's view, a part of its `LoopExecutor`
(runner/execution/execution.py). The `fill` message carries no fill id, so it is a signal to read
`GET /portfolio/fills`; `FillSync` applies each fill once, writes it with its realized P&L and moves
its order's row in the same transaction, clears the executor's `fills_due` flag, and attributes
fills through `SentOrders`. See docs/trade-loop.md "From a decision to the wire, and fills back".
`FillSync` is given more than six collaborators because what this run has applied of each order
(`AppliedFills`) is told what an order filled by the orders of unknown outcome too: it is built
before both and handed to each.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kalshi_cli.runner.execution.dispatch import CallAnswer, Urgency, run_call
from kalshi_cli.runner.execution.settlements import SettlementReads
from kalshi_cli.runner.ports import own_book
from kalshi_cli.services.pnl import book_history, fill_record_from_api, fill_subaccount, fill_time
from kalshi_cli.store.records import CANCELED, EXECUTED, RESTING, SENT_STATUSES, FillRecord
from kalshi_cli.vocabulary.documents import traders_terms
from kalshi_cli.vocabulary.units import ZERO, Action, Side

if TYPE_CHECKING:
    from kalshi_cli.feed.messages import FillNotice
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.execution.dispatch import Wire
    from kalshi_cli.runner.execution.elsewhere import ElsewhereViews, Reread
    from kalshi_cli.runner.execution.shared import Bookkeeping, Holds, Report
    from kalshi_cli.runner.execution.unknown_orders import Looked
    from kalshi_cli.services.owner_parts import Mark, PositionBook
    from kalshi_cli.services.pretrade.books import OpenOrder
    from kalshi_cli.store import IntentRecord
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.models import Fill, Order, Settlement


MAX_REMEMBERED = 10_000
# how far this machine's clock may run ahead of the exchange's: a fill's time is the exchange's,
# the start the reads begin from is this machine's, so they begin this much earlier (the fills
# listed again are known by their ids)
CLOCK_AHEAD_S = 60.0
# a late fill's market is booked again from its newest mark before the fill: one taken at most
# every MARK_EVERY_S seconds of a market's fills, the newest MARKS_KEPT of each of the
# MAX_MARKED markets marked last (a fill later than them all books its market from nothing)
MARK_EVERY_S = 60.0
MARKS_KEPT = 4
MAX_MARKED = 1_000


@dataclass(slots=True)
class Sent:
    """What the loop remembers of an order it sent, for fill latency and slippage."""

    client_order_id: str
    side: Side
    action: Action
    price: Decimal
    model_fair: Decimal
    strategy: str
    sent_at: float  # monotonic
    # an order amended in place: what was sent before the amend, and when the amend landed
    # (the exchange's unix seconds); a fill made before then is measured against `before`
    before: Sent | None = None
    landed: float | None = None

    def amended(self, sent: Sent, landed: float | None) -> Sent:
        """What is remembered once this order is amended to `sent` (at `landed`, when the
        answer said): the new terms, with these as they were before (one amend back)."""
        # built whole rather than by `dataclasses.replace`, which reads every field by name:
        # a market maker's every requote is an amend
        prior = Sent(
            self.client_order_id,
            self.side,
            self.action,
            self.price,
            self.model_fair,
            self.strategy,
            self.sent_at,
        )
        return Sent(
            sent.client_order_id,
            sent.side,
            sent.action,
            sent.price,
            sent.model_fair,
            sent.strategy,
            sent.sent_at,
            prior,
            landed,
        )

    def at(self, ts: float) -> Sent:
        """What the order was when a fill at `ts` (unix seconds) was made."""
        if self.before is not None and self.landed is not None and ts < self.landed:
            return self.before
        return self


class SentOrders:
    """Order id -> what was sent, for the orders this run placed that may still fill: one is let
    go once its every contract is filled and applied (`forget`), and the oldest past
    MAX_REMEMBERED (a loop runs for weeks; a fill of a forgotten order is attributed from the
    state file instead)."""

    def __init__(self) -> None:
        self._sent: OrderedDict[str, Sent] = OrderedDict()

    def remember(self, order_id: str, sent: Sent) -> None:
        if order_id not in self._sent and len(self._sent) >= MAX_REMEMBERED:
            self._sent.popitem(last=False)
        self._sent[order_id] = sent

    def amend(self, order_id: str, sent: Sent, landed: float | None) -> None:
        """The order amended in place to `sent`, since `landed` (unix seconds, when the
        answer said): remembered with what it was before, for the fills made before then."""
        before = self._sent.get(order_id)
        self.remember(order_id, sent if before is None else before.amended(sent, landed))

    def forget(self, order_id: str) -> None:
        """No fill of the order is still to come: what was sent of it is not needed."""
        self._sent.pop(order_id, None)

    def get(self, order_id: str) -> Sent | None:
        return self._sent.get(order_id)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._sent

    def __len__(self) -> int:
        return len(self._sent)


class AppliedFills:
    """What this run has applied, to tell a `fill` or `user_order` message that brings news (a
    fill not yet read) from one about a fill already read: each (order id, trade id) applied,
    and the contracts applied per order (the oldest forgotten past MAX_REMEMBERED: a message
    about those is read, as any news); and the fill reads sent so far: a read sent after the
    exchange told of a fill lists it, so once it is applied, no fill told before it is counted
    apart any more (`Portfolio.fills_read`). Its own part, built before the fills' catch-up
    and the orders of unknown outcome that both tell it what an order has filled."""

    def __init__(self, portfolio: Portfolio) -> None:
        self._portfolio = portfolio
        self._trades: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._counts: OrderedDict[str, Decimal] = OrderedDict()
        # order id -> the most contracts the exchange has told filled of it, while that is more
        # than the fills applied: its count only grows, so a figure below it or below the fills
        # applied left the exchange earlier (the applied counts tell the rest, one record a
        # filled order, not two)
        self._told: OrderedDict[str, Decimal] = OrderedDict()
        self._reads_sent = 0

    def read_sent(self) -> int:
        """A fill read is on its way: its number, counting every read sent."""
        self._reads_sent += 1
        return self._reads_sent

    def note(self, fill: Fill) -> Decimal:
        """`fill` applied: the contracts of its order applied so far, with it."""
        order_id = fill.order_id
        self._trades[(order_id, fill.trade_id)] = None
        applied = self._counts[order_id] = self._counts.pop(order_id, ZERO) + fill.count
        if self._told.get(order_id, applied) <= applied:
            self._told.pop(order_id, None)
        for kept in (self._trades, self._counts):
            while len(kept) > MAX_REMEMBERED:
                kept.popitem(last=False)
        return applied

    def fill_is_news(self, notice: FillNotice) -> bool:
        """A `fill` message about a fill this run has not applied yet."""
        return (notice.order_id, notice.trade_id) not in self._trades

    def order_fills_are_news(self, order_id: str, filled: Decimal) -> bool:
        """A `user_order` message counting more contracts filled than this run has applied."""
        return filled > self._counts.get(order_id, ZERO)

    def told_filled(self, order: OpenOrder, filled: Decimal) -> None:
        """The exchange says `filled` contracts of `order` have filled in all (its answer, a
        `user_orders` message): those no fill applied here yet count toward the limits as
        resting until they are read (`Portfolio.set_unbooked`), whatever the view's order
        says rests now. A figure below one told before, or below the fills applied, is older
        and changes nothing."""
        order_id = order.order_id
        applied = self._counts.get(order_id, ZERO)
        if filled < applied or filled < self._told.get(order_id, ZERO):
            return
        if filled > applied:
            self._told[order_id] = filled
            self._told.move_to_end(order_id)
            if len(self._told) > MAX_REMEMBERED:
                self._told.popitem(last=False)
        self._portfolio.set_unbooked(order, filled - applied, reads_sent=self._reads_sent)

    def may_have_filled(self, order: OpenOrder, count: Decimal) -> None:
        """`count` more contracts of `order` may have filled unseen (a cancel found less of it
        resting than the view held): counted toward the limits as resting until a fill read
        sent from now on is applied."""
        told = self._portfolio.unbooked(order.ticker, order.order_id)
        self._portfolio.set_unbooked(order, told + count, reads_sent=self._reads_sent)


class LateFills:
    """Which fills of a market arrive after a later one of it, and where the market is booked
    again from when one does. A fill is late when the market has a fill applied later in time
    (reads lag writes); booking the market again from nothing costs every fill it ever had, so
    before a fill later than all of its market's, at most every MARK_EVERY_S seconds, its booking
    is marked (`PositionBook.mark`), and a late fill books the market again from the newest mark
    before it that the book still holds."""

    def __init__(self, book: PositionBook) -> None:
        self._book = book
        # market -> the time of its latest fill applied
        self._latest: dict[str, float] = {}
        # market -> its marks, oldest first; the market marked last, last
        self._marks: OrderedDict[str, list[Mark]] = OrderedDict()

    def booked(self, ticker: str, ts: float) -> None:
        self._latest[ticker] = max(self._latest.get(ticker, ts), ts)

    def arriving(self, ticker: str, ts: float) -> bool:
        """A fill of `ticker` at `ts` about to be booked: whether it is late. The market is
        marked first when `ts` is after every fill of it booked and its newest mark is
        MARK_EVERY_S old."""
        latest = self._latest.get(ticker, -math.inf)
        marks = self._marks.get(ticker, [])
        if ts <= latest or (marks and ts - marks[-1].ts < MARK_EVERY_S):
            return ts < latest
        mark = self._book.mark(ticker, ts)
        if mark is None:
            return False
        self._marks[ticker] = [*marks[-(MARKS_KEPT - 1) :], mark]
        self._marks.move_to_end(ticker)
        if len(self._marks) > MAX_MARKED:
            self._marks.popitem(last=False)
        return False

    def start(self, ticker: str, ts: float) -> Mark | None:
        """Where a late fill at `ts` books `ticker` again from: its newest mark at or before
        `ts` (the later ones lack that fill and are dropped), or None, from nothing."""
        marks = [m for m in self._marks.get(ticker, []) if m.ts <= ts]
        if not marks or not self._book.holds(marks[-1]):
            self._marks.pop(ticker, None)
            return None
        self._marks[ticker] = marks
        return marks[-1]


class FillSync:
    def __init__(
        self,
        *,
        wire: Wire,
        books: Bookkeeping,
        report: Report,
        clock: Clock,
        holds: Holds,
        due: threading.Event,
        applied: AppliedFills,
        awaiting_answer: Callable[[str], bool],
        elsewhere: ElsewhereViews,
    ) -> None:
        self.dispatch = wire.dispatch
        self._reads_out = 0
        self._client = wire.client
        self._store = books.store
        self._records = books.records
        self._portfolio = books.portfolio
        self._log = report.log
        self._clock = clock
        self._guard = holds.guard
        self._counters = report.counters
        self._unknown = holds.unknown
        # what this run sent, by order id, for its fills' strategy, latency and slippage
        self.sent = SentOrders()
        self.due = due  # a read is due: the next tick makes it (not during a backoff)
        self._seen: dict[str, float] = {}  # fill id applied -> its time
        self._late = LateFills(books.portfolio.book)
        self._last_fill_ts = clock.wall() - CLOCK_AHEAD_S
        self.applied = applied
        # whether an order of a market is on its way, its answer not booked (the answer book's
        # `InFlight.in_market`): a fill there of an order the loop does not know may be that
        # order's, filled at once and listed by a read on another worker before its answer came
        # back; it waits here, by fill id, unbooked, until the answer names its order
        # (`release_held`), so it is booked as its strategy's
        self.awaiting_answer: Callable[[str], bool] = awaiting_answer
        self.held: dict[str, Fill] = {}
        # the markets the loop does not trade where a read listed a fill of the account's, until
        # they are taken on (runner/loop/held_markets.py)
        self.outside: set[str] = set()
        # what the account holds in the markets of the loop's events it does not trade: the
        # fills a read lists there have their event read again on the read's worker
        self._elsewhere = elsewhere
        # the settlements of markets whose result is known, read with the fills and booked
        # after them (runner/execution/settlements.py)
        self.settlements = SettlementReads(
            client=wire.client,
            store=books.store,
            records=books.records,
            portfolio=books.portfolio,
            log=report.log,
        )

    def told_elsewhere(self, ticker: str | None) -> None:
        """The feed told of an order or a result in `ticker` (None: may have lost one anywhere):
        in a market of the loop's events that it does not trade, a fill read is due, which
        reads that event again."""
        if self._elsewhere.told(ticker):
            self.due.set()

    def joined(self, ticker: str, fills: Iterable[Fill], read_at: float) -> None:
        """A market taken on while the loop runs (runner/loop/new_markets.py): the account's
        fills there, listed for it at `read_at` (unix seconds), applied as a read's are (one
        applied already or of another subaccount left), so its view counts what the account
        holds there, as the start's does; it is no longer counted as held elsewhere. The reads
        reach back to `read_at`: a fill made there since, which a read passed over while the
        market was not the loop's, is listed again."""
        self._elsewhere.let_go(ticker)
        self._take([f for f in fills if self._ours(f) and not self._known(f)])
        self._last_fill_ts = min(self._last_fill_ts, read_at - CLOCK_AHEAD_S)

    def sync(self, *, since_ts: int | None = None) -> int:
        """Read new fills from the exchange and apply each one once, waiting for the read (a
        stop's last read, a test); how many were new."""
        self.due.clear()
        since = since_ts if since_ts is not None else self._since()
        read = self.applied.read_sent()
        answer = run_call(lambda: self._listed(since), self._guard.stamp)
        return self._absorb(answer, read, wait=False)

    def read_for(
        self, markets: Iterable[str] = (), then: Callable[[int], None] | None = None
    ) -> None:
        """Read new fills off the deciding path (runner/execution/dispatch.py): `markets` take no
        decision until they are applied (an order there filled: its position must be known
        first); the timer's read holds none. `then` is handed how many were new."""
        self.due.clear()
        since = self._since()
        self._reads_out += 1
        number = self.applied.read_sent()
        lost = self._unknown.in_markets()
        settling = self.settlements.to_ask()
        reread = self._elsewhere.rereading(held=bool(markets))

        def read() -> tuple[list[Fill], Looked, list[Settlement], Reread]:
            # an order of unknown outcome in a market with a new fill may be that fill's order,
            # landed late: looked up here too, so the deciding thread need not wait for it
            fills = self._listed(since)
            filled = {f.ticker for f in fills}
            looked = self._unknown.look({c: u for c, u in lost.items() if u.ticker in filled})
            # listed after the fills: a market's settlement comes after all its fills
            settled = self.settlements.listed(settling)
            return fills, looked, settled, reread(f for f in fills if self._ours(f))

        def absorbed(
            answer: CallAnswer[tuple[list[Fill], Looked, list[Settlement], Reread]],
        ) -> None:
            self._reads_out -= 1
            if answer.error is not None:
                new = self._absorb(CallAnswer(answer.sent_at, error=answer.error), number)
            else:
                assert answer.value is not None
                fills, looked, settled, others = answer.value
                self._elsewhere.book(others)
                self._unknown.settle(looked)
                new = self._absorb(CallAnswer(answer.sent_at, value=fills), number)
                held = {f.ticker for f in self.held.values()}
                self.settlements.book(settled, held)
            if then is not None:
                then(new)

        # the markets' stop-loss need not wait: what an order's answer told filled there counts
        # already (`may_have_filled`), and the read may take the client's retries, seconds
        self.dispatch.send(markets, read, absorbed, Urgency.EXIT, exits_wait=False)

    @property
    def reading(self) -> bool:
        """A read is out, its fills not applied yet."""
        return self._reads_out > 0

    def _listed(self, since: int) -> list[Fill]:
        """The exchange's part of a read, alone: no state file, no view. Oldest first: the
        exchange lists newest first, and fills of one moment (one order taking several of the
        loop's) are applied in the order they were made, as a reconcile copies them
        (`sync_fills`): average cost is path dependent."""
        listed = list(own_book(self._client).portfolio.iter_fills(min_ts=since))
        listed.reverse()
        return listed

    def _absorb(self, answer: CallAnswer[list[Fill]], read: int, *, wait: bool = True) -> int:
        """The `read`-th read's answer booked: its new fills applied (those that may be an
        order's still on its way held, unless `wait` is False: a stop's last read, after which
        no answer is booked, and which books the fills held even when it fails: an earlier read
        listed them); how many were applied."""
        fills = self._guard.read(answer, "fill_sync_failed")
        if fills is None:
            self.due.set()
            return 0 if wait else self._take(self._unheld([]))
        self._passed(fills)
        markets = self._portfolio.markets
        listed = [f for f in fills if f.ticker in markets and self._ours(f) and not self._known(f)]
        # a fill of the account's in a market the loop does not trade (a buy by hand): that
        # market is taken on for its exits, which books its fills (runner/loop/held_markets.py)
        self.outside.update(f.ticker for f in fills if f.ticker not in markets and self._ours(f))
        new = self._take(self._hold_back(listed) if wait else self._unheld(listed))
        # every fill made before the read was sent is applied now, but in a market with a
        # fill held back
        self._portfolio.fills_read(read, but={f.ticker for f in self.held.values()})
        return new

    def _ours(self, fill: Fill) -> bool:
        # the listing covers every subaccount: another's fills are another book, not the loop's
        here = self._client.subaccount or 0
        return fill_subaccount(fill, here) == here

    def _unheld(self, listed: list[Fill]) -> list[Fill]:
        """`listed` and every fill held, each once, none held any more: no answer is booked
        after a stop's last read, so nothing waits for one."""
        if not self.held:
            return listed
        fills = list({f.fill_id: f for f in [*self.held.values(), *listed]}.values())
        self.held.clear()
        return fills

    def release_held(self) -> None:
        """The held fills of the markets with no order on its way any more, applied (an answer
        was booked: their orders are known now, or are no order of this run)."""
        if self.held:
            self._take(self._hold_back([]))

    def _hold_back(self, listed: list[Fill]) -> list[Fill]:
        """The fills to apply now, of those `listed` and those held. A fill of an order the
        loop does not know yet, in a market with an order on its way, is held, and every later
        fill of its market with it: applied before it, a later fill would reorder the market's
        fills, and a strategy's part cut when the account dipped below it is not given back
        when the earlier fill lands (`Owners`). The earlier fills of its market go now."""
        fills = sorted({f.fill_id: f for f in [*self.held.values(), *listed]}.values(), key=_when)
        waiting: set[str] = set()  # markets with a fill held
        self.held = {}
        ready: list[Fill] = []
        for fill in fills:
            if fill.ticker in waiting or self._awaits_answer(fill):
                waiting.add(fill.ticker)
                self.held[fill.fill_id] = fill
            else:
                ready.append(fill)
        return ready

    def _awaits_answer(self, fill: Fill) -> bool:
        return (
            self.awaiting_answer(fill.ticker)
            and fill.order_id not in self.sent
            and self._store.orders.intent_by_order_id(fill.order_id) is None
        )

    def _take(self, new: list[Fill]) -> int:
        new.sort(key=_when)
        doubtful = {f.ticker for f in new if self._perhaps_unknown(f)}
        if doubtful:
            # perhaps an order of unknown outcome that landed late (and not found by the read's
            # own lookups): found before its fills are recorded, so they are its strategy's;
            # only those of the fills' markets are asked. The lookups wait on the exchange
            # without the state file's write lock, which a drain's bookings share
            # (runner/execution/dispatch.py `outside_group`): `kalshi halt` needs it
            with self.dispatch.outside_group():
                self._unknown.resolve(markets=doubtful)
        if new:
            with self._store.transaction():  # one commit for the read's fills and their orders
                for fill in new:
                    self.apply(fill)
        return len(new)

    def _perhaps_unknown(self, fill: Fill) -> bool:
        return (
            fill.order_id not in self.sent
            and self._unknown.holds(fill.ticker)
            and self._store.orders.intent_by_order_id(fill.order_id) is None
        )

    def _passed(self, fills: list[Fill]) -> None:
        """The reads' cursor past every fill a read listed, booked here or not (another market's,
        another subaccount's): one the loop never books is listed by one read, not by every read
        until the loop's next own fill. A fill held stays listed (`_since`)."""
        # whole seconds do (the reads begin seconds before it): `ts` needs no parsing
        times = (fill_time(f) if f.ts is None else f.ts for f in fills)
        newest = max((t for t in times if t is not None), default=None)
        if newest is not None:
            self._last_fill_ts = max(self._last_fill_ts, newest)

    def _since(self) -> int:
        # fills are read with a margin: a fill of the same second may land after a read; a
        # held fill is listed again until it is applied
        since = self._last_fill_ts
        if self.held:
            since = min(since, *(f.ts or since for f in self.held.values()))
        return int(since) - 2

    def _known(self, fill: Fill) -> bool:
        return fill.fill_id in self._seen

    def load_seen(self, records: Iterable[FillRecord], *, since: float | None = None) -> None:
        """The fills already applied (replayed from the state file at start). `since`: when the
        start's reconcile asked the exchange for the fills these are (unix seconds): the reads
        begin there (less CLOCK_AHEAD_S), not when the loop was built, so a fill made between
        the two (the start reads its markets and their fees meanwhile, seconds on a large
        selection) is read."""
        if since is not None:
            self._last_fill_ts = min(self._last_fill_ts, since - CLOCK_AHEAD_S)
        for record in records:
            self._seen[record.fill_id] = record.ts
            self._late.booked(record.ticker, record.ts)
            self._last_fill_ts = max(self._last_fill_ts, record.ts)
        self._forget_old_fills()

    def _forget_old_fills(self) -> None:
        """Fills older than the read window are never listed again, so their ids need not be
        kept (a state file holds every fill ever; the loop only the recent ones)."""
        if len(self._seen) < MAX_REMEMBERED:
            return
        horizon = self._since() - 60
        self._seen = {k: ts for k, ts in self._seen.items() if ts >= horizon}

    def apply(self, fill: Fill) -> None:
        """One fill read: into the view, the state file (with its order's row) and the log."""
        sent = self.sent.get(fill.order_id)
        intent = self._store.orders.intent_by_order_id(fill.order_id)
        strategy = sent.strategy if sent else (intent.strategy if intent else None)
        coid = sent.client_order_id if sent else (intent.client_order_id if intent else None)
        # a fill that names no subaccount (sent to direct members only) is of the one the
        # client lists: the loop's
        record = fill_record_from_api(
            fill,
            read_at=self._clock.wall(),
            client_order_id=coid,
            strategy=strategy,
            subaccount=self._client.subaccount,
        )
        late = self._late.arriving(fill.ticker, record.ts)
        event = self._portfolio.apply_fill(
            fill.ticker,
            fill.book_side,
            fill.yes_price,
            fill.count,
            fill.fee,
            ts=record.ts,
            strategy=strategy,
            fill_id=fill.fill_id,
            order_id=fill.order_id,
        )
        if strategy is None:
            self._unknown.unclaimed_fill(record)  # perhaps a late order's, not found yet
        net = event.net
        with self._store.transaction():  # one commit for the fill and its order's row
            new = self._store.fills.record_fill(replace(record, realized_pnl=net))
            if late:
                net = self._book_again(fill.ticker, record.ts)[fill.fill_id]
            if intent is not None:
                self._order_filled(intent)
        if new and not late:
            self._records.add_realized(record.ts, net)
        else:  # another process (a reconcile) copied it first: the file has its P&L
            self._records.forget_realized(record.ts)
        self._late.booked(fill.ticker, record.ts)
        self._seen[fill.fill_id] = record.ts
        applied = self.applied.note(fill)
        if intent is not None and applied >= intent.count:
            # every contract of the order filled and applied: no fill of it is still to come
            self.sent.forget(fill.order_id)
        self._last_fill_ts = max(self._last_fill_ts, record.ts)
        self._forget_old_fills()
        self._counters.fills += 1
        made = sent.at(record.ts) if sent else None  # an amended order's terms at its fill
        self._log.emit("fill_received", self._fill_fields(fill, made, net))

    def _book_again(self, ticker: str, ts: float) -> dict[str, Decimal]:
        """A fill of `ticker` at `ts` applied after a later one of its market (listed by a later
        read: reads lag writes): average cost is path dependent, so the market is booked again
        from the state file in time order, as a restart and `kalshi pnl` replay it, from its
        newest mark before `ts` (`LateFills`), and each fill whose stored realized P&L that
        changes is written again (the daily circuit breaker adds them up; its day is read
        afresh). Each realized P&L booked again, by fill id."""
        mark = self._late.start(ticker, ts)
        since = None if mark is None else mark.ts
        history = list(book_history(self._store, self._client.subaccount or 0, ticker, since))
        stored = {e.fill_id: e for e in history if isinstance(e, FillRecord)}
        # the market's view was dropped as its fill was applied, just before
        nets = self._portfolio.book.book_again(ticker, history, mark)
        for fill_id, net in nets.items():
            record = stored[fill_id]
            if record.realized_pnl != net:
                self._store.fills.set_fill_realized_pnl(fill_id, net)
                self._records.forget_realized(record.ts)
        return nets

    def _order_filled(self, row: IntentRecord) -> None:
        """A fill of an order the state file knows, just stored: its row follows (filled,
        remaining, executed once nothing is left), so a filled quote is not left `resting` there
        when the `user_orders` message saying so is lost. The count filled is the larger of the
        row's (the exchange's last answer) and what the order's stored fills add up to, which
        both only ever fall short of the truth; what rests is never more than the row last
        said. The sum is the state file's, not counted here order by order: such a count has
        to be let go wherever an order ends, and one missed (a cancel answered before the
        fills were read) is kept for the rest of the run."""
        order_id = row.order_id or ""
        if row.status not in (RESTING, CANCELED):
            return  # pending or unknown: resolved by its own lookup; executed: final
        total = self._store.fills.filled(order_id)
        if row.status == CANCELED:
            # final, but its fills are counted, and fills that took all it was for make it
            # executed
            if total > row.filled:
                self._store.orders.update_order(order_id=order_id, fill_count=total)
            return
        filled = max(row.filled, total)
        remaining = max(row.count - filled, ZERO)
        if row.remaining is not None:
            remaining = min(remaining, row.remaining)
        status = EXECUTED if remaining == 0 else RESTING
        self._store.orders.update_order(
            order_id=order_id, status=status, fill_count=filled, remaining_count=remaining
        )
        self._portfolio.update_order(order_id, remaining=remaining, status=status)

    def order_message(self, order: Order) -> bool:
        """A `user_orders` message: the exchange's own counts go into the order's row. False
        when the message is older than what the state file holds (the order already ended, or
        more of it had filled): the caller then ignores it, so a late `resting` message cannot
        bring back an order whose cancel was answered."""
        order_id, status, filled = order.order_id, order.status, order.fill_count
        row = self._store.orders.intent_by_order_id(order_id) if order_id else None
        if row is None:
            return True  # placed elsewhere: the loop still counts it, the state file does not
        if row.status in (EXECUTED, CANCELED) or filled < row.filled:
            if row.status in (EXECUTED, CANCELED):
                self._portfolio.update_order(order_id, remaining=ZERO, status=row.status)
            return False
        if status in SENT_STATUSES and row.status == RESTING:
            self._store.orders.update_order(
                order_id=order_id,
                status=status,
                fill_count=filled,
                remaining_count=order.remaining_count,
            )
        return True

    def _fill_fields(self, fill: Fill, sent: Sent | None, realized: Decimal) -> dict[str, Any]:
        side, action, price = traders_terms(fill.book_side, fill.yes_price, sent)
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
            "position": self._portfolio.position(fill.ticker),
        }
        if sent is not None:
            worse = price - sent.price if sent.action is Action.BUY else sent.price - price
            fields["latency_ms"] = round((self._clock.monotonic() - sent.sent_at) * 1000, 3)
            fields["slippage"] = worse
            fields["model_fair"] = sent.model_fair
            fields["strategy"] = sent.strategy
        return fields


def _when(fill: Fill) -> tuple[bool, float]:
    """A fill's place in the order its P&L is worked out in, the one its record's time gives
    (`fill_record_from_api`): one that says no time is dated by its read, after the rest."""
    at = fill_time(fill)
    return (at is None, at or 0.0)

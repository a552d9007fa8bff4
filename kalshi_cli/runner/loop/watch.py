"""What the trade loop watches besides the books: the feed's messages, one handler per kind (book
changes and index moves, fills and order updates, staleness, lifecycle, the feed's own
trouble), the trading state other processes write, the exchange's maintenance windows, the
withdrawal of adding quotes while trading is blocked or a market is stale, and positions over
the limit.

`LoopWatch` tells the gate (runner/loop/gate.py) what it sees, and keeps the rest of what it has
seen (the maintenance reads, the markets over the limit); runner/loop/lifecycle_watch.py follows
the markets' lifecycle. It is given more than six collaborators because it is where the outside
world comes in: each kind of message touches a different part (the account, the fills, the API
error guard, the loop's orders, the trading records), and the withdrawals it decides go
through the loop's own orders.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from kalshi_cli.feed.book import MESSAGES_DROPPED, RECONNECTED, FeedMessage, MessageKind
from kalshi_cli.feed.messages import FillNotice, UnreadableOrder
from kalshi_cli.feed.session import FILL, USER_ORDERS
from kalshi_cli.runner.execution.dispatch import Urgency, run_call
from kalshi_cli.runner.loop.lifecycle_watch import LIFECYCLE_CHANNEL
from kalshi_cli.runner.loop.shard_watch import ShardWatch, shard_reader
from kalshi_cli.services.pretrade.books import open_order
from kalshi_cli.vocabulary.clock import iso_utc
from kalshi_cli.vocabulary.models import Order

if TYPE_CHECKING:
    from decimal import Decimal

    from kalshi_cli.client.exchange import ExchangeSchedule
    from kalshi_cli.risk.engine import RiskEngine
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.books.records import LoopTradingRecords
    from kalshi_cli.runner.execution.dispatch import CallAnswer, Dispatch
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.execution.own_orders import OwnOrders
    from kalshi_cli.runner.loop.gate import MarketGate
    from kalshi_cli.runner.loop.lifecycle_watch import LifecycleWatch
    from kalshi_cli.runner.loop.orders_read_again import OrdersReadAgain
    from kalshi_cli.runner.loop.settings import LoopSettings
    from kalshi_cli.runner.loop.shared import Alert, Resolve, Tuning
    from kalshi_cli.runner.ports import LoopClient
    from kalshi_cli.services.pretrade.books import OpenOrder
    from kalshi_cli.vocabulary.clock import Clock


def _as_told(update: Order, remaining: Decimal, known: OpenOrder | None) -> OpenOrder:
    """The order a `user_orders` message tells of, at its terms (book side, YES price) with
    `remaining` resting: as the loop knows it (`known`: its side and strategy), else as one
    placed elsewhere, seen from YES and nobody's."""
    return open_order(
        order_id=update.order_id,
        client_order_id=update.client_order_id if known is None else known.client_order_id,
        ticker=(update.ticker or "") if known is None else known.ticker,
        book_side=update.book_side,
        yes_price=update.yes_price,
        side=None if known is None else known.side,
        remaining=remaining,
        strategy=None if known is None else known.strategy,
    )


class _News:
    """What a tick's messages changed: the markets whose book changed, each with when its first
    change arrived if the feed says (in the order their news arrived: a set's order changes
    with the process's hash seed, and with it the order of the pass's orders), those the
    feed has just called stale, and every market a message concerned other than by its book
    (stale, fresh, a lifecycle message): what may change beyond the book wakes a market at rest
    (runner/loop/schedule.py)."""

    def __init__(self) -> None:
        self.changed: dict[str, float | None] = {}
        self.went_stale: set[str] = set()
        self.touched: set[str] = set()


class LoopWatch:
    def __init__(
        self,
        *,
        client: LoopClient,
        portfolio: Portfolio,
        clock: Clock,
        risk: RiskEngine,
        executor: LoopExecutor,
        dispatch: Dispatch,
        own: OwnOrders,
        records: LoopTradingRecords,
        gate: MarketGate,
        lifecycle: LifecycleWatch,
        orders_again: OrdersReadAgain,
        tuning: Tuning,
        log: EntryLog,
        alert: Alert,
        resolve: Resolve,
        index_markets: Mapping[str, Sequence[str]],
    ) -> None:
        self._client = client  # its subaccount, and the exchange's maintenance windows
        self._portfolio, self._clock = portfolio, clock
        self._risk, self._executor, self._own = risk, executor, own
        self._dispatch, self._records, self._gate = dispatch, records, gate
        self._lifecycle, self._orders_again, self._tuning = lifecycle, orders_again, tuning
        self._log, self._alert, self._resolve = log, alert, resolve
        self._index_markets = index_markets  # an index -> the markets that settle on it
        self.blocked_by: str | None = None  # the blocking state the quotes were withdrawn for
        self._breached: set[str] = set()
        self._breaches_looked: tuple[int, object] | None = None  # `check_breaches`'s inputs
        self._next_schedule = clock.monotonic()  # when the maintenance windows are read again
        self._schedule_out = False  # a read of them is on its way, its answer not booked
        self._schedule_read_once = False  # the first read was made (waited for)
        # the windows and the lead last looked at, and the time until which their answer holds
        self._windows_seen: tuple[object, float, float] = (None, math.nan, -math.inf)
        # client order id -> the last `user_orders` message about an order on its way: told
        # again once its answer is booked (`_told_again`)
        self._on_its_way: dict[str, Order] = {}
        # each shard's status and balance read again (runner/loop/shard_watch.py), built here
        # from what the watch has: the shards' state is the executor's shard hold
        self.shards = ShardWatch(
            read=shard_reader(client),
            hold=executor.balance_hold,
            guard=executor.guard,
            dispatch=dispatch,
            clock=clock,
            log=log,
            poll_s=lambda: self.settings.shard_poll_s,
        )
        # one handler per kind of message; a kind not here is the feed's own trouble
        self._handlers: dict[MessageKind, Callable[[FeedMessage, _News], None]] = {
            MessageKind.BOOK: self._book,
            MessageKind.INDEX: self._index,
            MessageKind.FILL: self._fill,
            MessageKind.USER_ORDER: self._user_order,
            MessageKind.STALE: self._stale,
            MessageKind.FRESH: self._fresh,
            MessageKind.LIFECYCLE: self._lifecycle_message,
            MessageKind.TICKER: lambda message, news: None,
        }

    @property
    def settings(self) -> LoopSettings:
        return self._tuning.settings

    # ---------------------------------------------------------------- messages from the feed

    def handle_messages(
        self, messages: Iterable[FeedMessage]
    ) -> tuple[dict[str, float | None], set[str], set[str]]:
        """The markets whose book changed, those the feed has just called stale and those an
        message concerned otherwise (`_News`), each message applied in the order they arrived by
        the handler of its kind."""
        news = _News()
        self._told_again()
        handlers, trouble = self._handlers, self._trouble
        for message in messages:
            handlers.get(message.kind, trouble)(message, news)
        self._lifecycle.after_events()
        self._orders_again.due()
        return news.changed, news.went_stale, news.touched

    def _told_again(self) -> None:
        """The messages about orders that were on their way when they came, whose answers are
        booked now: each applied as if it came now. An order's answer is the exchange's word
        as it took the order; a fill after that (a quote taken while its answer was on its way)
        is told by the message alone, and the answer's booking, saying it rests, must not be
        the last word until the fill read comes. Booked by the tick's first drain, the message
        counts before the tick decides anything."""
        if not self._on_its_way:
            return
        in_flight = self._executor.answers.in_flight.intents
        for client_order_id in [c for c in self._on_its_way if c not in in_flight]:
            self._order_update(self._on_its_way.pop(client_order_id))

    def _book(self, message: FeedMessage, news: _News) -> None:
        if message.ticker is not None:
            news.changed.setdefault(message.ticker, message.at)

    def _index(self, message: FeedMessage, news: _News) -> None:
        """A strategy that prices from the index decides again when it moves."""
        if self._tuning.lineup.any("reads_index"):
            for market in self._index_markets.get(message.ticker or "", ()):
                news.changed.setdefault(market, message.at)

    def _fill(self, message: FeedMessage, news: _News) -> None:
        # a fill already read (an order that filled at once) is no news
        notice = message.payload
        if not isinstance(notice, FillNotice) or self._executor.fills.applied.fill_is_news(notice):
            self._executor.fills_due = True

    def _user_order(self, message: FeedMessage, news: _News) -> None:
        if isinstance(message.payload, Order | UnreadableOrder):
            self._order_update(message.payload)

    def _lifecycle_message(self, message: FeedMessage, news: _News) -> None:
        if message.ticker is not None:
            news.touched.add(message.ticker)
        self._lifecycle.message(message)

    def _stale(self, message: FeedMessage, news: _News) -> None:
        if (ticker := message.ticker) is not None:
            news.went_stale.add(ticker)
            news.touched.add(ticker)
            self._log.emit("feed_stale", {"ticker": ticker, "reason": message.reason})
            self._alert("feed_stale", ticker, f"{ticker}: {message.reason}", {"ticker": ticker})

    def _fresh(self, message: FeedMessage, news: _News) -> None:
        if (ticker := message.ticker) is not None:
            news.touched.add(ticker)
            self._log.emit("feed_fresh", {"ticker": ticker})
            self._resolve("feed_stale", ticker, f"{ticker}: the feed is fresh again")

    def _trouble(self, message: FeedMessage, news: _News) -> None:
        """The feed's own messages: a reconnect, a gap, a failed poll. Any of them may have lost a
        market's book change: every market is touched, so none stays at rest on a missed one."""
        news.touched.update(self._portfolio.markets)
        kind, reason = message.kind, message.reason
        said = {"reason": reason, "source": message.source}
        if reason == MESSAGES_DROPPED and message.data is not None:
            said["dropped"] = message.data["n"]
        self._log.emit(f"feed_{kind}", said)
        if message.error is not None:
            # a failed book poll is a failed call: the API error guard counts it
            self._executor.guard.failed(message.error)
        if kind is MessageKind.GAP and reason in (LIFECYCLE_CHANNEL, MESSAGES_DROPPED):
            self._lifecycle.gap()
        if reason in (RECONNECTED, MESSAGES_DROPPED, USER_ORDERS, FILL):
            # a fill's or an order's message may have gone: the fills read now, and every market
            # waits for its resting orders' read (as at the start) unless fills alone were lost
            self._executor.fills_due = True
            self._executor.fills.told_elsewhere(None)
            self._orders_again.wait(() if reason == FILL else self._portfolio.markets)

    def _order_update(self, update: Order | UnreadableOrder) -> None:
        if self._subaccount_of(update) != (self._client.subaccount or 0):
            return  # another subaccount's order: another book, never this loop's
        order_id, ticker = update.order_id, update.ticker or ""
        self._executor.fills.told_elsewhere(ticker)
        if isinstance(update, UnreadableOrder):
            # missing means unknown, never "0 resting": the order stays as the loop knew it,
            # and the fills read it makes now (and the next reconcile) decide what it became
            self._executor.fills_due = True
            self._log.emit("user_order_unreadable", {"order_id": order_id, "error": update.error})
            return
        status, remaining, filled = update.status, update.remaining_count, update.fill_count
        fills = self._executor.fills
        news = filled > 0 and fills.applied.order_fills_are_news(order_id, filled)
        if news:
            self._executor.fills_due = True
        if not fills.order_message(update):
            return
        known = self._portfolio.orders.get(order_id)
        # an order on its way counts as resting until its answer is booked; the message is
        # told again then (`_told_again`): a fill after the exchange answered is in it alone
        on_its_way = update.client_order_id in self._executor.answers.in_flight.intents
        if on_its_way and update.client_order_id:
            self._on_its_way[update.client_order_id] = update  # the newest, told again
        if news and ticker in self._portfolio.markets and not on_its_way:
            # what it says filled leaves what rests before the fill read brings it into the
            # position: until then the limits count it apart, or it would count nowhere
            fills.applied.told_filled(known or _as_told(update, filled, None), filled)
        if known is not None and status == "resting" and remaining > 0:
            # an amend (by hand, or on the website) can move the price as well as the count;
            # the exposure rule prices every resting order
            self._portfolio.add_order(_as_told(update, remaining, known))
        elif known is not None:
            self._portfolio.update_order(order_id, remaining=remaining, status=status)
        elif status == "resting" and ticker in self._portfolio.markets:
            # placed elsewhere (by hand): it still counts toward the position limit
            self._portfolio.add_order(_as_told(update, remaining, None))

    def _subaccount_of(self, update: Order | UnreadableOrder) -> int:
        """The subaccount of an order a `user_orders` message is about. The channel covers
        every subaccount and names an order's to direct members only (asyncapi.yaml): one
        naming none is on the subaccount the state file records it on (`kalshi order place
        --subaccount 1`, a loop run there), else it is taken as the loop's own (placed by hand:
        it counts against the limits, as one on the loop's subaccount does)."""
        here = self._client.subaccount or 0
        if update.subaccount is not None:
            return update.subaccount
        if update.order_id in self._portfolio.orders:
            return here  # the loop's view holds its own subaccount's orders alone
        row = self._records.store.orders.intent_by_order_id(update.order_id)
        return row.subaccount if row is not None else here

    # ---------------------------------------------------------------- state, breaches

    def watch_state(self) -> None:
        row = self._records.trading_state()
        gate = self._gate
        if row.state == gate.state:
            return
        first = not gate.state
        if not first and row.state == "ACTIVE" and gate.state in ("HALTED", "SAFE_MODE"):
            # `kalshi resume`: a person has looked; the backoff of the errors that led to
            # SAFE_MODE must not keep the loop idle for another minute
            self._executor.guard.lift()
        gate.state = row.state
        self._log.emit(
            "trading_state", {"state": row.state, "reason": row.reason, "source": row.source}
        )
        if not first and row.state == "HALTED":
            self._alert("kill_switch", "", f"trading HALTED by {row.source}: {row.reason}", {})

    # ---------------------------------------------------------------- maintenance windows

    def _watch_maintenance(self) -> None:
        """Read the exchange's maintenance windows (`GET /exchange/schedule`) at the start and every
        `schedule_poll_s` (not in the API error guard's backoff; the windows last read stay in
        force), off the deciding path, and note when the loop enters or leaves one, its lead time
        counted; leaving one reads the shards again. docs/trade-loop.md "Maintenance windows".

        Nothing is due before the next read and before the next time a window's lead begins or a
        window ends (`MaintenanceWindows.next_change`), unless the windows or the lead changed:
        the tick then asks nothing else."""
        now_m = self._clock.monotonic()
        if now_m >= self._next_schedule and not self._schedule_out:
            self._read_schedule(now_m)
        windows, lead_s = self._risk.maintenance, self._risk.limits.maintenance_lead_s
        now = self._clock.wall()
        seen, seen_lead, holds_until = self._windows_seen
        if windows.windows is seen and lead_s == seen_lead and now < holds_until:
            return
        self._windows_seen = (windows.windows, lead_s, windows.next_change(now, lead_s))
        window = windows.window_at(now, lead_s)
        if window != self._gate.maintenance:
            if window is not None:
                start, end = window
                self._log.emit(
                    "maintenance",
                    {
                        "start": iso_utc(start),
                        "end": iso_utc(end),
                        "lead_s": lead_s,
                        "withdraw": self._risk.limits.maintenance_withdraw,
                    },
                )
            else:
                self._log.emit("maintenance_over", {})
                self.shards.read_again_now()
            self._gate.maintenance = window

    def _read_schedule(self, now_m: float) -> None:
        """The windows read, when the client's exchange announces them (the local venue's and a
        test's do not: asked again at the next poll time) and the backoff allows."""
        exchange = getattr(self._client, "exchange", None)
        read = getattr(exchange, "get_exchange_schedule", None)
        if read is None:
            self._next_schedule = now_m + self.settings.schedule_poll_s
            return
        if self._executor.guard.backing_off:
            return
        self._next_schedule = now_m + self.settings.schedule_poll_s
        if not self._schedule_read_once:
            # the first read is waited for: a loop started in a window knows it before ordering
            self._schedule_read_once = True
            self._schedule_read(run_call(read, self._clock.monotonic))
        else:
            self._schedule_out = True
            self._dispatch.send(
                (), read, self._schedule_read, Urgency.AGAIN, unmade=self._schedule_unmade
            )

    def _schedule_read(self, answer: CallAnswer[ExchangeSchedule]) -> None:
        """The maintenance windows read, booked on the deciding path: a failed read counts, as
        every read does, and the windows last read stay in force."""
        self._schedule_out = False
        schedule = self._executor.guard.read(answer, "schedule_unavailable")
        if schedule is None:
            return
        windows = [(w.start.timestamp(), w.end.timestamp()) for w in schedule.maintenance_windows]
        if self._risk.maintenance.set(windows) and windows:
            self._log.emit(
                "maintenance_scheduled",
                {"windows": [[iso_utc(a), iso_utc(b)] for a, b in sorted(windows)]},
            )

    def _schedule_unmade(self) -> None:
        self._schedule_out = False

    def withdraw(self, tripped: bool, *, full: bool, went_stale: set[str]) -> None:
        """While a blocking state holds (SAFE_MODE, HALTED, REDUCING, the circuit breaker, the
        pause), the loop's resting orders that add to a position are cancelled, in the tick that
        first sees it and again on each full pass for any whose cancel failed. A stale market
        loses all of the loop's quotes there. The API error guard's backoff does not hold these
        cancels back. Reducing orders stay, and orders placed by hand are left alone."""
        self._watch_maintenance()
        self.shards.watch()
        self._gate.tripped = tripped
        why = self._gate.blocked(tripped)
        new_block = why is not None and why != self.blocked_by
        self.blocked_by = why
        if self.settings.dry_run:
            return
        self._withdraw_paused_shards(full)
        if why is not None:
            if full or new_block:
                if why == "maintenance" and self._risk.limits.maintenance_withdraw == "all":
                    self._own.withdraw_all(why, lambda _: True)
                else:
                    self._own.cancel_adding(why, lambda _: True)
            return
        if full or went_stale:
            stale = {
                t
                for t in {o.ticker for o in self._portfolio.orders.values()}
                if (full or t in went_stale) and self._gate.stale(t)
            }
            if stale:
                # every quote of the loop there, an exit too: its price came from a book the
                # loop can no longer see, so it may be a gift whichever way it points
                self._own.withdraw_all("stale feed", lambda o: o.ticker in stale)

    def _withdraw_paused_shards(self, full: bool) -> None:
        """A shard whose trading is paused: the loop's quotes there are cancelled, in the tick
        that first sees it and again on each full pass for any whose cancel failed; its exits
        stay (the exchange holds them, and takes none new: runner/execution/balance_hold.py)."""
        hold = self._executor.balance_hold
        if not hold.paused:
            return  # none paused now: a shard that pauses next is newly paused then
        newly = self.shards.take_newly_paused()
        if not (full or newly):
            return
        self._own.cancel_adding("shard paused", lambda o: hold.shard_paused(o.ticker) is not None)

    def check_breaches(self) -> None:
        """Each position over the limit paged once; looked at when one or the limit changed."""
        limit = self._risk.limits.max_position_per_market
        looked = (self._portfolio.changes, limit)
        if looked == self._breaches_looked:
            return
        self._breaches_looked = looked
        over = {
            m.ticker: m.position
            for m in self._portfolio.open_positions()
            if abs(m.position) > limit
        }
        for ticker, position in over.items():
            if ticker not in self._breached:
                detail = f"{ticker}: position {position} over the limit {limit}"
                self._log.emit("position_breach", {"ticker": ticker, "position": position})
                self._alert("position_breach", ticker, detail, {"ticker": ticker})
        # a market back within the limit, or flat, breaches anew when it next goes over: its
        # breach is resolved, so the next one pages at once
        for ticker in self._breached.difference(over):
            self._resolve("position_breach", ticker, f"{ticker}: position within the limit {limit}")
        self._breached = set(over)

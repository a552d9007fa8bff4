"""What the trade loop watches besides the books: the feed's events (fills due, order updates,
staleness, markets closing), the trading state other processes write, the pause (file or
SIGUSR1), the withdrawal of adding quotes while trading is blocked or a market is stale, and
positions over the limit.

`LoopWatch` keeps what it has seen (trading state, pause, the maintenance window, markets over the
limit and closed). A lifecycle message lost in a gap, or sent before the subscription was granted,
is made good by reading the markets again (`_reread_markets`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from kalshi_cli.feed.book import EventKind, FeedEvent
from kalshi_cli.feed.messages import FillNotice, Lifecycle, UnreadableOrder
from kalshi_cli.runner.books.portfolio import open_order
from kalshi_cli.runner.execution.dispatch import Urgency, run_call
from kalshi_cli.vocabulary.clock import iso_utc
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.models import (
    LIFECYCLE_RESULT,
    LIFECYCLE_RESUMES,
    LIFECYCLE_STOPS,
    Market,
    Order,
    Side,
    lifecycle_of_status,
)

if TYPE_CHECKING:
    from kalshi_cli.client.exchange import ExchangeSchedule
    from kalshi_cli.runner.books.records import LoopTradingRecords
    from kalshi_cli.runner.execution.dispatch import CallAnswer
    from kalshi_cli.runner.loop.settings import LoopSettings
    from kalshi_cli.runner.loop.shared import Acting, Sight, Tuning, Voice
    from kalshi_cli.runner.ports import LoopClient
    from kalshi_cli.strategies import Intent

CLOSED_EVENTS = LIFECYCLE_STOPS | LIFECYCLE_RESULT
# of those, the ones no later event undoes: `deactivated` is also a pause, which `activated` ends
ENDED_EVENTS = (LIFECYCLE_STOPS - {"deactivated"}) | LIFECYCLE_RESULT
LIFECYCLE_CHANNEL = "market_lifecycle_v2"  # what a GAP event of that channel names (feed/ws.py)
MARKETS_PER_READ = 100  # tickers per `GET /markets?tickers=` (the query stays a short URL)
# how long after a failed read of the markets' state it is made again if no gap comes first
REREAD_RETRY_S = 5.0


class LoopWatch:
    def __init__(
        self,
        *,
        client: LoopClient,
        sight: Sight,
        acting: Acting,
        tuning: Tuning,
        voice: Voice,
        records: LoopTradingRecords,
        index_markets: Mapping[str, Sequence[str]],
        closed: set[str],
    ) -> None:
        self._client = client  # its subaccount, and the exchange's maintenance windows
        self._feed, self._portfolio, self._clock = sight.feed, sight.portfolio, sight.clock
        self._risk, self._executor, self._own = acting.risk, acting.executor, acting.own
        self._dispatch = acting.dispatch
        self._tuning = tuning
        self._log, self._alert = voice.log, voice.alert
        self._records = records
        clock = sight.clock
        self._index_markets = index_markets  # an index -> the markets that settle on it
        self._closed = closed  # written here as markets close; the market pass reads it
        self._ended: set[str] = set()  # of those, the ones closed for good
        self.paused_by_signal = False
        self._paused = False  # as last logged
        self.state = ""  # the trading state last read ("" before the first read)
        self.blocked_by: str | None = None  # the blocking state the quotes were withdrawn for
        self._tripped = False  # the daily circuit breaker, as the loop last handed it
        self._breached: set[str] = set()
        self._next_schedule = clock.monotonic()  # when the maintenance windows are read again
        self._schedule_out = False  # a read of them is on its way, its answer not booked
        self._schedule_read_once = False  # the first read was made (waited for)
        self._maintenance: tuple[float, float] | None = None  # the window holding now, if any
        # a lifecycle gap: the markets' state read again (`_reread_markets`)
        self._reread_due = False  # a gap asked for a read not made yet
        self._reread_out = False  # a read is on its way, its answer not booked
        self._reread_at = -math.inf  # not before (monotonic): a failed read's retry
        self._told: set[str] = set()  # markets a lifecycle message told of while a read was out
        # the feed's first lifecycle subscription was seen granted (`_first_grant`)
        self._granted_once = False

    @property
    def settings(self) -> LoopSettings:
        return self._tuning.settings

    # ---------------------------------------------------------------- events from the feed

    def handle_events(
        self, events: Iterable[FeedEvent]
    ) -> tuple[dict[str, float | None], set[str]]:
        """The markets whose book changed, each with when its first change arrived if the feed
        says (in the order their news arrived: a set's order changes with the process's hash
        seed, and with it the order of the pass's orders), and those the feed has just called
        stale. Whole: one branch per kind of event, applied in the order they arrived."""
        changed: dict[str, float | None] = {}
        went_stale: set[str] = set()
        for event in events:
            kind, ticker = event.kind, event.ticker
            if kind is EventKind.BOOK and ticker is not None:
                changed.setdefault(ticker, event.at)
            elif kind is EventKind.FILL:
                # a fill already read (an order that filled at once) is no news
                notice = event.message
                if not isinstance(notice, FillNotice) or self._executor.fills.fill_is_news(notice):
                    self._executor.fills_due = True
            elif kind is EventKind.USER_ORDER and isinstance(
                event.message, Order | UnreadableOrder
            ):
                self._order_update(event.message)
            elif kind is EventKind.STALE and ticker is not None:
                went_stale.add(ticker)
                self._log.emit("feed_stale", {"ticker": ticker, "reason": event.reason})
                self._alert("feed_stale", ticker, f"{ticker}: {event.reason}", {"ticker": ticker})
            elif kind is EventKind.FRESH and ticker is not None:
                self._log.emit("feed_fresh", {"ticker": ticker})
            elif kind is EventKind.LIFECYCLE and isinstance(event.message, Lifecycle):
                self._lifecycle(event.message)
            elif kind is EventKind.INDEX:
                # a strategy that prices from the index decides again when it moves
                if self._tuning.lineup.any("reads_index"):
                    for market in self._index_markets.get(ticker or "", ()):
                        changed.setdefault(market, event.at)
            elif kind is not EventKind.TICKER:
                self._log.emit(f"feed_{kind}", {"reason": event.reason, "source": event.source})
                if event.error is not None:
                    # a failed book poll is a failed call: the API error guard counts it
                    self._executor.guard.failed(event.error)
                if kind is EventKind.GAP and event.reason == LIFECYCLE_CHANNEL:
                    # a close, pause, resume or result may be lost (a number missed, or said
                    # while the feed reconnected): the channel has no snapshot to resync from,
                    # so the markets' state is read again (at once: a failed read's wait is over)
                    self._reread_due = True
                    self._reread_at = -math.inf
                    self._granted_once = True  # a gap comes after a grant: its read is the one
        self._first_grant()
        # after the events: what the read finds is newer than the messages before the gap
        self._reread_markets()
        return changed, went_stale

    def _order_update(self, update: Order | UnreadableOrder) -> None:
        if self._subaccount_of(update) != (self._client.subaccount or 0):
            return  # another subaccount's order: another book, never this loop's
        order_id, ticker = update.order_id, update.ticker or ""
        if isinstance(update, UnreadableOrder):
            # missing means unknown, never "0 resting": the order stays as the loop knew it,
            # and the fills read it makes now (and the next reconcile) decide what it became
            self._executor.fills_due = True
            self._log.emit("user_order_unreadable", {"order_id": order_id, "error": update.error})
            return
        status, remaining, filled = update.status, update.remaining_count, update.fill_count
        fills = self._executor.fills
        news = filled > 0 and fills.order_fills_are_news(order_id, filled)
        if news:
            self._executor.fills_due = True
        if not fills.order_message(update):
            return
        known = self._portfolio.orders.get(order_id)
        # an order on its way counts as resting until its answer is booked, which tells what
        # it filled as this message does
        on_its_way = update.client_order_id in self._executor.answers.in_flight.intents
        if news and ticker in self._portfolio.markets and not on_its_way:
            # what it says filled leaves what rests before the fill read brings it into the
            # position: until then the limits count it apart, or it would count nowhere
            fills.told_filled(
                known
                or open_order(
                    order_id=order_id,
                    client_order_id=update.client_order_id,
                    ticker=ticker,
                    book_side=update.book_side,
                    yes_price=update.yes_price,
                    side=None,
                    remaining=filled,
                    strategy=None,
                ),
                filled,
            )
        if known is not None and status == "resting" and remaining > 0:
            # an amend (by hand, or on the website) can move the price as well as the count;
            # the exposure rule prices every resting order
            self._portfolio.add_order(
                open_order(
                    order_id=order_id,
                    client_order_id=known.client_order_id,
                    ticker=known.ticker,
                    book_side=update.book_side,
                    yes_price=update.yes_price,
                    side=known.side,
                    remaining=remaining,
                    strategy=known.strategy,
                )
            )
        elif known is not None:
            self._portfolio.update_order(order_id, remaining=remaining, status=status)
        elif status == "resting" and ticker in self._portfolio.markets:
            # placed elsewhere (by hand): it still counts toward the position limit
            self._portfolio.add_order(
                open_order(
                    order_id=order_id,
                    client_order_id=update.client_order_id,
                    ticker=ticker,
                    book_side=update.book_side,
                    yes_price=update.yes_price,
                    side=Side.YES,
                    remaining=remaining,
                    strategy=None,
                )
            )

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

    def _lifecycle(self, message: Lifecycle) -> None:
        ticker, kind = message.market_ticker or "", message.event_type or ""
        if self._reread_out and (kind in CLOSED_EVENTS or kind == LIFECYCLE_RESUMES):
            self._told.add(ticker)
        self._apply_lifecycle(ticker, kind, {})

    def _apply_lifecycle(self, ticker: str, kind: str, detail: dict[str, str]) -> None:
        """One rule for what a lifecycle event does to the loop's market, told by its message or
        read again after a gap (`detail`: what the read found)."""
        if ticker not in self._portfolio.markets:
            return
        if kind in ENDED_EVENTS:
            self._ended.add(ticker)
        if kind in LIFECYCLE_RESULT:
            # its settlement is read with the fills from now on, and booked when listed
            self._executor.fills.settlements.result_known(ticker)
            self._executor.fills_due = True
        if kind in CLOSED_EVENTS and ticker not in self._closed:
            self._closed.add(ticker)
            self._log.emit("market_closed", {"ticker": ticker, "event_type": kind, **detail})
        elif kind == LIFECYCLE_RESUMES and ticker in self._closed and ticker not in self._ended:
            # a pause ended: the market trades again, and the loop trades it, stop-loss too
            self._closed.discard(ticker)
            self._log.emit("market_reopened", {"ticker": ticker, "event_type": kind, **detail})

    def _first_grant(self) -> None:
        """The feed's first lifecycle subscription, once granted, is a gap to the loop: what was
        said between the start's listing and the grant is never said on it. The loop reads its
        markets once when it first sees the subscription; a later grant is reported by the feed
        as a gap."""
        if self._granted_once:
            return
        session = getattr(getattr(self._feed, "ws", None), "session", None)
        if LIFECYCLE_CHANNEL in getattr(session, "sids", ()):
            self._granted_once = True
            self._reread_due = True
            self._reread_at = -math.inf

    def _reread_markets(self) -> None:
        """After a lifecycle gap (or the first grant), the loop's markets read again (`GET
        /markets?tickers=`) and applied as the lifecycle message that leads there would be
        (`lifecycle_of_status`). Made off the deciding path, one at a time, not during the API
        error guard's backoff; a failed read is made again on the next gap or `REREAD_RETRY_S`
        later."""
        if not self._reread_due or self._reread_out or self._executor.guard.backing_off:
            return
        if self._clock.monotonic() < self._reread_at:
            return
        # a client that lists no markets (a test's) has nothing to read them from
        listing = getattr(getattr(self._client, "markets", None), "iter_markets", None)
        self._reread_due = False
        # a market whose result is known has nothing left to learn
        tickers = sorted(t for t in self._portfolio.markets if t not in self._ended)
        if listing is None or not tickers:
            return

        def read() -> list[Market]:
            found: list[Market] = []
            for i in range(0, len(tickers), MARKETS_PER_READ):
                found.extend(listing(tickers=tickers[i : i + MARKETS_PER_READ]))
            return found

        self._reread_out = True
        self._told.clear()
        self._dispatch.send(
            (), read, self._reread_booked, Urgency.AGAIN, unmade=self._reread_unmade
        )

    def _reread_booked(self, answer: CallAnswer[list[Market]]) -> None:
        """The markets' state read after a gap, booked on the deciding path. A market a
        lifecycle message told of while the read was out is left to the message: the channel
        delivers in order, so what it said, and what follows it, is as new as the read."""
        self._reread_out = False
        told, self._told = self._told, set()
        try:
            markets = answer.get()
        except KalshiError as exc:
            self._executor.guard.failed(exc, answer.sent_at)
            self._log.emit("lifecycle_read_failed", {"error": exc.one_line()})
            self._reread_due = True
            self._reread_at = self._clock.monotonic() + REREAD_RETRY_S
            return
        self._executor.guard.ok(answer.sent_at)
        for market in markets:
            kind = lifecycle_of_status(market.status, market.result)
            if kind is not None and market.ticker not in told:
                self._apply_lifecycle(market.ticker, kind, {"status": market.status})

    def _reread_unmade(self) -> None:
        # never made (the loop is stopping, or a drain failed): a later tick may make it
        self._reread_out = False
        self._reread_due = True

    # ---------------------------------------------------------------- state, pause, breaches

    @property
    def paused(self) -> bool:
        pause_file = self.settings.pause_file
        paused = self.paused_by_signal or (pause_file is not None and pause_file.exists())
        if paused != self._paused:
            self._paused = paused
            self._log.emit("paused" if paused else "unpaused", {"pause_file": pause_file})
        return paused

    @property
    def last_paused(self) -> bool:
        """The pause as last read: the heartbeat reports it without reading the file again."""
        return self._paused

    def toggle_pause(self) -> None:
        """SIGUSR1: pause new orders, or resume them (stop-losses always go out)."""
        self.paused_by_signal = not self.paused_by_signal

    def watch_state(self) -> None:
        row = self._records.trading_state()
        if row.state == self.state:
            return
        first = not self.state
        if not first and row.state == "ACTIVE" and self.state in ("HALTED", "SAFE_MODE"):
            # `kalshi resume`: a person has looked; the backoff of the errors that led to
            # SAFE_MODE must not keep the loop idle for another minute
            self._executor.guard.lift()
        self.state = row.state
        self._log.emit(
            "trading_state", {"state": row.state, "reason": row.reason, "source": row.source}
        )
        if not first and row.state == "HALTED":
            self._alert("kill_switch", "", f"trading HALTED by {row.source}: {row.reason}", {})

    def _blocked(self, tripped: bool) -> str | None:
        """Why no order that adds to a position may go out in any market now, if so."""
        if self.state != "ACTIVE":
            return self.state
        if tripped:
            return "circuit breaker"
        if self.paused:
            return "paused"
        if self._maintenance is not None and self._risk.limits.maintenance_withdraw != "none":
            return "maintenance"
        return None

    # ---------------------------------------------------------------- maintenance windows

    def _watch_maintenance(self) -> None:
        """Read the exchange's maintenance windows (`GET /exchange/schedule`) at the start and every
        `schedule_poll_s` (not during the API error guard's backoff; the windows last read stay
        in force), off the deciding path, and note when the loop enters or leaves one, its lead
        time counted. docs/trade-loop.md "Maintenance windows"."""
        # a client whose exchange announces no schedule (the local venue's, a test's) has none
        exchange = getattr(self._client, "exchange", None)
        read = getattr(exchange, "get_exchange_schedule", None)
        now_m = self._clock.monotonic()
        if (
            read is not None
            and now_m >= self._next_schedule
            and not self._schedule_out
            and not self._executor.guard.backing_off
        ):
            self._next_schedule = now_m + self.settings.schedule_poll_s
            if not self._schedule_read_once:
                # the first read is waited for: a loop started inside a window must know it
                # before its first order
                self._schedule_read_once = True
                self._schedule_read(run_call(read, self._clock.monotonic))
            else:
                self._schedule_out = True
                self._dispatch.send(
                    (), read, self._schedule_read, Urgency.AGAIN, unmade=self._schedule_unmade
                )
        window = self._risk.maintenance.window_at(
            self._clock.wall(), self._risk.limits.maintenance_lead_s
        )
        if window != self._maintenance:
            if window is not None:
                start, end = window
                self._log.emit(
                    "maintenance",
                    {
                        "start": iso_utc(start),
                        "end": iso_utc(end),
                        "lead_s": self._risk.limits.maintenance_lead_s,
                        "withdraw": self._risk.limits.maintenance_withdraw,
                    },
                )
            else:
                self._log.emit("maintenance_over", {})
            self._maintenance = window

    def _stale(self, ticker: str) -> bool:
        """The stale-feed rule's reading of this market: no fresh book, or no market data for it
        for `risk.stale_after_s` (its own book age, pings excluded: docs/feed.md)."""
        if not self._feed.is_fresh(ticker):
            return True
        return self._feed.data_age(ticker) >= self._risk.limits.stale_after_s

    def withheld(self, intent: Intent) -> str | None:
        """Why this order may not go out now by the watch's rules (None: it may): its market closed
        or stale, or, unless reduce-only, a blocking state. Asked of an order decided earlier
        that has not gone yet (`_since_decided`)."""
        ticker = intent.ticker
        if ticker in self._closed:
            return "market closed"
        if self._stale(ticker):
            return "stale feed"
        if intent.reduce_only:
            return None
        return self._blocked(self._tripped)

    def _schedule_read(self, answer: CallAnswer[ExchangeSchedule]) -> None:
        """The maintenance windows read, booked on the deciding path: a failed read counts, as
        every read does, and the windows last read stay in force."""
        self._schedule_out = False
        try:
            schedule = answer.get()
        except KalshiError as exc:
            self._executor.guard.failed(exc, answer.sent_at)
            self._log.emit("schedule_unavailable", {"error": exc.one_line()})
            return
        self._executor.guard.ok(answer.sent_at)
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
        self._tripped = tripped
        why = self._blocked(tripped)
        new_block = why is not None and why != self.blocked_by
        self.blocked_by = why
        if self.settings.dry_run:
            return
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
                if (full or t in went_stale) and self._stale(t)
            }
            if stale:
                # every quote of the loop there, an exit too: its price came from a book the
                # loop can no longer see, so it may be a gift whichever way it points
                self._own.withdraw_all("stale feed", lambda o: o.ticker in stale)

    def check_breaches(self) -> None:
        limit = self._risk.limits.max_position_per_market
        for m in self._portfolio.open_positions():
            if abs(m.position) > limit and m.ticker not in self._breached:
                self._breached.add(m.ticker)
                detail = f"{m.ticker}: position {m.position} over the limit {limit}"
                self._log.emit("position_breach", {"ticker": m.ticker, "position": m.position})
                self._alert("position_breach", m.ticker, detail, {"ticker": m.ticker})
            elif abs(m.position) <= limit:
                self._breached.discard(m.ticker)

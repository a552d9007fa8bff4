"""What the account holds in the markets of the trade loop's events that the loop does not trade
(one closed awaiting its result, one left out of the selection): they settle with the event, so
the limit on an event's loss counts them (`risk.max_event_loss`, risk/event_loss.py).

They are read from the exchange at the start, then again, one event at a time, whenever the
loop's fill read lists a fill in one of them that it had not listed before the event was last
read, or listed close before that read (a trade by hand, or by another program), and with the
fill reads made after the feed tells of an order placed, amended or cancelled there, or of a
result (`told`; a feed's gap, a reconnect that may have lost one, tells of every event). A fill is
told new by its id, not by its time against the read's: the one is the exchange's clock, the
other this machine's, and seconds apart they would pass over a fill made just after a read.
The fill read lists every market's fills already, every `trade.fill_poll_s`, so following
these markets costs no call while nothing happens in them, and two (the event's resting
orders, then its positions) on the worker of the fill read that saw or was told something
happen. A read that fails keeps the last view, with each fill listed that it does not count
counted as filled and not read (`PositionView.unbooked`: at its price and the taker fee), and
is made again with the fill reads that hold no market from deciding, at most every RETRY_S: a
market is never taken for empty because the exchange did not answer. It is not the API error
guard's to count: it stops nothing, not even this event's orders, which the limit holds to
what is known.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from kalshi_cli.runner.execution.dispatch import CallAnswer, run_call
from kalshi_cli.services.pnl import fill_time
from kalshi_cli.vocabulary.decisions import PositionView, RestingOrder
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.units import Side, from_book

if TYPE_CHECKING:
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.models import Fill

# a fill listed this close before an event's last read may not be in its positions yet: reads
# lag writes (the event is read once more)
MARGIN_S = 2.0
# an event whose read failed is asked again at most this often (the fill reads' fallback
# timer), whatever the number of fill reads meanwhile (one per order answer with a fill)
RETRY_S = 5.0

Views = Mapping[str, PositionView]
# what a fill read's worker hands back: the fills it listed in these markets, and each event
# read again (when it was read, the answer)
Reread = tuple[list["Fill"], list[tuple[str, float, CallAnswer[Views]]]]


class ElsewhereViews:
    def __init__(
        self,
        *,
        markets: Mapping[str, str],
        views: Views,
        read: Callable[[str], Views],
        clock: Clock,
        log: EntryLog,
        listed: Iterable[tuple[str, str]] = (),
    ) -> None:
        """`markets`: each market of the loop's events that it does not trade -> its event;
        `views`: what the exchange holds in them, read just now; `read`: one event's views
        from the exchange; `listed`: (ticker, fill id) of the fills listed just before `views`
        were read, which they count (the loop's first fill reads list them again)."""
        self._event_of = dict(markets)
        self._views = {t: v for t, v in views.items() if t in self._event_of}
        self._read = read
        # event -> when it was last read, answered or not (unix seconds)
        self._read_at = dict.fromkeys(self._event_of.values(), clock.wall())
        self._clock, self._log = clock, log
        # the events whose last read failed -> when (monotonic seconds)
        self._failed: dict[str, float] = {}
        # event -> when (unix seconds) an order or a result there was last told (`told`)
        self._told: dict[str, float] = {}
        # event -> the fills its views count: those listed with its last read, those counted
        # as not read since
        self._counted: dict[str, set[str]] = {}
        for ticker, fill_id in listed:
            if ticker in self._event_of:
                self._counted.setdefault(self._event_of[ticker], set()).add(fill_id)

    def view(self, ticker: str) -> PositionView | None:
        """What the account holds in `ticker` (None: a market the loop trades, or nothing)."""
        return self._views.get(ticker)

    def let_go(self, ticker: str) -> None:
        """`ticker` joined the loop: its view counts it from now on, not this one (a read of
        its event on its way leaves it out; the map is replaced, not changed, for a worker
        that reads it)."""
        self._event_of = {t: e for t, e in self._event_of.items() if t != ticker}
        self._views.pop(ticker, None)

    def told(self, ticker: str | None) -> bool:
        """A `user_orders` message (an order placed, amended, cancelled, filled) or a result in
        `ticker`, or one of each market maybe lost (None: a gap in the feed, a reconnect):
        whether it is one of these markets. Its event is then read with each fill read,
        whatever that lists, until one read MARGIN_S after this is booked: the exchange may not
        list the order yet when it tells of it."""
        events = set(self._event_of.values()) if ticker is None else set()
        if ticker in self._event_of:
            events.add(self._event_of[ticker])
        for event in events:
            self._told[event] = self._clock.wall()
        return bool(events)

    def rereading(self, *, held: bool) -> Callable[[Iterable[Fill]], Reread]:
        """What a fill read's worker does with the fills it listed (of the loop's subaccount):
        each event with a fill among them that its views do not count, or listed close before
        its last read, or told of, or whose last read failed, read again (one that failed, not
        before RETRY_S since, nor by a read that `held` markets from deciding: each try may take
        the client's retries, which would hold them as long). What it compares with is taken
        now, on the deciding thread."""
        event_of, read_at, now = self._event_of, dict(self._read_at), self._clock.monotonic()
        counted, told = dict(self._counted), set(self._told)
        waiting = {e for e, at in self._failed.items() if held or now - at < RETRY_S}
        again = self._failed.keys() - waiting

        def unread(fill: Fill) -> bool:
            event, made = event_of[fill.ticker], fill_time(fill)
            if fill.fill_id not in counted.get(event, ()):
                return True
            return made is not None and made >= read_at[event] - MARGIN_S

        def reread(fills: Iterable[Fill]) -> Reread:
            listed = [f for f in fills if f.ticker in event_of]
            stale = {event_of[f.ticker] for f in listed if unread(f)}
            answers = []
            for event in sorted((again | stale | told) - waiting):
                at = self._clock.wall()
                answers.append(
                    (event, at, run_call(partial(self._read, event), self._clock.monotonic))
                )
            return listed, answers

        return reread

    def book(self, reread: Reread) -> None:
        """A fill read's `reread`, on the deciding thread: each event read replaces its views;
        each whose read failed keeps them, with each fill listed that they do not count counted
        as not read (neither if a later read of the event was booked first)."""
        fills, answers = reread
        fills = [f for f in fills if f.ticker in self._event_of]  # none that joined the loop
        for event, at, answer in answers:
            # one read made before another booked first: a failed one would count again what
            # the later read holds; an answered one would drop what the later listed
            if at <= self._read_at[event]:
                continue
            self._read_at[event] = at
            try:
                views = answer.get()
            except KalshiError as exc:
                if event not in self._failed:
                    self._log.emit(
                        "event_read_failed", {"event_ticker": event, "error": exc.one_line()}
                    )
                self._failed[event] = answer.sent_at
                continue
            self._failed.pop(event, None)
            if at >= self._told.get(event, math.inf) + MARGIN_S:
                del self._told[event]
            self._views = {t: v for t, v in self._views.items() if self._event_of[t] != event}
            self._views.update((t, v) for t, v in views.items() if self._event_of.get(t) == event)
            # listed before the event was read: its positions hold them
            self._counted[event] = {f.fill_id for f in fills if self._event_of[f.ticker] == event}
        for fill in fills:
            event = self._event_of[fill.ticker]
            counted = self._counted.setdefault(event, set())
            if event not in self._failed or fill.fill_id in counted:
                continue
            counted.add(fill.fill_id)
            view = self._views.get(fill.ticker) or PositionView(fill.ticker)
            action, price = from_book(fill.book_side, fill.yes_price, Side.YES)
            filled = RestingOrder(fill.order_id, Side.YES, action, price, fill.count)
            self._views[fill.ticker] = replace(view, unbooked=(*view.unbooked, filled))

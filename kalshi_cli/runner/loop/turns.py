"""Which markets a tick visits, and each visit: the news a tick's events bring, a full pass's start
(the queue positions read, the sweep begun), then held positions first and markets from the
schedule until the tick's budget is spent, no more than the client's write budget can send soon.
docs/trade-loop.md "How the loop chooses its markets" and "The write budget".

`MarketTurns` keeps what the visits saw: the position view each held market's last visit saw,
and the markets no order was sent for yet. It is given more than six collaborators because a
visit is where the schedule meets the market's turn: the schedule hands out the market, the
market pass decides its turn, the sender knows a stop-loss waiting for its retry, the queue
positions are read for it, the dispatch says which markets are busy and how far behind the write
budget runs, the account says which positions are held, and the executor's outbox sends the
batch once its first order has waited.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.execution.dispatch import Dispatch
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.loop.market_pass import MarketPass
    from kalshi_cli.runner.loop.queue_positions import QueuePositions
    from kalshi_cli.runner.loop.schedule import MarketSchedule
    from kalshi_cli.runner.loop.sending import TurnSender
    from kalshi_cli.runner.loop.settings import LoopSettings
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.decisions import PositionView

WRITE_AHEAD_S = 1.0
"""How far behind the client's write budget may run (the seconds an order sent now would wait
for its turn from the rate limiter) before the loop decides no more orders: one decided
further ahead goes out on a book that has moved, and a post-only quote is then refused as a
cross, its tokens spent for nothing (`MarketTurns.serve`)."""

WRITES_SHORT_S = 0.5
"""The write budget is short with less than this many seconds of writes in hand: the markets
not yet quoted then go first (`MarketTurns.serve`)."""


class MarketTurns:
    def __init__(
        self,
        *,
        schedule: MarketSchedule,
        market_pass: MarketPass,
        sender: TurnSender,
        queue: QueuePositions,
        dispatch: Dispatch,
        portfolio: Portfolio,
        executor: LoopExecutor,
        clock: Clock,
        settings: LoopSettings,
    ) -> None:
        self.schedule = schedule
        self._market_pass, self._sender, self._queue = market_pass, sender, queue
        self._dispatch, self._portfolio, self._executor = dispatch, portfolio, executor
        self._clock = clock
        self._batch_wait_s = settings.batch_wait_s
        # ticker -> the position view a held market's last visit saw: a new one (a fill, an
        # order) is news for its risk exits
        self._seen_views: dict[str, PositionView] = {}
        # the markets no order was sent for yet (`_unquoted`), and how many were sent for when
        # it was last brought up to date
        self._not_quoted: set[str] = set(portfolio.markets)
        self._quoted_seen = 0
        # the markets held (`_held`), and `Portfolio.changes` when they were worked out
        self._held_now: dict[str, None] = {}
        self._held_at = -1

    def news(
        self, changed: Mapping[str, float | None], now: float, touched: Iterable[str] = ()
    ) -> None:
        """The markets whose book changed, each from when its first change arrived (else
        `now`): their turn comes before the sweep's. Those `touched` otherwise (a stale, fresh
        or lifecycle event, the feed's trouble) are woken from rest (runner/loop/schedule.py)."""
        schedule = self.schedule
        schedule.changed(changed, now)
        for ticker in touched:
            schedule.wake(ticker)

    def start_pass(self) -> None:
        """A full pass: the queue positions read again, and a sweep of every market begun."""
        self._queue.read()
        self.schedule.start_sweep()

    def deciding(self) -> bool:
        """A market waits for its turn and the write budget can send what it decides."""
        return self.schedule.pending and not self.writes_held_back()

    def writes_held_back(self) -> bool:
        """The write budget is more than `WRITE_AHEAD_S` behind: no market takes a turn."""
        return self._dispatch.writes_behind_s() > WRITE_AHEAD_S

    def serve(self, until: float, *, paced: bool = True, paused: bool = False) -> None:
        """Held positions first, whatever the budget: each whose book changed or that is due in the
        sweep gets its whole turn; each whose position view changed or whose stop-loss waits for
        its retry gets its stop-loss. Then markets from the schedule, at least one, until the
        clock reaches `until`; their orders go out as a batch once the first has waited
        `batch_wait_s`.

        The loop decides no more than the client's write budget can send soon: more than
        `WRITE_AHEAD_S` behind, no market takes a turn (held positions take their stop-loss alone);
        with less than `WRITES_SHORT_S` in hand, markets not yet quoted go first. A tick that is not
        `paced` (`--once`, a backtest) visits every market. `paused`: the pause file, read once a
        tick, not once per market. No market waiting (no news, no sweep) and none held: no
        turn and no stop-loss can be due, and nothing else is asked."""
        schedule = self.schedule
        if not schedule.pending and not self._held():
            return
        dispatch = self._dispatch
        behind = dispatch.writes_behind_s() if paced else -math.inf
        first = self._unquoted() if behind > -WRITES_SHORT_S else frozenset()
        exits_only = behind > WRITE_AHEAD_S or schedule.waiting_first(first)
        self._serve_held(exits_only=exits_only, paused=paused)
        if behind > WRITE_AHEAD_S:
            return
        now = self._clock.monotonic()
        while True:
            # `now`: read after the last visit's batch went, nothing done since
            turn = schedule.next_market(now, first)
            if turn is None:
                return
            self._visit(turn, paused)
            dispatch.drain()  # answers back meanwhile: their markets may take a turn again
            if paced and self.writes_held_back():
                return  # what it decided fills the write budget: the rest waits its turn
            now = self._clock.monotonic()
            outbox = self._executor.outbox
            if outbox.queued and now - outbox.queued_since >= self._batch_wait_s:
                self._executor.flush()  # the first order of the batch has waited long enough
                now = self._clock.monotonic()
            if now >= until:
                return

    def _serve_held(self, *, exits_only: bool, paused: bool) -> None:
        """Each held position whose book changed or that is due in the sweep gets its whole turn
        (its stop-loss alone when `exits_only`); each whose position view changed or whose
        stop-loss waits for its retry gets its stop-loss. A market held and not traded, taken on
        for its exits (runner/loop/held_markets.py), gets its stop-loss alone on each of
        those and on a book change (`MarketSchedule.follow`)."""
        schedule = self.schedule
        dispatch = self._dispatch
        portfolio = self._portfolio
        news_of, seen, views = schedule.held_news, self._seen_views, portfolio.view
        stop_waiting = self._sender.stop_waiting
        for ticker in self._held():
            # the questions that change nothing first: most held markets have nothing new
            news = news_of(ticker)
            if (
                news is None
                and views(ticker) is seen.get(ticker)
                and not stop_waiting(ticker)  # a close that did not fill: its retry
            ):
                continue
            has_turn = news is True  # never for a market followed for its exits alone
            # a market busy with a fill read alone is parked: no turn, its stop-loss still
            if ticker not in schedule.visited and not schedule.follows(ticker):
                continue  # held, not (yet) taken on (runner/loop/held_markets.py)
            if dispatch.busy(ticker, exits=True):
                continue
            if has_turn and not exits_only:
                self._visit(ticker, paused)
            else:
                self._market_pass.exit(ticker)
                schedule.exited(ticker)
                seen[ticker] = views(ticker)

    def _held(self) -> dict[str, None]:
        """The markets held, in order, worked out again only when a position or the fills told
        changed (`Portfolio.changes`): a market whose fills are told and not read yet is held at
        the exchange already. A new dict each time: a visit's fill may change it meanwhile."""
        portfolio = self._portfolio
        if portfolio.changes != self._held_at:
            held = dict.fromkeys(m.ticker for m in portfolio.open_positions())
            held.update(dict.fromkeys(o.ticker for o in portfolio.unbooked_orders()))
            self._held_now, self._held_at = held, portfolio.changes
        return self._held_now

    def _unquoted(self) -> frozenset[str] | set[str]:
        """The markets no order was sent for yet this run (`Dispatch.quoted`)."""
        quoted = self._dispatch.quoted
        if len(quoted) != self._quoted_seen:
            self._quoted_seen = len(quoted)
            self._not_quoted.difference_update(quoted)
        return self._not_quoted

    def _visit(self, ticker: str, paused: bool) -> None:
        at_rest = self._market_pass.trade(ticker, paused=paused)
        self.schedule.visit(ticker, self._clock.monotonic())
        if at_rest:
            self.schedule.rest(ticker)
        if self._portfolio.position(ticker):
            self._seen_views[ticker] = self._portfolio.view(ticker)
        else:
            self._seen_views.pop(ticker, None)

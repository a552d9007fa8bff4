"""Which markets a tick visits, in which order, and how far behind it runs: `MarketSchedule` hands
out markets within a tick's time budget, news first, then a round-robin sweep, so a quiet market
waits at most about `revisit_s`; it measures the lags for the heartbeat. It reads no clock.
docs/trade-loop.md "How the loop chooses its markets".

A market at rest (`rest`: its last visit found nothing any strategy could decide anew) is passed
over by the sweep: its turn is counted as a visit where it stands in the sweep, with no visit, so
the other markets' order and the lag figures are what visiting it would have given. Anything that
may change what a strategy reads there wakes it (`wake`, `changed`, `wake_all`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kalshi_cli.runner.loop.event_groups import EventGroup


@dataclass(frozen=True)
class LagReport:
    """The loop's lag over one reporting window (docs/trade-loop.md "Lag")."""

    decisions: int  # decisions on news in the window
    lag_p50_s: float | None  # book change to the decision that saw it; None without decisions
    lag_p99_s: float | None
    lag_max_s: float | None
    revisit_max_s: float  # the longest any market went unvisited, the window's or still open
    waiting: int  # markets with news not yet decided on, at the report
    # the markets unvisited for longer than the revisit bound, longest first (at most ten)
    behind_on: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        def r(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "decisions": self.decisions,
            "lag_p50_s": r(self.lag_p50_s),
            "lag_p99_s": r(self.lag_p99_s),
            "lag_max_s": r(self.lag_max_s),
            "revisit_max_s": round(self.revisit_max_s, 3),
            "waiting": self.waiting,
            "behind_on": list(self.behind_on),
        }


def quantile(ordered: list[float], q: float) -> float:
    """The nearest-rank quantile of an ascending, non-empty list."""
    rank = max(1, math.ceil(len(ordered) * q))
    return ordered[min(len(ordered), rank) - 1]


class MarketSchedule:
    def __init__(
        self,
        tickers: Iterable[str],
        *,
        now: float,
        revisit_s: float,
        events: Mapping[str, EventGroup] | None = None,
    ) -> None:
        self.revisit_s = revisit_s
        # ticker -> the markets a strategy may read on its turn beside it (its event's): waking
        # one wakes them all
        self._together = {t: group.tickers for t, group in (events or {}).items()}
        self._order = list(dict.fromkeys(tickers))
        # ticker -> when the first change not yet decided on arrived (insertion: oldest first)
        self.news: dict[str, float] = {}
        self._sweep: dict[str, None] = {}  # the current sweep's markets not yet visited
        # a market counts as visited at the start: its revisit is measured from there
        self.visited: dict[str, float] = dict.fromkeys(self._order, now)
        self._lags: list[float] = []
        self._revisit_max = 0.0
        # every decision lag of the run with its market, when a benchmark or test asks for
        # the whole distribution (the reports keep only a window)
        self.kept: list[tuple[str, float]] | None = None
        # markets waiting for an exchange call's answer (runner/execution/dispatch.py): out of the
        # news and the sweep until it is booked; ticker -> (its news's time, in the sweep)
        self._parked: dict[str, tuple[float | None, bool]] = {}
        # markets at rest: the sweep passes them over until something wakes them
        self._resting: set[str] = set()
        # markets followed for their exits alone (`follow`): never handed out; ticker -> a
        # book change not yet seen by their stop-loss
        self._followed: dict[str, bool] = {}

    @property
    def pending(self) -> bool:
        """Work left over: news not yet decided on, or a sweep not yet finished."""
        return bool(self.news or self._sweep)

    def in_sweep(self, ticker: str) -> bool:
        return ticker in self._sweep

    def changed(self, changes: Mapping[str, float | None], now: float) -> None:
        """The markets whose book changed, each from when its change arrived (None: `now`), as
        a tick hands them over, all at once: the first change not yet decided on is what a
        market's lag is measured from."""
        parked_at, visited, news = self._parked, self.visited, self.news
        for ticker, at in changes.items():
            parked = parked_at.get(ticker)
            if parked is not None:
                if parked[0] is None:
                    parked_at[ticker] = (now if at is None else at, parked[1])
            elif ticker in visited:
                news.setdefault(ticker, now if at is None else at)
            elif ticker in self._followed:
                self._followed[ticker] = True
        if self._resting:
            for ticker in changes:
                self.wake(ticker)

    def rest(self, ticker: str) -> None:
        """The market's visit found nothing to decide anew, whatever the time: the sweep passes
        it over (module docstring) until it is woken."""
        if ticker in self.visited:
            self._resting.add(ticker)

    def wake(self, ticker: str) -> None:
        """Something a strategy reads in the market may have changed: its sweep visits it
        again, and the markets of its event."""
        resting = self._resting
        if resting:
            resting.discard(ticker)
            for other in self._together.get(ticker, ()):
                resting.discard(other)

    def wake_all(self) -> None:
        """What every market's strategies read may have changed (their params, the fees)."""
        self._resting.clear()

    def park(self, ticker: str) -> None:
        """The market waits for an exchange call's answer: no visit until `unpark`, its news
        and its place in the sweep kept."""
        if ticker in self.visited and ticker not in self._parked:
            in_sweep = ticker in self._sweep
            self._sweep.pop(ticker, None)
            self._parked[ticker] = (self.news.pop(ticker, None), in_sweep)

    def held_news(self, ticker: str) -> bool | None:
        """What a held market has new, in one question a tick asks of each: True, a turn (news
        not yet decided on, or due in the sweep); False, a book change not yet decided on while
        it waits for an answer (its stop-loss may be due); None, neither."""
        if ticker in self.news or ticker in self._sweep:
            return True
        parked = self._parked.get(ticker)
        if parked is not None:
            return False if parked[0] is not None else None
        # a market followed for its exits: its book change, for its stop-loss alone
        return False if self._followed and self._followed.get(ticker) else None

    def follow(self, ticker: str) -> None:
        """A market held and not traded (runner/loop/held_markets.py): never handed out, its book
        changes kept for its stop-loss (`held_news`, `exited`), the first one due now."""
        if ticker not in self.visited:
            self._followed[ticker] = True

    def follows(self, ticker: str) -> bool:
        """The market is followed for its exits alone (`follow`)."""
        return ticker in self._followed

    def exited(self, ticker: str) -> None:
        """A followed market's stop-loss saw its book as it is now."""
        if self._followed and ticker in self._followed:
            self._followed[ticker] = False

    def unpark(self, ticker: str) -> None:
        """The answer is booked: the market's news (kept, or arrived meanwhile) waits its turn
        again, measured from when it arrived, and a sweep still going visits it."""
        parked = self._parked.pop(ticker, None)
        if parked is None:
            return
        news_at, in_sweep = parked
        if news_at is not None:
            self.news.setdefault(ticker, news_at)
        if in_sweep and self._sweep:
            self._sweep[ticker] = None

    def start_sweep(self) -> None:
        """A timer tick: every market once more, unless the last sweep is still going (a
        parked market joins it when it is free)."""
        if not self._sweep:
            self._sweep = dict.fromkeys(t for t in self._order if t not in self._parked)
            for ticker, (news_at, _) in self._parked.items():
                self._parked[ticker] = (news_at, True)

    def next_market(self, now: float, first: AbstractSet[str] = frozenset()) -> str | None:
        """The market to visit next, or None when there is nothing left to do. Markets in
        `first` (the loop's unquoted markets while the write budget is short) go ahead of the
        others, the oldest news first, then in the sweep's order."""
        resting = self._resting
        if first:
            for waiting in (self.news, self._sweep):
                found = next((t for t in waiting if t in first and t not in resting), None)
                if found is not None:
                    return found
        front = next(iter(self._sweep), None)
        while front is not None and front in resting:
            self.visit(front, now)  # its turn, taken at rest
            front = next(iter(self._sweep), None)
        if front is not None and now - self.visited[front] >= self.revisit_s:
            return front  # overdue: the fairness bound goes ahead of the news
        if self.news:
            return next(iter(self.news))
        return front

    def waiting_first(self, first: AbstractSet[str]) -> bool:
        """A market of `first` has news or a turn in the sweep (not one at rest)."""
        resting = self._resting
        return bool(first) and any(
            t in first and t not in resting for w in (self.news, self._sweep) for t in w
        )

    def visit(self, ticker: str, now: float) -> None:
        """The loop decided on the market at `now` (or found nothing to decide on)."""
        at = self.news.pop(ticker, None)
        if at is not None:
            lag = max(now - at, 0.0)
            self._lags.append(lag)
            if self.kept is not None:
                self.kept.append((ticker, lag))
        visited = self.visited
        last = visited.get(ticker)
        if last is not None and now - last > self._revisit_max:
            self._revisit_max = now - last
        visited[ticker] = now
        if self._sweep:  # most visits are for news, between two sweeps
            self._sweep.pop(ticker, None)

    def add(self, ticker: str, now: float) -> None:
        """A market the loop takes on while it runs (runner/loop/new_markets.py): its first turn
        comes as news does, and it is in every sweep from now on."""
        self._followed.pop(ticker, None)  # held, then taken on to trade
        if ticker not in self.visited:
            self._order.append(ticker)
            self.visited[ticker] = now
            self.news.setdefault(ticker, now)

    def together(self, events: Mapping[str, tuple[str, ...]]) -> None:
        """Ticker -> its event's markets, its own included, as an event read again with a new
        market in it groups them: each is woken with the others from now on."""
        self._together.update(events)

    def remove(self, ticker: str) -> None:
        """A market the loop no longer trades (closed): it waits for nothing."""
        self.news.pop(ticker, None)
        self._sweep.pop(ticker, None)
        self._parked.pop(ticker, None)
        self._resting.discard(ticker)
        self._followed.pop(ticker, None)
        self.visited.pop(ticker, None)
        self._order = [t for t in self._order if t != ticker]

    def report(self, now: float) -> LagReport:
        """The figures since the last report, and a new window."""
        lags, self._lags = sorted(self._lags), []
        oldest = min(self.visited.values(), default=now)
        revisit = max(self._revisit_max, now - oldest)
        self._revisit_max = 0.0
        late = now - self.revisit_s
        visited = self.visited
        behind_on = (
            tuple(sorted((t for t, at in visited.items() if at < late), key=lambda t: visited[t]))
            if oldest < late
            else ()
        )[:10]
        return LagReport(
            decisions=len(lags),
            lag_p50_s=quantile(lags, 0.5) if lags else None,
            lag_p99_s=quantile(lags, 0.99) if lags else None,
            lag_max_s=lags[-1] if lags else None,
            revisit_max_s=revisit,
            waiting=len(self.news) + sum(1 for at, _ in self._parked.values() if at is not None),
            behind_on=behind_on,
        )

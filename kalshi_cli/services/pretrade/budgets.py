"""The budgets per strategy (`trade.budgets.NAME`, risk/budget.py): what each strategy owns, for
the `STRATEGY_BUDGET` rule, and which strategies their daily loss limit stopped; the trade loop's
strategies' and the assistant's alike. A strategy's part of each position is its books' (the
loop's portfolio, the assistant's books rebuilt from the state file: `OwnedBooks`); its orders
decided and on their way, or of unknown outcome, count as resting, as for the account's rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from kalshi_cli.risk.budget import Budget, Owned
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.units import ZERO, fmt_money

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kalshi_cli.risk.event_loss import EventBook, EventTerms
    from kalshi_cli.vocabulary.decisions import Intent, PositionView


class OwnedBooks(Protocol):
    """The books a strategy's own part is read from (the trade loop's `Portfolio`): each
    owner's part of each market, the orders resting, those told filled and not read, and each
    owner's realized P&L of a day."""

    @property
    def owners(self) -> Any: ...

    @property
    def orders(self) -> Mapping[str, Any]: ...

    def owned_view(
        self, ticker: str, owner: str, owner_of: Callable[[Any], str | None]
    ) -> PositionView: ...

    def resting(self, ticker: str) -> Iterable[Any]: ...

    def unbooked_orders(self) -> Iterable[Any]: ...


@dataclass(frozen=True)
class OwnView:
    """What a path outside a loop hands the pre-trade account of an owner with a budget (the
    assistant, `trade.budgets.NAME`): that budget, its books (`OwnedBooks`), whose each of their
    orders is (`owner`), and its orders on their way (`queued`: pending or of unknown outcome,
    they may land)."""

    budget: Budget
    books: OwnedBooks
    owner: Callable[[Any], str | None]
    queued: Sequence[Intent] = ()

    def owned(self, intent: Intent, events: Mapping[str, EventTerms], now: float) -> Owned:
        """What `intent`'s owner owns, counted as a loop counts a strategy's (`Budgets`), its
        own realized loss of the day `now` looked at; `events`: ticker -> its event, for the
        budget's limit on an event's loss."""
        budgets = Budgets({intent.strategy: self.budget}, self.books, self.owner, events)
        budgets.check_day(now)
        owned = budgets.owned(intent, self.queued)
        assert owned is not None  # a budget of its name was given
        return owned


class Budgets:
    def __init__(
        self,
        budgets: Mapping[str, Budget],
        portfolio: OwnedBooks,
        owner: Callable[[Any], str | None],
        events: Mapping[str, EventTerms] | None = None,
    ) -> None:
        self.budgets = dict(budgets)
        # ticker -> its event, for a budget's limit on an event's loss (`events.EventReader`;
        # empty: no such limit)
        self._events = events or {}
        self._portfolio = portfolio
        self._owner = owner
        self.stopped: dict[str, str] = {}  # strategy -> why, for the rest of `_day`
        self._day = ""

    def owned(self, intent: Intent, queued: Sequence[Intent]) -> Owned | None:
        """What the intent's strategy owns, when it has a budget (None: it has none)."""
        name = intent.strategy
        budget = self.budgets.get(name)
        if budget is None:
            return None
        elsewhere = ZERO
        if budget.max_exposure is not None:
            for ticker in self._markets(name, queued) - {intent.ticker}:
                elsewhere += self.view(name, ticker, queued).exposure()
        event = self.event(name, intent.ticker, queued)
        return Owned(
            name=name,
            budget=budget,
            position=self.view(name, intent.ticker, queued),
            exposure_elsewhere=elsewhere,
            stopped=self.why_stopped(name),
            event=event,
        )

    def event(self, name: str, ticker: str, queued: Sequence[Intent] = ()) -> EventBook | None:
        """`name`'s own part of the market's event, when its budget limits an event's loss
        (None: it does not, or the event is not known)."""
        budget = self.budgets.get(name)
        terms = self._events.get(ticker)
        if budget is None or budget.max_event_loss is None or terms is None:
            return None
        return terms.book(lambda market: self.view(name, market, queued))

    def view(self, name: str, ticker: str, queued: Sequence[Intent] = ()) -> PositionView:
        """`name`'s own view of a market: its part of the position, its own resting orders
        and those of the tick's batch it decided, and what its own orders filled that is not
        read yet."""
        portfolio = self._portfolio
        view = portfolio.owned_view(ticker, name, self._owner)
        resting = tuple(o.view for o in portfolio.resting(ticker) if self._owner(o) == name)
        if resting != view.resting:
            view = replace(view, resting=resting)
        for intent in queued:
            if intent.ticker == ticker and intent.strategy == name:
                view = view.after(intent)
        return view

    def _markets(self, name: str, queued: Sequence[Intent]) -> set[str]:
        parts = self._portfolio.owners.held.get(name, {})
        held = {t for t, m in parts.items() if m.position != 0}
        held.update(o.ticker for o in self._portfolio.orders.values() if self._owner(o) == name)
        held.update(o.ticker for o in self._portfolio.unbooked_orders() if self._owner(o) == name)
        held.update(i.ticker for i in queued if i.strategy == name)
        return held

    def check_day(self, now: float) -> list[tuple[str, str]]:
        """The strategies whose own realized loss today reached their daily limit since the
        last look, each with why: stopped until the UTC day ends. A new day lifts them."""
        day = utc_day(now)
        if day != self._day:
            self._day = day
            self.stopped.clear()
        newly: list[tuple[str, str]] = []
        for name, budget in self.budgets.items():
            why = None if name in self.stopped else self._past_limit(name, budget)
            if why is not None:
                self.stopped[name] = why
                newly.append((name, why))
        return newly

    def why_stopped(self, name: str) -> str | None:
        """Why the strategy `name` is stopped for the day (None: it is not, or has no budget),
        asked afresh: a fill read since the day's last look (`check_day`) may have carried it
        to its limit, and its next order is refused at once, as the account's breaker
        refuses."""
        budget = self.budgets.get(name)
        if budget is None:
            return None
        return self.stopped.get(name) or self._past_limit(name, budget)

    def _past_limit(self, name: str, budget: Budget) -> str | None:
        """Why `name`'s own realized loss on the day last looked at stops it (None: it does
        not, or it has no daily limit)."""
        limit = budget.daily_loss_limit
        if limit is None:
            return None
        realized = self._portfolio.owners.realized_today(name, self._day)
        if -realized < limit:
            return None
        return (
            f"its realized P&L today {fmt_money(realized)} reached its daily loss limit of "
            f"{fmt_money(-limit)}"
        )

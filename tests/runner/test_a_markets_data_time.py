"""The time a market's data last came, as the stale-feed rule judges an order by it
(`runner/ports.py` `book_data_at`): the book's own data age back from now, and none while the
feed holds no fresh book, whatever age a source still gives it (a backtest's replay keeps the
time of a book's last record through a sequence gap). A set's leg or sale back
(runner/execution/leg_sets.py `LegSets._data_for`) is judged on the newer of what the set was
decided on and its own market's data."""

import math
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, cast

from kalshi_cli.risk.rules import RiskContext, StaleFeedRule
from kalshi_cli.runner.execution.leg_sets import LegSets
from kalshi_cli.runner.execution.open_sets import OpenSet
from kalshi_cli.runner.loop.settings import LoopSettings
from kalshi_cli.runner.ports import MarketFeed, book_data_at
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.trading_state import TradingState
from kalshi_cli.vocabulary.units import Action, Side

NOW = 1_700_000_000.0
RULE = StaleFeedRule(stale_after_s=10.0)


class AgedFeed:
    """A feed whose books are `ages` seconds old; those `gapped` are not fresh, their age still
    known, as a replay's book through a sequence gap."""

    def __init__(self, ages: dict[str, float], gapped: frozenset[str] = frozenset()) -> None:
        self.ages, self.gapped = ages, gapped

    def is_fresh(self, ticker: str) -> bool:
        return ticker in self.ages and ticker not in self.gapped

    def data_age(self, ticker: str) -> float:
        return self.ages.get(ticker, math.inf)


def _as_feed(feed: AgedFeed) -> MarketFeed:
    """What the loop reads market data through: the two reads the data time takes."""
    return cast("MarketFeed", feed)


def _judged(feed: AgedFeed, ticker: str) -> bool:
    """Whether a buy on `ticker` passes the stale-feed rule on the feed's data now."""
    order = Intent(ticker, Side.YES, Action.BUY, Decimal("0.40"), Decimal(1), Decimal("0.5"), "t")
    seen = RiskContext(
        now=NOW,
        position=PositionView(ticker),
        state=TradingState.ACTIVE,
        last_data_at=book_data_at(_as_feed(feed), ticker, NOW),
    )
    return RULE.check(order, seen).allowed


def test_a_fresh_books_data_is_as_old_as_its_last_data():
    feed = AgedFeed({"YOUNG": 9.5, "OLD": 12.0})
    assert book_data_at(_as_feed(feed), "OLD", NOW) == NOW - 12.0
    assert _judged(feed, "YOUNG")
    assert not _judged(feed, "OLD")  # fresh to its feed, older than stale_after_s


def test_a_book_not_fresh_has_no_data_time_whatever_its_age():
    feed = AgedFeed({"GAP": 0.5, "OK": 0.5}, gapped=frozenset({"GAP"}))
    assert book_data_at(_as_feed(feed), "GAP", NOW) is None
    assert book_data_at(_as_feed(feed), "NONE", NOW) is None
    assert not _judged(feed, "GAP")
    assert _judged(feed, "OK")


def _legs(feed: AgedFeed) -> LegSets:
    """The sets' path over `feed`, at NOW; what judges a leg's data needs nothing else."""
    none = cast("Any", None)
    executor = SimpleNamespace(unknown_orders=None, guard=None)
    store = SimpleNamespace(leg_sets=SimpleNamespace(unfinished=lambda _: [], whole=lambda _: []))
    return LegSets(
        executor=cast("Any", executor),
        risk=none,
        sender=none,
        store=cast("Any", store),
        feed=_as_feed(feed),
        hold_markets=none,
        closed=(),
        worth=none,
        clock=ManualClock(NOW),
        log=none,
        subaccount=0,
        again_s=LoopSettings().set_again_s,
    )


def _set(decided_on: float | None) -> OpenSet:
    leg = Intent("A", Side.YES, Action.BUY, Decimal("0.40"), Decimal(1), Decimal("0.5"), "set s")
    return OpenSet("s", [leg], [], decided_on=decided_on, release=lambda: None)


def test_a_legs_data_is_the_newer_of_the_sets_decision_and_its_own_book():
    feed = AgedFeed({"OWN": 3.0, "B": 0.5, "GAP": 0.5}, gapped=frozenset({"GAP"}))
    legs = _legs(feed)
    # its own book newer than the decision: a leg going long after it is judged on its book
    assert legs._data_for(_set(NOW - 30.0), "OWN") == NOW - 3.0
    # its own book older: judged as decided, as the set's other books were read then
    assert legs._data_for(_set(NOW - 1.0), "OWN") == NOW - 1.0
    # no fresh book of its own: judged as decided
    assert legs._data_for(_set(NOW - 1.0), "GAP") == NOW - 1.0
    # a set found at start was decided on none: its own book alone, and each leg's its own
    assert legs._data_for(_set(None), "OWN") == NOW - 3.0
    assert legs._data_for(_set(None), "B") == NOW - 0.5
    assert legs._data_for(_set(None), "GAP") is None

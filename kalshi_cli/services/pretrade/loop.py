"""The pre-trade account of a trade loop: what its risk engine judges each order against beyond the
loop's own view, read once when the loop is built. Each event of the loop's markets, read once
(`EventReader`) for both of its readings (whether its markets are mutually exclusive, and its
worst case as the limit on its loss reads it, the markets the account holds in it counted
whatever its listing says), and only when the lineup or the limits ask for it; and each shard's
balance, read with the one balance read of the loop's start. The executor hands it only its view
(what is on its way) and reads back the event's book and the shard's balance (`LoopAccount`);
the running loop reads the balance again with each shard's status (`balances_read`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from kalshi_cli.risk.rules import ShardBalances
from kalshi_cli.services.pretrade.events import EventReader, EventReads
from kalshi_cli.services.pretrade.settings import event_limited

if TYPE_CHECKING:
    from decimal import Decimal

    from kalshi_cli.risk.budget import Budget
    from kalshi_cli.risk.engine import RiskLimits
    from kalshi_cli.risk.event_loss import EventBook, EventTerms
    from kalshi_cli.services.pretrade.holdings import AccountHoldings
    from kalshi_cli.vocabulary.decisions import PositionView
    from kalshi_cli.vocabulary.models import FeeModel, Market


@dataclass
class LoopAccount:
    """What the loop's orders are judged against beyond its own view: ticker -> its event as
    the limit on an event's loss reads it (`events`; empty: no such limit), whether the
    account's own limit is set (`account_limited`: a strategy's budget alone reads `events`
    through its own part), and each market's shard (`shard_of`) with each shard's balance at
    the start (`shards`; empty: the exchange did not say)."""

    events: dict[str, EventTerms] = field(default_factory=dict)
    account_limited: bool = False
    shard_of: Mapping[str, int] = field(default_factory=dict)
    # each shard's record, built once (the hot path reads it for every order); empty: not told
    shards: Mapping[int, ShardBalances] = field(default_factory=dict)

    @property
    def balances(self) -> Mapping[int, Decimal] | None:
        """Each shard's balance as last read (None: the exchange did not say)."""
        return next((s.balances for s in self.shards.values()), None)

    def balances_read(self, balances: Mapping[int, Decimal]) -> None:
        """Each shard's balance read again by the running loop (its watch's balance read,
        runner/execution/balance_hold.py): its orders are judged against it from now on."""
        self.shards = shard_records(balances, self.shard_of)

    def event(self, ticker: str, view: Callable[[str], PositionView]) -> EventBook | None:
        """The market's event over `view`, when the account's limit on an event's loss is set
        (None: nothing to count)."""
        terms = self.events.get(ticker) if self.account_limited else None
        return None if terms is None else terms.book(view)

    def settled(self, ticker: str, result: str) -> None:
        """`ticker` settled `result` ("yes" or "no") while the loop runs: its event is read
        with that result from now on, as a start would read it, so its worst case (the limit's,
        a strategy's sizing) no longer counts an outcome the result ruled out. `events` is
        changed in place: a strategy's budget reads the same mapping."""
        changed: dict[int, EventTerms] = {}
        for market, terms in self.events.items():
            if ticker not in terms.strikes or terms.results.get(ticker) == result:
                continue
            if id(terms) not in changed:
                changed[id(terms)] = replace(terms, results={**terms.results, ticker: result})
            self.events[market] = changed[id(terms)]

    def shard(self, ticker: str) -> ShardBalances | None:
        """The market's shard and each shard's balance (None: not known)."""
        index = self.shard_of.get(ticker)
        return None if index is None else self.shards.get(index)


@dataclass(frozen=True)
class ReadOnce:
    """The reads the fee models make (runner/books/fees.py), each event's through the loop's one
    reader of events: a client's scheduled fee changes (`exchange`) beside it."""

    markets: EventReader
    exchange: Any


def mutually_exclusive(reader: EventReader, event_ticker: str) -> tuple[bool, set[str]]:
    """Whether the exchange flags the event's markets mutually exclusive, and the markets it
    lists: the one reading of it, for the loop's groups of an event's markets."""
    answer = reader.answer(event_ticker)
    return answer.mutually_exclusive, set(answer.listed)


def load_events(
    reader: EventReader,
    markets: Iterable[Market],
    fees: Callable[[str], FeeModel | None],
    held: Callable[[str], Iterable[str]],
) -> dict[str, EventTerms]:
    """Ticker -> its event as the limit on an event's loss reads it, each event read once: its
    listing, the loop's own markets of it, and every market the account holds or rests in
    under its ticker (`held`)."""
    by_event: dict[str, list[Market]] = {}
    for market in markets:
        by_event.setdefault(market.event_ticker, []).append(market)
    events = {
        name: reader.terms(name, fees, {m.ticker: m.raw for m in own}, held(name))
        for name, own in by_event.items()
    }
    return {m.ticker: events[m.event_ticker] for own in by_event.values() for m in own}


def loop_account(
    reader: EventReader,
    holdings: AccountHoldings,
    limits: RiskLimits,
    *,
    budgets: Iterable[Budget],
    markets: list[Market],
    fees: Callable[[str], FeeModel | None],
) -> LoopAccount:
    """The loop's pre-trade account, read once at its start: the events only when a limit on
    an event's loss asks for them (`event_limited`), the balance once."""
    events: dict[str, EventTerms] = {}
    if event_limited(limits, budgets):
        events = load_events(reader, markets, fees, lambda e: holdings.event_views(e).keys())
    shard_of = {m.ticker: m.exchange_index for m in markets if m.exchange_index is not None}
    # the balance read once, and only when a market says its shard: nothing to judge without
    balances = holdings.balance().shards() if shard_of else None
    shards = {} if balances is None else shard_records(balances, shard_of)
    return LoopAccount(events, event_limited(limits), shard_of, shards)


def shard_records(
    balances: Mapping[int, Decimal], shard_of: Mapping[str, int]
) -> dict[int, ShardBalances]:
    """Each shard's record over one read of the balances (a shard the breakdown leaves out
    holds nothing)."""
    return {n: ShardBalances(n, balances) for n in {*balances, *shard_of.values()}}


def event_reader(client: Any) -> EventReader:
    """The loop's one reader of its events, over the client's markets."""
    markets: EventReads = client.markets
    return EventReader(markets)

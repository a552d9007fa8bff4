"""Markets that open while the loop runs: a loop asked for a series or an event (not `--markets`,
an explicit list, which stays fixed) takes on each market of its selection that opens after its
start, through the steps the markets found at its start go through. docs/trade-loop.md "Markets
that open while the loop runs".

How the loop learns of one (`NewMarkets`): a `market_lifecycle_v2` `created` or `activated`
message of a market it does not trade (the feed passes those on for every market:
`FeedSession.hear_new_markets`) has the selection listed at once; and the selection is listed
every `trade.new_markets_poll_s` whatever comes, since a message can be lost. The listing and
each new market's reads (its fees, its event) are made off the deciding path.

What is done to each (`MarketJoin`): the start's own steps, each the one function the start
uses: open (`Market.is_open`, as `select_markets` keeps), its fees priced (`load_fees`, which
refuses the start), its terms (`add_terms`), its shard (`shards_of`), its event as the limit on an
event's loss reads it (`load_events`) and its group of mutually exclusive markets
(`find_events`), read again with it in; then the books: the portfolio, the pre-trade account,
the schedule, the event groups and the feed's subscriptions. A market that fails a check is
logged (`market_refused`) and not traded, and the loop goes on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kalshi_cli.runner.books.fees import FeeChange, load_fees
from kalshi_cli.runner.execution.dispatch import Urgency
from kalshi_cli.runner.loop.event_groups import find_events
from kalshi_cli.runner.ports import GrowingFeed
from kalshi_cli.services.pretrade.loop import ReadOnce, event_reader, load_events, shards_of
from kalshi_cli.strategy_api import MarketTerms
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.models import FeeModelError

if TYPE_CHECKING:
    from kalshi_cli.risk.event_loss import EventTerms
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.config import Selection, TradeOptions
    from kalshi_cli.runner.execution.call_guard import CallGuard
    from kalshi_cli.runner.execution.dispatch import CallAnswer, Dispatch
    from kalshi_cli.runner.loop.event_groups import EventGroup
    from kalshi_cli.runner.loop.lineup import Lineup
    from kalshi_cli.runner.loop.schedule import MarketSchedule
    from kalshi_cli.runner.loop.shared import Tuning
    from kalshi_cli.runner.ports import MarketFeed
    from kalshi_cli.services.pretrade.holdings import AccountHoldings
    from kalshi_cli.services.pretrade.loop import LoopReads
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.models import FeeModel, Market

LISTED = "listed"  # why a market the paced listing found was taken on


def add_terms(
    terms: MutableMapping[str, MarketTerms],
    index_markets: MutableMapping[str, list[str]],
    markets: Iterable[Market],
) -> None:
    """How each market settles (its strike fields, close, the index its rules name), and the
    markets of each index, a new value of which is news for them: at the start, and for a market
    taken on while the loop runs."""
    for market in markets:
        market_terms = terms[market.ticker] = MarketTerms.from_market(market.raw)
        if market_terms.index_id is not None:
            index_markets.setdefault(market_terms.index_id, []).append(market.ticker)


@dataclass(frozen=True)
class JoinReads:
    """What a loop that takes on new markets reads them by: its `selection` (a series or an
    event), the `client` it reads the exchange through (each market's event read afresh: one read
    at the start is read again with the new market in it), `held` (the markets the account holds
    under an event's ticker, for the limit on an event's loss; None: no limit asks for the
    events) and `groups` (a strategy `uses_events`: the mutually exclusive event's markets)."""

    selection: Selection
    client: Any
    held: Callable[[str], Iterable[str]] | None = None
    groups: bool = False


def join_reads(
    options: TradeOptions,
    lineup: Lineup,
    client: Any,
    feed: MarketFeed,
    holdings: AccountHoldings | None,
) -> JoinReads | None:
    """How a loop asked for a series or an event reads the markets of it that open while it
    runs, as its build read those of its start (`holdings`: what the account holds, when a
    limit on an event's loss asks for the events; None: none asks); None for markets named by
    hand (`--markets`), every open market, a paper run or a feed that cannot take on markets
    (`GrowingFeed`). The feed passes on every market's `created` and `activated` message from
    now on."""
    selection = options.selection
    if selection.tickers or not (selection.series or selection.event):
        return None
    if options.paper or not isinstance(feed, GrowingFeed):
        return None  # a paper venue, a replay: the markets of the start are all it knows
    feed.hear_new_markets()
    held = None if holdings is None else (lambda e: holdings.event_views(e).keys())
    return JoinReads(selection, client, held, lineup.any("uses_events"))


@dataclass(frozen=True)
class Prepared:
    """A new market with what its set-up read (off the deciding path), or why it is refused."""

    market: Market
    why: str
    fees: FeeModel | None = None
    fee_changes: tuple[FeeChange, ...] = ()
    events: Mapping[str, EventTerms] = field(default_factory=dict)
    groups: Mapping[str, EventGroup] = field(default_factory=dict)
    refused: str | None = None


@dataclass(frozen=True)
class Seen:
    """The loop's markets and their fees, copied on the deciding thread for a worker's reads."""

    markets: Mapping[str, Market]
    fees: Mapping[str, FeeModel]


class MarketJoin:
    """A market taken on while the loop runs: its reads (`prepare`, on a worker) and its place
    in the loop's books (`join`, on the deciding thread)."""

    def __init__(
        self,
        *,
        reads: JoinReads | None,
        portfolio: Portfolio,
        account: LoopReads,
        groups: MutableMapping[str, EventGroup],
        schedule: MarketSchedule,
        feed: MarketFeed,
        clock: Clock,
        log: EntryLog,
    ) -> None:
        """`reads`: how new markets are read (None: the loop takes on none); `account`: the
        pre-trade account (its shards, its events); `groups`: each market's mutually exclusive
        event's markets (runner/loop/event_groups.py); `schedule`: which market a tick visits;
        `feed`: whose subscriptions a market joins. The markets of the start are put in `terms`
        and `index_markets` here, as a market taken on later is (`add_terms`)."""
        self.reads = reads
        self.portfolio, self._account = portfolio, account
        # how each market settles (its strike fields, close, the index its rules name), and
        # the markets of each index: a new value of an index is news for them
        self.terms: dict[str, MarketTerms] = {}
        self.index_markets: dict[str, list[str]] = {}
        add_terms(self.terms, self.index_markets, portfolio.markets.values())
        self._groups = groups
        self._schedule, self._feed = schedule, feed
        self.clock, self.log = clock, log

    def prepare(self, market: Market, why: str, seen: Seen) -> Prepared:
        """The start's checks and reads of one market (`seen`: the loop's markets and fees as
        the deciding thread saw them when the read was asked for)."""
        if not market.is_open:
            return Prepared(market, why, refused=f"its status is {market.status}, not open")
        assert self.reads is not None  # only a loop that takes on new markets prepares them
        client = self.reads.client
        reader = event_reader(client)
        try:
            MarketTerms.from_market(market.raw)
            fees, changes = load_fees(
                ReadOnce(reader, client.exchange), [market], now=self.clock.wall()
            )
        except (FeeModelError, ValueError) as exc:
            return Prepared(market, why, refused=str(exc))
        fee = fees[market.ticker]
        # its event read again with it in: the loop's markets of the event and the new one
        together = [m for m in seen.markets.values() if m.event_ticker == market.event_ticker]
        together.append(market)
        events: Mapping[str, EventTerms] = {}
        if self.reads.held is not None:
            fee_of = {**seen.fees, market.ticker: fee}.get
            events = load_events(reader, together, fee_of, self.reads.held)
        groups = find_events(reader, together) if self.reads.groups else {}
        return Prepared(market, why, fee, tuple(changes), events, groups)

    def join(self, prepared: Prepared) -> None:
        """The market in the loop's books, as the start puts one there; or, refused, said."""
        market, ticker = prepared.market, prepared.market.ticker
        if prepared.refused is not None or prepared.fees is None:
            self.log.emit(
                "market_refused",
                {"ticker": ticker, "why": prepared.why, "refused": prepared.refused},
            )
            return
        portfolio = self.portfolio
        portfolio.markets[ticker] = market
        portfolio.fees[ticker] = prepared.fees
        if prepared.fee_changes:
            portfolio.fee_changes.extend(prepared.fee_changes)
            portfolio.fee_changes.sort(key=lambda c: (c.at, c.ticker))
        self._join_account(market, prepared.events)
        add_terms(self.terms, self.index_markets, [market])
        self._groups.update(prepared.groups)
        together = {t: g.tickers for t, g in prepared.groups.items()}
        self._schedule.add(ticker, self.clock.monotonic(), together)
        if isinstance(self._feed, GrowingFeed):
            self._feed.add_markets([ticker])
        self.log.emit(
            "market_added",
            {
                "ticker": ticker,
                "event_ticker": market.event_ticker,
                "why": prepared.why,
                "shard": market.exchange_index,
            },
        )

    def _join_account(self, market: Market, events: Mapping[str, EventTerms]) -> None:
        """Its shard, whose balance its orders are held to, and its event, in the pre-trade
        account (the balance hold reads the same map of shards)."""
        account = self._account
        shard = shards_of([market])
        account.shard_of.update(shard)
        balances = account.balances
        if balances is not None and not shard.keys() <= account.shards.keys():
            account.balances_read(balances)  # a record for a shard no market was on
        account.events.update(events)


class NewMarkets:
    """When the loop lists its selection for markets that opened while it runs: at once after a
    lifecycle message of a market it does not trade, and every `poll_s` whatever comes. One
    listing out at a time, not during the API error guard's backoff."""

    def __init__(
        self,
        join: MarketJoin,
        dispatch: Dispatch,
        guard: CallGuard,
        tuning: Tuning,
    ) -> None:
        """`join`: what is done to each market found; the listing is made through `dispatch`,
        counted by the API error guard (`guard`), every `trade.new_markets_poll_s` (`tuning`)."""
        assert join.reads is not None
        self._selection, self._client = join.reads.selection, join.reads.client
        self._join, self._portfolio = join, join.portfolio
        self._dispatch, self._guard = dispatch, guard
        self._clock, self._log = join.clock, join.log
        self._tuning = tuning
        # the start's listing was the first
        self._next = self._clock.monotonic() + self._poll_s()
        self._out = False
        self._told: dict[str, str] = {}  # ticker -> the lifecycle event that told of it
        self._refused: set[str] = set()  # said once; a later listing does not try it again

    def _poll_s(self) -> float:
        return self._tuning.settings.new_markets_poll_s

    def told(self, ticker: str, event_type: str) -> None:
        """A `created` or `activated` message of a market the loop does not trade: one of its
        selection's (a ticker begins with its event's, which begins with its series') is looked
        for in a listing at once."""
        if ticker in self._portfolio.markets or ticker in self._refused:
            return
        prefix = self._selection.series or self._selection.event
        if prefix and ticker.startswith(f"{prefix}-"):
            self._told.setdefault(ticker, event_type)
            self._next = -math.inf

    def due(self) -> None:
        """After a tick's events: the listing, if it is due."""
        now = self._clock.monotonic()
        if self._out or self._guard.backing_off or now < self._next:
            return
        self._out = True
        self._next = now + self._poll_s()
        told, self._told = self._told, {}
        seen = Seen(dict(self._portfolio.markets), dict(self._portfolio.fees))
        skip = set(seen.markets) | self._refused
        selection, client, join = self._selection, self._client, self._join

        def read() -> list[Prepared]:
            listed = [m for m in selection.markets(client) if m.ticker not in skip]
            return [join.prepare(m, told.get(m.ticker, LISTED), seen) for m in listed]

        self._dispatch.send((), read, self._booked, Urgency.AGAIN, unmade=self._unmade)

    def _booked(self, answer: CallAnswer[list[Prepared]]) -> None:
        self._out = False
        try:
            found = answer.get()
        except KalshiError as exc:
            self._guard.failed(exc, answer.sent_at)
            self._log.emit("new_markets_read_failed", {"error": exc.one_line()})
            return
        self._guard.ok(answer.sent_at)
        for prepared in found:
            if prepared.market.ticker in self._portfolio.markets:
                continue
            if prepared.refused is not None:
                self._refused.add(prepared.market.ticker)
            self._join.join(prepared)

    def _unmade(self) -> None:
        self._out = False
        self._next = -math.inf  # never made: a later tick makes it

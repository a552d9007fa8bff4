"""Markets that open while the loop runs: a loop asked for a series or an event (not `--markets`,
an explicit list, which stays fixed) takes on each market of its selection that opens after its
start, through the steps the markets found at its start go through. docs/trade-loop.md "Markets
that open while the loop runs".

How the loop learns of one (runner/loop/new_market_listing.py `NewMarkets`): a
`market_lifecycle_v2` `created` or `activated` message of a market it does not trade (the feed
passes those on for every market: `FeedSession.hear_new_markets`) has the selection listed at
once; and the selection is listed every `trade.new_markets_poll_s` whatever comes, since a
message can be lost. The listing and
each new market's reads (its fees, its event) are made off the deciding path.

What is done to each (`MarketJoin`): the start's own steps, each the one function the start
uses: open (`Market.is_open`, as `select_markets` keeps), its fees priced (`load_fees`, which
refuses the start), its terms (`add_terms`), its shard (`shards_of`), its event as the limit on an
event's loss reads it (`load_events`) and its group of mutually exclusive markets
(`find_events`), read again with it in; then the books: the portfolio, the pre-trade account,
the schedule, the event groups and the feed's subscriptions. What the account holds there (its
fills, listed with the market's reads) and what rests there (its resting orders, listed too;
one placed elsewhere recorded as the start's reconcile records it, and read again once the market
has joined: runner/loop/new_market_listing.py) is the loop's view's to count from then on, as the
start's reconcile and rebuild make it for its markets, and no longer counted as held elsewhere
(`FillSync.joined`). A market that fails a check is logged (`market_refused`) and not traded, and
the loop goes on. A market the account holds and the loop does not trade is taken on the same
way for its exits alone (`HELD`: runner/loop/held_markets.py): not in the schedule, which follows
its book instead, nor in a strategy's event group.

`MarketJoin` is given more than six collaborators because a market taken on goes into every book
the start put its markets in: the portfolio, the pre-trade account, the event groups, the
schedule and the feed, with the reads that prepare it, the clock and the log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from kalshi_cli.client.historical import fills_with_history
from kalshi_cli.runner.books.fees import FeeChange, load_fees
from kalshi_cli.runner.execution.order_group import GroupNotMade, ShardGroupCreates
from kalshi_cli.runner.loop.event_groups import find_events
from kalshi_cli.runner.ports import GrowingFeed
from kalshi_cli.services.pretrade.loop import ReadOnce, event_reader, load_events, shards_of
from kalshi_cli.strategy_api import MarketTerms
from kalshi_cli.vocabulary.models import FeeModelError

if TYPE_CHECKING:
    from kalshi_cli.risk.event_loss import EventTerms
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.books.portfolio import Portfolio
    from kalshi_cli.runner.config import Selection, TradeOptions
    from kalshi_cli.runner.execution.answers import AnswerBook
    from kalshi_cli.runner.execution.order_group import MakesGroup
    from kalshi_cli.runner.loop.event_groups import EventGroup
    from kalshi_cli.runner.loop.lineup import Lineup
    from kalshi_cli.runner.loop.orders_read_again import OrdersReadAgain
    from kalshi_cli.runner.loop.schedule import MarketSchedule
    from kalshi_cli.runner.ports import MarketFeed
    from kalshi_cli.services.pretrade.holdings import AccountHoldings
    from kalshi_cli.services.pretrade.loop import LoopReads
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.models import FeeModel, Fill, Market, Order

LISTED = "listed"  # why a market the paced listing found was taken on
# why a market was taken on for its exits alone: the account holds contracts there and the loop
# does not trade it (runner/loop/held_markets.py)
HELD = "held"


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
    """What a loop that takes on markets reads them by: its `selection`, the `client` it reads
    the exchange through (each market's event read afresh: one read at the start is read again
    with the new market in it), `held` (the markets the account holds under an event's ticker,
    for the limit on an event's loss; None: no limit asks for the events), `groups` (a strategy
    `uses_events`: the mutually exclusive event's markets) and `lists` (the selection is a
    series or an event whose markets that open are listed; else only the markets the account
    holds are taken on, for their exits)."""

    selection: Selection
    client: Any
    held: Callable[[str], Iterable[str]] | None = None
    groups: bool = False
    lists: bool = True

    def selects(self, ticker: str) -> bool:
        """A market of the selection the listing takes on when it opens (a ticker begins with
        its event's, which begins with its series')."""
        prefix = self.selection.series or self.selection.event
        return self.lists and bool(prefix) and ticker.startswith(f"{prefix}-")


def join_reads(
    options: TradeOptions,
    lineup: Lineup,
    client: Any,
    feed: MarketFeed,
    holdings: AccountHoldings | None,
) -> JoinReads | None:
    """How a loop reads the markets it takes on while it runs, as its build read those of its
    start (`holdings`: what the account holds, when a limit on an event's loss asks for the
    events; None: none asks): those the account holds that it does not trade, and, for a loop
    asked for a series or an event on a feed that can take on markets (`GrowingFeed`), the
    markets of it that open (`lists`; the feed passes on every market's `created` and
    `activated` message from now on). None for a paper run: its venue's markets are all it
    knows."""
    if options.paper:
        return None
    selection = options.selection
    lists = not selection.tickers and bool(selection.series or selection.event)
    lists = lists and isinstance(feed, GrowingFeed)
    if lists:
        assert isinstance(feed, GrowingFeed)
        feed.hear_new_markets()
    held = None if holdings is None else (lambda e: holdings.event_views(e).keys())
    return JoinReads(selection, client, held, lineup.any("uses_events"), lists)


@dataclass(frozen=True)
class Prepared:
    """A new market with its fees and the account's fills and resting orders there (read off the
    deciding path), or why it is refused (`again`: for what may pass, its fees that cannot be
    priced, its shard's group not made, the state file; a later listing tries it again, and a
    held market's read a listing interval later: runner/loop/held_markets.py)."""

    market: Market
    why: str
    fees: FeeModel | None = None
    fee_changes: tuple[FeeChange, ...] = ()
    refused: str | None = None
    again: bool = False
    fills: tuple[Fill, ...] = ()
    resting: tuple[Order, ...] = ()


@dataclass(frozen=True)
class Found:
    """What one listing found: each new market prepared, and their events read again with them
    in (`events`: ticker -> its event as the limit on an event's loss reads it; `groups`: ticker
    -> its mutually exclusive event's markets; `order_groups`: shard -> the session's group
    made there for them; `read_at`: when their fills were listed, unix seconds)."""

    markets: tuple[Prepared, ...]
    events: Mapping[str, EventTerms]
    groups: Mapping[str, EventGroup]
    order_groups: Mapping[int, str] = field(default_factory=dict)
    read_at: float = 0.0


@dataclass(frozen=True)
class Seen:
    """The loop's markets and their fees, and those of them taken on for their exits alone,
    copied on the deciding thread for a worker's reads."""

    markets: Mapping[str, Market]
    fees: Mapping[str, FeeModel]
    exits_only: frozenset[str] = frozenset()


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
        make_group: MakesGroup | None = None,
        orders: AnswerBook | None = None,
        orders_again: OrdersReadAgain | None = None,
    ) -> None:
        """`reads`: how new markets are read (None: the loop takes on none); `account`: the
        pre-trade account (its shards, its events); `groups`: each market's mutually exclusive
        event's markets (runner/loop/event_groups.py); `schedule`: which market a tick visits;
        `feed`: whose subscriptions a market joins; `make_group`: the session's group made on a
        shard and recorded (`shard_group_maker`, the start's steps; None: it wants no groups);
        `orders`: the answers' book, whose `order_groups` its orders name (the map the session's
        `SessionGroups` holds: runner/lifecycle/session_group.py `join_session_group`);
        `orders_again`: where a market taken on waits for its orders' read once the feed follows
        them (runner/loop/orders_read_again.py). The
        markets of the start are put in `terms` and `index_markets` here, as a market taken on
        later is (`add_terms`)."""
        self.reads = reads
        self.portfolio, self._account = portfolio, account
        # how each market settles (its strike fields, close, the index its rules name), and
        # the markets of each index: a new value of an index is news for them
        self.terms: dict[str, MarketTerms] = {}
        self.index_markets: dict[str, list[str]] = {}
        add_terms(self.terms, self.index_markets, portfolio.markets.values())
        self._groups = groups
        self.schedule, self.feed = schedule, feed
        self.clock, self.log = clock, log
        self._make_group = make_group
        self._creates = None if make_group is None else ShardGroupCreates(make_group, clock)
        self._orders = orders
        self._orders_again = orders_again
        # the markets taken on for their exits alone (`HELD`): in the loop's books, in no
        # strategy's turn (not in the schedule, which follows their books: `follow`)
        self.exits_only: set[str] = set()

    def seen(self) -> Seen:
        """The loop's markets and fees as the deciding thread sees them now."""
        portfolio = self.portfolio
        return Seen(dict(portfolio.markets), dict(portfolio.fees), frozenset(self.exits_only))

    def prepare(
        self, markets: list[Market], told: Mapping[str, str], seen: Seen, pace_s: float
    ) -> Found:
        """The start's checks and reads of the markets one listing found, each event and series
        read once for them all (`told`: ticker -> the lifecycle event that told of it; `seen`:
        the loop's markets and fees as the deciding thread saw them when the listing was asked
        for; `pace_s`: the listing interval). Each event of theirs is read again with its new
        markets in it."""
        assert self.reads is not None  # only a loop that takes on new markets prepares them
        reader = event_reader(self.reads.client)
        fee_reads = ReadOnce(reader, self.reads.client.exchange)
        found, made = self._grouped(self._checked(fee_reads, markets, told), pace_s)
        read_at = self.clock.wall()
        found = [_with_fills(self.reads.client, p) for p in found]
        new: dict[str, list[Market]] = {}
        for prepared in found:
            if prepared.refused is None:
                new.setdefault(prepared.market.event_ticker, []).append(prepared.market)
        # a market taken on for its exits is in no strategy's group: none reads or legs there
        exits = seen.exits_only | {p.market.ticker for p in found if p.why == HELD}
        fee_of = {**seen.fees, **{p.market.ticker: p.fees for p in found if p.fees}}.get
        events: dict[str, EventTerms] = {}
        groups: dict[str, EventGroup] = {}
        for event_ticker, added in new.items():
            together = [m for m in seen.markets.values() if m.event_ticker == event_ticker]
            together += added
            if self.reads.held is not None:
                events.update(load_events(reader, together, fee_of, self.reads.held))
            if self.reads.groups and any(m.ticker not in exits for m in added):
                groups.update(find_events(reader, [m for m in together if m.ticker not in exits]))
        return Found(tuple(found), events, groups, made, read_at)

    def _grouped(
        self, found: list[Prepared], pace_s: float
    ) -> tuple[list[Prepared], dict[int, str]]:
        """The session's group made on each shard of a new market it has none on (a session
        that wants groups: every order of its names one), by the rule for a create that failed
        there (`ShardGroupCreates`; `pace_s`: the listing interval); a market whose shard's
        group is not made is refused. The groups made, by shard."""
        creates, orders = self._creates, self._orders
        if creates is None or orders is None:
            return found, {}
        have = orders.order_groups
        made: dict[int, str] = {}
        refused: dict[int, GroupNotMade] = {}
        for prepared in found:
            shard = _shard(prepared.market)
            if prepared.refused is None and shard not in have.keys() | made.keys() | refused.keys():
                try:
                    # recorded by `join`, on the deciding thread
                    made[shard] = creates.make(shard, pace_s)
                except GroupNotMade as exc:
                    refused[shard] = exc
        checked = [
            replace(p, refused=why.why, again=why.again)
            if p.refused is None and (why := refused.get(_shard(p.market))) is not None
            else p
            for p in found
        ]
        return checked, made

    def _checked(
        self, fee_reads: ReadOnce, markets: list[Market], told: Mapping[str, str]
    ) -> list[Prepared]:
        """Each market open, its terms read and its fees priced (`load_fees`: all at once, each
        series read once; one that cannot be priced is found alone), or why it is refused."""
        now = self.clock.wall()
        found: list[Prepared] = []
        for market in markets:
            why = told.get(market.ticker, LISTED)
            refused = None if market.is_open else f"its status is {market.status}, not open"
            try:
                MarketTerms.from_market(market.raw)
            except ValueError as exc:
                refused = refused or str(exc)
            found.append(Prepared(market, why, refused=refused))
        ready = [p.market for p in found if p.refused is None]
        try:
            fees, changes = load_fees(fee_reads, ready, now=now)
        except FeeModelError:
            return [self._priced_alone(fee_reads, p, now) for p in found]
        return [
            p
            if p.refused is not None
            else replace(
                p,
                fees=fees[p.market.ticker],
                fee_changes=tuple(c for c in changes if c.ticker == p.market.ticker),
            )
            for p in found
        ]

    @staticmethod
    def _priced_alone(fee_reads: ReadOnce, prepared: Prepared, now: float) -> Prepared:
        if prepared.refused is not None:
            return prepared
        try:
            fees, changes = load_fees(fee_reads, [prepared.market], now=now)
        except FeeModelError as exc:
            # the series' or event's fees as read now (a fee type of unknown rates, a field
            # missing): a later listing reads them again
            return replace(prepared, refused=str(exc), again=True)
        return replace(prepared, fees=fees[prepared.market.ticker], fee_changes=tuple(changes))

    def join(self, found: Found) -> list[Prepared]:
        """The markets in the loop's books, as the start puts them there (their events read
        again with them in); a refused one said, and left out. The session's groups made for
        them first: no order of theirs goes without one. The markets taken on."""
        if self._orders is not None and self._make_group is not None:
            for shard, group_id in found.order_groups.items():
                self._make_group.record(shard, group_id)
            self._orders.order_groups.update(found.order_groups)
        joined = [p for p in found.markets if self._join_one(p)]
        self._account.events.update(found.events)
        self._groups.update(found.groups)
        self.schedule.together({t: g.tickers for t, g in found.groups.items()})
        # a market at rest whose event changed (a new market in its group, its limit's worst
        # case) is judged again
        for ticker in found.events.keys() | found.groups.keys():
            self.schedule.wake(ticker)
        return joined

    def _join_one(self, prepared: Prepared) -> bool:
        market, ticker = prepared.market, prepared.market.ticker
        if prepared.refused is not None or prepared.fees is None:
            self.log.emit(
                "market_refused",
                {"ticker": ticker, "why": prepared.why, "refused": prepared.refused},
            )
            return False
        portfolio = self.portfolio
        if prepared.why == HELD and ticker in portfolio.markets:
            return False  # taken on meanwhile by a listing, to trade
        portfolio.markets[ticker] = market
        portfolio.fees[ticker] = prepared.fees
        if prepared.fee_changes:
            portfolio.fee_changes.extend(prepared.fee_changes)
            portfolio.fee_changes.sort(key=lambda c: (c.at, c.ticker))
        self._join_account(market)
        add_terms(self.terms, self.index_markets, [market])
        if prepared.why == HELD:
            self.exits_only.add(ticker)
            self.schedule.follow(ticker)
        else:  # one held and listed since, to trade: its strategies' turns begin
            self.exits_only.discard(ticker)
            self.schedule.add(ticker, self.clock.monotonic())
        if isinstance(self.feed, GrowingFeed):
            self.feed.add_markets([ticker])
        if self._orders_again is not None:
            self._orders_again.wait([ticker])  # no turn until its orders' read is answered
        self.log.emit(
            "market_added",
            {
                "ticker": ticker,
                "event_ticker": market.event_ticker,
                "why": prepared.why,
                "shard": market.exchange_index,
            },
        )
        return True

    def _join_account(self, market: Market) -> None:
        """Its shard, whose balance its orders are held to, in the pre-trade account (the
        balance hold reads the same map of shards)."""
        account = self._account
        shard_of = shards_of([market])
        account.shard_of.update(shard_of)
        balances = account.balances
        if balances is not None and not set(shard_of.values()) <= account.shards.keys():
            account.balances_read(balances, None)  # a record for a shard no market was on


def _with_fills(client: Any, prepared: Prepared) -> Prepared:
    """The account's fills in a market to be taken on (both tiers: traded before a pause), and
    its orders resting there (placed by hand while the loop did not trade it, or by an earlier
    run): the loop's books hold them from the join on, as the start's reconcile has them."""
    if prepared.refused is not None:
        return prepared
    ticker = prepared.market.ticker
    fills = fills_with_history(client.portfolio, client.historical, ticker=ticker)
    resting = client.orders.iter_orders(ticker=ticker, status="resting")
    return replace(prepared, fills=tuple(fills), resting=tuple(resting))


def _shard(market: Market) -> int:
    """The shard a market trades on (one the exchange names none for: 0, as the start's)."""
    return market.exchange_index or 0

"""The pre-trade account of a trade loop: what its risk engine judges each order against, the
context of each order built once, and the engine's rules run over it.

Read once when the loop is built (`LoopReads`): each event of the loop's markets, read once
(`EventReader`) for both of its readings (whether its markets are mutually exclusive, and its
worst case as the limit on its loss reads it, the markets the account holds in it counted
whatever its listing says), and only when the lineup or the limits ask for it; and each shard's
balance, read with the one balance read of the loop's start. The running loop reads the balance
again with each shard's status (`balances_read`). Nothing here reads the exchange per order: the
loop's view comes from its books and its feed.

Per order (`LoopAccount`): the executor hands only its view (`LoopView`: each market with its
orders on their way counted, the exposure with them, those orders, when its data last came); the
one builder of a context (services/pretrade/context.py `risk_context`) builds it over the loop's
view of the order (`_LoopSource`: the position, the exposure, the strategy's own part for its
budget, the event's book over the loop's markets and the account's holdings elsewhere in the
event, the shard's balance, the trading state, the market's fees and book), and the account runs
the risk engine's rules over it in the one loop (`RiskEngine.evaluate`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kalshi_cli.risk.rules import RiskContext, ShardBalances, resting_cost, shard_cost
from kalshi_cli.services.pretrade.context import risk_context
from kalshi_cli.services.pretrade.events import EventReader, EventReads
from kalshi_cli.services.pretrade.settings import event_limited, refusing_rules
from kalshi_cli.vocabulary.units import ZERO, TimeInForce

if TYPE_CHECKING:
    from kalshi_cli.risk.budget import Budget, Owned
    from kalshi_cli.risk.engine import RiskEngine, RiskLimits
    from kalshi_cli.risk.event_loss import EventBook, EventTerms
    from kalshi_cli.risk.rules import Verdict
    from kalshi_cli.services.pretrade.budgets import Budgets
    from kalshi_cli.services.pretrade.holdings import AccountHoldings
    from kalshi_cli.strategy_api.snapshot import EventLimit
    from kalshi_cli.vocabulary.decisions import Intent, PositionView
    from kalshi_cli.vocabulary.models import FeeModel, Market, Orderbook
    from kalshi_cli.vocabulary.trading_state import TradingState


@dataclass
class LoopReads:
    """What the loop's orders are judged against beyond its own view, read at its start:
    ticker -> its event as the limit on an event's loss reads it (`events`; empty: no such
    limit), whether the account's own limit is set (`account_limited`: a strategy's budget alone
    reads `events` through its own part), and each market's shard (`shard_of`) with each shard's
    balance as last read (`shards`; empty: the exchange did not say), the money of the loop's
    subaccount (`subaccount`; None or 0: the primary account's), less what the loop's own
    orders sent since that read may commit there (`sent`) and plus what the cancels of those a
    requote replaced gave back (`freed`), and each market's result as the loop learned it
    (`results`, `settled`)."""

    events: dict[str, EventTerms] = field(default_factory=dict)
    account_limited: bool = False
    shard_of: dict[str, int] = field(default_factory=dict)
    # each shard's record, built once (the hot path reads it for every order); empty: not told
    shards: Mapping[int, ShardBalances] = field(default_factory=dict)
    subaccount: int | None = None
    # ticker -> its result ("yes" or "no") as the loop learned it: determined or settled
    results: dict[str, str] = field(default_factory=dict)
    # the loop's orders sent since the balance read (when, on the loop's monotonic clock; the
    # shard; what each may commit there, less what a cancel gave back), and their sum by shard,
    # which every record reads
    _sent: list[tuple[float, int, Decimal]] = field(default_factory=list)
    _spent: dict[int, Decimal] = field(default_factory=dict)
    # when the latest balance read booked was sent (the loop's monotonic clock)
    _read_at: float = -math.inf
    # what the legs of a set allowed and not sent yet may commit, by shard (`apart`): in
    # `_spent` too, and in no balance read, however late
    _apart: dict[int, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.shards = {n: replace(r, spent=self._spent) for n, r in self.shards.items()}

    @property
    def account_events(self) -> Mapping[str, EventTerms]:
        """The events the account's own limit on an event's loss counts (empty: none is set):
        those the loop judges its orders' events by, and follows the holdings elsewhere in."""
        return self.events if self.account_limited else {}

    @property
    def balances(self) -> Mapping[int, Decimal] | None:
        """Each shard's balance as last read (None: the exchange did not say)."""
        return next((s.balances for s in self.shards.values()), None)

    def balances_read(self, balances: Mapping[int, Decimal], sent_at: float | None) -> None:
        """Each shard's balance read again by the running loop (its watch's balance read,
        runner/execution/balance_hold.py), sent at `sent_at` (the loop's monotonic clock; None:
        no new read, the last one's balances again): its orders are judged against it from now
        on. The orders sent before the read are in it; those sent since still spend their
        shard's balance."""
        if sent_at is not None:
            self._read_at = max(self._read_at, sent_at)
            self._sent = [sent for sent in self._sent if sent[0] >= sent_at]
            self._spent.clear()
            self._spent.update(self._apart)
            for _, shard, cost in self._sent:
                self._spent[shard] = self._spent.get(shard, ZERO) + cost
        self.shards = shard_records(balances, self.shard_of, self._spent, self.subaccount)

    def sent(self, ticker: str, cost: Decimal, at: float) -> None:
        """An order of the loop's in `ticker` went out at `at` (the loop's monotonic clock),
        which may commit `cost` on its shard: spent there until a balance read sent after it
        shows what it took. The exchange holds the collateral the moment it takes the order,
        and the balance is read again only every `trade.shard_poll_s`."""
        shard = self.shard_of.get(ticker)
        if shard is None or cost <= 0 or shard not in self.shards:
            return
        self._sent.append((at, shard, cost))
        self._spent[shard] = self._spent.get(shard, ZERO) + cost

    def freed(self, ticker: str, amount: Decimal, at: float) -> None:
        """A cancel of the loop's in `ticker`, sent at `at`, gave `amount` back on its shard:
        spendable again from now, whether the order was sent since the last read or before it,
        until a balance read sent after the cancel went. The exchange frees it somewhere between
        the cancel's sending and its answer, so such a read may show it; given back again on top
        of that read, it would be spent twice (one that did not show it leaves the shard short
        of it until the next read). A read sent since and booked before the cancel's answer
        may show it too: nothing is given back then."""
        shard = self.shard_of.get(ticker)
        if shard is None or amount <= 0 or shard not in self.shards or at < self._read_at:
            return
        self._sent.append((at, shard, -amount))
        self._spent[shard] = self._spent.get(shard, ZERO) - amount

    def apart(self, ticker: str, cost: Decimal) -> Callable[[], None]:
        """A leg of a set in `ticker`, allowed and not sent yet, which may commit `cost` on its
        shard once it goes: spent there until the function returned is called (once the leg is
        let go, or sent, when `sent` spends it), so the legs after it are judged with it."""
        shard = self.shard_of.get(ticker)
        if shard is None or cost <= 0 or shard not in self.shards:
            return lambda: None
        self._apart[shard] = self._apart.get(shard, ZERO) + cost
        self._spent[shard] = self._spent.get(shard, ZERO) + cost
        held = [shard]

        def give_back() -> None:
            if held:
                held.clear()
                self._apart[shard] -= cost
                self._spent[shard] -= cost

        return give_back

    def settled(self, ticker: str, result: str) -> None:
        """`ticker` settled `result` ("yes" or "no") while the loop runs (or determined: the
        result is known before it is paid): kept in `results`, and its event is read with that
        result from now on, as a start would read it, so its worst case (the limit's, a
        strategy's sizing) no longer counts an outcome the result ruled out. `events` is
        changed in place: a strategy's budget reads the same mapping."""
        self.results[ticker] = result
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
class LoopView:
    """What the loop hands its account for one order, from its books: each market's view with
    the orders on their way counted as resting (`view`), the account's exposure with them
    (`total_exposure`), the strategies' orders on their way or of unknown outcome (`pending`,
    asked only for a strategy with a budget: they may rest), and when the market's data last
    came (`last_data_at`, None: no fresh book, none yet or from a gap until it is resynced)."""

    view: Callable[[str], PositionView]
    total_exposure: Decimal
    pending: Callable[[], Sequence[Intent]]
    last_data_at: float | None


class LoopAccount:
    """The loop's pre-trade account: each order's risk context built from the loop's view and
    what was read at its start (`reads`), and the risk engine's rules run over it."""

    def __init__(
        self,
        risk: RiskEngine,
        reads: LoopReads | None = None,
        *,
        budgets: Budgets | None = None,
        elsewhere: Callable[[str], PositionView | None] = lambda ticker: None,
    ) -> None:
        """`risk`: the engine whose rules judge, and whose trading state, clock, fees and books
        the context reads; `budgets`: the strategies' own (None: no strategy has one);
        `elsewhere`: what the account holds in a market of the loop's events that the loop does
        not trade, as the exchange last showed it (runner/execution/elsewhere.py)."""
        self._risk = risk
        self.reads = reads or LoopReads()
        self._budgets = budgets
        self._elsewhere = elsewhere
        # the engine's rules that can refuse under its limits and the strategies' budgets, both
        # fixed for the loop's life: those alone are asked of each order
        held_to = () if budgets is None else tuple(budgets.budgets.values())
        self.rules = refusing_rules(risk.rules, risk.limits, held_to)

    def context(self, intent: Intent, seen: LoopView) -> RiskContext:
        """The context `intent` is judged in, now (`context.risk_context`, over the loop's
        view of it: `_LoopSource`)."""
        return risk_context(_LoopSource(self, self._risk, self._budgets, intent, seen))

    def judge(self, intent: Intent, seen: LoopView) -> list[Verdict]:
        """Every denial of `intent` by the rules that can refuse it (`rules`; empty: send it),
        each reported by the engine."""
        return self._risk.evaluate(intent, self.context(intent, seen), self.rules)

    def sent(self, intent: Intent, view: Callable[[str], PositionView]) -> None:
        """An allowed order on its way, `view` each market's: what it may commit on its shard
        (`shard_cost`) is spent there until the next balance read (`LoopReads.sent`). An amend
        commits its new cost less what the order it changes holds (`replaced`, read in `view`,
        where it still rests); a new order replacing others, once their cancels gave back what
        they held (`freed`), its whole cost. A market of no known shard counts nothing."""
        if intent.ticker not in self.reads.shard_of:
            return
        seen = view(intent.ticker)
        cost = self._commits(intent, seen) - self.replaced(intent, seen)
        self.reads.sent(intent.ticker, cost, self._risk.clock.monotonic())

    def freed(self, ticker: str, amount: Decimal, sent_at: float) -> None:
        """The loop's cancels in `ticker`, the first sent at `sent_at` (the loop's monotonic
        clock), gave `amount` back on its shard (`LoopReads.freed`)."""
        self.reads.freed(ticker, amount, sent_at)

    @staticmethod
    def replaced(intent: Intent, seen: PositionView) -> Decimal:
        """What the orders `intent` replaces hold now, as its market's view `seen` shows them
        resting (`resting_cost`; none: nothing)."""
        if not intent.replaces:
            return ZERO
        return resting_cost(seen, intent.replaces)

    def replacing(self, intent: Intent, view: Callable[[str], PositionView]) -> Callable[[], None]:
        """A new order replacing others, allowed and waiting for their cancels (`view` each
        market's, where they still rest): what it adds on its shard, its cost less what they
        hold (as `sent` counts an amend), is spent there until the function returned is called
        (`LoopReads.apart`), once the cancels are answered: they then give back what they freed
        (`freed`) and the order, sent, spends its whole cost. The decisions meanwhile count
        it."""
        if intent.ticker not in self.reads.shard_of:
            return lambda: None
        seen = view(intent.ticker)
        return self.reads.apart(
            intent.ticker, self._commits(intent, seen) - self.replaced(intent, seen)
        )

    def held_apart(self, intent: Intent, view: Callable[[str], PositionView]) -> Callable[[], None]:
        """A leg of a set allowed and not sent yet (runner/execution/leg_sets.py): what it would
        commit on its shard is spent there until the function returned is called
        (`LoopReads.apart`), as `sent` spends an order's on its way."""
        if intent.ticker not in self.reads.shard_of:
            return lambda: None
        return self.reads.apart(intent.ticker, self._commits(intent, view(intent.ticker)))

    def _commits(self, intent: Intent, seen: PositionView) -> Decimal:
        """What `intent` may commit on its market's shard (`shard_cost`), its market's view
        `seen`."""
        risk = self._risk
        rates = None
        if intent.time_in_force is not TimeInForce.GTC:
            rates = risk.fee_rates(intent.ticker, risk.clock.wall())
        return shard_cost(intent, seen, rates)

    def event_limits(
        self,
        strategy: str,
        ticker: str,
        view: Callable[[str], PositionView],
        pending: Callable[[], Sequence[Intent]],
    ) -> tuple[EventLimit, ...]:
        """The limits on the loss of the market's event that `strategy`'s orders are held to,
        each with what its book holds in the event now, as the `EVENT_LOSS` rule reads it: the
        account's over the account's event (`event`, over the loop's `view`), the strategy's
        budget's over its own part (`Budgets.event`), the orders on their way and of unknown
        outcome (`pending`) counted as resting."""
        from kalshi_cli.strategy_api.snapshot import EventLimit

        limits: list[EventLimit] = []
        account = self._risk.limits.max_event_loss
        book = None if account is None else self.event(ticker, view)
        if account is not None and book is not None:
            limits.append(EventLimit(account, tuple(book.legs()), book.terms.kind))
        budgets = self._budgets
        budget = None if budgets is None else budgets.budgets.get(strategy)
        if budgets is not None and budget is not None and budget.max_event_loss is not None:
            own = budgets.event(strategy, ticker, pending())
            if own is not None:
                limits.append(EventLimit(budget.max_event_loss, tuple(own.legs()), own.terms.kind))
        return tuple(limits)

    def event(self, ticker: str, view: Callable[[str], PositionView]) -> EventBook | None:
        """The market's event over the loop's view, when the account's limit on an event's loss
        is set (None: nothing to count): a market of it the loop does not trade as the exchange
        holds it, last read."""
        terms = self.reads.account_events.get(ticker)
        if terms is None:
            return None
        elsewhere = self._elsewhere
        return terms.book(lambda t: elsewhere(t) or view(t))


@dataclass(frozen=True, slots=True)
class _LoopSource:
    """The loop's view of one order, as the one builder of its risk context reads it
    (`context.OrderSource`): the executor's view (`LoopView`), the risk engine's trading state
    read fresh from the trading records, its clock, fees and books, the strategy's own part from
    its budgets, and what the account read at the loop's start (the event, the shard)."""

    account: LoopAccount
    risk: RiskEngine
    budgets: Budgets | None
    intent: Intent
    seen: LoopView

    @property
    def last_data_at(self) -> float | None:
        return self.seen.last_data_at

    @property
    def total_exposure(self) -> Decimal:
        return self.seen.total_exposure

    def now(self) -> float:
        return self.risk.clock.wall()

    def state(self) -> TradingState:
        return self.risk.state()

    def position(self) -> PositionView:
        return self.seen.view(self.intent.ticker)

    def event(self) -> EventBook | None:
        return self.account.event(self.intent.ticker, self.seen.view)

    def owned(self, event: EventBook | None, now: float) -> Owned | None:
        budgets = self.budgets
        return None if budgets is None else budgets.owned(self.intent, self.seen.pending())

    def fee_rates(self, now: float) -> tuple[Decimal, Decimal]:
        return self.risk.fee_rates(self.intent.ticker, now)

    def book(self) -> Orderbook | None:
        return self.risk.books(self.intent.ticker)

    def shard(self, position: PositionView) -> ShardBalances | None:
        """The market's shard and each shard's balance, less what the loop's orders spend there,
        given back what the orders a replacement replaces hold in `position` (the exchange frees
        it as it takes the replacement), as an amend by hand is judged."""
        intent = self.intent
        record = self.account.reads.shard(intent.ticker)
        freed = LoopAccount.replaced(intent, position)
        if record is None or not freed:
            return record
        spent = dict(record.spent)
        spent[record.shard] = spent.get(record.shard, ZERO) - freed
        return replace(record, spent=spent)


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
    grouped = by_event(markets)
    events = {
        name: reader.terms(name, fees, {m.ticker: m.raw for m in own}, held(name))
        for name, own in grouped.items()
    }
    return {m.ticker: events[m.event_ticker] for own in grouped.values() for m in own}


def by_event(markets: Iterable[Market]) -> dict[str, list[Market]]:
    """The markets by their event's ticker, in the order given."""
    grouped: dict[str, list[Market]] = {}
    for market in markets:
        grouped.setdefault(market.event_ticker, []).append(market)
    return grouped


def loop_reads(
    reader: EventReader,
    holdings: AccountHoldings,
    limits: RiskLimits,
    *,
    budgets: Iterable[Budget],
    markets: list[Market],
    fees: Callable[[str], FeeModel | None],
) -> LoopReads:
    """What the loop's pre-trade account reads once at its start: the events only when a limit on
    an event's loss asks for them (`event_limited`), the balance once."""
    events: dict[str, EventTerms] = {}
    if event_limited(limits, budgets):
        events = load_events(reader, markets, fees, lambda e: holdings.event_views(e).keys())
    shard_of = shards_of(markets)
    # the balance read once, and only when a market says its shard: nothing to judge without
    balances = holdings.balance().shards() if shard_of else None
    whose = holdings.client.subaccount
    shards = {} if balances is None else shard_records(balances, shard_of, subaccount=whose)
    return LoopReads(events, event_limited(limits), shard_of, shards, whose)


def shards_of(markets: Iterable[Market]) -> dict[str, int]:
    """Each market's shard, of those whose listing says it (the others: not known)."""
    return {m.ticker: m.exchange_index for m in markets if m.exchange_index is not None}


def shard_records(
    balances: Mapping[int, Decimal],
    shard_of: Mapping[str, int],
    spent: Mapping[int, Decimal] | None = None,
    subaccount: int | None = None,
) -> dict[int, ShardBalances]:
    """Each shard's record over one read of `subaccount`'s balances (a shard the breakdown
    leaves out holds nothing), less `spent` on each (read as it changes)."""
    spent = {} if spent is None else spent
    shards = {*balances, *shard_of.values()}
    return {n: ShardBalances(n, balances, spent, subaccount) for n in shards}


def event_reader(client: Any) -> EventReader:
    """The loop's one reader of its events, over the client's markets."""
    markets: EventReads = client.markets
    return EventReader(markets)

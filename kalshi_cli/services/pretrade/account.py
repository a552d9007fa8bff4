"""The pre-trade account: what an order is judged against before it is sent, built once per order
or batch, whoever sends it. A path hands it only its own view (`OrderView`: what is on its way,
what it owns); the account decides what the rules need read and reads it once (the market, the
event with the markets the account holds in it when a limit on its loss is set, the balance with
each shard's part when the order opens anything), has the risk context the rules read built
by the one builder of it (services/pretrade/context.py `risk_context`, over `_OrderSource`), then
runs the rules the path asks for in the one loop over rules
(`risk.engine.judge`, the trade loop's risk engine's too): `PreTradeAccount.judge`.

`kalshi order place`, `batch` and `amend` (services/orders/limits.py) and the assistant's orders
(agent/tools/order_checks.py) come through it; the trade loop through its own account over the
same rules (services/pretrade/loop.py `LoopAccount`), whose reads come from the loop's books.
Those paths ask the daily circuit breaker here too, before the trading state
(`PreTradeAccount.breaker_day`): the loop's breaker, over the account's fills brought in first
for an order it can refuse (one that adds) and never for one that only takes risk away.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from copy import copy
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from kalshi_cli.risk.engine import CircuitBreaker, day_trip, judge, log_entry
from kalshi_cli.risk.rules import ShardBalances, opening_cost, shard_cost
from kalshi_cli.services.pretrade.context import risk_context
from kalshi_cli.services.pretrade.events import EventReader
from kalshi_cli.services.pretrade.holdings import AccountHoldings, HoldingsClient
from kalshi_cli.services.pretrade.settings import event_limited
from kalshi_cli.vocabulary.clock import day_start, utc_day
from kalshi_cli.vocabulary.decisions import PositionView
from kalshi_cli.vocabulary.errors import NotFoundError, ValidationError
from kalshi_cli.vocabulary.trading_state import TradingState
from kalshi_cli.vocabulary.units import ZERO, TimeInForce

if TYPE_CHECKING:
    from kalshi_cli.risk.budget import Owned
    from kalshi_cli.risk.engine import RiskLimits
    from kalshi_cli.risk.event_loss import EventBook, EventTerms
    from kalshi_cli.risk.rules import Rule, Verdict
    from kalshi_cli.services.pretrade.budgets import OwnView
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.decisions import Intent
    from kalshi_cli.vocabulary.models import Balance, FeeModel, Market

_T = TypeVar("_T")

View = Callable[[str], PositionView]

__all__ = ["MarketReads", "OrderView", "PreTradeAccount", "breaker_refusal", "shard_balances"]


def breaker_refusal(day: str) -> ValidationError:
    """An order path's refusal of an order that adds on `day`, a day the daily circuit breaker
    holds (`PreTradeAccount.breaker_day`): when it ends (the first second of the next UTC day),
    and what still goes (what takes risk away)."""
    lifts = utc_day(day_start(day) + 86_400.0)
    return ValidationError(
        f"the daily circuit breaker tripped on {day}: no new orders or amends until {lifts} "
        "00:00 UTC (the next UTC day)",
        code="CIRCUIT_BREAKER",
        hint="`kalshi status` shows why; cancels, `kalshi order decrease` and reduce-only orders "
        "still go (after `kalshi resume`, an amend to fewer contracts or an earlier expiry too)",
    )


def shard_balances(
    market: Market,
    balance: Balance,
    spent: Mapping[int, Decimal] | None = None,
    subaccount: int | None = None,
) -> ShardBalances | None:
    """The market's shard and each shard's balance, `subaccount`'s (None: the market or the
    balance does not say: the exchange holds the order to its shard's balance alone)."""
    shards = balance.shards()
    if market.exchange_index is None or shards is None:
        return None
    return ShardBalances(market.exchange_index, shards, dict(spent or {}), subaccount)


@dataclass(frozen=True)
class OrderView:
    """What a path outside a loop hands the account for one order (a command's, the
    assistant's): the order's market as the path counts it (`position`: with the orders it
    prepared before resting there), every market's (`everything`: what the event's worst case
    counts), what the order commits (`committed`: what its shard's balance is held to;
    `freed`: what an amended order held there, given back), the trading state and the
    account's exposure (for the rules that read them), and what its owner owns (`own`: for its
    budget; None: it has none)."""

    position: PositionView
    everything: View
    committed: Intent
    freed: Decimal = ZERO
    state: TradingState = TradingState.ACTIVE
    total_exposure: Decimal = ZERO
    own: OwnView | None = None


class MarketReads:
    """The exchange's answers about markets (the market, a position, the exposure, the event,
    the balance), read once for many orders prepared together: a batch file of 100,000 rows
    naming two markets reads two markets, not 100,000. A refusal is kept as well, so every row
    naming an unknown ticker is refused without asking again."""

    def __init__(self, at: float | None = None, *, dry_run: bool = False) -> None:
        """`at`: the time the orders are judged at, whose UTC day the daily circuit breaker
        asks (None: the account's clock; the assistant's is its own). `dry_run`: the orders
        are judged and not sent, so the breaker reads the state file as it is, bringing
        nothing in and writing nothing (`PreTradeAccount.breaker_day`)."""
        self.at = at
        self.dry_run = dry_run
        # the breaker's catch-up, its listings on their way (`PreTradeAccount.read_ahead`):
        # the time it began and what books it once they are in
        self.ahead: tuple[float, Callable[[], object]] | None = None
        self._answers: dict[tuple[str, str], Any] = {}
        # what the buys prepared so far may cost at most, spent from the one balance read
        self.spent = ZERO
        # what the orders prepared so far may commit on each shard
        self.shard_spent: dict[int, Decimal] = {}
        # each market's view with the orders prepared so far resting in it
        self.added: dict[str, PositionView] = {}

    def answered(self, kind: str, key: str) -> bool:
        """Whether `get(kind, key, ...)` has its answer (or refusal) already."""
        return (kind, key) in self._answers

    def get(self, kind: str, key: str, read: Callable[[], _T]) -> _T:
        at = (kind, key)
        if at not in self._answers:
            try:
                self._answers[at] = read()
            except (ValidationError, NotFoundError) as exc:
                self._answers[at] = exc
        answer = self._answers[at]
        if isinstance(answer, Exception):
            raise answer
        result: _T = answer
        return result


class PreTradeAccount:
    """The account an order placed outside a loop is judged against (of the subaccount it goes
    to), its limits, and the reads its context needs, each made once for the orders a
    `MarketReads` prepares."""

    def __init__(
        self,
        client: HoldingsClient,
        store: Store,
        limits: RiskLimits,
        *,
        now: Callable[[], float],
        fees: Callable[[Market], FeeModel | None],
        bring_in: Callable[[float], object],
        read_ahead: Callable[[float], Callable[[], object]] | None = None,
    ) -> None:
        """`bring_in`: the account's fills and settlements since the last look brought into
        the state file at a time (`reconcile.catch_up` over `client`); `read_ahead`: the same
        begun at a time, its listings sent on a thread of their own, returning what books them
        once they are in (None: `bring_in` alone)."""
        self.client = client
        self._store = store
        self.limits = limits
        self.holdings = AccountHoldings(client, store)
        self._now = now
        self._fees = fees
        self._bring_in = bring_in
        self._read_ahead = read_ahead

    def held_to(self, limits: RiskLimits) -> PreTradeAccount:
        """This account held to `limits` (the config's, as its reader reads them)."""
        held = copy(self)
        held.limits = limits
        return held

    # ------------------------------------------------------------------ reads, once per batch

    def market(self, ticker: str, reads: MarketReads) -> Market:
        markets = self.client.markets  # type: ignore[attr-defined]
        market: Market = reads.get("market", ticker, lambda: markets.get_market(ticker))
        return market

    def balance(self, reads: MarketReads) -> Balance:
        return reads.get("balance", "", self.holdings.balance)

    def fees(self, market: Market, reads: MarketReads) -> FeeModel | None:
        """`market`'s fees, read once for the orders `reads` prepares (None: fees the model
        cannot price)."""
        return reads.get("fees", market.ticker, lambda: self._fees(market))

    def view(self, ticker: str, reads: MarketReads) -> PositionView:
        """`ticker`'s view as the exchange holds it, read once for the orders `reads`
        prepares."""

        def read() -> PositionView:
            return self.holdings.account_views(ticker).get(ticker) or PositionView(ticker)

        return reads.get("view", ticker, read)

    def views(self, reads: MarketReads) -> dict[str, PositionView]:
        """Every market's view, read once for the orders `reads` prepares."""
        return reads.get("views", "", self.holdings.account_views)

    def event_terms(self, ticker: str, reads: MarketReads) -> EventTerms:
        """The event of `ticker`'s market as the limit on its loss reads it, read once for the
        orders `reads` prepares: its listing and every market the account holds or rests in
        under its ticker; each market's fees read when a holding needs them."""
        from kalshi_cli.vocabulary.models import Market, decode_answer

        market = self.market(ticker, reads)
        name = market.event_ticker
        reader = reads.get("event reader", "", lambda: EventReader(self.client.markets))  # type: ignore[attr-defined]
        answer = reader.answer(name)
        held = reads.get("event views", name, lambda: self.holdings.event_views(name))

        def fees(t: str) -> FeeModel | None:
            raw = answer.listed.get(t)
            if raw is None and t != ticker:
                return None
            priced = market if raw is None else decode_answer(Market, raw)
            return self.fees(priced, reads)

        return reader.terms(name, fees, {ticker: market.raw}, held)

    # ------------------------------------------------------------------ the rules, judged

    def breaker_day(self, reads: MarketReads, *, adds: bool = True) -> str | None:
        """The UTC day (of `reads.at`, else the account's clock) on which the daily circuit
        breaker (`risk.daily_loss_limit`) holds every order that adds, or None, asked once for
        the orders `reads` prepares: the breaker the loop asks (`CircuitBreaker.tripped`): the
        day's trip, or the day's realized P&L at the limit, which trips it (its row, REDUCING,
        a `circuit_breaker` entry). It holds whatever the trading state reads (after `kalshi
        resume`, ACTIVE); when it does not, its own REDUCING of a day before is lifted, so the
        state read after it is the day's. Every order path outside a loop asks it before the
        trading state. For an order that adds (`adds`), the one it can refuse, the account's
        fills and settlements are brought into the state file first (an order's answer carries
        none, so with no loop running a loss is there only once something brings it in), unless
        the state file holds the day tripped already; for one that does not (an amend to fewer
        contracts, whose REDUCING of the day still refuses it) the state file alone is read: a
        change that only takes risk away never waits on, nor fails by, the exchange's fills. A
        dry run (`reads.dry_run`) reads the state file as it is and writes nothing
        (`CircuitBreaker.holds`: a trip its P&L reaches is not recorded, no REDUCING lifted)."""

        def ask() -> str | None:
            at = self._at(reads) if reads.ahead is None else reads.ahead[0]
            day = utc_day(at)
            trips = CircuitBreaker(self._store.trading, self.limits.daily_loss_limit, log_entry)
            if reads.dry_run:
                return day if trips.holds(day) else None
            # begun (`read_ahead`): booked; a day the state file holds tripped already refuses
            # with no read of the exchange
            if adds and reads.ahead is not None:
                reads.ahead[1]()
            elif adds and day_trip(self._store.trading, day) is None:
                self._bring_in(at)
            return day if trips.tripped(day) else None

        return reads.get("breaker" if adds else "breaker, state file", "", ask)

    def read_ahead(self, reads: MarketReads) -> None:
        """Begin the catch-up `breaker_day` makes for an order that adds, its listings on a
        thread of their own, so they go out beside the order's own reads (its market, its
        position, the balance) rather than before them; `breaker_day` books them and judges.
        Nothing begun for a dry run, for orders `reads` has the breaker's answer for, or on a
        day the state file holds tripped (it refuses with no read)."""
        if self._read_ahead is None or reads.dry_run or reads.ahead is not None:
            return
        if reads.answered("breaker", ""):
            return
        at = self._at(reads)
        if day_trip(self._store.trading, utc_day(at)) is None:
            reads.ahead = (at, self._read_ahead(at))

    def _at(self, reads: MarketReads) -> float:
        """The time the orders `reads` prepares are judged at."""
        return self._now() if reads.at is None else reads.at

    def judge(
        self,
        rules: Iterable[Rule],
        intent: Intent | Callable[[Rule], Intent | None],
        seen: OrderView,
        reads: MarketReads,
    ) -> list[tuple[Rule, Verdict]]:
        """The rules the path asks for (`intent`, or the intent each rule is asked, None: not
        asked) in the one loop over rules (`risk.engine.judge`), over the risk context of the
        order built here once from the path's view (`seen`): the event read when a limit on its
        loss is set (`event_limited`, the account's or the owner's budget's), the shard's
        balance read when the order opens anything, the owner's own part when it has a budget.
        Every rule's denial, in the rules' order; with none, what the order commits on its
        shard is counted against the orders `reads` prepares after it."""
        context = risk_context(_OrderSource(self, seen, reads, self._now))
        denials = judge(rules, intent, context)
        shard = context.shard
        if not denials and shard is not None:
            cost = shard_cost(seen.committed, seen.position, context.fee_rates)
            reads.shard_spent[shard.shard] = reads.shard_spent.get(shard.shard, ZERO) + cost
        return denials


@dataclass(frozen=True, slots=True)
class _OrderSource:
    """A command's or the assistant's view of one order, as the one builder of its risk context
    reads it (`context.OrderSource`): what the path hands (`OrderView`), the account's reads
    made once for the orders `reads` prepares, each only when a rule needs it."""

    account: PreTradeAccount
    seen: OrderView
    reads: MarketReads
    clock: Callable[[], float]

    last_data_at = None  # no feed outside a loop

    @property
    def total_exposure(self) -> Decimal:
        return self.seen.total_exposure

    def now(self) -> float:
        return self.clock()

    def state(self) -> TradingState:
        return self.seen.state

    def position(self) -> PositionView:
        return self.seen.position

    def event(self) -> EventBook | None:
        """The event's book over every market's view, when a limit on its loss is set, the
        account's or the owner's budget's (`event_limited`; None: the event is not read)."""
        seen, account = self.seen, self.account
        budget = None if seen.own is None else seen.own.budget
        if not event_limited(account.limits, (budget,)):
            return None
        return account.event_terms(seen.committed.ticker, self.reads).book(seen.everything)

    def owned(self, event: EventBook | None, now: float) -> Owned | None:
        seen = self.seen
        if seen.own is None:
            return None
        events = {} if event is None else {seen.committed.ticker: event.terms}
        return seen.own.owned(seen.committed, events, now)

    def fee_rates(self, now: float) -> tuple[Decimal, Decimal] | None:
        """The market's fee rates, read only for an order that takes now or dies and opens
        anything: its taker fee is asked of its shard with its cost (`shard_cost`). The limit
        rules alone run outside a loop, so no edge is priced at them; None for a GTC order or
        fees the model cannot price (the exchange's to hold the order to)."""
        seen, account, reads = self.seen, self.account, self.reads
        committed = seen.committed
        if committed.time_in_force is TimeInForce.GTC:
            return None
        if opening_cost(committed, seen.position) <= 0:
            return None
        fees = account.fees(account.market(committed.ticker, reads), reads)
        return None if fees is None else fees.rates(at=now)

    def book(self) -> None:
        return None

    def shard(self, position: PositionView) -> ShardBalances | None:
        """The market's shard and each shard's balance, read only when the order opens
        anything, less what the orders `reads` prepared before may commit there (`freed`: what
        an amended order held, given back)."""
        seen, account, reads = self.seen, self.account, self.reads
        if opening_cost(seen.committed, position) <= 0:
            return None  # an order that opens nothing reads no balance
        market = account.market(seen.committed.ticker, reads)
        if market.exchange_index is None:
            return None  # the balance is read only for a market that names its shard
        spent = dict(reads.shard_spent)
        if seen.freed:
            spent[market.exchange_index] = spent.get(market.exchange_index, ZERO) - seen.freed
        return shard_balances(market, account.balance(reads), spent, account.client.subaccount)

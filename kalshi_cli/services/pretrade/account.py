"""The pre-trade account: what an order is judged against before it is sent, built once per order
or batch, whoever sends it. A path hands it only its own view (what is on its way, what it owns);
the account reads the rest once (the market, the event with the markets the account holds in it,
the balance with each shard's part) and builds the risk context the rules read
(`risk.rules.RiskContext`), then runs the rules the path asks for in the one loop over rules
(`risk.engine.judge`, the trade loop's risk engine's too).

`kalshi order place`, `batch` and `amend` (services/orders/limits.py), the assistant's orders
(agent/tools/order_checks.py) and the trade loop (runner/assembly.py builds its event books and
shard balances here) all come through it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from kalshi_cli.risk.engine import judge
from kalshi_cli.risk.rules import RiskContext, ShardBalances, opening_cost
from kalshi_cli.risk.state import TradingState
from kalshi_cli.services.pretrade.events import EventReader
from kalshi_cli.services.pretrade.holdings import AccountHoldings, HoldingsClient
from kalshi_cli.services.pretrade.settings import event_limited
from kalshi_cli.vocabulary.decisions import PositionView
from kalshi_cli.vocabulary.errors import NotFoundError, ValidationError
from kalshi_cli.vocabulary.units import ZERO

if TYPE_CHECKING:
    from kalshi_cli.risk.budget import Budget, Owned
    from kalshi_cli.risk.engine import RiskLimits
    from kalshi_cli.risk.event_loss import EventBook, EventTerms
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.decisions import Intent
    from kalshi_cli.vocabulary.models import Balance, FeeModel, Market

_T = TypeVar("_T")

View = Callable[[str], PositionView]

__all__ = ["MarketReads", "PreTradeAccount", "judge", "shard_balances"]


def shard_balances(
    market: Market, balance: Balance, spent: Mapping[int, Decimal] | None = None
) -> ShardBalances | None:
    """The market's shard and each shard's balance (None: the market or the balance does not
    say: the exchange holds the order to its shard's balance alone)."""
    shards = balance.shards()
    if market.exchange_index is None or shards is None:
        return None
    return ShardBalances(market.exchange_index, shards, dict(spent or {}))


class MarketReads:
    """The exchange's answers about markets (the market, a position, the exposure, the event,
    the balance), read once for many orders prepared together: a batch file of 100,000 rows
    naming two markets reads two markets, not 100,000. A refusal is kept as well, so every row
    naming an unknown ticker is refused without asking again."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str], Any] = {}
        # what the buys prepared so far may cost at most, spent from the one balance read
        self.spent = ZERO
        # what the orders prepared so far may commit on each shard
        self.shard_spent: dict[int, Decimal] = {}
        # each market's view with the orders prepared so far resting in it
        self.added: dict[str, PositionView] = {}

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
    ) -> None:
        self.client = client
        self._store = store
        self.limits = limits
        self.holdings = AccountHoldings(client, store)
        self._now = now
        self._fees = fees

    def held_to(self, limits: RiskLimits) -> PreTradeAccount:
        """This account held to `limits` (the config's, as its reader reads them)."""
        return PreTradeAccount(self.client, self._store, limits, now=self._now, fees=self._fees)

    def on_subaccount(self, number: int) -> PreTradeAccount:
        """This account's limits, counted over subaccount `number`'s holdings."""
        client = self.client.on_subaccount(number)
        return PreTradeAccount(client, self._store, self.limits, now=self._now, fees=self._fees)

    # ------------------------------------------------------------------ reads, once per batch

    def market(self, ticker: str, reads: MarketReads) -> Market:
        markets = self.client.markets  # type: ignore[attr-defined]
        market: Market = reads.get("market", ticker, lambda: markets.get_market(ticker))
        return market

    def balance(self, reads: MarketReads) -> Balance:
        return reads.get("balance", "", self.holdings.balance)

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
            return reads.get("fees", t, lambda: self._fees(priced))

        return reader.terms(name, fees, {ticker: market.raw}, held)

    # ------------------------------------------------------------------ the context

    def event_book(
        self, ticker: str, reads: MarketReads, view: View, budget: Budget | None = None
    ) -> EventBook | None:
        """The event's book over `view`, when a limit on its loss is set (`event_limited`;
        None: the event is not read)."""
        if not event_limited(self.limits, (budget,)):
            return None
        return self.event_terms(ticker, reads).book(view)

    def shard(self, ticker: str, reads: MarketReads, freed: Decimal = ZERO) -> ShardBalances | None:
        """The market's shard and each shard's balance, less what the orders `reads` prepared
        before may commit there (`freed`: what an amended order held, given back)."""
        market = self.market(ticker, reads)
        if market.exchange_index is None:
            return None  # the balance is read only for a market that names its shard
        spent = dict(reads.shard_spent)
        if market.exchange_index is not None and freed:
            spent[market.exchange_index] = spent.get(market.exchange_index, ZERO) - freed
        return shard_balances(market, self.balance(reads), spent)

    def context(
        self,
        view: PositionView,
        *,
        state: TradingState = TradingState.ACTIVE,
        total_exposure: Decimal = ZERO,
        owned: Owned | None = None,
        event: EventBook | None = None,
        shard: ShardBalances | None = None,
    ) -> RiskContext:
        """The risk context of an order placed outside a loop, now."""
        return RiskContext(
            now=self._now(),
            state=state,
            position=view,
            total_exposure=total_exposure,
            owned=owned,
            event=event,
            shard=shard,
        )

    @staticmethod
    def spend(
        shard: ShardBalances | None, intent: Intent, view: PositionView, reads: MarketReads
    ) -> None:
        """What an order allowed commits on its shard, counted against the orders after it."""
        if shard is not None:
            cost = opening_cost(intent, view)
            reads.shard_spent[shard.shard] = reads.shard_spent.get(shard.shard, ZERO) + cost

"""What the exchange holds for the subaccount an order goes to, as the risk rules count it: each
market's position and what it cost, its resting orders, the state file's orders of unknown
outcome (they may rest), and the balance with each shard's part of it. Read for an order placed
outside a loop (a person's, the assistant's), and by the loop for the markets it does not
trade."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from kalshi_cli.store.records import PENDING, UNKNOWN
from kalshi_cli.vocabulary.decisions import PositionView, RestingOrder
from kalshi_cli.vocabulary.units import ZERO, Side, from_book

if TYPE_CHECKING:
    from kalshi_cli.store import IntentRecord, Store
    from kalshi_cli.vocabulary.models import Balance, Order, Position


class HoldingsClient(Protocol):
    """The client an account's holdings are read through (a `KalshiClient`, the local venue's,
    a test's fake): its subaccount, a handle on another, and its orders' and portfolio's reads."""

    @property
    def subaccount(self) -> int | None: ...

    @property
    def orders(self) -> Any: ...

    @property
    def portfolio(self) -> Any: ...

    def on_subaccount(self, number: int | None) -> Any: ...


def order_subaccount(client: HoldingsClient, *, strict: bool = False) -> int | None:
    """The subaccount an order placed now goes to: the client's, else the one its API key is
    restricted to, else 0 (`own_subaccount`, client/subaccounts.py); None when that cannot be
    told (`strict`: an exchange that could not answer raises its error). A client without
    `own_subaccount` (the local venue's, a test's fake) has no key restrictions: 0."""
    if client.subaccount is not None:
        return client.subaccount
    # the KalshiClient's key may be restricted; the protocol's other clients have no keys
    find: Callable[..., int | None] | None = getattr(client, "own_subaccount", None)
    return 0 if find is None else find(strict=strict)


@dataclass(frozen=True)
class ExchangeHoldings:
    """What the exchange holds for the account (`AccountHoldings.read`)."""

    positions: list[Position]
    resting: list[Order]
    unknown: list[IntentRecord]  # this state file's orders of unknown outcome not listed


class AccountHoldings:
    """The reads of what the subaccount an order placed now goes to holds (the client's, else
    the API key's, else 0's), and of its balance."""

    def __init__(self, client: HoldingsClient, store: Store) -> None:
        self.client = client
        self._store = store

    def on_subaccount(self, number: int) -> AccountHoldings:
        """These reads of subaccount `number` (an order resting there amended)."""
        return AccountHoldings(self.client.on_subaccount(number), self._store)

    def own(self) -> Any:
        """A handle on the subaccount an order placed now goes to."""
        # read through a handle naming that subaccount: an order listing that names none covers
        # every subaccount's (openapi.yaml 3.31.0), and an order names its subaccount to direct
        # members only (REFERENCE.md), so another's bids could neither be left out nor told
        # apart; named, the exchange lists this subaccount's alone
        number = order_subaccount(self.client)
        # not known: read unnamed, which counts every subaccount's orders (never fewer)
        return self.client if number is None else self.client.on_subaccount(number)

    def account_views(self, ticker: str | None = None) -> dict[str, PositionView]:
        """Every market's view (or `ticker`'s) as the risk engine's rules count it
        (risk/rules.py), read from the exchange: the position and what it cost
        (`market_exposure_dollars`), every resting order, and the orders of unknown outcome as
        resting (with no order id)."""
        return views(self.read(ticker))

    def event_views(self, event_ticker: str) -> dict[str, PositionView]:
        """The views of the markets the account holds or rests in under `event_ticker`, as
        `account_views` but from the exchange alone (no state file: a worker of the trade loop
        reads them, runner/execution/elsewhere.py), so without the orders of unknown outcome:
        two reads, its resting orders, then its positions."""
        own = self.own()
        resting = list(own.orders.iter_orders(event_ticker=event_ticker, status="resting"))
        positions = own.portfolio.get_positions(event_ticker=event_ticker)
        return views(ExchangeHoldings(positions, resting, []))

    def fill_ids(self, min_ts: int) -> list[tuple[str, str]]:
        """(ticker, fill id) of each fill since `min_ts` (unix seconds)."""
        return [(f.ticker, f.fill_id) for f in self.own().portfolio.iter_fills(min_ts=min_ts)]

    def balance(self) -> Balance:
        """The balance as the exchange reports it, each shard's part with it when told."""
        balance: Balance = self.own().portfolio.get_balance()
        return balance

    def read(self, ticker: str | None) -> ExchangeHoldings:
        """The exchange's positions and resting orders (of one market, or of every one), and
        this state file's orders there of unknown outcome that the exchange does not list."""
        number = order_subaccount(self.client)
        own = self.own()
        # read in the direction contracts move: an order of unknown outcome lands and is booked
        # resting, a resting order fills into the position. Each read comes before the one its
        # contracts move into, so a move between two reads counts in both, never in neither
        awaiting = [
            intent
            for intent in self._store.orders.intents(status=[PENDING, UNKNOWN], ticker=ticker)
            if number is None or intent.subaccount == number
        ]
        resting = list(own.orders.iter_orders(ticker=ticker, status="resting"))
        positions = [
            p
            for p in own.portfolio.get_positions(ticker=ticker)
            if ticker is None or p.ticker == ticker
        ]
        listed = {order.client_order_id for order in resting}
        # an order of this state file whose answer was lost may still land: it counts as resting,
        # at its whole count, until the exchange lists it resting or `kalshi reconcile` settles it
        # (reads lag writes). Too much is counted until a reconcile, never too little.
        unknown = [intent for intent in awaiting if intent.client_order_id not in listed]
        return ExchangeHoldings(positions, resting, unknown)


def views(held: ExchangeHoldings) -> dict[str, PositionView]:
    """Each market's view of what the exchange holds."""
    costs: dict[str, tuple[Decimal, Decimal]] = {
        p.ticker: (p.position, p.exposure) for p in held.positions
    }
    resting: dict[str, list[RestingOrder]] = {}
    for order in held.resting:
        # seen from YES: a rule reads the book side and the price of the side it adds
        action, price = from_book(order.book_side, order.yes_price, Side.YES)
        entry = RestingOrder(order.order_id, Side.YES, action, price, order.remaining_count)
        resting.setdefault(order.ticker, []).append(entry)
    for intent in held.unknown:
        action, price = from_book(intent.book_side, intent.price, Side.YES)
        entry = RestingOrder("", Side.YES, action, price, intent.count)
        resting.setdefault(intent.ticker, []).append(entry)
    found: dict[str, PositionView] = {}
    for market in costs.keys() | resting.keys():
        position, cost = costs.get(market, (ZERO, ZERO))
        found[market] = PositionView(
            market,
            position=position,
            avg_entry_price=cost / abs(position) if position else ZERO,
            entry_cost=cost,
            resting=tuple(resting.get(market, ())),
        )
    return found

"""What every component of an `OrderService` works over: the exchange's calls it makes (by area,
`OrderClient`), and the `OrderContext` of one client, one state file and one clock, with the
reads and writes placing, amending and cancelling share: the trading state, an order read
before it is changed, the subaccount a change goes to, an order read copied in."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from kalshi_cli.risk.state import state_named
from kalshi_cli.services.fees import FeeMarketReads
from kalshi_cli.services.pretrade.holdings import order_subaccount
from kalshi_cli.services.reconcile import FillReads, OrderReads, ReconcileClient, apply_order
from kalshi_cli.vocabulary.clock import Deadline
from kalshi_cli.vocabulary.errors import (
    KalshiError,
    NotFoundError,
    TradingHaltedError,
    UsageError,
    ValidationError,
)
from kalshi_cli.vocabulary.models import Market, Order

if TYPE_CHECKING:
    from collections.abc import Callable

    from kalshi_cli.client.requests import (
        AmendOrder,
        AmendResult,
        CancelResult,
        CreateOrder,
        CreateOrderResult,
        DecreaseResult,
    )
    from kalshi_cli.store import IntentRecord, Store, TradingStateRecord
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.models import Balance, Position


class MarketRead(FeeMarketReads, Protocol):
    """The market reads the order service makes (a client's `markets`): the market, and for a
    buy that takes, its event and series (their fees)."""

    def get_market(self, ticker: str) -> Market: ...


class OrderPortfolio(FillReads, Protocol):
    """The portfolio reads the order service makes beside reconciliation's."""

    def get_balance(self) -> Balance: ...

    def get_positions(
        self, *, ticker: str | None = ..., event_ticker: str | None = ...
    ) -> list[Position]: ...


class OrderCalls(OrderReads, Protocol):
    """The order calls the order service makes beside reconciliation's reads."""

    def create_order(self, request: CreateOrder) -> CreateOrderResult: ...

    def find_order_by_client_id(self, client_order_id: str, ticker: str) -> Order | None: ...

    def cancel_order(
        self, order_id: str, *, ticker: str | None = ..., subaccount: int | None = ...
    ) -> CancelResult: ...

    def amend_order(
        self, order_id: str, terms: AmendOrder, *, subaccount: int | None = ...
    ) -> AmendResult: ...

    def decrease_order(
        self,
        order_id: str,
        *,
        reduce_by: Decimal | None = ...,
        reduce_to: Decimal | None = ...,
        ticker: str | None = ...,
        subaccount: int | None = ...,
    ) -> DecreaseResult: ...


class OrderClient(ReconcileClient, Protocol):
    """What an `OrderService` asks of the exchange, by area: reconciliation's reads and the
    order calls it makes, and no more. The `KalshiClient` is one; the local venue's client and
    a test's fake exchange are others."""

    def on_subaccount(self, subaccount: int | None) -> OrderClient: ...

    @property
    def markets(self) -> MarketRead: ...

    @property
    def portfolio(self) -> OrderPortfolio: ...

    @property
    def orders(self) -> OrderCalls: ...


@dataclass(eq=False)
class OrderContext:
    """One client, one state file, one clock and the read lag between them: what the components of
    an `OrderService` (its checks, amends and cancels) share, and the reads and writes they
    make alike."""

    client: OrderClient
    store: Store
    clock: Clock | None
    read_lag_s: float  # how long a read of orders may lag a write (reconcile.py `read_lag`)

    def now(self) -> float:
        """The wall time the service stamps its records with (its clock's, if it has one)."""
        if self.clock is not None:
            return self.clock.wall()
        import time

        return time.time()

    def sleep(self, seconds: float) -> None:
        """A wait on the service's clock (a test's manual clock moves instead)."""
        from kalshi_cli.vocabulary.clock import SystemClock

        (self.clock or SystemClock()).sleep(seconds)

    def copy_in(self, order: Order) -> bool:
        """An order read from the exchange, in the state file. One placed elsewhere that names
        no subaccount is imported on the one an order placed now goes to (a restricted key's
        own), asked only when there is one to import."""
        return apply_order(self.store, order, now=self.now(), subaccount=self.subaccount)

    def subaccount(self) -> int | None:
        """The subaccount an order placed now goes to (`order_subaccount`)."""
        return order_subaccount(self.client)

    def check_trading(self, *, reduce_only: bool, what: str) -> None:
        """The trading state as it holds now (`state_that_holds`: the daily circuit breaker's
        REDUCING of a day that is over reads ACTIVE, which an order that adds has written by
        now and a dry run, writing nothing, has not) refuses the order unless it allows it."""
        from kalshi_cli.services.orders.status import state_that_holds

        state = state_that_holds(self.store, self.store.trading.trading_state(), self.now())
        check_trading_state(state.state, state.reason, reduce_only=reduce_only, what=what)

    def local(self, order_id: str) -> IntentRecord | None:
        """The state file's row of order `order_id`, if it holds one."""
        return self.store.orders.intent_by_order_id(order_id)

    def subaccount_of(
        self, order_id: str, local: IntentRecord | None, order: Order | None = None
    ) -> int | None:
        """The subaccount a cancel, amend or decrease of `order_id` goes to: the order's own
        (`order`), else the one the state file placed it on (`local`), else the client's. A
        `--subaccount N` that is not the order's is refused before anything is sent."""
        known, said = (order.subaccount, "as the exchange shows it") if order else (None, "")
        if known is None and local is not None:
            known, said = local.subaccount, "as the state file placed it"
        named = self.client.subaccount
        if known is not None and named is not None and known != named:
            raise ValidationError(
                f"order {order_id} is on subaccount {known} ({said}), not on subaccount {named}",
                code="OTHER_SUBACCOUNT",
                hint=f"leave out --subaccount, or give --subaccount {known}; `kalshi reconcile` "
                "corrects a state file that places an order where the exchange does not",
            )
        return named if known is None else known

    def resting(self, order_id: str, done: str) -> Order:
        """The order, looked up before it is changed: an unknown id and an order that no longer
        rests are refused in words here rather than as the exchange's bare error."""
        order = self.client.orders.get_order(order_id)
        if order.status != "resting":
            raise ValidationError(
                f"order {order_id} is {order.status}; only resting orders can be {done}",
                code="ORDER_NOT_RESTING",
            )
        return order


def known_market(markets: MarketRead, ticker: str) -> Market:
    """The market of `ticker`: an unknown one exits NOT_FOUND, as for every command given one
    (docs/exit-codes.md)."""
    try:
        return markets.get_market(ticker)
    except NotFoundError:
        raise NotFoundError(
            f"unknown ticker {ticker}",
            status=404,
            code="UNKNOWN_TICKER",
            hint="`kalshi markets` lists tickers",
        ) from None


def open_market(client: OrderClient, ticker: str) -> Market:
    """The market, open for trading (`known_market`); a market not open is refused with
    MARKET_NOT_OPEN."""
    market = known_market(client.markets, ticker)
    if not market.is_open:
        raise ValidationError(
            f"{market.ticker} is {market.status}, not open for trading", code="MARKET_NOT_OPEN"
        )
    return market


# How long a cancel aimed at one market or event waits to learn whether it exists: past it, the
# cancels go out all the same (a kill switch never waits on a read).
SCOPE_LOOKUP_S = 3.0


@dataclass(frozen=True)
class CancelScope:
    """A cancel's market or event as the exchange's answer names it (as given when the lookup
    failed), and why the exchange did not confirm that spelling (None: its answer named it).
    Tickers are case-sensitive on the simulator and the exchange's rule is unknown, so a listing
    of an unconfirmed spelling that shows nothing proves nothing of the market meant: a cancel
    aimed at one never ends as done (the kill switch NOT PROVEN, `order cancel-all` too)."""

    ticker: str | None
    event_ticker: str | None
    unconfirmed: str | None = None


def refuse_an_unknown_scope(
    markets: MarketRead,
    clock: Clock,
    *,
    ticker: str | None = None,
    event_ticker: str | None = None,
    say: Callable[[str], None] | None = None,
) -> CancelScope:
    """Refuse a cancel aimed at a market or event the exchange does not know (NOT_FOUND), before
    anything is halted or cancelled: a typo one digit short cancels nothing, and the kill switch
    would halt the account and prove the typo's market empty while the orders of the market
    meant rest on. Only the exchange's "not found" refuses; a lookup that fails any other way
    (unreachable, 5xx, 429, more than SCOPE_LOOKUP_S) is said with `say`, and the cancels go
    ahead (docs/kill-switch.md), the scope then `unconfirmed`. Returns the ticker and event as
    the exchange's answer names them, so the orders listed and cancelled are those of the market
    it found, whatever the case the ticker was typed in."""
    if ticker is None and event_ticker is None:
        return CancelScope(ticker, event_ticker)
    if ticker is not None and event_ticker is not None:
        # the exchange lists the orders of both filters at once: a market outside the event
        # would read empty and be proven clear while its orders rest
        raise UsageError(
            "give at most one of a ticker and an event: nothing was halted or cancelled",
            hint="a market's orders: the ticker; every market of an event: the event",
        )
    what, name = ("ticker", ticker) if ticker is not None else ("event", event_ticker)
    try:
        with Deadline.within(clock, SCOPE_LOOKUP_S):
            if ticker is not None:
                return CancelScope(markets.get_market(ticker).ticker, event_ticker)
            event = markets.get_event(str(event_ticker)).get("event")
            found = event.get("event_ticker") if isinstance(event, dict) else None
            named = found if isinstance(found, str) and found else event_ticker
            return CancelScope(ticker, named)
    except NotFoundError:
        raise NotFoundError(
            f"unknown {what} {name}: nothing was halted or cancelled",
            status=404,
            code=f"UNKNOWN_{what.upper()}",
            hint=f"`kalshi {'markets' if ticker is not None else 'events'}` lists them",
        ) from None
    except KalshiError as exc:
        if say is not None:
            say(f"could not tell whether {name} exists ({exc.one_line()}); cancelling anyway")
        return CancelScope(
            ticker,
            event_ticker,
            f"the exchange did not confirm {what} {name} ({exc.one_line()}): its orders may rest "
            "under another spelling",
        )


def recording_allowed(
    state: TradingStateRecord, *, reduce_only: bool, check: Callable[[], None] | None
) -> None:
    """What an intent or an amend is recorded only if: the trading state allows it, then the
    caller's own `check` (`OrderService.record_intent`), both inside the recording's
    transaction."""
    check_trading_state(state.state, state.reason, reduce_only=reduce_only, what="not sent")
    if check is not None:
        check()


def check_trading_state(state: str, reason: str, *, reduce_only: bool, what: str) -> None:
    """Raise TradingHaltedError unless `state` allows the order (`TradingState.allows`: ACTIVE
    anything, REDUCING only a reduce-only order, HALTED and SAFE_MODE nothing)."""
    if not state_named(state).allows(reduce_only=reduce_only):
        raise TradingHaltedError(
            f"trading is {state} ({reason}); {what}",
            hint="`kalshi status` shows why; `kalshi resume` lifts it",
        )

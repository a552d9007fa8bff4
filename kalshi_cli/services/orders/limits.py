"""The checks an order meets before it is sent, whoever sends it: its market's terms, the
trading state, the balance, and the account's limits (`risk:`, through the risk engine's own
`limit_rules`), judged by the pre-trade account (services/pretrade/account.py), handed this
path's view of the order, against what the exchange holds for the account and, for many orders
prepared together, read once (`MarketReads`)."""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING

from kalshi_cli.client.subaccounts import has_subaccount, no_subaccount
from kalshi_cli.risk.engine import limit_rules
from kalshi_cli.risk.rules import Code, opening_count, resting_cost, taking_fee
from kalshi_cli.risk.state import state_named
from kalshi_cli.services.fees import load_fee_models
from kalshi_cli.services.pretrade.account import (
    MarketReads,
    OrderView,
    PreTradeAccount,
    breaker_refusal,
)
from kalshi_cli.services.reconcile import (
    CatchUpListings,
    catch_up,
    catch_up_fills_listed,
    catch_up_settlements_listed,
    catch_up_since,
)
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.errors import ValidationError
from kalshi_cli.vocabulary.models import FeeModel, FeeModelError, Market
from kalshi_cli.vocabulary.process import side_by_side
from kalshi_cli.vocabulary.units import (
    ZERO,
    Action,
    BookSide,
    Side,
    TimeInForce,
    fmt_count,
    fmt_money,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from kalshi_cli.risk.engine import RiskLimits
    from kalshi_cli.risk.rules import Rule
    from kalshi_cli.services.orders.context import OrderContext
    from kalshi_cli.vocabulary.order_terms import OrderRequest

__all__ = ["MarketReads", "PreTradeChecks", "most_cost"]


class PreTradeChecks:
    """The checks an order placed or amended by a command meets before it is sent: the
    subaccount it names, the balance, and the account's limits, judged by the pre-trade account
    (`account`), which reads what they count against (of the subaccount an order placed now
    goes to)."""

    def __init__(self, context: OrderContext, limits: RiskLimits) -> None:
        self._context = context
        self.account = PreTradeAccount(
            context.client,
            context.store,
            limits,
            now=context.now,
            fees=self._fees,
            bring_in=partial(_bring_in, context),
            read_ahead=partial(_read_ahead, context),
        )

    @property
    def limits(self) -> RiskLimits:
        return self.account.limits

    @limits.setter
    def limits(self, limits: RiskLimits) -> None:
        self.account.limits = limits

    def on_subaccount(self, number: int) -> PreTradeChecks:
        """These limits, counted over subaccount `number`'s holdings (an order resting there
        amended), whichever the client names."""
        from dataclasses import replace

        client = self._context.client.on_subaccount(number)
        return PreTradeChecks(replace(self._context, client=client), self.limits)

    def account_views(self, ticker: str | None = None) -> dict[str, PositionView]:
        """Every market's view (or `ticker`'s) as the risk rules count it, read from the
        exchange (`AccountHoldings.account_views`)."""
        return self.account.holdings.account_views(ticker)

    def check_breaker(self, reads: MarketReads) -> None:
        """An order that adds is refused (CIRCUIT_BREAKER) on a day the daily circuit breaker
        holds (`PreTradeAccount.breaker_day`, the account's fills brought in first, asked once
        for the orders `reads` prepares): the refusal says when it ends, where REDUCING's would
        say that `kalshi resume` lifts it. Asked before the trading state is read, so its
        REDUCING of a day before is lifted by then; not asked under HALTED or SAFE_MODE, which
        refuse before anything is asked of the exchange."""
        if not self._breaker_asked():
            return
        day = self.account.breaker_day(reads)
        if day is not None:
            raise breaker_refusal(day)

    def _breaker_asked(self) -> bool:
        """Whether the trading state leaves the breaker to be asked: not HALTED or SAFE_MODE,
        which refuse every order that adds before anything is asked of the exchange."""
        state = self._context.store.trading.trading_state().state
        return state_named(state).allows(reduce_only=True)

    def check_may_send(self, reads: MarketReads, *, reduce_only: bool, what: str) -> None:
        """The gates a new order passes (`may_send`), with nothing of its market read."""
        with self.may_send(reads, reduce_only=reduce_only, what=what):
            pass

    @contextmanager
    def may_send(self, reads: MarketReads, *, reduce_only: bool, what: str) -> Iterator[None]:
        """The gates a new order passes, around the reads of its market (the body), in their
        one order: the daily circuit breaker of the state file alone for an order that adds
        (never for a reduce-only order, which it cannot refuse; not under HALTED or SAFE_MODE,
        stricter, which refuse before anything is asked of the exchange), then the trading
        state as it holds (HALTED, SAFE_MODE, and REDUCING for an order that adds: exit 13,
        `what` saying what is not done); then, for an order that adds, the breaker's catch-up
        begun (`PreTradeAccount.read_ahead`) while the body reads, and the breaker asked over
        it when the body ends (`check_breaker`), its refusal before any of the body's."""
        if reduce_only:
            self._context.check_trading(reduce_only=True, what=what)
            yield
            return
        if self._breaker_asked():
            held = self.account.breaker_day(reads, adds=False)
            if held is not None:
                raise breaker_refusal(held)
        self._context.check_trading(reduce_only=False, what=what)
        self.account.read_ahead(reads)
        try:
            yield
        except Exception:
            self.check_breaker(reads)  # its refusal before the body's
            raise
        self.check_breaker(reads)

    def check_subaccount(self, reads: MarketReads) -> None:
        """`--subaccount N` names one the account has (0 always is), or the exchange refuses
        every order to it: the account's subaccounts are read once for all the orders."""
        client = self._context.client
        number = client.subaccount
        if not number:
            return
        listing = client.subaccounts.subaccount_balances
        held = reads.get("subaccounts", "", lambda: has_subaccount(number, listing))
        if not held:
            raise no_subaccount(number)

    def check_balance(
        self,
        request: OrderRequest,
        market: Market,
        book_side: BookSide,
        price: Decimal,
        reads: MarketReads,
    ) -> Decimal:
        """A buy costs count x `price` (of the side bought), plus the taker fee on every contract
        for an order that takes or dies now (IOC, FOK), at the market's own fees
        (`services.fees`); a GTC order is held to its cost alone (`taking_fee`, the rule its
        shard's balance is held by too). A fee the model cannot price is
        the exchange's to refuse. Over the balance of the order's subaccount, less what orders
        prepared before it may cost, it is refused. Sells and reduce-only orders are not held to
        it, nor the contracts of a buy that close a position held on the other side. Returns
        what it spends of the balance, for the caller to spend once every check has passed
        (`reads.spent`)."""
        if request.action is not Action.BUY or request.reduce_only:
            return ZERO
        tif = request.time_in_force
        rates = None
        if tif is not TimeInForce.GTC:
            fees = self.account.fees(market, reads)
            rates = None if fees is None else fees.rates(at=self._context.now())

        def cost(count: Decimal) -> Decimal:
            return count * price + taking_fee(count, price, tif, rates)

        need = cost(request.count)
        available = self.account.balance(reads).balance - reads.spent
        if need > available:
            ticker = request.ticker
            position = self.account.view(ticker, reads).position
            opening_need = cost(opening_count(request.count, book_side, position))
            if opening_need > available:
                left = " left" if reads.spent else ""
                raise ValidationError(
                    f"buying {fmt_count(request.count)} {request.side.value} at "
                    f"{fmt_money(price)} costs up to {fmt_money(opening_need)}"
                    f"{' with the taker fee' if rates is not None else ''}; "
                    f"the balance{left} is {fmt_money(available)}: short by "
                    f"{fmt_money(opening_need - available)}",
                    code="INSUFFICIENT_BALANCE",
                    hint="lower --count or the price, or fund the account",
                )
            need = opening_need
        return need

    def _fees(self, market: Market) -> FeeModel | None:
        """The market's own fees, or None for fees the model cannot price (the exchange's to
        hold the order to)."""
        try:
            return load_fee_models(self._context.client, [market])[market.ticker]
        except FeeModelError:
            return None

    def check_limits(
        self,
        ticker: str,
        book_side: BookSide,
        count: Decimal,
        yes_price: Decimal,
        reads: MarketReads | None = None,
        *,
        growth: Decimal | None = None,
        amending: tuple[str, Decimal] | None = None,
        reduce_only: bool = False,
        time_in_force: TimeInForce = TimeInForce.GTC,
    ) -> Decimal:
        """The rules of `risk.limit_rules` an order meets as the loop's do: size, cost (contracts
        that close the other side not counted) and the position in its market with `growth` (else
        `count`) more resting on `book_side`, beside the orders `reads` prepared before it, over
        the exchange's view, the event's worst case (`amending`: the order amended and what of it
        rests after; a `reduce_only` order, an exit, is never held to it) and its shard's
        balance (with the taker fee for a `time_in_force` that takes now). The first denial is
        refused, naming the key to raise; returns the worst case after, toward either side."""
        reads = reads or MarketReads()
        account = self.account
        base = account.view(ticker, reads)
        view = reads.added.get(ticker, base)
        action = Action.BUY if book_side is BookSide.BID else Action.SELL
        grown = count if growth is None else growth

        def intent(n: Decimal, gone: tuple[str, ...] = ()) -> Intent:
            return Intent(
                ticker,
                Side.YES,
                action,
                yes_price,
                n,
                yes_price,
                "",
                reduce_only=reduce_only,
                # `check_terms` let a reduce-only order through as IOC alone; an order that
                # takes now or dies asks its shard for its taker fee too (`shard_cost`)
                time_in_force=TimeInForce.IOC if reduce_only else time_in_force,
                replaces=gone,
            )

        def asked(rule: Rule) -> Intent | None:
            held = rule.code is Code.POSITION_LIMIT
            if rule.code not in _BY_MARKET or (held and grown <= 0):
                return None
            if amending is not None and rule.code in _AMENDED:
                # the amended order counts once: what rests of it at its new terms, in its place
                return intent(amending[1], (amending[0],))
            return intent(grown if held else count)

        def everything(t: str) -> PositionView:
            return reads.added.get(t) or account.views(reads).get(t) or PositionView(t)

        committed = intent(grown if amending is None else amending[1])
        freed = ZERO if amending is None else resting_cost(base, (amending[0],))
        seen = OrderView(view, everything, committed, freed)
        denials = account.judge(limit_rules(self.limits), asked, seen, reads)
        if denials:
            rule, verdict = denials[0]
            raise _refusal(rule, verdict.detail, base, book_side=book_side, reads=reads)
        if grown > 0:
            view = view.after(Intent(ticker, Side.YES, action, yes_price, grown, yes_price, ""))
        reads.added[ticker] = view
        return view.worst_either_way()


# the limit rules an order placed outside a loop is held to here, those that read its market
# alone (docs/risk.md); the assistant's own checks count the whole account's exposure and budget;
# the daily circuit breaker is asked before the trading state (`check_breaker`)
_BY_MARKET = (
    "MAX_ORDER_SIZE",
    "MAX_ORDER_COST",
    "POSITION_LIMIT",
    "EVENT_LOSS",
    "SHARD_BALANCE",
)
# the rules that judge an amend as the order it leaves resting, in the amended order's place
_AMENDED = ("EVENT_LOSS", "SHARD_BALANCE")


def _bring_in(context: OrderContext, now: float) -> None:
    """The account's fills and settlements since the last look, into the state file (as
    `kalshi positions` brings them in): what the daily circuit breaker counts."""
    catch_up(context.client, context.store, now=now)


def _read_ahead(context: OrderContext, now: float) -> Callable[[], object]:
    """`_bring_in` begun at `now`: its two listings (the fills, the settlements: reads of the
    exchange alone) sent at once, each on a thread of its own (`side_by_side`: a daemon, so an
    order interrupted meanwhile ends its process without waiting for them), over the one client
    (which the trade loop's workers share too); returns what waits for them and books them in
    the state file, on the caller's thread (the state file's connection is that thread's)."""
    client, since = context.client, catch_up_since(context.store)
    name = "breaker-catch-up"
    (fills,) = side_by_side([partial(catch_up_fills_listed, client, since)], 1, name=name)
    (settlements,) = side_by_side(
        [partial(catch_up_settlements_listed, client, since)], 1, name=name
    )

    def book() -> int:
        listed = CatchUpListings(since, fills.result(), settlements.result())
        return catch_up(client, context.store, now=now, listed=listed)

    return book


def _refusal(
    rule: Rule, text: str, base: PositionView, *, book_side: BookSide, reads: MarketReads
) -> ValidationError:
    """A command's refusal of its order by `rule`: its detail, and what to do, naming the key
    to raise (a rule with no key to raise, its hint alone)."""
    ticker = base.ticker
    about = rule.about
    hint = f"{about.hint}, or raise {about.keys}" if about.keys else about.hint
    if rule.code is Code.POSITION_LIMIT:
        if ticker in reads.added:
            text = text.replace(f"{ticker}: ", f"{ticker}: with the rows before it, ", 1)
        unknown = _unknown(base, book_side)
        if unknown:
            text += f" ({fmt_count(unknown)} of them in orders of unknown outcome)"
            hint += "; `kalshi reconcile` settles the orders of unknown outcome"
    return ValidationError(text, code=str(rule.code), hint=hint)


def _unknown(view: PositionView, book_side: BookSide) -> Decimal:
    """The contracts on `book_side` of the orders of unknown outcome `view` counts resting
    (`account_views` lists them without an order id)."""
    return sum(
        (o.remaining for o in view.resting if not o.order_id and o.book_side is book_side), ZERO
    )


def most_cost(count: Decimal, price: Decimal, fees: FeeModel) -> Decimal:
    """The most `count` contracts at `price` (the price of the side they add, `added_price`)
    could cost: their price and the taker fee on every one at the market's fees
    (`FeeModel.most_fee`: its series' multiplier, an event's override). A fill that takes
    liquidity pays it, an IOC's or FOK's and a crossing GTC's alike; one that rests pays the
    maker's, never more."""
    return count * price + fees.most_fee(count, price)

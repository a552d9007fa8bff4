"""The checks an order meets before it is sent, whoever sends it: its market's terms, the
trading state, the balance, and the account's limits (`risk:`, through the risk engine's own
`limit_rules`), counted against what the exchange holds for the account and, for many orders
prepared together, read once (`MarketReads`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from kalshi_cli.services.fees import load_fee_models
from kalshi_cli.services.orders.context import order_subaccount
from kalshi_cli.store.records import PENDING, UNKNOWN
from kalshi_cli.vocabulary.errors import NotFoundError, ValidationError
from kalshi_cli.vocabulary.models import FeeModel, FeeModelError, Market, Order
from kalshi_cli.vocabulary.units import (
    ONE,
    ZERO,
    Action,
    BookSide,
    Side,
    TimeInForce,
    fmt_count,
    fmt_money,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from kalshi_cli.risk.engine import RiskLimits
    from kalshi_cli.risk.event_loss import EventTerms
    from kalshi_cli.services.orders.context import OrderClient, OrderContext
    from kalshi_cli.store import IntentRecord
    from kalshi_cli.vocabulary.decisions import PositionView
    from kalshi_cli.vocabulary.models import Position
    from kalshi_cli.vocabulary.order_terms import OrderRequest

_T = TypeVar("_T")


@dataclass(frozen=True)
class Exposure:
    """Worst-case contracts held per side if every resting order of a market filled."""

    position: Decimal
    resting_bids: Decimal
    resting_asks: Decimal

    def worst_case(self) -> Decimal:
        return max(self.position + self.resting_bids, self.resting_asks - self.position, ZERO)


@dataclass(frozen=True)
class _Holdings:
    """What the exchange holds for the account (`PreTradeChecks.holdings`)."""

    positions: list[Position]
    resting: list[Order]
    unknown: list[IntentRecord]  # this state file's orders of unknown outcome not listed


class MarketReads:
    """The exchange's answers about markets (the market, a position, the exposure), read once
    for many orders prepared together: a batch file of 100,000 rows naming two markets reads
    two markets, not 100,000. A refusal is kept as well, so every row naming an unknown
    ticker is refused without asking again."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str], Any] = {}
        # what the buys prepared so far may cost at most, spent from the one balance read
        self.spent = ZERO
        # each market's view with the orders prepared so far resting in it
        self.added: dict[str, PositionView] = {}

    def get(self, kind: str, ticker: str, read: Callable[[], _T]) -> _T:
        key = (kind, ticker)
        if key not in self._answers:
            try:
                self._answers[key] = read()
            except (ValidationError, NotFoundError) as exc:
                self._answers[key] = exc
        answer = self._answers[key]
        if isinstance(answer, Exception):
            raise answer
        result: _T = answer
        return result


class PreTradeChecks:
    """The limits an order placed or amended is held to, and the exchange's reads they count
    against (of the subaccount an order placed now goes to)."""

    def __init__(self, context: OrderContext, limits: RiskLimits) -> None:
        self._context = context
        self.limits = limits

    def on_subaccount(self, number: int) -> PreTradeChecks:
        """These limits, counted over subaccount `number`'s holdings (an order resting there
        amended), whichever the client names."""
        from dataclasses import replace

        client = self._context.client.on_subaccount(number)
        return PreTradeChecks(replace(self._context, client=client), self.limits)

    def account_views(self, ticker: str | None = None) -> dict[str, PositionView]:
        """Every market's view (or `ticker`'s) as the risk engine's rules count it
        (risk/rules.py), read from the exchange: the position and what it cost
        (`market_exposure_dollars`), every resting order, and the orders of unknown outcome as
        resting (with no order id). What an order placed outside a loop (a person's, the
        assistant's) is held to the account's `risk:` limits with, as the loop's are with its
        own view."""
        return _views(self.holdings(ticker))

    def event_views(self, event_ticker: str) -> dict[str, PositionView]:
        """The views of an event's markets, as `account_views` but from the exchange alone (no
        state file: a worker of the trade loop reads them, runner/execution/elsewhere.py), so
        without the orders of unknown outcome: two reads, its resting orders, then its
        positions."""
        own = self._own()
        resting = list(own.orders.iter_orders(event_ticker=event_ticker, status="resting"))
        positions = own.portfolio.get_positions(event_ticker=event_ticker)
        return _views(_Holdings(positions, resting, []))

    def fill_ids(self, min_ts: int) -> list[tuple[str, str]]:
        """(ticker, fill id) of each fill since `min_ts` (unix seconds) of the subaccount an
        order placed now goes to."""
        return [(f.ticker, f.fill_id) for f in self._own().portfolio.iter_fills(min_ts=min_ts)]

    def _own(self) -> OrderClient:
        """A handle on the subaccount an order placed now goes to (the client's, else the API
        key's, else 0's)."""
        # read through a handle naming that subaccount: an order listing that names none covers
        # every subaccount's (openapi.yaml 3.31.0), and an order names its subaccount to direct
        # members only (REFERENCE.md), so another's bids could neither be left out nor told
        # apart; named, the exchange lists this subaccount's alone
        number = order_subaccount(self._context.client)
        # not known: read unnamed, which counts every subaccount's orders (never fewer)
        client = self._context.client
        return client if number is None else client.on_subaccount(number)

    def holdings(self, ticker: str | None) -> _Holdings:
        """The exchange's positions and resting orders (of one market, or of every one) of the
        subaccount an order placed now goes to (the client's, else 0), and this state file's
        orders there of unknown outcome that the exchange does not list."""
        number = order_subaccount(self._context.client)
        own = self._own()
        # read in the direction contracts move: an order of unknown outcome lands and is booked
        # resting, a resting order fills into the position. Each read comes before the one its
        # contracts move into, so a move between two reads counts in both, never in neither
        awaiting = [
            intent
            for intent in self._context.store.orders.intents(
                status=[PENDING, UNKNOWN], ticker=ticker
            )
            if number is None or intent.subaccount == number
        ]
        resting = list(own.orders.iter_orders(ticker=ticker, status="resting"))
        positions = [
            p
            for p in own.portfolio.get_positions(ticker=ticker)
            if ticker is None or p.ticker == ticker
        ]
        listed = {order.client_order_id for order in resting}
        # an order of this state file whose answer was lost may still land: it counts as resting, at
        # its whole count, until the exchange lists it resting or `kalshi reconcile` settles it
        # (reads lag writes). Too much is counted until a reconcile, never too little.
        unknown = [intent for intent in awaiting if intent.client_order_id not in listed]
        return _Holdings(positions, resting, unknown)

    def check_subaccount(self, reads: MarketReads) -> None:
        """`--subaccount N` names one the account has (0 always is), or the exchange refuses
        every order to it: the account's subaccounts are read once for all the orders."""
        number = self._context.client.subaccount
        if not number:
            return
        numbers = reads.get("subaccounts", "", self._subaccount_numbers)
        if number not in numbers:
            raise ValidationError(
                f"the account has no subaccount {number}",
                code="UNKNOWN_SUBACCOUNT",
                hint="`kalshi subaccount list` shows them; `kalshi subaccount create` adds the "
                "next one and `kalshi subaccount transfer` funds it",
            )

    def event_terms(self, ticker: str, reads: MarketReads) -> EventTerms:
        """The event of `ticker`'s market as the event-loss limit reads it, the event read once
        for the orders `reads` prepares; each market's fees read when a holding needs them."""
        from kalshi_cli.risk.event_loss import event_terms
        from kalshi_cli.vocabulary.models import decode_answer

        markets = self._context.client.markets
        market = reads.get("market", ticker, lambda: markets.get_market(ticker))
        name = market.event_ticker
        answer = reads.get("event", name, lambda: markets.get_event(name))
        listed = {m.get("ticker"): m for m in answer.get("markets", [])}

        def fees(t: str) -> FeeModel | None:
            raw = listed.get(t)
            if raw is None:
                return None
            return reads.get("fees", t, lambda: self._fees(decode_answer(Market, raw)))

        return event_terms(answer, fees)

    def _subaccount_numbers(self) -> frozenset[int]:
        return frozenset(
            b.subaccount for b in self._context.client.subaccounts.subaccount_balances()
        )

    def check_balance(
        self,
        request: OrderRequest,
        market: Market,
        book_side: BookSide,
        price: Decimal,
        reads: MarketReads,
    ) -> None:
        """A buy costs count x `price` (of the side bought), plus the taker fee on every contract
        for an order that takes or dies now (IOC, FOK), at the market's own fees
        (`services.fees`); a GTC order is held to its cost alone. A fee the model cannot price is
        the exchange's to refuse. Over the balance of the order's subaccount, less what orders
        prepared before it may cost, it is refused. Sells and reduce-only orders are not held to
        it, nor the contracts of a buy that close a position held on the other side."""
        if request.action is not Action.BUY or request.reduce_only:
            return
        fees = None
        if request.time_in_force is not TimeInForce.GTC:
            fees = reads.get("fees", market.ticker, lambda: self._fees(market))
        now = self._context.now()

        def cost(count: Decimal) -> Decimal:
            if fees is None:
                return count * price
            return count * price + fees.fee(count, price, taker=True, at=now)

        need = cost(request.count)
        available = reads.get("balance", "", self._balance) - reads.spent
        if need > available:
            ticker = request.ticker
            position = self._view(ticker, reads).position
            closable = max(-position if book_side is BookSide.BID else position, ZERO)
            opening = max(request.count - closable, ZERO)
            opening_need = cost(opening)
            if opening_need > available:
                left = " left" if reads.spent else ""
                raise ValidationError(
                    f"buying {fmt_count(request.count)} {request.side.value} at "
                    f"{fmt_money(price)} costs up to {fmt_money(opening_need)}"
                    f"{' with the taker fee' if fees is not None else ''}; "
                    f"the balance{left} is {fmt_money(available)}: short by "
                    f"{fmt_money(opening_need - available)}",
                    code="INSUFFICIENT_BALANCE",
                    hint="lower --count or the price, or fund the account",
                )
            need = opening_need
        reads.spent += need

    def _fees(self, market: Market) -> FeeModel | None:
        """The market's own fees, or None for fees the model cannot price (the exchange's to
        hold the order to)."""
        try:
            return load_fee_models(self._context.client, [market])[market.ticker]
        except FeeModelError:
            return None

    def _balance(self) -> Decimal:
        """The balance of the subaccount an order placed now goes to (the client's, else the
        API key's, else 0's), as the exchange reports it."""
        return self._own().portfolio.get_balance().balance

    def _view(self, ticker: str, reads: MarketReads) -> PositionView:
        """`ticker`'s view (`account_views`), read once for the orders `reads` prepares."""
        from kalshi_cli.vocabulary.decisions import PositionView

        def read() -> PositionView:
            return self.account_views(ticker).get(ticker) or PositionView(ticker)

        return reads.get("view", ticker, read)

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
    ) -> Decimal:
        """The rules of `risk.limit_rules` an order meets as the loop's do: size, cost (contracts
        that close the other side not counted) and the position in its market with `growth` (else
        `count`) more resting on `book_side`, beside the orders `reads` prepared before it, over
        the exchange's view (`account_views`), and the event's worst case (`amending`: the order
        amended and what of it rests after; a `reduce_only` order, an exit, is never held to it).
        The first denial is refused, naming the key to raise; returns the worst case after, toward
        either side."""
        from kalshi_cli.risk.engine import limit_rules
        from kalshi_cli.risk.rules import Code, RiskContext
        from kalshi_cli.risk.state import TradingState
        from kalshi_cli.vocabulary.decisions import Intent, PositionView

        reads = reads or MarketReads()
        base = self._view(ticker, reads)
        view = reads.added.get(ticker, base)
        action = Action.BUY if book_side is BookSide.BID else Action.SELL
        grown = count if growth is None else growth
        event = None
        if self.limits.max_event_loss is not None:
            views = reads.get("views", "", self.account_views)
            event = self.event_terms(ticker, reads).book(
                lambda t: reads.added.get(t) or views.get(t) or PositionView(t)
            )
        context = RiskContext(self._context.now(), TradingState.ACTIVE, view, event=event)
        for rule in limit_rules(self.limits):
            held = rule.code is Code.POSITION_LIMIT
            if rule.code not in _BY_MARKET or (held and grown <= 0):
                continue
            n = grown if held else count
            gone: tuple[str, ...] = ()
            if amending is not None and rule.code is Code.EVENT_LOSS:
                # the amended order counts once: what rests of it at its new terms, in its place
                gone, n = (amending[0],), amending[1]
            verdict = rule.check(
                Intent(
                    ticker,
                    Side.YES,
                    action,
                    yes_price,
                    n,
                    yes_price,
                    "",
                    reduce_only=reduce_only,
                    # `check_terms` let a reduce-only order through as IOC alone
                    time_in_force=TimeInForce.IOC if reduce_only else TimeInForce.GTC,
                    replaces=gone,
                ),
                context,
            )
            if verdict.allowed:
                continue
            text, hint = verdict.detail, f"{rule.about.hint}, or raise {rule.about.keys}"
            if held:
                if ticker in reads.added:
                    text = text.replace(f"{ticker}: ", f"{ticker}: with the rows before it, ", 1)
                unknown = _unknown(base, book_side)
                if unknown:
                    text += f" ({fmt_count(unknown)} of them in orders of unknown outcome)"
                    hint += "; `kalshi reconcile` settles the orders of unknown outcome"
            raise ValidationError(text, code=str(rule.code), hint=hint)
        if grown > 0:
            view = view.after(Intent(ticker, Side.YES, action, yes_price, grown, yes_price, ""))
        reads.added[ticker] = view
        return max(view.worst_case(BookSide.BID), view.worst_case(BookSide.ASK), ZERO)


# the limit rules an order placed outside a loop is held to here, those that read its market
# alone (docs/risk.md); the assistant's own checks count the whole account's exposure and budget
_BY_MARKET = ("MAX_ORDER_SIZE", "MAX_ORDER_COST", "POSITION_LIMIT", "EVENT_LOSS")


def _views(held: _Holdings) -> dict[str, PositionView]:
    """Each market's view of what the exchange holds (`PreTradeChecks.account_views`)."""
    from kalshi_cli.vocabulary.decisions import PositionView, RestingOrder
    from kalshi_cli.vocabulary.units import from_book

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
    views: dict[str, PositionView] = {}
    for market in costs.keys() | resting.keys():
        position, cost = costs.get(market, (ZERO, ZERO))
        views[market] = PositionView(
            market,
            position=position,
            avg_entry_price=cost / abs(position) if position else ZERO,
            entry_cost=cost,
            resting=tuple(resting.get(market, ())),
        )
    return views


def _unknown(view: PositionView, book_side: BookSide) -> Decimal:
    """The contracts on `book_side` of the orders of unknown outcome `view` counts resting
    (`account_views` lists them without an order id)."""
    return sum(
        (o.remaining for o in view.resting if not o.order_id and o.book_side is book_side), ZERO
    )


def committed_price(book_side: BookSide, yes_price: Decimal) -> Decimal:
    """What one contract of an order can cost: the price of the side it adds. A bid buys YES
    at the YES price; an ask sells YES, which (unless YES is held) opens NO at 1 - price, so
    `sell yes @ 0.05` can commit 0.95 a contract, not 0.05."""
    return yes_price if book_side is BookSide.BID else ONE - yes_price


def most_cost(count: Decimal, price: Decimal, fees: FeeModel) -> Decimal:
    """The most `count` contracts at `price` (the price of the side they add,
    `committed_price`) could cost: their price and the taker fee on every one at the market's
    fees (`FeeModel.most_fee`: its series' multiplier, an event's override). A fill that takes
    liquidity pays it, an IOC's or FOK's and a crossing GTC's alike; one that rests pays the
    maker's, never more."""
    return count * price + fees.most_fee(count, price)

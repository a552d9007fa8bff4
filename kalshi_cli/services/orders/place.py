"""Placing, changing and reconciling orders: never twice, never lost. Every path that writes an
order (place, amend, decrease, cancel, a batch) goes through the same steps on the same
`OrderService`: validate locally, record the intent in the state file with the trading state
checked in the same transaction, send once, record the answer; an answer lost leaves the order
`unknown`, looked up by its `client_order_id` and never sent again. Keeping them in one module
lets that rule be checked in one read; `reconcile()` runs the steps of `services.reconcile`. See
docs/orders.md "Never twice, never lost".
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

import msgspec

from kalshi_cli.services.fees import FeeMarketReads, load_fee_models
from kalshi_cli.services.loop_strategies import strategy_names, strategy_rows, strategy_text
from kalshi_cli.services.reconcile import (
    AMEND_READ,
    DEFAULT_READ_LAG_S,
    FillReads,
    OrderReads,
    ReconcileClient,
    ReconcileReport,
    amend_settled_by,
    apply_order,
    listed_subaccounts,
    reconcile,
    sync_account_fills,
)
from kalshi_cli.store.records import CANCELED, EXECUTED, PENDING, RESTING, UNKNOWN
from kalshi_cli.vocabulary.decode import Range, decode_config
from kalshi_cli.vocabulary.errors import (
    AmendOutcomeUnknown,
    ApiError,
    BadRequestError,
    KalshiError,
    NotFoundError,
    OrderOutcomeUnknown,
    TradingHaltedError,
    TransportError,
    ValidationError,
)
from kalshi_cli.vocabulary.models import (
    ONE,
    ZERO,
    Action,
    BookSide,
    FeeModel,
    FeeModelError,
    Market,
    Order,
    Side,
    TimeInForce,
    fmt_count,
    fmt_dollars,
    to_book,
)
from kalshi_cli.vocabulary.order_terms import (
    OrderRequest,
    check_count,
    check_market_count,
    check_price,
    check_terms,
)
from kalshi_cli.vocabulary.units import fmt_exact_dollars, fmt_money

if TYPE_CHECKING:
    from collections.abc import Callable

    from kalshi_cli.client.requests import (
        AmendResult,
        CancelResult,
        CreateOrder,
        CreateOrderResult,
        DecreaseResult,
    )
    from kalshi_cli.config import Located
    from kalshi_cli.store import HeartbeatRecord, IntentRecord, Store, TradingStateRecord
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.decisions import PositionView
    from kalshi_cli.vocabulary.models import Balance, Position

_T = TypeVar("_T")

# Trading states in which new exposure may not be added. REDUCING still allows reduce-only.
BLOCKING_STATES = ("HALTED", "SAFE_MODE")


class MarketRead(FeeMarketReads, Protocol):
    """The market reads the order service makes (a client's `markets`): the market, and for a
    buy that takes, its event and series (their fees)."""

    def get_market(self, ticker: str) -> Market: ...


class OrderPortfolio(FillReads, Protocol):
    """The portfolio reads the order service makes beside reconciliation's."""

    def get_balance(self) -> Balance: ...

    def get_positions(self, *, ticker: str | None = ...) -> list[Position]: ...


class OrderCalls(OrderReads, Protocol):
    """The order calls the order service makes beside reconciliation's reads."""

    def create_order(self, request: CreateOrder) -> CreateOrderResult: ...

    def find_order_by_client_id(self, client_order_id: str, ticker: str) -> Order | None: ...

    def cancel_order(
        self, order_id: str, *, ticker: str | None = ..., subaccount: int | None = ...
    ) -> CancelResult: ...

    def amend_order(
        self,
        order_id: str,
        *,
        ticker: str,
        book_side: BookSide,
        price: Decimal,
        count: Decimal,
        updated_client_order_id: str | None = ...,
        expiration_time: int | None = ...,
        subaccount: int | None = ...,
    ) -> AmendResult: ...

    def decrease_order(
        self,
        order_id: str,
        *,
        reduce_by: Decimal | None = ...,
        reduce_to: Decimal | None = ...,
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


class OrderLimits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Local limits checked before any order is sent (the config's `limits:`); None means no
    limit. Decoded by `vocabulary.decode`, which refuses an unknown key, a value that is not a
    finite number, and one that is not positive, at its file and line."""

    max_position_per_market: Annotated[Decimal, Range(gt=0)] | None = None
    max_order_cost: Annotated[Decimal, Range(gt=0)] | None = None


LIMIT_KEYS = tuple(OrderLimits.__struct_fields__)


def load_limits(config_path: Path) -> OrderLimits:
    """The `limits:` section of the config file (values as written, never through a float):

        limits:
          max_position_per_market: 100   # contracts, position plus resting orders, per side
          max_order_cost: 50             # dollars: count x the price of the side added

    A missing file or section, or a null value, means no limit. The file is read strictly
    (`config.read_sections`): a section that is not a mapping, a key set twice, an unknown key,
    and a value that is not a positive finite number are refused with the file and line.
    """
    from kalshi_cli.config import read_sections

    return limits_from(read_sections(config_path))


def limits_from(document: Located) -> OrderLimits:
    """`OrderLimits` from a strictly read config document (see `load_limits`)."""
    from kalshi_cli.config import section

    return decode_config(OrderLimits, section(document, "limits"), where="limits", what="limit")


@dataclass(frozen=True)
class Exposure:
    """Worst-case contracts held per side if every resting order of a market filled."""

    position: Decimal
    resting_bids: Decimal
    resting_asks: Decimal
    # of the resting contracts, those of orders of unknown outcome (counted: they may land)
    unknown: Decimal = ZERO

    def worst_case(self, extra_bid: Decimal = ZERO, extra_ask: Decimal = ZERO) -> Decimal:
        yes = self.position + self.resting_bids + extra_bid
        no = -self.position + self.resting_asks + extra_ask
        return max(yes, no, ZERO)


@dataclass(frozen=True)
class _Holdings:
    """What the exchange holds for the account (`OrderService._holdings`)."""

    positions: list[Position]
    resting: list[Order]
    unknown: list[IntentRecord]  # this state file's orders of unknown outcome not listed


@dataclass(frozen=True)
class PreparedOrder:
    request: OrderRequest
    create: CreateOrder
    cost: Decimal
    exposure_after: Decimal | None

    def describe(self) -> dict[str, Any]:
        return {
            "ticker": self.request.ticker,
            "side": self.request.side.value,
            "action": self.request.action.value,
            "price": fmt_dollars(self.request.price),
            "count": fmt_count(self.request.count),
            "book_side": self.create.book_side.value,
            "yes_price": fmt_dollars(self.create.price),
            "max_cost": fmt_exact_dollars(self.cost),
            "client_order_id": self.create.client_order_id,
        }


@dataclass
class PlaceOutcome:
    client_order_id: str
    status: str  # resting | executed | canceled | unknown
    order_id: str | None
    fill_count: Decimal
    remaining_count: Decimal
    average_fill_price: Decimal | None = None
    note: str | None = None


@dataclass(frozen=True)
class SentOrder:
    """What one order's request came back with (`OrderService.send`): the exchange's answer
    (`result`), its refusal or a failure before anything left (`refused`), or an answer lost
    (`lost`)."""

    result: CreateOrderResult | None = None
    refused: ApiError | TransportError | None = None
    lost: OrderOutcomeUnknown | None = None


@dataclass(frozen=True)
class Amend:
    """An amend of one resting order, as the trade loop sends it: the order, its market and
    book side, the new YES price and the new total (filled so far plus what is to rest, the
    exchange's `count`), and the id of its record in flight in the state file, which what
    settles the amend clears (`OrderRepository.settle_amend`)."""

    order_id: str
    ticker: str
    book_side: BookSide
    yes_price: Decimal
    total: Decimal
    record: int


@dataclass(frozen=True)
class PreparedAmend:
    """An amend of one resting order with every local check passed (`OrderService.
    prepare_amend`): the order as the exchange showed it, the side it trades (the state file's;
    YES for an order it does not hold), and the YES price, total and expiry it would be sent
    with. What a preview shows is what is sent: both read it from here."""

    order: Order
    side: Side
    yes_price: Decimal
    total: Decimal
    expiration_time: int | None
    local: IntentRecord | None
    # the order's subaccount, where the amend goes (`OrderService._subaccount_of`)
    subaccount: int | None = None

    @property
    def price(self) -> Decimal:
        """The new price of the side the order trades, as the trader gave it."""
        return self.yes_price if self.side is Side.YES else ONE - self.yes_price


@dataclass(frozen=True)
class SentAmend:
    """What an amend's request came back with (`OrderService.send_amend`): the exchange's
    answer, its refusal or a failure before anything left, or an answer lost."""

    result: AmendResult | None = None
    refused: ApiError | TransportError | ValidationError | None = None
    lost: AmendOutcomeUnknown | None = None


@dataclass(frozen=True)
class ChangeMade:
    """An amend or a decrease the exchange answered (`OrderService.submit_amend`, `decrease`):
    the order read back after it, or, when that read failed, the order as the change's own
    answer tells it, with `note` saying so. The change is made either way: a failed read after
    it must not read as a failed change, which a trader or the assistant would take to mean
    the old terms still stand (and might send it again)."""

    order: Order
    note: str | None = None


# what a change of an order is called, and what it is once made
_MADE = {"amend": "amended", "decrease": "decreased"}


def _as_answered(prepared: PreparedAmend, result: AmendResult) -> Order:
    """The order as an amend's answer tells it, when it cannot be read back after: the order
    as read before the amend, under the ids the answer names, at the amend's price, total and
    expiry. What rests is the answer's when it says (it says when the amend filled or changed
    what rests), else the new total less what had filled before."""
    from kalshi_cli.vocabulary.clock import iso_utc

    order, sent = prepared.order, prepared.expiration_time
    # as the amend was sent: None keeps the expiry, 0 removes it
    expiry = order.expiration_time if sent is None else iso_utc(sent) if sent else None
    remaining = result.remaining_count
    if remaining is None:
        remaining = prepared.total - order.fill_count
    remaining = max(remaining, ZERO)
    # each written as the exchange writes it (0.2200, 5.00), as a read would show it
    return msgspec.structs.replace(
        order,
        order_id=result.order_id or order.order_id,
        client_order_id=result.client_order_id or order.client_order_id,
        status=RESTING if remaining > 0 else EXECUTED,
        yes_price=Decimal(fmt_dollars(prepared.yes_price)),
        fill_count=Decimal(fmt_count(prepared.total - remaining)),
        remaining_count=Decimal(fmt_count(remaining)),
        expiration_time=expiry,
    )


def _as_decreased(order: Order, result: DecreaseResult) -> Order:
    """The order as a decrease's answer tells it, when it cannot be read back after: the order
    as read before the decrease, with what rests now; none left, cancelled (a decrease to none
    cancels the order)."""
    remaining = max(result.remaining_count, ZERO)
    return msgspec.structs.replace(
        order,
        status=RESTING if remaining > 0 else CANCELED,
        remaining_count=Decimal(fmt_count(remaining)),
    )


def _terms(order: Order) -> str:
    """An order's state after a change, for a person: what rests and at what YES price."""
    if order.status != RESTING:
        return order.status
    return f"{RESTING}, {fmt_count(order.remaining_count)} at YES {fmt_dollars(order.yes_price)}"


@dataclass(frozen=True)
class AmendOutcome:
    """An amend the exchange applied, as booked: the order's status after it, what rests
    (None: the answer left it as it was), what the amend itself filled, and whether the order
    rests again after fills booked meanwhile had ended it against its old total (`reopened`:
    the loop's view, which dropped it then, takes it back)."""

    status: str
    remaining: Decimal | None
    filled: Decimal
    reopened: bool = False


class MarketReads:
    """The exchange's answers about markets (the market, a position, the exposure), read once
    for many orders prepared together: a batch file of 100,000 rows naming two markets reads
    two markets, not 100,000. A refusal is kept as well, so every row naming an unknown
    ticker is refused without asking again."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str], Any] = {}
        # what the buys prepared so far may cost at most, spent from the one balance read
        self.spent = ZERO

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


class OrderService:
    """Validated, recorded, never-twice order operations over one client and one state file."""

    def __init__(
        self,
        client: OrderClient,
        store: Store,
        *,
        limits: OrderLimits | None = None,
        clock: Clock | None = None,
        read_lag_s: float = DEFAULT_READ_LAG_S,
    ) -> None:
        """`read_lag_s`: how long a read of orders may lag a write (`read_lag`,
        kalshi_cli/services/reconcile.py)."""
        self.client = client
        self.store = store
        self.limits = limits or OrderLimits()
        self._clock = clock
        self.read_lag_s = read_lag_s

    # ---------------------------------------------------------------------------- placing

    def exposure(self, ticker: str) -> Exposure:
        """The exchange's position plus its resting orders for one market, both of the
        subaccount an order placed now goes to (the client's, else 0)."""
        held = self._holdings(ticker)
        position = ZERO
        for pos in held.positions:
            position = pos.position
        bids = asks = unknown = ZERO
        for order in held.resting:
            if order.book_side is BookSide.BID:
                bids += order.remaining_count
            else:
                asks += order.remaining_count
        for intent in held.unknown:
            unknown += intent.count
            if intent.book_side is BookSide.BID:
                bids += intent.count
            else:
                asks += intent.count
        return Exposure(position, bids, asks, unknown)

    def account_views(self) -> dict[str, PositionView]:
        """Every market's view as the risk engine's rules count it (risk/rules.py), read from
        the exchange as `exposure` reads one market: the position and what it cost
        (`market_exposure_dollars`), every resting order, and the orders of unknown outcome as
        resting. What an order placed outside a loop (the assistant's) is held to the account's
        `risk:` limits with, as the loop's are with its own view."""
        from kalshi_cli.vocabulary.decisions import PositionView, RestingOrder
        from kalshi_cli.vocabulary.units import from_book

        held = self._holdings(None)
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
        for ticker in costs.keys() | resting.keys():
            position, cost = costs.get(ticker, (ZERO, ZERO))
            views[ticker] = PositionView(
                ticker,
                position=position,
                avg_entry_price=cost / abs(position) if position else ZERO,
                entry_cost=cost,
                resting=tuple(resting.get(ticker, ())),
            )
        return views

    def _holdings(self, ticker: str | None) -> _Holdings:
        """The exchange's positions and resting orders (of one market, or of every one) of the
        subaccount an order placed now goes to (the client's, else 0), and this state file's
        orders there of unknown outcome that the exchange does not list."""
        # read through a handle naming that subaccount: an order listing that names none covers
        # every subaccount's (openapi.yaml 3.31.0), and an order names its subaccount to direct
        # members only (REFERENCE.md), so another's bids could neither be left out nor told
        # apart; named, the exchange lists this subaccount's alone
        number = order_subaccount(self.client)
        # not known: read unnamed, which counts every subaccount's orders (never fewer)
        own = self.client if number is None else self.client.on_subaccount(number)
        # read in the direction contracts move: an order of unknown outcome lands and is booked
        # resting, a resting order fills into the position. Each read comes before the one its
        # contracts move into, so a move between two reads counts in both, never in neither
        awaiting = [
            intent
            for intent in self.store.orders.intents(status=[PENDING, UNKNOWN], ticker=ticker)
            if number is None or intent.subaccount == number
        ]
        resting = list(own.orders.iter_orders(ticker=ticker, status="resting"))
        positions = [
            p
            for p in own.portfolio.get_positions(ticker=ticker)
            if ticker is None or p.ticker == ticker
        ]
        listed = {order.client_order_id for order in resting}
        # an order of this state file whose answer was lost (or whose run was killed mid-request)
        # may still land: it counts as resting until the exchange lists it resting or `kalshi
        # reconcile` settles it, or an order placed beside it meanwhile could pass the limit.
        # One the exchange has ended counts on at its whole count: only resting orders are
        # listed (not the account's every order of every day), and a read of the positions may
        # lag the order's end (reads lag writes). Too much is counted until a reconcile, never
        # too little.
        unknown = [intent for intent in awaiting if intent.client_order_id not in listed]
        return _Holdings(positions, resting, unknown)

    def prepare(self, request: OrderRequest, *, reads: MarketReads | None = None) -> PreparedOrder:
        """Every local check; raises ValidationError / TradingHaltedError, sends nothing.
        `reads`: the market reads of orders prepared before this one (a batch's rows), asked
        again of the exchange only for a market none of them named."""
        from kalshi_cli.client.requests import CreateOrder

        reads = reads or MarketReads()

        check_terms(request, now=self._now())
        if request.client_order_id and self.store.orders.get_intent(request.client_order_id):
            raise ValidationError(
                f"client order id {request.client_order_id} is already in the state file",
                code="DUPLICATE_CLIENT_ORDER_ID",
                hint="every order needs a fresh one; leave --client-order-id out for a UUID",
            )
        self._check_trading(reduce_only=request.reduce_only, what="no new orders")
        self._check_subaccount(reads)
        market = reads.get(
            "market", request.ticker, lambda: open_market(self.client, request.ticker)
        )
        check_price(market, request.price)
        check_market_count(market, request.count)
        book = to_book(request.side, request.action, request.price)
        price = committed_price(book.book_side, book.yes_price)
        cost = request.count * price
        self._check_order_cost(request.ticker, book.book_side, request.count, price, reads)
        exposure_after = self._check_position(request.ticker, book.book_side, request.count, reads)
        # last: it spends the balance
        self._check_balance(request, market, book.book_side, price, reads)
        create_kwargs: dict[str, Any] = {
            "ticker": market.ticker,
            "book_side": book.book_side,
            "price": book.yes_price,
            "count": request.count,
            "time_in_force": request.time_in_force,
            "post_only": request.post_only,
            "reduce_only": request.reduce_only,
            "expiration_time": request.expiration_time,
        }
        if request.client_order_id:
            create_kwargs["client_order_id"] = request.client_order_id
        create = CreateOrder(**create_kwargs)
        return PreparedOrder(request, create, cost, exposure_after)

    def place(
        self, prepared: PreparedOrder, *, check: Callable[[], None] | None = None
    ) -> PlaceOutcome:
        """Record, send once, record the answer. See the module docstring. `check`: as
        `record_intent` takes it."""
        req = prepared.request
        return self.submit(
            prepared.create,
            side=req.side,
            action=req.action,
            strategy=req.strategy,
            model_fair=req.model_fair,
            reason=req.reason,
            check=check,
        )

    def submit(
        self,
        create: CreateOrder,
        *,
        side: Side,
        action: Action,
        strategy: str | None = None,
        model_fair: Decimal | None = None,
        reason: str | None = None,
        check: Callable[[], None] | None = None,
    ) -> PlaceOutcome:
        """The one path by which an order reaches the exchange (the CLI after `prepare`, the
        trade loop after its risk engine): intent written first, sent once, answer recorded.
        A batch (`kalshi order batch`, the trade loop's) takes the same steps through
        `record_intent`, `record_answer` and `record_unknown`. `check`: as `record_intent`
        takes it."""
        self.record_intent(
            create,
            side=side,
            action=action,
            strategy=strategy,
            model_fair=model_fair,
            reason=reason,
            check=check,
        )
        sent = self.send(create)
        if sent.lost is None:
            return self.book_sent(create, sent)
        self._record_unknown(create, sent.lost)
        return self._resolve_after_unknown(create.client_order_id, create.ticker, sent.lost)

    def send(self, create: CreateOrder) -> SentOrder:
        """Step 3 of `submit`, the exchange's part alone (no state file): the request sent
        once. The trade loop makes this call off its deciding path (runner/execution/dispatch.py)
        and books it with `book_sent`."""
        try:
            return SentOrder(result=self.client.orders.create_order(create))
        except OrderOutcomeUnknown as exc:
            return SentOrder(lost=exc)
        except (ApiError, TransportError) as exc:
            return SentOrder(refused=exc)

    def book_sent(self, create: CreateOrder, sent: SentOrder) -> PlaceOutcome:
        """Step 4 of `submit`: what `send` came back with, in the state file. A refusal marks
        the intent rejected and is raised again (ApiError, TransportError: nothing reached the
        exchange, or it said no); an answer lost marks it unknown and is raised again
        (OrderOutcomeUnknown: `submit` then looks the order up once; the trade loop looks it up
        with its other orders of unknown outcome, runner/execution/unknown_orders.py)."""
        if sent.refused is not None:
            self.store.orders.mark_rejected(create.client_order_id, reason=sent.refused.message)
            raise sent.refused
        if sent.lost is not None:
            self._record_unknown(create, sent.lost)
            raise sent.lost
        result = sent.result
        assert result is not None  # one of the three is set (SentOrder)
        status = _status_after_create(result.fill_count, result.remaining_count, create)
        self._record_accepted(create.client_order_id, result.order_id, status, result)
        return PlaceOutcome(
            create.client_order_id,
            status,
            result.order_id,
            result.fill_count,
            result.remaining_count,
            result.average_fill_price,
        )

    def record_amend(
        self,
        order_id: str,
        *,
        ticker: str,
        book_side: BookSide,
        yes_price: Decimal,
        rest: Decimal,
        post_only: bool | None,
        check: Callable[[], None] | None = None,
    ) -> Amend | None:
        """An amend's first step: recorded in flight (and in the order's history) before it
        is sent, the trading state read in the same transaction (TradingHaltedError, and
        nothing written, unless it allows adding exposure: a new price or size may add some),
        and then `check`, as `record_intent` takes it.
        The amend names the new total, what the state file says filled plus `rest`; None when
        the state file has no resting order by that id, or (`post_only` given: a requote,
        which must keep the order's terms) none on the terms an amend keeps (good till
        cancelled, not reduce only, `post_only` as the new quote wants): nothing may be sent
        then. From here the amend is in doubt until one of the `book_amend*` calls (or a read,
        `settle_amends`) settles it."""
        recorded = self.store.record_amend_if_allowed(
            order_id,
            price=yes_price,
            rest=rest,
            post_only=post_only,
            allowed=partial(_allowed, reduce_only=False, check=check),
        )
        if recorded is None:
            return None
        return Amend(order_id, ticker, book_side, yes_price, recorded.total, recorded.id)

    def send_amend(self, amend: Amend) -> SentAmend:
        """An amend's exchange part alone (no state file): the request sent once (the client
        resends it only when it certainly did not leave). The trade loop makes this call off
        its deciding path and books it with `book_amend`."""
        try:
            result = self.client.orders.amend_order(
                amend.order_id,
                ticker=amend.ticker,
                book_side=amend.book_side,
                price=amend.yes_price,
                count=amend.total,
            )
        except AmendOutcomeUnknown as exc:
            return SentAmend(lost=exc)
        # a ValidationError is the client's refusal before anything left: a refusal too
        except (ApiError, TransportError, ValidationError) as exc:
            return SentAmend(refused=exc)
        return SentAmend(result=result)

    def book_amend_refused(self, amend: Amend, exc: KalshiError) -> None:
        """An amend refused (by the exchange, or by the client before anything left): settled,
        the order as it was, and its history says so after the row `record_amend` wrote before
        it was to leave."""
        what = "refused" if isinstance(exc, ApiError) else "not sent"
        self.store.orders.settle_amend(amend.record, f"amend {what}: {exc.message}")

    def book_amend_unsent(self, amend: Amend, why: str) -> None:
        """An amend dropped before it was sent (the loop stopping): settled as
        `book_amend_refused` settles a refusal."""
        self.store.orders.settle_amend(amend.record, f"amend not sent: {why}")

    def book_amend_read(self, amend: Amend, note: str) -> None:
        """An amend whose answer was lost, settled by a read of its order (the trade loop's
        lookups, runner/execution/amends.py; `amend`'s read after a lost answer): the read is
        booked already; `note` says in the order's history what it showed."""
        self.store.orders.settle_amend(amend.record, note)

    def book_amend(self, amend: Amend, result: AmendResult) -> AmendOutcome:
        """An amend the exchange applied, in the state file: settled, and the order keeps its
        row (its client order id, order id and strategy) and takes the new price and total,
        and what rests when the answer says (it says only when the amend filled or changed
        what rests). What the amend filled comes in with the fills read next.

        The answer may be booked after other answers about the order that the exchange gave
        after the amend landed. A row cancelled meanwhile, or executed for the whole new
        total, stays ended (only its price and total follow). Fills booked meanwhile were
        counted against the old total: what rests is at most the new total less what the row
        counts filled, and a row they ended short of the new total rests again."""
        remaining = result.remaining_count
        filled = result.fill_count or ZERO
        orders = self.store.orders
        # one transaction, its writes plain statements of it (no savepoint each): nothing here
        # catches an error, so any one undoes the whole booking, the record's settling with it
        with self.store.transaction():
            # whatever the answer changes of the row (perhaps nothing it did not show already)
            orders.settle_amend(amend.record, savepoint=False)
            row = orders.status_and_filled(amend.order_id)
            was, known_filled = row if row is not None else (None, ZERO)
            if was == CANCELED or (was == EXECUTED and known_filled >= amend.total):
                orders.update_order(
                    order_id=amend.order_id,
                    price=amend.yes_price,
                    count=amend.total,
                    savepoint=False,
                )
                return AmendOutcome(was, ZERO, filled)
            reopened = was == EXECUTED
            if row is not None and (remaining is not None or reopened):
                left = amend.total - known_filled
                remaining = left if remaining is None else min(remaining, left)
            # what rests, when known: none left is executed; else the status is what the row
            # says (a fill read booked meanwhile may have moved it on)
            status = None if remaining is None else EXECUTED if remaining <= 0 else RESTING
            orders.update_order(
                order_id=amend.order_id,
                price=amend.yes_price,
                count=amend.total,
                remaining_count=remaining,
                status=status,
                savepoint=False,
            )
        return AmendOutcome(status or RESTING, remaining, filled, reopened and status == RESTING)

    def record_intent(
        self,
        create: CreateOrder,
        *,
        side: Side,
        action: Action,
        strategy: str | None = None,
        model_fair: Decimal | None = None,
        reason: str | None = None,
        subaccount: int | None = None,
        check: Callable[[], None] | None = None,
    ) -> None:
        """Step 2 of `submit`: the intent written as pending, the trading state read in the
        same transaction (TradingHaltedError, and nothing written, unless it allows the order).
        The one path by which a new order enters the state file: `order place`, `order batch`
        and the trade loop's batches all record theirs here. `subaccount`: the one the request
        names; None is the one the client's orders go to (`order_subaccount`), decided here.

        `check`: a rule of the caller's over the state file, asked after the trading state in
        the same transaction, which holds the file's write lock: it reads `self.store` and
        raises to refuse (nothing written). What it reads cannot change before the intent is
        written, so a limit counted from the state file (the assistant's day budget,
        agent/tools.py) holds against another process placing at the same moment."""
        from kalshi_cli.store import IntentRecord

        if subaccount is None:
            subaccount = order_subaccount(self.client) or 0
        # the trading state is read in the transaction that records the intent: an order
        # prepared just before HALTED is refused here, never sent after the kill switch's proof
        self.store.record_intent_if_allowed(
            IntentRecord.pending(
                create,
                side=side,
                action=action,
                subaccount=subaccount,
                now=self._now(),
                strategy=strategy,
                model_fair=model_fair,
                reason=reason,
            ),
            partial(_allowed, reduce_only=create.reduce_only, check=check),
        )

    def _record_accepted(
        self, client_order_id: str, order_id: str, status: str, result: CreateOrderResult
    ) -> None:
        """Record the exchange's acceptance. The order exists now, whatever the state file
        says, so a failure here must never read as "not placed" (a person would place it
        again)."""
        from kalshi_cli.store import InvalidTransition, OrderNotRecorded, StoreError

        try:
            try:
                self.store.orders.mark_sent(
                    client_order_id,
                    order_id=order_id,
                    status=status,
                    fill_count=result.fill_count,
                    remaining_count=result.remaining_count,
                )
            except InvalidTransition:
                # another process (a reconcile) answered the intent while the request was in
                # flight, perhaps "never placed" because the exchange did not have it yet
                self.store.orders.update_order(
                    client_order_id=client_order_id,
                    order_id=order_id,
                    status=status,
                    fill_count=result.fill_count,
                    remaining_count=result.remaining_count,
                )
        except StoreError as exc:  # the correction's write failing too
            raise OrderNotRecorded(
                f"order {client_order_id} WAS PLACED (order id {order_id}, {status}), but the "
                f"state file could not record it: {exc.message}",
                hint="do not place it again; `kalshi reconcile` records it once the state "
                "file can be written",
                client_order_id=client_order_id,
                order_id=order_id,
                remaining=result.remaining_count,
            ) from exc

    def _record_unknown(self, create: CreateOrder, exc: OrderOutcomeUnknown) -> None:
        self.record_unknown(create, exc.message)

    def record_unknown(self, create: CreateOrder, reason: str) -> None:
        """Mark the intent unknown. The request was sent, so a state file that cannot take
        the mark must not read as "not placed" either: the order may be on the exchange."""
        from kalshi_cli.store import OrderNotRecorded, StoreError

        try:
            self.store.orders.mark_unknown(create.client_order_id, reason=reason)
        except StoreError as store_exc:
            raise OrderNotRecorded(
                f"order {create.client_order_id} MAY HAVE BEEN PLACED ({reason}), and the "
                f"state file could not record it: {store_exc.message}",
                hint="do not place it again; `kalshi reconcile` finds it once the state file "
                "can be written",
                client_order_id=create.client_order_id,
                order_id=None,
                remaining=create.count,
            ) from store_exc

    def _record_found(self, client_order_id: str, order: Order) -> None:
        """Record an order found on the exchange after its answer was lost. It exists, so a
        state file that cannot take it must not leave it unknown to the caller either: the
        trade loop withdraws what an `OrderNotRecorded` names."""
        from kalshi_cli.store import OrderNotRecorded, StoreError

        try:
            self._apply_order(order)
        except StoreError as store_exc:
            raise OrderNotRecorded(
                f"order {client_order_id} WAS PLACED (order id {order.order_id}, {order.status}, "
                f"found after its answer was lost), but the state file could not record it: "
                f"{store_exc.message}",
                hint="do not place it again; `kalshi reconcile` records it once the state "
                "file can be written",
                client_order_id=client_order_id,
                order_id=order.order_id,
                remaining=order.remaining_count if order.status == "resting" else ZERO,
            ) from store_exc

    def _resolve_after_unknown(
        self, client_order_id: str, ticker: str, exc: OrderOutcomeUnknown
    ) -> PlaceOutcome:
        """One lookup by client_order_id; if that fails too, the intent stays unknown."""
        try:
            order = self.client.orders.find_order_by_client_id(client_order_id, ticker)
        except (ApiError, TransportError):
            order = None
            found_out = False
        else:
            found_out = True
        if order is not None:
            self._record_found(client_order_id, order)
            return PlaceOutcome(
                client_order_id,
                order.status,
                order.order_id,
                order.fill_count,
                order.remaining_count,
                note="the answer was lost; the order was found on the exchange",
            )
        note = (
            "the answer was lost and the order is not on the exchange yet; "
            "`kalshi reconcile` will settle it"
            if found_out
            else "the answer was lost and the exchange could not be asked; run `kalshi reconcile`"
        )
        raise OrderOutcomeUnknown(f"{exc.message}; {note}", client_order_id=client_order_id)

    # ---------------------------------------------------------------------------- changing

    def cancel_market(self, ticker: str) -> dict[str, Decimal]:
        """Cancel each resting order of one market (of the subaccount orders go to) through
        `cancel`: order id -> contracts taken off the book. Nothing is halted."""
        number = order_subaccount(self.client)
        own = self.client if number is None else self.client.on_subaccount(number)
        resting = own.orders.iter_orders(ticker=ticker, status="resting")
        return {order.order_id: self.cancel(order.order_id) for order in list(resting)}

    def cancel(self, order_id: str) -> Decimal:
        """Cancel one order; returns the contracts taken off the book.

        A refusal (404, or 400 not resting) says only that the order no longer rests: Kalshi
        answers it alike for an order cancelled (a retried cancel whose first attempt worked),
        filled first, or unknown. The order itself says which, but a read can lag the write that
        ended it: a read still showing it resting is taken again once the read lag has passed
        since the refusal. Cancelled: done (nothing more taken off the book). Executed: it is
        not reported as cancelled."""
        local = self._local_by_order_id(order_id)
        ticker = local.ticker if local else None
        where = self._subaccount_of(order_id, local)
        try:
            try:
                result = self.client.orders.cancel_order(order_id, ticker=ticker, subaccount=where)
            except NotFoundError:
                # not on the subaccount tried: an order the state file does not hold, or
                # holds on another subaccount than the exchange names, is cancelled where the
                # exchange names (cancelling twice is harmless)
                elsewhere = self._other_subaccount(order_id, local, tried=where)
                if elsewhere is None:
                    raise
                result = self.client.orders.cancel_order(
                    order_id, ticker=ticker, subaccount=elsewhere
                )
        except (BadRequestError, NotFoundError) as exc:
            order = self._read_after_refusal(order_id, refused_at=self._now())
            if order.status == "resting":
                raise type(exc)(
                    f"{exc.message}; the exchange still shows order {order_id} resting "
                    f"{self.read_lag_s:g}s after refusing to cancel it",
                    status=exc.status,
                    code=exc.code,
                    hint="look again with `kalshi order show`; `kalshi reconcile` settles it",
                ) from exc
            self._apply_order(order)
            if order.status == EXECUTED:
                filled = fmt_count(order.fill_count)
                raise type(exc)(
                    f"order {order_id} was not cancelled: it executed ({filled} filled) before "
                    "the cancel reached it",
                    status=exc.status,
                    code=exc.code,
                ) from exc
            return ZERO
        self.store.orders.mark_cancelled(order_id)
        return result.reduced_by

    def _subaccount_of(
        self, order_id: str, local: IntentRecord | None, order: Order | None = None
    ) -> int | None:
        """The subaccount a cancel, amend or decrease of order `order_id` goes to, one rule for
        the three: the one the order names (`order`, a read of it), else the one the state file
        placed it on (`local`, its row), else the client's (None: the exchange's default).
        The exchange reads a write naming no subaccount as subaccount 0's, and names an order's
        subaccount to direct members only. A subaccount the client was told to act on
        (`--subaccount N`) that is not the order's is refused here, before anything is sent:
        the write would be refused as not found, or act where the person did not say."""
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

    def _other_subaccount(
        self, order_id: str, local: IntentRecord | None, *, tried: int | None
    ) -> int | None:
        """The subaccount of a resting order that is not the one a write `tried` (None: the
        client's, else 0), if any, by `_subaccount_of` over a read of the order."""
        try:
            order = self.client.orders.get_order(order_id)
        except (ApiError, TransportError):
            return None
        if order.status != "resting":
            return None
        number = self._subaccount_of(order_id, local, order)
        if number is None:
            return None
        return None if number == (tried if tried is not None else 0) else number

    def _read_after_refusal(self, order_id: str, *, refused_at: float) -> Order:
        """The order once a read can reflect the write that made it stop resting."""
        order = self.client.orders.get_order(order_id)
        if order.status != "resting":
            return order  # cancelled and executed are final: no lag can undo them
        wait = refused_at + self.read_lag_s - self._now()
        if wait > 0:
            self.sleep(wait)
        return self.client.orders.get_order(order_id)

    def amend(
        self,
        order_id: str,
        *,
        price: Decimal | None = None,
        count: Decimal | None = None,
        expiration_time: int | None = None,
    ) -> ChangeMade:
        """New price (of the side the order trades, as the trader placed it), new total count
        and/or new expiry (unix seconds; None keeps it, 0 removes it, else in the future):
        `prepare_amend`'s checks, then `submit_amend`. The order keeps its queue position only
        when the amend changes just the expiry or lowers the count at the same price (Kalshi's
        rule, API 3.31.0)."""
        prepared = self.prepare_amend(
            order_id, price=price, count=count, expiration_time=expiration_time
        )
        return self.submit_amend(prepared)

    def prepare_amend(
        self,
        order_id: str,
        *,
        price: Decimal | None = None,
        count: Decimal | None = None,
        expiration_time: int | None = None,
    ) -> PreparedAmend:
        """Every local check of an amend, sending nothing: validated against the market's grid
        and the clock, and the limits a new order meets. A new price can cross the book and a
        new count can grow the order, so it needs trading to be ACTIVE."""
        if expiration_time is not None and (
            expiration_time < 0 or 0 < expiration_time <= self._now()
        ):
            raise ValidationError(
                f"expiration time {expiration_time} is not in the future",
                code="EXPIRY_IN_THE_PAST",
                hint="give a future time, or 0 to remove the expiry",
            )
        self._check_trading(reduce_only=False, what="no order can be amended")
        order = self._resting(order_id, "amended")
        local = self._local_by_order_id(order_id)
        subaccount = self._subaccount_of(order_id, local, order)
        side = local.side if local else Side.YES
        market = self.client.markets.get_market(order.ticker)
        yes_price = order.yes_price
        if price is not None:
            check_price(market, price)
            yes_price = price if side is Side.YES else ONE - price
        total = order.fill_count + order.remaining_count if count is None else count
        check_count(total)
        check_market_count(market, total, what="new total count")
        if total <= order.fill_count:
            raise ValidationError(
                f"new total count {total} must exceed the {order.fill_count} already filled",
                code="COUNT_TOO_LOW",
                hint="use `kalshi order decrease` or `cancel` to shrink an order",
            )
        # the same limits as a new order: a higher price or a bigger count commits more money
        committed = committed_price(order.book_side, yes_price)
        self._check_order_cost(order.ticker, order.book_side, total, committed)
        growth = total - order.fill_count - order.remaining_count
        if growth > 0:
            self._check_position(order.ticker, order.book_side, growth)
        return PreparedAmend(order, side, yes_price, total, expiration_time, local, subaccount)

    def submit_amend(
        self, prepared: PreparedAmend, *, check: Callable[[], None] | None = None
    ) -> ChangeMade:
        """Record, send once, record the answer, of an amend `prepare_amend` checked. `check`:
        as `record_amend` takes it; asked alone when the state file holds no resting order to
        record the amend on (nothing it reads is then written with the amend)."""
        order, local = prepared.order, prepared.local
        order_id, yes_price, total = order.order_id, prepared.yes_price, prepared.total
        recorded: Amend | None = None
        if local is not None and local.status == RESTING:
            # written in the order's history before it leaves, as the trade loop's amends are
            # (`record_amend`); an order the state file does not hold resting is copied in from
            # the exchange's answer below
            recorded = self.record_amend(
                order_id,
                ticker=order.ticker,
                book_side=order.book_side,
                yes_price=yes_price,
                rest=total - local.filled,
                post_only=None,  # whatever its terms: the person amends this order
                check=check,
            )
        elif check is not None:
            check()
        try:
            result = self.client.orders.amend_order(
                order_id,
                ticker=order.ticker,
                book_side=order.book_side,
                price=yes_price,
                count=total,
                expiration_time=prepared.expiration_time,
                subaccount=prepared.subaccount,
            )
        except AmendOutcomeUnknown as exc:
            return self._resolve_change("amend", exc, yes_price, total, recorded)
        except (ApiError, TransportError, ValidationError) as exc:
            # refused, or certainly not sent: the order is as it was, and its history says so
            if recorded is not None:
                self.book_amend_refused(recorded, exc)
            raise

        def book() -> None:
            if recorded is not None:
                self.book_amend(recorded, result)  # as the trade loop books its amends' answers

        return self._made("amend", order_id, _as_answered(prepared, result), book)

    def _made(
        self,
        change: str,
        order_id: str,
        answered: Order,
        book: Callable[[], None],
        *,
        read: bool = True,
    ) -> ChangeMade:
        """The one rule for a change of an order the exchange made (an amend, a decrease): it is
        made, whatever comes after. `book` books it in the state file; the order is then read
        back and copied in (`read`; False when `answered` is a read already: an amend whose
        answer was lost, found made). A read that fails leaves the order as the answer tells
        it (`answered`), with a note: the change is booked, the read would only show it, and
        `kalshi reconcile` brings the order in as it is. A state file that cannot take the
        booking, or the read's copy, raises OrderNotRecorded saying the change WAS MADE, as an
        order placed and not recorded does: its own error ("locked; try again") would read as
        the change not made."""
        from kalshi_cli.store import OrderNotRecorded, StoreError

        shown = answered
        try:
            book()
            if not read:
                return ChangeMade(shown)
            try:
                shown = self.client.orders.get_order(order_id)
            except (ApiError, TransportError) as exc:
                return ChangeMade(
                    answered,
                    f"{_MADE[change]}; could not read the order back: {exc.message} (the order "
                    f"shown is the {change}'s own answer)",
                )
            self._apply_order(shown)
        except StoreError as exc:
            raise OrderNotRecorded(
                f"{change} of order {order_id} WAS MADE ({_terms(shown)}), but the state file "
                f"could not record it: {exc.message}",
                hint=f"do not {change} it again; `kalshi reconcile` records it once the state "
                "file can be written",
                client_order_id=shown.client_order_id,
                order_id=shown.order_id,
                remaining=shown.remaining_count if shown.status == RESTING else ZERO,
            ) from exc
        return ChangeMade(shown)

    def _resolve_change(
        self,
        change: str,
        exc: AmendOutcomeUnknown,
        price: Decimal,
        total: Decimal,
        recorded: Amend | None = None,
    ) -> ChangeMade:
        """An amend or a decrease (`change`) without a clear answer is never sent again: the
        order is read once. Showing the new price and total count (a decrease keeps the price
        and takes the total down), it is done; otherwise it stays unknown (the exchange may not
        have done it, or a read can lag a write), and the person is told what it shows now,
        also when the state file cannot record the read.
        An amend's record in flight is settled as reconcile's step 5 settles one
        (`amend_settled_by`: also when the order no longer rests); otherwise it stays in doubt
        for that step."""
        from kalshi_cli.store import StoreError

        try:
            order = self.client.orders.get_order(exc.order_id)
        except (ApiError, TransportError):
            raise exc from None

        def book() -> None:
            self._apply_order(order)
            if recorded is not None and amend_settled_by(order, price, total):
                self.book_amend_read(recorded, AMEND_READ)

        if order.yes_price == price and order.fill_count + order.remaining_count == total:
            # made, and the read that found it is the one after it
            return self._made(change, exc.order_id, order, book, read=False)
        shown = order.fill_count + order.remaining_count
        message = (
            f"{exc.message}; the exchange now shows {order.status} at "
            f"{fmt_dollars(order.yes_price)} for {fmt_count(shown)}"
        )
        try:
            book()
        except StoreError as unrecorded:
            # still unknown, whatever the state file does: its own error ("locked; try
            # again") would read as the change refused, which a person would send again
            message += f", and the state file could not record that: {unrecorded.message}"
        raise AmendOutcomeUnknown(message, order_id=exc.order_id) from exc

    def decrease(
        self, order_id: str, *, by: Decimal | None = None, to: Decimal | None = None
    ) -> ChangeMade:
        """Take contracts off a resting order, `by` so many or `to` so many left (0 cancels
        it); it keeps its place in the queue. Answered, the decrease is made and booked from
        its answer (`_made`); its answer lost, it is never sent again, and the order read once
        says whether it was made (`_resolve_change`, an amend's rule)."""
        if (by is None) == (to is None):
            raise ValidationError("give exactly one of --by or --to", code="DECREASE_ARGS")
        amount = by if by is not None else to
        assert amount is not None
        if amount < 0 or (by is not None and by == 0):
            raise ValidationError(
                f"decrease amount must be positive, got {amount}", code="COUNT_NOT_POSITIVE"
            )
        order = self._resting(order_id, "decreased")
        subaccount = self._subaccount_of(order_id, self._local_by_order_id(order_id), order)
        try:
            result = self.client.orders.decrease_order(
                order_id, reduce_by=by, reduce_to=to, subaccount=subaccount
            )
        except AmendOutcomeUnknown as exc:
            # made, the order keeps its price and its total comes down by what was taken off
            # (fills move contracts from resting to filled, never out of the total)
            left = order.remaining_count - by if by is not None else amount
            return self._resolve_change("decrease", exc, order.yes_price, order.fill_count + left)
        book = partial(self._book_decrease, order_id, result.remaining_count)
        return self._made("decrease", order_id, _as_decreased(order, result), book)

    def _book_decrease(self, order_id: str, remaining: Decimal) -> None:
        """A decrease the exchange applied, in the state file, as a read of the order after it
        would book it: what rests is the answer's, and the total what the row counts filled
        plus that; none left, the order is cancelled (a decrease to none cancels it) and keeps
        its total, as a cancel booked does. A row that no longer rests (fills or a cancel
        booked meanwhile ended it) stays ended; an order the state file does not hold is left
        to the read after it."""
        orders = self.store.orders
        with self.store.transaction():
            row = orders.status_and_filled(order_id)
            if row is None or row[0] != RESTING:
                return
            if remaining <= 0:
                orders.mark_cancelled(order_id)
            else:
                orders.update_order(
                    order_id=order_id, remaining_count=remaining, count=row[1] + remaining
                )

    def _resting(self, order_id: str, done: str) -> Order:
        """The order, looked up before it is changed: an unknown id and an order that no longer
        rests are refused in words here rather than as the exchange's bare error."""
        order = self.client.orders.get_order(order_id)
        if order.status != "resting":
            raise ValidationError(
                f"order {order_id} is {order.status}; only resting orders can be {done}",
                code="ORDER_NOT_RESTING",
            )
        return order

    # ---------------------------------------------------------------------------- reconcile

    def reconcile(self, *, since_ts: int | None = None, grace_s: float = 0.0) -> ReconcileReport:
        """Bring orders, fills and settlements from the exchange into the state file: the four
        steps of `kalshi_cli.services.reconcile`."""
        return reconcile(
            self.client,
            self.store,
            clock=self._clock,
            since_ts=since_ts,
            grace_s=grace_s,
            read_lag_s=self.read_lag_s,
            unnamed=lambda: order_subaccount(self.client),
        )

    def sync_fills(self, *, since_ts: int | None = None) -> int:
        """Copy the exchange's fills into the state file, listed as a reconcile lists them
        (`sync_account_fills`: on no subaccount, each subaccount's on its own); returns how
        many were new."""
        numbers = listed_subaccounts(self.client)
        return sync_account_fills(self.client, self.store, since_ts=since_ts, numbers=numbers)[0]

    # ---------------------------------------------------------------------------- helpers

    def _check_order_cost(
        self,
        ticker: str,
        book_side: BookSide,
        count: Decimal,
        price: Decimal,
        reads: MarketReads | None = None,
    ) -> None:
        """`limits.max_order_cost` against count x `price`, the price of the side the order
        adds (`committed_price`). Contracts that close a position held on the other side
        release money instead of committing it, so when the whole order is over the limit only
        its opening part is counted: a stop-out sale is never blocked by this limit."""
        limit = self.limits.max_order_cost
        cost = count * price
        if limit is None or cost <= limit:
            return
        position = (reads or MarketReads()).get("position", ticker, lambda: self._position(ticker))
        # a bid (YES added) closes NO contracts (negative position); an ask closes YES ones
        closable = max(-position if book_side is BookSide.BID else position, ZERO)
        opening = max(count - closable, ZERO)
        if opening * price > limit:
            raise ValidationError(
                f"order cost {fmt_money(cost)} is over the maximum order cost {fmt_money(limit)}",
                code="MAX_ORDER_COST",
                hint="lower --count or raise limits.max_order_cost",
            )

    def _check_subaccount(self, reads: MarketReads) -> None:
        """`--subaccount N` names one the account has (0 always is), or the exchange refuses
        every order to it: the account's subaccounts are read once for all the orders."""
        number = self.client.subaccount
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

    def _subaccount_numbers(self) -> frozenset[int]:
        return frozenset(b.subaccount for b in self.client.subaccounts.subaccount_balances())

    def _check_balance(
        self,
        request: OrderRequest,
        market: Market,
        book_side: BookSide,
        price: Decimal,
        reads: MarketReads,
    ) -> None:
        """A buy costs count x `price` (the price of the side bought), plus the taker fee on
        every contract for an order that takes or dies now (IOC, FOK), at the market's own fees
        (`services.fees`: its series' type and multiplier, an event's override, its waiver;
        read once per market); a GTC order may rest, and the exchange holds it to its cost
        alone, so only that is checked. A fee it may owe on a later fill, or a fee the model
        cannot price, is the exchange's to refuse, never ours to guess.
        Over the balance the exchange reports
        for the order's subaccount, less what the orders prepared before it (a batch's rows)
        may cost, it is refused. Sells and reduce-only orders release money and are not held
        to it, nor the contracts of a buy that close a position held on the other side (the
        position read only when the whole buy does not fit)."""
        if request.action is not Action.BUY or request.reduce_only:
            return
        fees = None
        if request.time_in_force is not TimeInForce.GTC:
            fees = reads.get("fees", market.ticker, lambda: self._fees(market))
        now = self._now()

        def cost(count: Decimal) -> Decimal:
            if fees is None:
                return count * price
            return count * price + fees.fee(count, price, taker=True, at=now)

        need = cost(request.count)
        available = reads.get("balance", "", self._balance) - reads.spent
        if need > available:
            ticker = request.ticker
            position = reads.get("position", ticker, lambda: self._position(ticker))
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
            return load_fee_models(self.client, [market])[market.ticker]
        except FeeModelError:
            return None

    def _balance(self) -> Decimal:
        """The balance of the subaccount an order placed now goes to (the client's, else the
        API key's, else 0's), as the exchange reports it."""
        number = order_subaccount(self.client)
        own = self.client if number is None else self.client.on_subaccount(number)
        return own.portfolio.get_balance().balance

    def _position(self, ticker: str) -> Decimal:
        position = ZERO
        for pos in self.client.portfolio.get_positions(ticker=ticker):
            if pos.ticker == ticker:
                position = pos.position
        return position

    def _check_position(
        self,
        ticker: str,
        book_side: BookSide,
        extra: Decimal,
        reads: MarketReads | None = None,
    ) -> Decimal | None:
        """`limits.max_position_per_market` with `extra` more contracts resting on
        `book_side`; returns the worst case after, or None when there is no limit."""
        limit = self.limits.max_position_per_market
        if limit is None:
            return None
        current = (reads or MarketReads()).get("exposure", ticker, lambda: self.exposure(ticker))
        extra_bid = extra if book_side is BookSide.BID else ZERO
        extra_ask = extra if book_side is BookSide.ASK else ZERO
        after = current.worst_case(extra_bid, extra_ask)
        if after > current.worst_case() and after > limit:
            text = (
                f"{ticker}: position plus resting orders would reach {fmt_count(after)} "
                f"contracts, over the limit of {limit}"
            )
            hint = "lower --count, cancel resting orders, or raise the limit"
            if current.unknown > 0:
                text += f" ({fmt_count(current.unknown)} of them in orders of unknown outcome)"
                hint += "; `kalshi reconcile` settles the orders of unknown outcome"
            raise ValidationError(text, code="POSITION_LIMIT", hint=hint)
        return after

    def _apply_order(self, order: Order) -> bool:
        # an order placed elsewhere that names no subaccount is imported on the one an order
        # placed now goes to (a restricted key's own), asked only when there is one to import
        return apply_order(
            self.store, order, now=self._now(), subaccount=lambda: order_subaccount(self.client)
        )

    def _check_trading(self, *, reduce_only: bool, what: str) -> None:
        state = self.store.trading.trading_state()
        check_trading_state(state.state, state.reason, reduce_only=reduce_only, what=what)

    def _local_by_order_id(self, order_id: str) -> IntentRecord | None:
        return self.store.orders.intent_by_order_id(order_id)

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock.wall()
        import time

        return time.time()

    # ---------------------------------------------------------------------------- batches
    # `kalshi order batch` (services/order_batch.py) records its rows' intents, sends them in
    # one request, and records each answer through these, in the order `submit` keeps for one.

    def now(self) -> float:
        """The wall time the service stamps its records with (its clock's, if it has one)."""
        return self._now()

    def sleep(self, seconds: float) -> None:
        """A wait on the service's clock (a test's manual clock moves instead)."""
        from kalshi_cli.vocabulary.clock import SystemClock

        (self._clock or SystemClock()).sleep(seconds)

    def record_answer(self, create: CreateOrder, result: CreateOrderResult) -> str:
        """Record the exchange's acceptance of `create`, as `submit` does; returns the status
        recorded (resting, executed or canceled)."""
        status = _status_after_create(result.fill_count, result.remaining_count, create)
        self._record_accepted(create.client_order_id, result.order_id, status, result)
        return status

    def record_found(self, order: Order) -> None:
        """Record an order found on the exchange (its fills, status and order id): one whose
        answer was lost, or one read back after a refusal. A read that shows less than the row
        already knows (fewer contracts filled, or resting where the row is executed or
        cancelled: `moves_backwards`) lags a write the row learned from since (reads lag
        writes), and is not copied in: fills only grow and an ended order never rests again."""
        from kalshi_cli.services.reconcile import moves_backwards

        local = self._local_by_order_id(order.order_id)
        answered = local is not None and local.status not in (PENDING, UNKNOWN)
        if answered and local is not None and moves_backwards(local, order):
            return
        self._apply_order(order)


def open_market(client: OrderClient, ticker: str) -> Market:
    """The market, open for trading: an unknown ticker exits NOT_FOUND, as for every command
    given one (docs/exit-codes.md); a market not open is refused with MARKET_NOT_OPEN."""
    try:
        market = client.markets.get_market(ticker)
    except NotFoundError:
        raise NotFoundError(
            f"unknown ticker {ticker}",
            status=404,
            code="UNKNOWN_TICKER",
            hint="`kalshi markets` lists tickers",
        ) from None
    if not market.is_open:
        raise ValidationError(
            f"{market.ticker} is {market.status}, not open for trading", code="MARKET_NOT_OPEN"
        )
    return market


def _allowed(
    state: TradingStateRecord, *, reduce_only: bool, check: Callable[[], None] | None
) -> None:
    """What an intent or an amend is recorded only if: the trading state allows it, then the
    caller's own `check` (`OrderService.record_intent`), both inside the recording's
    transaction."""
    check_trading_state(state.state, state.reason, reduce_only=reduce_only, what="not sent")
    if check is not None:
        check()


def check_trading_state(state: str, reason: str, *, reduce_only: bool, what: str) -> None:
    """Raise TradingHaltedError unless `state` allows the order: ACTIVE anything, REDUCING only
    a reduce-only order, HALTED and SAFE_MODE nothing (risk/state.py's rule)."""
    if state in BLOCKING_STATES or (state == "REDUCING" and not reduce_only):
        raise TradingHaltedError(
            f"trading is {state} ({reason}); {what}",
            hint="`kalshi status` shows why; `kalshi resume` lifts it",
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


def _status_after_create(fill: Decimal, remaining: Decimal, create: CreateOrder) -> str:
    if remaining > 0:
        return "resting"
    if fill >= create.count:
        return "executed"
    return "canceled"  # IOC/FOK remainder cancelled


@dataclass(frozen=True)
class TradingStatus:
    """What `kalshi status` shows: the trading state and why, and the orders awaiting an
    answer. `exists` is False when there is no state file yet (nothing is created to say so)."""

    state: str
    reason: str
    source: str
    at: float | None  # unix seconds
    state_file: Path
    exists: bool
    open_orders: int = 0
    unknown_orders: tuple[str, ...] = ()
    last_heartbeat: str | None = None  # "SOURCE at UNIX_SECONDS", as --json has always had it
    history: tuple[dict[str, Any], ...] = ()
    heartbeat_at: float | None = None  # unix seconds of that heartbeat
    # the subaccount the loop of that heartbeat trades (`kalshi trade --subaccount`), when the
    # heartbeat names one (a loop before it did not)
    loop_subaccount: int | None = None
    # a live trade loop is paused (SIGUSR1 or its pause file): `state` then says PAUSED
    loop_paused: bool = False
    # the loop's lag from that heartbeat (docs/trade-loop.md "Lag"), when it reports one
    loop_lag: dict[str, Any] | None = None
    # the strategy that loop runs, and how it was named (a built-in, a file, an import path)
    loop_strategy: str | None = None
    # a row per strategy of that loop: its name, its open orders, the P&L its fills realized
    # today (UTC), from the state file
    strategies: tuple[dict[str, Any], ...] = ()

    def details(self) -> dict[str, Any]:
        """Everything beside the state itself, as `kalshi status --json` names it."""
        document: dict[str, Any] = {
            "state_file": str(self.state_file),
            "open_orders": self.open_orders,
            "unknown_orders": len(self.unknown_orders),
        }
        if self.exists:
            document["last_heartbeat"] = self.last_heartbeat
            if self.loop_subaccount is not None:
                document["loop_subaccount"] = self.loop_subaccount
            document["loop_paused"] = self.loop_paused
            if self.loop_lag is not None:
                document["loop_lag"] = self.loop_lag
            if self.loop_strategy is not None:
                document["loop_strategy"] = self.loop_strategy
            if self.strategies:
                document["strategies"] = list(self.strategies)
            document["history"] = list(self.history)
        return document


def _loop_strategy(beat: HeartbeatRecord | None) -> str | None:
    """What the trade loop of that heartbeat runs (`loop_strategies.strategy_text`)."""
    if beat is None or beat.source != "trade":
        return None
    return strategy_text(beat.detail)


def _loop_subaccount(beat: HeartbeatRecord | None) -> int | None:
    number = beat.detail.get("subaccount") if beat is not None and beat.source == "trade" else None
    return number if isinstance(number, int) else None


LAG_KEYS = (
    "lag_p50_s",
    "lag_p99_s",
    "lag_max_s",
    "revisit_max_s",
    "waiting",
    "behind",
    "writes_behind_s",
)


def _loop_lag(beat: HeartbeatRecord | None) -> dict[str, Any] | None:
    if beat is None or beat.source != "trade" or "revisit_max_s" not in beat.detail:
        return None
    return {key: beat.detail.get(key) for key in LAG_KEYS}


def trading_status(state_path: Path, now: float | None = None) -> TradingStatus:
    """The state file's trading state, its open orders and the last heartbeat, read-only; the
    state is PAUSED while a live trade loop (its heartbeat younger than `LIVE_BEAT_S` at `now`,
    unix seconds) is paused."""
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import SystemClock

    store = Store.open_readonly(state_path)
    if store is None:
        return TradingStatus("ACTIVE", "no state file yet", "default", None, state_path, False)
    with store:
        row = store.trading.trading_state()
        open_orders = store.orders.open_orders()
        beat = store.events.last_heartbeat()
        loop_beat = (
            beat if beat is None or beat.source == "trade" else store.events.last_heartbeat("trade")
        )
        history = store.trading.trading_state_history(limit=5)
        wall = SystemClock().wall() if now is None else now
        names = strategy_names(loop_beat.detail) if loop_beat is not None else []
        rows = strategy_rows(store, names, open_orders, wall, _loop_subaccount(loop_beat) or 0)
    shown = (
        row.state
        if loop_beat is None
        else loop_beat.shown_state(row.state, SystemClock().wall() if now is None else now)
    )
    paused = shown == "PAUSED"
    return TradingStatus(
        shown,
        "the trade loop is paused (SIGUSR1 or its pause file): no new orders, stop-losses "
        "still go out"
        if paused
        else row.reason,
        "trade loop" if paused else row.source,
        row.at,
        state_path,
        True,
        loop_paused=paused,
        open_orders=len(open_orders),
        unknown_orders=tuple(
            i.client_order_id for i in open_orders if i.status in ("pending", "unknown")
        ),
        last_heartbeat=None if beat is None else f"{beat.source} at {beat.at:.0f}",
        heartbeat_at=None if beat is None else beat.at,
        loop_subaccount=_loop_subaccount(beat),
        loop_lag=_loop_lag(beat),
        loop_strategy=_loop_strategy(beat),
        strategies=rows,
        history=tuple(
            {"state": h.state, "reason": h.reason, "source": h.source, "at": h.at} for h in history
        ),
    )


def order_subaccount(client: OrderClient, *, strict: bool = False) -> int | None:
    """The subaccount an order placed now goes to: the client's, else the one its API key is
    restricted to, else 0 (`own_subaccount`, client/subaccounts.py); None when that cannot be
    told (`strict`: an exchange that could not answer raises its error). A client without
    `own_subaccount` (the local venue's, a test's fake) has no key restrictions: 0."""
    if client.subaccount is not None:
        return client.subaccount
    # the KalshiClient's key may be restricted; the protocol's other clients have no keys
    find: Callable[..., int | None] | None = getattr(client, "own_subaccount", None)
    return 0 if find is None else find(strict=strict)

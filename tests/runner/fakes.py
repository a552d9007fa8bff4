"""An in-process exchange behind the few KalshiClient methods the loop uses, and a feed of its
books: the trade loop runs on them with a ManualClock, no thread and no socket."""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from kalshi_cli.client.historical import HistoricalCutoff
from kalshi_cli.client.orders import placed_with
from kalshi_cli.client.requests import (
    AmendOrder,
    AmendResult,
    CancelResult,
    CreateOrder,
    CreateOrderResult,
    DecreaseResult,
)
from kalshi_cli.client.subaccounts import SubaccountBalance
from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.feed.index import IndexBoard, decode_tick
from kalshi_cli.feed.messages import (
    FillNotice,
    IndexValueMessage,
    Lifecycle,
    convert_frame,
    order_update,
)
from kalshi_cli.feed.session import CarriedMarkets
from kalshi_cli.sim.core import indices
from kalshi_cli.sim.core import serialize as ser
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import (
    BookChanged,
    ExchangeError,
    FillHappened,
    MarketLifecycle,
    OrderChanged,
    PlaceRequest,
    PlaceResult,
    SimMarket,
)
from kalshi_cli.sim.core.scenarios import build_exchange
from kalshi_cli.strategy_api import IndexView
from kalshi_cli.venue.answers import amended, decreased
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import (
    AmendOutcomeUnknown,
    ApiError,
    NotFoundError,
    OrderOutcomeUnknown,
)
from kalshi_cli.vocabulary.models import (
    Balance,
    Fill,
    Market,
    Order,
    Orderbook,
    Position,
    Settlement,
    decode_answer,
    decode_orderbook,
)
from kalshi_cli.vocabulary.units import ZERO, BookSide, SelfTradePrevention, TimeInForce
from tests.fakes import EveryAreaItself

if TYPE_CHECKING:
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.loop.settings import LoopSettings

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def listed_fill(name: str, ticker: str, book_side: str, price: str, second: int) -> Fill:
    """A fill of 10 contracts as the exchange lists it, made `second`s after START ($0.01 fee)."""
    body: dict[str, Any] = {
        "fill_id": name,
        "trade_id": name,
        "order_id": f"order-{name}",
        "market_ticker": ticker,
        "book_side": book_side,
        "count_fp": "10.00",
        "yes_price_dollars": price,
        "is_taker": True,
        "fee_cost": "0.010000",
        "ts": int(START) + second,
    }
    return decode_answer(Fill, body)


def order_fill(
    order_id: str, ticker: str, book_side: str, yes_price: str, *, fee: str, **when: Any
) -> Fill:
    """A fill of one contract of `order_id` as the exchange lists it without naming a
    subaccount (no `subaccount_number`: not a direct member); `when`: its `created_time`
    and `ts`, none of them listed when not given (an undated fill)."""
    body: dict[str, Any] = {
        "fill_id": f"fill-of-{order_id}",
        "trade_id": f"trade-of-{order_id}",
        "order_id": order_id,
        "ticker": ticker,
        "market_ticker": ticker,
        "book_side": book_side,
        "count_fp": "1.00",
        "yes_price_dollars": yes_price,
        "is_taker": False,
        "fee_cost": fee,
        **when,
    }
    return decode_answer(Fill, body)


def new_exchange(scenario: str | Path = "default", clock: ManualClock | None = None) -> Exchange:
    return build_exchange(scenario, clock=clock or ManualClock(START))


def trader(exchange: Exchange, cash_cents: int = 10_000_000) -> str:
    return exchange.accounts.create_account(
        key_id="trader", public_key_pem="", cash_cents=cash_cents
    ).account_id


def place_on_desk(  # noqa: PLR0917 (an order reads best as its terms in order)
    exchange: Exchange,
    account_id: str,
    ticker: str,
    book_side: BookSide,
    price: Decimal | str,
    count: Decimal | int | str,
    *,
    time_in_force: TimeInForce = TimeInForce.GTC,
    self_trade_prevention: SelfTradePrevention = SelfTradePrevention.TAKER_AT_CROSS,
    **terms: Any,
) -> PlaceResult:
    """An order of `account_id` placed straight on the in-process exchange's desk, past the
    wire: good till canceled and taker-at-cross unless told otherwise, `terms` the request's
    other fields (`client_order_id`, `post_only`, `order_group_id`...)."""
    return exchange.desk.place_order(
        account_id,
        PlaceRequest(
            ticker=ticker,
            book_side=book_side,
            price=Decimal(price),
            count=Decimal(count),
            time_in_force=time_in_force,
            self_trade_prevention=self_trade_prevention,
            **terms,
        ),
    )


def group_trigger(exchange: Exchange, account_id: str) -> Callable[..., None]:
    """A stop's trigger of a session group (`TriggersGroup`) on the in-process exchange, which
    finds the group by its id whatever shard it is on."""

    def trigger(order_group_id: str, *, exchange_index: int | None = None) -> None:
        exchange.groups.trigger_order_group(account_id, order_group_id)

    return trigger


def _api_error(exc: ExchangeError) -> ApiError:
    return ApiError.from_response(exc.status, {"error": {"code": exc.code, "message": exc.message}})


@dataclass
class Held:
    """A create held in the network for `seconds` (for `FakeClient.create_errors`): the client
    gets no answer at once, and the exchange takes the order only when the hold is over (on
    the first `Rig.step` after it); `then` runs right after it landed."""

    seconds: float
    then: Callable[[], None] | None = None


# the cancels one batch cancel request of the fake client carries (`batch_cancel_size`), as the
# real client's write budget sets it
BATCH_CANCEL_SIZE = 20


@dataclass
class FakeClient(EveryAreaItself):
    core: Exchange  # the simulator's exchange core it trades on
    account_id: str
    # the subaccount the client acts on, as `KalshiClient.subaccount` (None: the defaults)
    subaccount: int | None = None
    # raised by the next creates; "unknown": the exchange takes the order and the answer is
    # lost; Held: the answer is lost and the exchange takes the order later
    create_errors: list[BaseException | str | Held] = field(default_factory=list)
    # raised by the next lookups by client order id; "missing": the order is not listed yet
    lookup_errors: list[BaseException | str] = field(default_factory=list)
    # raised by the next cancels (the exchange cancels nothing)
    cancel_errors: list[BaseException] = field(default_factory=list)
    # raised by the next amends; "unknown": the exchange amends the order and the answer is
    # lost; "lost": the answer is lost and the exchange never amends
    amend_errors: list[BaseException | str] = field(default_factory=list)
    amends: int = 0  # amend requests made
    # raised by every fill read while set
    fills_error: BaseException | None = None
    # raised by every positions read while set
    positions_error: BaseException | None = None
    # the filters of each positions read made (shared with the handles of `on_subaccount`)
    positions_reads: list[dict[str, Any]] = field(default_factory=list)
    requests: list[CreateOrder] = field(default_factory=list)
    authenticated: bool = True
    # held creates: (monotonic time the exchange takes it, the request, what to run then)
    held: list[tuple[float, CreateOrder, Held]] = field(default_factory=list)
    clock: ManualClock | None = None  # the rig's, for held creates
    # the rig clock's monotonic time of each create, beside `requests`
    sent_at: list[float] = field(default_factory=list)

    def _market(self, ticker: str) -> SimMarket:
        m = self.core.reference.markets.get(ticker)
        if m is None:
            raise NotFoundError(f"unknown ticker {ticker}", status=404)
        return m

    def get_market(self, ticker: str) -> Market:
        return decode_answer(Market, ser.market_json(self.core.engine, self._market(ticker)))

    def iter_markets(self, **filters: Any) -> Iterator[Market]:
        for m in self.core.reference.markets.values():
            if filters.get("tickers") is not None and m.ticker not in filters["tickers"]:
                continue
            if filters.get("series_ticker") and m.series_ticker != filters["series_ticker"]:
                continue
            if filters.get("event_ticker") and m.event_ticker != filters["event_ticker"]:
                continue
            yield decode_answer(Market, ser.market_json(self.core.engine, m))

    def get_event(self, event_ticker: str, **_: Any) -> dict[str, Any]:
        event = self.core.reference.events[event_ticker]
        series = self.core.reference.series.get(event.series_ticker)
        override = self.core.reference.fees.event_fee_override(event_ticker)
        markets = [
            ser.market_json(self.core.engine, m)
            for m in self.core.reference.markets.values()
            if m.event_ticker == event_ticker
        ]  # at the top level, as the exchange lists them without `with_nested_markets`
        return {"event": ser.event_json(event, series, None, override), "markets": markets}

    def iter_event_fee_changes(
        self, *, event_ticker: str | None = None
    ) -> Iterator[dict[str, Any]]:
        return iter(
            [
                ser.event_fee_change_json(c)
                for c in self.core.reference.fees.event_fee_changes(event_ticker)
            ]
        )

    def get_series(self, series_ticker: str) -> dict[str, Any]:
        series = self.core.reference.series[series_ticker]
        return ser.series_json(series, self.core.reference.fees.series_fees(series_ticker))

    def get_series_fee_changes(
        self, *, series_ticker: str | None = None, show_historical: bool = False
    ) -> list[dict[str, Any]]:
        now = self.clock.wall() if self.clock is not None else -math.inf
        return ser.series_fee_changes_json(
            self.core.reference.fees.fee_changes(series_ticker), now, historical=show_historical
        )

    def get_orderbook(self, ticker: str, depth: int = 0) -> Orderbook:
        return decode_orderbook(ticker, ser.orderbook_json(self.core.engine, ticker, depth))

    def create_order(self, request: CreateOrder) -> CreateOrderResult:
        self.requests.append(request)
        if self.clock is not None:
            self.sent_at.append(self.clock.monotonic())
        if self.create_errors:
            error = self.create_errors.pop(0)
            if isinstance(error, BaseException):
                raise error
            if isinstance(error, Held):
                now = self.exchange_clock().monotonic()
                self.held.append((now + error.seconds, request, error))
            else:
                self._place(request)
            raise OrderOutcomeUnknown("timed out", client_order_id=request.client_order_id)
        return self._place(request)

    def exchange_clock(self) -> ManualClock:
        assert self.clock is not None, "a FakeClient that holds creates needs the rig's clock"
        return self.clock

    def deliver_held(self) -> None:
        """The held creates whose time has come reach the exchange."""
        now = self.exchange_clock().monotonic()
        due = [h for h in self.held if h[0] <= now]
        self.held = [h for h in self.held if h[0] > now]
        for _, request, held in due:
            self._place(request)
            if held.then is not None:
                held.then()

    def _place(self, request: CreateOrder) -> CreateOrderResult:
        try:
            result = place_on_desk(
                self.core,
                self.account_id,
                request.ticker,
                request.book_side,
                request.price,
                request.count,
                time_in_force=request.time_in_force,
                client_order_id=request.client_order_id,
                post_only=request.post_only,
                reduce_only=request.reduce_only,
                order_group_id=request.order_group_id,
            )
        except ExchangeError as exc:
            raise _api_error(exc) from None
        o = result.order
        return decode_answer(
            CreateOrderResult,
            {
                "order_id": o.order_id,
                "client_order_id": o.client_order_id,
                "fill_count": str(o.fill_count),
                "remaining_count": str(o.remaining_count),
            },
        )

    def cancel_order(
        self, order_id: str, *, ticker: str | None = None, subaccount: int | None = None
    ) -> CancelResult:
        """The in-process exchange finds an order by its id, whichever subaccount holds it."""
        if self.cancel_errors:
            raise self.cancel_errors.pop(0)
        try:
            order, reduced = self.core.desk.cancel_order(self.account_id, order_id)
        except ExchangeError as exc:
            raise _api_error(exc) from None
        return CancelResult(order.order_id, reduced)

    def batch_cancel_size(self) -> int:
        return BATCH_CANCEL_SIZE

    def batch_cancel(
        self,
        orders: list[tuple[str, str | None]],
        *,
        subaccounts: dict[str, int] | None = None,
    ) -> list[CancelResult]:
        """As the exchange's batch cancel: an error for the request raises (nothing cancelled),
        an order it cannot cancel comes back with its error."""
        if self.cancel_errors:
            raise self.cancel_errors.pop(0)
        results = []
        for order_id, _ticker in orders:
            try:
                order, reduced = self.core.desk.cancel_order(self.account_id, order_id)
            except ExchangeError as exc:
                results.append(CancelResult(order_id, ZERO, exc.message))
                continue
            results.append(CancelResult(order.order_id, reduced))
        return results

    def amend_order(
        self, order_id: str, terms: AmendOrder, *, subaccount: int | None = None
    ) -> AmendResult:
        self.amends += 1
        error = self.amend_errors.pop(0) if self.amend_errors else None
        if isinstance(error, BaseException):
            raise error
        if error == "lost":
            raise AmendOutcomeUnknown("timed out", order_id=order_id)
        try:
            # the desk takes the terms by the same names
            old, new, fills = self.core.desk.amend_order(self.account_id, order_id, **asdict(terms))
        except ExchangeError as exc:
            raise _api_error(exc) from None
        if error == "unknown":
            raise AmendOutcomeUnknown("timed out", order_id=order_id)
        return amended(old, new, fills, new.last_update_time or 0.0)

    def decrease_order(
        self,
        order_id: str,
        *,
        reduce_by: Decimal | None = None,
        reduce_to: Decimal | None = None,
        ticker: str | None = None,
        subaccount: int | None = None,
    ) -> DecreaseResult:
        """The in-process exchange finds an order by its id, whichever subaccount or shard
        holds it."""
        try:
            order = self.core.desk.decrease_order(
                self.account_id, order_id, reduce_by=reduce_by, reduce_to=reduce_to
            )
        except ExchangeError as exc:
            raise _api_error(exc) from None
        return decreased(order, order.last_update_time)

    def iter_orders(self, **filters: Any) -> Iterator[Order]:
        for o in self.core.history.orders(self.account_id):
            if filters.get("ticker") and o.ticker != filters["ticker"]:
                continue
            if filters.get("event_ticker") and not self._in_event(o.ticker, filters):
                continue
            if filters.get("status") and o.status != filters["status"]:
                continue
            yield decode_answer(Order, ser.order_json(o))

    def get_order(self, order_id: str) -> Order:
        try:
            return decode_answer(
                Order, ser.order_json(self.core.history.order(self.account_id, order_id))
            )
        except ExchangeError as exc:
            raise _api_error(exc) from None

    def find_order_by_client_id(self, client_order_id: str, ticker: str) -> Order | None:
        if self.lookup_errors:
            error = self.lookup_errors.pop(0)
            if isinstance(error, BaseException):
                raise error
            return None
        return placed_with(self.iter_orders(ticker=ticker), client_order_id)

    def iter_fills(self, *, min_ts: int | None = None, **_: Any) -> Iterator[Fill]:
        if self.fills_error is not None:
            raise self.fills_error
        for f in self.core.history.fills(self.account_id):
            if min_ts is None or f.ts >= min_ts:
                yield decode_answer(Fill, ser.fill_json(f))

    def iter_settlements(self, **_: Any) -> Iterator[Settlement]:
        for s in self.core.accounts.settlements(self.account_id):
            yield decode_answer(Settlement, ser.settlement_json(s))

    def get_balance(self) -> Balance:
        """The account's available cash, as the exchange reports it (GET /portfolio/balance)."""
        account = self.core.accounts.account(self.account_id)
        return decode_answer(
            Balance, {"balance": account.cash_cents, "balance_dollars": str(account.balance)}
        )

    def subaccount_balances(self) -> list[SubaccountBalance]:
        """One account: subaccount 0 (the settlement import lists once per subaccount)."""
        return [SubaccountBalance(0, Decimal(0), 0)]

    def on_subaccount(self, subaccount: int | None) -> FakeClient:
        """A second handle acting on `subaccount`, as `KalshiClient.on_subaccount`: the same
        exchange and lists, this client left on its own subaccount."""
        handle = copy.copy(self)
        handle.subaccount = subaccount
        return handle

    def get_positions(self, **filters: Any) -> list[Position]:
        self.positions_reads.append(filters)
        if self.positions_error is not None:
            raise self.positions_error
        return [
            decode_answer(Position, ser.position_json(p))
            for p in self.core.accounts.positions(self.account_id)
            if p.position != 0
            and filters.get("ticker") in (None, p.ticker)
            and (not filters.get("event_ticker") or self._in_event(p.ticker, filters))
        ]

    def _in_event(self, ticker: str, filters: dict[str, Any]) -> bool:
        return bool(self._market(ticker).event_ticker == filters["event_ticker"])

    def close(self) -> None:
        pass

    # raised by every queue-position read while set
    queue_error: BaseException | None = None

    def get_queue_positions(
        self, *, market_tickers: list[str] | None = None, event_ticker: str | None = None
    ) -> dict[str, Decimal]:
        if self.queue_error is not None:
            raise self.queue_error
        return {
            o.order_id: self.core.desk.queue_position(self.account_id, o.order_id)
            for o in self.core.accounts.resting_orders(self.account_id)
            if market_tickers is None or o.ticker in market_tickers
        }

    # the historical tier: this in-process exchange archives nothing
    def get_historical_cutoff(self) -> HistoricalCutoff:
        return HistoricalCutoff(0.0, 0.0, 0.0, 0.0)

    def iter_historical_fills(self, **_: Any) -> Iterator[Fill]:
        return iter(())

    def iter_historical_orders(self, **_: Any) -> Iterator[Order]:
        return iter(())


class FakeFeed:
    """Books straight from the exchange; events from its listeners, as MarketData reports
    them. `stale` markets keep their book but say they are not fresh (to exercise the rule).
    The exchange's reference indices (a crypto scenario's) reach an `IndexBoard` as the
    WebSocket carries them (each tick encoded on its channel and decoded), for `index_view`.
    Orders and lifecycle of `tickers` and of the markets followed alone, as the subscriptions
    carry them (none named: every market's)."""

    def __init__(
        self, exchange: Exchange, account_id: str, clock: ManualClock, tickers: Sequence[str] = ()
    ) -> None:
        self.tickers, self.followed = set(tickers), set[str]()
        # which markets its `user_orders` subscription carries (None: it follows no orders, and
        # the loop's markets wait for no read of them: runner/loop/orders_read_again.py)
        self.orders_carried: CarriedMarkets | None = None
        self.exchange = exchange
        self.account_id = account_id
        self.clock = clock
        self.stale: set[str] = set()
        # books shown instead of the exchange's, as a lagging feed can (a crossed book)
        self.shown: dict[str, Orderbook] = {}
        self.silent = False  # no messages, and the age grows
        self.messages: list[FeedMessage] = []
        self.last_at = clock.monotonic()
        # what reading one book costs the loop's clock: a pass over many markets takes time
        self.read_cost_s = 0.0
        exchange.reference.add_listener(self._on)
        self.indices = IndexBoard()
        indices.of(exchange).add_listener(self._on_index)

    def _on_index(self, tick: indices.SimIndexTick) -> None:
        if self.silent:
            return
        if tick.source == "pyth":
            channels = ["pyth_value"]
        else:
            channels = ["cfbenchmarks_value_5hz"] if not tick.whole_second else []
            channels += ["cfbenchmarks_value"] if tick.whole_second else []
        for channel in channels:
            message = convert_frame({"type": channel, "msg": ser.ws_index_msg(channel, tick)})
            assert isinstance(message, IndexValueMessage), message
            self.indices.apply(decode_tick(message))

    def index_view(self, index_id: str) -> IndexView | None:
        return self.indices.view(index_id)

    def _on(self, heard: Any) -> None:
        if self.silent:
            return
        self.last_at = self.clock.monotonic()
        if isinstance(heard, BookChanged):
            self.messages.append(FeedMessage(MessageKind.BOOK, heard.ticker))
        elif isinstance(heard, FillHappened) and heard.fill.account_id == self.account_id:
            notice = msgspec.convert(ser.ws_fill_msg(heard.fill), FillNotice)
            self.messages.append(FeedMessage(MessageKind.FILL, heard.fill.ticker, payload=notice))
        elif isinstance(heard, OrderChanged | MarketLifecycle) and not self._hears(heard):
            return
        elif isinstance(heard, OrderChanged) and heard.order.account_id == self.account_id:
            update = order_update(ser.ws_user_order_msg(heard.order))
            self.messages.append(
                FeedMessage(MessageKind.USER_ORDER, heard.order.ticker, payload=update)
            )
        elif isinstance(heard, MarketLifecycle):
            # what the `market_lifecycle_v2` subscription carries: a pause, a close, a result
            market = self.exchange.reference.markets[heard.ticker]
            body = ser.ws_lifecycle_msg(market, heard.event_type, heard.ts)
            message = msgspec.convert(body, Lifecycle)
            self.messages.append(FeedMessage(MessageKind.LIFECYCLE, heard.ticker, payload=message))

    def _hears(self, heard: OrderChanged | MarketLifecycle) -> bool:
        ticker = heard.order.ticker if isinstance(heard, OrderChanged) else heard.ticker
        return not self.tickers or ticker in self.tickers | self.followed

    def follow(self, tickers: Sequence[str]) -> None:
        self.followed.update(tickers)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def show(self, book: Orderbook) -> None:
        self.shown[book.ticker] = book
        self.last_at = self.clock.monotonic()
        self.messages.append(FeedMessage(MessageKind.BOOK, book.ticker))

    def book(self, ticker: str) -> Orderbook | None:
        self.clock.advance(self.read_cost_s)
        if ticker in self.shown:
            return self.shown[ticker]
        yes, no = self.exchange.engine.book(ticker)
        return Orderbook(ticker, tuple(sorted(yes, reverse=True)), tuple(sorted(no, reverse=True)))

    def is_fresh(self, ticker: str) -> bool:
        return ticker not in self.stale and not self.silent

    def data_age(self, ticker: str) -> float:
        return self.clock.monotonic() - self.last_at if self.is_fresh(ticker) else math.inf

    def last_message_age(self) -> float:
        return self.clock.monotonic() - self.last_at

    def drain_messages(self) -> list[FeedMessage]:
        messages, self.messages = self.messages, []
        return messages


def money(text: str) -> Decimal:
    return Decimal(text)


@dataclass
class Rig:
    """A loop on the fakes, with what the tests look at."""

    loop: Any
    client: FakeClient
    feed: FakeFeed
    store: Any
    clock: ManualClock
    exchange: Exchange

    def step(self, seconds: float = 0.5) -> None:
        self.clock.advance(seconds)
        self.client.deliver_held()
        self.exchange.tick()
        self.loop.tick(self.feed.drain_messages(), full=True)

    def buy_yes(self, ticker: str, price: Decimal | str, count: Decimal | int | str) -> None:
        """The account buys YES at up to `price` behind the loop's back, and the loop's next
        step books the fill."""
        self.hand_buy_yes(ticker, price, count)
        self.step(0.1)

    def hand_buy_yes(self, ticker: str, price: Decimal | str, count: Decimal | int | str) -> None:
        """The account buys YES at up to `price` by hand: an IOC placed on the exchange, taking
        the asks, told to the loop only by the feed's messages and its own reads."""
        place_on_desk(
            self.exchange,
            self.client.account_id,
            ticker,
            BookSide.BID,
            price,
            count,
            time_in_force=TimeInForce.IOC,
        )


def another_trader_places(
    exchange: Exchange,
    ticker: str,
    book_side: BookSide,
    price: Decimal,
    count: Decimal,
    *,
    time_in_force: TimeInForce = TimeInForce.IOC,
) -> PlaceResult:
    """An order of another trader (a new account of its own, funded), placed on the exchange
    behind the loop's back: what the loop hears of it is what the feed and its reads say."""
    other = exchange.accounts.create_account(
        key_id=f"other-{next(_OTHERS)}", public_key_pem="", cash_cents=10_000_000
    )
    return place_on_desk(
        exchange, other.account_id, ticker, book_side, price, count, time_in_force=time_in_force
    )


_OTHERS = itertools.count(1)


def scenario_rig(tmp_path: Path, scenario: str, **kwargs: Any) -> Rig:
    """A loop (`make_rig`, with `kwargs`) over an in-process exchange built from `scenario`, a
    scenario file's text, on a manual clock at START, its state file in `tmp_path`."""
    path = tmp_path / "scenario.yaml"
    path.write_text(scenario)
    clock = ManualClock(START)
    return make_rig(tmp_path / "s.db", exchange=new_exchange(path, clock), clock=clock, **kwargs)


# the logs `make_rig` opened, closed when the test ends (tests/conftest.py)
_RIG_LOGS: list[EntryLog] = []


def close_rig_logs() -> None:
    while _RIG_LOGS:
        _RIG_LOGS.pop().close()


def make_rig(
    state_path: Path,
    *,
    strategy: str = "spike",
    exchange: Exchange | None = None,
    clock: ManualClock | None = None,
    account_id: str | None = None,
    risk: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    dry_run: bool = False,
    log_path: Path | None = None,
    read_lag_s: float | None = None,
    trade: dict[str, Any] | None = None,
    strategies: Sequence[Any] = (),  # specs, or StrategyChoice with its params file
    assign: tuple[tuple[str, str], ...] = (),
    send_workers: int = 0,  # the loop's exchange calls on the deciding thread, by default
    alerts: Any = None,  # the loop's TradeAlerts, if it alerts
    # `LoopSettings` fields past the config's; `decide` runs in the step unless a test of its
    # real-time deadline sets `decide_deadline` (DECIDES_IN_STEP)
    settings: dict[str, Any] | None = None,
    tickers: Sequence[str] = (),  # the markets the loop trades (none named: every open one)
    carried: CarriedMarkets | None = None,  # the markets the feed's orders subscription carries
) -> Rig:
    from kalshi_cli.runner.assembly import LoopInputs, build_loop
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.config import StrategyChoice, TradeConfig, TradeOptions
    from kalshi_cli.store import Store

    clock = clock or ManualClock(START)
    exchange = exchange or new_exchange(clock=clock)
    account_id = account_id or trader(exchange)
    client = FakeClient(exchange, account_id, clock=clock)
    feed = FakeFeed(exchange, account_id, clock, tickers)
    feed.orders_carried = carried
    store = Store.open(state_path, clock=clock)
    log = EntryLog(clock, path=log_path, stderr=None)
    _RIG_LOGS.append(log)
    from kalshi_cli.strategies import get_strategy

    # params sit under the strategy's name, whatever spelling (a file's path) chose it; a
    # lineup of several (`strategies`) takes each one's defaults
    choices = tuple(
        StrategyChoice(s) if isinstance(s, str) else s for s in (tuple(strategies) or (strategy,))
    )
    config = TradeConfig(
        strategies={get_strategy(choices[0].spec).name: params or {}},
        risk=risk or {},
        trade=trade or {},
    )
    markets = [client.get_market(t) for t in exchange.reference.markets]
    inputs = LoopInputs(
        client,
        store,
        feed,
        clock,
        log,
        alerts,
        send_workers=send_workers,
        adjust=adjusted({**DECIDES_IN_STEP, **(settings or {})}),
    )
    if read_lag_s is not None:
        inputs.read_lag_s = read_lag_s
    loop = build_loop(
        inputs,
        TradeOptions(strategies=choices, dry_run=dry_run, assign=assign),
        config,
        [m for m in markets if m.is_open and (not tickers or m.ticker in tickers)],
    )
    return Rig(loop, client, feed, store, clock, exchange)


# A rig's clock is manual, while a strategy's `decide` runs on a worker under a real-time deadline
# (strategies/deadline.py): a test that asserts what a step decided, and is not about that
# deadline, decides on the loop's thread, as a backtest does, so a slow host cannot leave a step
# with nothing decided.
DECIDES_IN_STEP: dict[str, Any] = {"decide_deadline": False}
# ... and a test of that deadline decides on the worker, as a live loop does
DECIDES_ON_A_WORKER: dict[str, Any] = {"decide_deadline": True}


def adjusted(settings: dict[str, Any] | None) -> Callable[[LoopSettings], LoopSettings] | None:
    """What a loop's settings are made into (`LoopInputs.adjust`): `settings` set over them."""
    return None if not settings else lambda built: replace(built, **settings)


def quiet_market_maker(tmp_path: Path, **kw: Any) -> Rig:
    """The market maker on the quiet scenario, whose books stand still, on a clock of its own:
    a loop for tests that decide its orders themselves. `kw` are `make_rig`'s."""
    clock = ManualClock(START)
    return make_rig(
        tmp_path / "s.db",
        strategy="market-maker",
        exchange=new_exchange("quiet", clock),
        clock=clock,
        **kw,
    )


def swap_decide(loop: Any, decide: Any, name: str | None = None) -> None:
    """The loop's strategy `name` (its first by default), deciding through `decide` from the
    next call on."""
    member = loop.reloads.lineup.members[0] if name is None else loop.reloads.lineup.get(name)
    # a decide of the test's own reads what it reads: the built-in's `reads_top` is not its claim
    strategy = replace(member.strategy, decide_fn=decide, reads_top=False)
    loop.reloads.replace(replace(member, strategy=strategy))

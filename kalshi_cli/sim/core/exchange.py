"""The simulated exchange: markets, books, matching, accounts, fees and settlement. No I/O
except the optional journal (sim/core/journal.py); time comes from the injected clock.

`Exchange` *has* its parts, each with its own state and handed only the parts it needs:
`Reference` (series, events, markets, fees, and the clock, ids, listeners and journal they
share), `Ledger` (accounts.py: cash, positions, collateral), `MatchingEngine` (matching.py: the
books, planning and applying orders, reaching the accounts only through `EngineAccounts`),
`Settlement`, `OrderGroups` and `Subaccounts`. `Exchange` itself is the request-level API the
routes and the local venue call, one method per operation, each checking, journaling and then
changing, in that order; a raising call changes no state. Its conventions (YES prices, one book
of bids and asks, netted positions), refusals, lifecycle and the conservation the property tests
check are in docs/simulator.md "Conventions of the core".
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal

from kalshi_cli.sim.core.accounts import AccountState, Ledger
from kalshi_cli.sim.core.book import Book, BookSideLevels
from kalshi_cli.sim.core.client_ids import IdColumn, UsedClientIds
from kalshi_cli.sim.core.communications import Communications, SimQuote, SimRfq
from kalshi_cli.sim.core.journal import Journal, JournalError, read_snapshot, write_snapshot
from kalshi_cli.sim.core.matching import DAY, MatchingEngine
from kalshi_cli.sim.core.order_groups import OrderGroups, SimOrderGroup
from kalshi_cli.sim.core.record_views import NewestFirst, OrdersNewestFirst, TradeTimeline
from kalshi_cli.sim.core.records import (
    Account,
    BookChanged,
    EventCreated,
    EventFeeUpdated,
    ExchangeError,
    FillHappened,
    Listener,
    MarketLifecycle,
    MarketStatus,
    OrderChanged,
    OrderGroupChanged,
    PlaceResult,
    PositionChanged,
    SimEvent,
    SimEventFeeChange,
    SimEventT,
    SimFeeChange,
    SimFill,
    SimMarket,
    SimOrder,
    SimPosition,
    SimSeries,
    SimSettlement,
    SimTrade,
    TradeHappened,
    copy_order,
    keeps_place,
    not_found,
)
from kalshi_cli.sim.core.records import owner as owner_of_ledger
from kalshi_cli.sim.core.reference import (
    _SEQ_BITS,
    _VALID_COUNTS,
    Reference,
    _market_ticks,
    market_from_record,
)
from kalshi_cli.sim.core.settlement import Settlement
from kalshi_cli.sim.core.subaccounts import (
    DEFAULT_SCOPES,
    Keyring,
    SimApiKey,
    SimTransfer,
    Subaccounts,
    UserAccounts,
)
from kalshi_cli.sim.core.trade_archive import SNAPSHOT_TYPES as ARCHIVE_SNAPSHOT_TYPES
from kalshi_cli.sim.core.trade_archive import (
    FillArchive,
    OrderArchive,
    TradeArchive,
    id_counter,
    merge_by_counter,
)
from kalshi_cli.sim.core.volume_window import VolumeWindow
from kalshi_cli.vocabulary.clock import Clock
from kalshi_cli.vocabulary.models import (
    ONE,
    ZERO,
    BookSide,
    FeeCharge,
    FeeModel,
    FeeType,
    PriceRange,
    SelfTradePrevention,
    TimeInForce,
)
from kalshi_cli.vocabulary.units import Action, OrderStatus, Side

__all__ = [
    "Account",
    "BookChanged",
    "EventCreated",
    "EventFeeUpdated",
    "Exchange",
    "ExchangeError",
    "FillHappened",
    "Listener",
    "MarketLifecycle",
    "MarketStatus",
    "OrderChanged",
    "OrderGroupChanged",
    "PlaceResult",
    "PositionChanged",
    "SimEvent",
    "SimEventFeeChange",
    "SimEventT",
    "SimFeeChange",
    "SimFill",
    "SimMarket",
    "SimOrder",
    "SimOrderGroup",
    "SimPosition",
    "SimSeries",
    "SimSettlement",
    "SimTrade",
    "TradeHappened",
    "not_found",
]

# Every class whose objects the persisted state holds (`Exchange._PERSISTED`): a snapshot
# names no other, and reading one creates no other (sim/core/journal.py).
_SNAPSHOT_TYPES: tuple[type, ...] = (
    Account,
    AccountState,
    Book,
    BookSideLevels,
    IdColumn,
    UsedClientIds,
    VolumeWindow,
    Keyring,
    UserAccounts,
    SimApiKey,
    SimTransfer,
    SimSeries,
    SimFeeChange,
    SimEvent,
    SimEventFeeChange,
    SimMarket,
    SimOrder,
    SimFill,
    SimTrade,
    SimPosition,
    SimSettlement,
    SimOrderGroup,
    SimRfq,
    SimQuote,
    FeeModel,
    FeeCharge,
    FeeType,
    PriceRange,
    BookSide,
    Side,
    Action,
    TimeInForce,
    SelfTradePrevention,
    OrderStatus,
    *ARCHIVE_SNAPSHOT_TYPES,
)


def _matched(
    order: SimOrder, steps: Sequence[tuple[str, SimOrder, Decimal]]
) -> list[tuple[SimOrder, Decimal]]:
    """The orders a match filled and how much of each: the incoming one and its makers."""
    fills = [(maker, amount) for kind, maker, amount in steps if kind == "fill"]
    taken = sum((amount for _, amount in fills), ZERO)
    return [(order, taken), *fills] if fills else []


def _refuse_terms(
    time_in_force: TimeInForce,
    expiration_time: int | None,
    post_only: bool,
    reduce_only: bool,
    now: float,  # unix seconds
) -> None:
    """Refuse an order whose terms do not go together, in the order Kalshi checks them."""
    if expiration_time is not None:
        if time_in_force is not TimeInForce.GTC:
            raise ExchangeError(
                400, "invalid_parameters", "expiration_time needs good_till_canceled"
            )
        if expiration_time <= now:
            raise ExchangeError(400, "invalid_parameters", "expiration_time is in the past")
    if post_only and time_in_force is not TimeInForce.GTC:
        raise ExchangeError(400, "invalid_parameters", "post_only needs good_till_canceled")
    if reduce_only and time_in_force is not TimeInForce.IOC:
        # API 3.31.0: "Orders with reduce_only set to true will be rejected unless
        # time_in_force is immediate_or_cancel."
        raise ExchangeError(400, "invalid_parameters", "reduce_only needs immediate_or_cancel")


def _order_exists() -> ExchangeError:
    """A client_order_id already used by any order of the account, even one long cancelled:
    Kalshi never frees them."""
    return ExchangeError(409, "order_already_exists", "order already exists")


class Exchange:
    def __init__(
        self,
        clock: Clock,
        *,
        fees: FeeModel | None = None,
        journal: Path | None = None,
        fsync: bool = False,
        snapshot_every: int = 100_000,
    ) -> None:
        """`journal`: when given, every state change is persisted there (and replayed on
        construction) so a restarted simulator keeps accounts, orders, positions and history,
        even after a kill -9 (no acknowledged order may be lost). `fsync` also forces each
        record to disk (survives a power cut; much slower). After `snapshot_every` records,
        `tick()` compacts the journal into a snapshot so a restart stays fast."""
        self._ref = Reference(clock, fees)
        self._ledger = Ledger(self._ref)
        self._engine = MatchingEngine(self._ref, self._ledger)
        self._settlement = Settlement(self._ref, self._ledger, self._engine)
        self._groups = OrderGroups(self._ref, self._ledger, self._engine, self._live_order)
        self._subaccounts = Subaccounts(self._ref, self._ledger)
        self._tick_hooks: list[Callable[[float], None]] = []
        # (scheduled_ts, id) of event fee changes not yet announced (`event_fee_update`)
        self._event_fees_due: list[tuple[float, str]] = []
        self._orders: dict[str, SimOrder] = {}  # order id -> every live order
        self._trade_archive = TradeArchive()  # trades a minute old (archive_trades)
        self._fill_archives: dict[str, FillArchive] = {}  # account -> fills a minute old
        self._order_archives: dict[str, OrderArchive] = {}  # account -> finished orders, too
        self._fills_due = self._orders_due = -math.inf  # archive_fills, archive_orders
        self.rfqs: dict[str, SimRfq] = {}  # RFQs and quotes: sim/core/communications.py
        self.quotes: dict[str, SimQuote] = {}
        self.communications = Communications(self)
        self.restored = False
        """True when state was restored from an existing journal."""
        self._generation = 0
        self._snapshot_every = snapshot_every
        if journal is not None:
            opened = Journal(journal, fsync=fsync)
            try:
                self._open_journal(opened)
            except BaseException:
                opened.close()  # refused: no file of it is left open
                raise

    # listeners and hooks --------------------------------------------------------------------

    def add_tick_hook(self, hook: Callable[[float], None]) -> None:
        """`hook(now)` runs on every `tick()`, after expiries and the market schedule (the
        scenario's background participants are such hooks)."""
        self._tick_hooks.append(hook)

    # the parts the exchange has, at its facade ----------------------------------------------
    # (the routes, the WebSocket, the venue and the tests call these; each forwards to the
    # part that owns it)

    @property
    def default_fees(self) -> FeeModel:
        """The fee model of every series that sets none of its own."""
        return self._ref.default_fees

    @property
    def created_time(self) -> float:
        return self._ref.created_time

    @property
    def fees_collected(self) -> Decimal:
        return self._engine.fees_collected

    def add_market(self, market: SimMarket) -> None:
        self._ref.add_market(market)
        self._engine.open_market(market.ticker)
        self._ledger.open_market(market.ticker)
        self._ref.announce_market(market)

    # Reference (reference.py) -----------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._ref.add_listener(listener)

    def add_series(self, series: SimSeries) -> None:
        self._ref.add_series(series)

    def series_fees(self, series_ticker: str, at: float | None = None) -> FeeModel:
        return self._ref.series_fees(series_ticker, at)

    def fee_changes(self, series_ticker: str | None = None) -> list[SimFeeChange]:
        return self._ref.fee_changes(series_ticker)

    def event_fee_override(
        self, event_ticker: str, at: float | None = None
    ) -> tuple[str, str | None] | None:
        return self._ref.event_fee_override(event_ticker, at)

    def event_fee_changes(self, event_ticker: str | None = None) -> list[SimEventFeeChange]:
        return self._ref.event_fee_changes(event_ticker)

    def fee_model(self, ticker: str, at: float | None = None) -> FeeModel:
        return self._ref.fee_model(ticker, at)

    def add_event(self, event: SimEvent) -> None:
        self._ref.add_event(event)

    @property
    def series(self) -> dict[str, SimSeries]:
        return self._ref.series

    @property
    def events(self) -> dict[str, SimEvent]:
        return self._ref.events

    @property
    def markets(self) -> dict[str, SimMarket]:
        return self._ref.markets

    # Ledger (accounts.py) ---------------------------------------------------

    def create_account(self, *, key_id: str, public_key_pem: str, cash_cents: int) -> Account:
        return self._ledger.create_account(
            key_id=key_id, public_key_pem=public_key_pem, cash_cents=cash_cents
        )

    def account(self, account_id: str) -> Account:
        return self._ledger.account(account_id)

    @property
    def accounts(self) -> list[Account]:
        return self._ledger.accounts

    def resting_collateral_cents(self, account_id: str) -> int:
        return self._ledger.resting_collateral_cents(account_id)

    def portfolio_value_cents(self, account_id: str) -> int:
        return self._ledger.portfolio_value_cents(account_id)

    def cash_dollars(self, account_id: str) -> Decimal:
        return self._ledger.cash_dollars(account_id)

    def held_dollars(self, account_id: str) -> Decimal:
        return self._ledger.held_dollars(account_id)

    @property
    def deposited(self) -> Decimal:
        return self._ledger.deposited

    def open_interest(self) -> Decimal:
        return self._ledger.open_interest()

    # MatchingEngine (matching.py) -------------------------------------------

    def book(
        self, ticker: str, depth: int = 0
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        return self._engine.book(ticker, depth)

    def off_book(self, ticker: str) -> AbstractContextManager[None]:
        return self._engine.off_book(ticker)

    def best_bids(self, ticker: str) -> tuple[Decimal | None, Decimal | None]:
        return self._engine.best_bids(ticker)

    # Settlement (settlement.py) ---------------------------------------------

    def set_market_status(self, ticker: str, status: MarketStatus) -> SimMarket:
        return self._settlement.set_market_status(ticker, status)

    def settle(
        self, ticker: str, result: Literal["yes", "no"], expiration_value: str = ""
    ) -> SimMarket:
        return self._settlement.settle(ticker, result, expiration_value)

    # OrderGroups (order_groups.py) ------------------------------------------

    def create_order_group(self, account_id: str, contracts_limit: Decimal) -> SimOrderGroup:
        return self._groups.create_order_group(account_id, contracts_limit)

    def order_group(self, account_id: str, order_group_id: str) -> SimOrderGroup:
        return self._groups.order_group(account_id, order_group_id)

    def order_groups(self, *account_ids: str) -> list[SimOrderGroup]:
        return self._groups.order_groups(*account_ids)

    def trigger_order_group(self, account_id: str, order_group_id: str) -> SimOrderGroup:
        return self._groups.trigger_order_group(account_id, order_group_id)

    def reset_order_group(self, account_id: str, order_group_id: str) -> SimOrderGroup:
        return self._groups.reset_order_group(account_id, order_group_id)

    def set_order_group_limit(
        self, account_id: str, order_group_id: str, contracts_limit: Decimal
    ) -> SimOrderGroup:
        return self._groups.set_order_group_limit(account_id, order_group_id, contracts_limit)

    def delete_order_group(self, account_id: str, order_group_id: str) -> None:
        self._groups.delete_order_group(account_id, order_group_id)

    # Subaccounts (subaccounts.py) -------------------------------------------

    def subaccount_numbers(self, user: str) -> list[int]:
        return self._subaccounts.subaccount_numbers(user)

    def subaccount_ledger(self, user: str, subaccount: int) -> str:
        return self._subaccounts.subaccount_ledger(user, subaccount)

    def create_subaccount(self, user: str) -> int:
        return self._subaccounts.create_subaccount(user)

    def transfer(
        self,
        user: str,
        *,
        client_transfer_id: str,
        from_subaccount: int,
        to_subaccount: int,
        amount_cents: int,
    ) -> SimTransfer:
        return self._subaccounts.transfer(
            user,
            client_transfer_id=client_transfer_id,
            from_subaccount=from_subaccount,
            to_subaccount=to_subaccount,
            amount_cents=amount_cents,
        )

    def transfers(self, user: str) -> list[SimTransfer]:
        return self._subaccounts.transfers(user)

    def balance_updated(self, user: str, subaccount: int) -> float:
        return self._subaccounts.balance_updated(user, subaccount)

    def set_netting(self, user: str, subaccount: int, enabled: bool) -> None:
        self._subaccounts.set_netting(user, subaccount, enabled)

    def netting(self, user: str) -> dict[int, bool]:
        return self._subaccounts.netting(user)

    def account_by_key(self, key_id: str) -> Account | None:
        return self._subaccounts.account_by_key(key_id)

    def api_key(self, key_id: str) -> SimApiKey | None:
        return self._subaccounts.api_key(key_id)

    def public_key_of(self, key_id: str) -> str | None:
        return self._subaccounts.public_key_of(key_id)

    def api_keys(self, user: str) -> list[SimApiKey]:
        return self._subaccounts.api_keys(user)

    def add_api_key(
        self,
        user: str,
        *,
        name: str,
        public_key_pem: str,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        subaccount: int | None = None,
        key_id: str | None = None,
    ) -> SimApiKey:
        return self._subaccounts.add_api_key(
            user,
            name=name,
            public_key_pem=public_key_pem,
            scopes=scopes,
            subaccount=subaccount,
            key_id=key_id,
        )

    def delete_api_key(self, user: str, key_id: str) -> None:
        self._subaccounts.delete_api_key(user, key_id)

    # orders ---------------------------------------------------------------------------------

    def place_order(
        self,
        account_id: str,
        *,
        ticker: str,
        book_side: BookSide,
        price: Decimal,
        count: Decimal,
        time_in_force: TimeInForce,
        self_trade_prevention: SelfTradePrevention,
        client_order_id: str | None = None,
        post_only: bool = False,
        reduce_only: bool = False,
        expiration_time: int | None = None,
        cancel_order_on_pause: bool = False,
        order_group_id: str | None = None,
    ) -> PlaceResult:
        # `_acct`, `_market` and `_require_open` read without a call where they pass (the hot
        # path); each one refuses as it always did otherwise
        acct = self._ledger.states.get(account_id)
        if acct is None:
            acct = self._ledger.acct(account_id)
        market = self._ref.markets.get(ticker)
        if market is None or market.status != "open":
            self._ref.require_open(self._ref.market(ticker))
            assert market is not None  # `_require_open` refused anything else
        # `_check_price` and `_check_count` where they pass at once (`is_finite` first: a
        # signalling NaN cannot be hashed); each checks in full and refuses otherwise
        if not (price.is_finite() and price in _market_ticks(market.price_ranges)):
            self._ref.check_price(market, price)
        if not (count.is_finite() and count in _VALID_COUNTS[market.fractional_trading_enabled]):
            self._ref.check_count(market, count)
        replay_ts = self._ref.replay_ts  # `_now()`, inline
        now = self._ref.clock.wall() if replay_ts is None else replay_ts
        _refuse_terms(time_in_force, expiration_time, post_only, reduce_only, now)
        if client_order_id is not None and client_order_id in acct.client_ids:
            raise _order_exists()
        if order_group_id is not None:
            self._groups.open_group(account_id, order_group_id)
        buy_yes = book_side is BookSide.BID
        if reduce_only:
            position = self._ledger.position_of(acct, ticker)
            reducible = -position if buy_yes else position
            if count > reducible:
                raise ExchangeError(
                    400,
                    "invalid_reduce_only",
                    f"a reduce-only order may close at most {max(reducible, ZERO)} contracts",
                )
        own = price if buy_yes else ONE - price
        plan = self._engine.plan(
            acct,
            ticker,
            buy_yes=buy_yes,
            own=own,
            count=count,
            stp=self_trade_prevention,
            post_only=post_only,
            time_in_force=time_in_force,
            replacing=None,
            now=now,
        )
        # `Reference.new_id()`, inline: its number is the prefix's, then `seq`
        seq = self._ref.seq + 1
        self._ref.seq = seq
        order_id = f"{self._ref.id_prefix}{seq:012x}"
        coid = client_order_id if client_order_id is not None else order_id
        if self._ref.journal is not None and self._ref.replay_ts is None:  # `_journaling`
            self._ref.log_at(
                now,
                "place",
                account_id=account_id,
                ticker=ticker,
                book_side=book_side.value,
                price=str(price),
                count=str(count),
                time_in_force=time_in_force.value,
                self_trade_prevention=self_trade_prevention.value,
                client_order_id=coid,
                post_only=post_only,
                reduce_only=reduce_only,
                expiration_time=expiration_time,
                cancel_order_on_pause=cancel_order_on_pause,
                order_group_id=order_group_id,
            )
        order = SimOrder(  # positional (the hot path): the fields in records.SimOrder's order
            order_id,
            account_id,
            coid,
            ticker,
            book_side,
            price,
            count,  # initial_count
            ZERO,  # fill_count
            count,  # remaining_count
            "resting",
            time_in_force,
            post_only,
            reduce_only,
            self_trade_prevention,
            expiration_time,
            now,  # created_time
            now,  # last_update_time
            ZERO,  # taker_fill_cost
            ZERO,  # maker_fill_cost
            ZERO,  # taker_fees
            ZERO,  # maker_fees
            cancel_order_on_pause,
            ZERO,  # fee_accumulator
            order_group_id,
        )
        self._orders[order_id] = order
        acct.orders.append(order)
        # `_new_id_number(order_id)` without the parse: a counter of 48 bits or fewer gives a
        # canonical UUID, whose number is the prefix's bits then the counter
        if client_order_id is not None or seq >> _SEQ_BITS:
            acct.client_ids.add(coid)
        else:  # the exchange's own id, made from its counter: no parse
            acct.client_ids.add_number(coid, self._ref.id_number | seq)
        if order_group_id is not None:
            self._groups.join(order)
        fills = self._engine.apply(order, plan, now)
        if self._groups.groups:
            self._groups.count_matched(_matched(order, plan.steps), now)
        # an order that does not rest is final: nothing changes it again (amends, cancels and
        # decreases take resting orders only), so it is its own snapshot and needs no copy
        return PlaceResult(copy_order(order) if order.status == "resting" else order, fills)

    def cancel_order(self, account_id: str, order_id: str) -> tuple[SimOrder, Decimal]:
        """Returns the canceled order and the count that was still open (reduced_by). An order
        that no longer rests is `not_found`, byte for byte like one that never existed."""
        self._ledger.acct(account_id)
        order = self.order(account_id, order_id)
        if order.status != "resting":
            raise not_found()
        now = self._ref.now()
        self._ref.log_at(now, "cancel", account_id=account_id, order_id=order_id)
        reduced_by = order.remaining_count
        self._engine.take_off(order, reduced_by, now, cause=order)
        self._ledger.rehold(self._ledger.states[account_id], order.ticker)
        return copy_order(order), reduced_by

    def cancel_all(
        self, account_id: str, *, ticker: str | None = None
    ) -> list[tuple[SimOrder, Decimal]]:
        """Cancels every resting order of the account (of one market when `ticker` is given)."""
        acct = self._ledger.acct(account_id)
        now = self._ref.now()
        targets = [
            o
            for t, orders in acct.resting.items()
            if ticker is None or t == ticker
            for o in orders.values()
        ]
        if not targets:
            return []
        self._ref.log_at(now, "cancel_all", account_id=account_id, ticker=ticker)
        result = []
        for order in targets:
            reduced_by = order.remaining_count
            self._engine.take_off(order, reduced_by, now, cause=order)
            result.append((copy_order(order), reduced_by))
        for t in {o.ticker for o in targets}:
            self._ledger.rehold(acct, t)
        return result

    def amend_order(
        self,
        account_id: str,
        order_id: str,
        *,
        ticker: str,
        book_side: BookSide,
        price: Decimal,
        count: Decimal,
        updated_client_order_id: str | None = None,
        expiration_time: int | None = None,
    ) -> tuple[SimOrder, SimOrder, list[SimFill]]:
        """`count` is the new total (filled + to rest). Returns (old, new, fills).

        `expiration_time` (API 3.31.0): None keeps the order's expiry, 0 removes it, any other
        value is the new one and must be in the future.

        The order keeps its place in the queue only when its price is unchanged and its size
        does not grow (an amend of the expiry alone, or a decrease); otherwise it goes to the
        back of its new level, and may cross and fill (as a taker) on the way."""
        order = self._owned_resting(account_id, order_id)
        acct = self._ledger.states[account_id]
        if ticker != order.ticker or book_side is not order.book_side:
            raise ExchangeError(
                400, "invalid_parameters", "ticker and side must match the order being amended"
            )
        market = self._ref.market(ticker)
        self._ref.require_open(market)
        self._ref.check_price(market, price)
        self._ref.check_count(market, count)
        if count <= order.fill_count:
            raise ExchangeError(
                400,
                "invalid_count",
                f"count is the new total and must exceed the {order.fill_count} already filled",
            )
        if (
            updated_client_order_id is not None
            and updated_client_order_id != order.client_order_id
            and updated_client_order_id in acct.client_ids
        ):
            raise _order_exists()
        now = self._ref.now()
        if expiration_time is not None and (expiration_time < 0 or 0 < expiration_time <= now):
            raise ExchangeError(
                400, "invalid_parameters", "expiration_time must be 0 or in the future"
            )
        new_remaining = count - order.fill_count
        if order.reduce_only:
            position = self._ledger.position_of(acct, ticker)
            reducible = position if book_side is BookSide.ASK else -position
            if new_remaining > max(reducible, order.remaining_count):
                raise ExchangeError(
                    400, "invalid_reduce_only", "a reduce-only order may not grow the position"
                )
        keeps = keeps_place(order, price, count)
        buy_yes = book_side is BookSide.BID
        own = price if buy_yes else ONE - price
        plan = None
        if not keeps:
            plan = self._engine.plan(
                acct,
                ticker,
                buy_yes=buy_yes,
                own=own,
                count=new_remaining,
                stp=order.self_trade_prevention,
                post_only=order.post_only,
                time_in_force=TimeInForce.GTC,
                replacing=order,
                now=now,
            )
        self._ref.log_at(
            now,
            "amend",
            account_id=account_id,
            order_id=order_id,
            ticker=ticker,
            book_side=book_side.value,
            price=str(price),
            count=str(count),
            updated_client_order_id=updated_client_order_id,
            expiration_time=expiration_time,
        )
        old = copy_order(order)
        if updated_client_order_id is not None and updated_client_order_id != order.client_order_id:
            acct.client_ids.add(updated_client_order_id)
            order.client_order_id = updated_client_order_id
        if expiration_time is not None:
            order.expiration_time = expiration_time or None
        fills: list[SimFill] = []
        if plan is None:
            self._engine.shrink(order, order.remaining_count - new_remaining, now)
            if expiration_time:  # a re-rested order is queued for expiry by `_rest`
                heapq.heappush(self._engine.expiries, (expiration_time, order.order_id))
        else:
            self._engine.take_off(order, order.remaining_count, now, cause=order, final=False)
            order.price = price
            order.remaining_count = new_remaining
            order.status = "resting"
            fills = self._engine.apply(order, plan, now)
            if self._groups.groups:
                self._groups.count_matched(_matched(order, plan.steps), now)
        order.initial_count = count
        order.last_update_time = now
        self._ledger.rehold(acct, ticker)
        if plan is None and self._ref.listeners:
            self._ref.emit(OrderChanged(copy_order(order)))
        return old, copy_order(order), fills

    def decrease_order(
        self,
        account_id: str,
        order_id: str,
        *,
        reduce_by: Decimal | None,
        reduce_to: Decimal | None,
    ) -> SimOrder:
        """Exactly one of `reduce_by` (capped at what is left) or `reduce_to` (at most what is
        left); reaching zero cancels the order. The order keeps its place in the queue."""
        order = self._owned_resting(account_id, order_id)
        market = self._ref.markets[order.ticker]
        if (reduce_by is None) == (reduce_to is None):
            raise ExchangeError(
                400, "invalid_parameters", "send exactly one of reduce_by, reduce_to"
            )
        if reduce_by is not None:
            if reduce_by <= 0:
                raise ExchangeError(400, "invalid_count", "reduce_by must be positive")
            self._ref.check_count(market, reduce_by)
            cut = min(reduce_by, order.remaining_count)
        else:
            assert reduce_to is not None
            if reduce_to < 0 or reduce_to > order.remaining_count:
                raise ExchangeError(
                    400, "invalid_count", f"reduce_to must be between 0 and {order.remaining_count}"
                )
            if reduce_to:
                self._ref.check_count(market, reduce_to)
            cut = order.remaining_count - reduce_to
        now = self._ref.now()
        self._ref.log_at(now, "decrease", account_id=account_id, order_id=order_id, cut=str(cut))
        self._decrease(order, cut, now)
        return copy_order(order)

    def to_back_of_queue(self, account_id: str, order_id: str) -> None:
        """Move a resting order to the back of its price level, changing nothing else about it
        or the book. Not a Kalshi request (no route calls it): the local venue's, which puts
        the recorded contracts its queue model has ahead of our order in front of it this way
        (kalshi_cli/venue/venue.py)."""
        order = self._owned_resting(account_id, order_id)
        self._ref.log_at(self._ref.now(), "to_back", account_id=account_id, order_id=order_id)
        self._engine.to_back(order)

    def _decrease(self, order: SimOrder, cut: Decimal, now: float | None = None) -> None:
        self._engine.shrink(order, cut, self._ref.now() if now is None else now)
        self._ledger.rehold(self._ledger.states[order.account_id], order.ticker)
        if self._ref.listeners and order.status == "resting":
            self._ref.emit(OrderChanged(copy_order(order)))

    # reads ----------------------------------------------------------------------------------

    def order(self, account_id: str, order_id: str) -> SimOrder:
        order = self._orders.get(order_id)
        if order is None:
            order = self._archived_order(account_id, order_id)
        if order is None or order.account_id != account_id:
            raise not_found()
        return order

    def orders(self, account_id: str, *, since: float | None = None) -> list[SimOrder]:
        """All orders of the account, newest first (of those `archive_orders` moved out, with
        `since`, only the ones last updated at or after it, as `fills`)."""
        live = self._ledger.acct(account_id).orders[::-1]
        archived = self._order_archives.get(account_id)
        return _with_archived(live, archived.newest_first(since)) if archived else live

    def resting_orders(self, account_id: str, ticker: str | None = None) -> list[SimOrder]:
        """The account's resting orders (of one market when `ticker` is given), oldest first;
        cheap, unlike filtering `orders()`."""
        resting = self._ledger.acct(account_id).resting
        if ticker is not None:
            return list(resting.get(ticker, {}).values())
        return [o for orders in resting.values() for o in orders.values()]

    def fills(self, account_id: str, *, since: float | None = None) -> list[SimFill]:
        """Newest first: the live ones, then those `archive_fills` moved out (of these, with
        `since`, only the ones made at or after it: a listing of the live tier asks for none
        older than its cutoff, so they are not rebuilt)."""
        live = self._ledger.acct(account_id).fills[::-1]
        archived = self._fill_archives.get(account_id)
        return live + list(archived.fills(since))[::-1] if archived else live

    def positions(self, account_id: str) -> list[SimPosition]:
        """Every market the account has traded, flat ones included (the server filters)."""
        return list(self._ledger.acct(account_id).positions.values())

    def settlements(self, account_id: str) -> list[SimSettlement]:
        """Newest first."""
        return self._ledger.acct(account_id).settlements[::-1]

    def trades(self, ticker: str | None = None, *, since: float | None = None) -> list[SimTrade]:
        """Newest first: the live ones, then those `archive_trades` moved out (with `since`,
        only those made at or after it, as `fills`)."""
        if ticker is None:
            live = self._engine.trades
        else:
            self._ref.market(ticker)
            live = self._engine.trades_by_ticker[ticker]
        if not self._trade_archive:
            return live[::-1]
        return live[::-1] + list(self._trade_archive.trades(ticker, since))[::-1]

    # time -----------------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance to the clock's now: expire orders past their expiration_time, move the
        background participants along their price paths, open/close markets on schedule."""
        now = self._ref.clock.wall()
        while self._engine.expiries and self._engine.expiries[0][0] <= now:
            _, order_id = heapq.heappop(self._engine.expiries)
            order = self._orders.get(order_id)  # None: finished and archived (archive_orders)
            expires = None if order is None else order.expiration_time
            if (
                order is not None
                and order.status == "resting"
                and expires is not None
                and expires <= now
            ):
                self._expire(order_id)
        for market in self._ref.markets.values():
            if market.status == "unopened" and market.open_time <= now < market.close_time:
                self.set_market_status(market.ticker, "open")
            elif market.status in ("open", "paused") and market.close_time <= now:
                self.set_market_status(market.ticker, "closed")
            window = self._engine.volume_window[market.ticker]
            if window.pending or window.oldest <= now - DAY:
                self._engine.trim_volume(market, now)
        while self._event_fees_due and self._event_fees_due[0][0] <= now:
            _, change_id = heapq.heappop(self._event_fees_due)
            self._ref.announce_event_fee(change_id)
        for hook in self._tick_hooks:
            hook(now)
        if self._ref.journal is not None and self._ref.since_snapshot >= self._snapshot_every:
            self.compact()

    def _expire(self, order_id: str) -> None:
        order = self._orders[order_id]
        now = self._ref.now()
        self._ref.log_at(now, "expire", order_id=order_id)
        self._engine.take_off(order, order.remaining_count, now, cause=order)
        self._ledger.rehold(self._ledger.states[order.account_id], order.ticker)

    # internals: validation ------------------------------------------------------------------

    def _live_order(self, order_id: str) -> SimOrder | None:
        return self._orders.get(order_id)

    def _owned_resting(self, account_id: str, order_id: str) -> SimOrder:
        self._ledger.acct(account_id)
        order = self.order(account_id, order_id)
        if order.status != "resting":
            raise ExchangeError(400, "order_not_resting", f"order {order_id} is {order.status}")
        return order

    # scheduled fee changes ------------------------------------------------------------------

    def schedule_fee_change(
        self, series_ticker: str, fee_type: str, fee_multiplier: str, scheduled_ts: float
    ) -> SimFeeChange:
        """Schedule a change of a series' fees (GET /series/fee_changes lists it): fills at or
        after `scheduled_ts` (unix seconds) pay the new fees, fills before it the old. The maker
        reserve of every market of the series is the highest maker rate among its own fees and
        all its changes, so it covers the fills on either side of a change; scheduling a change
        that raises it re-holds the resting orders of the series' markets at the new rate."""
        change = self._ref.schedule_fee_change(
            series_ticker, fee_type, fee_multiplier, scheduled_ts
        )
        self._ledger.rebuild_reserves(series_ticker)
        return change

    def schedule_event_fee_change(
        self,
        event_ticker: str,
        fee_type_override: str | None,
        fee_multiplier_override: str | None,
        scheduled_ts: float,  # unix seconds
    ) -> SimEventFeeChange:
        """Schedule a change of an event's fee override (GET /events/fee_changes lists it):
        fills in the event's markets at or after `scheduled_ts` pay the override (a None type
        clears it: the series' fees again). It is announced on `market_lifecycle_v2` as an
        `event_fee_update` when it takes effect. Resting orders of the event's markets are
        re-held when the change raises their maker reserve."""
        change = self._ref.schedule_event_fee_change(
            event_ticker, fee_type_override, fee_multiplier_override, scheduled_ts
        )
        self._ledger.rebuild_reserves(change.series_ticker)
        if change.scheduled_ts <= self._ref.now():
            self._ref.announce_event_fee(change.id)
        else:
            heapq.heappush(self._event_fees_due, (change.scheduled_ts, change.id))
        return change

    # journal --------------------------------------------------------------------------------

    # The persisted state: each snapshot key (the name the state had when the exchange was one
    # object, kept so an existing snapshot still reads) and the part that owns it, by the
    # part's attribute here ("" for the exchange itself) and its own attribute name. Each value
    # has exactly one owner, and no part keeps another's, so a snapshot is restored by setting
    # each value in its one place.
    _PERSISTED: ClassVar[dict[str, tuple[str, str]]] = {
        "_series": ("_ref", "_series"),
        "_series_fees": ("_ref", "_series_fees"),
        "_fee_changes": ("_ref", "_fee_changes"),
        "_event_fee_changes": ("_ref", "_event_fee_changes"),
        "_event_fees_due": ("", "_event_fees_due"),
        "_events": ("_ref", "_events"),
        "_markets": ("_ref", "_markets"),
        "_books": ("_engine", "books"),
        "_accounts": ("_ledger", "states"),
        "_by_key": ("_ledger", "by_key"),
        "_orders": ("", "_orders"),
        "_order_groups": ("_groups", "groups"),
        "_trades": ("_engine", "trades"),
        "_trades_by_ticker": ("_engine", "trades_by_ticker"),
        "_volume_window": ("_engine", "volume_window"),
        "_holders": ("_ledger", "holders"),
        "_expiries": ("_engine", "expiries"),
        "_fees_collected": ("_engine", "fees_collected"),
        "_deposited": ("_ledger", "_deposited"),
        "_seq": ("_ref", "seq"),
        "created_time": ("_ref", "created_time"),
        "_users": ("_subaccounts", "users"),
        "_keyring": ("_subaccounts", "keyring"),
        "rfqs": ("", "rfqs"),
        "quotes": ("", "quotes"),
        "_trade_archive": ("", "_trade_archive"),
        "_fill_archives": ("", "_fill_archives"),
        "_order_archives": ("", "_order_archives"),
    }

    def _owner(self, part: str) -> object:
        return getattr(self, part) if part else self

    def close(self) -> None:
        """Close the journal (every record is already flushed); the exchange is done with."""
        if self._ref.journal is not None:
            self._ref.journal.close()
            self._ref.journal = None

    def compact(self) -> None:
        """Write a snapshot of the whole state and start the journal afresh (see journal.py)."""
        if self._ref.journal is None:
            return
        generation = self._generation + 1
        state = {
            key: getattr(self._owner(part), name) for key, (part, name) in self._PERSISTED.items()
        }
        write_snapshot(
            self._ref.journal.path, {"generation": generation, "state": state}, _SNAPSHOT_TYPES
        )
        self._ref.journal.restart(self._init_record(generation))
        self._generation = generation
        self._ref.since_snapshot = 0

    def _init_record(self, generation: int) -> dict[str, Any]:
        return {
            "op": "init",
            "ts": self._ref.created_time,
            "salt": format(self._ref.salt, "x"),
            "generation": generation,
        }

    def _open_journal(self, journal: Journal) -> None:
        records = journal.records()
        first = next(records, None)
        snapshot = read_snapshot(journal.path, _SNAPSHOT_TYPES)
        if first is None:
            if snapshot is not None:
                raise JournalError(f"{journal.path}: empty, but a snapshot exists beside it")
            journal.append(self._init_record(0))
            self._ref.journal = journal
            return
        if first.get("op") != "init":
            raise JournalError(f"{journal.path}: does not start with an init record")
        self._ref.set_salt(int(first["salt"], 16))
        self._ref.created_time = float(first["ts"])  # unix seconds
        self._generation = int(first.get("generation", 0))
        skip = False
        if snapshot is not None:
            ahead = int(snapshot["generation"]) - self._generation
            if ahead not in (0, 1):
                raise JournalError(f"{journal.path}: snapshot and journal do not belong together")
            for key, value in snapshot["state"].items():
                part, name = self._PERSISTED[key]
                setattr(self._owner(part), name, value)
            self.restored = True
            skip = ahead == 1  # crashed after the snapshot, before the journal restarted
        for record in records:
            if skip:
                continue
            self._replay(record)
            self.restored = True
            self._ref.since_snapshot += 1
        self._ref.replay_ts = None
        self._ref.journal = journal
        if skip:
            self._generation += 1
            journal.restart(self._init_record(self._generation))

    def _replay(self, rec: dict[str, Any]) -> None:
        """Apply one journal record again, at its time: the core's own kinds (`_REPLAYS`), then
        those of the parts the core has (order groups, subaccounts, RFQs and quotes)."""
        self._ref.replay_ts = float(rec["ts"])  # unix seconds
        op = rec["op"]
        try:
            replay = _REPLAYS.get(op)
            if replay is not None:
                replay(self, rec)
            elif op.startswith("order_group_"):
                self._groups.replay(rec)
            elif self._subaccounts.replay(rec):
                pass
            elif op in Communications.OPS:
                self.communications.replay(rec)
            else:
                raise JournalError(f"unknown journal record {op!r}")
        except ExchangeError as exc:
            raise JournalError(
                f"journal record {op} at {rec['ts']} no longer applies: {exc}"
            ) from exc

    def _replay_place(self, rec: dict[str, Any]) -> None:
        self.place_order(
            rec["account_id"],
            ticker=rec["ticker"],
            book_side=BookSide(rec["book_side"]),
            price=Decimal(rec["price"]),
            count=Decimal(rec["count"]),
            time_in_force=TimeInForce(rec["time_in_force"]),
            self_trade_prevention=SelfTradePrevention(rec["self_trade_prevention"]),
            client_order_id=rec["client_order_id"],
            post_only=bool(rec["post_only"]),
            reduce_only=bool(rec["reduce_only"]),
            expiration_time=rec["expiration_time"],
            cancel_order_on_pause=bool(rec.get("cancel_order_on_pause", False)),
            order_group_id=rec.get("order_group_id"),
        )

    def _replay_amend(self, rec: dict[str, Any]) -> None:
        self.amend_order(
            rec["account_id"],
            rec["order_id"],
            ticker=rec["ticker"],
            book_side=BookSide(rec["book_side"]),
            price=Decimal(rec["price"]),
            count=Decimal(rec["count"]),
            updated_client_order_id=rec["updated_client_order_id"],
            expiration_time=rec.get("expiration_time"),
        )

    def _replay_fee_change(self, rec: dict[str, Any]) -> None:
        self.schedule_fee_change(
            rec["series_ticker"],
            rec["fee_type"],
            rec["fee_multiplier"],
            float(rec["scheduled_ts"]),  # unix seconds
        )

    def _replay_event_fee_change(self, rec: dict[str, Any]) -> None:
        self.schedule_event_fee_change(
            rec["event_ticker"],
            rec["fee_type_override"],
            rec["fee_multiplier_override"],
            float(rec["scheduled_ts"]),  # unix seconds
        )

    def _replay_account(self, rec: dict[str, Any]) -> None:
        self.create_account(
            key_id=rec["key_id"],
            public_key_pem=rec["public_key_pem"],
            cash_cents=int(rec["cash_cents"]),
        )

    # queue positions ----------------------------------------------------------------------------

    def queue_position(self, account_id: str, order_id: str) -> Decimal:
        """The contracts resting ahead of a resting order at its price: what must trade before
        it fills at all (price-time priority; orders at better prices are not in its queue).
        An order that no longer rests has no queue: Kalshi's one order 404 (`not_found`)."""
        order = self.order(account_id, order_id)
        if order.status != "resting":
            raise not_found()
        buy_yes = order.book_side is BookSide.BID
        side = self._engine.books[order.ticker].side(buy_yes)
        ahead = side.ahead_of(order.price if buy_yes else ONE - order.price, order_id)
        return sum((o.remaining_count for o in ahead), ZERO)

    # RFQs and quotes --------------------------------------------------------------------------

    @contextmanager
    def journaled(self, op: str, **fields: Any) -> Iterator[float]:
        """One journal record for a write made outside the core (sim/core/communications.py), some
        of them made of several core calls (a confirmed quote places two orders). The record is
        written first; inside the block the core journals nothing of its own and its time stands
        still at the record's, as it will when the record is replayed (which runs the same block
        again). Yields that time."""
        if self._ref.replay_ts is not None:  # replaying, or inside another such block
            yield self._ref.replay_ts
            return
        now = self._ref.clock.wall()
        if self._ref.journal is not None:
            self._ref.journal.append({"op": op, "ts": now, **fields})
            self._ref.since_snapshot += 1
        self._ref.replay_ts = now
        try:
            yield now
        finally:
            self._ref.replay_ts = None

    # memory: finished orders of keyless participants ------------------------------------------

    def forget_finished_orders(self, account_id: str, keep: int) -> int:
        """Drop all but the newest `keep` finished (canceled or executed) orders of an account
        no client can sign for: a scenario's liquidity provider or noise trader (no public key
        and none added). Without this a long run kept every quote the provider ever replaced
        (62 -> 124 MB over ten minutes of 200 quoted markets). No request can read
        such an account's orders or fills, so nothing a client sees changes: its positions and
        the public trades stay; of its fills only the newest `keep` do. An order with an expiry
        or in an order group is kept (their indexes name it). Returns how many orders were
        dropped."""
        acct = self._ledger.acct(account_id)
        if not self._keyless(account_id):
            raise ValueError(f"account {account_id} has a key: its orders are readable")
        if len(acct.fills) > keep:
            del acct.fills[: len(acct.fills) - keep]  # oldest first: the newest `keep` stay
        resting = sum(len(orders) for orders in acct.resting.values())
        excess = len(acct.orders) - resting - keep
        if excess <= 0:
            return 0
        kept: list[SimOrder] = []
        dropped = 0
        for order in acct.orders:  # oldest first
            if (
                dropped < excess
                and order.status != "resting"
                and order.expiration_time is None
                and order.order_group_id is None
            ):
                del self._orders[order.order_id]
                acct.client_ids.discard(order.client_order_id)
                dropped += 1
            else:
                kept.append(order)
        acct.orders = kept
        return dropped

    # memory: records a minute old, stored compactly --------------------------------------------

    def archive_trades(self, before: float) -> int:
        """Move the trades made before `before` (oldest first, up to the first that is not) out
        of the live lists into the compact `TradeArchive` (sim/core/trade_archive.py); `trades()`
        still answers with them, equal and in order. A served exchange calls this on every tick
        (`historical.attach_retention`: records a minute old, or past the historical cutoff), so
        its lists of objects hold the last minute's trades only. Returns how many moved."""
        trades = self._engine.trades
        moved = 0
        while moved < len(trades) and trades[moved].ts < before:
            moved += 1
        if not moved:
            return 0
        per_ticker: dict[str, int] = {}
        for trade in trades[:moved]:
            self._trade_archive.append(trade)
            per_ticker[trade.ticker] = per_ticker.get(trade.ticker, 0) + 1
        del trades[:moved]
        for ticker, count in per_ticker.items():
            del self._engine.trades_by_ticker[ticker][:count]
        return moved

    def trade_timeline(self, ticker: str) -> TradeTimeline:
        """One market's trades oldest first, archived and live, read by position (candles read
        the window they need, not every trade)."""
        self._ref.market(ticker)
        return TradeTimeline(self._trade_archive, ticker, self._engine.trades_by_ticker[ticker])

    def trade_tiers(self) -> tuple[int, int]:
        """(trades held live, trades archived compactly)."""
        return len(self._engine.trades), len(self._trade_archive)

    def archive_fills(self, before: float, *, read_in_process: Collection[str] = ()) -> int:
        """As `archive_trades`, for the fills of every account a client can read (a key): each
        account's fills made before `before` (oldest first, up to the first that is not) move
        into its compact `FillArchive`; `fills()` still answers with them. A keyless
        participant's fills stay live: `forget_finished_orders` bounds them. Returns how many
        moved. `read_in_process` names keyless users a client reads all the same, in the same
        process (the local venue's trader, kalshi_cli/venue): theirs are archived as a keyed
        account's.

        A call with nothing due returns at once: each pass notes the oldest fill it left live
        (or its own time: a later fill is newer), and until `before` passes that no account is
        looked at, so a tick costs nothing unless a fill is due (a served exchange ticks ten
        times a second; the pass, and its key check of each account, once a fill is due). The
        note only delays a move: which tier serves a fill is `Archive`'s, by time."""
        if before <= self._fills_due:
            return 0
        due = self._ref.now()
        moved_all = 0
        for account_id, acct in self._ledger.states.items():
            fills = acct.fills
            if not fills:
                continue
            if fills[0].ts >= before:  # nothing to move (a keyless account only notes sooner)
                due = min(due, fills[0].ts)
                continue
            if self._unread(account_id, read_in_process):
                continue
            moved = 0
            while moved < len(fills) and fills[moved].ts < before:
                moved += 1
            if moved:
                archive = self._fill_archives.get(account_id)
                if archive is None:
                    archive = self._fill_archives[account_id] = FillArchive()
                for fill in fills[:moved]:
                    archive.append(fill)
                del fills[:moved]
                moved_all += moved
            if fills:
                due = min(due, fills[0].ts)
        self._fills_due = due
        return moved_all

    def archive_orders(self, before: float, *, read_in_process: Collection[str] = ()) -> int:
        """As `archive_fills`, for the finished (canceled or executed) orders of every account
        a client can read, last updated before `before` (`orders_updated_ts`; a resting order
        never moves): they leave the live list, the order index and nothing else (the account's
        used client order ids keep theirs, so a reused one is still refused) for the account's
        compact `OrderArchive`. `orders()` and `order()` still answer with them, equal, in the
        order placed. Returns how many moved. Nothing due, nothing looked at, as above;
        `read_in_process` as there."""
        if before <= self._orders_due:
            return 0
        due = self._ref.now()
        moved_all = 0
        for account_id, acct in self._ledger.states.items():
            if not acct.orders or self._unread(account_id, read_in_process):
                continue
            kept: list[SimOrder] = []
            moved: list[SimOrder] = []
            for order in acct.orders:  # oldest first
                if order.status == "resting" or id_counter(order.order_id) < 0:
                    kept.append(order)
                elif order.last_update_time < before:
                    moved.append(order)
                else:
                    kept.append(order)
                    due = min(due, order.last_update_time)
            if not moved:
                continue
            archive = self._order_archives.get(account_id)
            if archive is None:
                archive = self._order_archives[account_id] = OrderArchive()
            for order in moved:
                archive.append(order)
                del self._orders[order.order_id]
            acct.orders = kept
            moved_all += len(moved)
        self._orders_due = due
        return moved_all

    def order_tiers(self, account_id: str) -> tuple[int, int]:
        """(the account's orders held live, its orders archived compactly)."""
        archived = self._order_archives.get(account_id)
        return len(self._ledger.acct(account_id).orders), len(archived) if archived else 0

    def _archived_order(self, account_id: str, order_id: str) -> SimOrder | None:
        archived = self._order_archives.get(account_id)
        return archived.find(order_id) if archived else None

    def fill_tiers(self, account_id: str) -> tuple[int, int]:
        """(the account's fills held live, its fills archived compactly)."""
        archived = self._fill_archives.get(account_id)
        return len(self._ledger.acct(account_id).fills), len(archived) if archived else 0

    # historical pages read by index ------------------------------------------------------------

    def trades_newest_first(self, ticker: str | None = None) -> NewestFirst[SimTrade]:
        """`trades(ticker)` as a view read by index: a page rebuilds only its own trades."""
        if ticker is None:
            live = self._engine.trades
        else:
            self._ref.market(ticker)
            live = self._engine.trades_by_ticker[ticker]
        archive = self._trade_archive
        return NewestFirst(live, _trade_id, archive.positions(ticker), archive)

    def fills_newest_first(self, account_id: str) -> NewestFirst[SimFill]:
        """`fills(account_id)` as a view read by index, as `trades_newest_first`."""
        archived = self._fill_archives.get(account_id)
        positions = range(len(archived)) if archived else range(0)
        return NewestFirst(self._ledger.acct(account_id).fills, _fill_id, positions, archived)

    def order_store(self, account_id: str) -> tuple[list[SimOrder], OrderArchive | None]:
        """The account's live orders (oldest first; the list itself) and its archive of
        finished ones (append only): what the read replica copies and refers to."""
        return self._ledger.acct(account_id).orders, self._order_archives.get(account_id)

    def orders_newest_first(self, account_id: str) -> OrdersNewestFirst:
        """`orders(account_id)` walked from any order, as `trades_newest_first`."""
        archived = self._order_archives.get(account_id)
        return OrdersNewestFirst(self._ledger.acct(account_id).orders, archived)

    def _unread(self, account_id: str, read_in_process: Collection[str]) -> bool:
        """No client reads the account's records: it is keyless and its user is not one read
        in-process."""
        return self._keyless(account_id) and owner_of_ledger(account_id)[0] not in read_in_process

    def _keyless(self, account_id: str) -> bool:
        """No client can sign for the account: its user (the ledger's owner: a subaccount has
        no key of its own) has no public key and none added."""
        user = owner_of_ledger(account_id)[0]
        return not self._ledger.states[user].account.public_key_pem and not any(
            key.account_id == user for key in self._subaccounts.keyring.added.values()
        )


def _trade_id(trade: SimTrade) -> str:
    return trade.trade_id


def _fill_id(fill: SimFill) -> str:
    return fill.fill_id


_with_archived = (
    merge_by_counter  # (moved to sim/core/trade_archive.py: the read replica merges too)
)


# The core's own kinds of journal record, each replayed through the call that wrote it.
_REPLAYS: dict[str, Callable[[Exchange, dict[str, Any]], object]] = {
    "series": lambda ex, rec: ex.add_series(SimSeries(**rec["series"])),
    "event": lambda ex, rec: ex.add_event(SimEvent(**rec["event"])),
    "fee_change": Exchange._replay_fee_change,
    "event_fee_change": Exchange._replay_event_fee_change,
    "market": lambda ex, rec: ex.add_market(market_from_record(rec["market"])),
    "status": lambda ex, rec: ex.set_market_status(rec["ticker"], rec["status"]),
    "settle": lambda ex, rec: ex.settle(
        rec["ticker"], rec["result"], rec.get("expiration_value", "")
    ),
    "account": Exchange._replay_account,
    "place": Exchange._replay_place,
    "cancel": lambda ex, rec: ex.cancel_order(rec["account_id"], rec["order_id"]),
    "cancel_all": lambda ex, rec: ex.cancel_all(rec["account_id"], ticker=rec["ticker"]),
    "amend": Exchange._replay_amend,
    "decrease": lambda ex, rec: ex._decrease(ex._orders[rec["order_id"]], Decimal(rec["cut"])),
    "expire": lambda ex, rec: ex._expire(rec["order_id"]),
    "to_back": lambda ex, rec: ex.to_back_of_queue(rec["account_id"], rec["order_id"]),
}

"""The order desk: every order request the core takes (place, amend, decrease, cancel, cancel all),
its checks in the order Kalshi makes them, and the expiry of orders. Each call checks, journals
and then changes; a raising call changes nothing. The simulator's `Exchange` and the local venue
both hold one, so a backtest's order is refused exactly as the simulator refuses it
(docs/simulator.md "Conventions of the core").
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from decimal import Decimal

import msgspec

from kalshi_cli.sim.core.account_state import AccountState
from kalshi_cli.sim.core.accounts import Ledger
from kalshi_cli.sim.core.history import History
from kalshi_cli.sim.core.matching import MatchingEngine
from kalshi_cli.sim.core.order_groups import OrderGroups
from kalshi_cli.sim.core.records import (
    AmendRequest,
    ExchangeError,
    OrderChanged,
    PlaceRequest,
    PlaceResult,
    SimFill,
    SimOrder,
    bad_request,
    copy_order,
    journal,
    keeps_place,
    not_found,
)
from kalshi_cli.sim.core.reference import _VALID_COUNTS, Reference, _market_ticks
from kalshi_cli.vocabulary.units import ONE, ZERO, BookSide, TimeInForce


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
            raise bad_request("expiration_time needs good_till_canceled")
        if expiration_time <= now:
            raise bad_request("expiration_time is in the past")
    if post_only and time_in_force is not TimeInForce.GTC:
        raise bad_request("post_only needs good_till_canceled")
    if reduce_only and time_in_force is not TimeInForce.IOC:
        # API 3.31.0: "Orders with reduce_only set to true will be rejected unless
        # time_in_force is immediate_or_cancel."
        raise bad_request("reduce_only needs immediate_or_cancel")


def _order_exists() -> ExchangeError:
    """A client_order_id already used by any order of the account, even one long cancelled:
    Kalshi never frees them."""
    return ExchangeError(409, "order_already_exists", "order already exists")


class OrderDesk:
    """The order requests (the module docstring)."""

    def __init__(
        self,
        reference: Reference,
        ledger: Ledger,
        engine: MatchingEngine,
        groups: OrderGroups,
        history: History,
    ) -> None:
        self._ref = reference
        self._ledger = ledger
        self._engine = engine
        self._groups = groups
        self._history = history

    def place_order(self, account_id: str, request: PlaceRequest) -> PlaceResult:
        """One order request (`PlaceRequest`) checked as Kalshi checks it, then placed:
        the hot path of every order, its passing checks inlined."""
        ticker, book_side, price, count = (
            request.ticker,
            request.book_side,
            request.price,
            request.count,
        )
        time_in_force, post_only, reduce_only, expiration_time, client_order_id, group_id = (
            request.time_in_force,
            request.post_only,
            request.reduce_only,
            request.expiration_time,
            request.client_order_id,
            request.order_group_id,
        )
        acct = self._open_market_account(account_id, ticker, price, count)
        now = self._ref.now()
        _refuse_terms(time_in_force, expiration_time, post_only, reduce_only, now)
        if client_order_id is not None and client_order_id in acct.client_ids:
            raise _order_exists()
        if group_id is not None:
            self._groups.open_group(account_id, group_id)
        buy_yes = book_side is BookSide.BID
        planned = count  # what may fill: all of it, unless a reduce-only cap says less
        if reduce_only:
            planned = self._reduce_only_cap(acct, ticker, buy_yes=buy_yes, count=count)
        own = price if buy_yes else ONE - price
        plan = self._engine.plan(
            acct,
            ticker,
            buy_yes=buy_yes,
            own=own,
            count=planned,
            stp=request.self_trade_prevention,
            post_only=post_only,
            time_in_force=time_in_force,
            replacing=None,
            now=now,
        )
        order_id, number = self._ref.numbered_id()
        coid = client_order_id if client_order_id is not None else order_id
        if self._ref.live_journal is not None:
            record = msgspec.structs.replace(request, client_order_id=coid)
            self._ref.log_at(now, "place", **journal(record, account_id=account_id))
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
            request.self_trade_prevention,
            expiration_time,
            now,  # created_time
            now,  # last_update_time
            ZERO,  # taker_fill_cost
            ZERO,  # maker_fill_cost
            ZERO,  # taker_fees
            ZERO,  # maker_fees
            request.cancel_order_on_pause,
            ZERO,  # fee_accumulator
            group_id,
        )
        self._history.live[order_id] = order
        acct.orders.append(order)
        if client_order_id is not None or number is None:
            acct.client_ids.add(coid)
        else:  # the exchange's own id, numbered as it was made: no parse
            acct.client_ids.add_number(coid, number)
        if group_id is not None:
            self._groups.join(order)
        fills = self._engine.apply(order, plan, now)
        if self._groups.groups:
            self._groups.count_matched(_matched(order, plan.steps), now)
        # an order that does not rest is final: nothing changes it again (amends, cancels and
        # decreases take resting orders only), so it is its own snapshot and needs no copy
        return PlaceResult(copy_order(order) if order.status == "resting" else order, fills)

    def _open_market_account(
        self, account_id: str, ticker: str, price: Decimal, count: Decimal
    ) -> AccountState:
        """The account placing an order of `count` at `price` on `ticker`, once the market is
        open and takes both. `_acct`, `_market` and `_require_open` read without a call where
        they pass (the hot path); each one refuses as it always did otherwise."""
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
        return acct

    def _reduce_only_cap(
        self, acct: AccountState, ticker: str, *, buy_yes: bool, count: Decimal
    ) -> Decimal:
        """What of a reduce-only order may fill: `count`, capped by the position it reduces.

        API 3.31.0 (CreateOrderV2Request.reduce_only): "Specifies whether the order place count
        should be capped by the member's current position." So an exit for more than is held keeps
        its count, at most the position is planned, and the rest is cancelled with its IOC
        remainder. A cap of zero is refused with `invalid_reduce_only`: our choice where the spec is
        silent (docs/simulator.md, "Reduce-only orders")."""
        position = self._ledger.position_of(acct, ticker)
        reducible = -position if buy_yes else position
        if reducible <= ZERO:
            raise bad_request(
                "a reduce-only order needs a position it reduces: "
                f"{'no NO' if buy_yes else 'no YES'} contracts of {ticker} are held",
                "invalid_reduce_only",
            )
        return reducible if reducible < count else count

    def cancel_order(self, account_id: str, order_id: str) -> tuple[SimOrder, Decimal]:
        """Returns the canceled order and the count that was still open (reduced_by). An order
        that no longer rests is `not_found`, byte for byte like one that never existed."""
        self._ledger.acct(account_id)
        order = self._history.order(account_id, order_id)
        if order.status != "resting":
            raise not_found()
        now = self._ref.log("cancel", account_id=account_id, order_id=order_id)
        reduced_by = order.remaining_count
        self._engine.cancel((order,), now)
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
        reduced_by = [o.remaining_count for o in targets]
        self._engine.cancel(targets, now)
        return [(copy_order(o), reduced) for o, reduced in zip(targets, reduced_by, strict=True)]

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
        `expiration_time`: None keeps the expiry, 0 removes it, any other value must be in the
        future. The order keeps its queue place only when its price is unchanged and its size
        does not grow; otherwise it goes to the back of its new level, and may cross and fill on
        the way."""
        return self.amend_resting(
            self.owned_resting(account_id, order_id),
            ticker=ticker,
            book_side=book_side,
            price=price,
            count=count,
            updated_client_order_id=updated_client_order_id,
            expiration_time=expiration_time,
        )

    def amend_resting(
        self,
        order: SimOrder,
        *,
        ticker: str,
        book_side: BookSide,
        price: Decimal,
        count: Decimal,
        updated_client_order_id: str | None = None,
        expiration_time: int | None = None,
    ) -> tuple[SimOrder, SimOrder, list[SimFill]]:
        """`amend_order` of an order its caller read (`owned_resting`) and may have looked at
        first (the venue: whether it keeps its place), so the order is read once."""
        request = AmendRequest(
            ticker=ticker, book_side=book_side, price=price, count=count,
            updated_client_order_id=updated_client_order_id, expiration_time=expiration_time,
        )  # fmt: skip
        return self.amend(order, request)

    def amend(
        self, order: SimOrder, request: AmendRequest
    ) -> tuple[SimOrder, SimOrder, list[SimFill]]:
        """`amend_resting` of its terms as one value, the one the journal writes and replays."""
        _require_resting(order)  # what the caller did since may have ended it
        account_id, order_id = order.account_id, order.order_id
        acct = self._ledger.states[account_id]
        self._check_amend(acct, order, request)
        ticker, price, count = request.ticker, request.price, request.count
        expiration_time, new_coid = request.expiration_time, request.updated_client_order_id
        now = self._ref.now()
        if expiration_time is not None and (expiration_time < 0 or 0 < expiration_time <= now):
            raise bad_request("expiration_time must be 0 or in the future")
        new_remaining = count - order.fill_count
        keeps = keeps_place(order, price, count)
        buy_yes = request.book_side is BookSide.BID
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
        if self._ref.live_journal is not None:
            self._ref.log_at(
                now, "amend", **journal(request, account_id=account_id, order_id=order_id)
            )
        old = copy_order(order)
        if new_coid is not None and new_coid != order.client_order_id:
            acct.client_ids.add(new_coid)
            order.client_order_id = new_coid
        if expiration_time is not None:
            order.expiration_time = expiration_time or None
        fills: list[SimFill] = []
        if plan is None:
            self._engine.shrink(order, order.remaining_count - new_remaining, now)
            self._ledger.rehold(acct, ticker, now)  # a plan's `apply` sets the hold it worked out
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
        if plan is None and self._ref.listeners:
            self._ref.emit(OrderChanged(copy_order(order)))
        return old, copy_order(order), fills

    def _check_amend(self, acct: AccountState, order: SimOrder, request: AmendRequest) -> None:
        """An amend names its order's market and side, a valid price and a count above what
        has filled, and no client order id another order of the account holds."""
        ticker, price, count = request.ticker, request.price, request.count
        client_order_id = request.updated_client_order_id
        if ticker != order.ticker or request.book_side is not order.book_side:
            raise bad_request("ticker and side must match the order being amended")
        market = self._ref.market(ticker)
        self._ref.require_open(market)
        self._ref.check_price(market, price)
        self._ref.check_count(market, count)
        if count <= order.fill_count:
            raise bad_request(
                f"count is the new total and must exceed the {order.fill_count} already filled",
                "invalid_count",
            )
        if (
            client_order_id is not None
            and client_order_id != order.client_order_id
            and client_order_id in acct.client_ids
        ):
            raise _order_exists()

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
        order = self.owned_resting(account_id, order_id)
        market = self._ref.markets[order.ticker]
        if (reduce_by is None) == (reduce_to is None):
            raise bad_request("send exactly one of reduce_by, reduce_to")
        if reduce_by is not None:
            if reduce_by <= 0:
                raise bad_request("reduce_by must be positive", "invalid_count")
            self._ref.check_count(market, reduce_by)
            cut = min(reduce_by, order.remaining_count)
        else:
            assert reduce_to is not None
            if reduce_to < 0 or reduce_to > order.remaining_count:
                raise bad_request(
                    f"reduce_to must be between 0 and {order.remaining_count}", "invalid_count"
                )
            if reduce_to:
                self._ref.check_count(market, reduce_to)
            cut = order.remaining_count - reduce_to
        now = self._ref.log("decrease", account_id=account_id, order_id=order_id, cut=str(cut))
        self.cut(order, cut, now)
        return copy_order(order)

    def to_back_of_queue(self, account_id: str, order_id: str) -> None:
        """Move a resting order to the back of its price level, changing nothing else about it
        or the book. Not a Kalshi request (no route calls it): the local venue's, which puts
        the recorded contracts its queue model has ahead of our order in front of it this way
        (kalshi_cli/venue/venue.py)."""
        order = self.owned_resting(account_id, order_id)
        self._ref.log("to_back", account_id=account_id, order_id=order_id)
        self._engine.to_back(order)

    def cut(self, order: SimOrder, cut: Decimal, now: float | None = None) -> None:
        """Take `cut` contracts off a resting order, keeping its place (a decrease, or its
        replay)."""
        at = self._ref.now() if now is None else now
        self._engine.shrink(order, cut, at)
        self._ledger.rehold(self._ledger.states[order.account_id], order.ticker, at)
        if self._ref.listeners and order.status == "resting":
            self._ref.emit(OrderChanged(copy_order(order)))

    def expire_due(self, now: float) -> None:
        """Expire the resting orders whose expiration_time `now` has reached."""
        while self._engine.expiries and self._engine.expiries[0][0] <= now:
            _, order_id = heapq.heappop(self._engine.expiries)
            order = self._history.live.get(order_id)  # None: finished and archived (archive_orders)
            expires = None if order is None else order.expiration_time
            if (
                order is not None
                and order.status == "resting"
                and expires is not None
                and expires <= now
            ):
                self.expire(order_id)

    def expire(self, order_id: str) -> None:
        order = self._history.live[order_id]
        now = self._ref.log("expire", order_id=order_id)
        self._engine.cancel((order,), now)

    def owned_resting(self, account_id: str, order_id: str) -> SimOrder:
        self._ledger.acct(account_id)
        return _require_resting(self._history.order(account_id, order_id))

    def queue_position(self, account_id: str, order_id: str) -> Decimal:
        """The contracts resting ahead of a resting order at its price: what must trade before
        it fills at all (price-time priority; orders at better prices are not in its queue).
        An order that no longer rests has no queue: Kalshi's one order 404 (`not_found`)."""
        order = self._history.order(account_id, order_id)
        if order.status != "resting":
            raise not_found()
        buy_yes = order.book_side is BookSide.BID
        side = self._engine.books[order.ticker].side(buy_yes)
        ahead = side.ahead_of(order.price if buy_yes else ONE - order.price, order_id)
        return sum((o.remaining_count for o in ahead), ZERO)


def _require_resting(order: SimOrder) -> SimOrder:
    """The order, if it rests: a change of an order that no longer rests is refused."""
    if order.status != "resting":
        raise bad_request(f"order {order.order_id} is {order.status}", "order_not_resting")
    return order

"""The simulated exchange's matching: an incoming order planned against its market's book without
touching anything (price-time priority, self-trade prevention, cash and collateral), then
applied. `MatchingEngine` owns the books, trades, volume windows, expiry queue and fees
collected, and reaches the accounts through the `Ledger` (sim/core/accounts.py) and the
reference data through `Reference`. The served `Exchange` and the local venue each have one.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

from kalshi_cli.sim.core.account_state import AccountState
from kalshi_cli.sim.core.accounts import (
    EMPTY_AGG,
    Ledger,
    agg_add,
    agg_of,
    book_fill,
    ceil_cents,
    direction_hold,
    fill_cash,
)
from kalshi_cli.sim.core.book import Book
from kalshi_cli.sim.core.records import (
    BookChanged,
    ExchangeError,
    FillHappened,
    OrderChanged,
    PositionChanged,
    SimFill,
    SimMarket,
    SimOrder,
    SimTrade,
    TradeHappened,
    bad_request,
    copy_order,
    own_price,
)
from kalshi_cli.sim.core.reference import Reference
from kalshi_cli.sim.core.volume_window import VolumeWindow
from kalshi_cli.vocabulary.models import FEE_QUANTUM, FeeCharge, charge_fill, trading_fee
from kalshi_cli.vocabulary.units import (
    CENT,
    ONE,
    ZERO,
    BookSide,
    SelfTradePrevention,
    Side,
    TimeInForce,
)

DAY = 86_400.0
# Fills whose fee charges print the same share one frozen `FeeCharge` with its net, worked out once:
# one object fewer per fill for the cyclic GC to scan. Keyed by the trade fee, the rounding fee's
# text (its exponent kept) and the rebate; at most `_CHARGES_KEPT` kept.
_CHARGES: dict[tuple[Decimal | str, str, Decimal], tuple[FeeCharge, Decimal]] = {}
_CHARGES_KEPT = 4096


def _charge(
    revenue: Decimal, trade_fee: Decimal, carried: Decimal
) -> tuple[FeeCharge, Decimal, Decimal]:
    """`charge_fill(revenue, trade_fee, carried, FEE_QUANTUM)` (models.py, the one fee rule,
    at a direct member's precision), with the charge shared as above: (charge, its net, the
    accumulator after). A fill that earns a rebate goes through `charge_fill` itself."""
    change = revenue - trade_fee
    # `quantize(FEE_QUANTUM, rounding=ROUND_FLOOR)` with the rounding given by position: a
    # keyword to a C method costs a dict each call (~40% of the call, docs/benchmarks.md)
    rounding = change - change.quantize(FEE_QUANTUM, ROUND_FLOOR)
    after = carried + rounding
    if after > CENT:  # `charge_fill` refunds whole cents from here
        charge, after = charge_fill(revenue, trade_fee, carried, FEE_QUANTUM)
        return charge, charge.net, after
    # a trade fee other than the `ZERO` object is a fresh Decimal, whose hash is dearer than
    # its text's (~7,000 against ~2,000 instructions); its text says its value (see above)
    key = (trade_fee if trade_fee is ZERO else str(trade_fee), str(rounding), ZERO)
    shared = _CHARGES.get(key)
    if shared is None:
        charge = FeeCharge(trade_fee, rounding, ZERO)
        shared = (charge, charge.net)
        if len(_CHARGES) < _CHARGES_KEPT:
            _CHARGES[key] = shared
    return shared[0], shared[1], after


@dataclass
class Plan:
    """What an incoming order would do, worked out without changing anything."""

    steps: list[tuple[Literal["fill", "cancel"], SimOrder, Decimal]]
    rest: Decimal  # what will rest on the book afterwards
    # the taker's side of each fill, in step order: its fee charge, the charge's net (the fee),
    # and `fill_cash`'s figures
    # and the book level's price (the maker's own price, as the key the level has: hashed)
    fees: list[tuple[FeeCharge, Decimal, tuple[Decimal, Decimal, Decimal], Decimal]]
    accumulator: Decimal  # the taker order's fee accumulator after the plan
    hold: Decimal  # the collateral the account will hold in this market afterwards
    maker_rate: Decimal  # the market's maker fee rate at the order's time (read once an order)
    # the order's own price (`own_price`), the object `_plan` was given: a NO bid's is made by
    # a subtraction, and a Decimal made afresh hashes (~7,000 instructions) at its first
    # look-up, so `_rest` keys the book and the reserve cache with this one, hashed already
    own: Decimal


def _taker_fee(rate: Decimal, count: Decimal, price: Decimal) -> Decimal:
    """`trading_fee(count, price, rate)` for a count above zero, with the rounding given by
    position (`_charge`)."""
    if rate > ZERO:
        return (rate * count * price * (ONE - price)).quantize(FEE_QUANTUM, ROUND_CEILING)
    return ZERO


def _one_user(maker_id: str, account_id: str, user: str) -> bool:
    """Whether a resting order's account and an incoming order's are one user's (self-trade
    prevention; `records.same_user` with the taker's user read once)."""
    return maker_id == account_id or maker_id.partition("/")[0] == user


def _what_rests(
    time_in_force: TimeInForce, count: Decimal, remaining: Decimal, stopped: bool
) -> Decimal:
    """What of an order rests after its fills: a good-till-cancelled order's rest, unless
    self-trade prevention stopped it; a fill-or-kill order not filled whole is refused."""
    if time_in_force is TimeInForce.FOK and remaining:
        raise ExchangeError(
            409,
            "fill_or_kill_insufficient_resting_volume",
            f"only {count - remaining} of {count} could fill now",
        )
    return remaining if time_in_force is TimeInForce.GTC and not stopped else ZERO


class MatchingEngine:
    """Books, planning and applying orders (see the module docstring)."""

    def __init__(self, reference: Reference, accounts: Ledger) -> None:
        """Of the accounts the engine reads each account's record by its ledger id (it moves a
        fill into it with `book_fill` and keeps its resting orders and aggregates), the maker fee
        reserve per contract at a price (`reserves`: its `cache`, read first on the hot path,
        then `new_rate`), the position record a first fill makes, and the collateral brought up
        to date after a change (`collateral`)."""
        self._ref = reference
        self._accounts = accounts
        self._reserves = accounts.reserves  # read on the hot path: one attribute, not two
        self.books: dict[str, Book[SimOrder]] = {}
        self.trades: list[SimTrade] = []  # oldest first (the exchange archives the old ones)
        self.trades_by_ticker: dict[str, list[SimTrade]] = {}
        self.volume_window: dict[str, VolumeWindow] = {}  # ticker -> its last 24 h of volume
        self.expiries: list[tuple[int, str]] = []  # heap of (expiration_time, order_id)
        self.fees_collected = ZERO  # every fee the fills charged

    def open_market(self, ticker: str) -> None:
        """An empty book, trade list and volume window for a market just added."""
        self.books[ticker] = Book()
        self.trades_by_ticker[ticker] = []
        self.volume_window[ticker] = VolumeWindow()

    def book(
        self, ticker: str, depth: int = 0
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """(yes_bids, no_bids) as (price, size) aggregated per level, each sorted ascending by
        price (Kalshi's wire order: best bid last); `depth` 0 = all levels, else the best N."""
        self._ref.market(ticker)
        book = self.books[ticker]
        return book.yes.depth(depth), book.no.depth(depth)

    def best_bids(self, ticker: str) -> tuple[Decimal | None, Decimal | None]:
        """(best YES bid, best NO bid), each in its own side's price; None for an empty side."""
        self._ref.market(ticker)
        book = self.books[ticker]
        return book.yes.best(), book.no.best()

    # planning -------------------------------------------------------------------------------

    def plan(
        self,
        acct: AccountState,
        ticker: str,
        *,
        buy_yes: bool,
        own: Decimal,
        count: Decimal,
        stp: SelfTradePrevention,
        post_only: bool,
        time_in_force: TimeInForce,
        replacing: SimOrder | None,
        now: float | None = None,
    ) -> Plan:
        """Work out an incoming order (or an amended one, `replacing`) against the book and
        the account without changing either; raise if any rule refuses it. `now` is the
        caller's time of the request (read from the clock when not given). Whole: the hot path
        of every order, one pass with its calls inlined."""
        book = self.books[ticker]
        account_id = acct.account.account_id
        user = account_id.partition("/")[0]  # `same_user`, inline (records.ledger_id)
        # `book.crossing(buy_yes, own)` without the call, and without a generator when the
        # other side's best price does not reach the order's (nothing crosses)
        other = book.no if buy_yes else book.yes
        limit = ONE - own
        prices = other.prices
        crosses = bool(prices) and prices[-1] >= limit
        if post_only and crosses:
            raise ExchangeError(400, "invalid_order", "invalid order", "post only cross")
        steps: list[tuple[Literal["fill", "cancel"], SimOrder, Decimal]] = []
        gone: list[SimOrder] = []  # what the plan takes off the book (self-trade cancels)
        remaining = count
        stopped = False
        if now is None:
            now = self._ref.now()
        # the taker's side of each fill is worked out as it is met (one pass): its cash change
        # before fees, contracts closed and position after (`fill_cash`), and its fee charge;
        # `_fill` applies these figures rather than computing them again
        record = acct.positions.get(ticker)
        position = ZERO if record is None else record.position
        # collateral is checked inside the market's shard: its cash and holds alone
        shard = self._ref.markets[ticker].exchange_index
        cash = acct.cash.get(shard, ZERO)
        fees: list[tuple[FeeCharge, Decimal, tuple[Decimal, Decimal, Decimal], Decimal]] = []
        carried = replacing.fee_accumulator if replacing is not None else ZERO
        # the market's rates (`fee_model(...).fee`), read once an order and only when it fills
        taker_rate = maker_rate = ZERO
        rates_read = False
        crossing = other.crossing(limit) if crosses else ()
        for level, maker in crossing:
            if not remaining:
                break
            if _one_user(maker.account_id, account_id, user):
                if stp is SelfTradePrevention.TAKER_AT_CROSS:
                    stopped = True
                    break
                steps.append(("cancel", maker, maker.remaining_count))
                gone.append(maker)
                continue
            available = maker.remaining_count
            maker_bid = maker.book_side is BookSide.BID
            take = available if available < remaining else remaining  # min(), no call
            steps.append(("fill", maker, take))
            remaining -= take
            if not rates_read:
                taker_rate, maker_rate = self._ref.fees.fee_model(ticker, now).rates(at=now)
                rates_read = True
            price = ONE - maker.price if maker_bid else maker.price  # the maker's price, paid
            taker_cash = fill_cash(position, buy_yes, price, take)
            position = taker_cash[2]
            charge, net, carried = _charge(
                taker_cash[0], _taker_fee(taker_rate, take, price), carried
            )
            cash += taker_cash[0] - net
            fees.append((charge, net, taker_cash, level))
        rest = _what_rests(time_in_force, count, remaining, stopped)

        # the account's cash and collateral after the whole plan
        if replacing is not None:
            gone.append(replacing)
        hold = self._hold_after(
            acct, ticker, buy_yes=buy_yes, own=own, rest=rest, position=position, gone=gone
        )
        self._check_collateral(
            acct, ticker, shard, cash, hold=hold, filled=(count > remaining, position)
        )
        return Plan(steps, rest, fees, carried, hold, maker_rate, own)

    def _check_collateral(
        self,
        acct: AccountState,
        ticker: str,
        shard: int,
        cash: Decimal,
        *,
        hold: Decimal,
        filled: tuple[bool, Decimal],
    ) -> None:
        """Refuse a plan whose collateral the account's cash on the market's shard does not
        cover: `cash` is that cash after the plan's fills, `hold` what the market will hold,
        `filled` whether the plan fills and the position it leaves."""
        others = acct.held_on.get(shard, ZERO) - acct.held.get(ticker, ZERO)
        fills, position = filled
        if fills and self._accounts.collateral.nets(acct.account.account_id):
            # a netting subaccount: the collateral the trade returns, or takes back
            cash += self._accounts.collateral.return_change(acct, ticker, position)
        if cash - others - hold < ZERO:
            need = ceil_cents(others + hold - cash)
            raise bad_request(
                f"insufficient balance: {need} more cents needed", "insufficient_balance"
            )

    def _hold_after(
        self,
        acct: AccountState,
        ticker: str,
        *,
        buy_yes: bool,
        own: Decimal,
        rest: Decimal,
        position: Decimal,
        gone: list[SimOrder],
    ) -> Decimal:
        """What the account must hold for `ticker` once a plan is applied: its resting orders
        without `gone` (the self-trade cancels, and the order an amend replaces), with `rest`
        resting at `own`, against the `position` the plan leaves."""
        agg = self._aggregates_after(acct, ticker, gone, buy_yes=buy_yes, own=own, rest=rest)
        # `CollateralReturn.covers`, asked only once some account nets: the closing orders hold
        # their price
        collateral = self._accounts.collateral
        if position and (collateral.netting or collateral.returned):
            position = position if collateral.covers(acct, ticker) else ZERO
        bid_cost, bid_count, ask_cost, ask_count, reserve = agg
        # the aggregates alone give the hold unless the position covers part of one direction
        # compared with ZERO, not 0: a Decimal compared with an int converts the int each time
        if (position < ZERO and -position < bid_count) or ZERO < position < ask_count:
            # `direction_hold` over the account's resting orders after the plan: without
            # `gone`, with what the plan rests
            orders: Iterable[SimOrder] = acct.resting.get(ticker, {}).values()
            if gone:
                gone_ids = {id(o) for o in gone}
                orders = [o for o in orders if id(o) not in gone_ids]
            bids = position < ZERO
            extra = (own, rest) if rest and buy_yes == bids else None
            if bids:
                return reserve + ask_cost + direction_hold(orders, True, -position, extra)
            return reserve + bid_cost + direction_hold(orders, False, position, extra)
        if position < ZERO:
            return reserve + ask_cost
        if position > ZERO:
            return reserve + bid_cost
        return reserve + bid_cost + ask_cost

    def _aggregates_after(
        self,
        acct: AccountState,
        ticker: str,
        gone: list[SimOrder],
        *,
        buy_yes: bool,
        own: Decimal,
        rest: Decimal,
    ) -> list[Decimal]:
        """The account's aggregates of `ticker` (`AccountState.agg`) once a plan is applied:
        without `gone`, with `rest` resting at `own`."""
        agg = list(acct.agg.get(ticker) or EMPTY_AGG)
        reserves = self._reserves
        for o in gone:
            bid = o.book_side is BookSide.BID
            agg_add(agg, reserves, ticker, bid, own_price(o), -o.remaining_count)
        if rest:
            agg_add(agg, reserves, ticker, buy_yes, own, rest)
        return agg

    # internals: applying --------------------------------------------------------------------

    def apply(self, order: SimOrder, plan: Plan, now: float) -> list[SimFill]:
        """Apply a plan for `order` (not on the book yet): fills and self-trade cancels in book
        order, then rest or cancel what is left."""
        fills: list[SimFill] = []
        fee_iter = iter(plan.fees)
        touched: set[str] = set()
        maker_rate = plan.maker_rate
        for kind, maker, amount in plan.steps:
            if kind == "fill":
                charge, fee, taker_cash, level = next(fee_iter)
                fills.append(
                    self._fill(
                        order, maker, amount, charge, fee, taker_cash, now, maker_rate, level
                    )
                )
                touched.add(maker.account_id)
            else:
                self.take_off(maker, amount, now, cause=maker)
                touched.add(maker.account_id)
        order.fee_accumulator = plan.accumulator
        acct = self._accounts.states[order.account_id]
        if plan.rest:
            self._rest(order, now, plan.own)
        elif order.remaining_count:
            order.remaining_count = ZERO
            order.status = "canceled"
        else:
            order.status = "executed"
        order.last_update_time = now
        collateral = self._accounts.collateral
        nets = collateral.nets
        for account_id in touched:
            state = self._accounts.states[account_id]
            if nets(account_id):
                collateral.net_event(state, order.ticker)
            self._accounts.rehold(state, order.ticker, now)
        netted = fills and nets(order.account_id)
        if netted:
            collateral.net_event(acct, order.ticker)
        self._accounts.set_hold(acct, order.ticker, plan.hold, now)
        if netted:  # the plan read `covers` before its fills, which may end the return it read
            self._accounts.rehold(acct, order.ticker, now)
        if self._ref.listeners:
            self._ref.emit(OrderChanged(copy_order(order)))
        return fills

    def _rest(self, order: SimOrder, now: float, own: Decimal) -> None:
        """Put `order` on the book; `own` is its `own_price` (the plan's: the same digits)."""
        buy_yes = order.book_side is BookSide.BID
        ticker = order.ticker
        size = order.remaining_count
        book = self.books[ticker]
        (book.yes if buy_yes else book.no).add(own, order.order_id, order, size)
        acct = self._accounts.states[order.account_id]
        resting = acct.resting.get(ticker)  # not `setdefault(ticker, {})`: no dict made each time
        if resting is None:
            resting = acct.resting[ticker] = {}
        resting[order.order_id] = order
        # `Ledger.track(order, ZERO, size)` with the own price the plan hashed already
        agg_add(agg_of(acct, ticker), self._reserves, ticker, buy_yes, own, size)
        if order.expiration_time is not None:
            heapq.heappush(self.expiries, (order.expiration_time, order.order_id))
        if self._ref.listeners:
            self._level_changed(ticker, buy_yes, own, order.remaining_count, order, now)

    def _level_changed(  # noqa: PLR0917 (as `BookChanged`)
        self, ticker: str, buy_yes: bool, own: Decimal, delta: Decimal, by: SimOrder, now: float
    ) -> None:
        """Tell the listeners that the level at `own` of a market's YES (`buy_yes`) or NO bids
        changed by `delta`, moved by the order `by` (the order that rested, was taken off or
        took)."""
        self._ref.emit(
            BookChanged(
                ticker,
                Side.YES if buy_yes else Side.NO,
                own,
                delta,
                by.account_id,
                by.client_order_id,
                now,
            )
        )

    def take_off(
        self, order: SimOrder, amount: Decimal, now: float, *, cause: SimOrder, final: bool = True
    ) -> None:
        """Remove `amount` of a resting order from the book; the order is canceled when
        nothing is left (unless `final` is False: an amend about to re-place it)."""
        own = own_price(order)
        buy_yes = order.book_side is BookSide.BID
        side = self.books[order.ticker].side(buy_yes)
        before = order.remaining_count
        self._accounts.track(order, before, max(before - amount, ZERO))
        if amount >= before:
            side.remove(own, order.order_id, before)
            del self._accounts.states[order.account_id].resting[order.ticker][order.order_id]
            order.remaining_count = ZERO
            if final:
                order.status = "canceled"
        else:
            side.change_size(own, -amount)
            order.remaining_count = before - amount
        order.last_update_time = now
        if self._ref.listeners:
            self._level_changed(order.ticker, buy_yes, own, -min(amount, before), cause, now)
            if final:
                self._ref.emit(OrderChanged(copy_order(order)))

    def cancel(self, orders: Iterable[SimOrder], now: float) -> None:
        """Cancel resting orders whole, each its own cause, in the order given, then work out
        again the hold of each account and market they were in: what every cancel that is not
        a plan's (a cancel, a cancel-all, an expiry, a triggered order group, a pause, a
        determination) does."""
        touched: dict[tuple[str, str], None] = {}
        for order in orders:
            self.take_off(order, order.remaining_count, now, cause=order)
            touched[order.account_id, order.ticker] = None
        states = self._accounts.states
        for account_id, ticker in touched:
            self._accounts.rehold(states[account_id], ticker, now)

    def to_back(self, order: SimOrder) -> None:
        """Move a resting order to the back of its price level; nothing else changes."""
        self.books[order.ticker].side(order.book_side is BookSide.BID).to_back(
            own_price(order), order.order_id
        )

    def shrink(self, order: SimOrder, amount: Decimal, now: float) -> None:
        if amount:
            self.take_off(order, amount, now, cause=order)

    def _fill(  # noqa: PLR0917 (the hot path: positional)
        self,
        taker: SimOrder,
        maker: SimOrder,
        count: Decimal,
        taker_charge: FeeCharge,
        taker_fee: Decimal,
        taker_cash: tuple[Decimal, Decimal, Decimal],
        now: float,
        maker_rate: Decimal,
        level: Decimal,
    ) -> SimFill:
        """One fill of `taker` against `maker`; the taker's side (`taker_cash`, `fill_cash`'s
        figures from its position, its fee charge and that charge's net) was worked out by
        `_plan`. `level` is the key of the maker's book level: equal to its own price, maybe
        in other digits (0.5 and 0.50), so it serves the look-ups by value (the book, the
        reserve cache: its hash is known) and the arithmetic keeps the maker's own digits."""
        ticker = taker.ticker
        market = self._ref.markets[ticker]
        maker_yes = maker.book_side is BookSide.BID
        maker_own = maker.price if maker_yes else ONE - maker.price  # own_price(maker)
        taker_own = ONE - maker_own
        before = maker.remaining_count
        after = before - count
        maker_acct = self._accounts.states[maker.account_id]
        maker_pos = maker_acct.positions.get(ticker)
        if maker_pos is None:
            maker_pos = self._accounts.position_record(maker_acct, ticker, now)
        maker_cash = fill_cash(maker_pos.position, maker_yes, maker_own, count)
        maker_charge, maker_fee, maker.fee_accumulator = _charge(
            maker_cash[0],
            trading_fee(count, maker_own, maker_rate) if maker_rate > ZERO else ZERO,
            maker.fee_accumulator,
        )
        book = self.books[ticker]
        side = book.yes if maker_yes else book.no
        # `_track(maker, before, after)`, inline, with what is known here
        agg = maker_acct.agg[ticker]  # the maker rests, so its market has aggregates
        rates = self._reserves.cache.get(ticker)
        rate = None if rates is None else rates.get(level)
        if rate is None:
            rate = self._reserves.new_rate(ticker, maker_own)
        i = 0 if maker_yes else 2
        # each side's `count * own` once (the aggregate, the order's fill cost, the position's
        # total traded): a product of two Decimals is exact, so its digits are the same
        maker_traded = count * maker_own
        taker_traded = count * taker_own
        agg[i] -= maker_traded
        agg[i + 1] -= count
        agg[4] -= rate * count
        taker_acct = self._accounts.states[taker.account_id]
        if not after:
            side.remove(level, maker.order_id, before)
            del maker_acct.resting[ticker][maker.order_id]
            maker.status = "executed"
        else:
            side.change_size(level, -count)
        maker.remaining_count = after
        maker.fill_count += count
        maker.maker_fill_cost += maker_traded
        maker.maker_fees += maker_fee
        maker.last_update_time = now
        taker.remaining_count -= count
        taker.fill_count += count
        taker.taker_fill_cost += taker_traded
        taker.taker_fees += taker_fee

        # each side into its account
        shard = market.exchange_index
        oi_change = book_fill(
            maker_acct, shard, maker_pos, maker_own, count, maker_fee, now, maker_cash, maker_traded
        )
        taker_pos = taker_acct.positions.get(ticker)
        if taker_pos is None:
            taker_pos = self._accounts.position_record(taker_acct, ticker, now)
        oi_change += book_fill(
            taker_acct, shard, taker_pos, taker_own, count, taker_fee, now, taker_cash, taker_traded
        )
        self.fees_collected += maker_fee + taker_fee
        market.open_interest += oi_change
        market.last_price = maker.price
        market.volume += count
        market.volume_24h += count
        market.updated_time = now
        self.volume_window[ticker].pending.append((now, count))  # taken in by the tick

        # `Reference.new_id` three times, inline: the trade's id, then the taker's and the
        # maker's fill
        seq = self._ref.seq
        self._ref.seq = seq + 3
        prefix = self._ref.id_prefix
        trade = SimTrade(
            f"{prefix}{seq + 1:012x}", ticker, maker.price, count, taker.book_side, now
        )
        self.trades.append(trade)
        self.trades_by_ticker[ticker].append(trade)
        taker_fill = SimFill(
            f"{prefix}{seq + 2:012x}",
            trade.trade_id,
            taker.order_id,
            taker.account_id,
            taker.client_order_id,
            ticker,
            taker.book_side,
            maker.price,
            count,
            True,
            taker_fee,
            taker_pos.position,
            now,
            taker_charge,
        )
        maker_fill = SimFill(
            f"{prefix}{seq + 3:012x}",
            trade.trade_id,
            maker.order_id,
            maker.account_id,
            maker.client_order_id,
            ticker,
            maker.book_side,
            maker.price,
            count,
            False,
            maker_fee,
            maker_pos.position,
            now,
            maker_charge,
        )
        taker_acct.fills.append(taker_fill)
        maker_acct.fills.append(maker_fill)
        if self._ref.listeners:
            self._level_changed(ticker, maker_yes, maker_own, -count, taker, now)
            self._ref.emit(TradeHappened(trade))
            self._ref.emit(FillHappened(taker_fill))
            self._ref.emit(FillHappened(maker_fill))
            self._ref.emit(OrderChanged(copy_order(maker)))
            self._ref.emit(PositionChanged(maker.account_id, ticker))
            self._ref.emit(PositionChanged(taker.account_id, ticker))
        return taker_fill

    def roll_volume(self, market: SimMarket, now: float) -> bool:
        """Take the market's new trades into its 24-hour window and those over a day old off
        its `volume_24h` (`History.roll_day`); a window with nothing new and nothing old is not
        touched. True when trades left the window."""
        window = self.volume_window[market.ticker]
        if window.pending or window.oldest <= now - DAY:
            aged = window.trim(now - DAY)
            market.volume_24h -= aged
            return aged > ZERO
        return False

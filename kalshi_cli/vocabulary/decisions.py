"""What a strategy decides and the risk engine judges: an `Intent` (an order in trader terms, with
its fair value `model_fair`, a reason and the orders it `replaces`), a `Cancel`, a `Note` (a
word for the log, once), and a `PositionView`. Neither side imports the other, so both import
this module. `require` states a rule of a params `__post_init__`. docs/strategies.md "What a
strategy returns".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

from kalshi_cli.vocabulary.models import TAKER_FEE_RATE, Level, Orderbook, trading_fee
from kalshi_cli.vocabulary.units import (
    ONE,
    ZERO,
    Action,
    BookSide,
    Side,
    TimeInForce,
    added_price,
    book_side_of,
    side_held,
)

# --------------------------------------------------------------------------------------------
# A market's position as the risk rules count it


@dataclass(frozen=True)
class RestingOrder:
    order_id: str
    side: Side
    action: Action
    price: Decimal  # of `side`
    remaining: Decimal
    # the contracts resting ahead of it at its price, when the loop has read it (None: unknown)
    queue_position: Decimal | None = None

    @property
    def book_side(self) -> BookSide:
        """The direction it pushes the position: BID toward YES, ASK toward NO."""
        return book_side_of(self.side, self.action)


class Held:
    """The side and number of contracts of a signed position (+YES / -NO)."""

    position: Decimal

    @property
    def held_side(self) -> Side | None:
        return side_held(self.position)

    @property
    def contracts(self) -> Decimal:
        return abs(self.position)


@dataclass(frozen=True)
class Holding(Held):
    """Contracts held in one market (+YES / -NO) and what was paid for them."""

    position: Decimal = ZERO
    avg_entry_price: Decimal = ZERO  # per contract, of the held side
    entry_cost: Decimal = ZERO  # dollars paid for the contracts held
    opened_at: float | None = None


FLAT = Holding()


@dataclass(frozen=True)
class PositionView(Held):
    """One market's position (+YES / -NO contracts), what was paid for it, and resting orders.

    The risk rules read the account's view: `position` and its cost the account's whole
    position in the market, `resting` every resting order. A strategy in a loop is handed its
    own view: `position` and its cost the part its own fills built (its average cost theirs
    alone; `own` the same holding), `resting` only its own orders, and `account` the account's
    whole position, for reading only. So a strategy's exits (take-profit, time stop, its own
    stop) never sell contracts a person, another strategy or an earlier run bought. Outside a
    loop (a test, `kalshi strategy check`) the view is whatever the caller says: `own` flat and
    `account` the same as `position` by default."""

    ticker: str
    position: Decimal = ZERO
    avg_entry_price: Decimal = ZERO  # per contract, of the held side
    entry_cost: Decimal = ZERO  # dollars paid for the contracts held
    opened_at: float | None = None
    resting: tuple[RestingOrder, ...] = ()
    own: Holding = FLAT
    account: Holding | None = None  # the account's whole position, when it differs
    # contracts the exchange says filled that `position` does not hold yet (their fills are not
    # read yet), each as the order that filled them: the limits count them as resting orders
    # nobody can cancel (`worst_case`, `exposure`), so a fill is counted from the moment it is
    # known, not from the moment it is read
    unbooked: tuple[RestingOrder, ...] = ()

    @property
    def whole(self) -> Holding:
        """The account's whole position in the market (this view's own when not given)."""
        if self.account is not None:
            return self.account
        return Holding(self.position, self.avg_entry_price, self.entry_cost, self.opened_at)

    def worst_case(self, direction: BookSide) -> Decimal:
        """The largest position toward one side if every resting order that way filled and none
        the other way did: + contracts of YES for BID, of NO for ASK."""
        held = self.position if direction is BookSide.BID else -self.position
        return held + sum(
            (o.remaining for o in self._counted if o.book_side is direction), start=ZERO
        )

    def worst_either_way(self) -> Decimal:
        """The largest position toward either side (`worst_case` of the larger), never below 0:
        the contracts a market's limit counts and `kalshi positions` shows as its exposure."""
        return max(self.worst_case(BookSide.BID), self.worst_case(BookSide.ASK), ZERO)

    @property
    def _counted(self) -> tuple[RestingOrder, ...]:
        """What the limits count beside the position: the contracts filled and not read yet
        (first: they have filled, so they close what is held before any resting order does),
        then the resting orders."""
        return (*self.unbooked, *self.resting) if self.unbooked else self.resting

    def exposure(self) -> Decimal:
        """Dollars at risk in this market: the entry cost plus what each resting order (and each
        fill not read yet) would cost if filled, except the part of an opposite order that only
        closes contracts held. Both directions of a two-sided quote are counted, which
        overstates on purpose."""
        # worked out once (the view is frozen): the account's total, the exposure rule and the
        # orders in flight each ask it of the same view. Kept by hand, as `cached_property`
        # takes a lock on each first read (Python 3.11), and most views are read once
        kept: Decimal | None = self.__dict__.get("_exposure")
        if kept is not None:
            return kept
        held = self.held_side
        adding = None if held is None else book_side_of(held, Action.BUY)  # what adds to it
        closable = self.contracts
        total = self.entry_cost
        for order in self._counted:
            count = order.remaining
            # the direction asked only when something is held: flat, every order adds
            if adding is not None and order.book_side is not adding:
                closing = min(count, closable)
                closable -= closing
                count -= closing
            total += count * added_price(order.action, order.price)
        self.__dict__["_exposure"] = total
        return total

    def after(self, intent: Intent) -> PositionView:
        """This view as if the intent rested and the orders it replaces were gone."""
        # the last one is kept (both frozen): the position limit and the exposure rule each ask
        # it of the same view and intent
        last: tuple[Intent, PositionView] | None = self.__dict__.get("_after")
        if last is not None and last[0] is intent:
            return last[1]
        replaced = intent.replaces
        kept = [o for o in self.resting if o.order_id not in replaced] if replaced else self.resting
        pending = RestingOrder("", intent.side, intent.action, intent.price, intent.count)
        # built whole rather than by `dataclasses.replace`, which reads every field by name:
        # the risk engine and the exposure of the orders in flight ask this of every order
        view = PositionView(
            self.ticker,
            self.position,
            self.avg_entry_price,
            self.entry_cost,
            self.opened_at,
            (*kept, pending),
            self.own,
            self.account,
            self.unbooked,
        )
        self.__dict__["_after"] = (intent, view)
        return view

    def closed_by(self, intent: Intent) -> PositionView:
        """This view once a reduce-only `intent` has filled in full (the orders it replaces
        gone): it fills only against the contracts held, so it takes off at most as many as are
        held, at their average cost, and rests nowhere; the orders left rest beside what is
        left. An order that cannot reduce fills nothing."""
        replaced = intent.replaces
        kept = tuple(o for o in self.resting if o.order_id not in replaced) if replaced else None
        position = self.held_at_exchange()[0]
        taken = ZERO
        if position and intent.book_side is not (BookSide.BID if position > 0 else BookSide.ASK):
            taken = intent.count
        return self.without(taken, kept)

    def without(
        self, count: Decimal, resting: tuple[RestingOrder, ...] | None = None
    ) -> PositionView:
        """This view with `count` of the contracts held (at most all of them) taken off at their
        average cost, `resting` resting beside what is left (None: as now). The fills told and
        not read are held as the exchange holds them: what is taken reduces them too, and what
        is left is read as held (none of them counts as resting any more)."""
        position, entry_cost = self.held_at_exchange()
        contracts = abs(position)
        taken = min(count, contracts)
        left = contracts - taken
        cost = entry_cost * left / contracts if contracts else ZERO
        if not left:
            average = ZERO
        elif self.unbooked:
            average = cost / left
        else:
            average = self.avg_entry_price
        return PositionView(
            self.ticker,
            left if position >= 0 else -left,
            average,
            cost,
            self.opened_at if left else None,
            self.resting if resting is None else resting,
            self.own,
            self.account,
        )

    def held_at_exchange(self) -> tuple[Decimal, Decimal]:
        """The position (+YES / -NO) and its entry cost as the exchange holds them: with every
        fill told and not read read, a fill toward the side held adding at its price, one the
        other way closing what is held at their average cost and opening the other side with
        what is left of it. What a rule reads of what an order closes: the position read alone
        still shows contracts a sale told filled has closed."""
        position, cost = self.position, self.entry_cost
        for fill in self.unbooked:
            count = fill.remaining
            toward = ONE if fill.book_side is BookSide.BID else -ONE
            if position and (position > 0) is not (toward > 0):
                closing = min(count, abs(position))
                cost -= cost * closing / abs(position)
                position += toward * closing
                count -= closing
            position += toward * count
            cost += count * added_price(fill.action, fill.price)
        return position, cost


# --------------------------------------------------------------------------------------------
# What a strategy returns


@dataclass(frozen=True)
class Intent:
    ticker: str
    side: Side
    action: Action
    price: Decimal  # of `side`, on the market's grid
    count: Decimal
    model_fair: Decimal  # the strategy's fair value of `side`
    reason: str
    strategy: str = ""
    post_only: bool = False
    reduce_only: bool = False
    time_in_force: TimeInForce = TimeInForce.GTC
    replaces: tuple[str, ...] = ()  # order ids to cancel before this is placed
    # the rate the strategy worked its own edge at (`edge_after_fees`). No money is priced at
    # it: the trade loop sets every order's to the rate its market charges it (`rate_paid`)
    # before judging or logging it, so the standard taker rate a strategy that leaves it unset
    # gets here is never charged, logged or judged in a market that charges another
    fee_rate: Decimal = TAKER_FEE_RATE

    def __post_init__(self) -> None:
        if self.count <= 0:
            raise ValueError(f"intent count must be positive, got {self.count}")
        if not ZERO < self.price < ONE:
            raise ValueError(f"intent price must be inside (0, 1), got {self.price}")
        if self.reduce_only and self.time_in_force is not TimeInForce.IOC:
            # Kalshi rejects a reduce-only order unless it is immediate_or_cancel (3.31.0), so
            # an exit built otherwise would only ever be refused
            raise ValueError("a reduce_only intent must be immediate_or_cancel")

    @property
    def book_side(self) -> BookSide:
        return book_side_of(self.side, self.action)

    def replacing_none(self) -> Intent:
        """This order as it counts resting beside the orders it replaces, while they may still
        rest (their cancels or its amend not yet answered): the same order, replacing none."""
        return self._copy((), self.fee_rate)

    def at_fee_rate(self, fee_rate: Decimal) -> Intent:
        """This order at `fee_rate`."""
        return self._copy(self.replaces, fee_rate)

    def _copy(self, replaces: tuple[str, ...], fee_rate: Decimal) -> Intent:
        """This order with `replaces` and `fee_rate`: built whole rather than by
        `dataclasses.replace`, which reads every field by name, since a market maker's every
        requote asks for one."""
        return Intent(
            self.ticker,
            self.side,
            self.action,
            self.price,
            self.count,
            self.model_fair,
            self.reason,
            self.strategy,
            self.post_only,
            self.reduce_only,
            self.time_in_force,
            replaces,
            fee_rate,
        )

    def rate_paid(self, rates: tuple[Decimal, Decimal]) -> Decimal:
        """The rate this order pays of its market's (taker, maker) rates: the maker rate when
        it is post-only (it never takes), the taker rate otherwise (it may take)."""
        return rates[1] if self.post_only else rates[0]

    @property
    def fee(self) -> Decimal:
        return trading_fee(self.count, self.price, self.fee_rate)

    @cached_property
    def edge_after_fees(self) -> Decimal:
        """Expected profit per contract at `model_fair`, after the fee: worked out once (the
        intent is frozen), though the strategy and the log lines of its order each ask."""
        return self.edge_at(self.fee_rate)

    def edge_at(self, fee_rate: Decimal) -> Decimal:
        """Expected profit per contract at `model_fair`, after the fee at `fee_rate` (the
        market's own, as the risk engine's min-edge floor reads it)."""
        gross = self.model_fair - self.price
        if self.action is Action.SELL:
            gross = -gross
        return gross - trading_fee(self.count, self.price, fee_rate) / self.count


@dataclass(frozen=True)
class Cancel:
    ticker: str
    order_id: str
    reason: str


@dataclass(frozen=True)
class Note:
    """What a strategy says where it sends nothing it would have sent (a set no limit lets
    through): the loop logs it once a run per strategy and `key` (a `strategy_note` line),
    however often it is said."""

    ticker: str
    key: str
    text: str


Decision = Intent | Cancel | Note


# --------------------------------------------------------------------------------------------
# The best prices of one side of a book


def best_bid(book: Orderbook, side: Side) -> Level | None:
    return book.best_yes_bid if side is Side.YES else book.best_no_bid


def market_bid(book: Orderbook, side: Side, own: Iterable[RestingOrder]) -> Level | None:
    """The best bid for `side` with `own` (the loop's resting orders, in the book it sees)
    taken out: what the market pays for `side`, the price a position is marked at."""
    mine: dict[Decimal, Decimal] = {}
    for o in own:
        if (o.action is Action.BUY) is (o.side is side):
            price = o.price if o.side is side else ONE - o.price
            mine[price] = mine.get(price, ZERO) + o.remaining
    for price, size in book.yes_bids if side is Side.YES else book.no_bids:
        if size > mine.get(price, ZERO):
            return Level(price, size - mine.get(price, ZERO))
    return None


def best_ask(book: Orderbook, side: Side) -> Level | None:
    return book.yes_ask if side is Side.YES else book.no_ask


# --------------------------------------------------------------------------------------------
# The rules of parameters from the config (`strategies.NAME.*`, `risk.*`)


def require(condition: bool, message: str) -> None:
    """For params `__post_init__`: a ValueError becomes a ConfigError naming the key."""
    if not condition:
        raise ValueError(message)

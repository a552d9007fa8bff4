"""The pre-trade rules: each one small, independent, and answering with a coded verdict.

`check(intent, ctx) -> Verdict` reads only the intent, the context the loop built for this market at
this moment, and the rule's limit; the order rate and the daily breaker ask an object behind a
one-method Protocol. The codes are stable strings for logs, alerts and tests. Each rule carries its
`about`: its name, the config keys that set it and what to do about a denial, which the trade
loop's start-up lines, a manual order's refusal and the assistant's read from it.

On purpose: reduce_only intents pass the circuit breaker and min-edge rules, and an intent that adds
no exposure passes the exposure rule (a reduce_only one counted as filled against what is held);
nothing passes HALTED, SAFE_MODE, a stale feed or the order-rate cap. An announced maintenance
window holds adding orders from its lead time on, and every order inside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from kalshi_cli.risk.budget import Owned
from kalshi_cli.vocabulary.clock import utc_datetime, utc_day
from kalshi_cli.vocabulary.decisions import Intent, PositionView, RestingOrder, market_bid
from kalshi_cli.vocabulary.models import Orderbook, trading_fee
from kalshi_cli.vocabulary.trading_state import TradingState
from kalshi_cli.vocabulary.units import (
    ZERO,
    BookSide,
    Side,
    TimeInForce,
    added_price,
    fmt_count,
    fmt_money,
    side_held,
    side_value,
)

if TYPE_CHECKING:
    from kalshi_cli.risk.event_loss import EventBook


class Code(StrEnum):
    HALTED = "HALTED"
    SAFE_MODE = "SAFE_MODE"
    REDUCING = "REDUCING"
    CIRCUIT_BREAKER = "CIRCUIT_BREAKER"
    STALE_FEED = "STALE_FEED"
    ORDER_RATE = "ORDER_RATE"
    MAX_ORDER_SIZE = "MAX_ORDER_SIZE"
    MAX_ORDER_COST = "MAX_ORDER_COST"
    POSITION_LIMIT = "POSITION_LIMIT"
    MAX_EXPOSURE = "MAX_EXPOSURE"
    MIN_EDGE = "MIN_EDGE"
    MAINTENANCE = "MAINTENANCE"
    SELF_CROSS = "SELF_CROSS"
    STRATEGY_BUDGET = "STRATEGY_BUDGET"
    STOP_LOSS_COOLDOWN = "STOP_LOSS_COOLDOWN"
    STOP_LOSS_AT_ENTRY = "STOP_LOSS_AT_ENTRY"
    EVENT_LOSS = "EVENT_LOSS"
    SHARD_BALANCE = "SHARD_BALANCE"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    code: Code
    detail: str = ""


@dataclass(frozen=True)
class About:
    """What a person reads of a rule: its name and what it holds (the trade loop's start-up
    lines), the config keys that set it (a `risk:` limit by its `RiskLimits` name, any other
    key in full), and what to do about a denial short of raising them (an order placed by hand
    or by the assistant is told both)."""

    name: str
    what: str
    names: str = ""  # `max_order_count`, `maintenance_lead_s, maintenance_withdraw`
    hint: str = ""

    @property
    def limits(self) -> list[str]:
        """The `risk:` limits it reads, as `RiskLimits` names them."""
        return [name for name in self.names.split(", ") if name and "." not in name]

    @property
    def keys(self) -> str:
        """Its keys as the config file writes them: `risk.max_order_count`."""
        return ", ".join(n if "." in n else f"risk.{n}" for n in self.names.split(", ") if n)


@dataclass(frozen=True)
class ShardBalances:
    """The order's market's exchange shard (`exchange_index`) and each shard's balance as the
    exchange last told it (`balance_breakdown`), less what orders judged before it in the same
    batch may spend there (`spent`)."""

    shard: int
    balances: Mapping[int, Decimal]
    spent: Mapping[int, Decimal] = field(default_factory=dict)
    # whose money: a numbered subaccount's (None or 0: the primary account's)
    subaccount: int | None = None

    def available(self, shard: int) -> Decimal:
        return self.balances.get(shard, ZERO) - self.spent.get(shard, ZERO)


def shard_move(
    shard: int, short: Decimal, available: Mapping[int, Decimal], subaccount: int | None
) -> str | None:
    """The `kalshi shard move` that gives `shard` `short` more (up to the cent) from the other
    shard holding the most of `available`, of `subaccount`'s money (None or 0: the primary
    account's; a move of another's money leaves this one's shard as short as it was); None
    when no other shard holds that much."""
    short = _cents_up(short)
    others = {n: held for n, held in available.items() if n != shard}
    source = max(others, key=others.__getitem__, default=None)
    if source is None or others[source] < short:
        return None
    whose = f" --subaccount {subaccount}" if subaccount else ""
    return f"kalshi shard move {short} --from {source} --to {shard}{whose}"


# every rule allows almost every order: one frozen verdict a code, not eleven new ones an order
_ALLOWED = {code: Verdict(True, code) for code in Code}


@dataclass(frozen=True)
class RiskContext:
    """What the loop knows when an intent for `position.ticker` is about to be sent."""

    now: float  # unix seconds
    state: TradingState
    position: PositionView  # this market: position and resting orders
    total_exposure: Decimal = ZERO  # dollars at risk in every market, this one included
    # the market's last book update; None while the feed holds no fresh book for it (no data
    # yet, or a sequence gap not yet resynced): runner/ports.py `book_data_at`
    last_data_at: float | None = None
    owned: Owned | None = None  # the sending strategy's own part, when it has a budget
    # the market's own (taker, maker) fee rates now: a risk engine always names them; None
    # only outside a loop, where the limit rules alone run (`limit_rules`: the assistant's
    # orders name no fair value), and the min-edge floor refuses to judge without them
    fee_rates: tuple[Decimal, Decimal] | None = None
    book: Orderbook | None = None  # the market's book, as the stop-loss reads it
    # the market's event, when a limit on its loss is set (risk/event_loss.py)
    event: EventBook | None = None
    # the market's shard and each shard's balance (None: not known, the exchange's to hold)
    shard: ShardBalances | None = None


class Rule(Protocol):
    code: Code

    @property
    def about(self) -> About: ...

    def check(self, intent: Intent, ctx: RiskContext) -> Verdict: ...


def _deny(code: Code, detail: str) -> Verdict:
    return Verdict(False, code, detail)


class TradingStateRule:
    code = Code.HALTED
    about = About("trading state", "HALTED / SAFE_MODE stop all orders, REDUCING only closes")

    def check(self, intent: Intent, ctx: RiskContext) -> Verdict:
        if ctx.state.allows(reduce_only=intent.reduce_only):
            return _ALLOWED[self.code]
        code = Code(ctx.state.value)
        extra = " and this order is not reduce_only" if ctx.state is TradingState.REDUCING else ""
        return _deny(code, f"trading state is {ctx.state}{extra}")


class DailyBreaker(Protocol):
    def tripped(self, day: str, state: TradingState | None = None) -> bool:
        """Whether the day's loss limit holds new orders; `state`: the trading state its
        caller read just now (an order's context), which spares it a read of its own."""
        ...


@dataclass
class CircuitBreakerRule:
    breaker: DailyBreaker
    code: Code = Code.CIRCUIT_BREAKER
    about = About("circuit breaker", "no new orders today once P&L <= -limit", "daily_loss_limit")

    def check(self, intent: Intent, ctx: RiskContext) -> Verdict:
        day = utc_day(ctx.now)
        if intent.reduce_only or not self.breaker.tripped(day, ctx.state):
            return _ALLOWED[self.code]
        return _deny(self.code, f"daily loss limit reached on {day}; no new orders until tomorrow")


@dataclass
class StaleFeedRule:
    stale_after_s: float
    code: Code = Code.STALE_FEED
    about = About("stale feed", "no orders on a market without fresh data", "stale_after_s")

    def check(self, intent: Intent, ctx: RiskContext) -> Verdict:
        if ctx.last_data_at is None:
            return _deny(
                self.code,
                f"{intent.ticker}: no fresh book (no market data yet, "
                "or a sequence gap not yet resynced)",
            )
        age = ctx.now - ctx.last_data_at
        if age >= self.stale_after_s:
            return _deny(self.code, f"{intent.ticker}: no market data for {age:.1f}s")
        return _ALLOWED[self.code]


class RateWindow(Protocol):
    limit: int

    def count(self) -> int: ...


@dataclass
class OrderRateRule:
    window: RateWindow
    code: Code = Code.ORDER_RATE
    about = About("order rate", "orders sent per minute", "max_orders_per_minute")

    def check(self, intent: Intent, ctx: RiskContext) -> Verdict:
        sent = self.window.count()
        if sent < self.window.limit:
            return _ALLOWED[self.code]
        return _deny(self.code, f"{sent} orders in the last minute (cap {self.window.limit})")


@dataclass
class MaxOrderSizeRule:
    max_order_count: Decimal
    code: Code = Code.MAX_ORDER_SIZE
    about = About("max order size", "contracts per order", "max_order_count", "lower the count")

    def check(self, intent: Intent, ctx: RiskContext) -> Verdict:
        if intent.count <= self.max_order_count:
            return _ALLOWED[self.code]
        return _deny(self.code, f"count {intent.count} > max {self.max_order_count}")


@dataclass
class MaxOrderCostRule:
    """Count x the price of the side the order adds (a sale of YES at 0.05 opens NO at
    0.95), at most `max_order_cost` dollars (None: no limit). Contracts that close a position
    held on the other side (as the exchange holds it) release money, so only the opening part
    of an order over the limit is counted, and a reduce-only exit, which opens nothing, is never
    blocked by it."""

    max_order_cost: Decimal | None
    code: Code = Code.MAX_ORDER_COST
    about = About("max order cost", "dollars an order adds", "max_order_cost", "lower the count")

    def check(self, intent: Intent, ctx: RiskContext) -> Verdict:
        limit = self.max_order_cost
        if limit is None or intent.reduce_only:
            return _ALLOWED[self.code]
        price = added_price(intent.action, intent.price)
        if intent.count * price <= limit or opening_cost(intent, ctx.position) <= limit:
            return _ALLOWED[self.code]
        return _deny(
            self.code,
            f"order cost {fmt_money(intent.count * price)} is over the maximum order cost "
            f"{fmt_money(limit)}",
        )


@dataclass
class PositionLimitRule:
    """Position plus every resting order the same way plus this intent, in contracts."""

    max_position: Decimal
    code: Code = Code.POSITION_LIMIT
    about = About(
        "position limit",
        "contracts per market, resting orders included",
        "max_position_per_market",
        "lower the count or cancel resting orders in the market",
    )

    def check(self, intent: Intent, ctx: RiskContext) -> Verdict:
        worst = ctx.position.after(intent).worst_case(intent.book_side)
        if worst <= self.max_position:
            return _ALLOWED[self.code]
        return _deny(
            self.code,
            f"{intent.ticker}: position plus resting orders would reach {fmt_count(worst)} "
            f"contracts, over the limit of {self.max_position}",
        )


@dataclass
class SelfCrossRule:
    """No order that would trade with one of the account's own resting orders in the same market
    (except those it replaces): strategies of one account, or a strategy and a person, never
    trade with each other. Refused here, it keeps its rate slot and names the order it would have
    met. An exit that only reduces is never held back: the exchange's self-trade prevention
    cancels it at the account's own order."""

    code: Code = Code.SELF_CROSS
    about = About("no self-trade", "no order that meets the account's own resting order")

    def check(self, intent: Intent, ctx: RiskContext) -> Verdict:
        if intent.reduce_only:
            return _ALLOWED[self.code]
        direction = intent.book_side
        yes_price = side_value(intent.side, intent.price)
        for order in ctx.position.resting:
            if order.order_id in intent.replaces or order.book_side is direction:
                continue
            theirs = side_value(order.side, order.price)
            if (yes_price >= theirs) if direction is BookSide.BID else (yes_price <= theirs):
                return _deny(
                    self.code,
                    f"{intent.ticker}: at YES {yes_price} it would trade with the account's own "
                    f"resting order {order.order_id or '(queued)'} at YES {theirs}",
                )
        return _ALLOWED[self.code]


class StrategyBudgetRule:
    """The sending strategy's own budget (`trade.budgets.NAME`, risk/budget.py), on what it
    owns: no order while it is stopped for the day, none that would carry its own contracts in
    the market or its own dollars at risk past its limits. An order that only reduces what it
    holds goes out, as under the account's limits; a strategy without a budget passes."""

    code: Code = Code.STRATEGY_BUDGET
    about = About("strategy budget", "a strategy's own limits", "trade.budgets", "lower the count")

    def check(self, intent: Intent, ctx: RiskContext) -> Verdict:
        owned = ctx.owned
        if owned is None or intent.reduce_only:
            return _ALLOWED[self.code]
        before = owned.position
        after = before.after(intent)
        if after.exposure() <= before.exposure():
            return _ALLOWED[self.code]  # it takes back what it holds: never the riskier choice
        direction = intent.book_side
        budget = owned.budget
        if owned.stopped is not None:
            return _deny(self.code, f"strategy {owned.name} is stopped: {owned.stopped}")
        held = after.worst_case(direction)
        if budget.max_contracts is not None and held > budget.max_contracts:
            return _deny(
                self.code,
                f"strategy {owned.name}: {held} contracts of its own in {intent.ticker} > its "
                f"budget of {budget.max_contracts}",
            )
        total = owned.exposure_elsewhere + after.exposure()
        if budget.max_exposure is not None and total > budget.max_exposure:
            return _deny(
                self.code,
                f"strategy {owned.name}: {fmt_money(total)} at risk of its own > its budget "
                f"of {fmt_money(budget.max_exposure)}",
            )
        return _ALLOWED[self.code]


@dataclass
class MaxExposureRule:
    max_total_exposure: Decimal
    code: Code = Code.MAX_EXPOSURE
    about = About(
        "max exposure",
        "dollars at risk over every market",
        "max_total_exposure",
        "lower the count or cancel resting orders",
    )

    def check(self, intent: Intent, ctx: RiskContext) -> Verdict:
        before = ctx.position.exposure()
        # a reduce-only order fills only against what is held and never rests: the most it can
        # leave at risk is what is left once it filled in full (less held, the account's other
        # orders then resting beside less), or what is at risk now if it fills nothing
        view = ctx.position
        after = (view.closed_by(intent) if intent.reduce_only else view.after(intent)).exposure()
        total = ctx.total_exposure - before + after
        if after <= before or total <= self.max_total_exposure:
            return _ALLOWED[self.code]
        return _deny(
            self.code,
            f"total exposure {fmt_money(total)} > max {fmt_money(self.max_total_exposure)}",
        )


@dataclass
class MinEdgeRule:
    min_edge: Decimal
    code: Code = Code.MIN_EDGE
    about = About("min edge", "expected profit per contract after fees", "min_edge")

    def check(self, intent: Intent, ctx: RiskContext) -> Verdict:
        if intent.reduce_only:
            return _ALLOWED[self.code]
        # no defaults in money: the floor is worked out at the market's own fee, never at the
        # rate the intent carries, which a strategy may leave at its default (the standard
        # taker rate) on a market that charges more; the rate it pays is `rate_paid`'s, the
        # one the loop logs its edge at (`RiskEngine.priced`)
        rates = ctx.fee_rates
        if rates is None:
            raise ValueError(
                f"no fee rates for {intent.ticker}: the min-edge floor judges an order at its "
                "market's own fee, never at the rate the intent carries"
            )
        edge = intent.edge_at(intent.rate_paid(rates))
        if edge >= self.min_edge:
            return _ALLOWED[self.code]
        return _deny(self.code, f"edge after fees {edge:.4f} < min {self.min_edge}")


class Windows(Protocol):
    def window_at(self, now: float, lead_s: float) -> tuple[float, float] | None: ...


@dataclass
class MaintenanceRule:
    """No order that adds from `lead_s` before an announced maintenance window until it ends,
    and none at all inside it."""

    windows: Windows
    lead_s: float
    code: Code = Code.MAINTENANCE
    about = About(
        "maintenance",
        "no new orders before and during a window; withdraw",
        "maintenance_lead_s, maintenance_withdraw",
    )

    def check(self, intent: Intent, ctx: RiskContext) -> Verdict:
        window = self.windows.window_at(ctx.now, self.lead_s)
        if window is None:
            return _ALLOWED[self.code]
        start, end = window
        if intent.reduce_only and ctx.now < start:
            return _ALLOWED[self.code]
        return _deny(
            self.code,
            f"exchange maintenance from {utc_datetime(start):%Y-%m-%d %H:%M:%S} to "
            f"{utc_datetime(end):%H:%M:%S} UTC: no new orders from {self.lead_s:g}s before it "
            "until it ends",
        )


@dataclass
class StopLossCooldownRule:
    """No order that adds in a market for `cooldown_s` after its last stop-loss order (`stopped`:
    ticker -> unix seconds), or a strategy buys back at once what was just sold at a loss. An
    order that can only close passes, marked reduce-only or not: with every order its way
    filled (it, the resting ones, the fills told), nothing is held on its side."""

    stopped: Mapping[str, float]
    cooldown_s: float
    code: Code = Code.STOP_LOSS_COOLDOWN
    about = About("stop-loss pause", "no new position just stopped out", "stop_loss_cooldown_s")

    def check(self, intent: Intent, ctx: RiskContext) -> Verdict:
        at = self.stopped.get(intent.ticker)
        if at is None or ctx.now >= at + self.cooldown_s or intent.reduce_only:
            return _ALLOWED[self.code]
        if ctx.position.after(intent).worst_case(intent.book_side) <= 0:
            return _ALLOWED[self.code]
        return _deny(
            self.code,
            f"stopped out {ctx.now - at:.0f}s ago: no new position for {self.cooldown_s:g}s",
        )


def stop_loss_mark(position: PositionView, book: Orderbook, share: Decimal) -> Decimal | None:
    """The mark the stop-loss closes `position` at now, if it does (else None): the market's
    best bid for the held side, its own resting orders taken out (0 with no bid), when that
    x contracts < share x entry cost. What is held is what the exchange holds, the fills told
    and not read included: a buy told filled at another price moves the entry cost, a sale
    told filled leaves less to close."""
    held, entry_cost = position.held_at_exchange()
    return _mark(held, entry_cost, position.resting, book, share)


def _mark(
    held: Decimal,
    entry_cost: Decimal,
    resting: Sequence[RestingOrder],
    book: Orderbook,
    share: Decimal,
) -> Decimal | None:
    """`stop_loss_mark` of a position of `held` contracts (+YES / -NO) that cost `entry_cost`,
    with the loop's `resting` orders in the book."""
    side = side_held(held)
    if side is None or share == 0:
        return None
    bid = market_bid(book, side, resting)
    mark = bid[0] if bid else ZERO
    return mark if mark * abs(held) < share * entry_cost else None


@dataclass
class StopLossAtEntryRule:
    """No order that opens or adds to a position the stop-loss would close as soon as it filled:
    its test (`stop_loss_mark`) on the position with the order filled at its price, in the book
    the stop-loss reads. The position is the one the exchange holds (the fills told and not read
    read), or a buy told filled would let an order through as closing what it closed already.
    An order the other way is judged on what it opens once it has closed what is held. An exit
    passes; so does any order without a book."""

    share: Decimal
    code: Code = Code.STOP_LOSS_AT_ENTRY
    about = About(
        "stop-loss",
        "close when mark < share x entry cost; open nothing it would close at once",
        "stop_loss_share",
    )

    def check(self, intent: Intent, ctx: RiskContext) -> Verdict:
        view, book = ctx.position, ctx.book
        side = Side.YES if intent.book_side is BookSide.BID else Side.NO
        if intent.reduce_only or book is None:
            return _ALLOWED[self.code]
        held, entry_cost = view.held_at_exchange()
        paid = added_price(intent.action, intent.price)
        if side_held(held) in (None, side):
            count = abs(held) + intent.count
            cost = entry_cost + paid * intent.count
        else:  # it closes what is held first: only what it opens after is a position
            count = intent.count - abs(held)
            if count <= 0:
                return _ALLOWED[self.code]
            cost = paid * count
        # the position with the order filled, as the stop-loss reads it (no fill unread)
        mark = _mark(count if side is Side.YES else -count, cost, view.resting, book, self.share)
        if mark is None:
            return _ALLOWED[self.code]
        return _deny(
            self.code,
            f"the stop-loss would close it at once: {mark} x {count} < {self.share} x {cost}",
        )


@dataclass
class EventLossRule:
    """The account's limit (`max_event_loss`, None: none) on the worst case of `ctx.event`, and
    the sending strategy's own (`Owned.budget.max_event_loss`) on what it owns of the event
    (risk/event_loss.py): an order that carries it past the limit and makes it worse is
    refused; one that only reduces goes out, as under every limit."""

    max_event_loss: Decimal | None
    code: Code = Code.EVENT_LOSS
    about = About(
        "event loss",
        "an event's worst case at settlement",
        "max_event_loss, trade.budgets.NAME.max_event_loss",
        "lower the count, or hedge in another market of the event",
    )

    def check(self, intent: Intent, ctx: RiskContext) -> Verdict:
        owned = ctx.owned
        if intent.reduce_only:
            return _ALLOWED[self.code]
        checks = [("", self.max_event_loss, ctx.event)]
        if owned is not None:
            checks.append((f"strategy {owned.name}: ", owned.budget.max_event_loss, owned.event))
        for who, limit, book in checks:
            if limit is None or book is None:
                continue
            after = book.worst(intent)
            if after.pnl >= -limit or after.pnl >= book.worst().pnl:
                continue
            return _deny(
                self.code,
                f"{who}event {book.terms.event_ticker}: its worst case at settlement would be "
                f"{fmt_money(after.pnl)} ({after.name}), past the limit of {fmt_money(-limit)}",
            )
        return _ALLOWED[self.code]


def opening_count(count: Decimal, book_side: BookSide, held: Decimal) -> Decimal:
    """The contracts of an order of `count` on `book_side` that open a position: those that
    close one `held` (+YES / -NO) on the other side release money."""
    closable = max(-held if book_side is BookSide.BID else held, ZERO)
    return max(count - closable, ZERO)


def _opening(intent: Intent, view: PositionView) -> tuple[Decimal, Decimal]:
    """The contracts an order opens (`opening_count`, against the position as the exchange
    holds it) and the price of the side it adds (`added_price`). A reduce-only exit opens
    nothing."""
    if intent.reduce_only:
        return ZERO, ZERO
    held, _ = view.held_at_exchange()
    return opening_count(intent.count, intent.book_side, held), added_price(
        intent.action, intent.price
    )


def opening_cost(intent: Intent, view: PositionView) -> Decimal:
    """What an order can commit: the contracts it opens x the price of the side it adds
    (`_opening`)."""
    count, price = _opening(intent, view)
    return count * price


def resting_cost(view: PositionView, order_ids: Sequence[str]) -> Decimal:
    """What the resting orders `order_ids` of `view` commit now (`held_by` what rests of each,
    against the position as the exchange holds it): given back when they are amended or
    replaced."""
    held, _ = view.held_at_exchange()
    return sum(
        (held_by(o, o.remaining, held) for o in view.resting if o.order_id in order_ids),
        start=ZERO,
    )


def held_by(order: RestingOrder, count: Decimal, held: Decimal) -> Decimal:
    """What `count` contracts of a resting order commit, at the least, with the position `held`
    (+YES / -NO) as the exchange holds it: those it would open (`opening_count`; the exchange
    holds nothing for those that close the position), each at the price of the side it adds,
    as `opening_cost` counted them when it went; what a cancel of them gives back."""
    return opening_count(count, order.book_side, held) * added_price(order.action, order.price)


def taking_fee(
    count: Decimal,
    price: Decimal,
    time_in_force: TimeInForce,
    fee_rates: tuple[Decimal, Decimal] | None,
) -> Decimal:
    """The fee a balance is held to for `count` contracts bought at `price`: the taker fee at
    the market's rate (`fee_rates`, (taker, maker); None: not known, the exchange's to hold the
    order to) for an order that takes now or dies (IOC, FOK); none for a GTC order, held to its
    cost alone. The one rule of the balance check (services/orders/limits.py) and the shard's
    (`shard_cost`)."""
    if fee_rates is None or time_in_force is TimeInForce.GTC:
        return ZERO
    return trading_fee(count, price, fee_rates[0])


def _shard_cost(
    intent: Intent, view: PositionView, fee_rates: tuple[Decimal, Decimal] | None
) -> tuple[Decimal, Decimal]:
    """What an order asks of its market's shard, and the taker fee in it: its `opening_cost`
    and what `taking_fee` holds it to on the contracts it opens, which the exchange charges
    from the market's shard with the cost."""
    count, price = _opening(intent, view)
    fee = taking_fee(count, price, intent.time_in_force, fee_rates)
    return count * price + fee, fee


def shard_cost(
    intent: Intent, view: PositionView, fee_rates: tuple[Decimal, Decimal] | None
) -> Decimal:
    """What an order asks of its market's shard: its `opening_cost` and its taker fee."""
    return _shard_cost(intent, view, fee_rates)[0]


def _cents_up(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_CEILING)


class ShardBalanceRule:
    """Kalshi runs several matching engines (exchange shards), each with its own balance, and
    checks an order's collateral inside its market's shard: an order whose cost
    (`shard_cost`) is over what its market's shard holds is refused before it is sent, naming
    the `kalshi shard move` that would cover it, or that no other shard holds it: on an
    account of one shard too (the breakdown lists no other), whose shard's balance is the
    account's, since the trade loop has no balance check of its own. With no shard balances
    told (a key restricted to a subaccount), the exchange holds the order alone."""

    code = Code.SHARD_BALANCE
    about = About(
        "shard balance",
        "an order's cost within its market's shard's balance",
        "",
        "move money to the market's shard with `kalshi shard move`",
    )

    def check(self, intent: Intent, ctx: RiskContext) -> Verdict:
        shards = ctx.shard
        if shards is None:
            return _ALLOWED[self.code]
        need, fee = _shard_cost(intent, ctx.position, ctx.fee_rates)
        here = shards.shard
        have = shards.available(here)
        if need <= have:
            return _ALLOWED[self.code]
        available = {n: shards.available(n) for n in shards.balances if n != here}
        line = shard_move(here, need - have, available, shards.subaccount)
        if line is not None:
            move = f"`{line}` would cover it"
        else:
            move = f"no other shard holds {fmt_money(_cents_up(need - have))}: fund shard {here}"
        return _deny(
            self.code,
            f"{intent.ticker} trades on shard {here}: the order needs {fmt_money(need)}"
            f"{' with the taker fee' if fee else ''}, "
            f"shard {here} holds {fmt_money(max(have, ZERO))}; {move}",
        )

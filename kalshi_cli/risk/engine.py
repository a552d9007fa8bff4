"""The risk engine: the limits, the rules built from them, and the three guards with memory.

The trade loop asks `evaluate(intent, ctx)` before every submission, through its pre-trade
account (services/pretrade/loop.py builds `ctx` from the loop's view and the engine's trading
state, clock, fees and books), and sends only with no denial (each reported as `risk_denied`).
Each tick it calls `check_circuit_breaker()` and `stop_loss()` per position, whose intents go
through `evaluate` too; it tells the `api_guard` how each call went and calls `record_sent` after
each order. What must survive a restart lives in the state file (today's
trip row, SAFE_MODE), so a new engine picks it up.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Protocol, TypeVar

import msgspec

from kalshi_cli.risk.rules import (
    About,
    CircuitBreakerRule,
    Code,
    EventLossRule,
    MaintenanceRule,
    MaxExposureRule,
    MaxOrderCostRule,
    MaxOrderSizeRule,
    MinEdgeRule,
    OrderRateRule,
    PositionLimitRule,
    RiskContext,
    Rule,
    SelfCrossRule,
    ShardBalanceRule,
    StaleFeedRule,
    StopLossAtEntryRule,
    StopLossCooldownRule,
    StrategyBudgetRule,
    TradingStateRule,
    Verdict,
    stop_loss_mark,
)
from kalshi_cli.risk.state import StateRow, TradingRecords, current_state
from kalshi_cli.vocabulary.clock import Backoff, Clock, utc_day
from kalshi_cli.vocabulary.decisions import Intent, PositionView, require
from kalshi_cli.vocabulary.decode import Range, decode_config
from kalshi_cli.vocabulary.errors import MAY_PASS, NotSentPastDeadline
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.owners import STOP_LOSS
from kalshi_cli.vocabulary.trading_state import TradingState
from kalshi_cli.vocabulary.units import (
    Action,
    BookSide,
    Side,
    TimeInForce,
    fmt_exact_dollars,
    fmt_money,
)

EntrySink = Callable[[str, Mapping[str, str]], None]

_log = logging.getLogger("kalshi_cli.risk")


def log_entry(kind: str, data: Mapping[str, str]) -> None:
    _log.warning("%s %s", kind, json.dumps(dict(data), sort_keys=True))


MAINTENANCE_WITHDRAW = ("quotes", "all", "none")


class MaintenanceWindows:
    """The exchange's announced maintenance windows (unix seconds, from
    `GET /exchange/schedule`), as the trade loop last read them."""

    def __init__(self) -> None:
        self.windows: tuple[tuple[float, float], ...] = ()

    def set(self, windows: list[tuple[float, float]]) -> bool:
        """Replace them; True when they changed."""
        new = tuple(sorted(windows))
        changed = new != self.windows
        self.windows = new
        return changed

    def window_at(self, now: float, lead_s: float) -> tuple[float, float] | None:
        """The window that holds at `now`, counting `lead_s` before its start."""
        for start, end in self.windows:
            if start - lead_s <= now < end:
                return start, end
        return None

    def next_change(self, now: float, lead_s: float) -> float:
        """The first time after `now` when `window_at` may answer otherwise: a window's lead
        begins or a window ends (inf: never, while these windows stand)."""
        return min(
            (t for start, end in self.windows for t in (start - lead_s, end) if t > now),
            default=math.inf,
        )


class RiskLimits(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """`risk.*` in the config; documented with these defaults in docs/risk.md. Its rules are
    checked on every construction (`__post_init__`); `from_config` decodes the section through
    the one config decoder, which also holds `min_edge` to at least 0."""

    max_position_per_market: Decimal = Decimal("100")
    max_total_exposure: Decimal = Decimal("500")
    max_order_count: Decimal = Decimal("50")
    # dollars one order may commit (count x the price of the side it adds); None: no limit
    max_order_cost: Annotated[Decimal, Range(gt=0)] | None = None
    # dollars one event's worst case at settlement may lose (EVENT_LOSS); None: no limit
    max_event_loss: Annotated[Decimal, Range(gt=0)] | None = None
    # a negative floor lets through orders a strategy expects to lose on: never from a person's
    # config (the decoder checks `Range`), while a test may build one to look at the other rules
    min_edge: Annotated[Decimal, Range(ge=0)] = Decimal("0.005")
    stop_loss_share: Decimal = Decimal("0.5")
    # seconds after the stop-loss closed a market during which no order adds to it there
    stop_loss_cooldown_s: float = 300.0
    daily_loss_limit: Decimal = Decimal("100")
    max_consecutive_errors: int = 5
    # seconds of an exchange failing every call: SAFE_MODE then, however few calls the backoff
    # let through (a count alone climbs slowly while the loop backs off)
    api_outage_s: float = 20.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    max_orders_per_minute: int = 120
    stale_after_s: float = 10.0
    # an announced maintenance window: no new adding order from this many seconds before it,
    # and what the loop withdraws for it: "quotes" (its orders that would add), "all" (every
    # order it placed) or "none"
    maintenance_lead_s: float = 60.0
    maintenance_withdraw: str = "quotes"
    # dollars a shard the config trades on should hold (`kalshi health-check`, `kalshi check
    # balance`, the trade loop's start); None: one order's cost (`shard_floor`)
    min_shard_balance: Annotated[Decimal, Range(gt=0)] | None = None

    @property
    def shard_floor(self) -> Decimal:
        """The least a traded shard should hold, one order's cost: `min_shard_balance`, else
        the most one order may cost, `max_order_count` contracts at $1 (price and taker fee
        stay under $1 a contract), or `max_order_cost` when that is less. The trade loop enters
        a shard holding it, and the checks warn below it: one rule, so a shard the loop says it
        cannot pay from is never OK to them, and one that pays any order is never held."""
        if self.min_shard_balance is not None:
            return self.min_shard_balance
        most = Decimal(self.max_order_count)
        return most if self.max_order_cost is None else min(most, self.max_order_cost)

    def __post_init__(self) -> None:
        require(self.max_position_per_market > 0, "max_position_per_market must be positive")
        require(self.max_total_exposure > 0, "max_total_exposure must be positive")
        require(self.max_order_count > 0, "max_order_count must be positive")
        require(self.min_edge < 1, "min_edge must be below 1 dollar per contract")
        require(0 <= self.stop_loss_share < 1, "stop_loss_share must be in [0, 1)")
        require(self.stop_loss_cooldown_s >= 0, "stop_loss_cooldown_s must be at least 0")
        require(self.daily_loss_limit > 0, "daily_loss_limit must be positive")
        require(self.max_consecutive_errors >= 1, "max_consecutive_errors must be at least 1")
        require(self.api_outage_s > 0, "api_outage_s must be positive")
        require(0 < self.backoff_base_s <= self.backoff_max_s, "need 0 < backoff_base_s <= max")
        require(self.max_orders_per_minute >= 1, "max_orders_per_minute must be at least 1")
        require(self.stale_after_s > 0, "stale_after_s must be positive")
        require(self.maintenance_lead_s >= 0, "maintenance_lead_s must be at least 0")
        require(
            self.maintenance_withdraw in MAINTENANCE_WITHDRAW,
            f"maintenance_withdraw must be one of {', '.join(MAINTENANCE_WITHDRAW)}",
        )

    @classmethod
    def from_config(cls, raw: Mapping[str, object] | None) -> RiskLimits:
        """The `risk:` section (None: every default), refusals at the file and line of the key
        when `raw` came from the config's line-aware loader."""
        return decode_config(cls, raw, where="risk", what="parameter")


def limit_rules(limits: RiskLimits) -> tuple[Rule, ...]:
    """The rules that bound what one order may add to the account: `MAX_ORDER_SIZE`,
    `MAX_ORDER_COST`, `STRATEGY_BUDGET`, `POSITION_LIMIT` (counting resting orders),
    `MAX_EXPOSURE`, `EVENT_LOSS` and `SHARD_BALANCE`. They read only the intent and the
    context, so an order placed outside a loop is held to the same rules from the same `risk:`
    section."""
    return (
        MaxOrderSizeRule(limits.max_order_count),
        MaxOrderCostRule(limits.max_order_cost),
        StrategyBudgetRule(),
        PositionLimitRule(limits.max_position_per_market),
        MaxExposureRule(limits.max_total_exposure),
        EventLossRule(limits.max_event_loss),
        ShardBalanceRule(),
    )


def judge(
    rules: Iterable[Rule], intent: Intent | Callable[[Rule], Intent | None], ctx: RiskContext
) -> list[tuple[Rule, Verdict]]:
    """Every rule of `rules` that denies `intent` in `ctx`, with its verdict, in the rules'
    order: the one loop over the rules, the trade loop's (`RiskEngine.evaluate`), a command's
    and the assistant's (services/pretrade/account.py). `intent` may be given per rule (None:
    that rule is not asked)."""
    if not callable(intent):  # one intent for every rule: the trade loop's, on its hot path
        return [(rule, v) for rule in rules if not (v := rule.check(intent, ctx)).allowed]
    denials = []
    for rule in rules:
        asked = intent(rule)
        if asked is not None and not (verdict := rule.check(asked, ctx)).allowed:
            denials.append((rule, verdict))
    return denials


ORDER_RATE_WINDOW_S = 60.0  # what `max_orders_per_minute` counts


class OrderRateCap:
    """Orders sent in the last `window_s` seconds (monotonic clock), capped at `limit`; `sent`:
    when those of an earlier run were (unix seconds, oldest first)."""

    def __init__(
        self,
        limit: int,
        *,
        clock: Clock,
        window_s: float = ORDER_RATE_WINDOW_S,
        sent: Iterable[float] = (),
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._window_s = window_s
        ago = clock.wall() - clock.monotonic()
        self._sent: deque[float] = deque(at - ago for at in sent)

    def count(self) -> int:
        horizon = self._clock.monotonic() - self._window_s
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()
        return len(self._sent)

    def record(self) -> float:
        """A slot taken now; when it was taken (for `give_back`)."""
        at = self._clock.monotonic()
        self._sent.append(at)
        return at

    def give_back(self, at: float) -> None:
        """The slot taken at `at` (`record`) for an order that is not sent after all."""
        if at in self._sent:
            self._sent.remove(at)


_Trip_co = TypeVar("_Trip_co", covariant=True)


class TripReads(Protocol[_Trip_co]):
    """The state file's risk trips, as `day_trip` reads them (`store.trading`, the loop's cache
    over it)."""

    def risk_trips(
        self, *, rule: str | None = None, day: str | None = None
    ) -> Sequence[_Trip_co]: ...


def day_trip(records: TripReads[_Trip_co], day: str) -> _Trip_co | None:
    """The daily circuit breaker's last trip of UTC day `day` (None: it did not trip that day):
    what holds every order that adds for the rest of that day, whatever the trading state reads
    (`kalshi resume` writes ACTIVE). Read alone, nothing written: `CircuitBreaker.tripped` asks
    it first, and `kalshi status`, `resume` and the heartbeat check say what it holds."""
    trips = records.risk_trips(rule=CircuitBreaker.RULE, day=day)
    return trips[-1] if trips else None


def breakers_day_over(records: TripReads[object], row: StateRow, day: str) -> bool:
    """Whether `row` (the trading state read) is the daily circuit breaker's own REDUCING and
    it did not trip on UTC day `day`: its day is over, and on `day` ACTIVE holds. The breaker
    writes that ACTIVE when next asked (`CircuitBreaker.tripped`: the loop's tick, an order
    that adds); `kalshi status` reads it so before. A REDUCING another rule or a person set
    is theirs."""
    return (
        row.state == TradingState.REDUCING
        and row.source == CircuitBreaker.RULE
        and day_trip(records, day) is None
    )


class CircuitBreaker:
    """Trips when a UTC day's realized P&L reaches -daily_loss_limit; holds that whole day."""

    RULE = "circuit_breaker"

    def __init__(self, records: TradingRecords, daily_loss_limit: Decimal, sink: EntrySink) -> None:
        self._records = records
        self._limit = daily_loss_limit
        self._sink = sink
        self._tripped_days: set[str] = set()

    def tripped(self, day: str, state: TradingState | None = None) -> bool:
        if day in self._tripped_days:
            return True
        if day_trip(self._records, day) is not None:
            self._tripped_days.add(day)
            return True
        pnl = self._records.daily_realized_pnl(day)
        if self._reached(pnl):
            self._trip(day, pnl)
            return True
        self._lift_previous_day(day, state)
        return False

    def holds(self, day: str) -> bool:
        """Whether the breaker holds `day` (its trip, or the day's realized P&L at the limit)
        as `tripped` answers, with nothing written: no trip recorded, no REDUCING lifted (a
        dry run's question)."""
        if day in self._tripped_days or day_trip(self._records, day) is not None:
            return True
        return self._reached(self._records.daily_realized_pnl(day))

    def _reached(self, pnl: Decimal) -> bool:
        return pnl <= -self._limit

    def _trip(self, day: str, pnl: Decimal) -> None:
        detail = (
            f"realized P&L {fmt_money(pnl)} on {day} reached the daily loss limit of "
            f"{fmt_money(-self._limit)}"
        )
        with self._records.transaction():
            self._records.record_risk_trip(
                rule=self.RULE, code=Code.CIRCUIT_BREAKER, detail=detail, day=day
            )
            # a person's HALTED or the guard's SAFE_MODE is stricter; leave it in place
            if current_state(self._records) is TradingState.ACTIVE:
                self._records.set_trading_state(
                    TradingState.REDUCING, reason=detail, source=self.RULE
                )
        self._tripped_days.add(day)
        self._sink(
            "circuit_breaker",
            {"day": day, "realized_pnl": fmt_exact_dollars(pnl), "detail": detail},
        )

    def _lift_previous_day(self, day: str, state: TradingState | None) -> None:
        # only its own REDUCING is lifted: a state read just now that is not REDUCING needs
        # no read of the row that says who set it
        if state is not None and state is not TradingState.REDUCING:
            return
        if breakers_day_over(self._records, self._records.trading_state(), day):
            self._records.set_trading_state(
                TradingState.ACTIVE, reason="new UTC day", source=self.RULE
            )


@dataclass(frozen=True)
class GuardVerdict:
    delay_s: float  # wait this long before the next call to the exchange
    safe_mode: bool  # the guard has just put trading into SAFE_MODE


class ApiErrorGuard:
    """Consecutive 429s, 5xx, transport failures and unreadable answers, of any call, back off
    exponentially; trading goes into SAFE_MODE until a person resumes on the
    `max_consecutive_errors`-th in a row, or on a failure `api_outage_s` or more after the first
    of an unbroken run (a backoff never runs past that deadline). A success resets both; an
    error that says nothing of the exchange's health (a 400, a 404) neither counts nor resets."""

    RULE = "api_error_guard"
    about = About(
        "API error guard",
        "backoff on consecutive errors, SAFE_MODE past the maximum or the outage",
        "max_consecutive_errors, api_outage_s, backoff_base_s, backoff_max_s",
    )

    def __init__(
        self, records: TradingRecords, limits: RiskLimits, sink: EntrySink, clock: Clock
    ) -> None:
        self._records = records
        self._limits = limits
        self._sink = sink
        self._clock = clock
        self._backoff = Backoff(limits.backoff_base_s, limits.backoff_max_s)
        self.consecutive = 0
        self._failing_since: float | None = None  # monotonic: the first error of the run

    @staticmethod
    def counts(error: BaseException) -> bool:
        # a request its deadline kept from going out (or the client's own rate limiter held past
        # it) never reached the exchange, and says nothing of the exchange's health
        if isinstance(error, NotSentPastDeadline):
            return False
        # the exchange throttling, failing, not answering, or answering what cannot be read (a
        # proxy's page, a body cut short): the one rule of a failure that may pass if asked again
        return isinstance(error, MAY_PASS)

    def record_success(self) -> None:
        self.consecutive = 0
        self._failing_since = None

    def record_error(self, error: BaseException) -> GuardVerdict:
        if not self.counts(error):
            return GuardVerdict(0.0, False)
        now = self._clock.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        self.consecutive += 1
        failing_s = now - self._failing_since
        outage_s = self._limits.api_outage_s
        if self.consecutive < self._limits.max_consecutive_errors and failing_s < outage_s:
            # the whole ceiling of the house's rule, not a draw under it: the pause a trader
            # reads in docs/risk.md (`min(backoff_base_s x 2^(n-1), backoff_max_s)`) is the one
            # they get
            pause = self._backoff.ceiling(self.consecutive)
            return GuardVerdict(min(pause, outage_s - failing_s), False)
        if failing_s >= outage_s:
            detail = (
                f"API outage: every call failed for {failing_s:.1f}s ({self.consecutive} errors "
                f"in a row; risk.api_outage_s {outage_s:g}), last: {error}"
            )
        else:
            detail = f"{self.consecutive} consecutive API errors, last: {error}"
        with self._records.transaction():  # the trip and SAFE_MODE: one commit
            self._records.record_risk_trip(rule=self.RULE, code=Code.SAFE_MODE, detail=detail)
            if not current_state(self._records).needs_person:
                self._records.set_trading_state(
                    TradingState.SAFE_MODE, reason=detail, source=self.RULE
                )
        self._sink("safe_mode", {"detail": detail})
        # the persisted state now holds trading; a fresh count awaits `kalshi resume`
        self.consecutive = 0
        self._failing_since = None
        return GuardVerdict(self._limits.backoff_max_s, True)


class RiskEngine:
    def __init__(
        self,
        records: TradingRecords,
        limits: RiskLimits | None = None,
        *,
        clock: Clock,
        fee_rates: Callable[[str, float], tuple[Decimal, Decimal]],
        sink: EntrySink = log_entry,
        books: Callable[[str], Orderbook | None] = lambda ticker: None,
        stopped: Mapping[str, float] | None = None,
        sent: Iterable[float] = (),
    ) -> None:
        self.limits = limits or RiskLimits()
        # ticker -> its book, the one the stop-loss reads its mark in: the loop's feed's
        self.books = books
        self.records = records
        self.clock = clock
        self._sink = sink
        self.rate_cap = OrderRateCap(self.limits.max_orders_per_minute, clock=clock, sent=sent)
        self.breaker = CircuitBreaker(records, self.limits.daily_loss_limit, sink)
        self.api_guard = ApiErrorGuard(records, self.limits, sink, clock)
        # markets whose stop-loss is due but has no bid to sell into: reported once per episode,
        # not on every tick (a busy feed ticks many times a second, for days)
        self._no_bid: set[str] = set()
        # ticker -> when its last stop-loss order was made: from the state file at start
        # (`stopped`), so a restart does not lift the pause after it, as the orders of the last
        # minute (`sent`) do not leave the order-rate cap
        self._stopped: dict[str, float] = dict(stopped or {})
        self.maintenance = MaintenanceWindows()
        # (ticker, unix seconds) -> the market's own (taker, maker) fee rates then (the loop's
        # `Portfolio.fee_rates`): required, so no engine judges the min-edge floor, or prices
        # an order's logged edge, at a rate an intent carries
        self.fee_rates = fee_rates
        self.rules: tuple[Rule, ...] = (
            TradingStateRule(),
            CircuitBreakerRule(self.breaker),
            StaleFeedRule(self.limits.stale_after_s),
            OrderRateRule(self.rate_cap),
            SelfCrossRule(),
            *limit_rules(self.limits),
            MinEdgeRule(self.limits.min_edge),
            MaintenanceRule(self.maintenance, self.limits.maintenance_lead_s),
            StopLossCooldownRule(self._stopped, self.limits.stop_loss_cooldown_s),
            StopLossAtEntryRule(self.limits.stop_loss_share),
        )

    def state(self) -> TradingState:
        return current_state(self.records)

    def priced(self, intent: Intent) -> Intent:
        """The intent at the rate its market charges it now (`Intent.rate_paid`), the rate the
        min-edge floor judges it at: the edge its log lines carry is then that one, whatever
        rate its strategy left in it. The intent itself when it already carries that rate."""
        rate = intent.rate_paid(self.fee_rates(intent.ticker, self.clock.wall()))
        return intent if rate == intent.fee_rate else intent.at_fee_rate(rate)

    def evaluate(
        self, intent: Intent, ctx: RiskContext, rules: Iterable[Rule] | None = None
    ) -> list[Verdict]:
        """Every rule's denial (all of them, not just the first); empty means send it. `rules`:
        those of the engine's that can refuse (its pre-trade account's choice; None: all)."""
        asked = self.rules if rules is None else rules
        denials = [verdict for _, verdict in judge(asked, intent, ctx)]
        for verdict in denials:
            self._sink(
                "risk_denied",
                {
                    "code": verdict.code,
                    "detail": verdict.detail,
                    "ticker": intent.ticker,
                    "side": intent.side,
                    "action": intent.action,
                    "price": str(intent.price),
                    "count": str(intent.count),
                    "strategy": intent.strategy,
                },
            )
        return denials

    def record_sent(self) -> float:
        """An order's slot of the order-rate cap, taken as it is allowed; when (`give_back`)."""
        return self.rate_cap.record()

    def give_back(self, slot: float) -> None:
        """The slot taken at `slot` for an order that was not sent after all."""
        self.rate_cap.give_back(slot)

    def check_circuit_breaker(self) -> bool:
        """Evaluate today's realized P&L (tripping if needed); True while tripped today."""
        return self.breaker.tripped(utc_day(self.clock.wall()))

    def stop_loss(self, position: PositionView, book: Orderbook) -> list[Intent]:
        """Close a position whose mark (the market's best bid for the held side, the resting
        orders of `position` taken out, x contracts) is below stop_loss_share x entry cost:
        reducing IOC sells at that bid, split to the max order size as every reducing order is
        (`split`), the first one replacing resting orders that would add to the position."""
        share = self.limits.stop_loss_share
        mark = stop_loss_mark(position, book, share)
        if mark is None or mark:  # not due, or a bid to sell into
            self._no_bid.discard(position.ticker)
        if mark is None:
            return []
        position_now, entry_cost = position.held_at_exchange()  # as `stop_loss_mark` reads it
        count = abs(position_now)
        held = Side.YES if position_now > 0 else Side.NO
        if not mark:
            if position.ticker not in self._no_bid:
                self._no_bid.add(position.ticker)
                self._sink("stop_loss_no_bid", {"ticker": position.ticker, "side": held})
            return []
        adding = BookSide.BID if held is Side.YES else BookSide.ASK
        replaces = tuple(o.order_id for o in position.resting if o.book_side is adding)
        reason = f"stop-loss: mark {mark} x {count} < {share} x entry cost {entry_cost}"
        whole = Intent(
            ticker=position.ticker,
            side=held,
            action=Action.SELL,
            price=mark,
            count=count,
            model_fair=mark,
            reason=reason,
            strategy=STOP_LOSS,
            reduce_only=True,
            time_in_force=TimeInForce.IOC,
            replaces=replaces,
        )
        self._stopped[position.ticker] = self.clock.wall()
        return self.split(whole)

    def split(self, intent: Intent) -> list[Intent]:
        """A reducing order (`reduce_only`) larger than `max_order_count`, as orders of at most
        that size, the first one cancelling what the whole replaced: a position built from
        orders within the limit must close the same way, whoever closes it (a strategy's exit,
        the stop-loss). Any other intent is returned whole, for MAX_ORDER_SIZE to judge: an
        order that adds exposure beyond the limit is refused, never cut to fit."""
        limit = self.limits.max_order_count
        if not intent.reduce_only or intent.count <= limit:
            return [intent]
        chunks: list[Intent] = []
        left = intent.count
        while left > 0:
            count = min(left, limit)
            chunks.append(
                dataclasses.replace(
                    intent, count=count, replaces=intent.replaces if not chunks else ()
                )
            )
            left -= count
        return chunks

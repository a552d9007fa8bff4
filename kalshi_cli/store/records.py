"""What the state file hands out: frozen dataclasses, Decimal for every money and count value.

Records are plain values with no link back to the database; changing the state file always goes
through a `Store` method, so every write is validated and lands in a transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from kalshi_cli.vocabulary.clock import age_of
from kalshi_cli.vocabulary.models import is_market_result
from kalshi_cli.vocabulary.trading_state import TradingState
from kalshi_cli.vocabulary.units import ZERO, Action, BookSide, Side, TimeInForce


class IntentTerms(Protocol):
    """The terms of an order request an intent records (the client's `CreateOrder`)."""

    @property
    def client_order_id(self) -> str: ...
    @property
    def ticker(self) -> str: ...
    @property
    def book_side(self) -> BookSide: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def count(self) -> Decimal: ...
    @property
    def time_in_force(self) -> TimeInForce: ...
    @property
    def post_only(self) -> bool: ...
    @property
    def reduce_only(self) -> bool: ...


# An intent is written as `pending` before the request leaves; the exchange's answer (or its
# absence) moves it on. `unknown` means the request may have reached the exchange and no answer
# came back: it is resolved by looking the order up, never by sending again.
PENDING = "pending"
RESTING = "resting"
EXECUTED = "executed"
CANCELED = "canceled"
REJECTED = "rejected"
UNKNOWN = "unknown"
ORDER_STATUSES: tuple[str, ...] = (PENDING, RESTING, EXECUTED, CANCELED, REJECTED, UNKNOWN)
# How long an intent may stay `pending` while a request sent for it can still land: the client's
# LANDING_WINDOW_S (a test keeps them equal; the client is not imported for a constant). One
# pending longer is a crash's leftover, its outcome unknown.
IN_FLIGHT_S = 40.0
OPEN_STATUSES: tuple[str, ...] = (PENDING, UNKNOWN, RESTING)
# The statuses an order can have on the exchange, i.e. what `mark_sent` may record.
SENT_STATUSES: tuple[str, ...] = (RESTING, EXECUTED, CANCELED)
# The statuses after which an order changes no more.
FINISHED_STATUSES: tuple[str, ...] = (EXECUTED, CANCELED, REJECTED)
# How the reason of an intent marked rejected because the exchange did not list it begins (the
# trade loop's and reconcile's): a conclusion drawn from an absence, which `reconcile` checks
# again against the exchange's orders, unlike a refusal the exchange gave (so retention keeps it).
NOT_ON_EXCHANGE = "not on the exchange"

TRADING_STATES: tuple[str, ...] = tuple(s.value for s in TradingState)


@dataclass(frozen=True)
class IntentRecord:
    """An order intent and the order it becomes: one row from `pending` to its final status.

    `price` is the YES price (the V2 book's price); `side`, `action` keep the trader's words.
    `created_at`/`updated_at` left at 0.0 are stamped with the store's clock on write.
    """

    client_order_id: str
    ticker: str
    book_side: BookSide
    price: Decimal
    count: Decimal
    side: Side
    action: Action
    status: str = PENDING
    order_id: str | None = None
    filled: Decimal = ZERO
    remaining: Decimal | None = None
    strategy: str | None = None
    model_fair: Decimal | None = None
    reason: str | None = None
    error: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    time_in_force: str = TimeInForce.GTC.value
    post_only: bool = False
    reduce_only: bool = False
    # the subaccount the order is on (0 the primary, 1-63 numbered): its own book
    subaccount: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @classmethod
    def pending(
        cls,
        create: IntentTerms,
        *,
        side: Side,
        action: Action,
        subaccount: int,
        now: float,
        strategy: str | None = None,
        model_fair: Decimal | None = None,
        reason: str | None = None,
    ) -> IntentRecord:
        """The intent of the wire request `create`, before it is sent: every term of the order
        is the request's own, so a new order field is one field of `CreateOrder` and its column
        here, in this one place."""
        return cls(
            client_order_id=create.client_order_id,
            ticker=create.ticker,
            book_side=create.book_side,
            price=create.price,
            count=create.count,
            side=side,
            action=action,
            status=PENDING,
            strategy=strategy,
            model_fair=model_fair,
            reason=reason,
            created_at=now,
            updated_at=now,
            time_in_force=create.time_in_force.value,
            post_only=create.post_only,
            reduce_only=create.reduce_only,
            subaccount=subaccount,
        )


@dataclass(frozen=True)
class OrderHistoryRecord:
    """One change of an order row, written in the same transaction as the change."""

    client_order_id: str
    status: str
    order_id: str | None
    filled: Decimal
    remaining: Decimal | None
    note: str | None
    at: float


@dataclass(frozen=True)
class AmendRecord:
    """An amend of a resting order, written before it was sent and not settled since (a row of
    `amends_in_flight`): the YES price and the total it asks, and when it was written. `id`
    names it to what settles it, so two amends out for one order are settled each by its own
    answer."""

    id: int
    client_order_id: str
    price: Decimal
    total: Decimal
    at: float


# Not slotted on purpose: `Store.iter_fills` builds a million of these for `kalshi pnl` and fills
# the instance dict directly, which costs half of what the generated frozen __init__ does.
@dataclass(frozen=True)
class FillRecord:
    fill_id: str
    order_id: str
    client_order_id: str | None
    ticker: str
    book_side: BookSide
    yes_price: Decimal
    count: Decimal
    fee: Decimal
    is_taker: bool
    ts: float
    strategy: str | None = None
    realized_pnl: Decimal | None = None
    subaccount: int = 0  # whose book the fill is in (0 the primary, 1-63 numbered)

    @property
    def signed_count(self) -> Decimal:
        """Change in the netted position: + for YES bought (bid), - for YES sold (ask)."""
        return self.count if self.book_side is BookSide.BID else -self.count


@dataclass(frozen=True)
class SettlementRecord:
    ticker: str
    event_ticker: str
    result: str
    yes_count: Decimal
    no_count: Decimal
    yes_total_cost: Decimal
    no_total_cost: Decimal
    revenue: Decimal  # dollars
    fee: Decimal
    settled_at: float
    # whose settlement it is: the subaccount the listing was made for (the spec's Settlement
    # names none); None for one copied before migration 0004, from the listing of them all
    subaccount: int | None = 0

    @property
    def paid(self) -> Decimal:
        """What the settled contracts were worth before the payout was rounded to whole cents:
        the revenue (paid, in whole cents) and the settlement fee (what rounding kept) together
        (Kalshi's docs, "Market Settlement": payout + fee = the value before rounding)."""
        return self.revenue + self.fee

    @property
    def realized_pnl(self) -> Decimal:
        """What the settlement realized: their worth less what the settled contracts cost and
        the settlement fee, which is the revenue less the costs: the balance's change. This is
        the figure `store.trading.daily_realized_pnl` adds for the day."""
        return self.paid - self.yes_total_cost - self.no_total_cost - self.fee

    @property
    def yes_value(self) -> Decimal | None:
        """What one YES contract paid: $1.00 on a YES result; on a NO or scalar result, read
        from the worth of the contracts held (a floored market pays YES its floor, a scalar
        result YES its `value`, NO the rest), so neither needs the market known. None when
        that cannot be read (nothing held, or a void result). A netted position holds one side
        only."""
        if not is_market_result(self.result):
            return None
        if self.result == "yes":
            return Decimal(1)
        if self.yes_count > 0:
            return self.paid / self.yes_count
        if self.no_count > 0:
            return 1 - self.paid / self.no_count
        return None


@dataclass(frozen=True)
class TradingStateRecord:
    state: str
    reason: str
    source: str
    at: float


@dataclass(frozen=True)
class RiskTripRecord:
    rule: str
    code: str
    detail: str
    ticker: str | None
    day: str
    at: float


@dataclass(frozen=True)
class AlertStateRecord:
    """The last known state of one alert fingerprint, for de-duplication across cron runs.

    `first_seen_at` is when the current status began (it resets when the status changes);
    `last_sent_at` is the last successful delivery for this fingerprint, whatever the status.
    `scope` is what the breach last delivered covers (None: none recorded); `told`, the tiers
    delivered since the current status began (its clearing is owed to each).
    """

    fingerprint: str
    status: str
    severity: str
    summary: str
    last_sent_at: float | None
    first_seen_at: float
    updated_at: float
    error: str | None
    scope: str | None = None
    told: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AlertLogRecord:
    """One delivery attempt (or a state change that was not sent), oldest first."""

    fingerprint: str
    status: str
    severity: str
    summary: str
    sent: bool
    error: str | None
    at: float
    scope: str | None = None


# A trade loop's heartbeat younger than this is a live loop, whose pause (SIGUSR1, the pause
# file: it lives in the loop, not in the state file) is current: the heartbeat check's
# default WARNING age (checks/thresholds.py)
LIVE_BEAT_S = 60.0


@dataclass(frozen=True)
class HeartbeatRecord:
    source: str
    at: float
    detail: dict[str, Any]

    def age(self, now: float) -> float | str:  # unix seconds
        """The beat's age in seconds, or why it has none (`age_of`): what the local checks
        grade, the dashboard shows and `live` reads."""
        return age_of("the last heartbeat (heartbeats.at)", self.at, now, repr(self.at))

    def live(self, now: float) -> bool:  # unix seconds
        """A live trade loop's beat: younger than `LIVE_BEAT_S`. A beat with no age (a time
        ahead of the clock or not finite: `age_of`) proves no loop alive."""
        age = self.age(now)
        return self.source == "trade" and isinstance(age, float) and age < LIVE_BEAT_S

    @property
    def loop_subaccount(self) -> int | None:
        """The subaccount the trade loop of this beat trades (None: not a loop's beat, or it
        does not say)."""
        number = self.detail.get("subaccount") if self.source == "trade" else None
        return number if isinstance(number, int) and not isinstance(number, bool) else None

    @property
    def shards_held(self) -> dict[str, list[int]] | None:
        """The exchange shards the trade loop of this beat holds: short of money (`short`: its
        orders there denied or refused for the shard's balance, until a read shows it funded)
        and paused (`paused`), each a sorted list of `exchange_index` (None: not a loop's beat,
        or it does not say)."""
        held = self.detail.get("shards_held") if self.source == "trade" else None
        if not isinstance(held, dict):
            return None
        return {
            key: sorted(n for n in held.get(key) or () if isinstance(n, int))
            for key in ("short", "paused")
        }

    def shards_held_now(self, now: float) -> dict[str, list[int]] | None:  # unix seconds
        """`shards_held` of a live trade loop's beat (`live`); None for a dead loop's: what it
        held says nothing of now, as its pause does not (`shown_state`)."""
        return self.shards_held if self.live(now) else None

    def shown_state(self, stored: str, now: float) -> str:  # unix seconds
        """The trading state to show a person: the state file's (`stored`), or PAUSED when it
        is ACTIVE and this is a live trade loop's beat saying it is paused (no new orders,
        stop-losses still go out)."""
        if stored == "ACTIVE" and self.live(now) and self.detail.get("paused") is True:
            return "PAUSED"
        return stored


@dataclass(frozen=True)
class ExchangeBinding:
    """The exchange endpoint and account (key id) a state file belongs to."""

    endpoint: str
    account: str
    bound_at: float


@dataclass(frozen=True)
class LogEntry:
    id: int
    kind: str
    at: float
    data: dict[str, Any]


@dataclass(frozen=True)
class MigrationReport:
    """What `Store.migrate` found and did: every known migration with when it was applied
    (None: pending), and the names this call applied itself."""

    status: list[tuple[str, float | None]]
    applied_now: list[str]

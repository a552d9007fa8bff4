"""What every part of the trade loop's `Executor` (runner/execution.py) shares: what it
remembers of an order it sent (`Sent`) and of one whose answer was lost (`Unknown`), its
counters, and `ExecutorBase`, the state set up once a run and the API error guard that every
exchange call reports to: after each call the guard hears how it went (`_ok`, `_failed`); while
it asks for a backoff, nothing is sent; an error that trips SAFE_MODE is flagged for the loop.

The executor is layered as the simulator's exchange is (sim/core/exchange.py): `UnknownOrders`
(runner/unknown_orders.py) and `Cancels` (runner/cancels.py) on this base, `FillSync`
(runner/fills.py) on `UnknownOrders`, `Outbox` (runner/outbox.py: a tick's orders sent as one
batch) on both, and `Executor` (placing) on that.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.models import ZERO, Action, Side
from kalshi_cli.risk import RiskEngine
from kalshi_cli.runner.eventlog import EventLog
from kalshi_cli.runner.ledger import LoopLedger
from kalshi_cli.runner.portfolio import Portfolio

if TYPE_CHECKING:
    from kalshi_cli.clock import Clock
    from kalshi_cli.orders import OrderClient, OrderService
    from kalshi_cli.store import Store
    from kalshi_cli.strategies import Intent


MAX_REMEMBERED = 10_000


@dataclass(frozen=True)
class Unknown:
    ticker: str
    since: float  # monotonic, when the failure was seen (after the request was signed)


@dataclass
class Sent:
    """What the loop remembers of an order it sent, for fill latency and slippage."""

    client_order_id: str
    side: Side
    action: Action
    price: Decimal
    model_fair: Decimal
    strategy: str
    sent_at: float  # monotonic


@dataclass
class Counters:
    orders: int = 0
    fills: int = 0
    denied: int = 0
    cancels: int = 0
    errors: int = 0


class ExecutorBase:
    def __init__(
        self,
        *,
        client: OrderClient,
        store: Store,
        orders: OrderService,
        risk: RiskEngine,
        ledger: LoopLedger,
        portfolio: Portfolio,
        log: EventLog,
        clock: Clock,
        dry_run: bool = False,
    ) -> None:
        self.client = client
        self.store = store
        self.orders = orders
        self.risk = risk
        self.ledger = ledger
        self.portfolio = portfolio
        self.log = log
        self.clock = clock
        self.dry_run = dry_run
        self.counters = Counters()
        # order id -> what was sent, for every order this run placed (the oldest forgotten past
        # MAX_REMEMBERED: a loop runs for weeks; a fill of a forgotten order is attributed
        # from the state file instead)
        self.sent: OrderedDict[str, Sent] = OrderedDict()
        self.backoff_until = 0.0  # monotonic
        self.safe_mode_tripped = False  # set when an error puts trading into SAFE_MODE
        # client order id -> an order whose answer was lost; its market takes no new
        # (non-reducing) order until the exchange says what became of it
        self.unknown: dict[str, Unknown] = {}
        self.fills_due = False
        self._cancel_shortfalls = 0  # cancels that found less resting than the view held
        self._seen: dict[str, float] = {}  # fill id applied -> its time
        # order id -> contracts filled, counted fill by fill, for the orders whose state-file
        # row may still be resting (replayed at start for those, then kept as fills arrive)
        self._filled: dict[str, Decimal] = {}
        self._last_fill_ts = clock.wall()
        # what this run has applied, to tell a `fill` or `user_order` message that brings news
        # (a fill not yet read) from one about a fill already read (runner/fills.py): each
        # (order id, trade id) applied, and the contracts applied per order (the oldest
        # forgotten past MAX_REMEMBERED: a message about those is read, as any news)
        self._applied_trades: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._applied_counts: OrderedDict[str, Decimal] = OrderedDict()
        # the session's order group (runner/order_group.py): every order goes into it
        self.order_group_id: str | None = None
        # orders the risk engine allowed this tick, waiting to go out together, and the
        # exposure they add (runner/outbox.py)
        self.queued: list[Intent] = []
        self.queued_exposure = ZERO
        self.queued_since = 0.0  # monotonic, when the oldest of them was queued

    # ---------------------------------------------------------------- guard

    @property
    def backing_off(self) -> bool:
        return self.clock.monotonic() < self.backoff_until

    def _ok(self) -> None:
        self.risk.api_guard.record_success()

    def _failed(self, error: BaseException) -> None:
        self.counters.errors += 1
        verdict = self.risk.api_guard.record_error(error)
        if verdict.delay_s > 0:
            self.backoff_until = self.clock.monotonic() + verdict.delay_s
        if verdict.safe_mode:
            self.safe_mode_tripped = True

    def note_read_ok(self) -> None:
        """A read the loop makes besides orders, fills and lookups (the exchange schedule)
        answered: the guard hears it as any call."""
        self._ok()

    def note_read_failed(self, error: BaseException) -> None:
        self._failed(error)

    def lift_backoff(self) -> None:
        """`kalshi resume`: new orders and fill reads may go out again at once."""
        if self.backing_off:
            self.log.emit("backoff_lifted", {"reason": "trading resumed"})
        self.backoff_until = 0.0

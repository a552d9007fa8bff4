"""Each exchange shard's status and balance as the running loop reads them again.

Kalshi runs several matching engines (exchange shards), each opening and pausing on its own
(`GET /exchange/status` `exchange_index_statuses`) and each with its own balance
(`balance_breakdown`). At the start, and every `trade.shard_poll_s` after (not during the API
error guard's backoff), off the deciding path, the watch reads both and hands them to the
executor's shard hold (runner/execution/balance_hold.py): a shard that does not trade
(`ShardStatus.trades`) holds its markets' orders and has the loop's quotes there withdrawn; a
shard refused for collateral is entered again once it holds one order's cost; an order answered
`exchange_unavailable` before a read that says its shard trades counts as an API error. The first
status read is waited for: a loop started while a shard is paused must know it before its first
order. When a maintenance window ends they are read again at once (`read_again_now`): a read
from inside it would hold the shards it paused until the next poll. docs/shards.md "The trade
loop".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kalshi_cli.runner.execution.balance_hold import EXCHANGE_UNAVAILABLE
from kalshi_cli.runner.execution.dispatch import Urgency, run_call
from kalshi_cli.vocabulary.errors import ServerError

if TYPE_CHECKING:
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.execution.balance_hold import BalanceHold
    from kalshi_cli.runner.execution.call_guard import CallGuard
    from kalshi_cli.runner.execution.dispatch import CallAnswer, Dispatch
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.models import ShardStatus


@dataclass(frozen=True)
class ShardRead:
    """One read of every shard: its status, and its balance (None: the answer gave none)."""

    statuses: tuple[ShardStatus, ...]
    balances: dict[int, Decimal] | None


def shard_reader(client: Any) -> Callable[[], ShardRead] | None:
    """The read of every shard's status and balance through `client`, or None when its
    exchange has no shards to read (a local venue's, a test's)."""
    exchange = getattr(client, "exchange", None)
    statuses = getattr(exchange, "get_shard_statuses", None)
    portfolio = getattr(client, "portfolio", None)
    balance = getattr(portfolio, "get_balance", None)
    if statuses is None or balance is None:
        return None

    def read() -> ShardRead:
        return ShardRead(tuple(statuses()), balance().shards())

    return read


class ShardWatch:
    def __init__(
        self,
        *,
        read: Callable[[], ShardRead] | None,
        hold: BalanceHold,
        guard: CallGuard,
        dispatch: Dispatch,
        clock: Clock,
        log: EntryLog,
        poll_s: Callable[[], float],
    ) -> None:
        self._read = read
        self._hold = hold
        self._guard = guard
        self._dispatch = dispatch
        self._clock = clock
        self._log = log
        self._poll_s = poll_s
        self._next = clock.monotonic()  # when the shards are read again
        self._out = False  # a read is on its way, its answer not booked
        self._read_once = False

    def watch(self) -> None:
        """Read the shards again when due (module docstring)."""
        read = self._read
        if read is None or not self._hold.shard_of or self._out:
            return
        now_m = self._clock.monotonic()
        if now_m < self._next:
            return
        if self._guard.backing_off:
            return
        self._next = now_m + self._poll_s()
        if not self._read_once:
            self._read_once = True
            self._booked(run_call(read, self._clock.monotonic))
            return
        self._out = True
        self._dispatch.send((), read, self._booked, Urgency.AGAIN, unmade=self._unmade)

    def read_again_now(self) -> None:
        """The shards read again at the next look, whatever the poll time (a maintenance window
        just ended: a status read from inside it says the shards it paused do not trade); after
        the answer of one already on its way."""
        self._next = min(self._next, self._clock.monotonic())

    def _booked(self, answer: CallAnswer[ShardRead]) -> None:
        """The read booked on the deciding path: a failed read counts, as every read does, and
        what was last read stays in force."""
        self._out = False
        got = self._guard.read(answer, "shards_unavailable")
        if got is None:
            return
        for shard in self._hold.statuses_read(got.statuses, answer.sent_at):
            self._log.emit("shard_unavailable_unexplained", {"shard": shard})
            refused = ServerError(
                f"shard {shard} answered exchange_unavailable while its status says it trades",
                status=503,
                code=EXCHANGE_UNAVAILABLE,
            )
            self._guard.failed(refused, answer.sent_at)
        self._hold.balances_read(got.balances, answer.sent_at)

    def _unmade(self) -> None:
        self._out = False

    def take_newly_paused(self) -> set[int]:
        """The shards paused since last asked (a status read, or an order refused there), once."""
        return self._hold.take_newly_paused()

"""The risk engine's trading records during the loop: the state file, read again on a change. The
answers asked every tick are kept, keyed on `PRAGMA data_version`, `total_changes` and
`rolled_back`; the last gate before an order (`Store.record_intent_if_allowed`) never reads
through this cache. docs/trade-loop.md "How a halt from another process is seen".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.vocabulary.clock import utc_day

if TYPE_CHECKING:
    from kalshi_cli.risk.state import StateRow
    from kalshi_cli.store import Store


class LoopTradingRecords:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._pnl: dict[str, Decimal] = {}
        self._trips: dict[tuple[str | None, str | None], Sequence[object]] = {}
        self._state: StateRow | None = None
        # data_version, this connection's counted writes and its rollbacks when last compared
        self._version = -1
        self._own = -1
        self._rolled_back = -1
        self._own_at_pass = -1  # the counted writes when the P&L and trips were last dropped
        self._uncounted = 0  # writes made inside `writing_heartbeat`
        # moves each time a comparison finds the file changed (another connection's commit,
        # this connection's write or rollback): an answer given at one value holds while it
        # stays, so the loop asks its tick's questions again only when it moves
        self.generation = 0
        self._in_tick = False  # inside `tick`: compared with the file as it opened
        self.lost_path: str | None = None  # why the file is no longer its path's, once seen
        self._tick_block = _TickBlock(self)

    def _compare(self) -> None:
        """Drop what the file's changes since the last comparison make stale."""
        version = self.store.data_version()  # first: a failed read fails the question
        if version != self._version:
            self._version = version
            self._changed(every_answer=True)
        self._compare_own()

    def _compare_own(self) -> None:
        rolled_back = self.store.rolled_back
        if rolled_back != self._rolled_back:
            # what was read or added since may have been undone
            self._rolled_back = rolled_back
            self._changed(every_answer=True)
        own = self.store.total_changes - self._uncounted
        if own != self._own:
            self._own = own
            self._changed(every_answer=False)

    def _changed(self, *, every_answer: bool) -> None:
        """The file changed: the trading state is read again, and with `every_answer` the day's
        P&L and trips too (this loop's own writes drop those at a full pass, `tick`);
        `generation` moves."""
        if every_answer:
            self._pnl.clear()
            self._trips.clear()
        self._state = None
        self.generation += 1

    def tick(self, *, full: bool) -> AbstractContextManager[None]:
        """The tick's own questions (the watch of the trading state, the circuit breaker's check),
        answered from one comparison with the file made as the block opens; on a full pass the
        day's P&L and trips are read again if this loop wrote anything but its heartbeat since.
        Inside the block this loop's own writes still drop the state at once. The loop asks again
        only when `generation` moved (or on a full pass, or a new UTC day).

        First, once the file is no longer its path's (`Store.left_its_path`), no halt written there
        can reach the loop: it puts itself in SAFE_MODE, which withdraws its quotes."""
        if self.lost_path is None:
            self.lost_path = self.store.left_its_path()
            if self.lost_path is not None:
                reason = (
                    f"{self.lost_path} under the running loop: `kalshi halt` or `cancel-all` "
                    "there cannot reach it; stop the loop and start it on the right file"
                )
                self.set_trading_state("SAFE_MODE", reason=reason, source="state file")
        self._compare()
        if full and self._own != self._own_at_pass:
            self._pnl.clear()
            self._trips.clear()
            self._own_at_pass = self._own
        self._in_tick = True
        return self._tick_block

    @contextmanager
    def writing_heartbeat(self) -> Iterator[None]:
        """The loop's heartbeat and feed-age rows: they touch no table these records answer
        from, so what they write does not count as a change. Nothing else may be written in
        the block."""
        before = self.store.total_changes
        yield
        self._uncounted += self.store.total_changes - before

    def add_realized(self, ts: float, amount: Decimal) -> None:
        """A fill this loop just wrote with its realized P&L."""
        day = utc_day(ts)
        if day in self._pnl:
            self._pnl[day] += amount

    def forget_realized(self, ts: float) -> None:
        """A fill this loop found already written (by another process, whose commit may
        already be in the kept total): the day's P&L is read from the file again."""
        self._pnl.pop(utc_day(ts), None)

    # ---------------------------------------------------------------- TradingRecords

    def trading_state(self) -> StateRow:
        if self._in_tick:
            self._compare_own()
        else:
            self._compare()
        if self._state is None:
            self._state = self.store.trading.trading_state()
        return self._state

    def set_trading_state(self, state: str, *, reason: str, source: str) -> object:
        return self.store.trading.set_trading_state(state, reason=reason, source=source)

    def record_risk_trip(
        self,
        *,
        rule: str,
        code: str,
        detail: str,
        ticker: str | None = None,
        day: str | None = None,
    ) -> object:
        self._trips.clear()
        return self.store.trading.record_risk_trip(
            rule=rule, code=code, detail=detail, ticker=ticker, day=day
        )

    def transaction(self) -> AbstractContextManager[None]:
        return self.store.transaction()

    def risk_trips(self, *, rule: str | None = None, day: str | None = None) -> Sequence[object]:
        self._compare_own()  # a rollback since the last comparison
        key = (rule, day)
        trips = self._trips.get(key)
        if trips is None:
            trips = self._trips[key] = self.store.trading.risk_trips(rule=rule, day=day)
        return trips

    def daily_realized_pnl(self, day: str) -> Decimal:
        self._compare_own()  # a rollback since the last comparison
        pnl = self._pnl.get(day)
        if pnl is None:
            pnl = self._pnl[day] = self.store.trading.daily_realized_pnl(day)
        return pnl


class _TickBlock:
    """`LoopTradingRecords.tick`'s block, which ends the tick's comparison with the file: a
    class made once, not a generator, as the loop opens one every tick."""

    __slots__ = ("_records",)

    def __init__(self, records: LoopTradingRecords) -> None:
        self._records = records

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self._records._in_tick = False

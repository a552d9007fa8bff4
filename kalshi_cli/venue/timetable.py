"""What happens at a time at the local venue: a request of ours arrives after the latency, a
market closes at its close time (or as its lifecycle messages say, and reopens), our orders
expire at their `expiration_time`, and the exchange's records are compacted once a
`COMPACT_EVERY_S` (`compact`). The venue catches up with its clock (`expire_due`) before
anything reads or changes a market, as the simulator's tick does.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping

from kalshi_cli.sim.core.components import CoreComponents
from kalshi_cli.sim.core.historical import COMPACT_AFTER_S, COMPACT_EVERY_S
from kalshi_cli.venue.reference import MarketInfo
from kalshi_cli.vocabulary.clock import Clock, iso_utc, parse_iso
from kalshi_cli.vocabulary.models import LIFECYCLE_RESULT, LIFECYCLE_RESUMES, LIFECYCLE_STOPS


class Timetable:
    """Takes the clock, the venue's exchange core, the venue's markets (`infos`, read as the
    applier keeps them), the latency every write of ours waits and `advance` (what moves the
    data and the clock forward by it; None: not waited for), and `expired`: what the venue does
    with one of our orders once its expiration time has come (it forgets it if no longer
    resting)."""

    def __init__(
        self,
        clock: Clock,
        core: CoreComponents,
        infos: Mapping[str, MarketInfo],
        *,
        latency_s: float,
        advance: Callable[[float], None] | None,  # time
        expired: Callable[[str], None],
        accounts: tuple[str, str],
    ) -> None:
        self._clock = clock
        self._core = core
        self._infos = infos
        self._latency_s = latency_s
        self._advance = advance
        self._expired = expired
        # heap of (close time, ticker): the exchange closes a market then (`close_due`)
        self._closes: list[tuple[float, str]] = []
        for info in infos.values():
            if info.close_time is not None:
                heapq.heappush(self._closes, (info.close_time, info.ticker))
        self._expiries: list[tuple[int, str]] = []  # heap of (expiration_time, our order id)
        # the venue's trader, whose records it reads in process, and the recorded crowd
        self._account, self._crowd = accounts
        self._compact_at = clock.wall() + COMPACT_EVERY_S

    def catch_up(self) -> None:
        """Bring the venue to its clock: the markets' closes and our orders' expiry that are
        due, and the compaction once a `COMPACT_EVERY_S`. Each book change the venue hears
        does it, and a replay, which tells the venue only the changes it `matches_in`, once
        before each decision."""
        now = self._clock.wall()  # neither expiry nor compaction moves it
        if self.due(now):
            self.expire_due()
        if now >= self._compact_at:
            self.compact()

    def compact(self) -> None:
        """Store the records a minute old compactly and drop the crowd account's finished
        ones (docs/simulator.md "Memory over a long run"); nothing a client reads changes."""
        now = self._clock.wall()
        self._compact_at = now + COMPACT_EVERY_S
        before = now - COMPACT_AFTER_S
        before -= before % COMPACT_EVERY_S
        history = self._core.history
        history.archive_trades(before)
        history.archive_fills(before, read_in_process=(self._account,))
        history.archive_orders(before, read_in_process=(self._account,))
        history.forget_finished_orders(self._crowd, keep=0)
        for market in self._core.reference.markets.values():
            history.roll_day(market, now)

    def due(self, now: float) -> bool:
        """Whether an order of ours waits to expire, or a market's close time has come."""
        return bool(self._expiries) or bool(self._closes and self._closes[0][0] <= now)

    def arrive(self) -> None:
        """The request reaches the venue `latency_s` after it was made."""
        if self._latency_s > 0 and self._advance is not None:
            self._advance(self._clock.wall() + self._latency_s)
        self.expire_due()

    def watch_expiry(self, order_id: str, expiration_time: int | None) -> None:
        if expiration_time is not None:
            heapq.heappush(self._expiries, (expiration_time, order_id))

    def expire_due(self) -> None:
        """Close the markets whose close time the clock has reached, and expire our orders
        whose `expiration_time` it has reached, through the core's own expiry
        (`OrderDesk.expire_due`), as the simulator's tick does both."""
        if self._closes and self._closes[0][0] <= self._clock.wall():
            self.close_due()
        if not self._expiries or self._expiries[0][0] > self._clock.wall():
            return
        now = self._clock.wall()
        self._core.desk.expire_due(now)
        while self._expiries and self._expiries[0][0] <= now:
            _, order_id = heapq.heappop(self._expiries)
            self._expired(order_id)

    def close_due(self) -> None:
        """Kalshi closes a market at its close time, and no message marks it (`deactivated` is
        a pause of an open market): from then on orders are refused (409 `market_closed`) and
        nothing of ours fills, as when a `deactivated` message closes it. Its resting orders
        stay, as the exchange keeps them, until the market settles."""
        now = self._clock.wall()
        while self._closes and self._closes[0][0] <= now:
            at, ticker = heapq.heappop(self._closes)
            market = self._core.reference.markets.get(ticker)
            # a close time moved since (`_close_at`) is in the heap again, at its new time
            if market is not None and market.close_time == at and market.status == "open":
                self._core.settlement.set_market_status(ticker, "closed")

    def close(self, ticker: str) -> None:
        """Trading stopped on `ticker` (closed or paused, not settled): orders are refused,
        and nothing of ours fills, until it `reopen`s."""
        self.expire_due()
        market = self._core.reference.markets.get(ticker)
        if market is not None and market.status == "open":
            self._core.settlement.set_market_status(ticker, "closed")

    def reopen(self, ticker: str) -> None:
        """Trading resumed on `ticker` (a paused market `activated` again), unless its close
        time has come."""
        self.expire_due()
        market = self._core.reference.markets.get(ticker)
        if (
            market is not None
            and market.status == "closed"
            and self._clock.wall() < market.close_time
        ):
            self._core.settlement.set_market_status(ticker, "open")

    def lifecycle(self, ticker: str, event_type: object) -> None:
        """A `market_lifecycle_v2` event's effect on trading: `deactivated` (trading paused
        or ended) closes the market, as `determined` or `settled` does when no result is known
        to settle it at (`LocalVenue.settle`, the applier's when one is), `activated` reopens
        it, and a close time it moved (`created`, `close_date_updated`: the applier keeps it in
        `infos`) is the market's from now; the others change nothing here."""
        self._close_at(ticker)
        if event_type in LIFECYCLE_STOPS or event_type in LIFECYCLE_RESULT:
            self.close(ticker)
        elif event_type == LIFECYCLE_RESUMES:
            self.reopen(ticker)

    def _close_at(self, ticker: str) -> None:
        """The market closes at its info's close time, if that moved."""
        info = self._infos.get(ticker)
        market = self._core.reference.markets.get(ticker)
        if info is None or market is None or info.close_time is None:
            return
        if info.close_time != market.close_time:
            market.close_time = info.close_time
            heapq.heappush(self._closes, (info.close_time, ticker))
            self.expire_due()

    def trading(self, ticker: str) -> bool:
        market = self._core.reference.markets.get(ticker)
        return market is not None and market.status == "open"

    def settled_at(self, ticker: str) -> float:  # unix seconds
        """When `ticker` settles: now, unless a fill of ours in it is stamped in this very
        millisecond; then the next millisecond. The exchange's answers stamp times to the
        millisecond, and the P&L applies a settlement before every fill stamped at or after
        it (`pnl.SettlementQueue`), while a market fills nothing once settled: a decision
        that fills in the millisecond the result arrives (a tick, then the frame) filled
        before it, and its contracts are what the settlement pays."""
        now = self._clock.wall()
        trades = self._core.engine.trades_by_ticker.get(ticker)  # each one ours (venue.py)
        stamp = iso_utc(now)
        if not trades or iso_utc(trades[-1].ts) < stamp:
            return now
        return parse_iso(stamp).timestamp() + 0.001  # the next millisecond's start

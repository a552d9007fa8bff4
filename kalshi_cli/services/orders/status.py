"""`kalshi status`: the state file's trading state and why, its orders awaiting an answer, the
sets of legs not ended, and the trade loop of its last heartbeat (paused or not, its lag, its
strategies), read-only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kalshi_cli.services.loop_strategies import (
    stopped_strategies,
    strategy_names,
    strategy_rows,
    strategy_text,
)

if TYPE_CHECKING:
    from pathlib import Path

    from kalshi_cli.store import HeartbeatRecord, Store, TradingStateRecord
    from kalshi_cli.store.leg_sets import BrokenSet


@dataclass(frozen=True)
class TradingStatus:
    """What `kalshi status` shows: the trading state and why, and the orders awaiting an
    answer (their own, or an amend's). `exists` is False when there is no state file yet
    (nothing is created to say so)."""

    state: str
    reason: str
    source: str
    at: float | None  # unix seconds
    state_file: Path
    exists: bool
    open_orders: int = 0
    unknown_orders: tuple[str, ...] = ()
    last_heartbeat: str | None = None  # "SOURCE at UNIX_SECONDS", as --json has always had it
    history: tuple[dict[str, Any], ...] = ()
    heartbeat_at: float | None = None  # unix seconds of that heartbeat
    # the subaccount the loop of that heartbeat trades (`kalshi trade --subaccount`), when the
    # heartbeat names one (a loop before it did not)
    loop_subaccount: int | None = None
    # a live trade loop is paused (SIGUSR1 or its pause file): `state` then says PAUSED
    loop_paused: bool = False
    # the loop's lag from that heartbeat (docs/trade-loop.md "Lag"), when it reports one
    loop_lag: dict[str, Any] | None = None
    # the strategy that loop runs, and how it was named (a built-in, a file, an import path)
    loop_strategy: str | None = None
    # a row per strategy of that loop: its name, why it is stopped (None: it is not), its open
    # orders, the P&L its fills realized today (UTC), from the state file
    strategies: tuple[dict[str, Any], ...] = ()
    # the markets whose contracts no strategy bought are given to one (`kalshi trade --assign`)
    assignments: tuple[dict[str, str], ...] = ()
    # the shards that loop holds: refused for collateral (`short`) and trading paused
    # (`paused`), each a list of `exchange_index`; None when its heartbeat does not say
    loop_shards: dict[str, list[int]] | None = None
    # the sets of legs not ended whole or flat, each with what its legs hold (a stop that could
    # not flatten one exits 11; the next start unwinds it): `text` and `to_json` of each
    sets_not_ended: tuple[BrokenSet, ...] = ()
    # the daily circuit breaker's trip of the UTC day, which refuses every new order for the
    # rest of it whatever the state reads (`kalshi resume` writes ACTIVE): what it says
    circuit_breaker: str | None = None
    # the API error guard's trip under a person's HALTED, which resuming lifts too: what it says
    api_error_guard: str | None = None

    def details(self) -> dict[str, Any]:
        """Everything beside the state itself, as `kalshi status --json` names it."""
        document: dict[str, Any] = {
            "state_file": str(self.state_file),
            "open_orders": self.open_orders,
            "unknown_orders": len(self.unknown_orders),
        }
        if self.exists:
            document["last_heartbeat"] = self.last_heartbeat
            if self.loop_subaccount is not None:
                document["loop_subaccount"] = self.loop_subaccount
            document["loop_paused"] = self.loop_paused
            if self.loop_lag is not None:
                document["loop_lag"] = self.loop_lag
            if self.loop_strategy is not None:
                document["loop_strategy"] = self.loop_strategy
            if self.loop_shards is not None:
                document["loop_shards"] = self.loop_shards
            if self.strategies:
                document["strategies"] = list(self.strategies)
            document["assignments"] = list(self.assignments)
            if self.sets_not_ended:
                document["sets_not_ended"] = [s.to_json() for s in self.sets_not_ended]
            if self.circuit_breaker is not None:
                document["circuit_breaker"] = self.circuit_breaker
            if self.api_error_guard is not None:
                document["api_error_guard"] = self.api_error_guard
            document["history"] = list(self.history)
        return document


def _loop_strategy(beat: HeartbeatRecord | None) -> str | None:
    """What the trade loop of that heartbeat runs (`loop_strategies.strategy_text`)."""
    if beat is None or beat.source != "trade":
        return None
    return strategy_text(beat.detail)


LAG_KEYS = (
    "lag_p50_s",
    "lag_p99_s",
    "lag_max_s",
    "revisit_max_s",
    "waiting",
    "behind",
    "writes_behind_s",
    "orders_read_waiting",
    "orders_read_wait_s",
)


# why the trade loop holds a shard short, as `kalshi status` and the checks say it
SHORT_WHY = (
    "its orders there are denied or refused for the shard's balance until it is funded: "
    "`kalshi shard move`"
)


def loop_short_text(short: list[int]) -> str:
    """What the checks say of the shards a live trade loop holds short of money."""
    return f"the trade loop holds shard {', '.join(map(str, short))} short ({SHORT_WHY})"


def _loop_shards(beat: HeartbeatRecord | None, now: float) -> dict[str, list[int]] | None:
    return None if beat is None else beat.shards_held_now(now)


def _loop_lag(beat: HeartbeatRecord | None) -> dict[str, Any] | None:
    if beat is None or beat.source != "trade" or "revisit_max_s" not in beat.detail:
        return None
    return {key: beat.detail.get(key) for key in LAG_KEYS}


def breaker_trip_text(store: Store, now: float) -> str | None:
    """What the daily circuit breaker's trip of the UTC day of `now` (unix seconds) says, with
    what it holds, or None when it has not tripped that day: the trip, not the trading state,
    refuses every new order for the rest of the day, so `kalshi resume`'s ACTIVE does not lift
    it (docs/risk.md "Daily circuit breaker")."""
    from kalshi_cli.risk.engine import day_trip
    from kalshi_cli.vocabulary.clock import utc_day

    trip = day_trip(store.trading, utc_day(now))
    if trip is None:
        return None
    return f"{trip.detail}; no new orders until the next UTC day (only reducing orders go out)"


def state_that_holds(store: Store, row: TradingStateRecord, now: float) -> TradingStateRecord:
    """The trading state `row` as it holds at `now` (unix seconds): the daily circuit breaker's
    REDUCING of a day that is over (`breakers_day_over`) reads ACTIVE, which the breaker
    writes when next asked (the loop's tick, an order that adds, an amend); nothing is written
    here."""
    from dataclasses import replace

    from kalshi_cli.risk.engine import breakers_day_over
    from kalshi_cli.vocabulary.clock import utc_day
    from kalshi_cli.vocabulary.trading_state import TradingState

    if not breakers_day_over(store.trading, row, utc_day(now)):
        return row
    tripped = utc_day(row.at)
    reason = f"the daily circuit breaker's REDUCING of {tripped} is over (a new UTC day)"
    return replace(row, state=TradingState.ACTIVE.value, reason=reason)


def guard_tripped_under(store: Store, row: TradingStateRecord) -> str | None:
    """What the API error guard's last trip says when it tripped while a person's stop (`row`,
    the state before a resume: HALTED) held: the trip is recorded, but SAFE_MODE is not written
    over the stricter state, so lifting that state lifts the guard's stop too (docs/risk.md "API
    error guard"). None: no trip since the state was set, or the state is the guard's own."""
    from kalshi_cli.risk.engine import ApiErrorGuard

    if row.source == ApiErrorGuard.RULE:
        return None  # its own SAFE_MODE: "lifted SAFE_MODE" says it
    trips = [t for t in store.trading.risk_trips(rule=ApiErrorGuard.RULE) if t.at >= row.at]
    if not trips:
        return None
    return (
        f"tripped while {row.state}: {trips[-1].detail}; resuming lifts its SAFE_MODE too "
        "(`kalshi check api` grades the exchange's answers)"
    )


def trading_status(state_path: Path, now: float | None = None) -> TradingStatus:
    """The state file's trading state, its open orders and the last heartbeat, read-only; the
    state is PAUSED while a live trade loop (its heartbeat younger than `LIVE_BEAT_S` at `now`,
    unix seconds) is paused."""
    from kalshi_cli.store import Store
    from kalshi_cli.store.entries import LOOP_SOURCE
    from kalshi_cli.vocabulary.clock import SystemClock

    store = Store.open_readonly(state_path)
    if store is None:
        return TradingStatus("ACTIVE", "no state file yet", "default", None, state_path, False)
    with store:
        row = store.trading.trading_state()
        open_orders = store.orders.open_orders()
        beat = store.entries.last_heartbeat()
        loop_beat = (
            beat if beat is None or beat.source == LOOP_SOURCE else store.entries.loop_heartbeat()
        )
        history = store.trading.trading_state_history(limit=5)
        wall = SystemClock().wall() if now is None else now
        detail = loop_beat.detail if loop_beat is not None else {}
        rows = strategy_rows(
            store,
            strategy_names(detail),
            open_orders,
            wall,
            (loop_beat and loop_beat.loop_subaccount) or 0,
            stopped=stopped_strategies(detail),
        )
        assigned = store.trading.assignments()
        # awaiting an answer: an order's own, or an amend's, which may have changed its terms
        unknown = [i.client_order_id for i in open_orders if i.status in ("pending", "unknown")]
        unknown += dict.fromkeys(i.client_order_id for i, _ in store.orders.amends_in_doubt())
        broken = tuple(store.leg_sets.not_ended())
        breaker = breaker_trip_text(store, wall)
        guard = guard_tripped_under(store, row)
        row = state_that_holds(store, row, wall)
    shown = (
        row.state
        if loop_beat is None
        else loop_beat.shown_state(row.state, SystemClock().wall() if now is None else now)
    )
    paused = shown == "PAUSED"
    return TradingStatus(
        shown,
        "the trade loop is paused (SIGUSR1 or its pause file): no new orders, stop-losses "
        "still go out"
        if paused
        else row.reason,
        "trade loop" if paused else row.source,
        row.at,
        state_path,
        True,
        loop_paused=paused,
        open_orders=len(open_orders),
        unknown_orders=tuple(unknown),
        last_heartbeat=None if beat is None else f"{beat.source} at {beat.at:.0f}",
        heartbeat_at=None if beat is None else beat.at,
        loop_subaccount=None if beat is None else beat.loop_subaccount,
        loop_lag=_loop_lag(beat),
        loop_strategy=_loop_strategy(beat),
        loop_shards=_loop_shards(loop_beat, wall),
        strategies=rows,
        assignments=tuple({"ticker": t, "strategy": s} for t, s in assigned.items()),
        sets_not_ended=broken,
        circuit_breaker=breaker,
        api_error_guard=guard,
        history=tuple(
            {"state": h.state, "reason": h.reason, "source": h.source, "at": h.at} for h in history
        ),
    )

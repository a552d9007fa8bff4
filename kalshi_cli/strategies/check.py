"""`kalshi strategy check`: a strategy over a short synthetic replay, with no exchange.

The replay is one market whose YES mid walks a fixed path (0.50, a jump to 0.62, a slide to
0.40, back to 0.55), one step a second, with book depth leaning the way the mid is about to move
so a strategy that reads the book has something to act on. Each moment is handed to the strategy
as the loop would; an immediate order fills at its price in full, a resting one rests until
cancelled. It proves the strategy loads, its params validate and `decide` returns `Intent`s and
`Cancel`s under the loop's deadline (`strategies.deadline.bounded_decide`); it says nothing
about profit (that is `kalshi backtest`).

A synthetic market has no series to read fees from, so the check prices at `STANDARD_FEES`
unless told otherwise, and its report names the fees the decisions were made at.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from kalshi_cli.strategies.deadline import BoundedCall, MissedDeadline, Starting, bounded_decide
from kalshi_cli.strategy_api import (
    FLAT,
    ZERO,
    Action,
    Cancel,
    Decision,
    Holding,
    Intent,
    Level,
    MarketSnapshot,
    Note,
    Orderbook,
    Params,
    PositionView,
    RestingOrder,
    Side,
    Strategy,
    TimeInForce,
    params_dict,
)
from kalshi_cli.strategy_api.strategy import raised_at
from kalshi_cli.vocabulary.clock import iso_utc
from kalshi_cli.vocabulary.errors import UsageError
from kalshi_cli.vocabulary.models import FeeModel, FeeType
from kalshi_cli.vocabulary.units import CENT

TICKER = "KXCHECK-SYNTHETIC"
START_TS = 1_767_225_600.0  # 2026-01-01T00:00:00Z
_DEPTH = Decimal("100")
_HEAVY = Decimal("300")  # the depth of the side the mid is about to move toward
_LEAD_S = 10  # how far ahead the depth leans
# (seconds, YES mid in cents at the end of the leg): walked one cent a second
_PATH = ((0, 50), (30, 50), (42, 62), (72, 62), (94, 40), (124, 40), (139, 55), (160, 55))
_HORIZON_S = 300.0
# What most series charge: taker 0.07, maker 0.0175, no waiver.
STANDARD_FEES = FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES, Decimal(1), None)


def _mids() -> list[int]:
    """The YES mid in cents at each second of `_PATH`."""
    mids = []
    for (t0, c0), (t1, c1) in itertools.pairwise(_PATH):
        mids += [c0 + (c1 - c0) * (t - t0) // max(t1 - t0, 1) for t in range(t0, t1)]
    return mids


def synthetic_books() -> Iterator[tuple[float, Orderbook]]:  # unix seconds
    """One market's book a second along `_PATH`: YES bid = mid - 1c, YES ask = mid + 1c, the
    depth leaning toward the mid `_LEAD_S` later (module docstring)."""
    mids = _mids()
    for t, cents in enumerate(mids):
        ahead = mids[min(t + _LEAD_S, len(mids) - 1)]
        yes_depth, no_depth = (
            (_HEAVY, _DEPTH) if ahead > cents else (_DEPTH, _HEAVY) if ahead < cents else
            (_DEPTH, _DEPTH)
        )  # fmt: skip
        mid = Decimal(cents) * CENT
        yield (
            START_TS + t,
            Orderbook(
                TICKER,
                yes_bids=(Level(mid - CENT, yes_depth),),
                no_bids=(Level(1 - mid - CENT, no_depth),),
            ),
        )


@dataclass
class StrategyCheckReport:
    strategy: Strategy[Any]
    params: Params
    fees: FeeModel
    steps: int = 0
    decisions: list[dict[str, Any]] = field(default_factory=list)
    position: Decimal = ZERO

    def rates(self, ts: float) -> tuple[Decimal, Decimal]:  # unix seconds
        """(taker, maker) rates the snapshot at `ts` carries."""
        return self.fees.rates(at=ts)

    def to_json(self) -> dict[str, Any]:
        # the rates at the market's first step; a waiver ending inside the replay is named by
        # `waiver_until`, the step its rates change at
        taker, maker = self.rates(START_TS)
        waiver = self.fees.waiver_until
        return {
            "strategy": self.strategy.name,
            "spec": self.strategy.spec or self.strategy.name,
            "origin": self.strategy.origin,
            "params": params_dict(self.params),
            "fees": {
                "fee_type": self.fees.fee_type.value,
                "multiplier": str(self.fees.multiplier),
                "taker_rate": str(taker),
                "maker_rate": str(maker),
                "waiver_until": None if waiver is None else iso_utc(waiver),
            },
            "steps": self.steps,
            "decisions": self.decisions,
            "final_position": str(self.position),
        }

    def lines(self) -> list[str]:
        taker, maker = self.rates(START_TS)
        waiver = self.fees.waiver_until
        waived = "" if waiver is None else f", waived until {iso_utc(waiver)}"
        head = (
            f"{self.strategy.name} ({self.strategy.origin}): {self.steps} steps of a synthetic "
            f"market at fees {self.fees.fee_type.value} x{self.fees.multiplier} "
            f"(taker {taker}, maker {maker}{waived}), {len(self.decisions)} decisions, "
            f"final position {self.position}"
        )
        rows = [
            f"  t+{d['t']:>3}s  {d['kind']:<6} "
            + (
                f"{d['action']} {d['count']} {d['side']} @ {d['price']}  {d['reason']}"
                if d["kind"] == "intent"
                else f"{d['order_id']}  {d['reason']}"
            )
            for d in self.decisions
        ]
        return [head, *rows]


def check_strategy(
    strategy: Strategy[Any], params: Params, *, fees: FeeModel = STANDARD_FEES
) -> StrategyCheckReport:
    """`strategy` over the synthetic market, each snapshot carrying the rates of `fees` (the
    report names them)."""
    call = bounded_decide(strategy, params, "strategy-check")
    try:
        return _check(StrategyCheckReport(strategy, params, fees), call)
    finally:
        call.close()


def _check(
    result: StrategyCheckReport, call: BoundedCall[Sequence[Decision]]
) -> StrategyCheckReport:
    strategy, params = result.strategy, result.params
    mids: list[tuple[float, Decimal]] = []
    held = FLAT
    resting: list[RestingOrder] = []
    next_id = 0
    for ts, book in synthetic_books():
        mid = book.mid
        if mid is not None:
            mids.append((ts, mid))
        while mids and mids[0][0] < ts - _HORIZON_S:
            mids.pop(0)
        taker, maker = result.rates(ts)
        snapshot = MarketSnapshot(
            TICKER, ts, book, tuple(mids), fee_rate=taker, maker_fee_rate=maker
        )
        view = PositionView(
            TICKER,
            position=held.position,
            avg_entry_price=held.avg_entry_price,
            entry_cost=held.entry_cost,
            opened_at=held.opened_at,
            resting=tuple(resting),
            own=held,
        )
        decisions = _decide(strategy, call, snapshot, view, params)
        result.steps += 1
        for decision in decisions:
            t = int(ts - START_TS)
            if isinstance(decision, Cancel):
                resting = [o for o in resting if o.order_id != decision.order_id]
                result.decisions.append(
                    {**_NO_ORDER, "t": t, "kind": "cancel", "order_id": decision.order_id,
                     "reason": decision.reason}
                )  # fmt: skip
                continue
            if isinstance(decision, Note):
                continue  # a word for the trade loop's log: nothing is placed
            if not isinstance(decision, Intent):
                raise UsageError(
                    f"{strategy.decide_at}: {strategy.name}: decide returned "
                    f"{type(decision).__name__}, "
                    "not an Intent, a Cancel or a Note"
                )
            result.decisions.append(_intent_json(t, decision))
            resting = [o for o in resting if o.order_id not in decision.replaces]
            if decision.time_in_force is TimeInForce.IOC:
                held = _filled(held, decision, ts)
            else:
                next_id += 1
                resting.append(
                    RestingOrder(
                        f"check-{next_id}",
                        decision.side,
                        decision.action,
                        decision.price,
                        decision.count,
                    )
                )
    result.position = held.position
    return result


def _decide(
    strategy: Strategy[Any],
    call: BoundedCall[Sequence[Decision]],
    snapshot: MarketSnapshot,
    view: PositionView,
    params: Params,
) -> Sequence[Decision]:
    at = f"synthetic market at t+{int(snapshot.ts - START_TS)}s"
    try:
        while True:
            try:
                return call(snapshot, view, params)
            except Starting:  # its first call, within its start: the check waits it out
                time.sleep(0.05)
    except MissedDeadline as late:
        raise UsageError(
            f"{strategy.decide_at}: {strategy.name}: decide did not return within "
            f"{late.timeout_s * 1000:g} ms ({at})",
            hint="the trade loop gives decide this long, and stops a strategy that takes longer",
        ) from None
    except Exception as exc:
        where = raised_at(exc) or strategy.decide_at
        raise UsageError(
            f"{where}: {strategy.name}: decide raised {type(exc).__name__}: {exc} ({at})"
        ) from None


# every decision has the same keys (`--json`'s shape is one): a cancel names no order terms
_NO_ORDER: dict[str, Any] = dict.fromkeys(
    ("side", "action", "price", "count", "model_fair", "time_in_force", "reduce_only")
)


def _intent_json(t: int, intent: Intent) -> dict[str, Any]:
    return {
        "t": t,
        "kind": "intent",
        "side": intent.side.value,
        "action": intent.action.value,
        "price": str(intent.price),
        "count": str(intent.count),
        "model_fair": str(intent.model_fair),
        "time_in_force": intent.time_in_force.value,
        "reduce_only": intent.reduce_only,
        "order_id": None,
        "reason": intent.reason,
    }


def _filled(held: Holding, intent: Intent, ts: float) -> Holding:  # unix seconds
    """The holding after an immediate order filled in full at its price."""
    signed = intent.count if intent.side is Side.YES else -intent.count
    if intent.action is Action.SELL:
        signed = -signed
    after = held.position + signed
    if after == 0:
        return FLAT
    if held.position == 0 or (held.position > 0) != (after > 0):
        # opened, or flipped: the new contracts' cost alone
        cost = abs(after) * intent.price
        return Holding(after, intent.price, cost, ts)
    if abs(after) > abs(held.position):
        cost = held.entry_cost + intent.count * intent.price
        return replace(held, position=after, avg_entry_price=cost / abs(after), entry_cost=cost)
    return replace(held, position=after, entry_cost=held.avg_entry_price * abs(after))

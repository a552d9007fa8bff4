"""What the loop reports about itself: the start-up configuration, status lines, the summary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kalshi_cli.risk import rules as r
from kalshi_cli.risk.engine import ApiErrorGuard, RiskLimits, limit_rules
from kalshi_cli.vocabulary.units import fmt_count, fmt_money, money_places


def risk_lines(limits: RiskLimits) -> list[str]:
    """A line for each rule of the risk engine, in the order `RiskEngine.rules` asks them (the
    limit rules, `limit_rules`, in the middle), and one for its API error guard: the `risk:` limits
    each reads and what it holds."""
    lines = []
    for about in (
        *(r.TradingStateRule.about, r.CircuitBreakerRule.about, r.StaleFeedRule.about),
        *(r.OrderRateRule.about, r.SelfCrossRule.about),
        *(rule.about for rule in limit_rules(limits)),
        *(r.MinEdgeRule.about, r.MaintenanceRule.about, r.StopLossCooldownRule.about),
        *(r.StopLossAtEntryRule.about, ApiErrorGuard.about),
    ):
        values = ", ".join(f"{name}={getattr(limits, name)}" for name in about.limits)
        lines.append(f"  {about.name:<16} {values or '-':<52} {about.what}")
    return lines


@dataclass(frozen=True)
class Summary:
    uptime_s: float
    ticks: int
    orders: int
    fills: int
    denied: int
    open_positions: Mapping[str, Decimal]
    resting_orders: int
    realized_pnl: Decimal  # this run, net of fees
    daily_pnl: Decimal  # today (UTC), every run, as the circuit breaker counts it
    unrealized_pnl: Decimal | None  # None: a position without a mark (no book, no bid)
    trading_state: str
    subaccount: int = 0  # the one the loop acts on (`--subaccount`; 0, the exchange's default)
    # the lag figures of the last heartbeat (runner/loop/schedule.py); None before the first
    lag_p99_s: float | None = None  # book change to the decision that saw it
    revisit_max_s: float | None = None  # the longest a market went unvisited
    behind: bool = False  # past the loop's fairness bound (`trade.max_revisit_s`)
    # the loop's orders its stop could not prove gone (runner/loop/stop.py); empty: proven
    not_proven: tuple[str, ...] = ()
    # why no listing proved the stop ("": one did, or the loop did not withdraw); not proven
    # either way, though it names no order
    unlisted: str = ""
    # the sets of legs the stop left broken, neither whole nor flat (runner/execution/
    # leg_sets.py); not proven either
    broken_sets: tuple[str, ...] = ()
    # the sets of legs the stop left held to their settlement by design: said, not broken
    # (store/leg_sets.py `held_to_settlement`); they end as their markets settle
    sets_held: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        unrealized = self.unrealized_pnl
        return {
            "uptime_s": round(self.uptime_s, 1),
            "ticks": self.ticks,
            "orders": self.orders,
            "fills": self.fills,
            "denied": self.denied,
            "open_positions": {k: str(v) for k, v in self.open_positions.items()},
            "resting_orders": self.resting_orders,
            "realized_pnl": f"{self.realized_pnl:f}",
            "daily_pnl": f"{self.daily_pnl:f}",
            "unrealized_pnl": None if unrealized is None else f"{unrealized:f}",
            "trading_state": self.trading_state,
            "subaccount": self.subaccount,
            "lag_p99_s": self.lag_p99_s,
            "revisit_max_s": self.revisit_max_s,
            "behind": self.behind,
            "not_proven": list(self.not_proven),
            "unlisted": self.unlisted,
            "broken_sets": list(self.broken_sets),
            "sets_held_to_settlement": list(self.sets_held),
        }

    def lines(self) -> list[str]:
        positions = ", ".join(
            f"{t} {'+' if p > 0 else ''}{fmt_count(p)}" for t, p in self.open_positions.items()
        )
        pnl = (self.realized_pnl, self.daily_pnl, self.unrealized_pnl)
        realized, daily, unrealized = (
            fmt_money(v, "unknown (a position without a mark)", money_places(pnl)) for v in pnl
        )
        return [
            f"uptime          {self.uptime_s:.1f}s",
            f"ticks           {self.ticks}",
            f"orders          {self.orders} placed, {self.denied} denied by risk",
            f"fills           {self.fills}",
            f"open positions  {positions or 'none'}",
            f"resting orders  {self.resting_orders}",
            f"realized P&L    {realized} this run, {daily} today",
            f"unrealized P&L  {unrealized}",
            f"trading state   {self.trading_state}",
            f"subaccount      {self.subaccount}",
            f"loop lag        {self._lag_text()}",
            *(
                [
                    f"NOT PROVEN      {len(self.not_proven)} order(s) of the loop may rest: "
                    + ", ".join(self.not_proven)
                ]
                if self.not_proven
                else []
            ),
            *(
                [f"NOT PROVEN      no listing proved the stop: {self.unlisted}"]
                if self.unlisted
                else []
            ),
            *(
                [
                    f"BROKEN SETS     {len(self.broken_sets)} set(s) of legs neither whole nor "
                    "flat: " + ", ".join(self.broken_sets)
                ]
                if self.broken_sets
                else []
            ),
            *(
                [
                    f"HELD SETS       {len(self.sets_held)} set(s) of legs held to their "
                    "settlement by design, each ending as its market settles: "
                    + ", ".join(self.sets_held)
                ]
                if self.sets_held
                else []
            ),
        ]

    def _lag_text(self) -> str:
        if self.revisit_max_s is None:
            return "not measured yet"
        p99 = "no news" if self.lag_p99_s is None else f"p99 {self.lag_p99_s:.3f}s"
        text = f"{p99} book change to decision, every market visited within "
        text += f"{self.revisit_max_s:.1f}s"
        return text + (" (BEHIND)" if self.behind else "")

"""Capital protection: pre-trade rules with coded denials, the trading state, and the guards.

See docs/risk.md for each layer, its code, its config key and what lifts it.
"""

from __future__ import annotations

from kalshi_cli.risk.engine import (
    ApiErrorGuard,
    CircuitBreaker,
    EventSink,
    GuardVerdict,
    MaintenanceWindows,
    OrderRateCap,
    RiskEngine,
    RiskLimits,
    limit_rules,
    log_event,
)
from kalshi_cli.risk.rules import About, Code, RiskContext, Rule, Verdict
from kalshi_cli.risk.state import TradingRecords, TradingState, current_state, halt, resume
from kalshi_cli.vocabulary.clock import utc_day

__all__ = [
    "About",
    "ApiErrorGuard",
    "CircuitBreaker",
    "Code",
    "EventSink",
    "GuardVerdict",
    "MaintenanceWindows",
    "OrderRateCap",
    "RiskContext",
    "RiskEngine",
    "RiskLimits",
    "Rule",
    "TradingRecords",
    "TradingState",
    "Verdict",
    "current_state",
    "halt",
    "limit_rules",
    "log_event",
    "resume",
    "utc_day",
]

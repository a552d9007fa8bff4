"""The write gate: every write an assistant asks for is previewed, then executed by a token.

A `preview_*` tool checks the write as the order service would send it and asks the gate for a
`Ticket`: a random token bound to that one write, usable once, for `token_ttl_s`. `execute`
redeems it; a token that is unknown, expired or already used is refused, and so is one whose
write would now go past the session's budget (orders, contracts, dollars the orders could cost
at most). The budget comes from the config and only ever shrinks: no tool raises it. The gate
holds no exchange or state file; it is pure bookkeeping over an injected clock, so its rules are
tested without a server.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kalshi_cli.agent.settings import AgentBudget
from kalshi_cli.vocabulary.clock import Clock
from kalshi_cli.vocabulary.errors import ValidationError
from kalshi_cli.vocabulary.models import ZERO, fmt_count
from kalshi_cli.vocabulary.units import fmt_exact_dollars


@dataclass(frozen=True)
class Charge:
    """What a write spends from the budget: orders placed, contracts, dollars at most."""

    orders: int = 0
    contracts: Decimal = ZERO
    dollars: Decimal = ZERO


@dataclass(frozen=True)
class Pending:
    """One previewed write, waiting for its token."""

    tool: str  # the preview tool that made it: preview_order, preview_cancel, ...
    arguments: dict[str, Any]
    charge: Charge
    expires_at: float


@dataclass
class Spent:
    orders: int = 0
    contracts: Decimal = ZERO
    dollars: Decimal = ZERO

    def add(self, charge: Charge) -> None:
        self.orders += charge.orders
        self.contracts += charge.contracts
        self.dollars += charge.dollars


@dataclass
class WriteGate:
    budget: AgentBudget
    clock: Clock
    ttl_s: float
    spent: Spent = field(default_factory=Spent)
    _pending: dict[str, Pending] = field(default_factory=dict)
    _used: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, charge: Charge) -> None:
        """Refuse (BUDGET_ORDERS, BUDGET_CONTRACTS, BUDGET_DOLLARS) a write that would take the
        session past its budget, counting what it has spent."""
        b, s = self.budget, self.spent
        if s.orders + charge.orders > b.max_orders:
            raise ValidationError(
                f"the session's budget allows {b.max_orders} orders and {s.orders} were placed",
                code="BUDGET_ORDERS",
                hint="agent.budget.max_orders in the config; a new session starts afresh",
            )
        if s.contracts + charge.contracts > b.max_contracts:
            raise ValidationError(
                f"{fmt_count(charge.contracts)} more contracts would pass the session's budget "
                f"of {fmt_count(b.max_contracts)} ({fmt_count(s.contracts)} placed)",
                code="BUDGET_CONTRACTS",
                hint="a smaller count, or agent.budget.max_contracts in the config",
            )
        if s.dollars + charge.dollars > b.max_dollars:
            raise ValidationError(
                f"{fmt_exact_dollars(charge.dollars)} more at risk would pass the session's "
                f"budget of {fmt_exact_dollars(b.max_dollars)} "
                f"({fmt_exact_dollars(s.dollars)} placed)",
                code="BUDGET_DOLLARS",
                hint="a smaller order, or agent.budget.max_dollars in the config",
            )

    def issue(self, tool: str, arguments: dict[str, Any], charge: Charge) -> tuple[str, float]:
        """A single-use token for this write, and the wall time it expires at."""
        with self._lock:
            self.check(charge)
            token = secrets.token_urlsafe(16)
            expires = self.clock.wall() + self.ttl_s
            self._pending[token] = Pending(tool, dict(arguments), charge, expires)
            return token, expires

    def redeem(self, token: str) -> Pending:
        """The write `token` stands for, taken: it cannot be redeemed again. Refused when the
        token is unknown, used or expired, or the write no longer fits the budget."""
        with self._lock:
            if token in self._used:
                raise ValidationError(
                    "this token was used already; a token executes one write once",
                    code="TOKEN_USED",
                    hint="preview the write again for a new token",
                )
            pending = self._pending.pop(token, None)
            if pending is None:
                raise ValidationError(
                    "unknown token", code="TOKEN_UNKNOWN", hint="a token comes from a preview_ tool"
                )
            self._used.add(token)
            if self.clock.wall() >= pending.expires_at:
                raise ValidationError(
                    f"the token expired ({self.ttl_s:g} s after its preview)",
                    code="TOKEN_EXPIRED",
                    hint="preview the write again for a new token",
                )
            self.check(pending.charge)
            return pending

    def spend(self, charge: Charge) -> None:
        """Count a write that was sent (whatever the exchange answered: it may have landed)."""
        with self._lock:
            self.spent.add(charge)

    def remaining(self) -> dict[str, str | int]:
        b, s = self.budget, self.spent
        return {
            "orders": b.max_orders - s.orders,
            "contracts": fmt_count(b.max_contracts - s.contracts),
            "dollars": fmt_exact_dollars(b.max_dollars - s.dollars),
        }

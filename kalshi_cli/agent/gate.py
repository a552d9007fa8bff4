"""The write gate: every write an assistant asks for is previewed, then executed by a token.

A `preview_*` tool checks the write and asks for a token bound to it, usable once, for
`token_ttl_s`; `execute` redeems it, refusing one unknown, expired or used. The budget
(`agent.budget`, from the config only) is checked against what was spent, which the caller reads
from the state file (agent/ledger.py); `execute` asks again inside the transaction that records the
write, so two processes cannot both spend its last. The gate is pure bookkeeping over an injected
clock, and forgets a token one `token_ttl_s` after it expired.
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
from kalshi_cli.vocabulary.units import ZERO, fmt_count, fmt_exact_dollars

BUDGET_RULE = "the budget is per UTC day, counted from the state file's records of its orders"


@dataclass(frozen=True)
class Charge:
    """What a write spends from the budget: orders placed, contracts, dollars at most."""

    orders: int = 0
    contracts: Decimal = ZERO
    dollars: Decimal = ZERO


@dataclass(frozen=True)
class Spent(Charge):
    """What was spent of the budget, in a charge's figures (agent/ledger.py reads it from the
    state file)."""


@dataclass(frozen=True)
class Pending:
    """One previewed write, waiting for its token."""

    tool: str  # the preview tool that made it: preview_order, preview_cancel, ...
    arguments: dict[str, Any]
    charge: Charge
    expires_at: float


@dataclass
class WriteGate:
    budget: AgentBudget
    clock: Clock
    ttl_s: float
    _pending: dict[str, Pending] = field(default_factory=dict)
    _used: dict[str, float] = field(default_factory=dict)  # token -> the wall time it expired
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, charge: Charge, spent: Spent) -> None:
        """Refuse (BUDGET_ORDERS, BUDGET_CONTRACTS, BUDGET_DOLLARS) a write that would take the
        budget past its limits, counting what was `spent` of it."""
        b, s = self.budget, spent
        if s.orders + charge.orders > b.max_orders:
            raise ValidationError(
                f"the budget allows {b.max_orders} orders a day and {s.orders} were placed today",
                code="BUDGET_ORDERS",
                hint=f"agent.budget.max_orders in the config; {BUDGET_RULE}",
            )
        if s.contracts + charge.contracts > b.max_contracts:
            raise ValidationError(
                f"{fmt_count(charge.contracts)} more contracts would pass the budget of "
                f"{fmt_count(b.max_contracts)} a day ({fmt_count(s.contracts)} placed today)",
                code="BUDGET_CONTRACTS",
                hint=f"a smaller count, or agent.budget.max_contracts in the config; {BUDGET_RULE}",
            )
        if s.dollars + charge.dollars > b.max_dollars:
            raise ValidationError(
                f"{fmt_exact_dollars(charge.dollars)} more at risk (the taker fee counted) would "
                f"pass the budget of {fmt_exact_dollars(b.max_dollars)} a day "
                f"({fmt_exact_dollars(s.dollars)} placed today)",
                code="BUDGET_DOLLARS",
                hint=f"a smaller order, or agent.budget.max_dollars in the config; {BUDGET_RULE}",
            )

    def issue(
        self, tool: str, arguments: dict[str, Any], charge: Charge, spent: Spent
    ) -> tuple[str, float]:
        """A single-use token for this write, and the wall time it expires at."""
        self.check(charge, spent)
        with self._lock:
            now = self.clock.wall()
            self._forget(now)
            token = secrets.token_urlsafe(16)
            expires = now + self.ttl_s
            self._pending[token] = Pending(tool, dict(arguments), charge, expires)
            return token, expires

    def redeem(self, token: str) -> Pending:
        """The write `token` stands for, taken: it cannot be redeemed again. Refused when the
        token is unknown, used or expired; its budget is the caller's to check again, against
        what was spent by then."""
        with self._lock:
            now = self.clock.wall()
            self._forget(now)
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
            self._used[token] = pending.expires_at
            if now >= pending.expires_at:
                raise ValidationError(
                    f"the token expired ({self.ttl_s:g} s after its preview)",
                    code="TOKEN_EXPIRED",
                    hint="preview the write again for a new token",
                )
            return pending

    def held(self) -> int:
        """How many tokens the gate still holds, waiting or used (each is forgotten one
        `ttl_s` after it expired)."""
        with self._lock:
            self._forget(self.clock.wall())
            return len(self._pending) + len(self._used)

    def remaining(self, spent: Spent) -> dict[str, str | int]:
        b, s = self.budget, spent
        return {
            "orders": b.max_orders - s.orders,
            "contracts": fmt_count(b.max_contracts - s.contracts),
            "dollars": fmt_exact_dollars(b.max_dollars - s.dollars),
        }

    def _forget(self, now: float) -> None:
        """Drop the tokens that expired a `ttl_s` ago or more: until then a late one is told
        it expired or was used, after it only that it is unknown, and nothing grows with the
        server's age."""
        horizon = now - self.ttl_s
        for token in [t for t, p in self._pending.items() if p.expires_at <= horizon]:
            del self._pending[token]
        for token in [t for t, expired in self._used.items() if expired <= horizon]:
            del self._used[token]

"""Pacing by the account's own tier. A client is built paced at the configured tier (Basic by
default); a long run with a key (the trade loop, the kill switch) asks once at its start (`GET
/account/limits`) and paces by the buckets the exchange states from then on. A tier named
explicitly wins without asking; an exchange that does not answer in time leaves the tier as
built, and the `Pacing` says why. docs/library.md "How a request travels", step 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import msgspec

from kalshi_cli.client.ratelimit import DEFAULT_COST, SAFETY_RATE, BucketLimit, TierLimits
from kalshi_cli.vocabulary.clock import Deadline
from kalshi_cli.vocabulary.errors import KalshiError

if TYPE_CHECKING:
    from kalshi_cli.client.client import KalshiClient

# How long the start waits for the answer, retries included, before pacing by the configured
# tier: the kill switch must not spend its deadline on a question it can do without.
ASK_WITHIN_S = 5.0

PacingSource = Literal["exchange", "config", "fallback"]

# one order in each market taking the write budget longer than this is said at the start
SLOW_FIRST_ORDERS_S = 10.0


class TierSetting(NamedTuple):
    """The `tier` setting: its value and, when the config names it explicitly, where (`kalshi
    config show`'s origin); `origin` None: the default, and the exchange is asked."""

    name: str = "basic"
    origin: str | None = None


class Pacing(NamedTuple):
    """What a client paces by, and why: the exchange's answer, the config's explicit tier, or
    the configured tier because the exchange did not answer (`detail`: where or why)."""

    tier: str
    limits: TierLimits
    source: PacingSource
    detail: str

    def describe(self) -> str:
        """The start-up line's text."""
        why = {
            "exchange": "as the exchange states for this account",
            "config": f"as configured ({self.detail})",
            "fallback": f"the configured tier: the exchange did not answer ({self.detail})",
        }[self.source]
        read, write = _bucket_text(self.limits.read), _bucket_text(self.limits.write)
        return f"{self.tier}, {why}: reads {read}, writes {write}"

    def orders_per_s(self) -> float:
        """Orders a second the write budget carries, as the client paces it (a single order
        costs `DEFAULT_COST` tokens; the client keeps its safety margin)."""
        return self.limits.write.refill_rate * SAFETY_RATE / DEFAULT_COST

    def first_orders_text(self, markets: int) -> str | None:
        """A start-up line when one order in each market takes the write budget longer than
        `SLOW_FIRST_ORDERS_S`, else None: a trader who starts 500 markets on the Basic tier
        learns why the last of them is quoted minutes later."""
        rate = self.orders_per_s()
        took = markets / rate
        if took <= SLOW_FIRST_ORDERS_S:
            return None
        return (
            f"about {rate:g} orders a second ({self.tier}): one order in each of {markets} "
            f"markets takes about {took:.0f} s; the markets not yet quoted go first"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "source": self.source,
            "detail": self.detail,
            "read": _bucket_json(self.limits.read),
            "write": _bucket_json(self.limits.write),
        }


def _bucket_text(limit: BucketLimit) -> str:
    # tokens alone read as requests: Basic's 100 write tokens a second are 10 orders a second
    per_s = limit.refill_rate / DEFAULT_COST
    return (
        f"{limit.refill_rate} tokens/s (bucket {limit.capacity}; "
        f"{per_s:g} requests/s at {DEFAULT_COST} tokens each)"
    )


def _bucket_json(limit: BucketLimit) -> dict[str, int]:
    bucket: dict[str, int] = msgspec.to_builtins(limit)  # the spec's names
    return bucket


def pace_by_account(client: KalshiClient, tier: TierSetting = TierSetting()) -> Pacing:
    """Pace `client` (and every handle sharing its limiter) by the account's own buckets, as
    `GET /account/limits` states them; `tier`: the configured setting, which wins when
    explicit and is what stays in force when the exchange does not answer."""
    connection = client.connection
    limiter = connection.limiter
    if tier.origin is not None:
        return Pacing(tier.name, limiter.limits, "config", tier.origin)
    try:
        with Deadline.within(connection.clock, ASK_WITHIN_S):
            answer = client.exchange.get_account_limits()
    except KalshiError as exc:
        return Pacing(tier.name, limiter.limits, "fallback", exc.message)
    limits = answer.limits()
    limiter.pace_by(limits)
    return Pacing(answer.usage_tier, limits, "exchange", "GET /account/limits")

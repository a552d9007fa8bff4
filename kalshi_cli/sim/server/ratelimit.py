"""Kalshi's rate limits: a read and a write token bucket per account, sized by the usage tier.

Every authenticated request costs tokens (10 by default; cancels, single-order reads and RFQ quote
creates, reads and deletes 2; the usage-level upgrade 30; batches per item), GETs from the read
bucket, the rest from the write bucket. A request costing more than is left is answered 429 and
takes nothing. Each bucket holds one second of its tier's budget, the write bucket above Basic
two (the spec's `BucketLimit`).
"""

from __future__ import annotations

from dataclasses import dataclass

from kalshi_cli.vocabulary.clock import Clock

DEFAULT_COST = 10
WRITE_BURST_SECONDS = 2


@dataclass(frozen=True)
class Tier:
    name: str
    read_per_s: int
    write_per_s: int

    @property
    def read_capacity(self) -> int:
        return self.read_per_s

    @property
    def write_capacity(self) -> int:
        # BucketLimit in openapi.yaml: "write buckets at non-Basic tiers hold two seconds of
        # budget"; Basic's holds one, like every read bucket.
        if self.name == "basic":
            return self.write_per_s
        return self.write_per_s * WRITE_BURST_SECONDS


# Token budgets per second from Kalshi's rate-limit page (REFERENCE.md section 7).
TIERS: dict[str, Tier] = {
    t.name: t
    for t in (
        Tier("basic", 200, 100),
        Tier("advanced", 300, 300),
        Tier("premier", 1000, 1000),
        Tier("paragon", 2000, 2000),
        Tier("prime", 4000, 4000),
    )
}

BATCH_CREATE_ITEM_COST = 10
BATCH_CANCEL_ITEM_COST = 2

# (method, path template under /trade-api/v2) -> cost per request, for the non-default ones:
# each one openapi.yaml states in its operation's note ("**Rate limit:** N tokens per request")
ENDPOINT_COSTS: dict[tuple[str, str], int] = {
    ("GET", "/portfolio/orders/{order_id}"): 2,
    ("DELETE", "/portfolio/events/orders"): 2,
    ("DELETE", "/portfolio/events/orders/{order_id}"): 2,
    ("GET", "/communications/rfqs/{rfq_id}/quotes/{quote_id}"): 2,
    ("DELETE", "/communications/rfqs/{rfq_id}/quotes/{quote_id}"): 2,
    ("POST", "/communications/quotes"): 2,
    ("GET", "/communications/quotes/{quote_id}"): 2,
    ("DELETE", "/communications/quotes/{quote_id}"): 2,
    ("POST", "/account/api_usage_level/upgrade"): 30,
}


def tier_named(name: str) -> Tier:
    try:
        return TIERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown tier {name!r}; choose one of {', '.join(TIERS)}") from None


def request_cost(method: str, template: str, batch_items: int | None = None) -> int:
    if batch_items is not None:
        per_item = BATCH_CANCEL_ITEM_COST if method == "DELETE" else BATCH_CREATE_ITEM_COST
        return per_item * max(batch_items, 1)
    return ENDPOINT_COSTS.get((method, template), DEFAULT_COST)


def max_batch_items(tier: Tier, method: str) -> int:
    """The largest batch the write bucket can ever pay for ("scales with the tier")."""
    per_item = BATCH_CANCEL_ITEM_COST if method == "DELETE" else BATCH_CREATE_ITEM_COST
    return tier.write_capacity // per_item


class SimTokenBucket:
    def __init__(self, rate_per_s: float, capacity: float, clock: Clock) -> None:
        self.rate = rate_per_s
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._last = clock.monotonic()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)

    def try_take(self, cost: float) -> bool:
        self._refill()
        if cost > self._tokens:
            return False
        self._tokens -= cost
        return True


class SimRateLimiter:
    """Buckets per account, created on first use."""

    def __init__(self, tier: Tier, clock: Clock) -> None:
        self.tier = tier
        self._clock = clock
        self._buckets: dict[tuple[str, str], SimTokenBucket] = {}

    def _bucket(self, account_id: str, kind: str) -> SimTokenBucket:
        key = (account_id, kind)
        bucket = self._buckets.get(key)
        if bucket is None:
            if kind == "read":
                bucket = SimTokenBucket(self.tier.read_per_s, self.tier.read_capacity, self._clock)
            else:
                bucket = SimTokenBucket(
                    self.tier.write_per_s, self.tier.write_capacity, self._clock
                )
            self._buckets[key] = bucket
        return bucket

    def allow(self, account_id: str, method: str, cost: int) -> bool:
        kind = "read" if method == "GET" else "write"
        return self._bucket(account_id, kind).try_take(cost)

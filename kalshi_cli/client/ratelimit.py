"""Client-side token buckets, so the exchange's limiter never has to say no: the client keeps its
own copy of the account's read and write buckets, a little smaller and slower than the
exchange's, and waits on the injected clock for tokens before it sends. See docs/library.md "How
a request travels", step 1 (costs, the safety margin, unsigned requests).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated

import msgspec

from kalshi_cli.vocabulary.clock import Clock, Deadline
from kalshi_cli.vocabulary.errors import ConfigError, RequestWithdrawn

DEFAULT_COST = 10
SAFETY_CAPACITY = 0.90
SAFETY_RATE = 0.95
# how often a request waiting its turn asks whether its caller withdrew it (`acquire`)
WITHDRAWN_CHECK_S = 0.1


class TurnAfterDeadline(Exception):
    """A request's turn from the rate limiter would come after the deadline it runs under: it
    is not sent, and holds no tokens."""


Tokens = Annotated[int, msgspec.Meta(gt=0)]


class BucketLimit(msgspec.Struct, frozen=True):
    """One token bucket of a tier: its refill rate and capacity, decoded from (and written as)
    openapi.yaml 3.31.0's `BucketLimit`, whose capacity is `bucket_capacity`."""

    refill_rate: Tokens  # tokens per second
    capacity: Tokens = msgspec.field(name="bucket_capacity")


class TierLimits(msgspec.Struct, frozen=True):
    """A tier's two buckets: reads (GET) and writes (everything else)."""

    read: BucketLimit
    write: BucketLimit


def _one_second(read: int, write: int) -> TierLimits:
    return TierLimits(BucketLimit(read, read), BucketLimit(write, write))


# Kalshi's published budgets (tokens per second). Expert and Prestige are named in the spec but
# their numbers are not published; each gets the documented tier just below it, which can only
# make us slower than allowed, never faster.
TIERS: dict[str, TierLimits] = {
    "basic": _one_second(200, 100),
    "advanced": _one_second(300, 300),
    "expert": _one_second(300, 300),
    "premier": _one_second(1000, 1000),
    "paragon": _one_second(2000, 2000),
    "prime": _one_second(4000, 4000),
    "prestige": _one_second(4000, 4000),
}


def tier_limits(tier: str) -> TierLimits:
    try:
        return TIERS[tier.lower()]
    except KeyError:
        raise ConfigError(
            f"unknown rate-limit tier {tier!r}", hint=f"use one of {', '.join(TIERS)}"
        ) from None


def _one_below(path: str, prefix: str) -> bool:
    """`path` is `prefix` and one more segment (one order's path)."""
    rest = path.removeprefix(prefix)
    return rest not in (path, "") and "/" not in rest


def request_cost(method: str, path: str, *, items: int = 1) -> tuple[str, int]:
    """(bucket, tokens) for a request; `path` is relative to /trade-api/v2, without the query.

    `items` is the number of orders in a batch request (billed one by one)."""
    method = method.upper()
    if method == "GET":
        cheap = (
            _one_below(path, "/portfolio/orders/") and path != "/portfolio/orders/queue_positions"
        )
        return "read", 2 if cheap else DEFAULT_COST
    if path == "/portfolio/events/orders/batched":
        return "write", (2 if method == "DELETE" else DEFAULT_COST) * max(items, 1)
    if method == "DELETE" and (
        path == "/portfolio/events/orders" or _one_below(path, "/portfolio/events/orders/")
    ):
        return "write", 2
    return "write", DEFAULT_COST


class TokenBucket:
    """A token bucket that lets callers go into debt and then waits the debt off.

    Taking the tokens first and sleeping afterwards (outside the lock) keeps callers in
    arrival order and never holds the lock while asleep.
    """

    def __init__(self, refill_rate: float, capacity: float, clock: Clock) -> None:
        if refill_rate <= 0 or capacity <= 0:
            raise ValueError("a token bucket needs a positive rate and capacity")
        self.refill_rate = refill_rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._updated = clock.monotonic()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.refill_rate)
        self._updated = now

    @property
    def available(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens

    def acquire(self, cost: float, *, withdrawn: Callable[[], bool] | None = None) -> float:
        """Take `cost` tokens, waiting until the bucket has covered them; returns the wait.

        A request that will not be sent gives its tokens back: one whose turn would come after its
        deadline (`clock.Deadline`) raises `TurnAfterDeadline` at once, one withdrawn
        (`withdrawn()`, asked every `WITHDRAWN_CHECK_S`) raises `RequestWithdrawn`. Requests already
        waiting keep their turns."""
        with self._lock:
            self._refill()
            self._tokens -= cost
            wait = -self._tokens / self.refill_rate if self._tokens < 0 else 0.0
        deadline = Deadline.current()
        if deadline is not None and wait > max(0.0, deadline.remaining()):
            self._give_back(cost)
            raise TurnAfterDeadline(f"its turn comes in {wait:.2f}s, after its deadline")
        if withdrawn is None:
            if wait > 0:
                self._clock.sleep(wait)
            return wait
        end = self._clock.monotonic() + wait
        while True:
            if withdrawn():
                self._give_back(cost)
                raise RequestWithdrawn("withdrawn before it was sent")
            left = end - self._clock.monotonic()
            if left <= 0:
                return wait
            self._clock.sleep(min(left, WITHDRAWN_CHECK_S))

    def _give_back(self, cost: float) -> None:
        """A request's tokens, when it will not be sent: never above the capacity."""
        with self._lock:
            self._refill()
            self._tokens = min(self.capacity, self._tokens + cost)

    def drain(self) -> None:
        """The exchange said 429: its bucket is empty whatever ours thinks, so empty ours."""
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, 0.0)

    def resize(self, refill_rate: float, capacity: float) -> None:
        """Refill at `refill_rate` up to `capacity` from now on, keeping what was spent: the
        tokens (or the debt) carry over, capped at the new capacity."""
        if refill_rate <= 0 or capacity <= 0:
            raise ValueError("a token bucket needs a positive rate and capacity")
        with self._lock:
            self._refill()
            self.refill_rate = refill_rate
            self.capacity = capacity
            self._tokens = min(self._tokens, capacity)


def _named(limits: TierLimits) -> tuple[tuple[str, BucketLimit], ...]:
    return (("read", limits.read), ("write", limits.write))


def _with_margin(limit: BucketLimit) -> tuple[float, float]:
    """(refill rate, capacity) of the client's copy of a bucket: a little slower and smaller
    than the exchange's (the module docstring)."""
    return limit.refill_rate * SAFETY_RATE, limit.capacity * SAFETY_CAPACITY


class RateLimiter:
    """The read and write buckets of one account."""

    def __init__(self, limits: TierLimits, clock: Clock) -> None:
        self.limits = limits
        self.buckets = {
            name: TokenBucket(*_with_margin(limit), clock) for name, limit in _named(limits)
        }

    def pace_by(self, limits: TierLimits) -> None:
        """Pace by `limits` from now on (what the exchange says the account's buckets are),
        in place: every handle sharing this limiter (`Connection.on_subaccount`) follows."""
        for name, limit in _named(limits):
            self.buckets[name].resize(*_with_margin(limit))
        self.limits = limits

    def behind_s(self, bucket: str) -> float:
        """How far behind `bucket` is, in seconds of its refill: what a request arriving now
        would wait behind the requests that took their tokens before it; negative while it
        holds tokens (-0.5: half a second of requests in hand)."""
        held = self.buckets[bucket]
        return -held.available / held.refill_rate

    def max_batch_items(self, per_item: int) -> int:
        """The largest batch whose cost still fits in the write bucket."""
        return max(1, int(self.buckets["write"].capacity // per_item))

    def acquire(
        self,
        method: str,
        path: str,
        *,
        items: int = 1,
        withdrawn: Callable[[], bool] | None = None,
    ) -> float:
        """The request's turn (`TokenBucket.acquire`)."""
        bucket, cost = request_cost(method, path, items=items)
        return self.buckets[bucket].acquire(cost, withdrawn=withdrawn)

    def rate_limited(self, method: str, path: str) -> None:
        bucket, _ = request_cost(method, path)
        self.buckets[bucket].drain()

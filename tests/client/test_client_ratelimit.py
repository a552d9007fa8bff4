"""Token buckets and per-endpoint costs, on a ManualClock (no real waiting)."""

from __future__ import annotations

import pytest

from kalshi_cli.client.ratelimit import (
    SAFETY_CAPACITY,
    SAFETY_RATE,
    TIERS,
    BucketLimit,
    RateLimiter,
    TierLimits,
    TokenBucket,
    TurnAfterDeadline,
    request_cost,
    tier_limits,
)
from kalshi_cli.vocabulary.clock import Deadline, ManualClock
from kalshi_cli.vocabulary.errors import ConfigError, RequestWithdrawn


@pytest.mark.parametrize(
    ("method", "path", "items", "expected"),
    [
        ("GET", "/markets", 1, ("read", 10)),
        ("GET", "/portfolio/orders", 1, ("read", 10)),
        ("GET", "/portfolio/orders/abc-123", 1, ("read", 2)),
        ("GET", "/portfolio/orders/queue_positions", 1, ("read", 10)),
        ("POST", "/portfolio/events/orders", 1, ("write", 10)),
        ("DELETE", "/portfolio/events/orders", 1, ("write", 2)),
        ("DELETE", "/portfolio/events/orders/abc-123", 1, ("write", 2)),
        ("POST", "/portfolio/events/orders/abc-123/amend", 1, ("write", 10)),
        ("DELETE", "/portfolio/events/orders/batched", 7, ("write", 14)),
        ("POST", "/portfolio/events/orders/batched", 3, ("write", 30)),
        # one order's path is the prefix and exactly one more, non-empty segment
        ("GET", "/portfolio/orders/", 1, ("read", 10)),
        ("GET", "/portfolio/orders/abc-123/more", 1, ("read", 10)),
        ("GET", "/portfolio/ordersabc", 1, ("read", 10)),
        ("DELETE", "/portfolio/events/orders/", 1, ("write", 10)),
        ("DELETE", "/portfolio/events/orders/abc-123/amend", 1, ("write", 10)),
    ],
)
def test_request_cost_follows_the_published_costs(
    method: str, path: str, items: int, expected: tuple[str, int]
) -> None:
    assert request_cost(method, path, items=items) == expected


def test_unknown_tier_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError) as info:
        tier_limits("platinum")
    assert "platinum" in info.value.message
    assert "basic" in (info.value.hint or "")
    assert tier_limits("Premier") == TIERS["premier"]


def test_bucket_spends_its_capacity_then_waits_exactly_the_refill_time() -> None:
    clock = ManualClock()
    bucket = TokenBucket(refill_rate=100.0, capacity=50.0, clock=clock)
    for _ in range(5):
        assert bucket.acquire(10) == 0.0
    assert clock.monotonic() == 0.0
    waited = bucket.acquire(10)
    assert waited == pytest.approx(0.1)
    assert clock.monotonic() == pytest.approx(0.1)
    clock.advance(10)
    assert bucket.available == pytest.approx(50.0)  # capped at capacity


def test_drain_after_a_429_makes_the_next_request_wait() -> None:
    clock = ManualClock()
    bucket = TokenBucket(refill_rate=100.0, capacity=100.0, clock=clock)
    bucket.drain()
    assert bucket.acquire(10) == pytest.approx(0.1)


def _max_spend_over_any_window(events: list[tuple[float, int]], rate: float, cap: float) -> float:
    """How far the spending ever got beyond what a full server bucket allows: for every pair
    of requests i <= j, tokens spent in [t_i, t_j] minus (capacity + rate * (t_j - t_i))."""
    worst = float("-inf")
    for i in range(len(events)):
        spent = 0
        for j in range(i, len(events)):
            spent += events[j][1]
            worst = max(worst, spent - (cap + rate * (events[j][0] - events[i][0])))
    return worst


@pytest.mark.parametrize("tier", ["basic", "advanced", "premier"])
def test_a_burst_of_200_reads_stays_inside_the_tier_with_margin(tier: str) -> None:
    clock = ManualClock()
    limiter = RateLimiter(tier_limits(tier), clock)
    sent: list[tuple[float, int]] = []
    for _ in range(200):
        limiter.acquire("GET", "/markets/X")
        sent.append((clock.monotonic(), 10))
    read = TIERS[tier].read
    excess = _max_spend_over_any_window(sent, read.refill_rate, read.capacity)
    # never over the server's bucket, and a whole request's worth of jitter to spare
    assert excess <= -10
    # and not needlessly slow: within the safety factor of the tier's own pace
    ideal = (200 * 10 - read.capacity) / read.refill_rate
    assert clock.monotonic() <= (200 * 10 - read.capacity * SAFETY_CAPACITY) / (
        read.refill_rate * SAFETY_RATE
    )
    assert clock.monotonic() >= ideal


def test_batches_are_sized_to_fit_the_write_bucket() -> None:
    clock = ManualClock()
    tiny = TierLimits(BucketLimit(100, 100), BucketLimit(20, 20))
    limiter = RateLimiter(tiny, clock)
    assert limiter.max_batch_items(per_item=2) == 9  # 20 * 0.9 // 2
    assert limiter.max_batch_items(per_item=100) == 1


def test_a_request_withdrawn_while_it_waits_leaves_at_once_and_gives_its_tokens_back() -> None:
    """Tokens a request never sent are not the exchange's: the calls behind it (a stopping
    loop's cancels) must not wait for orders that will never leave."""
    clock = ManualClock()
    bucket = TokenBucket(refill_rate=10.0, capacity=10.0, clock=clock)
    assert bucket.acquire(10) == 0.0
    stop_at = 0.5
    with pytest.raises(RequestWithdrawn):
        # its turn would come 10 s on; the stop begins after half a second
        bucket.acquire(100, withdrawn=lambda: clock.monotonic() >= stop_at)
    assert clock.monotonic() <= stop_at + 0.25
    # the 100 tokens came back: the next request waits for its own 2 alone, not for them
    assert bucket.acquire(2) == 0.0


def test_a_request_whose_turn_comes_after_its_deadline_fails_at_once_holding_no_tokens() -> None:
    clock = ManualClock()
    bucket = TokenBucket(refill_rate=10.0, capacity=10.0, clock=clock)
    assert bucket.acquire(10) == 0.0
    with Deadline.within(clock, 1.0), pytest.raises(TurnAfterDeadline):
        bucket.acquire(100)  # its turn is 10 s away
    assert clock.monotonic() == 0.0
    clock.advance(0.2)
    assert bucket.acquire(2) == 0.0  # the refused request's 100 tokens are not owed


def test_a_withdrawal_never_gives_back_tokens_the_bucket_never_had() -> None:
    clock = ManualClock()
    bucket = TokenBucket(refill_rate=10.0, capacity=10.0, clock=clock)
    with pytest.raises(RequestWithdrawn):
        bucket.acquire(30, withdrawn=lambda: True)
    assert bucket.available == pytest.approx(10.0)  # full, never above the capacity


def test_behind_s_is_the_wait_of_a_request_arriving_now_and_negative_while_tokens_are_in_hand() -> (
    None
):
    class Frozen(ManualClock):
        def sleep(self, seconds: float) -> None:
            """Time stands still: the requests' tokens are taken, their waits not yet over."""

    clock = Frozen()
    limiter = RateLimiter(TierLimits(BucketLimit(100, 100), BucketLimit(100, 100)), clock)
    rate = 100 * SAFETY_RATE
    assert limiter.behind_s("write") == pytest.approx(-100 * SAFETY_CAPACITY / rate)
    for _ in range(19):  # 190 tokens taken from 90: 100 owed
        limiter.acquire("POST", "/portfolio/events/orders")
    assert limiter.behind_s("write") == pytest.approx(100 / rate)
    assert limiter.behind_s("read") < 0  # the other bucket is untouched


def test_the_start_says_how_long_one_order_in_each_market_takes_the_write_budget() -> None:
    from kalshi_cli.client.pacing import Pacing

    basic = Pacing("basic", TIERS["basic"], "fallback", "HTTP 500")
    assert basic.orders_per_s() == pytest.approx(9.5)
    assert basic.first_orders_text(500) == (
        "about 9.5 orders a second (basic): one order in each of 500 markets takes about 53 s; "
        "the markets not yet quoted go first"
    )
    assert basic.first_orders_text(95) is None  # ten seconds or less: nothing to say
    assert Pacing("premier", TIERS["premier"], "exchange", "").first_orders_text(500) is None

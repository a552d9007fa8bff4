"""The write bucket's size per tier, which bench_cancel_all.py's floor reads.

openapi.yaml 3.31.0 `BucketLimit.bucket_capacity`: "write buckets at non-Basic tiers hold two
seconds of budget"; Basic's write bucket, like every read bucket, holds one second.
"""

from __future__ import annotations

from kalshi_cli.sim.server.ratelimit import SimRateLimiter, tier_named
from kalshi_cli.vocabulary.clock import ManualClock


def _writes_before_refusal(tier: str, cost: int) -> int:
    limiter = SimRateLimiter(tier_named(tier), ManualClock())
    allowed = 0
    while limiter.allow("acct", "POST", cost):
        allowed += 1
    return allowed


def test_basic_write_bucket_holds_one_second_of_budget() -> None:
    # 100 tokens a second at Basic: 50 cancels (2 tokens each) from a full bucket, not 100
    assert _writes_before_refusal("basic", 2) == 50


def test_write_buckets_above_basic_hold_two_seconds_of_budget() -> None:
    assert _writes_before_refusal("advanced", 2) == 300
    assert _writes_before_refusal("premier", 10) == 200


def test_read_buckets_hold_one_second_at_every_tier() -> None:
    limiter = SimRateLimiter(tier_named("advanced"), ManualClock())
    allowed = 0
    while limiter.allow("acct", "GET", 10):
        allowed += 1
    assert allowed == 30

"""The write bucket's size per tier, which bench_cancel_all.py's floor reads.

openapi.yaml 3.31.0 `BucketLimit.bucket_capacity`: "write buckets at non-Basic tiers hold two
seconds of budget"; Basic's write bucket, like every read bucket, holds one second.
"""

from __future__ import annotations

import re

from kalshi_cli.sim.server.ratelimit import DEFAULT_COST, SimRateLimiter, request_cost, tier_named
from kalshi_cli.sim.server.server import ENDPOINTS
from kalshi_cli.vocabulary.clock import ManualClock
from tests.conftest import SimHarness
from tests.openapi_check import raw_spec


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


def _stated_costs() -> dict[tuple[str, str], int]:
    """Every per-request cost openapi.yaml states in an operation's note ("**Rate limit:** N
    tokens per request"), by method and path template."""
    document = raw_spec()
    stated = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            note = (
                str(operation.get("x-mint", {}).get("content", ""))
                if isinstance(operation, dict)
                else ""
            )
            found = re.search(r"\*\*Rate limit:\*\* (\d+) tokens per request", note)
            if found:
                stated[method.upper(), path] = int(found[1])
    return stated


def test_every_cost_the_spec_states_is_charged_and_listed(sim_default: SimHarness) -> None:
    """The costs openapi.yaml 3.31.0 states per operation (orders, cancels, RFQ quotes, the
    usage-level upgrade) are what a served request takes and what `/account/endpoint_costs`
    lists; every other served request costs the default."""
    stated = _stated_costs()
    served = {(ep.method, ep.template) for ep in ENDPOINTS if not ep.batch}
    assert stated.keys() <= served
    for method, template in served:
        assert request_cost(method, template) == stated.get((method, template), DEFAULT_COST)
    listed = sim_default.http.get(sim_default.account.api_base + "/account/endpoint_costs").json()
    assert listed["default_cost"] == DEFAULT_COST
    assert {
        (c["method"], c["path"].removeprefix("/trade-api/v2")): c["cost"]
        for c in listed["endpoint_costs"]
    } == stated

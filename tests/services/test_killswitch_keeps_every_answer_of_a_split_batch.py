"""The kill switch counts each cancel the exchange answered, also when the client split its
batch into several requests (a write budget smaller than a batch) and a later request failed:
that failure threw away the answers before it, the batch was sent again whole, and the orders
already cancelled came back refused, named as errors and counted as cancelled by no one. The
exchange is the real simulator; the account's write budget holds 9 cancels a request."""

from __future__ import annotations

import json

import httpx

from kalshi_cli.client.ratelimit import BucketLimit, TierLimits
from kalshi_cli.services.killswitch.switch import KillSwitch
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import SystemClock
from tests.conftest import SimHarness
from tests.prime_tier import connect, make_markets, seed_resting

BATCHED = "/trade-api/v2/portfolio/events/orders/batched"
# 20 write tokens, 2 a cancel, the client's safety margin: 9 cancels a request
NINE_A_REQUEST = TierLimits(BucketLimit(4000, 4000), BucketLimit(20, 20))


class SecondRequestRefusedOnce(httpx.HTTPTransport):
    """The real simulator, except that the second batch cancel request is answered 429 (the
    exchange did not act on it); `batches` are the order ids of each request, as sent."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE" and request.url.path == BATCHED:
            self.batches.append([o["order_id"] for o in json.loads(request.content)["orders"]])
            if len(self.batches) == 2:
                return httpx.Response(429, json={"error": {"code": "too_many_requests"}})
        return super().handle_request(request)


def test_a_later_request_of_a_split_batch_failing_keeps_the_cancels_answered_before_it(
    prime: SimHarness, store: Store
) -> None:
    (ticker,) = make_markets(prime, 1)
    seed_resting(prime, [ticker], 18)
    exchange = SecondRequestRefusedOnce()
    with connect(
        prime.account, transport=exchange, rate_limits=NINE_A_REQUEST, max_attempts=1
    ) as c:
        resting = {o.order_id for o in c.orders.iter_orders(ticker=ticker, status="resting")}
        # a batch of 18, more than one request carries (`cancels_per_batch` would send 9): the
        # client splits it
        switch = KillSwitch(c, store, SystemClock(), deadline_s=20, batch_size=18)
        report = switch.run(ticker=ticker)

    assert len(resting) == 18 and [len(b) for b in exchange.batches[:2]] == [9, 9]
    assert report.proven, report
    # every order counted cancelled, once, and none named an error
    assert sorted(report.cancelled) == sorted(resting), report
    assert report.contracts_cancelled == 18
    assert not [e for e in report.errors if "not found" in e or "not resting" in e], report

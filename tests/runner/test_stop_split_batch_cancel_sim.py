"""The trade loop's stop against the real simulator, when the write budget splits its cancels
into several requests (one carries 9: `cancels_per_batch`) and a later one fails (429 after every
retry): the cancels the earlier request answered are booked cancelled (`order_cancelled`), and
the failed request's orders are cancelled on their own before the stop is proven. When the
client split the stop's batch of 20, the failure threw every answer away: the stop logged its
batch cancel failed and booked the orders it had cancelled as gone, maybe filled."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from kalshi_cli.client.ratelimit import BucketLimit, TierLimits
from tests.conftest import SimHarness
from tests.runner.sim_rig import rig
from tests.waiting import poll_until

BATCHED = "/trade-api/v2/portfolio/events/orders/batched"
TICKERS = [f"KXSPLITSTOP-SIM-M{n}" for n in range(5)]
# 20 write tokens, 2 a cancel, the client's safety margin: 9 cancels a request
NINE_A_REQUEST = TierLimits(read=BucketLimit(1000, 1000), write=BucketLimit(1000, 20))


class LastRequestRefused(httpx.HTTPTransport):
    """The real simulator, except that a batch cancel request of one order (the last request
    of a batch of ten split nine to a request), and each retry of it, is answered 429 (the
    exchange did not act on it); `batches` are the order ids of each batch cancel request."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE" and request.url.path == BATCHED:
            self.batches.append([o["order_id"] for o in json.loads(request.content)["orders"]])
            if len(self.batches[-1]) == 1:
                return httpx.Response(429, json={"error": {"code": "too_many_requests"}})
        return super().handle_request(request)


def test_a_stop_whose_split_batch_cancel_fails_later_books_what_was_answered(
    sim: SimHarness, tmp_path: Path
) -> None:
    transport = LastRequestRefused()
    with rig(
        sim, tmp_path, TICKERS, strategy="market-maker", params={}, batch_wait_s=0.0,
        transport=transport, rate_limits=NINE_A_REQUEST, settings={"stop_deadline_s": 10.0},
    ) as r:  # fmt: skip

        def resting() -> set[str]:
            return {o.order_id for o in r.client.orders.iter_orders(status="resting")}

        def all_quoted() -> bool:
            r.loop.tick(r.feed.drain_messages(), full=True)
            return len(resting()) == 2 * len(TICKERS)

        assert poll_until(all_quoted), "the loop's quotes never all rested"
        quotes = resting()
        summary = r.loop.stop.shutdown(cancel_resting=True)

        assert summary.not_proven == (), summary.not_proven
        assert resting() == set()
        # only the request that failed is logged so, with its one order
        assert [e["orders"] for e in r.events("stop_batch_cancel_failed")] == [1]
        assert r.events("order_gone") == []
        cancelled = [str(e["order_id"]) for e in r.events("order_cancelled")]
        assert sorted(cancelled) == sorted(quotes)  # each once, as the exchange answered
        assert {len(ids) for ids in transport.batches} == {9, 1}, transport.batches

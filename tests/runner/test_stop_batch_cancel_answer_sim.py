"""The trade loop's stop against the real simulator, when the answer to its batch cancel does not
account for every order it named: an order the answer leaves out is not booked cancelled, and
the stop withdraws it as it does any order whose batch cancel failed (a listing, then a cancel
of its own), so it never ends proven clean while one of its orders rests.

The answers are changed between the client and the simulator (a test's transport, as an
exchange or a proxy answering half would); the simulator itself answers as the spec says.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import SimHarness
from tests.runner.sim_rig import rig
from tests.waiting import poll_until

BATCHED = "/trade-api/v2/portfolio/events/orders/batched"
SINGLE_CANCEL = "/trade-api/v2/portfolio/events/orders/"


class HalfAnswered(httpx.BaseTransport):
    """The real simulator, except for each batch cancel: the first item of the request is
    never sent to it (so that order still rests), and the answer the client reads is
    `shape(the simulator's answer)`."""

    def __init__(self, shape: Callable[[dict[str, object]], dict[str, object]]) -> None:
        self._inner = httpx.HTTPTransport()
        self._shape = shape
        self.batches = 0
        self.single_cancels = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "DELETE" and path.startswith(SINGLE_CANCEL) and path != BATCHED:
            self.single_cancels += 1
        if request.method != "DELETE" or path != BATCHED:
            return self._inner.handle_request(request)
        self.batches += 1
        items = json.loads(request.content)["orders"]
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        sent = httpx.Request("DELETE", request.url, headers=headers, json={"orders": items[1:]})
        response = self._inner.handle_request(sent)
        body = json.loads(response.read())
        return httpx.Response(response.status_code, json=self._shape(body))

    def close(self) -> None:
        self._inner.close()


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(lambda body: {}, id="no orders list"),
        pytest.param(lambda body: body, id="a short orders list"),
    ],
)
def test_a_stop_whose_batch_answer_leaves_an_order_out_cancels_it_before_it_is_proven(
    sim: SimHarness, tmp_path: Path, shape: Callable[[dict[str, object]], dict[str, object]]
) -> None:
    ticker = "KXBATCHANSWER-SIM-S"
    transport = HalfAnswered(shape)
    with rig(
        sim,
        tmp_path,
        [ticker],
        strategy="market-maker",
        params={},
        transport=transport,
        settings={"stop_deadline_s": 10.0},
    ) as r:
        r.loop.tick(r.feed.drain_messages(), full=True)

        def resting() -> set[str]:
            return {o.order_id for o in r.client.orders.iter_orders(status="resting")}

        assert poll_until(lambda: len(resting()) == 2), "the loop's two quotes never rested"
        summary = r.loop.stop.shutdown(cancel_resting=True)
        assert summary.not_proven == (), summary.not_proven
        assert resting() == set()
        assert transport.batches == 1
        assert transport.single_cancels >= 1  # the order left out was cancelled on its own
        cancelled = [e["order_id"] for e in r.events("order_cancelled")]
        assert len(cancelled) == len(set(cancelled))  # none booked twice

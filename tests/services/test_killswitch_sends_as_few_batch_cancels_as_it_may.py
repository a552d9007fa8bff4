"""The kill switch cancels in batches as large as one request may carry: openapi.yaml
(`BatchCancelOrdersV2`) gives no fixed maximum, "the maximum batch size scales with your tier's
write budget", 2 tokens an item. At the Basic tier (a write budget of 100 tokens, of which the
client's copy keeps 90%: `SAFETY_CAPACITY`) that is 45 cancels a request, so 50 resting orders go
out in two requests; in batches of 20 they took three, each a round trip more in the moment the
switch is pulled."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx

from kalshi_cli.client import KalshiClient
from kalshi_cli.services.killswitch.switch import KillSwitch
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.keys import generate_private_key

TICKER = "KXT-EV-M00"
RESTING = 50


def _order(order_id: str) -> dict[str, object]:
    return {
        "order_id": order_id,
        "ticker": TICKER,
        "book_side": "bid",
        "status": "resting",
        "yes_price_dollars": "0.2000",
        "fill_count_fp": "0.00",
        "remaining_count_fp": "2.00",
        "initial_count_fp": "2.00",
        "created_time": "2026-11-22T10:00:00Z",
        "subaccount_number": 0,
    }


class Exchange:
    """Lists what rests and cancels each order a batch cancel names; keeps each batch's size."""

    def __init__(self) -> None:
        self.resting = {f"o-{n:02d}" for n in range(RESTING)}
        self.batches: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/portfolio/orders"):
            orders = [_order(i) for i in sorted(self.resting)]
            return httpx.Response(200, json={"orders": orders, "cursor": ""})
        if request.method == "DELETE" and request.url.path.endswith("/orders/batched"):
            ids = [item["order_id"] for item in json.loads(request.content)["orders"]]
            self.batches.append(len(ids))
            self.resting -= set(ids)
            items = [{"order_id": i, "reduced_by": "2.00"} for i in ids]
            return httpx.Response(200, json={"orders": items})
        raise AssertionError(f"unexpected request {request.method} {request.url.path}")


def test_the_kill_switch_cancels_in_batches_as_large_as_the_write_budget_pays_for() -> None:
    clock = ManualClock()
    exchange = Exchange()
    client = KalshiClient(
        api_base="http://exchange.invalid/trade-api/v2",
        key_id="k",
        private_key=generate_private_key(),
        tier="basic",
        clock=clock,
        transport=httpx.MockTransport(exchange),
    )

    with client:
        report = KillSwitch(client, None, clock, deadline_s=30, read_lag_s=0).run(ticker=TICKER)

    assert report.proven and report.contracts_cancelled == Decimal(2 * RESTING)
    assert exchange.batches == [45, RESTING - 45]

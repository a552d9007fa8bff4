"""An order the exchange ended on its own (its market settled while it rested) is booked gone by
the next proven `kalshi cancel-all`: the proof's empty listing shows it no longer rests, so the
state file stops counting it (`kalshi status`, `kalshi order list`) at once, not only after
`kalshi reconcile`. The cancel-all counts it as cancelled by nobody: it did not cancel it."""

from __future__ import annotations

import json
from pathlib import Path

from kalshi_cli.store import Store
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, make_markets, state_path


def test_an_order_its_settled_market_ended_is_booked_gone_by_the_proof(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    settled, trading = make_markets(prime, 2)
    for ticker in (settled, trading):
        args = ["order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "1"]
        placed = kalshi(*args, "--price", "0.10")
        assert placed.exit_code == 0, placed.output
    with Store.open(state_path(tmp_path)) as store:
        ended_id = store.orders.intents(ticker=settled)[0].order_id
    prime.settle(settled, "no")  # the exchange cancels what rests on it

    pulled = kalshi("cancel-all", "--json")
    assert pulled.exit_code == 0, pulled.output
    report = json.loads(pulled.stdout)
    assert report["proven"] is True
    # only the trading market's order was cancelled by the switch
    assert report["cancelled_count"] == 1 and ended_id not in report["cancelled"]

    status = json.loads(kalshi("status", "--json").stdout)
    assert status["open_orders"] == 0
    listed = json.loads(kalshi("order", "list", "--ticker", settled, "--json").stdout)["orders"]
    assert [(o["order_id"], o["status"], o["local_status"]) for o in listed] == [
        (ended_id, "canceled", "canceled")
    ]

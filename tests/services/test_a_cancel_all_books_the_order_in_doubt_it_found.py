"""An order whose create answer was lost (`unknown` in the state file) that lands and is listed by
`kalshi cancel-all` is booked found and cancelled by that run: the state file no longer counts it
open or in doubt (`kalshi status`), the report names its strategy, and the next `cancel-all`
does not wait for it to land (it landed and was cancelled)."""

from __future__ import annotations

import json
from pathlib import Path

from kalshi_cli.client import KalshiClient
from kalshi_cli.store import Store
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, make_markets, state_path
from tests.services.test_killswitch_late import _place_held, _wait_landed


def test_an_order_in_doubt_the_cancel_all_listed_is_booked_cancelled(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    (ticker,) = make_markets(prime, 1, event="KXLATE")
    coid = _place_held(prime, kalshi, tmp_path, ticker, 4.0)
    _wait_landed(client, ticker, coid)

    first = kalshi("cancel-all", "--yes", "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    (order_id,) = report["cancelled"]
    assert report["orders"] == [
        {"order_id": order_id, "client_order_id": coid, "strategy": "manual"}
    ]
    with Store.open(state_path(tmp_path)) as store:
        intent = store.orders.get_intent(coid)
    assert intent is not None and (intent.status, intent.order_id) == ("canceled", order_id)
    status = json.loads(kalshi("status", "--json").stdout)
    assert (status["open_orders"], status["unknown_orders"]) == (0, 0)

    # within the window the lost create could still land in, had it not been found
    again = kalshi("cancel-all", "--yes", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["errors"] == []

"""`kalshi positions --by event`: each event's markets together, their worst and best case at
settlement by the one rule, and the exchange's `event_exposure_dollars` beside them."""

from __future__ import annotations

import json

from kalshi_cli.client import KalshiClient
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, hold_kalshis_event_example


def test_positions_by_event_show_the_worst_and_best_case_of_kalshis_example(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi
) -> None:
    """NO at 0.60 on A and NO at 0.70 on C of three candidates: $1.30 in, -$0.30 at worst."""
    hold_kalshis_event_example(prime, client)
    answer = kalshi("positions", "--by", "event", "--json")
    assert answer.exit_code == 0, answer.output
    (row,) = json.loads(answer.stdout)["events"]
    assert row["event_ticker"] == "KXSOS"
    assert row["collateral_return_type"] == "MECNET"
    assert [m["ticker"] for m in row["markets"]] == ["KXSOS-A", "KXSOS-C"]
    assert row["cost"] == "1.3000"
    assert row["worst_case"] == {"pnl": "-0.3000", "outcome": "KXSOS-A yes"}
    assert row["best_case"] == {"pnl": "0.7000", "outcome": "none yes"}
    assert row["event_exposure_dollars"] == "1.3000"  # netting is off: the whole cost is held
    table = kalshi("positions", "--by", "event", "--format", "plain")
    assert "-0.30 (KXSOS-A yes)" in table.stdout, table.stdout


def test_positions_by_event_read_the_markets_held_in_one_listing(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi
) -> None:
    """The dashboard asks every few seconds: one `GET /markets?tickers=` for every market held,
    not a read per market."""
    hold_kalshis_event_example(prime, client)
    before = dict(prime.stats()["accounts"][prime.account.key_id]["requests"])
    assert kalshi("positions", "--by", "event", "--json").exit_code == 0
    after = prime.stats()["accounts"][prime.account.key_id]["requests"]
    read = {k: int(after[k]) - int(before.get(k, 0)) for k in after if k.startswith("GET /markets")}
    assert read.get("GET /markets/{ticker}", 0) == 0 and read.get("GET /markets") == 1, read

"""`kalshi positions --by event`: each event's markets together, their worst and best case at
settlement by the one rule, and the exchange's `event_exposure_dollars` beside them."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.units import BookSide, fmt_money
from tests.conftest import SimHarness
from tests.prime_tier import (
    EventAnswered,
    Kalshi,
    another_accounts_order,
    connect,
    hold_kalshis_event_example,
)


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
    assert "-$0.30 (KXSOS-A yes)" in table.stdout, table.stdout


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


@pytest.mark.parametrize("body", [b"{}", b"[]"], ids=["no-event", "a-list"])
def test_positions_by_event_over_an_event_answer_that_cannot_be_read_say_so_as_the_exchanges(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, body: bytes
) -> None:
    """The event is read by the pre-trade account's one reader of `GET /events`: an answer with
    no event in it is the exchange's unreadable answer (exit 7, naming the event), never a
    worst case worked out of nothing or a traceback."""
    hold_kalshis_event_example(prime, client)
    transport = EventAnswered("KXSOS", lambda answer: body)
    answer = kalshi(
        "positions", "--by", "event", client=lambda: connect(prime.account, transport=transport)
    )
    assert transport.asked == 1
    assert answer.exit_code == ExitCode.UNREACHABLE, answer.output
    assert "event KXSOS: the exchange's answer cannot be read" in answer.stderr


def _buy_a_ten_candidate_no_set(prime: SimHarness, client: KalshiClient) -> None:
    """NO 1 at $0.30 in each of ten candidates of the mutually exclusive KXTEN, with netting on
    and the simulator's default taker fee: the set pays $9 at least, so netting returns $9 at
    once, and the balance moves by the worst case."""
    client.subaccounts.set_subaccount_netting(0, True)
    for n in range(10):
        ticker = f"KXTEN-C{n}"
        prime.create_market(ticker, event_ticker="KXTEN", collateral_return_type="MECNET")
        another_accounts_order(prime, ticker, BookSide.BID, "0.70", 1)
        client.orders.create_order(CreateOrder(ticker, BookSide.ASK, Decimal("0.70"), Decimal(1)))


def test_the_worst_case_counts_the_fees_paid_as_the_balance_confirms(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi
) -> None:
    """Ten NO at $0.30 cost $3.00 and pay $9.00 at least: not +$6.00 at worst, but +$6.00 less
    every fee paid, which is what netting left in the balance (it returned the $9.00 at once)."""
    before = client.portfolio.get_balance().balance
    _buy_a_ten_candidate_no_set(prime, client)
    fees = sum((p.fees_paid for p in client.portfolio.get_positions()), Decimal(0))
    assert fees > 0  # the default fee is charged: the case at hand
    moved = client.portfolio.get_balance().balance - before
    answer = kalshi("positions", "--by", "event", "--json")
    (row,) = json.loads(answer.stdout)["events"]
    assert Decimal(row["worst_case"]["pnl"]) == Decimal("6.00") - fees == moved
    assert Decimal(row["best_case"]["pnl"]) == Decimal("7.00") - fees  # none of them YES
    assert Decimal(row["cost"]) == Decimal("3.00") + fees
    table = kalshi("positions", "--by", "event", "--format", "plain").stdout
    assert f"{fmt_money(moved)} (KXTEN-C0 yes)" in table, table


def test_a_settled_market_keeps_only_the_outcomes_that_agree_with_its_result(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi
) -> None:
    """NO on A and NO on C, then A settles YES: C can no longer settle YES, so the one outcome
    left is "A yes", where C's NO (bought at $0.70) is paid $1.00: +$0.30, never -$0.70."""
    hold_kalshis_event_example(prime, client)
    prime.settle("KXSOS-A", "yes")
    (row,) = json.loads(kalshi("positions", "--by", "event", "--json").stdout)["events"]
    assert [m["ticker"] for m in row["markets"]] == ["KXSOS-C"]
    assert row["worst_case"] == {"pnl": "0.3000", "outcome": "KXSOS-A yes"}
    assert row["best_case"] == row["worst_case"]
    table = kalshi("positions", "--by", "event", "--format", "plain").stdout
    assert "KXSOS-C yes" not in table, table


def test_the_table_json_dashboard_metric_and_assistant_show_one_worst_case(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    """Every reader of an event's worst case shows the one rule's figure: the fees paid in."""
    from kalshi_cli.agent.settings import load_agent_config
    from kalshi_cli.agent.tools import AgentTools
    from kalshi_cli.cli._context import AppContext
    from kalshi_cli.cli.mcp_cmd import CliAccess
    from kalshi_cli.dashboard.snapshot import Sources, remote_snapshot
    from kalshi_cli.services.metrics import Collector
    from kalshi_cli.vocabulary.clock import SystemClock
    from tests.prime_tier import cli_env

    _buy_a_ten_candidate_no_set(prime, client)
    (row,) = json.loads(kalshi("positions", "--by", "event", "--json").stdout)["events"]
    worst = Decimal(row["worst_case"]["pnl"])
    assert worst < Decimal("6.00")  # the fees are in
    table = kalshi("positions", "--by", "event", "--format", "plain").stdout
    assert f"{fmt_money(worst)} ({row['worst_case']['outcome']})" in table, table
    snap = remote_snapshot(Sources(state_path=tmp_path / "none.db"), client, SystemClock())
    (event,) = snap.events
    assert (event.worst, event.worst_outcome) == (worst, row["worst_case"]["outcome"])
    metric = Collector(tmp_path / "none.db", client=lambda: client).collect()
    assert f'kalshi_event_worst_case_dollars{{event_ticker="KXTEN"}} {worst}' in metric, metric
    app = AppContext(environ=cli_env(prime.account, tmp_path / "home"))
    try:
        tools = AgentTools(
            CliAccess(app), load_agent_config(tmp_path / "none.yaml"), clock=SystemClock()
        )
        assert tools.reads.event_positions()["events"] == [row]
    finally:
        app.close()

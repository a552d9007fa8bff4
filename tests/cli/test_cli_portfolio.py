"""`balance`, `positions`, `fills`, `settlements` against a fake client."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import typer

from kalshi_cli.cli._options import parse_since
from kalshi_cli.vocabulary.exit_codes import ExitCode

from .fakes import FakeClient, run

POSITION = {
    "ticker": "KXA-1",
    "position_fp": "-3.00",
    "market_exposure_dollars": "1.6500",
    "realized_pnl_dollars": "0.2500",
    "fees_paid_dollars": "0.0400",
    "total_traded_dollars": "2.1000",
    "exchange_index": 2,
}
FILL = {
    "fill_id": "f1",
    "trade_id": "t1",
    "order_id": "o1",
    "market_ticker": "KXA-1",
    "book_side": "ask",
    "count_fp": "3.00",
    "yes_price_dollars": "0.4500",
    "is_taker": True,
    "fee_cost": "0.0500",
    "created_time": "2026-01-02T03:04:05Z",
    "ts": 1767323045,
}
SETTLEMENT = {
    "ticker": "KXA-1",
    "event_ticker": "KXA",
    "market_result": "no",
    "yes_count_fp": "0.00",
    "yes_total_cost_dollars": "0.0000",
    "no_count_fp": "3.00",
    "no_total_cost_dollars": "1.6500",
    "revenue": 300,
    "fee_cost": "0.0000",
    "settled_time": "2026-02-01T00:00:00Z",
}


def test_balance(tmp_path: Path) -> None:
    client = FakeClient(balance_cents=123456)
    document = json.loads(run(["balance", "--json"], client=client, home=tmp_path).stdout)
    assert document == {
        "balance": "1234.56",
        "portfolio_value": "25.00",
        "updated_ts": None,
        "shards": None,  # no breakdown in the answer: unknown, never all on shard 0
    }
    plain = run(["balance"], client=client, home=tmp_path)
    assert plain.stdout.splitlines()[0] == "balance          $1,234.56"


def test_the_balance_shows_a_line_per_shard_and_the_total(tmp_path: Path) -> None:
    client = FakeClient(
        balance_cents=123456,
        balance_dollars="1234.5600",
        balance_breakdown=[
            {"exchange_index": 2, "balance": "234.5600"},
            {"exchange_index": 0, "balance": "1000.0000"},
        ],
    )
    document = json.loads(run(["balance", "--json"], client=client, home=tmp_path).stdout)
    assert document["balance"] == "1234.56"
    assert document["shards"] == [
        {"exchange_index": 0, "balance_dollars": "1000.00"},
        {"exchange_index": 2, "balance_dollars": "234.56"},
    ]
    plain = run(["balance"], client=client, home=tmp_path).stdout.splitlines()
    assert plain[:3] == [
        "shard 0              $1,000.00",
        "shard 2              $234.56",
        "balance, all shards  $1,234.56",
    ]


def test_a_balance_answer_without_the_portfolio_value_shows_it_unknown_never_zero(
    tmp_path: Path,
) -> None:
    """No defaults in money: an answer that leaves out `portfolio_value` (the spec requires it)
    was shown as a portfolio worth $0.00; the value is unknown (null in JSON), the balance
    still shown."""
    client = FakeClient(balance_cents=123456, portfolio_value_cents=None)
    document = json.loads(run(["balance", "--json"], client=client, home=tmp_path).stdout)
    assert document == {
        "balance": "1234.56",
        "portfolio_value": None,
        "updated_ts": None,
        "shards": None,
    }
    plain = run(["balance"], client=client, home=tmp_path).stdout.splitlines()
    assert plain[:2] == ["balance          $1,234.56", "portfolio value  unknown"]


def test_a_sub_cent_balance_is_shown_exactly_never_rounded(tmp_path: Path) -> None:
    # fees are charged to $0.0001: after one taker fill at $0.52 the balance is $999.4625
    client = FakeClient(balance_cents=99_946, balance_dollars="999.4625")
    document = json.loads(run(["balance", "--json"], client=client, home=tmp_path).stdout)
    assert document["balance"] == "999.4625"
    plain = run(["balance"], client=client, home=tmp_path)
    assert plain.stdout.splitlines()[0] == "balance          $999.4625"


def test_positions(tmp_path: Path) -> None:
    """With no state file, the exchange's position is shown, and the fills the state file lacks
    are flagged as differences (the marks come from `services.positions`, tested against the
    simulator in tests/services/test_positions_subaccounts.py)."""
    client = FakeClient(positions=[POSITION])
    result = run(["positions", "--ticker", "KXA-1", "--json"], client=client, home=tmp_path)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    (row,) = document["positions"]
    assert (row["ticker"], row["side"], row["position"], row["cost"]) == (
        "KXA-1",
        "no",
        "-3.00",
        "1.6500",
    )
    assert row["exchange"] == {
        "position": "-3.00",
        "market_exposure": "1.6500",
        "realized_pnl": "0.2500",
        "fees_paid": "0.0400",
        "total_traded": "2.1000",
    }
    assert [d["what"] for d in row["differences"]] == ["position", "realized_gross", "fees"]
    assert "`kalshi reconcile`" in result.stderr
    assert [name for name, _ in client.calls] == ["get_positions", "iter_orders", "get_orderbook"]
    assert client.calls[0] == (
        "get_positions",
        {"ticker": "KXA-1", "event_ticker": None, "include_flat": False},
    )


def test_fills_since_and_limit(tmp_path: Path) -> None:
    client = FakeClient(fills=[FILL])
    result = run(
        ["fills", "--since", "2026-01-02", "--limit", "5", "--json"], client=client, home=tmp_path
    )
    assert result.exit_code == 0, result.output
    fill = json.loads(result.stdout)["fills"][0]
    assert fill["book_side"] == "ask" and fill["yes_price"] == "0.4500" and fill["is_taker"]
    assert (fill["side"], fill["price"], fill["amount"]) == ("no", "0.5500", "1.6500")
    # fewer than the limit came back: the cutoff says whether older fills are archived (the
    # fake's cutoff is before --since, so the historical tier is not read)
    assert client.calls == [
        ("iter_fills", {"ticker": None, "min_ts": 1767312000, "limit": 5}),
        ("get_historical_cutoff", {}),
    ]


def test_fills_csv(tmp_path: Path) -> None:
    client = FakeClient(fills=[FILL])
    result = run(["fills", "--format", "csv"], client=client, home=tmp_path)
    assert result.stdout.splitlines() == [
        "time,ticker,action,side,price,count,amount,fee,role,book side,YES price,order id,fill id,"
        "strategy",
        # an ask at YES 0.45 bought NO at 0.55 (no state file, no exchange action/side: the side
        # the fill added, bought): 3 contracts cost 1.65; CSV keeps the exact decimals
        "2026-01-02T03:04:05Z,KXA-1,buy,no,0.5500,3.00,1.6500,0.0500,taker,ask,0.4500,o1,f1,",
    ]


def test_a_fill_names_the_strategy_whose_order_it_filled(tmp_path: Path) -> None:
    """The trades file carries each fill's owner from the state file (text, CSV and JSON); a
    fill of an order the state file does not know has none."""
    from decimal import Decimal

    from kalshi_cli.config import load_settings
    from kalshi_cli.store import IntentRecord, Store
    from kalshi_cli.vocabulary.units import Action, BookSide, Side

    state = load_settings(environ={"KALSHI_HOME": str(tmp_path)}).state
    state.parent.mkdir(parents=True, exist_ok=True)
    with Store.open(state) as store:
        store.orders.record_intent(
            IntentRecord(
                client_order_id="spike:1",
                ticker="KXA-1",
                book_side=BookSide.ASK,
                price=Decimal("0.45"),
                count=Decimal(3),
                side=Side.NO,
                action=Action.BUY,
                strategy="spike",
            )
        )
        store.orders.mark_sent(
            "spike:1", order_id="o1", status="executed", fill_count=Decimal(3),
            remaining_count=Decimal(0),
        )  # fmt: skip
    client = FakeClient(fills=[FILL, FILL | {"fill_id": "f2", "order_id": "elsewhere"}])
    document = json.loads(run(["fills", "--json"], client=client, home=tmp_path).stdout)
    assert [f["strategy"] for f in document["fills"]] == ["spike", None]
    csv = run(["fills", "--format", "csv"], client=client, home=tmp_path).stdout.splitlines()
    assert csv[0].split(",")[-1] == "strategy"
    assert [row.split(",")[-1] for row in csv[1:]] == ["spike", ""]
    text = run(["fills"], client=client, home=tmp_path, width=200).stdout.splitlines()
    assert text[0].split()[-1] == "strategy" and text[1].split()[-1] == "spike"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02", 1767312000),
        ("2026-01-02T01:00:00Z", 1767315600),
        ("2026-01-02T01:00:00+01:00", 1767312000),
    ],
)
def test_parse_since(text: str, expected: int) -> None:
    assert parse_since(text) == expected


def test_since_today_is_midnight_utc_of_today() -> None:
    def midnight() -> int:
        return int(time.time()) // 86_400 * 86_400

    before = midnight()
    assert parse_since("today") in {before, midnight()}  # either side of a midnight between


def test_fills_bad_since_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(typer.BadParameter):
        parse_since("yesterday")
    result = run(["fills", "--since", "yesterday"], client=FakeClient(), home=tmp_path)
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: Invalid value for --since: 'yesterday' is not unix seconds, a date (YYYY-MM-DD) "
        "or an ISO 8601 time (see `kalshi fills --help`)\n"
    )


@pytest.mark.parametrize("option", ["--from", "--to"])
def test_a_bad_download_window_names_its_own_option_and_asks_nothing(
    tmp_path: Path, option: str
) -> None:
    client = FakeClient()
    argv = ["data", "download", "trades", "--out", str(tmp_path / "dl"), option, "yesterday"]
    result = run(argv, client=client, home=tmp_path)
    assert result.exit_code == 2
    assert f"Invalid value for {option}: 'yesterday' is not unix seconds" in result.stderr
    assert client.calls == [] and not (tmp_path / "dl").exists()


def test_settlements(tmp_path: Path) -> None:
    client = FakeClient(settlements=[SETTLEMENT])
    result = run(["settlements", "--json"], client=client, home=tmp_path)
    settlement = json.loads(result.stdout)["settlements"][0]
    assert settlement["revenue"] == "3.00"
    assert settlement["market_result"] == "no"
    assert settlement["no_total_cost"] == "1.6500"
    markdown = run(["settlements", "-f", "markdown"], client=client, home=tmp_path)
    assert markdown.stdout.splitlines()[0].startswith("| settled")
    csv = run(["settlements", "-f", "csv"], client=client, home=tmp_path)
    assert csv.stdout.splitlines() == [
        "settled,ticker,result,YES,NO,revenue,fee",
        "2026-02-01T00:00:00Z,KXA-1,no,0.00,3.00,3.00,0.0000",
    ]


def test_portfolio_commands_need_credentials(tmp_path: Path) -> None:
    client = FakeClient(has_key=False)
    for command in ("balance", "positions", "fills", "settlements"):
        result = run([command], client=client, home=tmp_path)
        assert result.exit_code == 4, command
        assert result.stderr.startswith("Error: no API credentials for env sim"), command
    assert client.calls == []  # refused before any request


@pytest.mark.parametrize("command", [["reconcile"], ["pnl"]])
def test_a_fill_quarantined_is_named_with_its_missing_field_and_the_exit_says_so(
    tmp_path: Path, command: list[str]
) -> None:
    """A fill the exchange lists without its count is never applied; the command that read it
    says which fill and what it lacks, and exits FILL_QUARANTINED, as the trade loop reports it."""
    assert run(["reconcile"], client=FakeClient(fills=[FILL]), home=tmp_path).exit_code == 0
    lacking = {k: v for k, v in FILL.items() if k != "count_fp"} | {"fill_id": "f2"}
    client = FakeClient(fills=[FILL, lacking])
    result = run(command, client=client, home=tmp_path)
    assert result.exit_code == ExitCode.FILL_QUARANTINED, result.output
    [line] = [x for x in result.stderr.splitlines() if "quarantined" in x]
    assert "fill f2" in line and "count_fp" in line, result.stderr

"""Collateral-return netting is set from the command line: `kalshi subaccount netting on|off`
(the exchange's `PUT /portfolio/subaccounts/netting`) and `subaccount list` shows it; `kalshi
event` shows the event's `collateral_return_type` and each market's strike; the local venue of
paper trading and backtests nets as `trade.venue_netting` or `--netting` says, off by default as
on a new Kalshi account. In-process, on the prime simulator and a recording."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.runner.paper import build_venue
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.backtest.in_process import kalshi as kalshi_home
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi

EVENT = "KXNET-26JAN01"
LAL = "KXNBAGAME-SIM-LALGSW-LAL"


def netting_of(kalshi: Kalshi) -> dict[int, bool]:
    done = kalshi("subaccount", "list", "--json")
    assert done.exit_code == 0, done.output
    return {s["subaccount"]: s["netting"] for s in json.loads(done.stdout)["subaccounts"]}


def test_subaccount_netting_turns_it_on_and_off_and_list_shows_it(
    kalshi: Kalshi, client: KalshiClient
) -> None:
    assert kalshi("subaccount", "create").exit_code == 0
    assert netting_of(kalshi) == {0: False, 1: False}  # off, as on a new Kalshi account
    done = kalshi("subaccount", "netting", "on", "--subaccount", "1", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"subaccount": 1, "netting": True}
    assert netting_of(kalshi) == {0: False, 1: True}
    assert client.subaccounts.subaccount_netting()[1] is True  # the exchange's own setting
    assert kalshi("subaccount", "netting", "ON").exit_code == 0  # subaccount 0 by default
    assert kalshi("subaccount", "netting", "off", "--subaccount", "1").exit_code == 0
    assert netting_of(kalshi) == {0: True, 1: False}
    assert "netting" in kalshi("subaccount", "list").output


def test_netting_is_confirmed_on_prod(kalshi: Kalshi) -> None:
    done = kalshi("subaccount", "netting", "on", "--env", "prod", input="n\n")
    assert done.exit_code != 0
    assert "turn netting on for subaccount 0" in done.output, done.output


def test_event_shows_its_collateral_return_type_and_each_markets_strike(
    kalshi: Kalshi, prime: SimHarness
) -> None:
    for ticker, floor, cap in ((f"{EVENT}-A", 96000, 96500), (f"{EVENT}-B", 96500, 97000)):
        prime.create_market(ticker, event_ticker=EVENT, series_ticker="KXNET",
                            mutually_exclusive=True, collateral_return_type="MECNET",
                            strike_type="between", floor_strike=floor, cap_strike=cap)  # fmt: skip
    shown = kalshi("event", EVENT, "--json")
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert document["collateral_return_type"] == "MECNET"
    assert [(m["floor_strike"], m["cap_strike"]) for m in document["markets"]] == [
        (96000, 96500),
        (96500, 97000),
    ]
    text = kalshi("event", EVENT).output
    assert "collateral return   MECNET" in text, text
    assert "96000-96500" in text and "96500-97000" in text, text


def test_a_paper_venue_nets_on_the_subaccount_it_trades_when_asked(
    prime: SimHarness, client: KalshiClient
) -> None:
    market = client.markets.get_market(prime.create_market(f"{EVENT}-P")["ticker"])
    on = build_venue(client, [market], SystemClock(), Decimal(100), subaccount=1, netting=True)
    assert on.client.subaccounts.subaccount_netting() == {0: False, 1: True}
    off = build_venue(client, [market], SystemClock(), Decimal(100))
    assert off.client.subaccounts.subaccount_netting() == {0: False}


def test_netting_on_a_live_loop_is_refused_and_the_paper_banner_says_it(
    kalshi: Kalshi, prime: SimHarness
) -> None:
    prime.create_market(f"{EVENT}-L")
    refused = kalshi("trade", "--strategy", "spike", "--netting", "on", "--once", "--dry-run")
    assert refused.exit_code == ExitCode.USAGE, refused.output
    assert "kalshi subaccount netting" in refused.output
    paper = kalshi("trade", "--strategy", "spike", "--markets", f"{EVENT}-L", "--paper",
                   "--netting", "on", "--once", "--no-order-group")  # fmt: skip
    assert paper.exit_code == 0, paper.output
    assert "netting on" in paper.output, paper.output


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("rec"), seconds=20, tickers=[LAL])


@pytest.mark.parametrize(
    ("config", "flag", "nets"),
    [
        ("", [], False),
        ("trade:\n  venue_netting: true\n", [], True),
        ("trade:\n  venue_netting: true\n", ["--netting", "off"], False),
        ("", ["--netting", "on"], True),
    ],
    ids=["default", "config", "flag-over-config", "flag"],
)
def test_a_backtest_nets_as_the_config_key_or_the_flag_says(
    data: Path, tmp_path: Path, config: str, flag: list[str], nets: bool
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(config)
    args = ["backtest", "--strategy", "spike", "--data", str(data), *flag, "--json"]
    done = kalshi_home(args, home)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["assumptions"]["netting"] is nets

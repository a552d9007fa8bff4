"""`kalshi shard list|move|transfers|allocate` as a person runs them, against a fake exchange of
several shards (tests/services/shard_exchange.py) behind the real client: what each prints, and
that every bad input is a usage error (exit 2) with nothing sent."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.keys import generate_private_key
from tests.services.shard_exchange import ShardExchange, client_of

D = Decimal


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    made = generate_private_key()
    assert isinstance(made, rsa.RSAPrivateKey)
    return made


def kalshi(exchange: ShardExchange, key: rsa.RSAPrivateKey, home: Path, *args: str) -> Result:
    client = client_of(exchange, key, ManualClock())

    def factory(_app: AppContext, _settings: Any, _anonymous: bool) -> Any:
        return client

    context = AppContext(environ={"KALSHI_HOME": str(home)}, client_factory=factory)
    env = {"COLUMNS": "120", "NO_COLOR": "1"}
    return CliRunner().invoke(app, list(args), obj=context, env=env, prog_name="kalshi")


def _two_shards() -> ShardExchange:
    return ShardExchange({(0, 0): D("900"), (0, 2): D("12")})


def test_shard_list_shows_each_shards_money_and_the_traded_markets_there(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    exchange = _two_shards()
    exchange.markets = [
        {"ticker": "KXBTC-A", "status": "active", "exchange_index": 2},
        {"ticker": "KXBTC-B", "status": "active", "exchange_index": 2},
        {"ticker": "KXNBA-A", "status": "active", "exchange_index": 0},
        {"ticker": "KXOLD-A", "status": "active"},
    ]
    exchange.trading_active = {2: False}
    result = kalshi(exchange, key, tmp_path, "shard", "list", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [
        (s["exchange_index"], s["balance_dollars"], s["trading_active"], s["traded_markets"])
        for s in document["shards"]
    ] == [(0, "900.00", True, ["KXNBA-A"]), (2, "12.00", False, ["KXBTC-A", "KXBTC-B"])]
    assert document["unplaced_markets"] == ["KXOLD-A"]
    table = kalshi(exchange, key, tmp_path, "shard", "list", "--format", "plain").stdout
    assert "shard 2 engine" in table and "$12.00" in table


def test_shard_move_moves_once_and_prints_where_the_money_is(
    key: rsa.RSAPrivateKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kalshi_cli.services.shards.LOOKUP_S", 2.0)  # the lookup's window
    exchange = _two_shards()
    exchange.answer = "lost"  # the answer never comes: found in the history instead
    result = kalshi(
        exchange, key, tmp_path, "shard", "move", "$100", "--from", "0", "--to", "2", "--json"
    )
    assert result.exit_code == 0, result.output
    assert len(exchange.posts) == 1
    document = json.loads(result.stdout)
    assert (document["status"], document["amount"], document["looked_up"]) == (
        "complete",
        "100.00",
        True,
    )
    assert document["balances"] == [
        {"subaccount": 0, "exchange_index": 0, "balance_dollars": "800.00"},
        {"subaccount": 0, "exchange_index": 2, "balance_dollars": "112.00"},
    ]
    listed = kalshi(exchange, key, tmp_path, "shard", "transfers", "--json")
    assert [t["transfer_id"] for t in json.loads(listed.stdout)["transfers"]] == ["tr-1"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["0", "--from", "0", "--to", "2"], "AMOUNT"),
        (["-5", "--from", "0", "--to", "2"], "Invalid value: -5 is a negative number"),
        (["ten", "--from", "0", "--to", "2"], "AMOUNT"),
        (["1.00001", "--from", "0", "--to", "2"], "finer than $0.0001"),
        (["5", "--from", "2", "--to", "2"], "both name shard 2"),
        (["5", "--from", "0", "--to", "101"], "--to"),
        (["5", "--from", "0", "--to", "2", "--subaccount", "64"], "--subaccount"),
    ],
)
def test_a_bad_move_is_a_usage_error_and_sends_nothing(
    key: rsa.RSAPrivateKey, tmp_path: Path, args: list[str], said: str
) -> None:
    exchange = _two_shards()
    result = kalshi(exchange, key, tmp_path, "shard", "move", *args)
    assert result.exit_code == 2, result.output
    assert said in result.output
    assert exchange.posts == []


def test_a_move_to_a_shard_without_transfers_is_refused_before_sending(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    exchange = _two_shards()
    exchange.transfers_active = {2: False}
    result = kalshi(exchange, key, tmp_path, "shard", "move", "5", "--from", "0", "--to", "2")
    assert result.exit_code == 9, result.output
    assert "shard 2 takes no transfers now" in result.output
    assert exchange.posts == []


def test_shard_allocate_sets_shows_and_clears_the_target_allocation(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    exchange = _two_shards()
    shown = kalshi(exchange, key, tmp_path, "shard", "allocate")
    assert shown.exit_code == 0, shown.output
    assert "no target allocation" in shown.stdout
    made = kalshi(
        exchange, key, tmp_path, "shard", "allocate", "2=60", "0=40", "--reserve", "max", "--json"
    )
    assert made.exit_code == 0, made.output
    assert exchange.allocation_posts == [
        {
            "allocations": [
                {"exchange_index": 0, "percent": 40},
                {"exchange_index": 2, "percent": 60},
            ],
            "resting_margin_reservation": "max",
        }
    ]
    assert json.loads(made.stdout)["allocations"][1] == {"exchange_index": 2, "percent": 60}
    cleared = kalshi(exchange, key, tmp_path, "shard", "allocate", "--off")
    assert cleared.exit_code == 0, cleared.output
    assert exchange.allocation_posts[-1] == {"allocations": []}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["0=40", "2=50"], "total 90, not 100"),
        (["0=40", "0=60"], "shard 0 is given twice"),
        (["0:100"], "is not SHARD=PERCENT"),
        (["0=101"], "is not SHARD=PERCENT"),
        (["0=100", "--reserve", "all"], "none, max or sum"),
        (["--reserve", "max"], "give the shares with it"),
        (["--off", "0=100"], "--off clears the allocation"),
    ],
)
def test_a_bad_allocation_is_a_usage_error_and_sends_nothing(
    key: rsa.RSAPrivateKey, tmp_path: Path, args: list[str], said: str
) -> None:
    exchange = _two_shards()
    result = kalshi(exchange, key, tmp_path, "shard", "allocate", *args)
    assert result.exit_code == 2, result.output
    assert said in " ".join(result.output.split())
    assert exchange.allocation_posts == []


def test_an_allocation_to_a_shard_the_exchange_does_not_list_is_refused_and_sends_nothing(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """Shards 0 and 2 listed: shares for shard 1 are refused before anything is sent, as
    `kalshi shard move` refuses an unknown shard."""
    exchange = _two_shards()
    result = kalshi(exchange, key, tmp_path, "shard", "allocate", "0=40", "1=60")
    assert result.exit_code == 2, result.output
    assert "the exchange has no shard 1 (it lists 0, 2)" in " ".join(result.output.split())
    assert exchange.allocation_posts == []


def test_on_prod_a_move_waits_for_a_yes(key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    exchange = _two_shards()
    client = client_of(exchange, key, ManualClock())

    def factory(_app: AppContext, _settings: Any, _anonymous: bool) -> Any:
        return client

    context = AppContext(environ={"KALSHI_HOME": str(tmp_path)}, client_factory=factory)
    args = ["shard", "move", "5", "--from", "0", "--to", "2", "--env", "prod"]
    declined = CliRunner().invoke(app, args, obj=context, input="n\n", prog_name="kalshi")
    assert "on PROD (real money). Proceed?" in declined.output
    assert declined.exit_code != 0 and exchange.posts == []
    agreed = CliRunner().invoke(app, [*args, "--yes"], obj=context, prog_name="kalshi")
    assert agreed.exit_code == 0, agreed.output
    assert len(exchange.posts) == 1

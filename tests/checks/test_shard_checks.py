"""The checks by exchange shard: `kalshi check balance` grades each shard a traded market lives
on against the money it holds, and `kalshi check exchange` names a shard whose trading is
paused. The graded rules run against a fake exchange of several shards; the command runs end to
end against the simulator, with the config's `risk.min_shard_balance` and `trade:` markets."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshi_cli.checks import CheckStatus
from kalshi_cli.checks.remote import check_balance, check_exchange
from kalshi_cli.checks.run import CheckInputs, run_named
from kalshi_cli.checks.thresholds import resolve
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.keys import generate_private_key
from kalshi_cli.vocabulary.models import Market, decode_answer
from tests.checks.test_check_cli import (
    CRITICAL,
    OK,
    WARNING,
    account_env,
    check,
    client_for,
    line,
)
from tests.conftest import SimHarness
from tests.prime_tier import funded_subaccount, kalshi_as
from tests.services.shard_exchange import ShardExchange, client_of
from tests.waiting import wait_until

D = Decimal


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    made = generate_private_key()
    assert isinstance(made, rsa.RSAPrivateKey)
    return made


def _market(ticker: str, shard: int | None) -> Market:
    return decode_answer(Market, {"ticker": ticker, "status": "active", "exchange_index": shard})


MARKETS = [_market("KXBTC-A", 2), _market("KXBTC-B", 2), _market("KXNBA-A", 0)]


@pytest.mark.parametrize(
    ("on_shard_2", "status", "said"),
    [
        (D("80"), CheckStatus.OK, "shard 2 ($80.00, 2 traded markets)"),
        (D("49.99"), CheckStatus.WARNING, "shard 2 holds $49.99, less than $50.00"),
        (D("0"), CheckStatus.CRITICAL, "shard 2 holds nothing ($0.00): buys in its 2 traded"),
    ],
)
def test_check_balance_grades_each_traded_shard_by_its_own_money(
    key: rsa.RSAPrivateKey, on_shard_2: Decimal, status: CheckStatus, said: str
) -> None:
    # the total ($1,000 and more) would pass any floor: only the shard's own money counts
    exchange = ShardExchange({(0, 0): D("1000"), (0, 2): on_shard_2, (0, 3): D("0")})
    client = client_of(exchange, key, ManualClock())
    result = check_balance(client, resolve({}), D("50"), MARKETS)
    assert result.status is status, result.summary
    assert said in result.summary
    # shard 3 holds nothing, but nothing traded lives there: shown, never graded
    assert "shard 3 ($0.00)" in result.summary
    assert "shard 3 holds" not in result.summary
    perf = {p.label: p for p in result.perfdata}
    assert perf["shard_2"].value == on_shard_2
    assert perf["shard_3"].warn is None and perf["shard_3"].crit is None


def test_check_balance_without_a_floor_is_critical_only_for_an_empty_shard(
    key: rsa.RSAPrivateKey,
) -> None:
    exchange = ShardExchange({(0, 0): D("1000"), (0, 2): D("0.01")})
    client = client_of(exchange, key, ManualClock())
    assert check_balance(client, resolve({}), None, MARKETS).status is CheckStatus.OK
    exchange.balances[(0, 2)] = D("0")
    assert check_balance(client, resolve({}), None, MARKETS).status is CheckStatus.CRITICAL


def test_check_balance_cannot_tell_without_the_breakdown(key: rsa.RSAPrivateKey) -> None:
    """A balance answer without `balance_breakdown` (a key restricted to a subaccount) says
    nothing of each shard: the check cannot look (UNKNOWN), never OK on the total."""
    exchange = ShardExchange({(0, 0): D("1000"), (0, 2): D("0")})
    client = client_of(exchange, key, ManualClock())
    whole = exchange.balance

    def without_breakdown(params: object) -> dict[str, object]:
        answer = whole(params)  # type: ignore[arg-type]
        del answer["balance_breakdown"]
        return answer

    exchange.balance = without_breakdown  # type: ignore[method-assign]
    with pytest.raises(KalshiError, match="no split by shard"):
        check_balance(client, resolve({}), D("50"), MARKETS)


def test_a_traded_market_naming_no_shard_is_graded_on_the_exchanges_only_shard(
    key: rsa.RSAPrivateKey,
) -> None:
    """The spec leaves a market's `exchange_index` out at will; an exchange of one shard has the
    market on it: that shard's money is graded (it held nothing, and the check said OK)."""
    exchange = ShardExchange({(0, 0): D("0")})
    client = client_of(exchange, key, ManualClock())
    markets = [_market("KXOLD-A", None)]
    result = check_balance(client, resolve({}), D("50"), markets)
    assert result.status is CheckStatus.CRITICAL, result.summary
    assert "shard 0 holds nothing ($0.00): buys in its 1 traded market are refused" in (
        result.summary
    )
    exchange.balances[(0, 0)] = D("80")
    assert check_balance(client, resolve({}), D("50"), markets).status is CheckStatus.OK


def test_check_balance_cannot_tell_what_pays_for_a_traded_market_naming_no_shard(
    key: rsa.RSAPrivateKey,
) -> None:
    """Of several shards, the one a market naming none lives on is unknown, and so is the money
    that pays for its orders: the check cannot look (UNKNOWN), never OK on the others."""
    exchange = ShardExchange({(0, 0): D("1000"), (0, 2): D("0")})
    client = client_of(exchange, key, ManualClock())
    with pytest.raises(KalshiError, match=r"named no shard for 1 traded market \(KXOLD-A\)"):
        check_balance(client, resolve({}), D("50"), [*MARKETS[2:], _market("KXOLD-A", None)])


def test_check_balance_of_a_subaccount_the_account_does_not_have_grades_nothing(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """An exchange that answers a subaccount it does not list with $0 on every shard: never
    graded (no money alert, no OK), the subaccount not found, one line saying so."""
    exchange = ShardExchange({(0, 0): D("1000"), (0, 2): D("80"), (1, 0): D("5")})
    client = client_of(exchange, key, ManualClock())
    whole = exchange.balance

    def nothing_for_any_subaccount(params: object) -> dict[str, object]:
        answer = whole(params)  # type: ignore[arg-type]
        answer["balance_breakdown"] = [
            {"exchange_index": s, "balance": "0.00"} for s in exchange.shards
        ]
        return answer

    exchange.balance = nothing_for_any_subaccount  # type: ignore[method-assign]
    inputs = CheckInputs(
        tmp_path / "state.db", resolve({}), client=lambda: client, subaccount=5, clock=ManualClock()
    )
    (result,) = run_named("balance", inputs)
    assert result.status is CheckStatus.UNKNOWN
    assert result.summary.startswith("the account has no subaccount 5 (")


@pytest.mark.parametrize(
    ("risk", "floor"),
    [
        ({"min_shard_balance": "20", "max_order_cost": "5"}, "$20.00"),
        ({"max_order_cost": "15"}, "$15.00"),
        ({"max_order_count": "12"}, "$12.00"),
    ],
)
def test_a_shards_floor_is_one_orders_cost_by_the_risk_sections_first_limit_set(
    key: rsa.RSAPrivateKey, tmp_path: Path, risk: dict[str, str], floor: str
) -> None:
    """The floor `check balance` grades a traded shard by is the one the trade loop enters a
    shard with: `min_shard_balance` when set (over `max_order_cost`), else `max_order_cost`,
    else `max_order_count` contracts at $1. Shard 2 holds $10, under each."""
    exchange = ShardExchange({(0, 0): D("1000"), (0, 2): D("10")})
    client = client_of(exchange, key, ManualClock())
    inputs = CheckInputs(
        tmp_path / "state.db",
        resolve({}),
        risk_section=risk,
        client=lambda: client,
        clock=ManualClock(),
        traded=lambda _client: MARKETS,
    )
    (result,) = run_named("balance", inputs)
    assert result.status is CheckStatus.WARNING, result.summary
    assert f"shard 2 holds $10.00, less than {floor}" in result.summary


def test_check_exchange_names_the_paused_shard(key: rsa.RSAPrivateKey) -> None:
    exchange = ShardExchange({(0, 0): D("1"), (0, 2): D("1")}, trading_active={2: False})
    client = client_of(exchange, key, ManualClock())
    result = check_exchange(client, resolve({}), now=1_700_000_000.0)
    assert result.status is CheckStatus.WARNING
    assert result.summary == (
        "trading paused on shard 2 (shard 2 engine); orders for its markets are refused"
    )
    exchange.trading_active = {}
    assert check_exchange(client, resolve({}), now=1_700_000_000.0).status is CheckStatus.OK


def test_kalshi_check_balance_reads_the_configs_floor_and_markets(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market("KXSHARD-26JAN01-T1")
    config = tmp_path / "config.yaml"
    environ = {**account_env(sim.account), "KALSHI_CONFIG": str(config)}
    config.write_text("trade:\n  markets: KXSHARD-26JAN01-T1\n", encoding="utf-8")
    ok = check(tmp_path, "balance", "--no-alert", environ=environ)
    assert ok.exit_code == OK, ok.output
    assert line(ok).startswith("KALSHI BALANCE OK - shard 0 ($1,000.00, 1 traded market)")
    config.write_text(
        "risk:\n  min_shard_balance: 5000\ntrade:\n  markets: KXSHARD-26JAN01-T1\n",
        encoding="utf-8",
    )
    short = check(tmp_path, "balance", "--no-alert", environ=environ)
    assert short.exit_code == WARNING, short.output
    assert "shard 0 holds $1,000.00, less than $5,000.00" in line(short)
    assert "'shard_0'=1000;5000;0;0" in line(short)
    empty = check(tmp_path, "balance", "--no-alert", "--crit", "2000", environ=environ)
    assert empty.exit_code == CRITICAL, empty.output


def test_with_no_floor_set_a_shard_short_of_one_order_warns_as_the_trade_loop_says(
    sim: SimHarness, tmp_path: Path
) -> None:
    """With no `risk.min_shard_balance` nor `max_order_cost` set, one order may cost
    `max_order_count` (50) contracts at $1: a traded shard holding $1.00 is one the trade loop
    says holds less than one order's cost, and `kalshi check balance` and `health-check` warn
    of it (they called it OK while the loop refused its orders there)."""
    sim.create_market("KXSHARD-26JAN01-T3", exchange_index=2)
    with client_for(sim.account) as client:
        client.portfolio.send_transfer(D("1"), from_shard=0, to_shard=2)
        wait_until(
            lambda: client.portfolio.get_shard_balance(2).balance == D("1"),
            "the money on shard 2",
        )
    config = tmp_path / "config.yaml"
    config.write_text("trade:\n  markets: KXSHARD-26JAN01-T3\n", encoding="utf-8")
    environ = {**account_env(sim.account), "KALSHI_CONFIG": str(config)}
    short = check(tmp_path, "balance", "--no-alert", environ=environ)
    assert short.exit_code == WARNING, short.output
    assert "shard 2 holds $1.00, less than $50.00" in line(short)
    health = kalshi_as(sim.account, tmp_path / "home")("health-check", "--json", **environ)
    shards = {c["name"]: c for c in json.loads(health.stdout)["checks"]}["shards"]
    assert shards["status"] == "warn", shards
    assert shards["detail"].startswith("shard 2 holds $1.00, less than $50.00"), shards


@pytest.fixture
def short_subaccount(prime: SimHarness, tmp_path: Path) -> tuple[dict[str, str], int]:
    """A config trading a market on shard 2, where the primary holds $500 and a new subaccount
    nothing (its $50 is on shard 0): the settings of `kalshi` for it, and the subaccount."""
    prime.create_market("KXSHARD-26JAN01-T2", exchange_index=2)
    with client_for(prime.account) as client:
        client.portfolio.send_transfer(D("500"), from_shard=0, to_shard=2)
        wait_until(
            lambda: client.portfolio.get_shard_balance(2).balance == D("500"),
            "the primary's money on shard 2",
        )
        sub = funded_subaccount(client, 5000)
    config = tmp_path / "config.yaml"
    config.write_text("trade:\n  markets: KXSHARD-26JAN01-T2\n", encoding="utf-8")
    return {**account_env(prime.account), "KALSHI_CONFIG": str(config)}, sub


def test_a_check_narrowed_to_a_subaccount_grades_that_subaccounts_shards(
    short_subaccount: tuple[dict[str, str], int], tmp_path: Path
) -> None:
    # a loop on the subaccount (`kalshi trade --subaccount N`) pays for a market on shard 2 with
    # the subaccount's money there, none; the primary's $500 on shard 2 buys nothing for it
    environ, sub = short_subaccount
    primary = check(tmp_path, "balance", "--no-alert", environ=environ)
    assert primary.exit_code == OK, primary.output
    for name in ("all", "balance"):
        narrowed = check(tmp_path, name, "--no-alert", "--subaccount", str(sub), environ=environ)
        said = next(x for x in narrowed.stdout.splitlines() if x.startswith("KALSHI BALANCE"))
        assert said.startswith("KALSHI BALANCE CRITICAL - shard 2 holds nothing ($0.00)"), said
        assert f"; all shards of subaccount {sub}: shard 0 ($50.00); shard 2 ($0.00, " in said


def test_health_check_on_a_subaccount_fails_for_its_empty_traded_shard(
    prime: SimHarness, short_subaccount: tuple[dict[str, str], int], tmp_path: Path
) -> None:
    environ, sub = short_subaccount
    kalshi = kalshi_as(prime.account, tmp_path / "home")
    primary = json.loads(kalshi("health-check", "--json", **environ).stdout)
    assert {c["name"]: c for c in primary["checks"]}["shards"]["status"] == "ok"
    narrowed = kalshi("health-check", "--json", "--subaccount", str(sub), **environ)
    assert narrowed.exit_code == 12, narrowed.output
    shards = {c["name"]: c for c in json.loads(narrowed.stdout)["checks"]}["shards"]
    assert shards["status"] == "fail", shards
    assert shards["detail"].startswith(
        "shard 2 holds nothing ($0.00): buys in its 1 traded market are refused; "
        f"`kalshi shard move --subaccount {sub}` funds it | subaccount {sub}: shard 0 ($50.00); "
    ), shards


def test_a_check_of_the_primarys_money_names_the_subaccount_the_trade_loop_trades(
    prime: SimHarness, short_subaccount: tuple[dict[str, str], int], tmp_path: Path
) -> None:
    """A loop on subaccount N pays with N's money: `check balance` and `health-check` given no
    `--subaccount` still grade the primary's (documented), and say which subaccount the loop's
    heartbeat names and the flag that grades it, so their OK is not read as the loop's."""
    environ, sub = short_subaccount
    state = tmp_path / "state.db"
    with Store.open(state) as store:
        store.entries.heartbeat(source="trade", detail={"subaccount": sub})
    environ = {**environ, "KALSHI_STATE": str(state)}
    note = (
        f"the trade loop's last heartbeat names subaccount {sub}, whose money is not graded "
        f"here: add `--subaccount {sub}`"
    )
    said = line(check(tmp_path, "balance", "--no-alert", environ=environ))
    assert said.startswith("KALSHI BALANCE OK - ") and note in said, said
    kalshi = kalshi_as(prime.account, tmp_path / "home")
    health = json.loads(kalshi("health-check", "--json", **environ).stdout)
    shards = {c["name"]: c for c in health["checks"]}["shards"]
    assert shards["status"] == "ok" and note in shards["detail"], shards
    # narrowed to the loop's subaccount, nothing more to say
    narrowed = line(
        check(tmp_path, "balance", "--no-alert", "--subaccount", str(sub), environ=environ)
    )
    assert "heartbeat" not in narrowed, narrowed


def test_health_check_of_a_subaccount_the_account_does_not_have_is_refused_before_it_looks(
    prime: SimHarness, tmp_path: Path
) -> None:
    """As every command naming a subaccount refuses one the account lacks: one line, exit 6,
    no line of checks graded on money that is no one's."""
    kalshi = kalshi_as(prime.account, tmp_path / "home")
    result = kalshi("health-check", "--subaccount", "63")
    assert result.exit_code == 6, result.output
    assert result.stdout == ""
    assert "the account has no subaccount 63" in result.stderr

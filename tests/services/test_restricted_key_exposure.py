"""A key restricted to subaccount N, with no --subaccount given.

Such a key "may only read and trade on that sub-account"; the exchange answers a request that
names another subaccount with 403. `PreTradeChecks.exposure` and `positions.mark_to_market` now
always name a subaccount (`client.subaccount or 0`), so with such a key and no --subaccount
they ask for subaccount 0 and are refused: `kalshi positions` and `kalshi order place` stop
working (before these merges both worked: an unnamed read is the key's own subaccount)."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

from typer.testing import CliRunner

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.config import load_settings
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.services.positions import mark_to_market
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import BookSide
from tests.checks.test_check_cli import account_env, buy, client_for
from tests.checks.test_subaccount_checks import sim  # noqa: F401  (fixture)
from tests.conftest import SimHarness
from tests.key_listing import RefusingKeyListing
from tests.prime_tier import counted


def _restricted_env(sim: SimHarness, tmp_path: Path) -> dict[str, str]:  # noqa: F811
    with client_for(sim.account) as me:
        generated = me.api_keys.generate_api_key("sub-1 only", subaccount=1)
    pem = tmp_path / "sub1.pem"
    pem.write_text(generated.private_key_pem)
    pem.chmod(0o600)
    env = {**account_env(sim.account), "KALSHI_API_KEY_ID": generated.api_key_id}
    env["KALSHI_PRIVATE_KEY_PATH"] = str(pem)
    env["KALSHI_HOME"] = str(tmp_path / "home")
    return env


def _restricted_holding(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
    ticker: str,
    held: int,
) -> dict[str, str]:
    """A market where subaccount 1 holds `held` YES (which creates and funds subaccount 1), and
    the env of a key restricted to 1."""
    sim.create_market(ticker)
    buy(sim, ticker, held, subaccount=1)
    return _restricted_env(sim, tmp_path)


def _position_limit(env: dict[str, str], limit: int) -> None:
    """`limits.max_position_per_market` in the config file of the env's home."""
    home = Path(env["KALSHI_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text(f"limits:\n  max_position_per_market: {limit}\n")


def _run(env: dict[str, str], *args: str):
    return CliRunner().invoke(app, list(args), obj=AppContext(environ=env), prog_name="kalshi")


def _buy(env: dict[str, str], ticker: str, count: int, price: str = "0.10"):
    return _run(
        env, "order", "place", ticker, "--side", "yes", "--action", "buy",
        "--count", str(count), "--price", price, "--json",
    )  # fmt: skip


def test_positions_with_a_restricted_key_lists_its_subaccount(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    env = _restricted_holding(sim, tmp_path, "KXRK-1", 5)
    result = _run(env, "positions", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "KXRK-1" in result.stdout


def test_order_place_with_a_restricted_key_is_not_refused_by_the_exposure_read(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    env = _restricted_holding(sim, tmp_path, "KXRK-2", 5)
    result = _buy(env, "KXRK-2", 1)
    assert result.exit_code == 0, result.stdout + result.stderr


def test_order_place_with_a_position_limit_and_a_restricted_key(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    """With `limits.max_position_per_market` set, the exposure is read before every order."""
    env = _restricted_holding(sim, tmp_path, "KXRK-3", 5)
    _position_limit(env, 50)
    result = _buy(env, "KXRK-3", 1)
    assert result.exit_code == 0, result.stdout + str(result.stderr)


# ------------------------------------------------------------------------------------------


def _restricted_client(env: dict[str, str]) -> KalshiClient:
    key, _ = load_private_key(path=Path(env["KALSHI_PRIVATE_KEY_PATH"]))
    return KalshiClient(
        api_base=env["KALSHI_API_BASE"], key_id=env["KALSHI_API_KEY_ID"], private_key=key
    )


def _held_on_1(sim: SimHarness, ticker: str) -> None:  # noqa: F811
    """5 YES held on subaccount 1, a bid of 20 resting on 1 and one of 40 on 0."""
    sim.create_market(ticker)
    buy(sim, ticker, 5, subaccount=1)
    with client_for(sim.account) as me:
        me.on_subaccount(1).orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.10"), D(20)))
        me.on_subaccount(0).orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.10"), D(40)))


def _restricted_held_on_1(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
    ticker: str,
) -> dict[str, str]:
    """`_held_on_1`, and the env of a key restricted to subaccount 1."""
    _held_on_1(sim, ticker)
    return _restricted_env(sim, tmp_path)


def test_the_limit_counts_the_restricted_subaccounts_own_position_and_bids(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Never fewer (the unsafe direction): 1's position and bids count, 0's bid does not."""
    env = _restricted_held_on_1(sim, tmp_path, "KXRK-4")
    _position_limit(env, 30)
    refused = _buy(env, "KXRK-4", 6)  # 5 held + 20 resting + 6 = 31
    assert refused.exit_code == ExitCode.REJECTED, refused.stdout + str(refused.stderr)
    assert "would reach 31.00 contracts, over the limit of 30" in refused.stderr
    accepted = _buy(env, "KXRK-4", 5)  # 30: within (0's bid of 40 is another book)
    assert accepted.exit_code == 0, accepted.stdout + str(accepted.stderr)


def test_a_restricted_keys_order_is_recorded_on_its_subaccount(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The state file books the order on the subaccount the exchange put it on (1), not 0."""
    env = _restricted_holding(sim, tmp_path, "KXRK-5", 5)
    result = _buy(env, "KXRK-5", 2)
    assert result.exit_code == 0, result.stdout + str(result.stderr)
    with Store.open(load_settings(environ=env).state) as store:
        (intent,) = [i for i in store.orders.intents() if i.ticker == "KXRK-5"]
    assert intent.subaccount == 1


def test_the_keys_restriction_is_read_once_per_client(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    env = _restricted_held_on_1(sim, tmp_path, "KXRK-6")
    with (
        _restricted_client(env) as client,
        Store.open(tmp_path / "state.db") as store,
    ):
        service = OrderService(client, store)
        first = counted(service, "KXRK-6")
        second = counted(service, "KXRK-6")
        reads = client.stats.snapshot()
    assert (first.position, first.resting_bids) == (D(5), D(20))
    assert second == first
    assert sum(reads["GET api_keys"].outcomes.values()) == 1


def test_a_client_naming_its_subaccount_never_reads_the_keys(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The trade loop's client names its subaccount: no extra read on its order path."""
    env = _restricted_held_on_1(sim, tmp_path, "KXRK-7")
    with _restricted_client(env) as client, Store.open(tmp_path / "state.db") as store:
        client.subaccount = 1
        exposure = counted(OrderService(client, store), "KXRK-7")
        reads = client.stats.snapshot()
    assert (exposure.position, exposure.resting_bids) == (D(5), D(20))
    assert "GET api_keys" not in reads


def test_positions_of_a_client_naming_its_subaccount_are_that_ones(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    """An unrestricted key on subaccount 1 (`--subaccount 1`, the dashboard's handles): 1's
    position and bids, read without asking for the key's restriction."""
    _held_on_1(sim, "KXRK-11")
    with client_for(sim.account) as client, Store.open(tmp_path / "state.db") as store:
        client.subaccount = 1
        (row,) = mark_to_market(client, store).rows
        reads = client.stats.snapshot()
    assert (row.ticker, row.exposure) == ("KXRK-11", D(25))
    assert "GET api_keys" not in reads


def test_a_primary_keys_unnamed_exposure_is_subaccount_0s(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    """An unrestricted key: 0's bid of 40 counts, 1's position and bid do not."""
    _held_on_1(sim, "KXRK-8")
    with client_for(sim.account) as client, Store.open(tmp_path / "state.db") as store:
        exposure = counted(OrderService(client, store), "KXRK-8")
    assert (exposure.position, exposure.resting_bids) == (D(0), D(40))


def test_positions_of_a_restricted_key_replay_its_subaccounts_book(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Entry and cost come from the state file's book of the key's subaccount (1), not 0's."""
    env = _restricted_holding(sim, tmp_path, "KXRK-9", 1)
    with client_for(sim.new_account()) as seller:
        seller.orders.create_order(CreateOrder("KXRK-9", BookSide.ASK, D("0.30"), D(3)))
    bought = _buy(env, "KXRK-9", 3, price="0.30")
    assert bought.exit_code == 0, bought.stdout + str(bought.stderr)
    result = _run(env, "positions", "--json")
    assert result.exit_code == 0, result.stdout + str(result.stderr)
    (row,) = json.loads(result.stdout)["positions"]
    # 1 at 0.40 (on 1 before) and 3 at 0.30: the book of subaccount 1, as the exchange has it
    assert (row["position"], row["average_entry"], row["cost"]) == ("4.00", "0.3250", "1.3000")
    assert row["differences"] == []


def test_an_unknown_restriction_reads_unnamed_and_never_counts_fewer(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The key's restriction cannot be told: the exposure is read naming no subaccount, which
    for an unrestricted key counts every subaccount's bids (60: 0's 40 and 1's 20), more than
    the order's own, never fewer."""
    _held_on_1(sim, "KXRK-10")
    account = sim.account
    key, _ = load_private_key(path=Path(account.private_key_path))
    transport = RefusingKeyListing()
    client = KalshiClient(
        api_base=account.api_base, key_id=account.key_id, private_key=key, transport=transport
    )
    with client, Store.open(tmp_path / "state.db") as store:
        exposure = counted(OrderService(client, store), "KXRK-10")
        again = counted(OrderService(client, store), "KXRK-10")
    assert transport.refused == 1  # asked once, refused: not asked again
    assert (exposure.position, exposure.resting_bids) == (D(0), D(60))
    assert again == exposure

"""The API key's subaccount restriction, kept in the state file (cli/_services.py
`order_service`, store `api_key_subaccount`): a second `kalshi order place` sends no GET /api_keys.

A key's restriction is set when it is made (`POST /api_keys`, `/api_keys/generate`) and no
operation of openapi.yaml 3.31.0 changes it (a key is only ever listed or deleted), and its
`api_key_id` is its unique identifier: what one command learned holds for every later one of
that key. It is kept per exchange endpoint and key, never for another key; a restriction that
could not be told is not kept (the next command asks again)."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import httpx

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.config import load_settings
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import BookSide
from tests.checks.test_check_cli import account_env, buy, client_for
from tests.checks.test_subaccount_checks import sim  # noqa: F401  (fixture)
from tests.conftest import SimHarness
from tests.key_listing import RefusingKeyListing
from tests.services.test_restricted_key_exposure import _restricted_env, _run


def _buy(env: dict[str, str], ticker: str, count: int, *more: str):
    return _run(
        env, "order", "place", ticker, "--side", "yes", "--action", "buy",
        "--count", str(count), "--price", "0.10", "--json", *more,
    )  # fmt: skip


def _key_listings(sim: SimHarness, key_id: str) -> int:  # noqa: F811
    requests = sim.stats()["accounts"].get(key_id, {"requests": {}})["requests"]
    return int(requests.get("GET /api_keys", 0))


def _primary_env(sim: SimHarness, tmp_path: Path) -> dict[str, str]:  # noqa: F811
    return {**account_env(sim.account), "KALSHI_HOME": str(tmp_path / "home")}


def test_a_second_order_place_sends_no_key_listing(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Before: every `kalshi order place` without --subaccount listed the keys once."""
    sim.create_market("KXKC-1")
    env = _primary_env(sim, tmp_path)
    for _ in range(2):
        placed = _buy(env, "KXKC-1", 1)
        assert placed.exit_code == 0, placed.stdout + str(placed.stderr)
    assert _key_listings(sim, sim.account.key_id) == 1
    with Store.open(load_settings(environ=env).state) as store:
        assert {i.subaccount for i in store.orders.intents(ticker="KXKC-1")} == {0}


def test_a_restricted_keys_kept_restriction_still_counts_its_subaccount(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The second command, asking nothing, still books on 1 and counts 1's position and bids
    against the limit (never 0's: fewer there)."""
    sim.create_market("KXKC-2")
    buy(sim, "KXKC-2", 5, subaccount=1)
    with client_for(sim.account) as me:
        me.on_subaccount(0).orders.create_order(
            CreateOrder("KXKC-2", BookSide.BID, D("0.10"), D(40))
        )
    env = _restricted_env(sim, tmp_path)
    home = Path(env["KALSHI_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text("limits:\n  max_position_per_market: 30\n")
    first = _buy(env, "KXKC-2", 20)  # 5 held + 20 = 25
    assert first.exit_code == 0, first.stdout + str(first.stderr)
    refused = _buy(env, "KXKC-2", 6)  # 5 + 20 + 6 = 31 on 1 (0's 40 is another book)
    assert refused.exit_code == ExitCode.REJECTED, refused.stdout + str(refused.stderr)
    assert "would reach 31.00 contracts, over the limit of 30" in refused.stderr
    accepted = _buy(env, "KXKC-2", 5)
    assert accepted.exit_code == 0, accepted.stdout + str(accepted.stderr)
    assert _key_listings(sim, env["KALSHI_API_KEY_ID"]) == 1
    with Store.open(load_settings(environ=env).state) as store:
        assert {i.subaccount for i in store.orders.intents(ticker="KXKC-2")} == {1}


def test_a_kept_restriction_is_never_another_keys(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The state file of the primary key, bound to a new key of the same account restricted to
    1 (`kalshi state bind`): the new key asks for its own restriction and books on 1, not on
    the 0 kept for the first key."""
    sim.create_market("KXKC-3")
    buy(sim, "KXKC-3", 1, subaccount=1)
    primary = _primary_env(sim, tmp_path)
    assert _buy(primary, "KXKC-3", 1).exit_code == 0
    restricted = _restricted_env(sim, tmp_path)
    restricted["KALSHI_STATE"] = str(load_settings(environ=primary).state)
    bound = _run(restricted, "state", "bind")
    assert bound.exit_code == 0, bound.stdout + str(bound.stderr)
    # the bind lists the account's keys to know the file is this account's (its order is on
    # subaccount 0, which a key restricted to 1 cannot look up)
    listed_by_bind = _key_listings(sim, restricted["KALSHI_API_KEY_ID"])
    placed = _buy(restricted, "KXKC-3", 2)
    assert placed.exit_code == 0, placed.stdout + str(placed.stderr)
    assert _key_listings(sim, restricted["KALSHI_API_KEY_ID"]) == listed_by_bind + 1
    with Store.open(load_settings(environ=primary).state) as store:
        booked = sorted((i.count, i.subaccount) for i in store.orders.intents(ticker="KXKC-3"))
    assert booked == [(D(1), 0), (D(2), 1)]


class _Kept:
    """A `KeyMemory` in a dict: what the client recalled and kept."""

    def __init__(self) -> None:
        self.kept: dict[str, int] = {}

    def recall(self, key_id: str) -> int | None:
        return self.kept.get(key_id)

    def keep(self, key_id: str, subaccount: int) -> None:
        self.kept[key_id] = subaccount


def test_an_unknown_restriction_is_not_kept_and_a_known_one_is_not_asked_again(
    sim: SimHarness,  # noqa: F811
) -> None:
    """A refused key listing keeps nothing (kept, the unnamed fallback that never counts
    fewer would be lost for good); the next client asks, keeps the answer, and a client after
    it asks nothing."""
    account = sim.account
    key, _ = load_private_key(path=Path(account.private_key_path))
    memory = _Kept()

    def client(transport: httpx.BaseTransport | None = None) -> KalshiClient:
        made = KalshiClient(
            api_base=account.api_base, key_id=account.key_id, private_key=key, transport=transport
        )
        made.key_memory = memory
        return made

    refusing = RefusingKeyListing()
    with client(refusing) as first:
        assert first.own_subaccount() is None
    assert (refusing.refused, memory.kept) == (1, {})
    with client() as second:
        assert second.own_subaccount() == 0
    assert memory.kept == {account.key_id: 0}
    with client() as third:
        assert third.own_subaccount() == 0
        assert "GET api_keys" not in third.stats.snapshot()
    assert _key_listings(sim, account.key_id) == 1

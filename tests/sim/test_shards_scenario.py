"""The builtin scenarios and shards: `default` keeps every market on shard 0 (the quick start
is unchanged); `shards` puts combos on shard 1, crypto and commodities on shard 2 (with the
index markets the built-in `crypto` strategy trades), tennis, baseball and basketball on shard
3 and the rest on 0, the account's money on shard 0 and the participants' on every shard; a
scenario's `exchange_index` is checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_cli.sim.core.reference import exchange_shards
from kalshi_cli.sim.core.scenarios import ScenarioError, build_exchange
from kalshi_cli.vocabulary.clock import ManualClock


def _listed(scenario: str) -> dict[str, int]:
    clock = ManualClock(1_790_000_000.0)
    exchange = build_exchange(scenario, clock=clock)
    for _ in range(3):  # the crypto markets are listed on the tick
        clock.advance(1)
        exchange.tick()
    return {t: m.exchange_index for t, m in exchange.reference.markets.items()}


def test_the_default_scenario_keeps_every_market_on_shard_0() -> None:
    assert set(_listed("default").values()) == {0}


def test_the_shards_scenario_puts_each_kind_of_market_on_its_shard() -> None:
    clock = ManualClock(1_790_000_000.0)
    exchange = build_exchange("shards", clock=clock)
    clock.advance(1)
    exchange.tick()
    ref = exchange.reference
    by_series = {m.series_ticker: m.exchange_index for m in ref.markets.values()}
    assert by_series == {
        "KXPRES": 0,
        "KXGOLDD": 2,
        "KXBTCD": 2,
        "KXBTC15M": 2,
        "KXETHD": 2,
        "KXNBAGAME": 3,
        "KXMLBGAME": 3,
        "KXATPMATCH": 3,
    }
    assert ref.series["KXMVECROSSCATEGORY"].exchange_index == 1  # its combos' shard
    assert exchange_shards(ref) == [0, 1, 2, 3]
    crypto = [m for m in ref.markets.values() if m.series_ticker == "KXBTCD"]
    # the crypto strategy trades a market whose rules name a CF Benchmarks index
    assert crypto and all("BRTI" in m.rules_primary for m in crypto)
    for key in ("sim-liquidity-provider", "sim-noise-1"):
        account = exchange.subaccounts.account_by_key(key)
        assert account is not None
        assert set(dict(exchange.accounts.acct(account.account_id).cash)) == {0, 1, 2, 3}


@pytest.mark.parametrize("value", ["2", -1, 101, True])
def test_a_scenario_exchange_index_is_a_shard(tmp_path: Path, value: object) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        f"series:\n  - ticker: S\n    title: s\n    exchange_index: {value!r}\n".replace("'", '"')
        + "    events: [{event_ticker: S-1, title: e, markets: [{ticker: S-1-A}]}]\n"
    )
    with pytest.raises(ScenarioError, match="exchange_index is an integer from 0 to 100"):
        build_exchange(path, clock=ManualClock())

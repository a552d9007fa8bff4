"""What `kalshi trade` says of the exchange shards as it starts: a strategy is told of a short
shard only where markets it trades sit (docs/shards.md "The trade loop")."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.runner.execution.balance_hold import shard_lines

D = Decimal
SHARD_OF = {"KXBTC-A": 2, "KXBTC-B": 2, "KXTENNIS-A": 3, "KXPRES-A": 0}
BALANCES = {0: D("1000"), 2: D("0"), 3: D("0")}


def test_a_strategy_is_told_only_of_the_short_shards_its_own_markets_sit_on() -> None:
    traded = {"crypto": ["KXBTC-A", "KXBTC-B"], "spike": ["KXTENNIS-A", "KXPRES-A", "KXBTC-A"]}
    lines = shard_lines(SHARD_OF, BALANCES, traded, D("5"))
    told = [line for line in lines if not line.startswith("shard ")]
    assert [line.split(",")[0] for line in told] == [
        "crypto: 2 of its market(s) are on shard 2",
        "spike: 1 of its market(s) are on shard 2",
        "spike: 1 of its market(s) are on shard 3",
    ]
    assert all("kalshi shard move" in line for line in told)
    assert [line.split(":")[0] for line in lines if line.startswith("shard ")] == [
        "shard 0",
        "shard 2",
        "shard 3",
    ]


def test_a_strategy_trading_no_market_of_a_short_shard_is_told_nothing() -> None:
    lines = shard_lines(SHARD_OF, BALANCES, {"election": ["KXPRES-A"]}, D("5"))
    assert all(line.startswith("shard ") for line in lines), lines

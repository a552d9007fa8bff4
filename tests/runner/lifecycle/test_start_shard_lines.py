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
    # an order that fits what the shard holds still goes: only one costing more is refused
    assert all("an order there costing more than it holds is refused" in line for line in told)
    assert [line.split(":")[0] for line in lines if line.startswith("shard ")] == [
        "shard 0",
        "shard 2",
        "shard 3",
    ]


def test_a_strategy_trading_no_market_of_a_short_shard_is_told_nothing() -> None:
    lines = shard_lines(SHARD_OF, BALANCES, {"election": ["KXPRES-A"]}, D("5"))
    assert all(line.startswith("shard ") for line in lines), lines


def test_a_loop_on_a_subaccount_is_told_the_move_of_its_own_money() -> None:
    """A loop on subaccount 4 pays with subaccount 4's money on each shard: the move it is told
    moves that money (`--subaccount 4`); where no other shard holds enough, it is told to fund
    the shard, in words, not as a command."""
    balances = {0: D("1000"), 2: D("0"), 3: D("0")}
    lines = shard_lines(SHARD_OF, balances, {"crypto": ["KXBTC-A"]}, D("5"), subaccount=4)
    assert lines[-1].endswith(
        "until it is funded: `kalshi shard move 5.00 --from 0 --to 2 --subaccount 4`"
    ), lines
    poor = {0: D("1"), 2: D("0")}
    told = shard_lines({"KXBTC-A": 2}, poor, {"crypto": ["KXBTC-A"]}, D("5"), subaccount=4)
    assert told[-1].endswith("until it is funded: fund shard 2: no other shard holds $5.00"), told

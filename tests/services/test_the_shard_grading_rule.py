"""The one rule that grades the shards a traded market lives on (services/shards.py
`short_shards`), which `kalshi health-check` and `kalshi check balance` both read: every traded
shard is graded whatever comes before it, a shard at the warning floor is not short, and the
words name how many traded markets are refused and the critical floor they fall under."""

from __future__ import annotations

from decimal import Decimal as D

from kalshi_cli.services.shards import ShardLine, short_shards


def test_a_shard_no_traded_market_lives_on_does_not_stop_the_grading_of_those_after_it():
    lines = [
        ShardLine(0, None, D("500"), ()),  # money, no traded market: not graded
        ShardLine(1, None, None, ("KXA",)),  # its money not told: not graded here
        ShardLine(2, None, D("0"), ("KXB",)),
        ShardLine(3, None, D("4"), ("KXC",)),
    ]
    short = short_shards(lines, D("10"))
    assert [(s.line.exchange_index, s.empty) for s in short] == [(2, True), (3, False)]


def test_a_shard_holding_exactly_the_warning_floor_is_not_short():
    at_floor = ShardLine(2, None, D("10.00"), ("KXB",))
    below = ShardLine(3, None, D("9.99"), ("KXC",))
    short = short_shards([at_floor, below], D("10"))
    assert [s.line.exchange_index for s in short] == [3]
    assert short[0].text == "shard 3 holds $9.99, less than $10.00"


def test_the_words_name_the_traded_markets_refused_and_the_critical_floor():
    one = ShardLine(1, None, D("0"), ("KXA",))
    two = ShardLine(2, None, D("0"), ("KXB", "KXC"))
    texts = [s.text for s in short_shards([one, two], None)]
    assert texts == [
        "shard 1 holds nothing ($0.00): buys in its 1 traded market are refused",
        "shard 2 holds nothing ($0.00): buys in its 2 traded markets are refused",
    ]
    (floored,) = short_shards([ShardLine(2, None, D("0.75"), ("KXB", "KXC"))], None, D("1"))
    assert floored.empty
    assert floored.text == (
        "shard 2 holds $1.00 or less ($0.75): buys in its 2 traded markets are refused"
    )

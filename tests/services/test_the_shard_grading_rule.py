"""The one rule that grades the shards a traded market lives on (services/shards.py
`short_shards`), which `kalshi health-check` and `kalshi check balance` both read: every traded
shard is graded whatever comes before it, a shard at the warning floor is not short, and the
words name how many traded markets are refused and the critical floor they fall under. Beside
the grade, both say from the state file which subaccount the trade loop trades
(`loop_money_not_graded`)."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.services.shards import ShardLine, loop_money_not_graded, short_shards
from kalshi_cli.store import Store


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


def test_the_loops_subaccount_is_named_from_a_state_file_that_reads_and_never_fails_the_grade(
    tmp_path: Path,
):
    state = tmp_path / "state.db"
    assert loop_money_not_graded(state, None) is None  # no state file: nothing to say
    with Store.open(state) as store:
        store.entries.heartbeat(source="trade", detail={"subaccount": 3})
    assert loop_money_not_graded(state, None) == (
        "the trade loop's last heartbeat names subaccount 3, whose money is not graded here: "
        "add `--subaccount 3`"
    )
    assert loop_money_not_graded(state, 3) is None  # graded: its own money
    broken = tmp_path / "broken.db"
    broken.write_text("not a state file")
    assert loop_money_not_graded(broken, None) is None  # the state file's own checks say why

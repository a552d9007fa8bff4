"""`SHARD_BALANCE`: Kalshi holds an order's collateral inside its market's exchange shard, so an
order whose cost is over that shard's balance is refused before it is sent, naming the market,
its shard, what it needs, what the shard holds and the `kalshi shard move` that would cover it
(docs/risk.md "A shard's balance")."""

from __future__ import annotations

from decimal import Decimal as D

from kalshi_cli.risk.engine import RiskLimits, limit_rules
from kalshi_cli.risk.rules import (
    Code,
    RiskContext,
    ShardBalanceRule,
    ShardBalances,
    shard_move,
)
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.models import Balance, Market, decode_answer
from kalshi_cli.vocabulary.trading_state import TradingState
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce

T = "KXCRYPTO-A"


def buy(count: str = "10", price: str = "0.40", **kw: object) -> Intent:
    return Intent(T, Side.YES, Action.BUY, D(price), D(count), D(price), "", **kw)  # type: ignore[arg-type]


def ctx(balances: dict[int, str] | None, shard: int = 2, view: PositionView | None = None):
    shards = None
    if balances is not None:
        shards = ShardBalances(shard, {n: D(v) for n, v in balances.items()})
    return RiskContext(0.0, TradingState.ACTIVE, view or PositionView(T), shard=shards)


def test_an_order_within_its_shards_balance_passes() -> None:
    verdict = ShardBalanceRule().check(buy(), ctx({0: "0", 2: "4.00"}))
    assert verdict.allowed


def test_an_order_over_its_shards_balance_is_refused_naming_the_move_that_covers_it() -> None:
    verdict = ShardBalanceRule().check(buy(), ctx({0: "100.00", 2: "1.50"}))
    assert not verdict.allowed and verdict.code is Code.SHARD_BALANCE
    assert verdict.detail == (
        f"{T} trades on shard 2: the order needs $4.00, shard 2 holds $1.50; "
        "`kalshi shard move 2.50 --from 0 --to 2` would cover it"
    )


def test_the_account_total_does_not_count_another_shards_money() -> None:
    """$100 on shard 0 and nothing on shard 2: the aggregate looks healthy, the order is not."""
    verdict = ShardBalanceRule().check(buy("1", "0.05"), ctx({0: "100.00", 2: "0"}))
    assert not verdict.allowed
    assert "shard 2 holds $0.00" in verdict.detail


def test_no_shard_that_could_cover_it_says_so() -> None:
    verdict = ShardBalanceRule().check(buy(), ctx({0: "1.00", 1: "2.00", 2: "1.00"}))
    assert not verdict.allowed
    assert "no other shard holds $3.00: fund shard 2" in verdict.detail


def test_the_move_comes_from_the_shard_holding_the_most_and_may_take_all_it_holds() -> None:
    """The richest other shard covers the shortfall, whatever its number; one holding exactly
    what is short covers it; with no other shard there is no move to name."""
    refused = ShardBalanceRule().check(buy(), ctx({0: "100.00", 2: "1.50", 3: "3.00"}))
    assert "`kalshi shard move 2.50 --from 0 --to 2` would cover it" in refused.detail
    exactly = ShardBalanceRule().check(buy(), ctx({0: "2.50", 2: "1.50"}))
    assert "`kalshi shard move 2.50 --from 0 --to 2` would cover it" in exactly.detail
    assert shard_move(2, D("2.50"), {0: D("100")}, 4) == (
        "kalshi shard move 2.50 --from 0 --to 2 --subaccount 4"
    )
    assert shard_move(2, D("2.50"), {2: D("100")}, None) is None


def test_a_sale_needs_the_side_it_opens_and_an_exit_needs_nothing() -> None:
    sell = Intent(T, Side.YES, Action.SELL, D("0.05"), D(10), D("0.05"), "")
    verdict = ShardBalanceRule().check(sell, ctx({0: "100", 2: "5.00"}))
    assert not verdict.allowed and "needs $9.50" in verdict.detail
    held = PositionView(T, position=D(10), entry_cost=D(4))
    assert ShardBalanceRule().check(sell, ctx({0: "0", 2: "0"}, view=held)).allowed
    exit_ = Intent(T, Side.YES, Action.SELL, D("0.05"), D(10), D("0.05"), "",
                   reduce_only=True, time_in_force=TimeInForce.IOC)  # fmt: skip
    assert ShardBalanceRule().check(exit_, ctx({0: "0", 2: "0"})).allowed


def test_a_buy_that_adds_to_what_is_held_needs_its_own_cost_alone() -> None:
    """Contracts held on the side the order adds close nothing and free nothing: it needs what
    it buys, no more."""
    held = PositionView(T, position=D(10), entry_cost=D(4))
    assert ShardBalanceRule().check(buy(), ctx({0: "100", 2: "4.00"}, view=held)).allowed
    verdict = ShardBalanceRule().check(buy(), ctx({0: "100", 2: "3.99"}, view=held))
    assert not verdict.allowed and "needs $4.00" in verdict.detail


def test_without_shard_balances_the_exchange_holds_the_order_alone() -> None:
    assert ShardBalanceRule().check(buy(), ctx(None)).allowed


def test_an_account_of_one_shard_is_held_to_its_shards_balance_as_one_of_several_is() -> None:
    """One shard listed is still a shard with a balance (the loop has no balance check of its
    own): an order past it is refused, told to fund it, as on an account of several shards
    where no other holds money."""
    for balances in ({2: "1.00"}, {0: "0", 2: "1.00"}):
        verdict = ShardBalanceRule().check(buy(), ctx(balances))
        assert not verdict.allowed, balances
        assert "no other shard holds $3.00: fund shard 2" in verdict.detail
    assert ShardBalanceRule().check(buy(), ctx({2: "4.00"})).allowed


def test_what_orders_before_it_commit_on_the_shard_counts() -> None:
    shards = ShardBalances(2, {0: D(50), 2: D(5)}, {2: D("2.00")})
    context = RiskContext(0.0, TradingState.ACTIVE, PositionView(T), shard=shards)
    verdict = ShardBalanceRule().check(buy(), context)
    assert not verdict.allowed and "shard 2 holds $3.00" in verdict.detail


def test_every_order_path_asks_it_among_the_limit_rules() -> None:
    assert Code.SHARD_BALANCE in [rule.code for rule in limit_rules(RiskLimits())]


def test_the_shards_are_read_from_the_balance_and_the_market() -> None:
    balance = decode_answer(
        Balance,
        b'{"balance": 500, "balance_dollars": "5.0000", "portfolio_value": 0, "updated_ts": 1,'
        b' "balance_breakdown": [{"exchange_index": 0, "balance": "3.5000"},'
        b' {"exchange_index": 2, "balance": "1.5000"}]}',
    )
    assert balance.shards() == {0: D("3.5"), 2: D("1.5")}
    plain = decode_answer(Balance, b'{"balance": 500, "balance_dollars": "5.0000"}')
    assert plain.shards() is None
    market = decode_answer(Market, b'{"ticker": "KXCRYPTO-A", "exchange_index": 2}')
    assert market.exchange_index == 2
    assert decode_answer(Market, b'{"ticker": "KXCRYPTO-A"}').exchange_index is None


def test_a_loop_on_a_subaccount_is_told_the_move_of_its_own_money_after_a_balance_read_again() -> (
    None
):
    """The loop's shard records are built again at each balance read of its watch: they stay
    the loop's subaccount's, so a refusal still names a move of that subaccount's money."""
    from kalshi_cli.services.pretrade.loop import LoopReads, shard_records

    balances = {0: D("100.00"), 2: D("1.50")}
    reads = LoopReads(
        shard_of={T: 2}, shards=shard_records(balances, {T: 2}, subaccount=4), subaccount=4
    )
    reads.balances_read(balances, sent_at=None)
    verdict = ShardBalanceRule().check(
        buy(), RiskContext(0.0, TradingState.ACTIVE, PositionView(T), shard=reads.shards[2])
    )
    assert not verdict.allowed
    assert verdict.detail.endswith(
        "`kalshi shard move 2.50 --from 0 --to 2 --subaccount 4` would cover it"
    )

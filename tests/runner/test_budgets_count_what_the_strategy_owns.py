"""A strategy's budget (`trade.budgets.NAME`, services/pretrade/budgets.py) counts what the strategy
owns and nothing else: its own part of each position, its own resting orders, the contracts its own
orders filled that are not read yet, and its own orders on their way, in the market of the order and
in every other market it is in. Another strategy's parts and orders in the same markets count toward
the account's limits alone. Its daily loss limit stops it alone, at the limit exactly, until the UTC
day ends."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from kalshi_cli.risk.budget import Budget
from kalshi_cli.risk.rules import RiskContext, StrategyBudgetRule, Verdict
from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.services.pretrade.books import OpenOrder, open_order
from kalshi_cli.services.pretrade.budgets import Budgets
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.models import Market
from kalshi_cli.vocabulary.owners import STOP_LOSS
from kalshi_cli.vocabulary.trading_state import TradingState
from kalshi_cli.vocabulary.units import ZERO, Action, BookSide, Side
from tests.runner.fakes import Rig, make_rig

MAKER, OTHER = "maker", "other"
A, B, C, D, E, F = (f"KXTEST-26JAN01-{m}" for m in "ABCDEF")
NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
DAY = 86_400.0


def _bid(order_id: str, ticker: str, strategy: str, price: str, count: str) -> OpenOrder:
    return open_order(
        order_id=order_id,
        client_order_id=f"c-{order_id}",
        ticker=ticker,
        book_side=BookSide.BID,
        yes_price=Decimal(price),
        side=Side.YES,
        remaining=Decimal(count),
        strategy=strategy,
    )


def _fill(portfolio: Portfolio, ticker: str, strategy: str, side: BookSide, price: str) -> None:
    portfolio.apply_fill(ticker, side, Decimal(price), Decimal(10), ZERO, ts=NOW, strategy=strategy)


def _intent(ticker: str, count: str, strategy: str = MAKER, price: str = "0.50") -> Intent:
    return Intent(
        ticker,
        Side.YES,
        Action.BUY,
        Decimal(price),
        Decimal(count),
        Decimal("0.90"),
        "test",
        strategy=strategy,
    )


def _books() -> Portfolio:
    """The maker holds 1 YES of A at 0.40 ($0.40), rests a bid of 5 at 0.20 in C ($1.00), and
    was told 10 filled at 0.30 in D ($3.00) and 2 at 0.25 in F ($0.50): $4.90 of its own
    elsewhere than E, each market by one kind of thing it owns. The other strategy holds 10
    YES of B, rests a bid of 10 in E and was told 10 filled in A."""
    portfolio = Portfolio([Market(ticker=t) for t in (A, B, C, D, E, F)])
    portfolio.owners.own(MAKER)
    portfolio.owners.own(OTHER)
    portfolio.apply_fill(A, BookSide.BID, Decimal("0.40"), Decimal(1), ZERO, ts=NOW, strategy=MAKER)
    portfolio.add_order(_bid("m-rests", C, MAKER, "0.20", "5"))
    portfolio.set_unbooked(_bid("m-filled", F, MAKER, "0.25", "2"), Decimal(2), reads_sent=0)
    portfolio.set_unbooked(_bid("m-told", D, MAKER, "0.30", "10"), Decimal(10), reads_sent=0)
    _fill(portfolio, B, OTHER, BookSide.BID, "0.50")
    portfolio.add_order(_bid("o-rests", E, OTHER, "0.30", "10"))
    portfolio.set_unbooked(_bid("o-told", A, OTHER, "0.30", "10"), Decimal(10), reads_sent=0)
    return portfolio


def _verdict(
    portfolio: Portfolio, budget: Budget, intent: Intent, queued: Sequence[Intent] = ()
) -> Verdict:
    budgets = Budgets({MAKER: budget}, portfolio, lambda o: o.strategy)
    owned = budgets.owned(intent, queued)
    ctx = RiskContext(
        now=NOW,
        state=TradingState.ACTIVE,
        position=portfolio.view(intent.ticker),
        owned=owned,
    )
    return StrategyBudgetRule().check(intent, ctx)


def test_a_budget_counts_the_strategys_own_part_orders_and_fills_told_in_every_other_market() -> (
    None
):
    """A bid of 10 at 0.50 in E ($5.00) beside the maker's $4.90 elsewhere: $9.90. Counting
    another strategy's orders, contracts or fills told, or leaving out one of the maker's own
    markets, would move the total off $9.90."""
    portfolio = _books()
    bid = _intent(E, "10")
    assert _verdict(portfolio, Budget(max_exposure=Decimal("9.90")), bid).allowed
    refused = _verdict(portfolio, Budget(max_exposure=Decimal("9.89")), bid)
    assert not refused.allowed
    assert "$9.90 at risk of its own" in refused.detail
    # in A it counts its own 1 contract, not the other's 10 told filled there
    one_more = _intent(A, "9")
    assert _verdict(portfolio, Budget(max_contracts=Decimal(10)), one_more).allowed
    assert not _verdict(portfolio, Budget(max_contracts=Decimal(9)), one_more).allowed


def test_a_budget_counts_the_strategys_own_orders_on_their_way_and_no_one_elses() -> None:
    """On their way: the maker's bid of 5 at 0.40 in C ($2.00) and of 6 in E, and the other
    strategy's bid of 10 in E. A bid of 5 more in E carries the maker to 11 of its own there,
    and to $6.90 + $5.50 = $12.40 of its own at risk."""
    portfolio = _books()
    queued = [_intent(E, "10", OTHER), _intent(C, "5", price="0.40"), _intent(E, "6")]
    bid = _intent(E, "5")
    assert _verdict(portfolio, Budget(max_contracts=Decimal(11)), bid, queued).allowed
    refused = _verdict(portfolio, Budget(max_contracts=Decimal(10)), bid, queued)
    assert not refused.allowed and "11 contracts of its own" in refused.detail
    assert _verdict(portfolio, Budget(max_exposure=Decimal("12.40")), bid, queued).allowed
    refused = _verdict(portfolio, Budget(max_exposure=Decimal("12.39")), bid, queued)
    assert not refused.allowed and "$12.40 at risk of its own" in refused.detail


def test_a_strategy_stops_at_its_daily_loss_limit_exactly_and_trades_again_the_next_day() -> None:
    """The maker buys 10 at 0.50 and sells them at 0.30: $2.00 lost, its limit. The strategy
    before it in the budgets has no daily limit and is passed over, not the end of the look."""
    portfolio = Portfolio([Market(ticker=A)])
    portfolio.owners.own(MAKER)
    budgets = Budgets(
        {"quiet": Budget(max_contracts=Decimal(5)), MAKER: Budget(daily_loss_limit=Decimal(2))},
        portfolio,
        lambda o: o.strategy,
    )
    _fill(portfolio, A, MAKER, BookSide.BID, "0.50")
    _fill(portfolio, A, MAKER, BookSide.ASK, "0.30")
    why = "its realized P&L today -$2.00 reached its daily loss limit of -$2.00"
    assert budgets.check_day(NOW) == [(MAKER, why)]
    assert budgets.stopped == {MAKER: why}
    assert budgets.check_day(NOW + 60) == []  # told once
    assert budgets.check_day(NOW + DAY) == []
    assert budgets.stopped == {}
    owned = budgets.owned(_intent(A, "1"), [])
    assert owned is not None and owned.stopped is None


def test_a_strategy_whose_contracts_the_stop_loss_closed_at_its_limit_is_stopped() -> None:
    """The maker buys 10 at 0.50; the account's stop-loss sells them at 0.30: the maker lost
    $2.00, its daily limit, though no fill of its own sold them."""
    portfolio = Portfolio([Market(ticker=A)])
    portfolio.owners.own(MAKER)
    budgets = Budgets({MAKER: Budget(daily_loss_limit=Decimal(2))}, portfolio, lambda o: o.strategy)
    _fill(portfolio, A, MAKER, BookSide.BID, "0.50")
    _fill(portfolio, A, STOP_LOSS, BookSide.ASK, "0.30")
    assert budgets.check_day(NOW) == [
        (MAKER, "its realized P&L today -$2.00 reached its daily loss limit of -$2.00")
    ]


def test_a_loss_booked_after_the_days_look_stops_the_strategys_next_order_at_once() -> None:
    """The loop looks at the budgets' day once a tick, but a fill read during the tick's visits
    can carry the maker to its limit: its next order of the same tick is refused then, as the
    daily circuit breaker refuses the account's, not sent until the next tick's look. That
    look still tells of the stop, so its quotes are withdrawn and it is alerted."""
    portfolio = Portfolio([Market(ticker=A)])
    portfolio.owners.own(MAKER)
    budgets = Budgets({MAKER: Budget(daily_loss_limit=Decimal(2))}, portfolio, lambda o: o.strategy)
    assert budgets.check_day(NOW) == []
    _fill(portfolio, A, MAKER, BookSide.BID, "0.50")
    _fill(portfolio, A, MAKER, BookSide.ASK, "0.30")
    bid = _intent(A, "1")
    owned = budgets.owned(bid, [])
    ctx = RiskContext(now=NOW, state=TradingState.ACTIVE, position=portfolio.view(A), owned=owned)
    refused = StrategyBudgetRule().check(bid, ctx)
    why = "its realized P&L today -$2.00 reached its daily loss limit of -$2.00"
    assert not refused.allowed and refused.detail == f"strategy {MAKER} is stopped: {why}"
    assert budgets.check_day(NOW + 1) == [(MAKER, why)]


def _spike_rig(tmp_path: Path) -> Rig:
    """A loop whose spike strategy has a daily loss limit of $2 (and stays quiet: the tests
    decide), its day looked at once."""
    rig = make_rig(
        tmp_path / "s.db",
        params={"spike_share": 5},
        risk={"stop_loss_share": "0"},
        trade={"budgets": {"spike": {"daily_loss_limit": 2}}},
    )
    rig.step(0.1)
    return rig


def _spike_loses_its_limit(rig: Rig, ticker: str) -> None:
    """A fill read books spike's 10 bought at 0.50 and sold at 0.30: $2.00 lost, its limit."""
    now = rig.clock.wall()
    for side, price in ((BookSide.BID, "0.50"), (BookSide.ASK, "0.30")):
        rig.loop.portfolio.apply_fill(
            ticker, side, Decimal(price), Decimal(10), ZERO, ts=now, strategy="spike"
        )


def test_a_loss_booked_while_orders_wait_for_the_batch_keeps_the_strategys_orders_back(
    tmp_path: Path,
) -> None:
    """A bid of the spike strategy waits in the tick's batch; a fill read meanwhile carries the
    strategy to its daily loss limit: the batch goes without it, as it goes without every order
    when the account's breaker trips, and the other strategies' orders still go."""
    rig = _spike_rig(tmp_path)
    before = len(rig.client.requests)
    outbox = rig.loop.executor.outbox
    ticker = next(iter(rig.loop.portfolio.markets))
    outbox.queue(_intent(ticker, "1", strategy="spike", price="0.40"))
    outbox.queue(_intent(ticker, "1", strategy="someone", price="0.39"))
    _spike_loses_its_limit(rig, ticker)
    rig.loop.executor.flush()
    went = [r.client_order_id.split(":")[0] for r in rig.client.requests[before:]]
    assert went == ["someone"]
    assert rig.loop.log.counts.get("intent_dropped") == 1


def test_a_replacement_decided_before_the_loss_is_withheld_once_its_cancels_are_answered(
    tmp_path: Path,
) -> None:
    """With send workers, a replacement goes once the cancels of the orders it replaces are
    answered, after the visit that decided it; the loop asks then whether it would withdraw
    it (`withheld`). A fill read meanwhile that carried its strategy to its daily loss limit
    withholds it, before the next tick's look at the budgets' day."""
    rig = _spike_rig(tmp_path)
    ticker = next(iter(rig.loop.portfolio.markets))
    bid = _intent(ticker, "1", strategy="spike", price="0.40")
    assert rig.loop.executor.withheld(bid) is None
    _spike_loses_its_limit(rig, ticker)
    assert rig.loop.executor.withheld(bid) == "strategy spike stopped"

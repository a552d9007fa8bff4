import dataclasses
from decimal import Decimal as D

import pytest

from kalshi_cli.risk.budget import Budget, Owned
from kalshi_cli.risk.engine import OrderRateCap
from kalshi_cli.risk.event_loss import EventTerms
from kalshi_cli.risk.rules import (
    CircuitBreakerRule,
    Code,
    EventLossRule,
    MaxExposureRule,
    MaxOrderCostRule,
    MaxOrderSizeRule,
    MinEdgeRule,
    OrderRateRule,
    PositionLimitRule,
    RiskContext,
    SelfCrossRule,
    StaleFeedRule,
    StrategyBudgetRule,
    TradingStateRule,
)
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import Intent, PositionView, RestingOrder
from kalshi_cli.vocabulary.trading_state import TradingState
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce

NOW = 1_700_000_000.0


def intent(side=Side.YES, action=Action.BUY, price="0.40", count="10", fair="0.50", **kw):
    if kw.get("reduce_only"):
        kw.setdefault("time_in_force", TimeInForce.IOC)  # Kalshi takes reduce_only only so
    return Intent("T", side, action, D(price), D(count), D(fair), "test", **kw)


def ctx(position: PositionView | None = None, **kw) -> RiskContext:
    kw.setdefault("state", TradingState.ACTIVE)
    kw.setdefault("last_data_at", NOW)
    return RiskContext(now=NOW, position=position or PositionView("T"), **kw)


@pytest.mark.parametrize(
    ("state", "reduce_only", "code"),
    [
        (TradingState.ACTIVE, False, None),
        (TradingState.REDUCING, True, None),
        (TradingState.REDUCING, False, Code.REDUCING),
        (TradingState.HALTED, True, Code.HALTED),
        (TradingState.SAFE_MODE, True, Code.SAFE_MODE),
    ],
)
def test_trading_state_rule(state, reduce_only, code):
    verdict = TradingStateRule().check(intent(reduce_only=reduce_only), ctx(state=state))
    assert verdict.allowed is (code is None)
    if code is not None:
        assert verdict.code is code and str(state) in verdict.detail


def test_stale_feed_boundary_gap_and_no_data():
    rule = StaleFeedRule(stale_after_s=10.0)
    assert rule.check(intent(), ctx(last_data_at=NOW - 9.999)).allowed
    at_limit = rule.check(intent(), ctx(last_data_at=NOW - 10.0))
    assert not at_limit.allowed and at_limit.code is Code.STALE_FEED
    # no fresh book (none yet, or a sequence gap not yet resynced: runner/ports.py
    # `book_data_at`) has no time
    gap = rule.check(intent(), ctx(last_data_at=None))
    assert not gap.allowed and "sequence gap" in gap.detail
    # even a closing order waits for a fresh book: its price would come from a stale one
    assert not rule.check(intent(reduce_only=True), ctx(last_data_at=None)).allowed


def test_order_rate_cap_allows_the_limit_then_denies_until_the_window_slides():
    clock = ManualClock()
    cap = OrderRateCap(3, clock=clock)
    rule = OrderRateRule(cap)
    for _ in range(3):
        assert rule.check(intent(), ctx()).allowed
        cap.record()
        clock.advance(1)
    denied = rule.check(intent(), ctx())
    assert not denied.allowed and denied.code is Code.ORDER_RATE
    clock.advance(57)  # the first order was sent exactly 60 s ago: it leaves the window
    assert rule.check(intent(), ctx()).allowed


def test_a_slot_given_back_for_an_order_not_sent_frees_the_cap_once():
    cap = OrderRateCap(1, clock=ManualClock())
    rule = OrderRateRule(cap)
    slot = cap.record()
    assert not rule.check(intent(), ctx()).allowed
    cap.give_back(slot)
    assert rule.check(intent(), ctx()).allowed
    cap.give_back(slot)  # given back already: nothing more to free, and no error
    assert cap.count() == 0


def test_max_order_cost_counts_the_side_added_and_never_what_closes():
    rule = MaxOrderCostRule(D(4))
    assert rule.check(intent(price="0.40", count="10"), ctx()).allowed  # $4.00: the limit
    over = rule.check(intent(price="0.40", count="11"), ctx())
    assert (over.allowed, over.code) == (False, Code.MAX_ORDER_COST)
    # selling YES at 0.60 opens NO at 0.40 a contract: $4.40 for 11
    assert not rule.check(intent(action=Action.SELL, price="0.60", count="11"), ctx()).allowed
    # with 11 YES held the same sale closes them: nothing opens, so nothing is held back
    assert rule.check(
        intent(action=Action.SELL, price="0.60", count="11"), ctx(PositionView("T", D(11)))
    ).allowed
    assert MaxOrderCostRule(None).check(intent(count="1000"), ctx()).allowed


def test_max_order_cost_lets_a_sale_up_to_the_limit_and_names_what_it_costs():
    rule = MaxOrderCostRule(D(4))
    # selling 10 YES at 0.60 opens 10 NO at 0.40: $4.00, the limit, goes out
    assert rule.check(intent(action=Action.SELL, price="0.60", count="10"), ctx()).allowed
    # 5 YES held: a sale of 15 closes them and opens 10 NO, $4.00 again: it goes out
    held = ctx(PositionView("T", D(5)))
    assert rule.check(intent(action=Action.SELL, price="0.60", count="15"), held).allowed
    over = rule.check(intent(action=Action.SELL, price="0.60", count="16"), held)
    assert not over.allowed and "order cost $6.40" in over.detail


def test_max_order_cost_lets_a_yes_buy_close_no_held_and_names_the_limit():
    rule = MaxOrderCostRule(D(1))
    short = ctx(PositionView("T", D(-10)))  # 10 NO held
    assert rule.check(intent(price="0.50", count="10"), short).allowed  # closes them all
    over = rule.check(intent(price="0.50", count="13"), short)  # opens 3 YES: $1.50
    assert not over.allowed and "maximum order cost $1.00" in over.detail


def test_max_order_size_is_inclusive():
    rule = MaxOrderSizeRule(D(10))
    assert rule.check(intent(count="10"), ctx()).allowed
    denied = rule.check(intent(count="10.01"), ctx())
    assert not denied.allowed and denied.code is Code.MAX_ORDER_SIZE


def test_position_limit_counts_position_resting_and_the_intent():
    pos = PositionView(
        "T",
        position=D(85),
        resting=(
            RestingOrder("a", Side.YES, Action.BUY, D("0.40"), D(5)),
            RestingOrder("b", Side.NO, Action.BUY, D("0.50"), D(50)),  # the other way: ignored
        ),
    )
    rule = PositionLimitRule(D(100))
    assert rule.check(intent(count="10"), ctx(pos)).allowed  # 85 + 5 + 10 = 100
    denied = rule.check(intent(count="11"), ctx(pos))
    assert not denied.allowed and denied.code is Code.POSITION_LIMIT and "101" in denied.detail
    # selling NO adds YES just as buying YES does
    assert not rule.check(intent(Side.NO, Action.SELL, count="11"), ctx(pos)).allowed
    # a replaced order no longer counts
    assert rule.check(intent(count="15", replaces=("a",)), ctx(pos)).allowed


def test_position_limit_on_the_no_side_and_for_closing_orders():
    rule = PositionLimitRule(D(100))
    short = PositionView("T", position=D(-95))
    assert rule.check(intent(Side.NO, count="5"), ctx(short)).allowed
    assert not rule.check(intent(Side.NO, count="6"), ctx(short)).allowed
    assert rule.check(intent(Side.YES, count="95"), ctx(short)).allowed
    over = PositionView("T", position=D(150))  # e.g. the limit was lowered
    assert rule.check(
        intent(Side.YES, Action.SELL, count="50", reduce_only=True), ctx(over)
    ).allowed


def test_max_exposure_is_inclusive_and_never_blocks_what_adds_nothing():
    rule = MaxExposureRule(D("100"))
    pos = PositionView("T", position=D(10), entry_cost=D("4.00"))
    assert rule.check(intent(price="0.40", count="10"), ctx(pos, total_exposure=D(96))).allowed
    denied = rule.check(intent(price="0.41", count="10"), ctx(pos, total_exposure=D(96)))
    assert not denied.allowed and denied.code is Code.MAX_EXPOSURE
    closing = intent(Side.YES, Action.SELL, price="0.30", count="10", reduce_only=True)
    assert rule.check(closing, ctx(pos, total_exposure=D(500))).allowed


def test_a_reduce_only_close_counts_as_filled_against_what_is_held():
    """10 YES held ($6.20) and the account's own ask of 10 resting, which counts as closing
    them: a reduce-only close of 10 fills only against what is held, so it leaves the ask to open
    10 NO. At 0.70 that is $3.00, less than now; at 0.10 it is $9.00, more."""
    rule = MaxExposureRule(D("7"))
    close = intent(Side.YES, Action.SELL, price="0.30", count="10", reduce_only=True)
    for ask, allowed in (("0.70", True), ("0.10", False)):
        pos = PositionView(
            "T",
            position=D(10),
            avg_entry_price=D("0.62"),
            entry_cost=D("6.20"),
            resting=(RestingOrder("a", Side.YES, Action.SELL, D(ask), D(10)),),
        )
        assert pos.exposure() == D("6.20")
        assert rule.check(close, ctx(pos, total_exposure=D("6.20"))).allowed is allowed, ask
    # what it cannot fill (more than is held, or the side not held) it does not count
    held = PositionView("T", position=D(10), avg_entry_price=D("0.40"), entry_cost=D("4.00"))
    assert held.closed_by(replace_count(close, "15")).exposure() == 0
    buy = intent(Side.YES, Action.BUY, price="0.30", count="10", reduce_only=True)
    assert held.closed_by(buy).exposure() == D("4.00")


def test_a_partial_reduce_only_close_leaves_the_rest_held_on_its_own_side():
    """10 held at 0.62 ($6.20) and the account's own order of 10 that closes them resting at
    YES 0.35 (a NO at 0.65 when NO is held). A close of 4 leaves 6 held ($3.72): the order then
    closes those 6 and opens 4 of the other side ($2.60), $6.32 in all. Counted as held on the
    other side, the 6 would leave the order opening all 10 ($10.22)."""
    yes_ask = RestingOrder("a", Side.YES, Action.SELL, D("0.35"), D(10))
    no_ask = RestingOrder("a", Side.NO, Action.SELL, D("0.35"), D(10))
    for held, order, side in ((D(10), yes_ask, Side.YES), (D(-10), no_ask, Side.NO)):
        pos = PositionView("T", held, D("0.62"), D("6.20"), resting=(order,))
        close = intent(side, Action.SELL, price="0.30", count="4", reduce_only=True)
        assert pos.closed_by(close).exposure() == D("6.32"), side
        at = ctx(pos, total_exposure=D("6.20"))
        assert MaxExposureRule(D("6.32")).check(close, at).allowed, side
        assert not MaxExposureRule(D("6.31")).check(close, at).allowed, side
    # a fraction of a contract held is held all the same (markets with fractional counts)
    half = RestingOrder("a", Side.YES, Action.SELL, D("0.35"), D("0.5"))
    part = PositionView("T", D("0.5"), D("0.62"), D("0.31"), resting=(half,))
    close = intent(Side.YES, Action.SELL, price="0.30", count="0.2", reduce_only=True)
    assert part.closed_by(close).exposure() == D("0.316")
    # nothing held: nothing to close, and what rests counts as it did
    flat = PositionView("T", resting=(yes_ask,))
    assert flat.closed_by(close).exposure() == flat.exposure() == D("6.50")
    assert MaxExposureRule(D("6.50")).check(close, ctx(flat, total_exposure=D("6.50"))).allowed


def replace_count(order: Intent, count: str) -> Intent:
    return dataclasses.replace(order, count=D(count))


def test_min_edge_is_inclusive_and_exempts_reduce_only():
    # fee 0.07 x 10 x 0.40 x 0.60 = 0.168 (Kalshi rounds it up to $0.0001: no change)
    rule = MinEdgeRule(D("0.0832"))
    standard = ctx(fee_rates=(D("0.07"), D("0.0175")))
    assert rule.check(intent(price="0.40", fair="0.50"), standard).allowed  # edge exactly 0.0832
    denied = rule.check(intent(price="0.40", fair="0.4999"), standard)
    assert not denied.allowed and denied.code is Code.MIN_EDGE
    assert rule.check(intent(price="0.40", fair="0.10", reduce_only=True), standard).allowed


def test_the_min_edge_floor_never_falls_back_to_the_rate_the_intent_carries():
    """A context that names no fee rates is refused by the floor, not judged at the
    intent's rate (the standard taker rate when its strategy left it unset): the floor
    prices an order at its market's own fee or not at all."""
    rule = MinEdgeRule(D("0.0832"))
    with pytest.raises(ValueError, match="no fee rates"):
        rule.check(intent(price="0.40", fair="0.50"), ctx())
    # named, they are the ones it reads: at twice the standard rates the same order misses
    doubled = ctx(fee_rates=(D("0.14"), D("0.035")))
    assert rule.check(intent(price="0.40", fair="0.50"), doubled).code is Code.MIN_EDGE


class Breaker:
    def __init__(self, tripped_day: str | None) -> None:
        self.tripped_day = tripped_day

    def tripped(self, day: str, state: TradingState | None = None) -> bool:
        return day == self.tripped_day


def test_circuit_breaker_rule_denies_new_orders_on_the_tripped_day_only():
    today = "2023-11-14"  # NOW is 2023-11-14T22:13:20Z
    rule = CircuitBreakerRule(Breaker(today))
    denied = rule.check(intent(), ctx())
    assert not denied.allowed and denied.code is Code.CIRCUIT_BREAKER
    assert rule.check(intent(reduce_only=True), ctx()).allowed
    assert CircuitBreakerRule(Breaker("2023-11-13")).check(intent(), ctx()).allowed


def test_codes_are_stable_strings():
    assert {c.value for c in Code} == {
        "HALTED", "SAFE_MODE", "REDUCING", "CIRCUIT_BREAKER", "STALE_FEED", "ORDER_RATE",
        "MAX_ORDER_SIZE", "MAX_ORDER_COST", "POSITION_LIMIT", "MAX_EXPOSURE", "MIN_EDGE",
        "MAINTENANCE", "SELF_CROSS", "STRATEGY_BUDGET", "STOP_LOSS_COOLDOWN", "STOP_LOSS_AT_ENTRY",
        "EVENT_LOSS", "SHARD_BALANCE",
    }  # fmt: skip


def test_self_cross_refuses_an_order_that_would_meet_the_accounts_own_resting_order():
    # a YES ask of the account rests at 0.45 (as a NO bid at 0.55): a YES bid at 0.45 or above
    # would trade with it, whoever's strategy sent either
    ask = RestingOrder("mine", Side.NO, Action.BUY, D("0.55"), D("5"))
    view = PositionView("T", resting=(ask,))
    rule = SelfCrossRule()
    crossing = rule.check(intent(price="0.45"), ctx(view))
    assert not crossing.allowed and crossing.code is Code.SELF_CROSS
    assert "mine" in crossing.detail and "0.45" in crossing.detail
    assert rule.check(intent(price="0.44"), ctx(view)).allowed
    # the same order seen from the NO side: selling NO at 0.55 is the YES bid at 0.45
    assert not rule.check(intent(Side.NO, Action.SELL, price="0.55"), ctx(view)).allowed
    # an order the intent replaces is cancelled before it goes out: no cross left
    assert rule.check(intent(price="0.50", replaces=("mine",)), ctx(view)).allowed
    # an order of its own on the same side, listed first, does not hide the one it meets
    bid = RestingOrder("bid", Side.YES, Action.BUY, D("0.30"), D("5"))
    assert not rule.check(intent(price="0.45"), ctx(PositionView("T", resting=(bid, ask)))).allowed


def test_self_cross_sees_bids_from_the_ask_side_and_lets_same_side_orders_rest():
    bid = RestingOrder("b1", Side.YES, Action.BUY, D("0.40"), D("5"))
    view = PositionView("T", resting=(bid,))
    rule = SelfCrossRule()
    sell_at_bid = rule.check(intent(Side.YES, Action.SELL, price="0.40"), ctx(view))
    assert not sell_at_bid.allowed and sell_at_bid.code is Code.SELF_CROSS
    assert rule.check(intent(Side.YES, Action.SELL, price="0.41"), ctx(view)).allowed
    assert rule.check(intent(Side.YES, Action.BUY, price="0.42"), ctx(view)).allowed
    # buying NO at 0.60 is selling YES at 0.40: it meets the bid too
    assert not rule.check(intent(Side.NO, Action.BUY, price="0.60"), ctx(view)).allowed
    assert rule.check(intent(Side.NO, Action.BUY, price="0.59"), ctx(view)).allowed
    # an exit is never held back: the self-trade prevention it carries stops it at the bid
    exit_ = intent(Side.YES, Action.SELL, price="0.39", reduce_only=True)
    assert rule.check(exit_, ctx(view)).allowed


def owned(position: PositionView, *, elsewhere: str = "0", stopped: str | None = None, **budget):
    limits = {k: D(v) for k, v in budget.items()}
    return Owned("mm", Budget(**limits), position, D(elsewhere), stopped)


def test_a_strategys_budget_counts_only_what_it_owns():
    rule = StrategyBudgetRule()
    # the account holds 50 YES, 3 of them the strategy's: its budget of 10 reads its 3
    account = PositionView("T", position=D("50"), entry_cost=D("20"))
    mine = PositionView("T", position=D("3"), entry_cost=D("1.2"), account=account.whole)
    assert rule.check(
        intent(count="7"), ctx(account, owned=owned(mine, max_contracts="10"))
    ).allowed
    over = rule.check(intent(count="8"), ctx(account, owned=owned(mine, max_contracts="10")))
    assert not over.allowed and over.code is Code.STRATEGY_BUDGET
    assert "mm" in over.detail and "11" in over.detail and "10" in over.detail
    # dollars: $1.20 held here, $5 elsewhere, 10 more at 0.40 = $10.20 > $10
    dollars = owned(mine, elsewhere="5", max_exposure="10")
    refused = rule.check(intent(count="10"), ctx(account, owned=dollars))
    assert not refused.allowed and refused.code is Code.STRATEGY_BUDGET
    assert refused.detail == "strategy mm: $10.20 at risk of its own > its budget of $10.00"
    assert rule.check(intent(count="9"), ctx(account, owned=dollars)).allowed
    assert rule.check(intent(count="9.5"), ctx(account, owned=dollars)).allowed  # $10.00: at it
    # no budget: nothing to count
    assert rule.check(intent(count="1000"), ctx(account)).allowed


def test_a_stopped_strategy_may_only_take_back_what_it_holds():
    rule = StrategyBudgetRule()
    mine = PositionView("T", position=D("3"), entry_cost=D("1.2"))
    stopped = owned(mine, stopped="its daily loss limit", daily_loss_limit="1")
    refused = rule.check(intent(count="1"), ctx(owned=stopped))
    assert not refused.allowed and "stopped" in refused.detail
    exit_ = intent(Side.YES, Action.SELL, price="0.30", count="3", reduce_only=True)
    assert rule.check(exit_, ctx(owned=stopped)).allowed
    # a reduce-only exit goes out even where the strategy holds nothing of its own (it can only
    # take back the account's position, which the account's rules count)
    flat = owned(PositionView("T"), stopped="its daily loss limit", daily_loss_limit="1")
    assert rule.check(exit_, ctx(owned=flat)).allowed
    # selling NO against held YES takes back too, without reduce_only
    assert rule.check(intent(Side.NO, Action.BUY, count="3"), ctx(owned=stopped)).allowed


def test_budget_limits_must_be_positive():
    with pytest.raises(ValueError, match="max_contracts must be positive"):
        Budget(max_contracts=D("0"))


def test_a_reduce_only_close_counts_the_fills_told_and_not_read_as_held():
    """10 YES held at 0.62 ($6.20), a bid of 10 at 0.60 the exchange says filled whose fill is
    not read yet (so 20 are held), and the account's ask of 10 at YES 0.35 resting, which closes
    10 of them: $12.20 at risk. A stop-loss selling 10 takes off 10 of the 20, leaving 10 that
    the ask closes: less at risk, so it goes out whatever the limit. Counted against the 10 read
    alone, it left the ask opening 10 NO ($12.50) and the limit refused the exit."""
    filled = RestingOrder("b", Side.YES, Action.BUY, D("0.60"), D(10))
    ask = RestingOrder("a", Side.YES, Action.SELL, D("0.35"), D(10))
    pos = PositionView("T", D(10), D("0.62"), D("6.20"), resting=(ask,), unbooked=(filled,))
    assert pos.exposure() == D("12.20")
    stop = intent(Side.YES, Action.SELL, price="0.30", count="10", reduce_only=True)
    assert pos.closed_by(stop).exposure() < pos.exposure()
    assert MaxExposureRule(D("12.40")).check(stop, ctx(pos, total_exposure=D("12.20"))).allowed
    # a close of all 20 leaves the ask to open 10 NO: $6.50, still less than now
    assert pos.closed_by(replace_count(stop, "20")).exposure() == D("6.50")
    # a fill told on the other side closed what was held before the stop-loss: 10 YES read,
    # 10 sold and not read, so it fills nothing and leaves nothing at risk
    sold = RestingOrder("s", Side.YES, Action.SELL, D("0.70"), D(10))
    gone = PositionView("T", D(10), D("0.62"), D("6.20"), unbooked=(sold,))
    after = gone.closed_by(stop)
    assert after.position == 0 and after.exposure() == 0
    # one that sold more than was held opened the other side: 5 NO at 0.30, which a YES sell
    # cannot reduce
    more = PositionView("T", D(10), D("0.62"), D("6.20"), unbooked=(replace_rest(sold, "15"),))
    assert more.closed_by(stop).position == D(-5)
    assert more.closed_by(stop).exposure() == D("1.50")


def replace_rest(order: RestingOrder, remaining: str) -> RestingOrder:
    return dataclasses.replace(order, remaining=D(remaining))


def test_a_close_reads_each_fill_told_at_its_own_price_and_in_its_own_direction():
    """The fills told and not read are read into what is held before a reduce-only close is
    counted, each at its own price and in its own direction, whatever is held then."""
    bought = RestingOrder("b", Side.YES, Action.BUY, D("0.60"), D(10))
    ask = RestingOrder("a", Side.YES, Action.SELL, D("0.35"), D(10))
    stop = intent(Side.YES, Action.SELL, price="0.30", count="10", reduce_only=True)
    # 10 YES held at 0.62 and 10 bought at 0.60: 20 held for $12.20. The stop takes off 10 at
    # their average cost and the ask closes the 10 left: $6.10
    pos = PositionView("T", D(10), D("0.62"), D("6.20"), resting=(ask,), unbooked=(bought,))
    assert pos.closed_by(stop).exposure() == D("6.10")
    # nothing read yet: the 10 bought are all that is held; a stop of 4 leaves 6 at 0.60
    told = PositionView("T", unbooked=(bought,))
    assert told.closed_by(replace_count(stop, "4")).exposure() == D("3.60")
    # one YES held and 3 sold: the sale closes the one (its cost gone with it) and opens 2 NO
    # at 0.30, which a YES sell cannot reduce
    sold = RestingOrder("s", Side.YES, Action.SELL, D("0.70"), D(3))
    one = PositionView("T", D(1), D("0.62"), D("0.62"), unbooked=(sold,))
    assert one.closed_by(stop).exposure() == D("0.60")


def test_event_loss_is_inclusive_names_the_outcome_and_lets_a_replacement_no_worse_go():
    """One NO of V held at 0.60 in a mutually exclusive event of T, U and V (no fees; nothing in
    U): its worst case is -$0.60, when V wins. One YES of T at 0.10 takes it to -$0.70; one YES
    of V at 0.10 closes the pair and takes it to +$0.30."""
    terms = EventTerms("EV", "MECNET", dict.fromkeys("TUV"), lambda ticker: None)
    held = {"V": PositionView("V", D(-1), D("0.60"), D("0.60"))}
    book = terms.book(lambda t: held.get(t) or PositionView(t))
    buy_t = intent(price="0.10", count="1")
    assert EventLossRule(D("0.70")).check(buy_t, ctx(event=book)).allowed
    over = EventLossRule(D("0.65")).check(buy_t, ctx(event=book))
    assert (over.allowed, over.code) == (False, Code.EVENT_LOSS)
    assert "-$0.70 (V yes), past the limit of -$0.65" in over.detail
    buy_v = dataclasses.replace(buy_t, ticker="V")
    assert EventLossRule(D("0.65")).check(buy_v, ctx(held["V"], event=book)).allowed
    # past the limit already with that YES resting: its replacement at the same terms is no worse
    held["T"] = PositionView(
        "T", resting=(RestingOrder("r1", Side.YES, Action.BUY, D("0.10"), D(1)),)
    )
    again = intent(price="0.10", count="1", replaces=("r1",))
    assert EventLossRule(D("0.65")).check(again, ctx(held["T"], event=book)).allowed


def test_a_strategys_own_event_limit_holds_whatever_the_accounts_says():
    terms = EventTerms("EV", "MECNET", dict.fromkeys("TUV"), lambda ticker: None)
    held = {"U": PositionView("U", D(-1), D("0.60"), D("0.60"))}
    book = terms.book(lambda t: held.get(t) or PositionView(t))
    mine = Owned("mm", Budget(max_event_loss=D("0.65")), PositionView("T"), D(0), event=book)
    buy_t = intent(price="0.10", count="1")
    for account in (None, D(10)):  # no limit of the account's, or one the order is within
        denied = EventLossRule(account).check(buy_t, ctx(event=book, owned=mine))
        assert not denied.allowed and denied.detail.startswith("strategy mm: event EV")


def test_max_order_cost_closes_only_what_the_exchange_still_holds():
    """10 YES read and a sale of all 10 the exchange says filled, its fill not read yet: the
    exchange holds nothing, so a sale of 10 at 0.05 opens 10 NO at 0.95, $9.50, past a $5
    limit. Read as closing the 10 still shown, it went out whole."""
    sold = RestingOrder("s", Side.YES, Action.SELL, D("0.50"), D(10))
    gone = PositionView("T", D(10), D("0.50"), D("5.00"), unbooked=(sold,))
    sale = intent(action=Action.SELL, price="0.05", count="10")
    over = MaxOrderCostRule(D(5)).check(sale, ctx(gone))
    assert (over.allowed, over.code) == (False, Code.MAX_ORDER_COST)
    # a buy of 10 told filled and not read is held: the same sale closes it, nothing opens
    bought = RestingOrder("b", Side.YES, Action.BUY, D("0.50"), D(10))
    assert MaxOrderCostRule(D(5)).check(sale, ctx(PositionView("T", unbooked=(bought,)))).allowed
    # an exit that only reduces opens nothing whatever it is for: the exchange fills it against
    # what is held alone, so it goes out, never held back by the limit
    half = PositionView("T", D(10), D("0.50"), D("5.00"), unbooked=(replace_rest(sold, "5"),))
    exit_ = intent(action=Action.SELL, price="0.05", count="10", reduce_only=True)
    assert MaxOrderCostRule(D(1)).check(exit_, ctx(half)).allowed

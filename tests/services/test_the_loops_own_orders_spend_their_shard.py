"""What the loop's own orders spend of their shard between two balance reads
(services/pretrade/loop.py `LoopAccount.sent`, `LoopReads`): each order sent spends what it may
commit there, its taker fee with it when it takes now or dies, until a balance read sent after
it shows what it took. A read sent before an order, or at the same moment, does not show it; a
replacement spends its new cost less what the orders it replaces held, a cancel gives back what
its order held, and contracts that close a position commit nothing."""

from __future__ import annotations

from decimal import Decimal as D

from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.services.pretrade.loop import LoopAccount, LoopReads, shard_records
from kalshi_cli.vocabulary.decisions import Intent, PositionView, RestingOrder
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce
from tests.risk.fakes import START, make

T = "KXT-A"  # on shard 2
STANDARD = (D("0.07"), D("0.0175"))


def reads(held: str = "100") -> LoopReads:
    """The reads of a loop's start: `T` on shard 2, which holds `held` dollars."""
    shard_of = {T: 2}
    return LoopReads(shard_of=shard_of, shards=shard_records({0: D(5), 2: D(held)}, shard_of))


def available(at: LoopReads) -> D:
    record = at.shard(T)
    assert record is not None
    return record.available(2)


def bid(
    count: str = "10", tif: TimeInForce = TimeInForce.GTC, replaces: tuple[str, ...] = ()
) -> Intent:
    return Intent(
        T, Side.YES, Action.BUY, D("0.50"), D(count), D("0.60"), "t", "s",
        time_in_force=tif, replaces=replaces,
    )  # fmt: skip


def test_the_starts_read_is_spent_by_orders_sent_before_any_read_again():
    start = reads()
    start.sent(T, D("5.00"), 1.0)
    assert available(start) == D("95.00")


def test_orders_sent_since_a_read_add_up_on_their_shard():
    start = reads()
    start.sent(T, D("5.00"), 1.0)
    start.sent(T, D("3.00"), 2.0)
    assert available(start) == D("92.00")


def test_a_read_drops_the_orders_sent_before_it_and_keeps_those_sent_since():
    """Orders at 0.5 and 1.0, a read sent at 1.0 and answered after orders at 1.5 and 2.5: the
    read shows the first (the shard now holds $95) and may not show the one sent with it; the
    three are still spent."""
    start = reads()
    start.sent(T, D("5.00"), 0.5)
    start.sent(T, D("4.00"), 1.0)
    start.sent(T, D("3.00"), 1.5)
    start.sent(T, D("2.00"), 2.5)
    start.balances_read({0: D(5), 2: D("95")}, 1.0)
    assert available(start) == D("86.00")
    # a read sent after them all shows them: nothing is spent twice
    start.balances_read({0: D(5), 2: D("86")}, 3.0)
    assert available(start) == D("86")


def test_an_order_that_takes_now_spends_its_taker_fee_with_its_cost():
    """10 contracts at $0.50 cost $5.00; an IOC or FOK order pays the taker fee ($0.175 at the
    standard 7%) from the same shard the moment it fills, a GTC order none up front. The fee is
    the market's at the moment sent: waived until then, none."""
    engine, _, clock, _ = make(RiskLimits())
    engine.fee_rates = lambda ticker, at: (D(0), D(0)) if at < START + 60 else STANDARD
    account = LoopAccount(engine, reads())
    flat = PositionView
    account.sent(bid(tif=TimeInForce.IOC), flat)
    assert available(account.reads) == D("95.00")
    clock.advance(60)
    account.sent(bid(tif=TimeInForce.IOC), flat)
    assert available(account.reads) == D("89.825")
    account.sent(bid(tif=TimeInForce.FOK), flat)
    assert available(account.reads) == D("84.65")
    account.sent(bid(), flat)
    assert available(account.reads) == D("79.65")


def test_contracts_that_close_a_position_spend_nothing():
    engine, *_ = make(RiskLimits())
    account = LoopAccount(engine, reads())
    # 10 NO held: a YES bid of 10 closes them and opens nothing; of 14, opens 4 ($2.00)
    views = {T: PositionView(T, position=D(-10))}
    account.sent(bid(tif=TimeInForce.IOC), views.__getitem__)
    assert available(account.reads) == D("100")
    account.sent(bid(count="14"), views.__getitem__)
    assert available(account.reads) == D("98.00")


def test_a_replacement_spends_its_new_cost_less_what_the_order_it_replaces_held():
    """A requote of 10 at $0.50 ($5.00) in place of 4 resting at $0.50 ($2.00) commits $3.00
    more on its shard the moment it goes (an amend: the order rests at its new terms); one in
    place of more than it costs commits nothing more. The orders it replaces are read from the
    view it goes with; when they were cancelled before it went, their cancels gave back what
    they held (`freed`) and it spends its whole cost."""
    engine, *_ = make(RiskLimits())
    account = LoopAccount(engine, reads())
    resting = (RestingOrder("o-1", Side.YES, Action.BUY, D("0.50"), D(4)),)
    views = {T: PositionView(T, resting=resting)}
    account.sent(bid(replaces=("o-1",)), views.__getitem__)
    assert available(account.reads) == D("97.00")
    account.sent(bid(count="3", replaces=("o-1",)), views.__getitem__)
    assert available(account.reads) == D("97.00")
    # its cancels answered first, the order gone from the view: they gave back what it held
    account.freed(T, D("2.00"), engine.clock.monotonic())
    assert available(account.reads) == D("99.00")
    account.sent(bid(replaces=("o-1",)), PositionView)
    assert available(account.reads) == D("94.00")


def test_what_a_cancel_gave_back_is_spendable_and_a_read_sent_after_it_shows_it_once():
    """An order of $5.00 sent at 1.0 and $3.00 of it given back by a cancel sent at 2.0: $98
    left. A read sent at 1.5 shows the order, not the cancel, which still counts; one sent after
    both shows both: nothing is given back twice."""
    start = reads()
    start.sent(T, D("5.00"), 1.0)
    start.freed(T, D("3.00"), 2.0)
    assert available(start) == D("98.00")
    start.balances_read({0: D(5), 2: D("95")}, 1.5)
    assert available(start) == D("98.00")
    start.balances_read({0: D(5), 2: D("98")}, 2.5)
    assert available(start) == D("98")


def test_a_sets_leg_held_apart_stays_spent_through_a_balance_read_until_given_back():
    """A set's leg allowed and not sent yet spends what it would commit on its shard
    (`LoopReads.apart`): no balance read shows it, however late, so a read keeps it spent; given
    back (once, however often asked), the shard holds what the read said."""
    start = reads()
    give_back = start.apart(T, D("6.00"))
    assert available(start) == D("94.00")
    start.balances_read({0: D(5), 2: D("100")}, 5.0)
    assert available(start) == D("94.00")
    give_back()
    give_back()
    assert available(start) == D("100")


def test_a_cancel_answered_after_a_read_sent_since_it_went_gives_nothing_back_again():
    """An order of $5.00 sent at 1.0; its cancel goes at 2.0 and frees $3.00 of it on the
    exchange. A read sent at 2.5 and booked before the cancel's answer shows both ($98): the
    answer, booked after it, gives nothing back again."""
    start = reads()
    start.sent(T, D("5.00"), 1.0)
    start.balances_read({0: D(5), 2: D("98")}, 2.5)
    start.freed(T, D("3.00"), 2.0)
    assert available(start) == D("98")


def test_an_amend_past_what_the_position_closes_spends_what_it_opens():
    """Holding 10 YES, an ask of 10 at $0.70 commits nothing (it sells what is held). Amended to
    20, the 10 more open NO at $0.30 each: it spends $3.00, not the $3.00 less what the order
    it changes never held."""
    engine, *_ = make(RiskLimits())
    account = LoopAccount(engine, reads())
    ask = RestingOrder("o-1", Side.YES, Action.SELL, D("0.70"), D(10))
    views = {T: PositionView(T, position=D(10), resting=(ask,))}
    more = Intent(
        T, Side.YES, Action.SELL, D("0.70"), D(20), D("0.40"), "t", "s", replaces=("o-1",)
    )
    account.sent(more, views.__getitem__)
    assert available(account.reads) == D("97.00")

"""What `OrderDesk.place_order` hands back is a snapshot of the order as placed (an
order that does not rest is finished, so the exchange hands it back without a copy; a resting
one is copied, since fills, amends and cancels change it in place). Whatever the exchange
does afterwards (more fills, cancels, settlement, archiving), a caller's result keeps what it
said."""

from __future__ import annotations

from tests.sim.test_core import ASK, BID, IOC, Env


def test_a_placed_order_keeps_what_it_said_whatever_follows() -> None:
    env = Env()
    resting = env.place(env.b, BID, "0.40", 5)
    executed = env.place(env.a, ASK, "0.40", 2, IOC)  # fills 2 of b's 5: finished at once
    canceled = env.place(env.c, BID, "0.30", 3, IOC)  # nothing to meet: canceled at once
    assert (resting.order.status, executed.order.status, canceled.order.status) == (
        "resting",
        "executed",
        "canceled",
    )
    seen = [repr(r) for r in (resting, executed, canceled)]
    env.clock.advance(60)
    env.place(env.c, ASK, "0.40", 1, IOC)  # another fill of b's order
    env.ex.desk.cancel_all(env.b)
    env.ex.settlement.set_market_status("M", "closed")
    env.ex.settlement.settle("M", "yes")
    env.clock.advance(86_400 * 30)
    env.ex.history.archive_orders(env.clock.wall())
    assert [repr(r) for r in (resting, executed, canceled)] == seen
    # the exchange's own record moved on for the order that rested
    assert env.ex.history.order(env.b, resting.order.order_id).status == "canceled"


def test_a_maker_on_a_level_another_price_form_opened_keeps_its_own_digits() -> None:
    """The book keys a level by the price of the order that opened it (0.5 here); a maker
    resting there at 0.50 is filled at its own 0.50: its fill cost, its position's cost and
    total traded, and the book's level keep their digits (the exchange looks the level up by
    value, and does its arithmetic with the maker's own price)."""
    env = Env()
    env.place(env.a, ASK, "0.5", 1)  # a NO bid at 0.5 (YES ask): opens the NO level 0.5
    maker = env.place(env.b, ASK, "0.50", 2)  # b's NO bid at 0.50 joins that level
    env.place(env.c, BID, "0.50", 2, IOC)  # fills a's 1, then 1 of b's 2
    assert str(env.ex.engine.book("M")[1]) == "[(Decimal('0.5'), Decimal('1'))]"
    env.place(env.c, BID, "0.50", 1, IOC)  # the rest of b's order: the level goes
    assert env.ex.engine.book("M") == ([], [])
    order = env.ex.history.order(env.b, maker.order.order_id)
    assert (order.status, str(order.maker_fill_cost)) == ("executed", "1.00")
    (position,) = env.ex.accounts.positions(env.b)
    assert (str(position.position), str(position.cost_basis), str(position.total_traded)) == (
        "-2",
        "1.00",
        "1.00",
    )
    assert str(env.ex.accounts.held_dollars(env.b)) == "0.00"

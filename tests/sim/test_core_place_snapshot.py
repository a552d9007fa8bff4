"""What `Exchange.place_order` hands back is a snapshot of the order as placed (issue #17: an
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
    env.ex.cancel_all(env.b)
    env.ex.set_market_status("M", "closed")
    env.ex.settle("M", "yes")
    env.clock.advance(86_400 * 30)
    env.ex.archive_orders(env.clock.wall())
    assert [repr(r) for r in (resting, executed, canceled)] == seen
    # the exchange's own record moved on for the order that rested
    assert env.ex.order(env.b, resting.order.order_id).status == "canceled"

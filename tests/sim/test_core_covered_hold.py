"""The collateral of an account whose position covers part of one direction's resting orders
(the matching core's hot path): the free contracts are counted against the
cheapest orders, and the held amount keeps the digits of the sum it is, order by order (the
golden record compares held amounts exactly). Prices given as 0.5 and 0.40 (the API's two
price forms give both) carry different exponents, so a hold worked out another way (the
direction's total less the covered part) would print other digits."""

from __future__ import annotations

from tests.sim.test_core import ASK, BID, IOC, Env


def _short_two_yes(env: Env) -> None:
    """`a` holds 2 NO (position -2): it sells 2 YES into `b`'s bid."""
    env.place(env.b, BID, "0.60", 2)
    env.place(env.a, ASK, "0.60", 2, IOC)
    assert env.pos(env.a) == -2


def test_a_covered_direction_holds_only_its_dearest_orders_in_their_own_digits() -> None:
    env = Env()
    _short_two_yes(env)
    # YES bids: 0.40 x 1 and 0.45 x 1 close the NO position (the cheapest first); 0.5 x 3 opens
    env.place(env.a, BID, "0.40", 1)
    env.place(env.a, BID, "0.45", 1)
    assert str(env.ex.accounts.held_dollars(env.a)) == "0"
    env.place(env.a, BID, "0.5", 3)  # the plan's hold: the new order counted with the rest
    assert str(env.ex.accounts.held_dollars(env.a)) == "1.5"
    env.place(env.c, ASK, "0.50", 1, IOC)  # a maker fill: the hold worked out again
    assert env.pos(env.a) == -1
    # 0.40 x 1 free; 0.45 x 1 and 0.5 x 2 held
    assert str(env.ex.accounts.held_dollars(env.a)) == "1.45"


def test_a_partly_covered_order_holds_its_uncovered_part() -> None:
    env = Env()
    _short_two_yes(env)
    env.place(env.a, BID, "0.5", 3)  # 2 of its 3 close the position
    assert str(env.ex.accounts.held_dollars(env.a)) == "0.5"
    env.place(env.a, BID, "0.30", 1)  # now the cheapest: it and 1 of the 0.5s are free
    assert str(env.ex.accounts.held_dollars(env.a)) == "1.0"
    env.place(env.a, ASK, "0.70", 1)  # a NO bid at 0.30: the other direction, held whole
    assert str(env.ex.accounts.held_dollars(env.a)) == "1.30"

"""SAFE_MODE entered while an order's answer is lost: the order may be resting on the exchange
(the exchange took it, the answer never came), and SAFE_MODE means nothing of the loop's adds
to a position. The loop withdraws its known quotes in the tick that sees SAFE_MODE; the order
of unknown outcome is one of its quotes too, so it must be looked up (and withdrawn once found)
while the API error guard's backoff runs, not a whole `backoff_max_s` later."""

from __future__ import annotations

from pathlib import Path

from tests.runner.fakes import make_rig

# one error is enough for SAFE_MODE here: the lost answer itself trips it
RISK = {"max_orders_per_minute": 1000, "max_consecutive_errors": 1}
PARAMS = {"requote_tolerance": "0"}


def test_an_order_found_resting_after_its_lost_answer_tripped_safe_mode_is_withdrawn(
    tmp_path: Path,
) -> None:
    # requotes as new orders: the test holds the loop's next create
    trade = {"amend_requotes": False}
    rig = make_rig(
        tmp_path / "s.db", strategy="market-maker", risk=RISK, params=PARAMS, trade=trade
    )
    rig.step(0.1)
    assert rig.loop.portfolio.orders, "the market maker quotes"
    # the exchange takes the next create, its answer is lost, and the lookup right after does
    # not show it yet (reads lag writes)
    rig.client.create_errors.append("unknown")
    rig.client.lookup_errors.append("missing")
    sent = len(rig.client.requests)
    while len(rig.client.requests) == sent:
        rig.step(0.5)
    coid = rig.client.requests[sent].client_order_id
    assert coid in rig.loop.executor.unknown_orders.unknown
    assert rig.store.trading.trading_state().state == "SAFE_MODE"
    assert rig.loop.executor.guard.backing_off
    me = rig.client.account_id
    for _ in range(10):  # 5 s: well within the 60 s backoff of SAFE_MODE
        rig.step(0.5)
    resting = [o.client_order_id for o in rig.exchange.history.orders(me) if o.status == "resting"]
    assert resting == [], "SAFE_MODE: nothing of the loop's rests, the order found late included"
    assert rig.store.orders.get_intent(coid).status == "canceled"

"""A restart from the journal gives every order the times it was served with, on a clock that
moves between two reads (a real one does): the journal records the time each change (place,
cancel, cancel all, decrease, amend, expiry) was applied at, not a second, later read of the
clock."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.clock import ManualClock
from kalshi_cli.models import PRICE_STRUCTURES, BookSide, SelfTradePrevention, TimeInForce
from kalshi_cli.sim.core import Exchange, SimMarket


class TickingClock(ManualClock):
    """Each read of the wall clock is a millisecond after the one before."""

    def wall(self) -> float:
        self.advance(0.001)  # float-ok: seconds
        return super().wall()


def _exchange(journal: Path) -> Exchange:
    ex = Exchange(TickingClock(), journal=journal)
    if not ex.restored:
        ex.add_market(
            SimMarket(
                "T",
                "EV",
                "S",
                "t",
                "yes",
                "no",
                "open",
                "linear_cent",
                PRICE_STRUCTURES["linear_cent"],
                0.0,
                2e9,
                2e9,
                0.0,
                0.0,
            )
        )
    return ex


def test_a_restart_gives_orders_the_times_they_were_served_with(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    ex = _exchange(journal)
    a, b = (
        ex.create_account(key_id=k, public_key_pem="", cash_cents=10**6).account_id
        for k in ("ka", "kb")
    )
    served = []
    for account, side, count in [
        (a, BookSide.BID, "5"),
        (b, BookSide.ASK, "2"),
        (a, BookSide.BID, "1"),
    ]:
        served.append(
            ex.place_order(
                account,
                ticker="T",
                book_side=side,
                price=Decimal("0.40"),
                count=Decimal(count),
                time_in_force=TimeInForce.GTC,
                self_trade_prevention=SelfTradePrevention.MAKER,
            )
        )
    canceled, _ = ex.cancel_order(a, served[2].order.order_id)
    first = served[0].order.order_id  # 5 bid, 2 filled: 3 rest
    ex.decrease_order(a, first, reduce_by=Decimal(1), reduce_to=None)
    ex.amend_order(
        a, first, ticker="T", book_side=BookSide.BID, price=Decimal("0.41"), count=Decimal(4)
    )
    ex.place_order(
        b,
        ticker="T",
        book_side=BookSide.BID,
        price=Decimal("0.30"),
        count=Decimal(1),
        time_in_force=TimeInForce.GTC,
        self_trade_prevention=SelfTradePrevention.MAKER,
    )
    ex.cancel_all(b)
    third = ex.place_order(
        b,
        ticker="T",
        book_side=BookSide.BID,
        price=Decimal("0.30"),
        count=Decimal(3),
        time_in_force=TimeInForce.GTC,
        self_trade_prevention=SelfTradePrevention.MAKER,
    )
    ex.decrease_order(b, third.order.order_id, reduce_by=Decimal(1), reduce_to=None)
    live = {o.order_id: (o.created_time, o.last_update_time) for o in ex.orders(a) + ex.orders(b)}
    fills = [(f.fill_id, f.ts) for f in ex.fills(a) + ex.fills(b)]
    ex.close()

    again = _exchange(journal)
    assert again.restored
    replayed = {
        o.order_id: (o.created_time, o.last_update_time) for o in again.orders(a) + again.orders(b)
    }
    assert replayed == live
    assert [(f.fill_id, f.ts) for f in again.fills(a) + again.fills(b)] == fills
    assert replayed[canceled.order_id] == (served[2].order.created_time, canceled.last_update_time)
    again.close()

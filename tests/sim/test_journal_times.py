"""A restart from the journal gives every order the times it was served with, on a clock that
moves between two reads (a real one does): the journal records the time each change (place,
cancel, cancel all, decrease, amend, expiry) was applied at, not a second, later read of the
clock; so does each balance's time of last change. The same holds for what a settlement, a
pause, an order group and a subaccount change: their times are the applied ones (a reviewer
found them journaling a second read)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention
from tests.conftest import STANDARD_FEES
from tests.runner.fakes import place_on_desk
from tests.sim.test_core import market


class TickingClock(ManualClock):
    """Each read of the wall clock is a millisecond after the one before."""

    def wall(self) -> float:
        self.advance(0.001)
        return super().wall()


def _exchange(journal: Path) -> Exchange:
    ex = Exchange(TickingClock(), fees=STANDARD_FEES, journal=journal)
    if not ex.restored:
        ex.add_market(market("T", series_ticker="S", title="t"))
    return ex


def test_a_restart_gives_orders_the_times_they_were_served_with(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    ex = _exchange(journal)
    a, b = (
        ex.accounts.create_account(key_id=k, public_key_pem="", cash_cents=10**6).account_id
        for k in ("ka", "kb")
    )
    served = []
    for account, side, count in [
        (a, BookSide.BID, "5"),
        (b, BookSide.ASK, "2"),
        (a, BookSide.BID, "1"),
    ]:
        served.append(
            place_on_desk(
                ex,
                account,
                "T",
                side,
                "0.40",
                count,
                self_trade_prevention=SelfTradePrevention.MAKER,
            )
        )
    canceled, _ = ex.desk.cancel_order(a, served[2].order.order_id)
    first = served[0].order.order_id  # 5 bid, 2 filled: 3 rest
    ex.desk.decrease_order(a, first, reduce_by=Decimal(1), reduce_to=None)
    ex.desk.amend_order(
        a, first, ticker="T", book_side=BookSide.BID, price=Decimal("0.41"), count=Decimal(4)
    )
    place_on_desk(
        ex, b, "T", BookSide.BID, "0.30", 1, self_trade_prevention=SelfTradePrevention.MAKER
    )
    ex.desk.cancel_all(b)
    third = place_on_desk(
        ex, b, "T", BookSide.BID, "0.30", 3, self_trade_prevention=SelfTradePrevention.MAKER
    )
    ex.desk.decrease_order(b, third.order.order_id, reduce_by=Decimal(1), reduce_to=None)
    live = {
        o.order_id: (o.created_time, o.last_update_time)
        for o in ex.history.orders(a) + ex.history.orders(b)
    }
    fills = [(f.fill_id, f.ts) for f in ex.history.fills(a) + ex.history.fills(b)]
    balances = [(ex.accounts.balance_updated(x), ex.accounts.acct(x).stamps) for x in (a, b)]
    ex.close()

    again = _exchange(journal)
    assert again.restored
    replayed = {
        o.order_id: (o.created_time, o.last_update_time)
        for o in again.history.orders(a) + again.history.orders(b)
    }
    assert replayed == live
    assert [(f.fill_id, f.ts) for f in again.history.fills(a) + again.history.fills(b)] == fills
    # each balance's last change (its `updated_ts`) at the time it was served with
    assert [
        (again.accounts.balance_updated(x), again.accounts.acct(x).stamps) for x in (a, b)
    ] == balances
    assert replayed[canceled.order_id] == (served[2].order.created_time, canceled.last_update_time)
    again.close()


def _rest_in_group(ex: Exchange, account: str, group: str) -> str:
    return place_on_desk(
        ex,
        account,
        "T",
        BookSide.BID,
        "0.40",
        1,
        self_trade_prevention=SelfTradePrevention.MAKER,
        cancel_order_on_pause=True,
        order_group_id=group,
    ).order.order_id


@pytest.mark.parametrize("how", ["settle", "pause", "trigger", "delete_group"])
def test_a_restart_keeps_the_times_of_orders_canceled_by_market_and_group_changes(
    tmp_path: Path, how: str
) -> None:
    """A settlement, a pause and an order group's trigger or deletion cancel resting orders:
    their last update (and the settlement's time) read the same after a restart."""
    journal = tmp_path / "journal.jsonl"
    ex = _exchange(journal)
    a = ex.accounts.create_account(key_id="ka", public_key_pem="", cash_cents=10**6).account_id
    group = ex.groups.create_order_group(a, Decimal(100)).order_group_id
    order_id = _rest_in_group(ex, a, group)
    if how == "settle":
        ex.settlement.settle("T", "yes")
    elif how == "pause":
        ex.settlement.set_market_status("T", "paused")
    elif how == "trigger":
        ex.groups.trigger_order_group(a, group)
    else:
        ex.groups.delete_order_group(a, group)
    served = ex.history.order(a, order_id)
    assert served.status == "canceled"
    served_settled = [s.settled_time for s in ex.accounts.settlements(a)]
    ex.close()

    again = _exchange(journal)
    restored = again.restored
    replayed = again.history.order(a, order_id).last_update_time
    replayed_settled = [s.settled_time for s in again.accounts.settlements(a)]
    again.close()
    assert restored
    assert replayed == served.last_update_time
    assert replayed_settled == served_settled


def test_a_restart_keeps_the_times_of_a_subaccount_and_its_transfer(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    ex = _exchange(journal)
    a = ex.accounts.create_account(key_id="ka", public_key_pem="", cash_cents=10**6).account_id
    n = ex.subaccounts.create_subaccount(a)
    ex.subaccounts.transfer(
        a, client_transfer_id="t1", from_subaccount=0, to_subaccount=n, amount_cents=500
    )
    served = (
        [t.created_ts for t in ex.subaccounts.transfers(a)],
        ex.accounts.balance_updated(f"{a}/{n}"),
    )
    ex.close()

    again = _exchange(journal)
    restored = again.restored
    replayed = (
        [t.created_ts for t in again.subaccounts.transfers(a)],
        again.accounts.balance_updated(f"{a}/{n}"),
    )
    again.close()
    assert restored
    assert replayed == served

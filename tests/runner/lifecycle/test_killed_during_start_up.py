"""`kalshi trade` killed during its start-up's reconcile, then started again: what the kill left
of the state file must not keep the next start from knowing what rests on the exchange."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kalshi_cli.client.connection import LANDING_WINDOW_S
from kalshi_cli.runner.lifecycle.session import reconcile
from kalshi_cli.sim.core.records import PlaceRequest
from kalshi_cli.vocabulary.models import BookSide, Order, SelfTradePrevention, TimeInForce
from tests.runner.crash_rig import Killed, crash_at, restart
from tests.runner.fakes import FakeClient, make_rig

LAL = "KXNBAGAME-SIM-LALGSW-LAL"


@dataclass
class NoClientIds(FakeClient):
    """The exchange as Kalshi shows an order placed without a client order id (by hand on the
    website): with none. The in-process exchange names such an order by its order id."""

    by_hand: set[str] = field(default_factory=set)

    def _shown(self, order: Order) -> Order:
        return (
            msgspec.structs.replace(order, client_order_id="")
            if order.order_id in self.by_hand
            else order
        )

    def iter_orders(self, **filters: Any) -> Iterator[Order]:
        return (self._shown(o) for o in super().iter_orders(**filters))

    def get_order(self, order_id: str) -> Order:
        return self._shown(super().get_order(order_id))


@pytest.mark.parametrize("wait", [0.0, LANDING_WINDOW_S + 2])
def test_a_kill_while_reconcile_imports_an_order_leaves_it_to_be_imported_again(
    tmp_path: Path, wait: float
) -> None:
    """An order placed by hand without a client order id rests. The start's reconcile imports
    it, and the loop is killed between the import's row and the exchange's answer in it: the
    row, pending with no order id, could not be found by the lookup of orders whose answer was
    lost, nor matched by the next import, which failed on its name ever after, so no later
    start (at once, or past the landing window) could trade. The import is one commit: the
    next start imports the order and knows it resting."""
    state, left = tmp_path / "s.db", tmp_path / "left.db"
    rig = make_rig(state, strategy="spike", params={"spike_share": 5})
    placed = rig.exchange.place_order(
        rig.client.account_id,
        PlaceRequest(
            ticker=LAL,
            book_side=BookSide.BID,
            price=Decimal("0.05"),
            count=Decimal(3),
            time_in_force=TimeInForce.GTC,
            self_trade_prevention=SelfTradePrevention.TAKER_AT_CROSS,
        ),
    ).order
    client = NoClientIds(rig.exchange, rig.client.account_id, clock=rig.clock)
    client.by_hand.add(placed.order_id)
    crash_at(rig.store.orders, "mark_sent", state, left, after=False)
    with pytest.raises(Killed):
        reconcile(client, rig.store, rig.clock)
    rig.clock.advance(wait)
    again = restart(rig, left, strategies=("spike",), client=client)
    row = again.store.orders.intent_by_order_id(placed.order_id)
    assert row is not None and row.status == "resting", row
    assert placed.order_id in again.loop.portfolio.orders

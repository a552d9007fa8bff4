"""A batch create whose answer is lost leaves each of its orders unknown, and each is then booked
by its own lookup by client order id, never sent again: a leg the exchange took is found (resting
in the loop's book as its strategy's, or filled, its fills read at once), and a leg it never took
is gone (`rejected`) once it can no longer land, its market free to quote again."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.errors import OrderOutcomeUnknown
from kalshi_cli.vocabulary.units import Action, Side
from tests.runner.fakes import Rig, make_rig

D = Decimal


def _bid(ticker: str, price: str) -> Intent:
    return Intent(
        ticker=ticker, side=Side.YES, action=Action.BUY, price=D(price), count=D(3),
        model_fair=D("0.99"), reason="test", strategy="spike",
    )  # fmt: skip


def _status(rig: Rig, coid: str) -> str:
    return str(next(i for i in rig.store.orders.intents() if i.client_order_id == coid).status)


def test_each_leg_of_a_lost_batch_is_booked_by_its_own_lookup(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "state.db", params={"spike_share": 5})
    rig.step(0.1)
    client, executor = rig.client, rig.loop.executor
    unknown = executor.unknown_orders
    sent: list[list[str]] = []

    def batch_create_orders(creates: list[Any], *, subaccount: int | None = None) -> list[Any]:
        """The exchange takes every leg but the last, and the answer is lost."""
        sent.append([c.client_order_id for c in creates])
        for create in creates[:-1]:
            client._place(create)
        raise OrderOutcomeUnknown("the batch's answer timed out", client_order_id="")

    client.batch_size = lambda: 20  # type: ignore[attr-defined]
    client.batch_create_orders = batch_create_orders  # type: ignore[attr-defined]
    rests, fills, never = list(rig.exchange.reference.markets)[:3]
    # 0.05 rests below every bid; 0.99 takes the market's asks
    for intent in (_bid(rests, "0.05"), _bid(fills, "0.99"), _bid(never, "0.05")):
        executor.outbox.queue(intent)
    executor.flush()
    ((resting, filled, gone),) = sent
    assert set(unknown.unknown) == {resting, filled, gone}
    assert {_status(rig, c) for c in (resting, filled, gone)} == {"unknown"}
    assert all(unknown.holds(t) for t in (rests, fills, never))

    unknown.resolve()
    assert _status(rig, resting) == "resting"
    (booked,) = [o for o in rig.loop.portfolio.orders.values() if o.client_order_id == resting]
    assert (booked.ticker, booked.remaining, booked.strategy) == (rests, D(3), "spike")
    assert _status(rig, filled) == "executed"
    (taken,) = [o for o in client.iter_orders() if o.client_order_id == filled]
    assert rig.loop.portfolio.unbooked(fills, taken.order_id) == 3, "counted until read"
    assert executor.fills.due.is_set(), "the filled leg's fills are read at once"
    assert set(unknown.unknown) == {gone}, "not listed yet, it may still land"
    assert not unknown.holds(rests) and not unknown.holds(fills)

    rig.clock.advance(unknown.landing_s)
    unknown.resolve()
    assert _status(rig, gone) == "rejected"
    assert unknown.unknown == {} and not unknown.holds(never)
    assert sent == [[resting, filled, gone]], "no leg was sent again"
    assert len([o for o in client.iter_orders() if o.client_order_id == resting]) == 1

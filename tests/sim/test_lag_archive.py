"""The read-lag replica (`read_lag_ms`, sim/server/lag.py) over an account whose finished orders sit
in the compact archive: a copy taken before a change answers, after it, the orders as they
stood (newest first, each field the same; looked up by id alone too), whatever the archive
took in since; it copies only the live orders."""

from __future__ import annotations

from kalshi_cli.sim.server.lag import ReadReplica
from kalshi_cli.vocabulary.units import BookSide
from tests.runner.fakes import place_on_desk
from tests.sim.test_order_retention import _orders_as_a_client


def test_a_lagged_view_reads_the_orders_as_they_stood_archived_ones_included() -> None:
    exchange, me, clock, _, _ = _orders_as_a_client(2)
    live, archived = exchange.history.order_tiers(me)
    assert live > 10 and archived > 100
    before = exchange.history.orders(me)
    expected = [repr(o) for o in before]  # the live orders are the exchange's own objects
    as_was = dict(zip((o.order_id for o in before), expected, strict=True))
    replica = ReadReplica()
    replica.watch(me)
    replica.before_change(exchange, 1000.0, 10.0)  # the state just before a change at 1000
    # the changes: a resting order canceled, a new one placed, every finished one archived
    resting = next(o for o in before if o.status == "resting")
    exchange.desk.cancel_order(me, resting.order_id)
    placed = place_on_desk(exchange, me, resting.ticker, BookSide.BID, "0.01", 1).order
    clock.advance(1)
    assert exchange.history.archive_orders(clock.wall()) > 0
    assert exchange.history.order_tiers(me)[1] > archived
    view = replica.view(me, 1005.0, 10.0)  # as of 995: before the change
    assert view is not None
    assert [repr(o) for o in view.orders] == expected
    for o in [*before[::5], resting]:
        found = view.order(o.order_id)
        assert found is not None and repr(found) == as_was[o.order_id]
    assert view.order(placed.order_id) is None
    assert view.order(before[0].order_id[:-12] + "f" * 12) is None
    assert replica.view(me, 1011.0, 10.0) is None  # as of 1001: the current state

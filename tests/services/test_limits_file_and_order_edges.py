"""The deprecated `limits:` keys read as `risk:`'s, as written (never through a float; where both
set one the smaller holds, a wrong one refused with its file line and new key), and the order
service's less travelled paths: the subaccount an order is recorded on, a batch whose answer
was lost, fills copied from the time asked, reconcile's grace before "never placed".
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.client import LANDING_WINDOW_S
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.services.orders.batch import place_batch
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.services.pretrade.settings import load_risk_limits
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, SystemClock
from kalshi_cli.vocabulary.errors import ConfigError, OrderOutcomeUnknown
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import connect, funded_subaccount, make_markets
from tests.wire import order_body

# ------------------------------------------------------------------------------ limits:


def limits_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "position", "cost"),
    [
        ("limits:\n  max_position_per_market: 7\n  max_order_cost: 0.1\n", "7", "0.1"),
        ("limits:\n  max_order_cost: ' 2.50 '\n", "100", "2.50"),
        (
            "risk:\n  max_position_per_market: 5\nlimits:\n  max_position_per_market: 10\n",
            "5",
            None,
        ),
        (
            "risk:\n  max_position_per_market: 10\nlimits:\n  max_position_per_market: 5\n",
            "5",
            None,
        ),
        ("limits:\n  max_position_per_market: null\n  max_order_cost: null\n", "100", None),
    ],
)
def test_the_deprecated_limits_keys_are_read_as_risk_keys_as_written_the_smaller_holding(
    tmp_path: Path, text: str, position: str, cost: str | None
) -> None:
    limits = load_risk_limits(limits_file(tmp_path, text))
    assert str(limits.max_position_per_market) == position
    assert (None if limits.max_order_cost is None else str(limits.max_order_cost)) == cost


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("limits:\n  max_order_cost: 0\n", "risk.max_order_cost: must be > 0, got 0"),
        (
            "limits:\n  max_position_per_market: 0\n",
            "risk: max_position_per_market must be positive",
        ),
        ("limits:\n  max_order_cost: lots\n", "risk.max_order_cost: expected a number, not 'lots'"),
        ("limits:\n  max_order_costs: 5\n", "unknown parameter `risk.max_order_costs`"),
    ],
)
def test_a_wrong_deprecated_limit_is_refused_at_its_line_under_its_new_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = limits_file(tmp_path, text)
    with pytest.raises(ConfigError) as refused:
        load_risk_limits(path)
    assert refused.value.message.startswith(f"{path}:2: ")
    assert message in refused.value.message


# ------------------------------------------------------------------------------ subaccounts


@pytest.mark.parametrize("on_subaccount", [False, True], ids=["primary", "numbered"])
def test_an_order_is_recorded_on_the_subaccount_it_was_placed_from(
    client: KalshiClient, store: Store, on_subaccount: bool, ticker: str, service: OrderService
) -> None:
    """The trade loop on a subaccount starts from that subaccount's resting orders
    (`store.orders.open_orders(subaccount=N)`, runner/lifecycle/session.py): an order it placed is
    its own from the moment it is recorded, not the primary's."""
    number = 0
    if on_subaccount:
        number = funded_subaccount(client)
        client.subaccount = number
    placed = service.place(
        service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, Decimal(3), Decimal("0.20")))
    )
    assert placed.status == "resting"
    mine = store.orders.open_orders(subaccount=number)
    assert [(i.client_order_id, i.subaccount) for i in mine] == [(placed.client_order_id, number)]
    for other in {0, 1, number + 1} - {number}:
        assert store.orders.open_orders(subaccount=other) == []


# ------------------------------------------------------------------------------ batches


def test_a_batch_whose_answer_was_lost_records_the_orders_found_as_resting(
    prime: SimHarness, client: KalshiClient, store: Store, tmp_path: Path, ticker: str
) -> None:
    """The orders of a batch whose answer was lost are found by their client order ids and
    recorded as the exchange has them: resting, with their order ids, none left unknown for
    `kalshi status` to ask a reconcile for."""
    path = tmp_path / "orders.csv"
    path.write_text(
        f"ticker,side,action,count,price\n{ticker},yes,buy,2,0.10\n{ticker},no,buy,3,0.20\n"
    )
    prime.set_faults(drop_response_after_commit_rate=1.0, seed=1)
    report = place_batch(OrderService(client, store), path)
    prime.clear_faults()

    assert [row.status for row in report.rows] == ["resting", "resting"]
    on_exchange = {o.client_order_id: o.order_id for o in client.orders.iter_orders(ticker=ticker)}
    recorded = {
        i.client_order_id: (i.order_id, i.status, i.remaining) for i in store.orders.intents()
    }
    assert recorded == {
        row.client_order_id: (on_exchange[row.client_order_id], "resting", count)
        for row, count in zip(report.rows, [Decimal(2), Decimal(3)], strict=True)
    }


# ------------------------------------------------------------------------------ since_ts


def _two_fills_ten_seconds_apart(sim: SimHarness, clock: ManualClock, ticker: str) -> float:
    """A fill of 1 for the account, then (10 s later on the exchange's clock) a fill of 2;
    returns the time between them."""
    with connect(sim.new_account(balance_cents=1_000_000)) as seller:
        for count in ("1", "2"):
            sim.place_order(
                sim.account,
                order_body(ticker, price="0.4000", count=f"{count}.00"),
            ).raise_for_status()
            seller.orders.create_order(
                CreateOrder(ticker, BookSide.ASK, Decimal("0.40"), Decimal(count))
            )
            clock.advance(10)
    return clock.wall() - 15


def test_fills_are_copied_from_the_time_asked_only(
    manual_sim: SimHarness, manual_clock: ManualClock, tmp_path: Path
) -> None:
    """`sync_fills(since_ts=...)` and `reconcile(since_ts=...)` copy the fills from that time
    on, not the account's whole history (the time reaches the exchange's `min_ts`)."""
    (ticker,) = make_markets(manual_sim, 1)
    between = _two_fills_ten_seconds_apart(manual_sim, manual_clock, ticker)
    with connect(manual_sim.account) as client, Store.open(tmp_path / "a.db") as store:
        assert OrderService(client, store).sync_fills(since_ts=int(between)) == 1
        assert [f.count for f in store.fills.read(ticker=ticker)] == [Decimal(2)]
    with connect(manual_sim.account) as client, Store.open(tmp_path / "b.db") as store:
        report = OrderService(client, store).reconcile(since_ts=int(between))
        assert report.fills_added == 1
        assert [f.count for f in store.fills.read(ticker=ticker)] == [Decimal(2)]


# ------------------------------------------------------------------------------ reconcile


def test_reconcile_waits_for_the_services_read_lag_and_a_longer_grace_before_never_placed(
    prime: SimHarness, client: KalshiClient, tmp_path: Path, ticker: str
) -> None:
    """An order of unknown outcome not on the exchange is marked never placed only once the
    landing window (or `kalshi reconcile --grace`, if longer) and the read lag the service
    was given (`read_lag` of the settings) have passed since it was sent."""
    start = SystemClock().wall()
    clock = ManualClock(start)
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        service = OrderService(client, store, clock=clock, read_lag_s=40.0)
        prime.set_faults(write_503_rate=1.0)  # answered 503: the exchange did not act
        request = OrderRequest(ticker, Side.YES, Action.BUY, Decimal(1), Decimal("0.30"))
        with pytest.raises(OrderOutcomeUnknown):
            service.place(service.prepare(request))
        prime.clear_faults()
        (sent,) = store.orders.intents()
        # past the window and the default read lag (1 s), not the service's 40 s
        clock.advance(LANDING_WINDOW_S + 2)
        assert service.reconcile().still_unknown == [sent.client_order_id]
        # past the window and 40 s, not a grace of the window + 60 s and then 40 s
        clock.advance(40)
        grace = LANDING_WINDOW_S + 60
        assert service.reconcile(grace_s=grace).still_unknown == [sent.client_order_id]
        clock.advance(60)
        report = service.reconcile(grace_s=grace)
        assert report.not_on_exchange == [sent.client_order_id]
        intent = store.orders.get_intent(sent.client_order_id)
        assert intent is not None and intent.status == "rejected"
        assert intent.error is not None
        assert intent.error.startswith(f"not on the exchange {grace + 40:g}s after")

"""The kill switch and the order groups the state file lists (step 2, `order_groups.py`)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.order_groups import OrderGroupsApi
from kalshi_cli.client.orders import OrdersApi
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import TradeConfig
from kalshi_cli.runner.execution.order_group import open_session_group
from kalshi_cli.services.killswitch.order_groups import (
    GROUP_STEP_SHARE,
    remember_order_group,
    session_order_group_places,
    session_order_groups,
)
from kalshi_cli.services.killswitch.switch import KillSwitch
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import Deadline, ManualClock, SystemClock
from kalshi_cli.vocabulary.errors import ApiError, TransportError
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, connect, funded_subaccount, make_markets, state_path


def _bid(ticker: str, group: str | None = None) -> CreateOrder:
    return CreateOrder(
        ticker=ticker,
        book_side=BookSide.BID,
        price=Decimal("0.30"),
        count=Decimal(2),
        order_group_id=group,
    )


def _refused(client: KalshiClient, ticker: str, group: str) -> str:
    with pytest.raises(ApiError) as info:
        client.orders.create_order(_bid(ticker, group))
    return info.value.code or ""


def test_every_market_triggers_the_listed_groups_and_forgets_unknown_ones(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    group = client.order_groups.create_order_group(Decimal(100))
    in_group = client.orders.create_order(_bid(ticker, group)).order_id
    remember_order_group(store, "no-such-group")
    remember_order_group(store, group)

    report = KillSwitch(client, store, SystemClock(), read_lag_s=0.0).run()

    assert report.proven
    assert report.order_groups_triggered == [group]
    assert report.to_json()["order_groups_triggered"] == [group]
    assert client.orders.get_order(in_group).status == "canceled"
    assert _refused(client, ticker, group) == "order_group_triggered"
    assert session_order_groups(store) == [group]  # kept: `kalshi trade` owns its lifetime


def test_a_scoped_kill_leaves_the_groups_alone(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    first, second = make_markets(prime, 2)
    group = client.order_groups.create_order_group(Decimal(100))
    elsewhere = client.orders.create_order(_bid(second, group)).order_id
    remember_order_group(store, group)

    report = KillSwitch(client, store, SystemClock(), read_lag_s=0.0).run(ticker=first)

    assert report.proven and report.order_groups_triggered == []
    assert client.orders.get_order(elsewhere).status == "resting"
    client.orders.create_order(_bid(second, group))  # the group still takes orders


def test_without_a_state_file_the_cancels_still_go_out(client: KalshiClient, ticker: str) -> None:
    group = client.order_groups.create_order_group(Decimal(100))
    order = client.orders.create_order(_bid(ticker, group)).order_id
    report = KillSwitch(client, None, SystemClock(), read_lag_s=0.0).run()
    assert report.proven and report.order_groups_triggered == []
    assert client.orders.get_order(order).status == "canceled"


def test_cancel_all_names_the_groups_it_triggered(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    group = client.order_groups.create_order_group(Decimal(100))
    with Store.open(state_path(tmp_path)) as store:
        remember_order_group(store, group)
    result = kalshi("cancel-all", "--yes")
    assert result.exit_code == 0, result.output
    assert f"order group triggered: {group}" in result.stdout


def _fund_subaccount_1(client: KalshiClient) -> None:
    assert funded_subaccount(client, cents=100_00) == 1


def test_a_listed_group_on_a_subaccount_is_triggered_there(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str
) -> None:
    """Trigger defaults to subaccount 0 (openapi.yaml 3.31.0): a group on subaccount 1 is
    triggered only when the request names it, so the state file keeps each group's subaccount."""
    _fund_subaccount_1(client)
    group = client.order_groups.create_order_group(Decimal(100), subaccount=1)
    remember_order_group(store, group, subaccount=1)
    assert session_order_group_places(store) == [(group, 1)]
    with connect(prime.account) as on_one:
        on_one.subaccount = 1
        in_group = on_one.orders.create_order(_bid(ticker, group)).order_id

        report = KillSwitch(client, store, SystemClock(), read_lag_s=0.0).run()

        assert report.proven
        assert report.order_groups_triggered == [group]
        assert on_one.orders.get_order(in_group).status == "canceled"
        assert _refused(on_one, ticker, group) == "order_group_triggered"
    assert session_order_groups(store) == [group]


def test_a_kill_on_one_subaccount_triggers_only_that_subaccounts_groups(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    """`cancel-all --subaccount 1` cancels on subaccount 1 only; triggering subaccount 0's
    group would cancel orders outside that scope. The other group stays listed."""
    _fund_subaccount_1(client)
    primary = client.order_groups.create_order_group(Decimal(100))
    on_one = client.order_groups.create_order_group(Decimal(100), subaccount=1)
    remember_order_group(store, on_one, subaccount=1)
    remember_order_group(store, primary)  # the newer: passed over, not the end of the search
    outside = client.orders.create_order(_bid(ticker, primary)).order_id

    client.subaccount = 1
    report = KillSwitch(client, store, SystemClock(), read_lag_s=0.0).run()

    assert report.proven
    assert report.order_groups_triggered == [on_one]
    assert _refused(client, ticker, on_one) == "order_group_triggered"
    client.subaccount = None
    assert client.orders.get_order(outside).status == "resting"
    client.orders.create_order(_bid(ticker, primary))  # still takes orders
    assert session_order_group_places(store) == [(on_one, 1), (primary, 0)]


def test_a_session_group_made_by_a_client_on_a_subaccount_is_recorded_there(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str
) -> None:
    """The trade loop has no subaccount of its own (its client acts on the exchange's
    defaults, so its group is on 0); a client set to one puts the group there, and the state
    file says where, so the kill switch triggers it there."""
    _fund_subaccount_1(client)
    log = EntryLog(SystemClock(), stderr=None)
    on_zero = open_session_group(client, store, TradeConfig(), log)
    # an order resting in it keeps it past the next start, which deletes idle earlier groups
    client.orders.create_order(_bid(ticker, on_zero))
    client.subaccount = 1
    on_one = open_session_group(client, store, TradeConfig(), log)
    assert [g.order_group_id for g in client.order_groups.list_order_groups(subaccount=1)] == [
        on_one
    ]
    assert session_order_group_places(store) == [(on_zero, 0), (on_one, 1)]
    client.subaccount = None
    report = KillSwitch(client, store, SystemClock(), read_lag_s=0.0).run()
    assert report.order_groups_triggered == [on_one, on_zero]  # the newest first


def test_an_unknown_group_is_forgotten_after_the_cancels_not_before_them(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    """Forgetting a group the exchange no longer knows is bookkeeping: it writes to the state
    file, where another writer may hold the lock, so it waits until the cancels have gone out
    (before, it ran between the group triggers and the cancel-all, under the state file's
    10-second busy timeout, and a locked state file held the cancel-all back that long)."""
    make_markets(prime, 1)
    remember_order_group(store, "no-such-group")
    listed_at_cancel_all: list[list[str]] = []

    class Watched(OrdersApi):
        def cancel_all_orders(self) -> None:
            listed_at_cancel_all.append(session_order_groups(store))
            super().cancel_all_orders()

    client.orders = Watched(client.connection)
    report = KillSwitch(client, store, SystemClock(), read_lag_s=0.0).run()

    assert report.proven and report.exchange_cancel_all
    assert listed_at_cancel_all == [["no-such-group"]]
    assert session_order_groups(store) == []


def test_a_group_trigger_that_is_never_answered_does_not_hold_the_cancels_back(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str
) -> None:
    """An order-group service that takes each trigger and never answers (the orders service
    still up): each try waits out the request's timeout, and the trigger is retried only
    within its share of the deadline, so the exchange's cancel-all still goes out. Before, the
    trigger was tried again until the whole deadline was spent, and no cancel was ever sent:
    the orders kept resting, the run not proven."""
    group = client.order_groups.create_order_group(Decimal(100))
    in_group = client.orders.create_order(_bid(ticker, group)).order_id
    outside = client.orders.create_order(_bid(ticker)).order_id
    remember_order_group(store, group)
    clock = ManualClock()
    triggers: list[str] = []

    class Unanswered(OrderGroupsApi):
        """A trigger sent and never answered, as the connection reports one: after the
        request's timeout, or sooner what the deadline it runs under leaves."""

        def trigger_order_group(
            self, order_group_id: str, *, subaccount: int | None = None
        ) -> None:
            triggers.append(order_group_id)
            deadline = Deadline.current()
            waited = 10.0 if deadline is None else min(10.0, deadline.remaining())
            clock.advance(waited)
            raise TransportError(f"no response within {waited:g}s") from httpx.ReadTimeout("")

    cancel_all_at: list[float] = []

    class Watched(OrdersApi):
        def cancel_all_orders(self) -> None:
            cancel_all_at.append(clock.monotonic())
            super().cancel_all_orders()

    client.order_groups = Unanswered(client.connection)
    client.orders = Watched(client.connection)
    said: list[str] = []
    report = KillSwitch(client, store, clock, deadline_s=60.0, read_lag_s=0.0).run(
        on_progress=said.append
    )

    assert len(triggers) > 1 and set(triggers) == {group}, "retried within its share"
    assert report.order_groups_triggered == [] and f"order group {group} not triggered" in said
    assert report.exchange_cancel_all
    assert cancel_all_at and cancel_all_at[0] <= GROUP_STEP_SHARE * 60.0
    assert client.orders.get_order(in_group).status == "canceled"
    assert client.orders.get_order(outside).status == "canceled"
    assert report.proven


def test_the_newest_group_is_triggered_first_when_the_share_cannot_take_them_all(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str
) -> None:
    """Thirty groups listed, the oldest first (each an earlier session's that ended without
    deleting its own: a crash, `--once`), each trigger answered after a second: the share
    takes about a dozen. The newest, the group of a loop that may still be running, is
    triggered first, and the exchange's cancel-all follows within the share. Oldest first, the
    running loop's group was the last one reached."""
    groups = [client.order_groups.create_order_group(Decimal(100)) for _ in range(30)]
    for group in groups:
        remember_order_group(store, group)
    running = groups[-1]
    quote = client.orders.create_order(_bid(ticker, running)).order_id
    clock = ManualClock()
    cancel_all_at: list[float] = []

    class Slow(OrderGroupsApi):
        def trigger_order_group(
            self, order_group_id: str, *, subaccount: int | None = None
        ) -> None:
            clock.advance(1.0)
            super().trigger_order_group(order_group_id, subaccount=subaccount)

    class Watched(OrdersApi):
        def cancel_all_orders(self) -> None:
            cancel_all_at.append(clock.monotonic())
            super().cancel_all_orders()

    client.order_groups = Slow(client.connection)
    client.orders = Watched(client.connection)
    report = KillSwitch(client, store, clock, deadline_s=60.0, read_lag_s=0.0).run()

    assert report.order_groups_triggered[0] == running
    assert len(report.order_groups_triggered) < len(groups)
    assert _refused(client, ticker, running) == "order_group_triggered"
    assert cancel_all_at and cancel_all_at[0] <= GROUP_STEP_SHARE * 60.0
    assert client.orders.get_order(quote).status == "canceled"
    assert report.proven
    assert session_order_groups(store) == groups  # the list keeps its order

"""Order groups in the exchange core (sim/core/order_groups.py): the rolling 15 s contracts limit,
trigger, reset, a new limit, delete, who may use a group, and the journal."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import (
    ExchangeError,
    OrderGroupChanged,
    SimEvent,
    SimNotice,
    SimSeries,
)
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import STANDARD_FEES
from tests.runner.fakes import place_on_desk
from tests.sim.test_core import ASK, BID, IOC, Env, market, refused


def groups_env(limit: str = "5") -> tuple[Env, str]:
    env = Env()
    group = env.ex.groups.create_order_group(env.a, D(limit)).order_group_id
    return env, group


def test_the_limit_hit_cancels_the_groups_resting_orders_and_refuses_new_ones() -> None:
    env, group = groups_env("5")
    first = env.place(env.a, BID, "0.40", 3, order_group_id=group).order
    second = env.place(env.a, BID, "0.30", 10, order_group_id=group).order
    outside = env.place(env.a, BID, "0.20", 4).order  # not in the group: untouched
    env.place(env.b, ASK, "0.30", 5)  # takes 3 at 0.40 and 2 at 0.30: 5 matched, the limit

    assert env.ex.history.order(env.a, first.order_id).status == "executed"
    cut = env.ex.history.order(env.a, second.order_id)
    assert (cut.status, cut.fill_count, cut.remaining_count) == ("canceled", D(2), D(0))
    assert env.ex.history.order(env.a, outside.order_id).status == "resting"
    assert env.ex.groups.order_group(env.a, group).triggered
    assert env.ex.accounts.held_dollars(env.a) == D(
        "0.80"
    )  # only the order outside the group holds
    refused(
        env,
        409,
        "order_group_triggered",
        lambda: env.place(env.a, BID, "0.10", 1, order_group_id=group),
    )


def test_below_the_limit_nothing_is_cancelled() -> None:
    env, group = groups_env("5")
    order = env.place(env.a, BID, "0.40", 10, order_group_id=group).order
    env.place(env.b, ASK, "0.40", 4)
    assert env.ex.history.order(env.a, order.order_id).status == "resting"
    assert not env.ex.groups.order_group(env.a, group).triggered


def test_the_window_rolls_over_15_seconds() -> None:
    env, group = groups_env("5")
    order = env.place(env.a, BID, "0.40", 20, order_group_id=group).order
    env.place(env.b, ASK, "0.40", 3)
    env.clock.advance(15)  # the first 3 leave the window
    env.place(env.b, ASK, "0.40", 3)
    assert env.ex.history.order(env.a, order.order_id).status == "resting"
    env.clock.advance(14)  # the second 3 are still in it
    env.place(env.b, ASK, "0.40", 2)
    assert env.ex.history.order(env.a, order.order_id).status == "canceled"
    assert env.ex.groups.order_group(env.a, group).triggered


def test_a_taker_order_of_the_group_that_hits_the_limit_does_not_rest_its_remainder() -> None:
    env, group = groups_env("2")
    env.place(env.b, ASK, "0.50", 2)
    taker = env.place(env.a, BID, "0.50", 5, order_group_id=group).order
    assert taker.fill_count == D(2)
    after = env.ex.history.order(env.a, taker.order_id)
    assert (after.status, after.remaining_count) == ("canceled", D(0))
    assert env.ex.engine.book("M") == ([], [])


def test_trigger_cancels_every_resting_order_of_the_group_across_markets() -> None:
    env, group = groups_env("100")
    env.ex.add_market(market("M2"))
    one = env.place(env.a, BID, "0.40", 3, order_group_id=group).order
    two = env.place(env.a, ASK, "0.60", 3, ticker="M2", order_group_id=group).order
    env.ex.groups.trigger_order_group(env.a, group)
    assert env.ex.history.order(env.a, one.order_id).status == "canceled"
    assert env.ex.history.order(env.a, two.order_id).status == "canceled"
    assert env.ex.accounts.held_dollars(env.a) == 0
    with pytest.raises(ExchangeError) as info:
        env.place(env.a, BID, "0.40", 1, order_group_id=group)
    assert info.value.code == "order_group_triggered"


def test_reset_lets_orders_in_again_with_the_count_at_zero() -> None:
    env, group = groups_env("5")
    env.place(env.a, BID, "0.40", 5, order_group_id=group)
    env.place(env.b, ASK, "0.40", 5)
    assert env.ex.groups.order_group(env.a, group).triggered
    env.ex.groups.reset_order_group(env.a, group)
    order = env.place(env.a, BID, "0.40", 10, order_group_id=group).order
    env.place(env.b, ASK, "0.40", 4)  # 4 < 5: the 5 before the reset no longer count
    assert env.ex.history.order(env.a, order.order_id).status == "resting"
    env.place(env.b, ASK, "0.40", 1)
    assert env.ex.history.order(env.a, order.order_id).status == "canceled"


def test_a_lower_limit_the_count_already_reaches_triggers_at_once() -> None:
    env, group = groups_env("10")
    order = env.place(env.a, BID, "0.40", 10, order_group_id=group).order
    env.place(env.b, ASK, "0.40", 4)
    env.ex.groups.set_order_group_limit(env.a, group, D(5))
    assert env.ex.history.order(env.a, order.order_id).status == "resting"
    env.ex.groups.set_order_group_limit(env.a, group, D(4))
    assert env.ex.history.order(env.a, order.order_id).status == "canceled"
    assert env.ex.groups.order_group(env.a, group).contracts_limit == D(4)


def test_delete_cancels_the_groups_orders_and_forgets_the_group() -> None:
    env, group = groups_env("10")
    order = env.place(env.a, BID, "0.40", 10, order_group_id=group).order
    env.ex.groups.delete_order_group(env.a, group)
    assert env.ex.history.order(env.a, order.order_id).status == "canceled"
    assert env.ex.groups.order_groups(env.a) == []
    refused(
        env,
        400,
        "invalid_order_group",
        lambda: env.place(env.a, BID, "0.40", 1, order_group_id=group),
    )


def test_another_accounts_group_is_unknown() -> None:
    env, group = groups_env("10")
    refused(
        env,
        400,
        "invalid_order_group",
        lambda: env.place(env.b, BID, "0.40", 1, order_group_id=group),
    )
    refused(
        env,
        400,
        "invalid_order_group",
        lambda: env.place(env.a, BID, "0.40", 1, order_group_id="nope"),
    )
    for call in (
        lambda: env.ex.groups.order_group(env.b, group),
        lambda: env.ex.groups.trigger_order_group(env.b, group),
        lambda: env.ex.groups.reset_order_group(env.b, group),
        lambda: env.ex.groups.delete_order_group(env.b, group),
        lambda: env.ex.groups.set_order_group_limit(env.b, group, D(1)),
    ):
        with pytest.raises(ExchangeError) as info:
            call()
        assert (info.value.status, info.value.code) == (404, "not_found")
    assert env.ex.groups.order_groups(env.b) == []
    assert not env.ex.groups.order_group(env.a, group).triggered


def test_a_limit_below_one_is_refused() -> None:
    env = Env()
    for limit in ("0", "-1"):
        with pytest.raises(ExchangeError) as info:
            env.ex.groups.create_order_group(env.a, D(limit))
        assert info.value.status == 400


def test_group_changes_are_reported_in_order() -> None:
    env = Env()
    seen: list[SimNotice] = []
    env.ex.reference.add_listener(seen.append)
    group = env.ex.groups.create_order_group(env.a, D(3)).order_group_id
    env.place(env.a, BID, "0.40", 3, order_group_id=group)
    env.place(env.b, ASK, "0.40", 3, tif=IOC)
    env.ex.groups.reset_order_group(env.a, group)
    env.ex.groups.set_order_group_limit(env.a, group, D(7))
    env.ex.groups.delete_order_group(env.a, group)
    events = [(e.event_type, e.contracts_limit) for e in seen if isinstance(e, OrderGroupChanged)]
    assert events == [
        ("created", D(3)),
        ("triggered", None),
        ("reset", None),
        ("limit_updated", D(7)),
        ("deleted", None),
    ]


@pytest.fixture
def closing() -> Iterator[list[Exchange]]:
    built: list[Exchange] = []
    yield built
    for ex in built:
        ex.close()


def test_groups_survive_a_restart_from_the_journal(tmp_path: Path, closing: list[Exchange]) -> None:
    journal = tmp_path / "exchange.jsonl"
    clock = ManualClock()
    ex = Exchange(clock, fees=STANDARD_FEES, journal=journal)
    closing.append(ex)
    ex.reference.add_series(SimSeries("SER", "series"))
    ex.reference.add_event(SimEvent("EV", "SER", "event"))
    ex.add_market(market("M"))
    a = ex.accounts.create_account(key_id="a", public_key_pem="", cash_cents=100_00).account_id
    b = ex.accounts.create_account(key_id="b", public_key_pem="", cash_cents=100_00).account_id

    def place(acct: str, side: BookSide, price: str, count: int, group: str | None = None) -> str:
        return place_on_desk(ex, acct, "M", side, price, count, order_group_id=group).order.order_id

    limited = ex.groups.create_order_group(a, D(2)).order_group_id
    kept = ex.groups.create_order_group(a, D(50)).order_group_id
    place(a, BID, "0.40", 5, limited)
    place(b, ASK, "0.40", 2)  # triggers `limited` (not journaled of its own)
    resting = place(a, BID, "0.30", 5, kept)
    ex.groups.set_order_group_limit(a, kept, D(40))
    gone = ex.groups.create_order_group(a, D(1)).order_group_id
    ex.groups.delete_order_group(a, gone)
    clock.advance(20)

    again = Exchange(ManualClock(start=clock.wall() + 100), fees=STANDARD_FEES, journal=journal)
    closing.append(again)
    assert again.restored
    assert again.groups.order_group(a, limited).triggered
    assert again.groups.order_group(a, kept).contracts_limit == D(40)
    assert again.history.order(a, resting).order_group_id == kept
    assert [g.order_group_id for g in again.groups.order_groups(a)] == [limited, kept]
    assert again.groups.order_group(a, kept).order_ids == [resting]
    assert [o.status for o in again.history.orders(a)] == [o.status for o in ex.history.orders(a)]


def test_a_user_holds_at_most_100000_groups_at_a_time() -> None:
    """CreateOrderGroup: "Users can have up to 100,000 order groups at a time." The groups of a
    user's subaccounts count towards the user's; a deleted group frees its place; another
    user's groups do not count."""
    env = Env()
    one = env.ex.subaccounts.subaccount_ledger(env.a, env.ex.subaccounts.create_subaccount(env.a))
    made = [env.ex.groups.create_order_group(one, D(5)).order_group_id]
    made += [env.ex.groups.create_order_group(env.a, D(5)).order_group_id for _ in range(99_999)]
    refused(
        env, 400, "too_many_order_groups", lambda: env.ex.groups.create_order_group(env.a, D(5))
    )
    refused(env, 400, "too_many_order_groups", lambda: env.ex.groups.create_order_group(one, D(5)))
    env.ex.groups.create_order_group(env.b, D(5))  # another user's count is its own
    env.ex.groups.delete_order_group(one, made[0])
    env.ex.groups.create_order_group(env.a, D(5))  # the deleted group's place is free again
    refused(
        env, 400, "too_many_order_groups", lambda: env.ex.groups.create_order_group(env.a, D(5))
    )

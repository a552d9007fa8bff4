"""A set of legs left broken (one leg held without the others: its sale back found no bid, filled
short or was refused) is an unhedged position: `kalshi check orders` is CRITICAL while the state
file holds one, names it leg by leg, alerts (runbooks/07-unknown-orders.md), and clears once the
set is whole or flat."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.alerts.model import Outcome, Severity
from kalshi_cli.alerts.router import AlertRouter
from kalshi_cli.checks import CheckStatus, dispatch, format_nagios
from kalshi_cli.checks.local import LocalView, check_orders
from kalshi_cli.checks.thresholds import resolve
from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.store.leg_sets import SetLeg, set_tag
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.checks.test_checks_format import RecordingChannel
from tests.fakes import FakeAlertStateStore

DEFAULTS = resolve(None)
A, B = "KXEVT-26-A", "KXEVT-26-B"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Iterator[Store]:
    with Store.open(tmp_path / "state.db", clock=clock) as s:
        yield s


def _set_with_one_leg_filled(
    store: Store, set_id: str = "set-1", side: Side = Side.YES, count: int = 5
) -> None:
    """A set of two legs of `count` whose first filled whole and whose second never went."""
    price_a, price_b = (Decimal("0.40"), Decimal("0.50")) if side is Side.YES else (
        Decimal("0.30"), Decimal("0.60"))  # fmt: skip
    legs = [SetLeg(A, side, price_a, Decimal(count)), SetLeg(B, side, price_b, Decimal(count))]
    store.leg_sets.begin(set_id, "arbitrage", legs, 0)
    store.orders.record_intent(
        IntentRecord(
            client_order_id=f"{set_id}-leg",
            ticker=A,
            book_side=BookSide.BID if side is Side.YES else BookSide.ASK,
            price=price_a,
            count=Decimal(count),
            side=side,
            action=Action.BUY,
            strategy="arbitrage",
            reason=f"arbitrage {set_tag(set_id)}",
        )
    )
    store.orders.mark_sent(
        f"{set_id}-leg", order_id=f"{set_id}-ord", status="executed", fill_count=Decimal(count),
        remaining_count=Decimal(0),
    )  # fmt: skip


def test_a_set_left_broken_is_critical_named_and_alerted_until_it_ends(
    store: Store, clock: ManualClock
) -> None:
    channel = RecordingChannel()
    router = AlertRouter({"rec": channel}, {sev: ["rec"] for sev in Severity}, clock=clock)
    alerts = FakeAlertStateStore(clock)
    view = LocalView(store, Path("state.db"), clock.wall())

    _set_with_one_leg_filled(store)
    # on its way (a live loop on its subaccount is sending its legs): not yet a problem
    store.entries.heartbeat(source="trade", detail={"subaccount": 0})
    assert check_orders(view, DEFAULTS).status is CheckStatus.OK
    store.leg_sets.mark("set-1", "broken")
    result = check_orders(view, DEFAULTS)
    assert result.status is CheckStatus.CRITICAL
    assert result.exit_code == 2
    line = format_nagios(result)
    assert "1 set(s) of legs left broken" in line
    assert f"set set-1 (arbitrage, broken, subaccount 0): {A} yes 5 of 5, {B} yes 0 of 5" in line
    assert "'broken_sets'=1;;1;0" in line  # CRITICAL at one set, never below none
    assert dispatch(result, router, alerts).outcome is Outcome.SENT
    assert channel.sent[-1].runbook == "runbooks/07-unknown-orders.md"

    store.leg_sets.mark("set-1", "flat")  # sold back since
    cleared = check_orders(view, DEFAULTS)
    assert cleared.status is CheckStatus.OK
    assert "'broken_sets'=0;;1;0" in format_nagios(cleared)
    assert dispatch(cleared, router, alerts).outcome is Outcome.RESOLVED


def test_each_set_left_broken_is_named_apart(store: Store, clock: ManualClock) -> None:
    _set_with_one_leg_filled(store)
    store.leg_sets.mark("set-1", "broken")
    _set_with_one_leg_filled(store, "set-2", Side.NO, 2)
    store.leg_sets.mark("set-2", "broken")
    result = check_orders(LocalView(store, Path("state.db"), clock.wall()), DEFAULTS)
    assert result.status is CheckStatus.CRITICAL
    assert result.summary == (
        "2 set(s) of legs left broken, a leg held without the others: "
        f"set set-1 (arbitrage, broken, subaccount 0): {A} yes 5 of 5, {B} yes 0 of 5; "
        f"set set-2 (arbitrage, broken, subaccount 0): {A} no 2 of 2, {B} no 0 of 2"
    )
    assert "'broken_sets'=2;;1;0" in format_nagios(result)

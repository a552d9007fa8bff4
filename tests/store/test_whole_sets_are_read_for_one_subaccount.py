"""The whole sets of legs a start reads for the stop-loss (store/leg_sets.py `whole`) are those of
the loop's own subaccount: a state file is shared by loops on several subaccounts, and a set one
of them made whole holds nothing of another's book. Read for every subaccount, the set counted
as whole on a subaccount that holds the same legs by other orders, so that subaccount's
stop-loss left them alone (runner/execution/whole_sets.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.runner.execution.whole_sets import WholeSets
from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.store.leg_sets import SetLeg, set_tag
from kalshi_cli.vocabulary.units import Action, BookSide, Side

A, B = "KXLEGS-26JAN01-A", "KXLEGS-26JAN01-B"


def _whole_set_on_subaccount_1(store: Store) -> None:
    """NO 5 in A and B at $0.45 ($0.90 for at least $1.00), each leg filled on subaccount 1."""
    legs = [SetLeg(t, Side.NO, Decimal("0.45"), Decimal(5)) for t in (A, B)]
    store.leg_sets.begin("s1", "arbitrage", legs, 1)
    for ticker in (A, B):
        store.orders.record_intent(
            IntentRecord(
                client_order_id=f"leg-{ticker}",
                ticker=ticker,
                book_side=BookSide.ASK,
                price=Decimal("0.55"),
                count=Decimal(5),
                side=Side.NO,
                action=Action.BUY,
                reason=f"arbitrage: one NO in every market {set_tag('s1')}",
                subaccount=1,
            )
        )
        store.orders.mark_sent(
            f"leg-{ticker}",
            order_id=f"o-{ticker}",
            status="executed",
            fill_count=Decimal(5),
            remaining_count=Decimal(0),
        )
    store.leg_sets.mark("s1", "whole")


def test_a_whole_set_of_another_subaccount_leaves_nothing_hedged(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        _whole_set_on_subaccount_1(store)
        # the primary holds NO 5 in A and B too, by orders of its own
        held = {A: Decimal(-5), B: Decimal(-5)}
        on_primary = WholeSets(store.leg_sets.whole(subaccount=0))
        assert [on_primary.hedged(t, held.__getitem__) for t in (A, B)] == [0, 0]
        on_its_own = WholeSets(store.leg_sets.whole(subaccount=1))
        assert [on_its_own.hedged(t, held.__getitem__) for t in (A, B)] == [5, 5]

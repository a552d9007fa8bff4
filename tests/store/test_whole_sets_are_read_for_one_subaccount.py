"""The whole sets of legs a start reads for the stop-loss (store/leg_sets.py `whole`) are those of
the loop's own subaccount: a state file is shared by loops on several subaccounts, and a set one
of them made whole holds nothing of another's book. Read for every subaccount, the set counted
as whole on a subaccount that holds the same legs by other orders, so that subaccount's
stop-loss left them alone (runner/execution/whole_sets.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.runner.execution.whole_sets import WholeSets
from kalshi_cli.store import Store
from tests.store.leg_set_orders import A, B, set_of_no_legs


def test_a_whole_set_of_another_subaccount_leaves_nothing_hedged(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        set_of_no_legs(store, "s1", no_price="0.45", filled=(A, B), subaccount=1, ended="whole")
        # the primary holds NO 5 in A and B too, by orders of its own
        held = {A: Decimal(-5), B: Decimal(-5)}
        on_primary = WholeSets(store.leg_sets.whole(subaccount=0))
        assert [on_primary.hedged(t, held.__getitem__) for t in (A, B)] == [0, 0]
        on_its_own = WholeSets(store.leg_sets.whole(subaccount=1))
        assert [on_its_own.hedged(t, held.__getitem__) for t in (A, B)] == [5, 5]


def test_a_sets_orders_count_to_it_whatever_the_strategys_reason_says(tmp_path: Path) -> None:
    """The set an order is of is the tag its reason ends with: a strategy's own words before it
    that read like a tag ("(set of two)") take nothing from the set, so it is still whole."""
    with Store.open(tmp_path / "state.db") as store:
        set_of_no_legs(
            store,
            "s1",
            no_price="0.45",
            filled=(A, B),
            subaccount=0,
            ended="whole",
            reason="arbitrage: one NO in every market (set of two)",
        )
        ((legs, count),) = store.leg_sets.whole(subaccount=0)
        assert ([g.ticker for g in legs], count) == ([A, B], 5)
        held = {A: Decimal(-5), B: Decimal(-5)}
        assert WholeSets(store.leg_sets.whole(subaccount=0)).hedged(A, held.__getitem__) == 5

"""A set of legs found at start with a leg in a market that no longer trades (closed, its
result determined or still to come) never sells into it: the leg is held to its settlement
(`group_held_to_settlement`, naming it), the legs still trading are unwound as any broken set's,
and the set stays held to its settlement, said so at the stop (no exit 11), until the market
settles; then it ends by the rule of a leg settled since (flat here). `closed` is the state
here, where trading has ended and no result is known; the loop treats a closed, determined or
settled market alike (runner/loop/gate.py `closed`). A determined market, whose result makes
another leg sure of what it pays: tests/runner/test_a_set_sells_no_leg_sure_to_pay_more_sim.py."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.checks import CheckStatus
from kalshi_cli.checks.local import LocalView, check_orders
from kalshi_cli.checks.thresholds import resolve
from kalshi_cli.runner.lifecycle.session import _summary
from kalshi_cli.services.reconcile import reconcile
from kalshi_cli.store import Store
from tests.conftest import SimHarness
from tests.runner.sim_rig import Rig, rig
from tests.runner.simproc import client_for
from tests.runner.test_leg_sets_under_faults_sim import (
    TICKERS,
    A,
    B,
    C,
    Killed,
    _amounts,
    _done,
    _held,
    _kill_between_legs,
    _never_twice,
    _sales,
    _send_set,
    _set_rig,
    _ticking,
    _until_done,
)
from tests.waiting import poll_until

HELD_IN_A = {f"{A} no": 5, f"{B} no": 0, f"{C} no": 0}


def _killed_before_c_then_a_closed(sim: SimHarness, tmp_path: Path) -> Any:
    """A set killed after A and B filled (NO 5 each) and before C left; A's market then
    closes, and the start's reconcile runs, as `kalshi trade` runs it. The account traded."""
    with _set_rig(sim, tmp_path, {C: {}}) as (r, transport):
        _kill_between_legs(transport)
        with pytest.raises(Killed):
            _send_set(r)
        account = r.account
    assert account is not None
    sim.set_status(A, "closed")
    with client_for(account) as reader, Store.open(tmp_path / "state.db") as store:
        reconcile(reader, store)
    return account


def _nothing_sent_into_a(r: Rig) -> None:
    assert [s for s in _sales(r) if s[0] == A] == []
    assert r.events("order_rejected") == []


def _recorded_as_held_to_settlement(r: Rig, legs: frozenset[int] = frozenset({0})) -> None:
    """The set's row says its `legs` (A, its first, by default) are held to their settlement,
    so `kalshi check orders` says the set and does not call them legs to sell by hand
    (CRITICAL): the loop does not mean to sell them, and A's market takes no sale."""
    assert [s.settling for s in r.store.leg_sets.unfinished(0)] == [legs]
    view = LocalView(r.store, Path("state.db"), time.time())
    result = check_orders(view, resolve(None))
    assert result.status is CheckStatus.OK, result.summary
    assert "1 set(s) of legs holding a leg to its settlement" in result.summary


def test_a_market_closed_at_the_start_is_closed_to_the_loop_before_its_first_tick(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Closed from the start's listing, not only once the lifecycle subscription's first grant
    has the markets read again: before, a set's sale back could go into it in between."""
    account = _killed_before_c_then_a_closed(sim, tmp_path)
    with rig(sim, tmp_path, TICKERS, strategy="arbitrage", params={}, trader=account) as again:
        assert again.loop.gate.closed == {A}
        (closed,) = again.events("market_closed")
        assert (closed["ticker"], closed["status"]) == (A, "closed")


@pytest.mark.slow
def test_a_leg_in_a_closed_market_is_held_to_settlement_and_the_set_ends_when_it_settles(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The next loop sells B back (it trades) and holds A's NO 5 to its settlement: the set is
    broken, its lines naming NO 5 held in A. A settles while the loop runs: the set ends flat,
    no sale ever sent into A, and the stop leaves nothing broken. Before, A's sale back went to
    the exchange, was refused (market closed) and read as filled short, at every stop too."""
    account = _killed_before_c_then_a_closed(sim, tmp_path)
    with rig(sim, tmp_path, TICKERS, strategy="arbitrage", params={}, trader=account) as again:
        first = _until_done(again)
        assert first["status"] == "broken", first
        assert _amounts(first["held"]) == HELD_IN_A
        (kept,) = again.events("group_held_to_settlement")
        assert (kept["ticker"], Decimal(str(kept["count"]))) == (A, 5)
        assert kept["set"] == first["set"]  # the line names the set whose leg is held
        assert _amounts(kept["held"]) == {f"{A} no": 5, f"{B} no": 5, f"{C} no": 0}
        assert _sales(again) == [(B, 5, 5)]
        _nothing_sent_into_a(again)
        assert _held(again) == {A: 5, B: 0, C: 0}
        _recorded_as_held_to_settlement(again)

        sim.settle(A, "no")
        assert poll_until(
            lambda: len(_done(again)) == 2, between=lambda: _ticking(again), within_s=60
        )
        ended = _done(again)[1]
        assert ended["status"] == "flat", ended
        assert again.loop.stop.shutdown(cancel_resting=True).broken_sets == ()
        _nothing_sent_into_a(again)
        assert again.store.leg_sets.unfinished(0) == []
        _never_twice(again)


@pytest.mark.slow
def test_a_stop_before_the_closed_leg_settles_leaves_the_set_held_and_sells_nothing_there(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Stopped before A settles: the stop sends nothing into A and leaves the set held to its
    settlement naming NO 5 held in A, by design: said as held, not broken, and the stop is not
    NOT_PROVEN for it (exit 11 is for a leg a trader must act on)."""
    account = _killed_before_c_then_a_closed(sim, tmp_path)
    with rig(sim, tmp_path, TICKERS, strategy="arbitrage", params={}, trader=account) as again:
        assert _until_done(again)["status"] == "broken"
        summary = again.loop.stop.shutdown(cancel_resting=True)
        assert again.events("group_left_broken") == []
        (left,) = again.events("group_left_held")
        assert (summary.broken_sets, summary.sets_held) == ((), (left["set"],))
        assert _amounts(left["held"]) == HELD_IN_A
        assert _summary(summary, None) is summary
        assert any(line.startswith("HELD SETS") for line in summary.lines())
        _nothing_sent_into_a(again)
        assert [s.status for s in again.store.leg_sets.unfinished(0)] == ["broken"]
        _recorded_as_held_to_settlement(again)

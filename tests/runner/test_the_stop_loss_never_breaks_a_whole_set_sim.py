"""A whole set is hedged: whatever the event's outcome it pays what it cost and its edge, so a
leg's bid falling under the stop-loss floor is no loss to stop. The stop-loss sold that leg into
the bids, at a loss, and left the other legs unhedged, while the set's row and its log still
said `whole` (runner/execution/whole_sets.py, runner/loop/turn_views.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.runner.execution.whole_sets import WholeSets
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.runner.test_leg_sets_under_faults_sim import (
    TICKERS,
    A,
    B,
    _held,
    _no,
    _send_set,
    _set_rig,
    _ticking,
    _until_done,
)
from tests.waiting import poll_until


@pytest.mark.slow
def test_a_leg_of_a_whole_set_under_the_stop_loss_floor_is_not_sold(
    sim: SimHarness, tmp_path: Path
) -> None:
    """NO 5 bought in each of A, B and C at $0.60 (whole); A's YES ask then rises to $0.85, so
    A's NO bids $0.15, far under half its cost. The loop ticks on: nothing of the set is sold,
    it holds NO 5 in each market and its row still says whole, which is now true."""
    with _set_rig(sim, tmp_path, {}, risk={"stop_loss_share": "0.5"}) as (r, _):
        _send_set(r)
        assert _until_done(r)["status"] == "whole"
        r.books[A].set("ask", BookSide.ASK, "0.85")
        assert poll_until(
            lambda: (
                (book := r.feed.book(A)) is not None
                and bool(book.no_bids)
                and book.no_bids[0].price == Decimal("0.15")
            ),
            between=lambda: _ticking(r),
            within_s=30,
        )
        for _ in range(20):
            _ticking(r)
        assert r.events("stop_loss") == []
        assert _held(r) == dict.fromkeys(TICKERS, Decimal(5))
        assert r.store.leg_sets.unfinished(0) == []
        # a start on this state file reads the same whole set, so a restart keeps it too
        found = WholeSets(r.store.leg_sets.whole(r.client.subaccount or 0))
        assert found.hedged(A, r.loop.portfolio.position) == 5


@pytest.mark.slow
def test_a_whole_set_that_can_settle_under_its_cost_is_stopped_as_any_position(
    sim: SimHarness, tmp_path: Path
) -> None:
    """NO 5 bought in A and B alone at $0.60 ($1.20 a set, which pays $1.00 when A or B wins):
    whole, but no hedge. A's NO then bids $0.15, far under half its cost: the stop-loss sells it,
    as it would any position."""
    with _set_rig(sim, tmp_path, {}, risk={"stop_loss_share": "0.5"}) as (r, _):
        r.loop.legs.execute([_no(t) for t in (A, B)], last_data_at=r.loop.clock.wall())
        assert _until_done(r)["status"] == "whole"
        r.books[A].set("ask", BookSide.ASK, "0.85")
        assert poll_until(
            lambda: any(e.get("ticker") == A for e in r.events("stop_loss")),
            between=lambda: _ticking(r),
            within_s=30,
        )

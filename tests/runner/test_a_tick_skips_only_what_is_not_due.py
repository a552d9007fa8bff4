"""A tick's step that can have nothing to do is skipped by its own rule ("nothing before my next
time"), and each rule still lets through what is due: a held market's stop-loss with no news
and no sweep, a maintenance window's lead beginning with no new read, windows or a lead that
changed since the last look, a fill told before the timed read, the timed fill read itself. On
the fakes, with a ManualClock, ticks driven by the feed (not full passes) unless said.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace as struct_replace

from kalshi_cli.risk.engine import MaintenanceWindows
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.runner.fakes import START, FakeClient, Rig, make_rig, new_exchange, place_on_desk, trader

T60 = "KXHIGHNY-SIM-D1-T60"  # quiet scenario: YES bid 0.452 x 50, YES ask 0.469 x 50


def _feed_tick(rig: Rig, seconds: float) -> None:
    """A tick the feed drives: no full pass, so no sweep begins."""
    rig.clock.advance(seconds)
    rig.client.deliver_held()
    rig.exchange.tick()
    rig.loop.tick(rig.feed.drain_messages(), full=False)


def _place(rig: Rig, price: str, count: str, tif: TimeInForce) -> None:
    place_on_desk(
        rig.exchange, rig.client.account_id, T60, BookSide.BID, price, count, time_in_force=tif
    )


def _closes(rig: Rig) -> list[object]:
    return [r for r in rig.client.requests if r.ticker == T60 and r.reduce_only]


def test_a_held_market_without_news_gets_its_stop_loss_retry_on_a_tick_with_no_sweep(
    tmp_path: Path,
) -> None:
    """No market has news and no sweep is under way, but a held market's stop-loss waits for
    its retry: the markets' turns are not skipped, and the close goes out again."""
    clock = ManualClock(START)
    exchange = new_exchange("quiet", clock)
    rig = make_rig(tmp_path / "s.db", exchange=exchange, clock=clock, account_id=trader(exchange))
    rig.step(0.1)
    _place(rig, "0.469", "10", TimeInForce.IOC)  # long 10 YES
    _place(rig, "0.46", "5", TimeInForce.GTC)  # the best bid is the trader's own: no close fills
    rig.step(0.1)
    assert rig.loop.portfolio.position(T60) == 10
    risk = rig.loop.questions.risk
    risk.limits = struct_replace(risk.limits, stop_loss_share=Decimal("0.99"))
    rig.step(0.01)  # a full pass: the first close, which self-trade prevention kills
    assert len(_closes(rig)) == 1
    _feed_tick(rig, 0.01)
    assert not rig.loop.turns.schedule.pending, "no news, no sweep: only the held market is due"
    _feed_tick(rig, rig.loop.settings.stop_loss_retry_s)
    assert len(_closes(rig)) == 2, "the retry went out with no news and no sweep"


def _windows(rig: Rig) -> MaintenanceWindows:
    windows: MaintenanceWindows = rig.loop.questions.risk.maintenance
    return windows


def test_a_window_read_after_a_look_that_found_none_holds_from_the_next_tick(
    tmp_path: Path,
) -> None:
    rig = make_rig(tmp_path / "s.db")
    rig.step(0.1)
    _feed_tick(rig, 0.1)  # a look with no window: none can begin while none is known
    assert rig.loop.gate.maintenance is None
    now = rig.clock.wall()
    _windows(rig).set([(now + 1.0, now + 60.0)])  # its lead (60 s by default) has begun
    _feed_tick(rig, 0.1)
    assert rig.loop.gate.maintenance == (now + 1.0, now + 60.0)
    assert rig.loop.watch.blocked_by == "maintenance"


def test_a_window_lead_beginning_and_its_end_are_seen_with_no_new_read(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db")
    lead = rig.loop.questions.risk.limits.maintenance_lead_s
    rig.step(0.1)
    start = rig.clock.wall() + lead + 10.0
    _windows(rig).set([(start, start + 5.0)])
    _feed_tick(rig, 0.1)
    assert rig.loop.gate.maintenance is None, "its lead begins in about 10 s"
    _feed_tick(rig, start - lead - rig.clock.wall())  # exactly when the lead begins
    assert rig.loop.gate.maintenance == (start, start + 5.0)
    _feed_tick(rig, start + 5.0 - rig.clock.wall())  # exactly when the window ends
    assert rig.loop.gate.maintenance is None
    assert rig.loop.log.counts["maintenance_over"] == 1


def test_a_longer_lead_counts_from_the_next_tick(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db")
    risk = rig.loop.questions.risk
    rig.step(0.1)
    start = rig.clock.wall() + risk.limits.maintenance_lead_s + 10.0
    _windows(rig).set([(start, start + 5.0)])
    _feed_tick(rig, 0.1)
    assert rig.loop.gate.maintenance is None
    risk.limits = struct_replace(risk.limits, maintenance_lead_s=risk.limits.maintenance_lead_s * 2)
    _feed_tick(rig, 0.1)
    assert rig.loop.gate.maintenance == (start, start + 5.0)


def test_the_next_change_of_the_windows_is_a_lead_beginning_or_a_window_ending() -> None:
    windows = MaintenanceWindows()
    assert windows.next_change(0.0, 10.0) == float("inf")
    windows.set([(100.0, 200.0), (500.0, 600.0)])
    assert windows.next_change(0.0, 10.0) == 90.0
    assert windows.next_change(90.0, 10.0) == 200.0  # inside the first window's lead
    assert windows.next_change(200.0, 10.0) == 490.0
    assert windows.next_change(600.0, 10.0) == float("inf")


def _count_fill_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each fill read the loop makes (on any subaccount's handle), counted."""
    reads: list[int] = []
    read = FakeClient.iter_fills

    def counted(self: FakeClient, **kw: Any) -> Iterator[Any]:
        reads.append(1)
        return read(self, **kw)

    monkeypatch.setattr(FakeClient, "iter_fills", counted)
    return reads


def test_a_fill_told_is_read_at_the_next_tick_before_the_timed_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = make_rig(tmp_path / "s.db")
    rig.step(0.1)
    reads = _count_fill_reads(monkeypatch)
    _feed_tick(rig, 0.01)
    assert reads == [], "nothing due: no read"
    rig.loop.executor.fills_due = True
    _feed_tick(rig, 0.01)
    assert len(reads) == 1


def test_the_timed_fill_read_is_made_when_its_time_comes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = make_rig(tmp_path / "s.db")
    rig.step(0.1)
    _feed_tick(rig, rig.loop.settings.fill_poll_s)
    reads = _count_fill_reads(monkeypatch)
    _feed_tick(rig, rig.loop.settings.fill_poll_s - 0.1)
    assert reads == []
    _feed_tick(rig, 0.1)
    assert len(reads) == 1

"""A replacement that cannot be amended goes as the cancels of the orders it replaces, then a new
order once they are answered; with send workers that answer may come seconds later. If the loop
withdrew the market's quotes meanwhile (its book went stale, trading was paused, its strategy
was stopped for the day), the replacement must not go out after all: it would place a fresh
quote where the loop has just withdrawn them. A halt is refused where the intent is recorded.
On the fakes, with a ManualClock; the cancels are held on their send workers until the test
lets them go."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.client.requests import CancelResult
from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.risk.state import halt
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce
from tests.runner.fakes import Rig, quiet_market_maker, swap_decide
from tests.runner.simproc import log_events
from tests.waiting import pause, poll_until

# the quiet scenario's books stand still: HOLD's YES bid 0.60 and ask 0.62, CUT's 0.33 and 0.35
HOLD = "KXFEDDECISION-SIM-DEC-H0"
CUT = "KXFEDDECISION-SIM-DEC-C25"
STALE_AFTER_S = 10.0
RISK = {"max_orders_per_minute": 1000, "min_edge": "0", "stale_after_s": STALE_AFTER_S}

BID = Intent(HOLD, Side.YES, Action.BUY, Decimal("0.55"), Decimal(5), Decimal("0.90"), "test")
# the requote: a NO bid (a YES ask at 0.70) in place of the YES bid. A side changed cannot be
# amended in place (`Amends.amendable`), so it goes as a cancel, then a new order
NO_BID = Intent(HOLD, Side.NO, Action.BUY, Decimal("0.30"), Decimal(5), Decimal("0.45"), "test")


class HeldCancels:
    """The cancels held on their send workers until `release` is set (`out` once the first
    is), then made in the order they were sent: the requote's own first, the withdrawal's of
    the same order (if the loop withdrew it meanwhile) only once that one is answered."""

    def __init__(self, rig: Rig) -> None:
        self.out, self.release = threading.Event(), threading.Event()
        first_made = threading.Event()
        self.holding = 0  # cancels held on their workers now
        lock = threading.Lock()
        cancel = rig.client.cancel_order
        calls = itertools.count()

        def held(order_id: str, **kw: Any) -> CancelResult:
            first = next(calls) == 0
            with lock:
                self.holding += 1
            self.out.set()
            (self.release if first else first_made).wait(30)
            with lock:
                self.holding -= 1
            try:
                return cancel(order_id, **kw)
            finally:
                if first:
                    first_made.set()

        rig.client.cancel_order = held  # type: ignore[method-assign]


def _rig(tmp_path: Path, **kw: Any) -> Rig:
    kw.setdefault("send_workers", 2)
    return quiet_market_maker(tmp_path, risk=RISK, log_path=tmp_path / "t.log", **kw)


def _settle(rig: Rig) -> None:
    dispatch = rig.loop.dispatch
    while dispatch.in_flight:
        assert dispatch.settle(SystemClock(), 30)


def _step(rig: Rig, seconds: float = 0.5) -> None:
    """`Rig.step`, then every answer the tick's calls bring back booked."""
    rig.step(seconds)
    _settle(rig)


def _step_beside(rig: Rig, held: HeldCancels) -> None:
    """`Rig.step`, then every answer the tick's calls bring back booked but the held cancels'."""
    rig.step(0.5)
    dispatch = rig.loop.dispatch

    def drained() -> None:
        pause()
        dispatch.drain()

    assert poll_until(lambda: dispatch.in_flight == held.holding, between=drained)


def _creates(rig: Rig) -> list[tuple[str, str]]:
    """The orders that reached the exchange in HOLD, by side and YES price."""
    return [(r.book_side.value, str(r.price)) for r in rig.client.requests if r.ticker == HOLD]


def _resting(rig: Rig) -> list[Any]:
    orders = rig.exchange.history.orders(rig.client.account_id)
    return [o for o in orders if o.ticker == HOLD and o.status == "resting"]


def _requote_with_its_cancel_held(rig: Rig) -> HeldCancels:
    """The strategy bids YES in HOLD, then requotes it as a NO bid; the YES bid's cancel is
    held on its send worker, the NO bid waiting for its answer."""
    turns = ["bid"]

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Intent]:
        if snap.ticker != HOLD or not turns:
            return []
        turns.pop()
        if not pos.resting:
            return [BID]
        (old,) = pos.resting
        return [replace(NO_BID, replaces=(old.order_id,))]

    swap_decide(rig.loop, decide)
    _step(rig)
    _step(rig)
    assert _creates(rig) == [("bid", "0.55")]
    cancels = HeldCancels(rig)
    turns.append("requote")
    swap_decide(rig.loop, decide)  # asked afresh, not skipped as a quiet market
    rig.step(0.5)
    assert cancels.out.wait(30), "the YES bid's cancel is out"
    assert not turns, "the strategy requoted"
    assert rig.loop.dispatch.busy(HOLD)
    return cancels


@contextmanager
def _answered(rig: Rig, held: HeldCancels) -> Iterator[None]:
    """The held cancels let go in the end whatever happened, the workers and the log closed."""
    try:
        yield
    finally:
        held.release.set()
        rig.loop.dispatch.close()
        rig.loop.log.close()


def _dropped(log: Path) -> list[str]:
    return [str(e["reason"]) for e in log_events(log) if e["event"] == "intent_dropped"]


def test_a_replacement_whose_market_went_stale_while_its_cancel_was_out_is_not_sent(
    tmp_path: Path,
) -> None:
    """HOLD's book has no data past `stale_after_s` while the cancel is out: the feed calls it
    stale and the loop withdraws every quote there. The old code sent the NO bid once the
    cancel was answered, a fresh quote on a book the loop can no longer see."""
    rig = _rig(tmp_path)
    cancels = _requote_with_its_cancel_held(rig)
    with _answered(rig, cancels):
        # no book data for longer than stale_after_s: the feed says so (docs/feed.md)
        rig.clock.advance(STALE_AFTER_S)
        rig.feed.stale.add(HOLD)
        rig.feed.messages.append(FeedMessage(MessageKind.STALE, HOLD, reason="no_data"))
        rig.step(0.5)
        # the watch withdraws HOLD's quotes: the YES bid's cancel is sent again, and held
        assert poll_until(lambda: cancels.holding == 2)
        cancels.release.set()
        _settle(rig)
        _step(rig)
    assert _creates(rig) == [("bid", "0.55")], "the replacement went out on a stale market"
    assert _resting(rig) == []
    assert any("stale" in reason for reason in _dropped(tmp_path / "t.log"))


def test_a_replacement_whose_cancel_is_answered_once_trading_is_paused_is_not_sent(
    tmp_path: Path,
) -> None:
    """The pause file appears while the cancel is out: no new adding order may go out, and the
    old code sent the NO bid as soon as the cancel was answered."""
    pause_file = tmp_path / "trade.pause"
    rig = _rig(tmp_path, settings={"pause_file": pause_file})
    cancels = _requote_with_its_cancel_held(rig)
    with _answered(rig, cancels):
        pause_file.touch()
        cancels.release.set()
        _settle(rig)
        _step(rig)
    assert _creates(rig) == [("bid", "0.55")], "the replacement went out while paused"
    assert _resting(rig) == []
    assert "paused" in " ".join(_dropped(tmp_path / "t.log"))


def test_a_replacement_whose_cancel_is_answered_after_a_halt_is_not_sent(tmp_path: Path) -> None:
    """HALTED is written by another process while the cancel is out: the trading state read
    where the replacement's intent is recorded refuses it, and nothing is sent."""
    rig = _rig(tmp_path)
    cancels = _requote_with_its_cancel_held(rig)
    with _answered(rig, cancels):
        halt(rig.store.trading, reason="test", source="kalshi halt")
        cancels.release.set()
        _settle(rig)
        _step(rig)
    assert _creates(rig) == [("bid", "0.55")], "the replacement went out after the halt"
    assert _resting(rig) == []
    assert any("HALTED" in reason for reason in _dropped(tmp_path / "t.log"))


def test_a_replacement_whose_strategy_stopped_while_its_cancel_was_out_is_not_sent(
    tmp_path: Path,
) -> None:
    """While the cancel is out the strategy buys a YES of CUT at its ask: the taker fee is a
    loss realized today past its daily limit of a cent, so it is stopped for the day and its
    adding quotes are withdrawn. The old code sent the NO bid once the cancel was answered."""
    budgets = {"market-maker": {"daily_loss_limit": "0.01"}}
    # a worker for the loop's reads beside the two cancels held
    rig = _rig(tmp_path, trade={"budgets": budgets}, send_workers=3)
    cancels = _requote_with_its_cancel_held(rig)
    buy = Intent(
        CUT, Side.YES, Action.BUY, Decimal("0.35"), Decimal(1), Decimal("0.90"), "test",
        time_in_force=TimeInForce.IOC,
    )  # fmt: skip
    trades = [buy]

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Intent]:
        return [trades.pop()] if snap.ticker == CUT and trades else []

    with _answered(rig, cancels):
        swap_decide(rig.loop, decide)
        for _ in range(3):
            _step_beside(rig, cancels)
        assert not trades, "the strategy bought in CUT"
        assert rig.loop.executor.budgets.stopped, "the strategy stopped for the day"
        cancels.release.set()
        _settle(rig)
        _step(rig)
    assert _creates(rig) == [("bid", "0.55")], "the replacement went out for a stopped strategy"
    assert _resting(rig) == []
    assert "strategy market-maker stopped" in " ".join(_dropped(tmp_path / "t.log"))


def test_a_replacement_whose_cancel_is_answered_late_in_a_fresh_market_goes(
    tmp_path: Path,
) -> None:
    """Nothing withdrew HOLD's quotes while the cancel was out, a few seconds of it (the book
    still fresh): the NO bid goes out once the cancel is answered, as decided."""
    rig = _rig(tmp_path)
    cancels = _requote_with_its_cancel_held(rig)
    with _answered(rig, cancels):
        rig.clock.advance(3.0)
        cancels.release.set()
        _settle(rig)
        _step(rig)
    assert _creates(rig) == [("bid", "0.55"), ("ask", "0.70")]
    assert [(o.book_side.value, o.price) for o in _resting(rig)] == [("ask", Decimal("0.70"))]
    assert _dropped(tmp_path / "t.log") == []

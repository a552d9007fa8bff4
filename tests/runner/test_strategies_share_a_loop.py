"""Several strategies in one loop, on the fakes: each decides on what it owns (its own resting
orders and the part of the position its own fills built), two of them never trade with each
other, a position bought by hand is nobody's, one strategy's crash withdraws its quotes alone,
and a restart on the same state file knows whose each contract is."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import replace
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from rich.console import Console

from kalshi_cli.cli.dashboard_panels import render_trading
from kalshi_cli.dashboard.snapshot import Sources, local_snapshot
from kalshi_cli.runner.assembly import clear_assignments
from kalshi_cli.runner.config import StrategyChoice
from kalshi_cli.runner.loop.alerting import TradeAlerts
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.services.orders.status import trading_status
from kalshi_cli.store import Store
from kalshi_cli.strategy_api import close_at_bid
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.clock import ManualClock, SystemClock, utc_day
from kalshi_cli.vocabulary.decisions import Cancel, Intent, PositionView
from kalshi_cli.vocabulary.errors import NotFoundError, ServerError, TurnPastDeadline, UsageError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.order_terms import OrderRequest, owned_client_order_id, owner_in
from kalshi_cli.vocabulary.owners import AGENT, NOT_STRATEGIES
from kalshi_cli.vocabulary.units import Action, BookSide, SelfTradePrevention, Side, TimeInForce
from tests.cli.fakes import run
from tests.fakes import FakeAlertStateStore, RecordingRouter
from tests.runner.fakes import (
    DECIDES_ON_A_WORKER,
    START,
    Rig,
    another_trader_places,
    make_rig,
    new_exchange,
    place_on_desk,
    swap_decide,
    trader,
)
from tests.runner.test_strategy_scenarios import SCENARIO, TICKER, Mover
from tests.waiting import pause, wait_until

MM = "market-maker"
MR = "mean-reversion"


def _rig(tmp_path: Path, *strategies: Any, state: str = "state.db", **kw: Any) -> Rig:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    clock = kw.pop("clock", None) or ManualClock(START)
    exchange = kw.pop("exchange", None) or new_exchange(scenario, clock)
    return make_rig(tmp_path / state, exchange=exchange, clock=clock, strategies=strategies, **kw)


def _order(
    side: Side, action: Action, price: str, count: str = "5", tif: TimeInForce = TimeInForce.GTC
) -> Intent:
    return Intent(
        ticker=TICKER,
        side=side,
        action=action,
        price=Decimal(price),
        count=Decimal(count),
        model_fair=Decimal("0.75") if side is Side.YES else Decimal("0.70"),
        reason="test",
        strategy="test",  # the loop stamps the strategy that decided it
        time_in_force=tif,
    )


class Recorder:
    """A decide that records the views it was handed and answers `orders` while flat and
    without resting orders of its own."""

    def __init__(self, *orders: Intent) -> None:
        self.orders = orders
        self.views: list[PositionView] = []
        self.failing = False

    def __call__(self, snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Any]:
        self.views.append(pos)
        if self.failing:
            raise RuntimeError("the model's data feed is gone")
        if pos.resting or pos.position:
            return []
        return list(self.orders)


def _hand_buy(
    rig: Rig,
    price: str,
    count: str,
    book_side: BookSide = BookSide.BID,
    tif: TimeInForce = TimeInForce.IOC,
) -> None:
    """A purchase by hand on the loop's account, of YES (a bid) or of NO (an ask): one that
    takes what it can at once, or, GTC, one that rests."""
    place_on_desk(
        rig.exchange, rig.client.account_id, TICKER, book_side, price, count, time_in_force=tif
    )


def _runs_on_one_account(tmp_path: Path) -> Callable[..., Rig]:
    """Starts runs of the loop one after another on one account, exchange and clock, as a
    restart does: each call starts a run of the strategies it is given (`_rig`'s keywords, as
    `state`, pass through)."""
    clock = ManualClock(START)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    exchange = new_exchange(scenario, clock)
    account = trader(exchange)

    def start(*strategies: Any, **kw: Any) -> Rig:
        return _rig(tmp_path, *strategies, clock=clock, exchange=exchange, account_id=account, **kw)

    return start


def _only_market_maker_decides(rig: Rig, *orders: Intent) -> None:
    """Market-maker answers `orders` while flat and without resting orders of its own, and
    mean-reversion decides nothing, over two turns."""
    swap_decide(rig.loop, Recorder(*orders), MM)
    swap_decide(rig.loop, Recorder(), MR)
    rig.step(1.0)
    rig.step(1.0)


def test_two_strategies_quoting_one_market_never_fill_each_other(tmp_path: Path) -> None:
    rig = _rig(tmp_path, MM, MR)
    Mover(rig.exchange).quote("0.30", "0.70")
    bidder = Recorder(_order(Side.YES, Action.BUY, "0.50"))
    # a YES ask at 0.50 (a NO bid at 0.50) would take the bid the other strategy rests
    seller = Recorder(_order(Side.NO, Action.BUY, "0.50"))
    swap_decide(rig.loop, bidder, MM)
    swap_decide(rig.loop, seller, MR)
    for _ in range(3):
        rig.step(1.0)
    sent = [r for r in rig.client.requests if r.ticker == TICKER]
    # the bid went out once; the crossing order was refused before it was sent
    assert [(r.book_side, r.price) for r in sent] == [(BookSide.BID, Decimal("0.50"))]
    assert all(r.self_trade_prevention is SelfTradePrevention.TAKER_AT_CROSS for r in sent)
    assert rig.loop.log.counts.get("risk_denied", 0) >= 1
    assert list(rig.client.iter_fills()) == []
    trips = rig.store.trading.risk_trips()
    assert any(t.code == "SELF_CROSS" for t in trips) or rig.loop.log.counts["risk_denied"]
    # each saw only its own resting order: the seller never the bidder's
    assert any(v.resting for v in bidder.views)
    assert all(v.resting == () for v in seller.views)
    (intent,) = [i for i in rig.store.orders.intents() if i.ticker == TICKER]
    assert intent.strategy == MM


def test_a_position_bought_by_hand_is_no_strategys_and_is_never_sold(tmp_path: Path) -> None:
    rig = _rig(tmp_path, "spike")
    mover = Mover(rig.exchange)
    mover.quote("0.55", "0.60")
    _hand_buy(rig, "0.60", "20")
    # past spike's time stop (max_hold_s 300) and take-profit, on a book that keeps moving
    for step in range(80):
        mover.quote("0.63" if step % 2 else "0.64", "0.66")
        rig.step(5.0)
    sold = [r for r in rig.client.requests if r.book_side is BookSide.ASK or r.reduce_only]
    assert sold == []
    (held,) = [p for p in rig.client.get_positions() if p.ticker == TICKER]
    assert held.position == Decimal("20")
    view = rig.loop.portfolio.view_for(TICKER, "spike")
    assert view.position == 0 and view.held_side is None
    assert view.whole.position == Decimal("20")


def buyer_then_idle(tmp_path: Path) -> tuple[Rig, Mover, Recorder, Recorder]:
    """Market-maker (first in the lineup) buys 4 YES at once while flat; mean-reversion decides
    nothing. One turn taken: market-maker's purchase filled within it."""
    rig = _rig(tmp_path, MM, MR)
    mover = Mover(rig.exchange)
    mover.quote("0.40", "0.45")
    buyer = Recorder(_order(Side.YES, Action.BUY, "0.45", "4", TimeInForce.IOC))
    idle = Recorder()
    swap_decide(rig.loop, buyer, MM)
    swap_decide(rig.loop, idle, MR)
    rig.step(1.0)
    return rig, mover, buyer, idle


def test_each_strategy_exits_only_what_its_own_fills_built(tmp_path: Path) -> None:
    rig, _, buyer, idle = buyer_then_idle(tmp_path)
    rig.step(1.0)
    assert rig.loop.portfolio.view(TICKER).position == Decimal("4")
    _hand_buy(rig, "0.45", "6")
    rig.step(1.0)
    mm = rig.loop.portfolio.view_for(TICKER, MM)
    mr = rig.loop.portfolio.view_for(TICKER, MR)
    assert (mm.position, mm.avg_entry_price, mm.whole.position) == (4, Decimal("0.45"), 10)
    assert (mr.position, mr.whole.position) == (0, 10)
    assert idle.views[-1].position == 0 and buyer.views[-1].position == 4


def test_one_strategys_crash_withdraws_its_own_quotes_alone(tmp_path: Path) -> None:
    rig = _rig(tmp_path, MM, MR)
    mover = Mover(rig.exchange)
    mover.quote("0.30", "0.70")
    crashing = Recorder(_order(Side.YES, Action.BUY, "0.41"))
    steady = Recorder(_order(Side.YES, Action.BUY, "0.42"))
    swap_decide(rig.loop, crashing, MM)
    swap_decide(rig.loop, steady, MR)
    rig.step(1.0)
    rig.step(1.0)
    prices = sorted(o.yes_price for o in list(rig.client.iter_orders(status="resting")))
    assert prices == [Decimal("0.41"), Decimal("0.42")]
    crashing.failing = True
    mover.quote("0.31", "0.70")  # a new book: each strategy is asked again
    rig.step(1.0)
    rig.step(1.0)
    assert rig.loop.log.counts["strategy_error"] >= 1
    resting = list(rig.client.iter_orders(status="resting"))
    assert [o.yes_price for o in resting] == [Decimal("0.42")]  # the steady one's stays
    assert rig.store.trading.trading_state().state == "ACTIVE"


class Hanging(Recorder):
    """A decide that, once `hanging` is set, does not return until `release` is (or a few
    seconds have passed: a loop that waited for it would still end the test)."""

    def __init__(self, *orders: Intent) -> None:
        super().__init__(*orders)
        self.hanging = False
        self.release = threading.Event()

    def __call__(self, snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Any]:
        if self.hanging:
            self.release.wait(5.0)
        return super().__call__(snap, pos, params)

    def late_once(self, rig: Rig, mover: Mover, bid: str) -> None:
        """One call answered past its deadline (a new book at `bid` asks it), then answering in
        time again: the loop's clock stands still meanwhile, so no turn comes a deadline after
        the late one."""
        self.release.clear()
        self.hanging = True
        mover.quote(bid, "0.70")
        rig.step(1.0)  # the loop waits one deadline for it
        self.hanging = False
        self.release.set()


class AnswerWaits(queue.SimpleQueue[tuple[bool, Any]]):
    """A strategy's answer queue (`strategies/deadline.py`'s `BoundedCall`) that records the
    deadline of each wait the loop made on it: how often, and how long, the loop was willing to
    wait is counted here rather than timed, so a busy machine's stall cannot flip it."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def get(self, block: bool = True, timeout: float | None = None) -> tuple[bool, Any]:
        if block:
            self.waits.append(float("inf") if timeout is None else timeout)
        return super().get(block, timeout)


def _answer_waits(rig: Rig, name: str) -> AnswerWaits:
    """The waits the loop makes from now on for strategy `name`'s answers (no call out now)."""
    call = rig.loop.reloads.lineup.get(name).bounded
    waits = call._answers = AnswerWaits()
    return waits


def _paused_step(rig: Rig, seconds: float, mover: Mover | None = None) -> None:
    """A wait between two asks of a condition, then a step of `seconds` (on a new book, by
    `mover`): what `wait_until` does between its asks."""
    pause()
    if mover is not None:
        mover.quote("0.42", "0.45")
    rig.step(seconds)


def _two_quoting(tmp_path: Path, mm: Recorder, **kw: Any) -> tuple[Rig, Mover, Recorder]:
    """MM deciding through `mm` (a bid at 0.41), MR through a steady bid at 0.42, both resting."""
    rig = _rig(tmp_path, MM, MR, settings=DECIDES_ON_A_WORKER, **kw)
    mover = Mover(rig.exchange)
    mover.quote("0.30", "0.70")
    steady = Recorder(_order(Side.YES, Action.BUY, "0.42"))
    swap_decide(rig.loop, mm, MM)
    swap_decide(rig.loop, steady, MR)
    rig.step(1.0)
    _first_answers_back(rig, lambda: _resting_of(rig, MM) and _resting_of(rig, MR), "both quotes")
    prices = sorted(o.yes_price for o in rig.client.iter_orders(status="resting"))
    assert prices == [Decimal("0.41"), Decimal("0.42")]
    return rig, mover, steady


def _first_answers_back(rig: Rig, done: Callable[[], object], what: str) -> None:
    """Steps that move no clock until `done`: a strategy's first call on its worker may take its
    start (strategies/deadline.py) on a loaded machine, answered `Starting` meanwhile, so what a
    first call decides is waited for, not assumed within one step."""
    wait_until(done, f"{what} after the first calls", between=lambda: _paused_step(rig, 0.0))


def test_a_strategy_whose_decide_is_still_running_at_its_next_turn_is_stopped_alone(
    tmp_path: Path,
) -> None:
    """Its late call skips its turn (its quote there withdrawn, as a failed decision's is); the
    call still running at its turn a second later, it is stuck: stopped alone, the others trade
    on and the account stays ACTIVE."""
    log = tmp_path / "log.jsonl"
    hanging = Hanging(_order(Side.YES, Action.BUY, "0.41"))
    rig, mover, steady = _two_quoting(tmp_path, hanging, log_path=log)
    hanging.hanging = True
    waits = _answer_waits(rig, MM)
    try:
        mover.quote("0.31", "0.70")  # a new book: each strategy is asked again
        rig.step(1.0)
        assert MM not in rig.loop.questions.stops.stopped, "one late answer is no verdict"
        assert _resting_of(rig, MM) == []
        rig.step(1.0)
        # one deadline waited, once: the next pass does not wait for the hung strategy again
        assert waits.waits == [rig.loop.reloads.lineup.get(MM).bounded.timeout_s]
        asked = len(steady.views)
        mover.quote("0.32", "0.70")
        rig.step(1.0)
        assert len(steady.views) > asked  # the other strategy is still asked
        resting = list(rig.client.iter_orders(status="resting"))
        assert [o.yes_price for o in resting] == [Decimal("0.42")]  # only the hung one's went
        assert rig.store.trading.trading_state().state == "ACTIVE"
        (stopped,) = _log(rig, log, "strategy_stopped")
        assert stopped["strategy"] == MM and "still running" in stopped["reason"]
    finally:
        hanging.release.set()


def test_one_late_answer_skips_the_strategys_turn_and_three_within_the_window_stop_it(
    tmp_path: Path,
) -> None:
    """A `decide` answered past its deadline (a garbage collection's pause) skips that turn and
    withdraws its quote there; back in time, it quotes again. Its third late answer within
    `trade.strategy_errors_window_s` stops it. On the old code the first one stopped it."""
    log = tmp_path / "log.jsonl"
    slow = Hanging(_order(Side.YES, Action.BUY, "0.41"))
    rig, mover, _ = _two_quoting(tmp_path, slow, log_path=log)

    def quotes_again() -> None:
        wait_until(
            lambda: _resting_of(rig, MM),
            "the strategy quoting again once its late answer was back",
            between=lambda: _paused_step(rig, 0.0),
        )

    slow.late_once(rig, mover, "0.31")
    assert rig.loop.log.counts["strategy_error"] == 1
    quotes_again()
    slow.late_once(rig, mover, "0.32")
    quotes_again()
    assert not rig.loop.questions.stops.stopped
    slow.late_once(rig, mover, "0.33")
    (stopped,) = _log(rig, log, "strategy_stopped")
    assert stopped["strategy"] == MM and "3 late answers within 60 s" in stopped["reason"]
    assert rig.loop.log.counts["strategy_error"] == 3
    assert [o.yes_price for o in rig.client.iter_orders(status="resting")] == [Decimal("0.42")]


def _stuck(rig: Rig, mover: Mover, hanging: Hanging) -> None:
    """`hanging`'s call is late, and still running at its next turn a second later: stopped."""
    hanging.release.clear()
    hanging.hanging = True
    mover.quote("0.31", "0.70")
    rig.step(1.0)
    rig.step(1.0)
    assert MM in rig.loop.questions.stops.stopped


def test_a_stopped_strategy_still_closes_its_own_position_and_adds_nothing(
    tmp_path: Path,
) -> None:
    """Stopped with 4 contracts of its own, the strategy is still asked where it holds them,
    once its stuck call is back: its take-profit goes out and its new bid does not. On the old
    code it was never asked again, and its 4 stayed held without their exit."""
    selling = threading.Event()
    bid = _order(Side.YES, Action.BUY, "0.30", "1")

    class Holder(Hanging):
        def __call__(self, snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Any]:
            super().__call__(snap, pos, params)
            if not selling.is_set() or not pos.position:
                return [] if pos.resting else [bid]
            exit_ = close_at_bid(snap, pos, fair=Decimal("0.40"), reason="take-profit",
                                 strategy="test")  # fmt: skip
            return [bid] if exit_ is None else [exit_, bid]

    holder = Holder()
    rig, mover = _owns_four_beside_six_by_hand(
        tmp_path, holder, beside=[MR], settings=DECIDES_ON_A_WORKER
    )
    rig.step(1.0)
    assert [o.yes_price for o in _resting_of(rig, MM)] == [Decimal("0.30")]
    _stuck(rig, mover, holder)
    assert _resting_of(rig, MM) == []  # its bid that would add is withdrawn
    holder.hanging = False
    holder.release.set()
    selling.set()
    wait_until(
        lambda: _sold(rig),
        "the stopped strategy's exit",
        between=lambda: _paused_step(rig, 1.0, mover),
    )
    assert _sold(rig) == [(Decimal("4"), True)]
    assert rig.loop.portfolio.view_for(TICKER, MM).position == 0
    assert _resting_of(rig, MM) == []


def test_a_stopped_strategy_is_shown_where_people_look_and_resume_brings_it_back(
    tmp_path: Path,
) -> None:
    """`kalshi status` (text and --json), `kalshi check heartbeat` (part of `check all`), the
    metrics and the dashboard read the stop from the loop's heartbeat; `kalshi resume
    --strategy NAME` brings it back in the running loop. On the old code none of them said it,
    and nothing but a restart brought it back."""
    from kalshi_cli.checks import CheckStatus
    from kalshi_cli.checks.local import LocalView, check_heartbeat
    from kalshi_cli.checks.thresholds import resolve
    from kalshi_cli.services.metrics import Collector
    from kalshi_cli.store import Store

    hanging = Hanging(_order(Side.YES, Action.BUY, "0.41"))
    rig, mover, _ = _two_quoting(tmp_path, hanging)
    path = tmp_path / "state.db"
    try:
        _stuck(rig, mover, hanging)
        rig.loop.heartbeat.beat()
        status = trading_status(path, now=rig.clock.wall())
        rows = {r["strategy"]: r for r in status.strategies}
        assert "still running" in rows[MM]["stopped"] and rows[MR]["stopped"] is None
        state = {"KALSHI_STATE": str(path)}
        text = run(["status"], home=tmp_path, environ=state).stdout
        assert f"strategy {MM}: STOPPED (" in text
        shown = json.loads(run(["status", "--json"], home=tmp_path, environ=state).stdout)
        assert [r["stopped"] is not None for r in shown["strategies"]] == [True, False]
        reader = Store.open_readonly(path)
        assert reader is not None
        with reader:
            check = check_heartbeat(LocalView(reader, path, rig.clock.wall()), resolve(None))
        assert check.status is CheckStatus.WARNING and f"strategy {MM} stopped" in check.summary
        metrics = Collector(path, clock=rig.clock).collect()
        assert f'kalshi_strategy_stopped{{strategy="{MM}"}} 1' in metrics
        assert f'kalshi_strategy_stopped{{strategy="{MR}"}} 0' in metrics
        drawn = Console(width=120, record=True)
        drawn.print(render_trading(local_snapshot(Sources(path), rig.clock)))
        assert f"{MM}: STOPPED" in drawn.export_text()
        # resumed while its call is still running, it is found stuck again a deadline later
        assert run(["resume", "--strategy", MM], home=tmp_path, environ=state).exit_code == 0
        rig.step(0.0)
        assert rig.loop.log.counts["strategy_resumed"] == 1 and not rig.loop.questions.stops.stopped
        rig.step(1.0)
        assert rig.loop.log.counts["strategy_stopped"] == 2
    finally:
        hanging.hanging = False
        hanging.release.set()
    resumed = run(["resume", "--strategy", MM], home=tmp_path, environ=state)
    assert resumed.exit_code == 0, resumed.stdout
    assert f"asked the trade loop to resume {MM}" in resumed.stdout
    wait_until(
        lambda: _resting_of(rig, MM),
        "the resumed strategy quoting again",
        between=lambda: _paused_step(rig, 0.0),
    )
    assert rig.loop.log.counts["strategy_resumed"] == 2
    rig.loop.heartbeat.beat()
    rows = {r["strategy"]: r for r in trading_status(path, now=rig.clock.wall()).strategies}
    assert rows[MM]["stopped"] is None
    assert run(["resume", "--strategy", "nope"], home=tmp_path, environ=state).exit_code != 0


def test_a_strategy_whose_first_decide_hangs_holds_the_loop_one_calls_deadline_not_its_start(
    tmp_path: Path,
) -> None:
    """Its start (10 s) is waited out without holding the loop: the other strategy quotes, and
    the stop-loss and the other markets are served, while the first call is still out."""
    hanging = Hanging(_order(Side.YES, Action.BUY, "0.41"))
    hanging.hanging = True
    rig = _rig(tmp_path, MM, MR, settings=DECIDES_ON_A_WORKER)
    Mover(rig.exchange).quote("0.30", "0.70")
    steady = Recorder(_order(Side.YES, Action.BUY, "0.42"))
    swap_decide(rig.loop, hanging, MM)
    swap_decide(rig.loop, steady, MR)
    waits = _answer_waits(rig, MM)
    try:
        rig.step(1.0)
        rig.step(1.0)
        _first_answers_back(rig, lambda: _resting_of(rig, MR), "the other strategy's quote")
        deadline_s = rig.loop.reloads.lineup.get(MM).bounded.timeout_s
        assert waits.waits == [deadline_s], "the loop waited for the hung first call's start"
        resting = list(rig.client.iter_orders(status="resting"))
        assert [o.yes_price for o in resting] == [Decimal("0.42")]
        assert MM not in rig.loop.questions.stops.stopped, (
            "within its start it is starting, not hung"
        )
        assert rig.loop.questions.stops.strategy_error_count == 0
    finally:
        hanging.release.set()


class Alternating(Recorder):
    """A decide that, once `alternating` is set, raises on every other call: never many
    failures in a row."""

    alternating = False

    def __call__(self, snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Any]:
        self.failing = self.alternating and not self.failing
        return super().__call__(snap, pos, params)


def test_a_strategy_failing_at_a_rate_is_stopped_alone_not_the_account(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    flaky = Alternating(_order(Side.YES, Action.BUY, "0.41"))
    rig, mover, _ = _two_quoting(tmp_path, flaky, log_path=log)
    flaky.alternating = True

    def placed_after(steps: int) -> int:
        for step in range(steps):
            mover.quote("0.31" if step % 2 else "0.30", "0.70")  # each is asked each step
            rig.step(1.0)
        return sum(r.price == Decimal("0.41") for r in rig.client.requests)

    placed = placed_after(40)
    assert placed_after(20) == placed  # stopped: not placing its quote again after a failure
    (stopped,) = _log(rig, log, "strategy_stopped")
    assert stopped["strategy"] == MM and "failed decisions" in stopped["reason"]
    resting = list(rig.client.iter_orders(status="resting"))
    assert [o.yes_price for o in resting] == [Decimal("0.42")]
    assert rig.store.trading.trading_state().state == "ACTIVE"
    assert rig.store.trading.risk_trips(rule="strategy_guard") == []


def test_a_restart_knows_whose_each_contract_is(tmp_path: Path) -> None:
    start = _runs_on_one_account(tmp_path)
    first = start(MM, MR)
    Mover(first.exchange).quote("0.40", "0.45")
    _only_market_maker_decides(first, _order(Side.YES, Action.BUY, "0.45", "3", TimeInForce.IOC))
    _hand_buy(first, "0.45", "2")
    first.step(1.0)
    before = {n: first.loop.portfolio.view_for(TICKER, n).position for n in (MM, MR)}
    assert before == {MM: 3, MR: 0}
    first.store.close()
    again = start(MM, MR)
    swap_decide(again.loop, Recorder(), MM)
    swap_decide(again.loop, Recorder(), MR)
    again.step(1.0)
    assert again.loop.portfolio.view(TICKER).position == Decimal("5")
    after = {n: again.loop.portfolio.view_for(TICKER, n).position for n in (MM, MR)}
    assert after == before  # the 2 bought by hand are still nobody's


def test_a_restart_takes_back_a_resting_order_as_it_was_placed_with_what_rests_of_it(
    tmp_path: Path,
) -> None:
    """A NO bid of 5 at 0.35, 2 of them filled: the next run's books hold it as the strategy
    placed it (a NO bid, not the YES ask it is on the exchange's book), 3 resting, under the
    client order id that names its strategy."""
    start = _runs_on_one_account(tmp_path)
    first = start(MM, MR)
    Mover(first.exchange).quote("0.30", "0.70")
    _only_market_maker_decides(first, _order(Side.NO, Action.BUY, "0.35", "5"))
    another_trader_places(first.exchange, TICKER, BookSide.BID, Decimal("0.65"), Decimal(2))
    first.step(1.0)
    (placed,) = [
        o for o in first.client.iter_orders(status="resting") if owner_in(o.client_order_id)
    ]
    assert placed.remaining_count == 3
    first.store.close()
    again = start(MM, MR)
    (order,) = again.loop.portfolio.resting(TICKER)
    assert (order.side, order.action, order.price) == (Side.NO, Action.BUY, Decimal("0.35"))
    assert order.remaining == 3
    assert (order.client_order_id, order.strategy) == (placed.client_order_id, MM)


def test_every_order_names_its_strategy_in_the_client_order_id(tmp_path: Path) -> None:
    rig = _rig(tmp_path, MM, MR)
    Mover(rig.exchange).quote("0.30", "0.70")
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.41")), MM)
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.42")), MR)
    rig.step(1.0)
    rig.step(1.0)
    on_exchange = {o.yes_price: o for o in rig.client.iter_orders(status="resting")}
    assert set(on_exchange) == {Decimal("0.41"), Decimal("0.42")}
    assert owner_in(on_exchange[Decimal("0.41")].client_order_id) == MM
    assert owner_in(on_exchange[Decimal("0.42")].client_order_id) == MR
    # an order the state file does not know (a lost state file, an update from the orders
    # channel) is still known as its strategy's by that id; a person's is nobody's
    own = rig.loop.stop.own
    theirs = replace(rig.loop.portfolio.resting(TICKER)[0], strategy=None)
    assert own.owner(theirs) in (MM, MR) and own.placed_by_us(theirs)
    by_hand = replace(theirs, order_id="by-hand", client_order_id=str(uuid4()))
    assert own.owner(by_hand) is None and not own.placed_by_us(by_hand)


def _log(rig: Rig, path: Path, kind: str) -> list[dict[str, Any]]:
    rig.loop.log.close()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in rows if r["event"] == kind]


def test_a_strategys_budget_refuses_what_would_carry_it_past_its_own_limits(
    tmp_path: Path,
) -> None:
    log = tmp_path / "log.jsonl"
    budgets = {MM: {"max_contracts": "5", "max_exposure": "10"}}
    rig = _rig(tmp_path, MM, MR, trade={"budgets": budgets}, log_path=log)
    Mover(rig.exchange).quote("0.30", "0.70")
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.41", "8")), MM)
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.42", "8")), MR)
    rig.step(1.0)
    sent = [(r.price, r.count) for r in rig.client.requests if r.ticker == TICKER]
    assert sent == [(Decimal("0.42"), Decimal("8"))]  # the one without a budget
    (denied,) = {e["detail"] for e in _log(rig, log, "risk_denied")}
    assert "strategy market-maker" in denied and "budget of 5" in denied


def test_a_strategy_past_its_daily_loss_limit_stops_alone(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    budgets = {MM: {"daily_loss_limit": "1"}}
    rig = _rig(tmp_path, MM, MR, trade={"budgets": budgets}, log_path=log)
    mover = Mover(rig.exchange)
    mover.quote("0.40", "0.45")
    moves: list[Intent] = [_order(Side.YES, Action.BUY, "0.45", "10", TimeInForce.IOC)]
    losing = _moves_then_quotes(moves, _order(Side.YES, Action.BUY, "0.21", "5"))

    # both quote below the bid the loss is taken at: no own order stands in its way
    steady = Recorder(_order(Side.YES, Action.BUY, "0.20", "5"))
    swap_decide(rig.loop, losing, MM)
    swap_decide(rig.loop, steady, MR)
    rig.step(1.0)
    rig.step(1.0)
    quoted = {o.yes_price for o in rig.client.iter_orders(status="resting")}
    assert quoted == {Decimal("0.20"), Decimal("0.21")}
    # bought 10 at 0.45, then sold at 0.25: $2.00 lost, past its $1 limit
    _sell_ten_at_a_loss(mover, moves)
    for _ in range(4):
        rig.step(1.0)
    (stopped,) = _log(rig, log, "strategy_stopped")
    assert stopped["strategy"] == MM and "daily loss limit" in stopped["reason"]
    resting = {o.yes_price for o in rig.client.iter_orders(status="resting")}
    assert Decimal("0.20") in resting  # the other strategy's quote stays
    assert Decimal("0.21") not in resting  # its own quote withdrawn, new ones refused
    denied = [e for e in _log(rig, log, "risk_denied") if e["code"] == "STRATEGY_BUDGET"]
    assert denied and all(e["strategy"] == MM for e in denied)
    assert rig.store.trading.trading_state().state == "ACTIVE"


def test_a_budget_for_a_strategy_that_does_not_run_is_unused_with_a_notice(
    tmp_path: Path,
) -> None:
    log = tmp_path / "log.jsonl"
    budgets = {"spike": {"max_contracts": "5"}, MM: {"max_contracts": "7"}}
    rig = _rig(tmp_path, MM, MR, trade={"budgets": budgets}, log_path=log)
    assert rig.loop.executor.budgets is not None and set(rig.loop.executor.budgets.budgets) == {MM}
    (unused,) = _log(rig, log, "budget_unused")
    assert unused["strategy"] == "spike"


def test_a_budget_under_the_assistants_name_is_left_to_the_assistant(tmp_path: Path) -> None:
    # `kalshi mcp` holds the assistant's orders to trade.budgets.agent; the loop runs without it
    rig = _rig(tmp_path, MM, MR, trade={"budgets": {"agent": {"max_contracts": "5"}}})
    assert rig.loop.executor.budgets is None


def test_status_has_a_row_per_strategy_with_what_its_fills_realized_today(tmp_path: Path) -> None:
    rig = _rig(tmp_path, MM, MR)
    mover = Mover(rig.exchange)
    mover.quote("0.40", "0.45")
    buy = _order(Side.YES, Action.BUY, "0.45", "10", TimeInForce.IOC)
    sell = replace(
        _order(Side.YES, Action.SELL, "0.40", "10", TimeInForce.IOC),
        model_fair=Decimal("0.30"),
        reduce_only=True,
    )
    moves = [buy, sell]

    def round_trip(snap: MarketSnapshot, pos: PositionView, params: Any) -> list[Intent]:
        return [moves.pop(0)] if moves else []

    swap_decide(rig.loop, round_trip, MM)
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.30", "2")), MR)
    for _ in range(3):
        mover.quote("0.40", "0.45")  # a new book each tick: each strategy is asked again
        rig.step(1.0)
    status = trading_status(tmp_path / "state.db", now=rig.clock.wall())
    rows = {r["strategy"]: r for r in status.strategies}
    assert list(rows) == [MM, MR]
    # bought 10 at 0.45, sold 10 at 0.40: $0.50 lost, and the fees of both
    assert Decimal(rows[MM]["realized_today"]) < Decimal("-0.50")
    assert (rows[MM]["open_orders"], rows[MR]["open_orders"]) == (0, 1)
    assert Decimal(rows[MR]["realized_today"]) == 0
    assert status.details()["strategies"] == list(status.strategies)
    # the dashboard reads the same rows and draws a line per strategy
    local = local_snapshot(Sources(tmp_path / "state.db"), rig.clock)
    assert local.health.strategies == status.strategies
    drawn = Console(width=100, record=True)
    drawn.print(render_trading(local))
    text = drawn.export_text()
    assert f"{MM}: 0 open, own part realized today -$" in text and f"{MR}: 1 open" in text


def test_status_shows_what_each_strategys_daily_loss_limit_reads(tmp_path: Path) -> None:
    """A person buys 10 YES at 0.30; market-maker buys 10 at 0.60 and sells them at 0.50, and
    mean-reversion buys 4 at 0.60, which settle at nothing. What each strategy's own part
    realized today, fees and the settlement counted, is what its daily loss limit reads, and
    `kalshi status` and the dashboard show that figure. On the old code status showed the P&L
    written on each strategy's fills, the account's average cost: market-maker -$0.093 (the
    person's cheap contracts averaged in) where its limit read -$1.343, and mean-reversion
    -$0.0672, its fee alone, where its limit read -$2.4672 (the settlement left out)."""
    rig = _rig(tmp_path, MM, MR)
    mover = Mover(rig.exchange)
    mover.quote("0.25", "0.30")
    _hand_buy(rig, "0.30", "10")
    moves = [
        _order(Side.YES, Action.BUY, "0.60", "10", TimeInForce.IOC),
        replace(
            _order(Side.YES, Action.SELL, "0.50", "10", TimeInForce.IOC),
            model_fair=Decimal("0.30"),
            reduce_only=True,
        ),
    ]

    def round_trip(snap: MarketSnapshot, pos: PositionView, params: Any) -> list[Intent]:
        return [moves.pop(0)] if moves else []

    swap_decide(rig.loop, round_trip, MM)
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.60", "4", TimeInForce.IOC)), MR)
    for _ in range(3):
        mover.quote("0.50", "0.60")  # a new book each tick: each strategy is asked again
        rig.step(1.0)
    assert not moves and rig.loop.portfolio.position(TICKER) == 14
    rig.exchange.settlement.settle(TICKER, "no")
    rig.step(1.0)
    rig.step(1.0)
    assert rig.loop.portfolio.position(TICKER) == 0

    today = utc_day(rig.clock.wall())
    fees = {
        name: sum((f.fee for f in rig.store.fills.iter_fills() if f.strategy == name), Decimal(0))
        for name in (MM, MR)
    }
    budget = {name: rig.loop.portfolio.owners.realized_today(name, today) for name in (MM, MR)}
    assert budget[MM] == Decimal("-1.00") - fees[MM]
    assert budget[MR] == Decimal("-2.40") - fees[MR]
    status = trading_status(tmp_path / "state.db", now=rig.clock.wall())
    shown = {r["strategy"]: Decimal(r["realized_today"]) for r in status.strategies}
    assert shown == budget
    local = local_snapshot(Sources(tmp_path / "state.db"), rig.clock)
    assert local.health.strategies == status.strategies
    drawn = Console(width=100, record=True)
    drawn.print(render_trading(local))
    assert f"{MM}: 0 open, own part realized today -$1.34" in drawn.export_text()

    # `kalshi status` and `kalshi pnl --by strategy` show the figure the limit reads, and say so
    state = {"KALSHI_STATE": str(tmp_path / "state.db")}
    text = run(["status"], home=tmp_path, environ=state).stdout
    assert f"strategy {MM}: 0 open orders, its own part realized today $" in text
    assert "(as its daily loss limit counts it)" in text
    report = run(["pnl", "--local", "--by", "strategy", "--json"], home=tmp_path, environ=state)
    rows = {r["strategy"]: Decimal(r["realized"]) for r in json.loads(report.stdout)["rows"]}
    assert rows == budget
    text = run(["pnl", "--local", "--by", "strategy"], home=tmp_path, environ=state).stdout
    assert "by strategy: what its own contracts realized, as its daily loss limit counts" in text


def test_a_position_assigned_to_a_strategy_at_start_is_its_to_exit(tmp_path: Path) -> None:
    start = _runs_on_one_account(tmp_path)
    first = start("spike")
    mover = Mover(first.exchange)
    mover.quote("0.55", "0.60")
    _hand_buy(first, "0.60", "20")
    first.step(1.0)
    assert first.loop.portfolio.view_for(TICKER, "spike").position == 0
    first.store.close()
    # the trader gives spike the 20 bought by hand: its time stop (300 s) may now sell them
    rig = start("spike", assign=(("spike", TICKER),))
    view = rig.loop.portfolio.view_for(TICKER, "spike")
    assert (view.position, view.avg_entry_price) == (Decimal("20"), Decimal("0.60"))
    for step in range(80):
        mover.quote("0.55" if step % 2 else "0.56", "0.60")
        rig.step(5.0)
    sold = [r for r in rig.client.requests if r.reduce_only]
    assert sold and sum(r.count for r in sold) >= Decimal("20")
    assert rig.loop.portfolio.view(TICKER).position == 0


def test_an_assignment_is_kept_in_the_state_file_until_cleared(tmp_path: Path) -> None:
    start = _runs_on_one_account(tmp_path)
    first = start("spike")
    Mover(first.exchange).quote("0.55", "0.60")
    _hand_buy(first, "0.60", "20")
    first.step(1.0)
    first.store.close()
    start("spike", assign=(("spike", TICKER),)).store.close()
    again = start("spike")  # a restart without --assign: the state file keeps it
    assert again.loop.portfolio.view_for(TICKER, "spike").position == Decimal("20")
    assert again.store.trading.assignments() == {TICKER: "spike"}
    markets = again.client.markets
    again.store.close()
    opened = partial(Store.open, tmp_path / "state.db")
    assert clear_assignments([TICKER], markets, opened) == {TICKER: "spike"}
    cleared = start("spike")
    assert cleared.loop.portfolio.view_for(TICKER, "spike").position == 0
    assert cleared.store.trading.assignments() == {}


def test_an_assignment_to_a_market_the_exchange_does_not_list_is_refused_as_unknown(
    tmp_path: Path,
) -> None:
    start = _runs_on_one_account(tmp_path)
    start("spike", assign=(("spike", TICKER),)).store.close()
    with pytest.raises(NotFoundError, match="unknown ticker NOPE-X") as refused:
        start("spike", assign=(("spike", "NOPE-X"),))
    assert refused.value.exit_code == ExitCode.NOT_FOUND
    with Store.open(tmp_path / "state.db") as store:
        assert store.trading.assignments() == {TICKER: "spike"}  # nothing written


def test_a_reload_reads_each_strategys_file_alone_and_a_bad_one_leaves_all_running(
    tmp_path: Path,
) -> None:
    log = tmp_path / "log.jsonl"
    mm_file, spike_file = tmp_path / "mm.yaml", tmp_path / "spike.yaml"
    mm_file.write_text("spread: 0.06\n")
    spike_file.write_text("take_profit: 0.03\n")
    router = RecordingRouter()
    rig = _rig(
        tmp_path,
        StrategyChoice(MM, mm_file),
        StrategyChoice("spike", spike_file),
        MR,  # started without a params file: a reload has nothing of it to read
        log_path=log,
        alerts=TradeAlerts(router, lambda: nullcontext(FakeAlertStateStore(ManualClock()))),
    )
    rig.step(1.0)
    mm_file.write_text("spread: 0.08\n")
    spike_file.write_text("take_profit: lots\n")
    assert rig.loop.reloads.reload()  # the market maker's changed
    rig.step(1.0)
    params = {m.name: m.params for m in rig.loop.reloads.lineup}
    assert params[MM].spread == Decimal("0.08")
    assert params["spike"].take_profit == Decimal("0.03")  # the bad file changed nothing
    (reloaded,) = _log(rig, log, "params_reloaded")
    (refused,) = _log(rig, log, "params_reload_refused")
    assert reloaded["strategy"] == MM and reloaded["changed"] == {"spread": "0.08"}
    assert refused["strategy"] == "spike" and "take_profit" in refused["error"]
    rig.loop.stop.alerts.close()
    assert [a.fingerprint for a in router.sent] == [
        f"trade.params_reload_refused.spike:{spike_file}"
    ]


def test_a_stopped_strategys_opening_quote_goes_while_the_account_holds_the_other_way(
    tmp_path: Path,
) -> None:
    log = tmp_path / "log.jsonl"
    budgets = {MM: {"daily_loss_limit": "1"}}
    rig = _rig(tmp_path, MM, MR, trade={"budgets": budgets}, log_path=log)
    mover = Mover(rig.exchange)
    mover.quote("0.40", "0.45")
    moves: list[Intent] = [
        _order(Side.YES, Action.BUY, "0.45", "10", TimeInForce.IOC),
        # a NO bid (a YES ask at 0.70): while it holds YES, it would close its own part
        _order(Side.NO, Action.BUY, "0.30", "5"),
    ]

    def losing(snap: MarketSnapshot, pos: PositionView, params: Any) -> list[Intent]:
        return [moves.pop(0)] if moves else []

    holder = Recorder(_order(Side.YES, Action.BUY, "0.45", "10", TimeInForce.IOC))
    swap_decide(rig.loop, losing, MM)
    swap_decide(rig.loop, Recorder(), MR)
    rig.step(1.0)
    rig.step(1.0)
    rig.step(1.0)
    quoted = {o.yes_price for o in rig.client.iter_orders(status="resting")} - {
        Decimal("0.40"),
        Decimal("0.45"),
    }
    assert quoted == {Decimal("0.70")}
    # it sells its own 10 at a $2.00 loss, past its $1 limit, while the account holds only its
    # own (beside another strategy's contracts its NO bid would take 5 of the 10 its sale may
    # sell); on the same turn the other strategy buys 10 YES, which the account then holds
    _sell_ten_at_a_loss(mover, moves)
    swap_decide(rig.loop, holder, MR)
    for _ in range(4):
        rig.step(1.0)
    (stopped,) = _log(rig, log, "strategy_stopped")
    assert stopped["strategy"] == MM
    assert rig.loop.portfolio.view_for(TICKER, MM).position == 0
    assert rig.loop.portfolio.view_for(TICKER, MR).position == Decimal("10")
    # flat, its NO bid would open a NO position of its own (and sell the other strategy's
    # contracts from under it): a quote that adds, withdrawn with the others
    assert _resting_of(rig, MM) == []


def test_a_failing_strategys_opening_quote_goes_while_the_account_holds_the_other_way(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path, MM, MR)
    mover = Mover(rig.exchange)
    mover.quote("0.40", "0.45")
    # flat, it bids for NO (a YES ask at 0.70) while the account is flat; then the other
    # strategy buys 10 YES: the NO bid resting would now sell them, so it goes at once
    # (test_a_resting_order_never_nets_others_contracts.py), before the strategy fails, and a
    # NO bid decided again is cut to nothing
    failing = Recorder(_order(Side.NO, Action.BUY, "0.30", "5"))
    holder = Recorder(_order(Side.YES, Action.BUY, "0.45", "10", TimeInForce.IOC))
    swap_decide(rig.loop, failing, MM)
    swap_decide(rig.loop, Recorder(), MR)
    rig.step(1.0)
    assert {o.yes_price for o in rig.client.iter_orders(status="resting")} >= {Decimal("0.70")}
    swap_decide(rig.loop, holder, MR)
    mover.quote("0.41", "0.45")  # a new book: each strategy is asked again
    rig.step(1.0)
    rig.step(1.0)
    assert rig.loop.portfolio.view_for(TICKER, MR).position == Decimal("10")
    assert _resting_of(rig, MM) == []
    assert rig.loop.log.counts["order_cut"] >= 1
    failing.failing = True
    mover.quote("0.40", "0.45")
    rig.step(1.0)
    rig.step(1.0)
    assert rig.loop.log.counts["strategy_error"] >= 1
    assert _resting_of(rig, MM) == []


def _a_quote_left_on_a_lost_state_file(tmp_path: Path, *strategies: Any) -> tuple[Order, Rig]:
    """The first of `strategies` rests a YES bid of 5 at 0.41 (the others decide nothing); the
    run ends without its stop, its state file is lost, and the next start reconciles the
    account onto a new one. The quote left, and the run started on the new state file."""
    from kalshi_cli.runner.preflight import reconcile
    from kalshi_cli.store import Store

    start = _runs_on_one_account(tmp_path)
    first = start(*strategies)
    Mover(first.exchange).quote("0.30", "0.70")
    owner, *others = first.loop.reloads.lineup.names
    swap_decide(first.loop, Recorder(_order(Side.YES, Action.BUY, "0.41")), owner)
    for name in others:
        swap_decide(first.loop, Recorder(), name)
    first.step(1.0)
    first.step(1.0)
    (left,) = [o for o in first.client.iter_orders(status="resting") if owner_in(o.client_order_id)]
    first.store.close()
    with Store.open(tmp_path / "fresh.db", clock=first.clock) as store:
        reconcile(first.client, store, first.clock)  # the next start's
    return left, start(*strategies, state="fresh.db")


def test_a_quote_left_by_a_run_on_a_lost_state_file_is_its_strategys_after_the_start(
    tmp_path: Path,
) -> None:
    left, fresh = _a_quote_left_on_a_lost_state_file(tmp_path, MM, MR)
    own = fresh.loop.stop.own
    (order,) = fresh.loop.portfolio.resting(TICKER)
    assert order.order_id == left.order_id
    # the exchange keeps the strategy's name in the client order id: the market maker's, to
    # manage and to withdraw at the stop
    assert own.owner(order) == MM
    assert [o.order_id for o in fresh.loop.stop.own.resting()] == [left.order_id]
    row = fresh.store.orders.intent_by_order_id(left.order_id)
    assert row is not None and row.strategy == MM  # its fills from now on build its part


def _named(path: Path, name: str) -> str:
    """A strategy file of ours that decides nothing, under `name`: its spec."""
    path.write_text(
        "from kalshi_cli.strategy_api import Params, Strategy\n\n\n"
        "class P(Params, frozen=True):\n    pass\n\n\n"
        "def decide(snap, pos, params):\n    return []\n\n\n"
        f"STRATEGY = Strategy({name!r}, P, decide)\n",
        encoding="utf-8",
    )
    return str(path)


@pytest.mark.parametrize("name", sorted(NOT_STRATEGIES))
def test_no_strategy_takes_the_name_orders_placed_without_one_are_kept_under(
    tmp_path: Path, name: str
) -> None:
    # a loop running a strategy of that name would own the person's orders: withdraw them at
    # its stop, and build its part from their fills
    spec = _named(tmp_path / "mine.py", name)
    with pytest.raises(UsageError, match=rf"strategy name '{name}' is what the state file keeps"):
        _rig(tmp_path, spec)


@pytest.mark.parametrize(
    "name",
    ["momentum_breakout_btc_hourly_fast", "élan", "momentum_breakout_btc_hourly_fast_one"],
)
def test_a_strategy_its_order_ids_cannot_carry_whole_is_refused(tmp_path: Path, name: str) -> None:
    # the id keeps a name's first 31 characters of [A-Za-z0-9_.-]: an order the state file
    # does not know (an import after a lost state file) is recorded under that spelling, no
    # strategy of the loop's, so its stop would leave the quote resting and prove nothing of
    # its own rests; two such names could also be spelled alike and own each other's orders
    spec = _named(tmp_path / "mine.py", name)
    with pytest.raises(UsageError, match=r"at most 31 ASCII letters, digits, - and _"):
        _rig(tmp_path, spec)


def test_a_name_of_31_characters_owns_its_quote_left_on_a_lost_state_file(
    tmp_path: Path,
) -> None:
    name = "momentum_breakout_btc_hourly_fa"
    assert len(name) == 31
    left, fresh = _a_quote_left_on_a_lost_state_file(tmp_path, _named(tmp_path / "mine.py", name))
    assert [o.order_id for o in fresh.loop.stop.own.resting()] == [left.order_id]
    row = fresh.store.orders.intent_by_order_id(left.order_id)
    assert row is not None and row.strategy == name


def test_a_stopped_strategys_withdrawal_that_failed_is_tried_again_on_the_next_pass(
    tmp_path: Path,
) -> None:
    budgets = {MM: {"daily_loss_limit": "1"}}
    rig = _rig(tmp_path, MM, MR, trade={"budgets": budgets})
    mover = Mover(rig.exchange)
    mover.quote("0.40", "0.45")
    moves: list[Intent] = [_order(Side.YES, Action.BUY, "0.45", "10", TimeInForce.IOC)]
    losing = _moves_then_quotes(moves, _order(Side.YES, Action.BUY, "0.21", "5"))

    swap_decide(rig.loop, losing, MM)
    swap_decide(rig.loop, Recorder(), MR)
    rig.step(1.0)
    rig.step(1.0)
    assert {o.yes_price for o in rig.client.iter_orders(status="resting")} >= {Decimal("0.21")}
    _sell_ten_at_a_loss(mover, moves)
    rig.client.cancel_errors.append(ServerError("request failed: HTTP 503", status=503))
    for _ in range(4):
        rig.step(0.5)
        if rig.loop.log.counts.get("strategy_stopped"):
            break
    assert rig.loop.log.counts.get("strategy_stopped") == 1
    assert rig.loop.log.counts.get("cancel_failed") == 1
    assert Decimal("0.21") in {o.yes_price for o in rig.client.iter_orders(status="resting")}
    rig.step(1.0)  # the next full pass: the quote that would add goes, as a halt's does
    assert Decimal("0.21") not in {o.yes_price for o in rig.client.iter_orders(status="resting")}


def _sell_ten_at_a_loss(mover: Mover, moves: list[Intent]) -> None:
    """The bid falls to 0.25 and the strategy sells the 10 YES it bought at 0.45: $2.00 lost."""
    mover.quote("0.25", "0.45")
    moves.append(
        replace(
            _order(Side.YES, Action.SELL, "0.25", "10", TimeInForce.IOC),
            model_fair=Decimal("0.20"),
            reduce_only=True,
        )
    )


def _resting_of(rig: Rig, strategy: str) -> list[Order]:
    """The orders resting on the exchange under `strategy`'s name."""
    return [
        o
        for o in rig.client.iter_orders(status="resting")
        if o.client_order_id and owner_in(o.client_order_id) == strategy
    ]


def _moves_then_quotes(
    moves: list[Intent], quote: Intent
) -> Callable[[MarketSnapshot, PositionView, Any], list[Intent]]:
    """A strategy that makes each of `moves` in turn (more may be added), then rests `quote`
    whenever it has nothing resting."""

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> list[Intent]:
        if moves:
            return [moves.pop(0)]
        return [] if pos.resting else [quote]

    return decide


Decide = Callable[[MarketSnapshot, PositionView, Any], Sequence[Any]]
Turn = Sequence[Any] | Callable[[PositionView], Sequence[Any]]


class Turns:
    """A decide that answers each of its turns in turn, then nothing. A turn is a whole decision
    (one or more orders), or a function of the view handed to it that makes one; the test adds
    turns as it goes (`then`), once it has seen what the ones before did."""

    def __init__(self, *turns: Turn) -> None:
        self.left = list(turns)

    def then(self, *turns: Turn) -> None:
        self.left.extend(turns)

    def __call__(self, snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Any]:
        if not self.left:
            return []
        turn = self.left.pop(0)
        return turn(pos) if callable(turn) else turn


def _buys_then(buy: Intent, then: Decide) -> Decide:
    """A strategy whose first decision is `buy`, and which decides by `then` after it."""
    bought: list[Intent] = []

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Any]:
        if not bought:
            bought.append(buy)
            return [buy]
        return then(snap, pos, params)

    return decide


def _buys_until_held(buy: Intent, then: Decide) -> Decide:
    """`_buys_then` for a strategy on its worker: `buy` again while its view holds nothing, since
    a first call answered past the loop's wait (its start, on a loaded machine) is answered
    `Starting` and its decision dropped (strategies/deadline.py)."""
    held: list[bool] = []

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Any]:
        if pos.position:
            held.append(True)
        return then(snap, pos, params) if held else [buy]

    return decide


def _take_profit(closes: Callable[[PositionView], Any]) -> Decide:
    """A strategy that, while its view holds contracts of its own, sells what `closes` reads from
    that view at the best bid, reduce-only."""

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> list[Intent]:
        if pos.position == 0:
            return []
        exit_ = close_at_bid(snap, closes(pos), fair=Decimal("0.40"), reason="take-profit",
                             strategy="test")  # fmt: skip
        return [] if exit_ is None else [exit_]

    return decide


def _sold(rig: Rig) -> list[tuple[Decimal, bool]]:
    """The loop's sales in the market: (count, reduce-only) of each."""
    return [(r.count, r.reduce_only) for r in rig.client.requests if r.book_side is BookSide.ASK]


def _settle(rig: Rig) -> None:
    """Wait until the calls out on the send workers are answered, and book the answers."""
    dispatch = rig.loop.dispatch
    while dispatch.in_flight:
        assert dispatch.settle(SystemClock(), 30)


# what the strategy's buy of 4 and the person's of 6 take from the book at 0.40 / 0.45: YES at
# up to 0.45 (a YES bid), or NO at up to 0.60 (a YES ask at 0.40)
TAKEN = {Side.YES: ("0.45", BookSide.BID, "0.45"), Side.NO: ("0.60", BookSide.ASK, "0.40")}


def _owns_four_beside_six_by_hand(
    tmp_path: Path,
    then: Decide,
    *,
    owner: str = MM,
    beside: Sequence[str] = (),
    side: Side = Side.YES,
    **kw: Any,
) -> tuple[Rig, Mover]:
    """`owner` owns 4 contracts of `side` beside 6 of them bought by hand: the book at 0.40 /
    0.45, its first decision buys the 4, the person buys the 6, and it decides by `then` from its
    next turn on. The strategies `beside` run in the loop and decide nothing; `kw` are `_rig`'s.
    The rig once the 4 are booked as its own, and the mover of the book."""
    rig = _rig(tmp_path, owner, *beside, risk={"min_edge": "0"}, **kw)
    mover = Mover(rig.exchange)
    mover.quote("0.40", "0.45")
    price, book_side, yes_price = TAKEN[side]
    buy = _order(side, Action.BUY, price, "4", TimeInForce.IOC)
    on_worker = kw.get("settings") == DECIDES_ON_A_WORKER
    swap_decide(rig.loop, (_buys_until_held if on_worker else _buys_then)(buy, then), owner)
    for name in beside:
        swap_decide(rig.loop, Recorder(), name)
    _hand_buy(rig, yes_price, "6", book_side)
    rig.step(1.0)
    if kw.get("send_workers"):  # the buy's answer comes back from a worker: its fill read next
        _settle(rig)
        rig.step(1.0)

    def own() -> Decimal:
        view: PositionView = rig.loop.portfolio.view_for(TICKER, owner)
        return view.position

    _first_answers_back(rig, own, "the strategy's purchase")
    assert own() == (4 if side is Side.YES else -4)
    return rig, mover


def _mean_reversion_holds_ten_yes(tmp_path: Path, **kw: Any) -> tuple[Rig, Mover]:
    """Mean-reversion buys 10 YES on the book at 0.40 / 0.45 while market-maker decides
    nothing; `kw` are `_rig`'s. The rig once the 10 are booked as its own, and the mover."""
    rig = _rig(tmp_path, MM, MR, risk={"min_edge": "0"}, **kw)
    mover = Mover(rig.exchange)
    mover.quote("0.40", "0.45")
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.45", "10", TimeInForce.IOC)), MR)
    swap_decide(rig.loop, Recorder(), MM)
    rig.step(1.0)
    assert rig.loop.portfolio.view_for(TICKER, MR).position == 10
    return rig, mover


def test_an_exit_decided_before_its_sale_is_read_never_sells_another_strategys_contracts(
    tmp_path: Path,
) -> None:
    """4 YES of market-maker's, 10 of mean-reversion's. Market-maker's take-profit sells its 4;
    the read of that fill fails without a backoff (the client's own rate limiter held it past its
    deadline), so its part still reads 4 YES, the sale told and not read. Its next turn decides
    the same exit again: it may sell only what it owns once the sale is counted, nothing. On the
    old code the exit went out on every turn and the exchange's reduce-only took it from the
    contracts left, mean-reversion's: 8 of its 10 were sold in two more turns."""
    rig = _rig(tmp_path, MM, MR, risk={"min_edge": "0"})
    mover = Mover(rig.exchange)
    mover.quote("0.40", "0.45")
    buy = _order(Side.YES, Action.BUY, "0.45", "4", TimeInForce.IOC)
    swap_decide(rig.loop, _buys_then(buy, _take_profit(lambda pos: pos)), MM)
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.45", "10", TimeInForce.IOC)), MR)
    rig.step(1.0)
    assert {n: rig.loop.portfolio.view_for(TICKER, n).position for n in (MM, MR)} == {MM: 4, MR: 10}
    assert _sold(rig) == []
    rig.client.fills_error = TurnPastDeadline("the read waited past its deadline for its turn")
    for bid in ("0.41", "0.40", "0.41"):
        mover.quote(bid, "0.45")  # a new book: each strategy is asked again
        rig.step(1.0)
    assert rig.loop.log.counts.get("fill_sync_failed", 0) >= 1
    assert _sold(rig) == [(Decimal("4"), True)]  # the take-profit, once
    (held,) = [p for p in rig.client.get_positions() if p.ticker == TICKER]
    assert held.position == Decimal("10")
    rig.client.fills_error = None
    rig.step(1.0)
    assert {n: rig.loop.portfolio.view_for(TICKER, n).position for n in (MM, MR)} == {MM: 0, MR: 10}


def test_an_exit_for_more_than_the_strategy_owns_sells_only_its_own_part(tmp_path: Path) -> None:
    """A strategy of one's own that closes the account's whole position (`position.whole`)
    sells only what its own fills built: 4 YES of its own beside 6 bought by hand, its exit of
    10 goes out for 4 and the person's 6 stay. On the old code all 10 were sold."""
    rig, mover = _owns_four_beside_six_by_hand(
        tmp_path, _take_profit(lambda pos: pos.whole), beside=[MR]
    )
    assert _sold(rig) == []
    mover.quote("0.41", "0.45")
    rig.step(1.0)
    mover.quote("0.40", "0.45")
    rig.step(1.0)
    assert _sold(rig) == [(Decimal("4"), True)]
    (held,) = [p for p in rig.client.get_positions() if p.ticker == TICKER]
    assert held.position == Decimal("6")
    assert rig.loop.portfolio.view_for(TICKER, MM).position == 0


def test_a_fill_another_process_copied_before_the_answer_is_the_strategys_after_a_restart(
    tmp_path: Path,
) -> None:
    """`kalshi positions` in another terminal copies the account's fills into the state file.
    One run while market-maker's buy of 3 had filled and its answer was not booked yet copies
    the fill as nobody's (the row did not name its order yet); the loop then reads the fill as
    market-maker's. A restart rebuilds the parts from the file: the 3 are still market-maker's.
    On the old code the file kept the copy's blank strategy, and after the restart the 3 were
    nobody's: its exits would never sell them, and its budget did not count them."""
    from kalshi_cli.services.reconcile import catch_up
    from kalshi_cli.store import Store

    start = _runs_on_one_account(tmp_path)
    first = start(MM, MR)
    Mover(first.exchange).quote("0.40", "0.45")
    place = first.client.create_order

    def placed_then_copied(request: Any) -> Any:
        answer = place(request)
        with Store.open(tmp_path / "state.db", clock=first.clock) as other:  # another process
            catch_up(first.client, other, now=first.clock.wall())
        return answer

    first.client.create_order = placed_then_copied  # type: ignore[method-assign]
    _only_market_maker_decides(first, _order(Side.YES, Action.BUY, "0.45", "3", TimeInForce.IOC))
    assert first.loop.portfolio.view_for(TICKER, MM).position == 3
    first.store.close()
    again = start(MM, MR)
    (copied,) = again.store.fills.iter_fills()
    assert copied.strategy == MM
    assert again.loop.portfolio.view_for(TICKER, MM).position == 3


def test_a_strategy_buying_the_other_side_never_takes_another_strategys_contracts(
    tmp_path: Path,
) -> None:
    """Mean-reversion holds 10 YES. Market-maker buys 4 NO: the exchange nets them against the
    account's YES, so the order would sell 4 of mean-reversion's contracts and leave
    market-maker holding nothing. It is dropped before it is sent (`order_cut`). On the old code
    it went out and mean-reversion's part fell to 6, with the P&L of the 4 nobody's."""
    log = tmp_path / "log.jsonl"
    rig, mover = _mean_reversion_holds_ten_yes(tmp_path, log_path=log)
    swap_decide(rig.loop, Recorder(_order(Side.NO, Action.BUY, "0.60", "4", TimeInForce.IOC)), MM)
    mover.quote("0.41", "0.45")
    rig.step(1.0)
    assert _sold(rig) == []
    (cut,) = _log(rig, log, "order_cut")
    assert (cut["strategy"], cut["asked"], cut["count"]) == (MM, "4", "0")
    (held,) = [p for p in rig.client.get_positions() if p.ticker == TICKER]
    assert held.position == Decimal("10")
    assert rig.loop.portfolio.view_for(TICKER, MR).position == 10


def test_a_sale_past_the_strategys_own_part_is_cut_to_it_beside_contracts_bought_by_hand(
    tmp_path: Path,
) -> None:
    """Market-maker owns 4 YES beside 6 bought by hand and sells 10 YES, not reduce-only (a
    quote that would turn it short): on Kalshi the first 10 contracts it sells net the
    account's YES, so 6 would be the person's. It goes out for its own 4; with nothing of its
    own, a sale into the person's contracts is dropped whole."""
    moves: list[Intent] = []
    quote = replace(_order(Side.YES, Action.SELL, "0.50"), model_fair=Decimal("0.30"))
    rig, mover = _owns_four_beside_six_by_hand(tmp_path, _moves_then_quotes(moves, quote))
    sale = _order(Side.YES, Action.SELL, "0.40", "10", TimeInForce.IOC)
    moves.append(replace(sale, model_fair=Decimal("0.30")))
    mover.quote("0.41", "0.45")
    rig.step(1.0)
    assert _sold(rig) == [(Decimal("4"), False)]
    (held,) = [p for p in rig.client.get_positions() if p.ticker == TICKER]
    assert held.position == Decimal("6")
    mover.quote("0.40", "0.45")
    rig.step(1.0)  # flat now: its resting quote of 5 would sell the person's 6
    assert _sold(rig) == [(Decimal("4"), False)]
    assert _resting_of(rig, MM) == []


def test_a_second_sale_beside_the_strategys_resting_one_never_sells_contracts_bought_by_hand(
    tmp_path: Path,
) -> None:
    """Market-maker owns 4 YES beside 6 bought by hand and rests an ask for its 4. Its next turn
    adds another ask of 4 without replacing the first: both filling would sell 8, 4 of them the
    person's. What its resting orders already sell of the side comes off what it may sell."""
    moves: list[Intent] = []
    quote = _order(Side.YES, Action.BUY, "0.21")
    rig, mover = _owns_four_beside_six_by_hand(tmp_path, _moves_then_quotes(moves, quote))
    ask = replace(_order(Side.YES, Action.SELL, "0.60", "4"), model_fair=Decimal("0.30"))
    moves += [ask, replace(ask, price=Decimal("0.65"))]
    for bid in ("0.41", "0.40"):
        mover.quote(bid, "0.45")
        rig.step(1.0)
    assert _sold(rig) == [(Decimal("4"), False)]
    mover.quote("0.40", "0.70")
    another_trader_places(rig.exchange, TICKER, BookSide.BID, Decimal("0.65"), Decimal("8"))
    rig.step(1.0)
    (held,) = [p for p in rig.client.get_positions() if p.ticker == TICKER]
    assert held.position == Decimal("6")


def test_a_pair_whose_leg_is_cut_to_the_strategys_own_part_is_dropped_whole(
    tmp_path: Path,
) -> None:
    """Arbitrage owns 4 YES beside 6 bought by hand and decides a pair in one market: 10 YES
    and 10 NO, which only pay together. The NO leg may take only its own 4 of the account's YES;
    sent as 10 YES and 4 NO, the pair would leave 6 YES unhedged that it never meant to hold. A
    group with a leg cut goes nowhere, as one with a leg dropped."""
    turns = Turns()
    rig, mover = _owns_four_beside_six_by_hand(tmp_path, turns, owner="arbitrage")
    before = len(rig.client.requests)
    turns.then(
        [
            _order(Side.YES, Action.BUY, "0.45", "10", TimeInForce.FOK),
            _order(Side.NO, Action.BUY, "0.50", "10", TimeInForce.FOK),
        ]
    )
    mover.quote("0.41", "0.45")
    rig.step(1.0)
    assert turns.left == []
    assert rig.client.requests[before:] == []


@pytest.mark.parametrize("reduce_only", [False, True])
def test_two_sales_in_one_decision_together_sell_no_more_than_the_strategys_own_part(
    tmp_path: Path, reduce_only: bool
) -> None:
    """Market-maker owns 4 YES beside 6 bought by hand and decides two sales of 3 at once:
    the first goes whole, the second for the 1 left of its own."""
    sale = replace(
        _order(Side.YES, Action.SELL, "0.40", "3", TimeInForce.IOC),
        model_fair=Decimal("0.30"),
        reduce_only=reduce_only,
    )
    turns = Turns()
    rig, mover = _owns_four_beside_six_by_hand(tmp_path, turns)
    turns.then([sale, replace(sale, price=Decimal("0.39"))])
    mover.quote("0.41", "0.45")
    rig.step(1.0)
    assert _sold(rig) == [(Decimal("3"), reduce_only), (Decimal("1"), reduce_only)]
    (held,) = [p for p in rig.client.get_positions() if p.ticker == TICKER]
    assert held.position == Decimal("6")


@pytest.mark.parametrize("amend", [False, True])
def test_a_requote_whose_old_ask_filled_before_it_landed_sells_only_the_strategys_part_left(
    tmp_path: Path, amend: bool
) -> None:
    """Market-maker owns 4 YES beside 6 bought by hand and rests an ask for its 4. It requotes
    with an ask of 4 that replaces it (whole: the old one goes), and 2 of the old ask fill
    before the requote lands. Its own part is 2 now; on the old code the replacement, sent once
    the old ask's cancel was booked, still went out for 4, and once it filled 2 of the person's
    contracts were sold. An amend names the order's new total, what filled of it counted: the
    exchange rests only the 2 left of it."""
    ask = replace(_order(Side.YES, Action.SELL, "0.60", "4"), model_fair=Decimal("0.30"))
    turns = Turns()
    rig, mover = _owns_four_beside_six_by_hand(tmp_path, turns, trade={"amend_requotes": amend})
    turns.then([ask])
    mover.quote("0.40", "0.70")
    rig.step(1.0)
    assert _sold(rig) == [(Decimal("4"), False)]
    call = "amend_order" if amend else "cancel_order"
    lands = getattr(rig.client, call)

    def filled_first(*args: Any, **kw: Any) -> Any:
        # 2 of the old ask fill while the requote is on its way
        another_trader_places(rig.exchange, TICKER, BookSide.BID, Decimal("0.60"), Decimal("2"))
        return lands(*args, **kw)

    setattr(rig.client, call, filled_first)
    turns.then(
        lambda pos: [replace(ask, price=Decimal("0.62"), replaces=(pos.resting[0].order_id,))]
    )
    mover.quote("0.41", "0.70")
    rig.step(1.0)
    assert rig.loop.log.counts.get("order_amended", 0) == int(amend)
    assert rig.loop.executor.cancels.shortfalls == int(not amend)
    another_trader_places(rig.exchange, TICKER, BookSide.BID, Decimal("0.62"), Decimal("8"))
    rig.step(1.0)
    (held,) = [p for p in rig.client.get_positions() if p.ticker == TICKER]
    assert held.position == Decimal("6")
    assert rig.loop.portfolio.view_for(TICKER, MM).position == 0
    if not amend:
        assert _sold(rig) == [(Decimal("4"), False), (Decimal("2"), False)]


def test_a_requote_whose_old_ask_was_told_filled_while_its_cancel_was_out_sells_only_its_part(
    tmp_path: Path,
) -> None:
    """The same with the cancel out on a send worker while the exchange's message tells of the
    2 filled: the view holds 2 of the old ask resting when the cancel's answer (2 cancelled) is
    booked, so it finds nothing short, and the replacement went out for 4 with no second look."""
    ask = replace(_order(Side.YES, Action.SELL, "0.60", "4"), model_fair=Decimal("0.30"))
    turns = Turns()
    rig, mover = _owns_four_beside_six_by_hand(
        tmp_path, turns, trade={"amend_requotes": False}, send_workers=2
    )
    release = threading.Event()
    try:
        turns.then([ask])
        mover.quote("0.40", "0.70")
        rig.step(1.0)
        _settle(rig)
        rig.step(1.0)
        assert _sold(rig) == [(Decimal("4"), False)]
        out = threading.Event()
        cancel = rig.client.cancel_order

        def held(order_id: str, **kw: Any) -> Any:
            out.set()
            release.wait(30)
            return cancel(order_id, **kw)

        rig.client.cancel_order = held  # type: ignore[method-assign]
        turns.then(
            lambda pos: [replace(ask, price=Decimal("0.62"), replaces=(pos.resting[0].order_id,))]
        )
        mover.quote("0.41", "0.70")
        rig.step(1.0)
        assert out.wait(30), "the old ask's cancel is out"
        another_trader_places(rig.exchange, TICKER, BookSide.BID, Decimal("0.60"), Decimal("2"))
        rig.step(1.0)  # the message tells of the 2 filled
        (old,) = [o for o in rig.loop.portfolio.orders.values() if o.ticker == TICKER]
        assert old.remaining == 2
        release.set()
        _settle(rig)
        rig.step(1.0)
        _settle(rig)
        assert rig.loop.executor.cancels.shortfalls == 0
        another_trader_places(rig.exchange, TICKER, BookSide.BID, Decimal("0.62"), Decimal("8"))
        rig.step(1.0)
        _settle(rig)
        rig.step(1.0)
    finally:
        release.set()
        rig.loop.dispatch.close()
    (position,) = [p for p in rig.client.get_positions() if p.ticker == TICKER]
    assert position.position == Decimal("6")
    assert _sold(rig) == [(Decimal("4"), False), (Decimal("2"), False)]


def _exit(side: Side, price: str, count: str, fair: str) -> Intent:
    """A reduce-only sale of `side`, immediate or cancel."""
    sale = _order(side, Action.SELL, price, count, TimeInForce.IOC)
    return replace(sale, reduce_only=True, model_fair=Decimal(fair))


def test_exits_in_one_decision_share_the_strategys_own_part_and_the_orders_after_them_go(
    tmp_path: Path,
) -> None:
    """Market-maker owns 4 YES beside 6 bought by hand and decides, at once, two exits of 3
    and a bid. The first sells 3; the second may take only what the first left of its part,
    so it goes out for 1 (`exit_cut`: asked 3, sent 1); the bid after them goes as decided.
    The exchange caps a reduce-only order by the account's 10 alone: a second exit of 3 would
    have sold 2 of the person's."""
    log = tmp_path / "log.jsonl"
    bid = _order(Side.YES, Action.BUY, "0.30", "1")
    exits = [_exit(Side.YES, "0.40", "3", "0.30"), _exit(Side.YES, "0.40", "3", "0.30"), bid]
    rig, mover = _owns_four_beside_six_by_hand(tmp_path, Turns(exits), log_path=log)
    mover.quote("0.41", "0.45")
    rig.step(1.0)
    mover.quote("0.40", "0.45")
    rig.step(1.0)
    assert _sold(rig) == [(Decimal("3"), True), (Decimal("1"), True)]
    (held,) = [p for p in rig.client.get_positions() if p.ticker == TICKER]
    assert held.position == Decimal("6")
    assert rig.loop.portfolio.view_for(TICKER, MM).position == 0
    assert [(o.book_side, o.yes_price, o.remaining_count) for o in _resting_of(rig, MM)] == [
        (BookSide.BID, Decimal("0.30"), Decimal("1"))
    ]
    (cut,) = _log(rig, log, "exit_cut")
    assert (cut["ticker"], cut["strategy"], cut["asked"]) == (TICKER, MM, "3")
    assert Decimal(cut["count"]) == 1


def test_an_exit_of_no_contracts_is_cut_to_the_strategys_own_part(tmp_path: Path) -> None:
    """The cut reads a NO position as it reads a YES one: market-maker owns 4 NO beside 6 NO
    bought by hand, and its reduce-only exit of 10 NO (a YES bid) goes out for its own 4."""
    exit_ = _exit(Side.NO, "0.55", "10", "0.40")
    rig, mover = _owns_four_beside_six_by_hand(tmp_path, Turns([exit_]), side=Side.NO)
    mover.quote("0.41", "0.45")
    rig.step(1.0)
    bought = [(r.count, r.reduce_only) for r in rig.client.requests if r.book_side is BookSide.BID]
    assert bought == [(Decimal("4"), True)]
    (held,) = [p for p in rig.client.get_positions() if p.ticker == TICKER]
    assert held.position == Decimal("-6")
    assert rig.loop.portfolio.view_for(TICKER, MM).position == 0


def test_a_sale_into_a_single_contract_not_the_strategys_own_is_cut(tmp_path: Path) -> None:
    """The cut holds at one contract: with 1 YES bought by hand and none of its own,
    market-maker's sale of 1 is dropped (`order_cut`); owning 2 beside that 1, its sale of 3
    goes out for 2."""
    log = tmp_path / "log.jsonl"
    rig = _rig(tmp_path, MM, risk={"min_edge": "0"}, log_path=log)
    mover = Mover(rig.exchange)
    mover.quote("0.40", "0.45")

    def sale(count: str) -> Intent:
        return replace(_order(Side.YES, Action.SELL, "0.40", count, TimeInForce.IOC),
                       model_fair=Decimal("0.30"))  # fmt: skip

    buy = _order(Side.YES, Action.BUY, "0.45", "2", TimeInForce.IOC)
    swap_decide(rig.loop, Turns([sale("1")], [buy], [sale("3")]), MM)
    _hand_buy(rig, "0.45", "1")
    for bid in ("0.40", "0.41", "0.40"):
        mover.quote(bid, "0.45")
        rig.step(1.0)
    assert _sold(rig) == [(Decimal("2"), False)]
    (held,) = [p for p in rig.client.get_positions() if p.ticker == TICKER]
    assert held.position == Decimal("1")
    first = _log(rig, log, "order_cut")[0]  # the next cut of the market is counted, not logged
    assert (first["asked"], first["count"]) == ("1", "0")


def test_a_pair_whose_leg_would_take_another_strategys_contracts_goes_out_not_at_all(
    tmp_path: Path,
) -> None:
    """Mean-reversion holds 10 YES. Market-maker, deciding legs that only pay together, buys
    2 YES and 4 NO: the NO leg would net mean-reversion's YES, so it is dropped, and the YES
    leg goes without it never (`group_dropped`); nothing is sent."""
    log = tmp_path / "log.jsonl"
    rig, mover = _mean_reversion_holds_ten_yes(tmp_path, log_path=log)
    sent = len(rig.client.requests)
    legs = [
        _order(Side.YES, Action.BUY, "0.45", "2", TimeInForce.IOC),
        _order(Side.NO, Action.BUY, "0.60", "4", TimeInForce.IOC),
    ]
    member = rig.loop.reloads.lineup.get(MM)
    paired = replace(member.strategy, decide_fn=Turns(legs), uses_events=True)
    rig.loop.reloads.replace(replace(member, strategy=paired))
    mover.quote("0.41", "0.45")
    rig.step(1.0)
    assert len(rig.client.requests) == sent
    (dropped,) = _log(rig, log, "group_dropped")
    assert dropped["ticker"] == TICKER
    assert rig.loop.portfolio.view_for(TICKER, MR).position == 10


def test_an_exit_cut_to_nothing_still_cancels_the_orders_it_replaces(tmp_path: Path) -> None:
    """Market-maker rests a bid, then decides an exit replacing it while it owns nothing (the
    6 held were bought by hand): the exit is dropped, and the bid it replaces is cancelled as
    it asked (`order_cancelled`, with the exit's reason)."""
    log = tmp_path / "log.jsonl"
    rig = _rig(tmp_path, MM, risk={"min_edge": "0"}, log_path=log)
    mover = Mover(rig.exchange)
    mover.quote("0.40", "0.45")
    bid = _order(Side.YES, Action.BUY, "0.30", "1")
    rested: list[str] = []

    def decide(snap: MarketSnapshot, pos: PositionView, params: Any) -> list[Intent]:
        if not rested and not pos.resting:
            return [bid]
        if pos.resting:
            rested.extend(o.order_id for o in pos.resting)
            exit_ = _exit(Side.YES, "0.40", "6", "0.30")
            return [replace(exit_, reason="stop", replaces=tuple(rested))]
        return []

    swap_decide(rig.loop, decide, MM)
    _hand_buy(rig, "0.45", "6")
    for quoted in ("0.40", "0.41", "0.40"):
        mover.quote(quoted, "0.45")
        rig.step(1.0)
    assert _sold(rig) == []
    assert _resting_of(rig, MM) == []
    (cancelled,) = _log(rig, log, "order_cancelled")
    assert (cancelled["ticker"], cancelled["order_id"], cancelled["reason"]) == (
        TICKER,
        rested[0],
        "stop",
    )
    (held,) = [p for p in rig.client.get_positions() if p.ticker == TICKER]
    assert held.position == Decimal("6")


def test_an_exit_of_a_purchase_told_filled_and_not_read_sells_what_it_bought(
    tmp_path: Path,
) -> None:
    """Market-maker buys 4 YES; the exchange's answer says they filled, but the read of the
    fill fails. Its exit of 4 on the next turn goes out for the 4: its own part counts the
    contracts its bid was told it bought (a bid's add YES, as an ask's take them off)."""
    rig = _rig(tmp_path, MM, risk={"min_edge": "0"})
    mover = Mover(rig.exchange)
    mover.quote("0.40", "0.45")
    buy = _order(Side.YES, Action.BUY, "0.45", "4", TimeInForce.IOC)
    swap_decide(rig.loop, Turns([buy], [_exit(Side.YES, "0.40", "4", "0.30")]), MM)
    rig.client.fills_error = TurnPastDeadline("the read waited past its deadline for its turn")
    rig.step(1.0)
    assert rig.loop.portfolio.view_for(TICKER, MM).position == 0  # not read yet
    mover.quote("0.41", "0.45")
    rig.step(1.0)
    assert _sold(rig) == [(Decimal("4"), True)]
    assert [p.position for p in rig.client.get_positions() if p.ticker == TICKER] in ([], [0])


def test_an_exit_decided_beside_the_order_that_opens_the_position_has_nothing_to_sell(
    tmp_path: Path,
) -> None:
    """Flat, market-maker decides at once an ask that opens a NO position and a reduce-only
    bid closing NO: the exit closes nothing it holds yet (the ask has not filled), so it is
    dropped (`exit_cut`, 0 sent) and the ask goes alone. On the old code the event of a bid
    cut to nothing said `-0` sent."""
    log = tmp_path / "log.jsonl"
    rig = _rig(tmp_path, MM, risk={"min_edge": "0"}, log_path=log)
    mover = Mover(rig.exchange)
    mover.quote("0.40", "0.45")
    ask = replace(_order(Side.YES, Action.SELL, "0.60", "2"), model_fair=Decimal("0.30"))
    swap_decide(rig.loop, Turns([ask, _exit(Side.NO, "0.55", "2", "0.40")]), MM)
    rig.step(1.0)
    mover.quote("0.41", "0.45")
    rig.step(1.0)
    sent = [(r.book_side, r.count, r.reduce_only) for r in rig.client.requests]
    assert sent == [(BookSide.ASK, Decimal("2"), False)]
    (cut,) = _log(rig, log, "exit_cut")
    assert (cut["asked"], cut["count"]) == ("2", "0")


def test_only_the_strategys_own_orders_taking_the_side_come_off_what_it_may_sell(
    tmp_path: Path,
) -> None:
    """Market-maker owns 4 YES beside 6 bought by hand; it rests a bid (which adds YES), and the
    person rests an ask of their own. Neither takes from the strategy's 4: its ask of 4 goes
    out whole."""
    bid = _order(Side.YES, Action.BUY, "0.30", "1")
    ask = replace(_order(Side.YES, Action.SELL, "0.60", "4"), model_fair=Decimal("0.30"))
    rig, mover = _owns_four_beside_six_by_hand(tmp_path, Turns([bid]))
    mover.quote("0.41", "0.45")
    rig.step(1.0)
    assert rig.loop.portfolio.view_for(TICKER, MM).position == 4
    assert [o.yes_price for o in _resting_of(rig, MM)] == [Decimal("0.30")]
    _hand_buy(rig, "0.70", "2", BookSide.ASK, TimeInForce.GTC)  # the person's own ask
    swap_decide(rig.loop, Turns([ask]), MM)
    mover.quote("0.40", "0.45")
    rig.step(1.0)
    assert _sold(rig) == [(Decimal("4"), False)]


def test_a_sale_beside_the_strategys_resting_one_that_it_cancels_goes_out_whole(
    tmp_path: Path,
) -> None:
    """Market-maker owns 4 YES beside 6 bought by hand and rests an ask of 4. Its next decision
    cancels that ask and sends another of 4: the cancelled one takes nothing any more, so the
    new one goes out whole, also while the cancel is out on a send worker."""
    ask = replace(_order(Side.YES, Action.SELL, "0.60", "4"), model_fair=Decimal("0.30"))
    turns = Turns(
        [ask],
        lambda pos: [
            Cancel(TICKER, pos.resting[0].order_id, "requote"),
            replace(ask, price=Decimal("0.62")),
        ],
    )
    rig, mover = _owns_four_beside_six_by_hand(tmp_path, turns, send_workers=2)
    try:
        for bid in ("0.41", "0.40"):
            mover.quote(bid, "0.45")
            rig.step(1.0)
            _settle(rig)
        rig.step(1.0)
    finally:
        rig.loop.dispatch.close()
    assert [(r.price, r.count) for r in rig.client.requests if r.book_side is BookSide.ASK] == [
        (Decimal("0.60"), Decimal("4")),
        (Decimal("0.62"), Decimal("4")),
    ]
    assert [o.yes_price for o in _resting_of(rig, MM)] == [Decimal("0.62")]


def _buys_five() -> Turns:
    """A strategy whose one decision buys 5 YES at up to 0.45."""
    return Turns([_order(Side.YES, Action.BUY, "0.45", "5", TimeInForce.IOC)])


def _two_owners_buy_then_a_person_sells(rig: Rig, first: Callable[[], None], owner: str) -> None:
    """`first` makes the older part (5 YES), `owner`, a strategy of the rig, buys 5 YES after
    it, and a person then sells 5 by hand: the account holds 5, which the newest part (`owner`'s)
    gave up, so `owner` owns none of them. The book at 0.40 / 0.45."""
    Mover(rig.exchange).quote("0.40", "0.45")
    swap_decide(rig.loop, Turns(), owner)
    first()
    rig.step(1.0)
    swap_decide(rig.loop, _buys_five(), owner)
    rig.step(1.0)
    rig.step(1.0)
    _hand_buy(rig, "0.40", "5", BookSide.ASK)  # a YES sale: the IOC takes the bid at 0.40
    rig.step(1.0)
    assert rig.loop.portfolio.view(TICKER).position == 5


def test_a_restart_without_a_strategy_leaves_its_contracts_its_own(tmp_path: Path) -> None:
    """Mean-reversion bought 5 YES, market-maker 5 after it, and a person sold 5: the newest
    part gave them up, so the 5 held are mean-reversion's. A restart running market-maker
    alone knows the same: mean-reversion's contracts stay its own though it does not run, never
    market-maker's to sell. On the old code the restart built market-maker's part from its own
    fills alone, the person's sale taken from mean-reversion's (nobody's to that run), and gave
    market-maker all 5."""
    start = _runs_on_one_account(tmp_path)
    first = start(MM, MR)

    def mean_reversion_buys() -> None:
        swap_decide(first.loop, _buys_five(), MR)
        first.step(1.0)

    _two_owners_buy_then_a_person_sells(first, mean_reversion_buys, MM)
    before = {n: first.loop.portfolio.view_for(TICKER, n).position for n in (MM, MR)}
    assert before == {MM: 0, MR: 5}
    first.store.close()
    again = start(MM)
    swap_decide(again.loop, Turns(), MM)
    again.step(1.0)
    assert again.loop.portfolio.view(TICKER).position == 5
    assert again.loop.portfolio.view_for(TICKER, MM).position == 0


def test_a_strategy_never_owns_the_assistants_contracts_a_person_sold_beside(
    tmp_path: Path,
) -> None:
    """The assistant (`kalshi mcp`, its orders and fills under `agent`) bought 5 YES, then
    market-maker 5, then a person sold 5: the newest part gave them up, so the 5 held are the
    assistant's, and market-maker's exit has nothing of its own to sell. On the old code the
    loop built no part for the assistant, took the person's sale from its contracts, and
    market-maker sold the assistant's 5."""
    rig = _rig(tmp_path, MM, risk={"min_edge": "0"})

    def the_assistant_buys() -> None:
        service = OrderService(rig.client, rig.store, clock=rig.clock)
        request = OrderRequest(
            TICKER,
            Side.YES,
            Action.BUY,
            Decimal(5),
            Decimal("0.45"),
            time_in_force=TimeInForce.IOC,
            strategy=AGENT,
            client_order_id=owned_client_order_id(AGENT),
        )
        assert service.place(service.prepare(request)).status == "executed"

    _two_owners_buy_then_a_person_sells(rig, the_assistant_buys, MM)
    assert rig.loop.portfolio.view_for(TICKER, MM).position == 0
    swap_decide(rig.loop, _take_profit(lambda pos: pos), MM)
    rig.step(1.0)
    rig.step(1.0)
    assert _sold(rig) == []
    assert rig.loop.portfolio.view(TICKER).position == 5

"""A strategy (or its model) that raises, hangs past its deadline or answers garbage is
contained per market by the trade loop (runner/loop/market_pass.py): the decision is skipped and
counted, the loop's adding quotes in that market are withdrawn, the `strategy_errors_alert`-th
failure in a row alerts and the `strategy_errors_stop`-th stops the strategy alone, never the
account. On the fakes, with a ManualClock."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli import strategies
from kalshi_cli.runner.config import STRATEGY_ERRORS_ALERT, STRATEGY_ERRORS_STOP
from kalshi_cli.runner.loop.alerting import TradeAlerts
from kalshi_cli.strategies import get_strategy, register_strategy
from kalshi_cli.strategies.model.sources import CommandSource
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import Decision, Intent, PositionView
from kalshi_cli.vocabulary.units import Action, Side
from tests.fakes import FakeAlertStateStore, RecordingRouter
from tests.runner.fakes import Rig, make_rig
from tests.waiting import PATIENT_MS, pause, wait_until

UNDER_TEST = Path(__file__).parents[2] / "strategies" / "models_under_test.py"
CRASHES = f"python:{UNDER_TEST}:crashes"
# the model that raises at every call, under a deadline no busy machine's stall of its worker
# thread reaches: every call ends by raising, never by missing its deadline (a missed call leaves
# the next one refused as still running, which is no failure, and the count falls short)
CRASHING = {"source": CRASHES, "timeout_ms": PATIENT_MS}


# a market maker whose decisions fail while `FLAKY["fail"]` is set; and strategies that answer
# what the loop must refuse to read
FLAKY = {"fail": False}


def _flaky(snap: MarketSnapshot, pos: PositionView, params: Any) -> Sequence[Decision]:
    if FLAKY["fail"]:
        raise RuntimeError("flaky strategy failed")
    return get_strategy("market-maker").decide(snap, pos, params)


def _intent(snap: MarketSnapshot, **changes: Any) -> Intent:
    base = Intent(
        snap.ticker, Side.YES, Action.BUY, Decimal("0.01"), Decimal(1), Decimal("0.5"), ""
    )
    return replace(base, **changes)


GARBAGE: dict[str, Any] = {
    "garbage-not-a-decision": lambda snap, pos, params: ["buy!"],
    "garbage-nan-fair": lambda snap, pos, params: [_intent(snap, model_fair=Decimal("NaN"))],
    "garbage-fair-above-one": lambda snap, pos, params: [_intent(snap, model_fair=Decimal("1.5"))],
    "garbage-other-market": lambda snap, pos, params: [_intent(snap, ticker="ELSEWHERE")],
    "garbage-not-a-list": lambda snap, pos, params: (d for d in [_intent(snap)]),
    # terms no order may carry: the client would refuse them as it builds the request
    "garbage-count-of-three-decimals": lambda snap, pos, params: [
        _intent(snap, count=Decimal("1.001"))
    ],
    "garbage-price-of-five-decimals": lambda snap, pos, params: [
        _intent(snap, price=Decimal("0.01001"))
    ],
}


@pytest.fixture(scope="module", autouse=True)
def _registered() -> Iterator[None]:
    base = get_strategy("market-maker")
    names = {"flaky-market-maker": _flaky, **GARBAGE}
    for name, fn in names.items():
        register_strategy(replace(base, name=name, decide_fn=fn, clock_free=None))
    try:
        yield
    finally:
        # registered for this module only: `trade --help` lists every registered name
        for name in names:
            strategies._REGISTRY.pop(name, None)


def events(rig: Rig, log: Path, kind: str) -> list[dict[str, Any]]:
    rig.loop.log.close()  # flushed and closed: the rig's steps in a test come before this
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    return [r for r in rows if r["event"] == kind]


def with_alerts() -> tuple[RecordingRouter, TradeAlerts]:
    router = RecordingRouter()
    alerts = TradeAlerts(router, lambda: nullcontext(FakeAlertStateStore(ManualClock())))
    return router, alerts


def test_a_crashing_model_is_counted_alerted_then_stopped_alone(tmp_path: Path) -> None:
    log = tmp_path / "trade.log"
    router, alerts = with_alerts()
    rig = make_rig(
        tmp_path / "s.db", strategy="model", params=CRASHING, log_path=log, alerts=alerts
    )
    markets = sorted(rig.loop.portfolio.markets)
    for _ in range(STRATEGY_ERRORS_ALERT):
        rig.step(1.0)
    assert rig.store.trading.trading_state().state == "ACTIVE"
    for _ in range(STRATEGY_ERRORS_STOP - STRATEGY_ERRORS_ALERT + 2):
        rig.step(1.0)
    assert rig.store.trading.trading_state().state == "ACTIVE"
    assert rig.store.trading.risk_trips() == []
    failed = events(rig, log, "strategy_error")
    assert {e["ticker"] for e in failed} == set(markets)
    assert all("the model's data feed is gone" in e["error"] for e in failed)
    (stopped,) = events(rig, log, "strategy_stopped")
    assert f"{STRATEGY_ERRORS_STOP} failed decisions" in stopped["reason"]
    alerts.close()
    sent = [a.fingerprint for a in router.sent]
    # one alert per market at the alert threshold, then the stop's
    # the alert names the strategy: another strategy failing in the same market is its own
    name = rig.loop.reloads.lineup.names[0]
    assert sorted(f for f in sent if f.startswith("trade.strategy_error.")) == [
        f"trade.strategy_error.{name}:{t}" for t in markets
    ]
    assert f"trade.strategy_stopped.{name}" in sent
    # stopped at the first market's tenth failure: not asked again anywhere
    assert rig.loop.questions.stops.strategy_error_count < STRATEGY_ERRORS_STOP * len(markets)


def test_a_failing_decision_withdraws_the_loops_quotes_in_that_market(tmp_path: Path) -> None:
    FLAKY["fail"] = False
    rig = make_rig(tmp_path / "s.db", strategy="flaky-market-maker")
    rig.step(0.1)
    me = rig.client.account_id
    resting = [o for o in rig.exchange.history.orders(me) if o.status == "resting"]
    assert resting, "the market maker quotes"
    FLAKY["fail"] = True
    try:
        rig.step(1.0)
    finally:
        FLAKY["fail"] = False
    assert [o for o in rig.exchange.history.orders(me) if o.status == "resting"] == []
    assert rig.store.trading.trading_state().state == "ACTIVE"  # one failure: withdrawn, not halted


def test_a_good_decision_resets_the_count(tmp_path: Path) -> None:
    log = tmp_path / "trade.log"
    router, alerts = with_alerts()
    rig = make_rig(tmp_path / "s.db", strategy="flaky-market-maker", log_path=log, alerts=alerts)
    try:
        for _ in range(3):
            FLAKY["fail"] = True
            for _ in range(STRATEGY_ERRORS_ALERT - 1):
                rig.step(1.0)
            FLAKY["fail"] = False
            rig.step(1.0)
    finally:
        FLAKY["fail"] = False
    alerts.close()
    # three streaks, each one short of the alert: every failure counted, none alerted (the
    # log writes a market's first failure of an interval in full, and counts the repeats)
    markets = len(rig.loop.portfolio.markets)
    assert rig.loop.log.counts["strategy_error"] == 3 * (STRATEGY_ERRORS_ALERT - 1) * markets
    assert {e["in_a_row"] for e in events(rig, log, "strategy_error")} == {1}
    assert router.sent == []


def test_a_strategy_failing_at_every_call_writes_one_line_a_market_per_interval(
    tmp_path: Path,
) -> None:
    """A strategy failing at every call, never stopped: the first failure of each market is
    written in full and the repeats are counted."""
    log = tmp_path / "trade.log"
    rig = make_rig(
        tmp_path / "s.db",
        strategy="model",
        params=CRASHING,
        log_path=log,
        trade={"strategy_errors_stop": 1000},
    )
    markets = sorted(rig.loop.portfolio.markets)
    for _ in range(30):
        rig.step(1.0)
    calls = rig.loop.log.counts["strategy_error"]
    assert calls >= 30 * len(markets)
    written = events(rig, log, "strategy_error")
    assert sorted(e["ticker"] for e in written) == markets  # one each: all in one interval
    (summaries,) = [events(rig, log, "strategy_error_summary")]  # written at close
    assert len(written) + sum(s["count"] for s in summaries) == calls


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_garbage_from_a_strategy_is_refused_before_the_risk_engine(
    name: str, tmp_path: Path
) -> None:
    log = tmp_path / "trade.log"
    rig = make_rig(tmp_path / "s.db", strategy=name, log_path=log)
    rig.step(1.0)
    failed = events(rig, log, "strategy_error")
    assert failed and all(e["kind"] == "ValueError" for e in failed)
    assert rig.store.orders.intents() == []
    assert rig.exchange.history.orders(rig.client.account_id) == []


def test_a_dry_run_stops_a_failing_strategy_and_leaves_the_state_file_alone(
    tmp_path: Path,
) -> None:
    log = tmp_path / "trade.log"
    rig = make_rig(tmp_path / "s.db", strategy="model", params=CRASHING, log_path=log, dry_run=True)
    for _ in range(STRATEGY_ERRORS_STOP):
        rig.step(1.0)
    assert rig.store.trading.trading_state().state == "ACTIVE"
    assert rig.store.trading.risk_trips() == []
    assert events(rig, log, "strategy_stopped")


def test_a_models_quotes_are_withdrawn_when_its_process_dies(tmp_path: Path) -> None:
    log = tmp_path / "trade.log"
    # the model starts only while `alive` is there, so that it stays down once killed: its
    # restart is due after a backoff of real time (0.5 s), which a step over ten markets on a
    # busy machine can outlast; a market decided after a restart is answered by the new process
    # and keeps its quotes, as it should, and would prove nothing here
    alive = tmp_path / "alive"
    alive.touch()
    fixed = f"command:test -e {alive} && exec {sys.executable} {UNDER_TEST} fixed"
    rig = make_rig(
        tmp_path / "s.db",
        strategy="model",
        params={"source": fixed, "quote": True},
        log_path=log,
    )
    me = rig.client.account_id
    markets = set(rig.loop.portfolio.markets)

    def every_market_quoted() -> bool:
        resting = rig.exchange.history.orders(me)
        return {o.ticker for o in resting if o.status == "resting"} == markets

    def step() -> None:
        pause()
        rig.step(0.1)

    # fair 0.9: the model quotes in every market, once its process has started and answered;
    # until then each turn is `Starting` (a process starting on a busy machine can take longer
    # than the first step's one deadline), so the rig steps until it has
    rig.step(0.1)
    wait_until(every_market_quoted, "the model's quotes in every market", between=step)
    source = rig.loop.reloads.lineup.members[0].params.live_source
    assert isinstance(source, CommandSource) and source.pid is not None
    alive.unlink()
    os.killpg(source.pid, signal.SIGKILL)
    rig.step(1.0)
    assert [o for o in rig.exchange.history.orders(me) if o.status == "resting"] == []
    failed = events(rig, log, "strategy_error")
    # every market's decision failed: none was decided on an answer after the death
    assert {e["ticker"] for e in failed} == markets
    assert {e["kind"] for e in failed} <= {"ModelDown", "ModelError"}
    source.close()

"""How a run ends: a crash inside the loop, and a second Ctrl-C while it shuts down."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from kalshi_cli.feed.book import FeedEvent
from kalshi_cli.runner import StrategyChoice, TradeOptions
from kalshi_cli.runner.lifecycle.session import run, signals
from tests.runner.fakes import Rig, make_rig


def _quoting_rig(tmp_path: Path) -> Rig:
    rig = make_rig(tmp_path / "s.db", strategy="market-maker")
    rig.step(0.1)
    assert rig.loop.portfolio.orders, "the market maker rests quotes"
    return rig


def test_a_crash_in_the_loop_still_cancels_its_resting_quotes(tmp_path: Path) -> None:
    rig = _quoting_rig(tmp_path)
    resting = list(rig.loop.portfolio.orders)

    def broken() -> list[FeedEvent]:
        raise RuntimeError("a bug in the feed")

    rig.feed.drain_events = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="a bug in the feed"):
        run(rig.loop, TradeOptions(strategies=(StrategyChoice("market-maker"),), duration_s=5))
    exchange, me = rig.exchange, rig.client.account_id
    still = [o.order_id for o in exchange.orders(me) if o.status == "resting"]
    assert resting and still == []


def test_a_second_interrupt_during_shutdown_stops_the_cancelling(tmp_path: Path) -> None:
    stop, abandon = threading.Event(), threading.Event()
    with signals(stop, lambda: None, abandon=abandon):
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.is_set() and not abandon.is_set()
        os.kill(os.getpid(), signal.SIGINT)
        assert abandon.is_set()
    rig = _quoting_rig(tmp_path)
    loop = rig.loop
    resting = set(loop.portfolio.orders)
    summary = loop.shutdown(cancel_resting=True, abandon=abandon)
    assert set(loop.portfolio.orders) == resting, "nothing cancelled once abandoned"
    assert summary.resting_orders == len(resting)
    assert loop.log.counts.get("shutdown_abandoned") == 1


def test_the_pause_file_and_sigusr1_hold_new_strategy_orders(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db", strategy="market-maker")
    pause_file = tmp_path / "trade.pause"
    rig.loop.settings = replace(rig.loop.settings, pause_file=pause_file)
    pause_file.touch()
    rig.step(0.1)
    assert rig.client.requests == []
    pause_file.unlink()
    with signals(threading.Event(), rig.loop.toggle_pause):
        os.kill(os.getpid(), signal.SIGUSR1)
        rig.step(0.1)
        assert rig.client.requests == []
        os.kill(os.getpid(), signal.SIGUSR1)
        rig.step(0.1)
    assert rig.client.requests, "unpaused: the market maker quotes"
    assert rig.loop.log.counts.get("unpaused") == 1

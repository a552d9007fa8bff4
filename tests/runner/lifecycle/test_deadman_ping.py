"""The trade loop pings a configured dead-man URL (healthchecks.io conventions): `/start` when
it starts, a plain ping while it runs, a plain ping when it stops, `/fail` when it crashes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from kalshi_cli.alerts.router import AlertRouter
from kalshi_cli.feed.book import FeedMessage
from kalshi_cli.runner.config import StrategyChoice, TradeOptions
from kalshi_cli.runner.lifecycle.running import run
from kalshi_cli.runner.loop.alerting import TradeAlerts
from kalshi_cli.vocabulary.clock import ManualClock
from tests.alerts.receiver import Receiver, receiving, reply
from tests.fakes import FakeAlertStateStore
from tests.runner.fakes import START, make_rig

PING = "/ping/0f8e4c1a-5b7d-4e2a-9c3b-abcdef012345"


@pytest.fixture
def hc() -> Iterator[Receiver]:
    """A healthchecks-like ping receiver on loopback, recording every request."""
    with receiving() as rec:
        yield rec


def test_a_crash_pings_start_then_alive_then_fail(tmp_path: Path, hc: Receiver) -> None:
    clock = ManualClock(START)
    router = AlertRouter.from_config(
        {"channels": {"dm": {"type": "deadman", "url": hc.url(PING)}}}, clock=clock
    )
    alerts = TradeAlerts(router, lambda: nullcontext(FakeAlertStateStore(clock)))
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", clock=clock, alerts=alerts)
    ticks = 0
    real_drain = rig.feed.drain_messages

    def breaks_on_the_third_tick() -> list[FeedMessage]:
        nonlocal ticks
        ticks += 1
        if ticks == 3:
            raise RuntimeError("a bug in the feed")
        rig.clock.advance(1)
        return real_drain()

    rig.feed.drain_messages = breaks_on_the_third_tick  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError, match="a bug in the feed"):
            run(
                rig.loop, TradeOptions(strategies=(StrategyChoice("market-maker"),), duration_s=600)
            )
    finally:
        alerts.close()
    paths = [s.path for s in hc.seen]
    assert paths == [f"{PING}/start", PING, f"{PING}/fail"]
    assert b"crashed: RuntimeError('a bug in the feed')" in hc.seen[-1].body
    assert all(s.method == "POST" for s in hc.seen)


def test_no_deadman_channel_means_no_beats_are_queued(tmp_path: Path, hc: Receiver) -> None:
    router = AlertRouter.from_config(
        {"channels": {"s": {"type": "slack", "url": hc.url("/s")}}, "routes": {"info": "s"}}
    )
    alerts = TradeAlerts(router, lambda: nullcontext(FakeAlertStateStore(ManualClock())))
    alerts.beat("start")
    alerts.beat("")
    assert alerts._queue.qsize() == 0
    alerts.close()
    assert hc.seen == []


def test_a_hanging_ping_url_holds_one_beat_of_each_kind(hc: Receiver) -> None:
    """The loop beats on every heartbeat; while the ping URL hangs the queue does not grow."""

    def slow(h: BaseHTTPRequestHandler, r: Receiver) -> None:
        r.release.wait(30)  # answers only once the test lets it
        reply()(h, r)

    hc.respond_with(slow)
    router = AlertRouter.from_config(
        {"channels": {"dm": {"type": "deadman", "url": hc.url(PING), "deadline_s": 30}}}
    )
    alerts = TradeAlerts(router, lambda: nullcontext(FakeAlertStateStore(ManualClock())))
    alerts.beat("start")
    hc.wait_for(1)
    for n in range(1000):
        alerts.beat("", body=f"tick {n}")
    alerts.beat("", body="stopped")  # the run's final ping, while the first still waits
    assert alerts._queue.qsize() == 1
    hc.release.set()
    alerts.close()
    assert [s.path for s in hc.seen] == [f"{PING}/start", PING]
    assert hc.seen[-1].body == b"stopped"  # the one that waited carries the newest news


def _trade_with_a_deadman(tmp_path: Path, hc: Receiver) -> tuple[dict[str, str], list[str]]:
    """The environment and command of a 3-tick `kalshi trade` as a process on the embedded
    simulator, its config's one channel the `deadman` check `hc` receives."""
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"alerts:\n  channels:\n    hc:\n      type: deadman\n      url: {hc.url(PING)}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "KALSHI_HOME": str(home), "KALSHI_CONFIG": str(config)}
    command = [sys.executable, "-m", "kalshi_cli", "trade", "--strategy", "market-maker"]
    return env, [*command, "--max-ticks", "3"]


def test_kalshi_trade_pings_start_alive_and_a_final_ping(tmp_path: Path, hc: Receiver) -> None:
    """`kalshi trade` as a process on the embedded simulator with a `deadman` channel."""
    env, command = _trade_with_a_deadman(tmp_path, hc)
    command += ["--log-file", str(tmp_path / "trade.log")]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    paths = [s.path for s in hc.seen]
    # /start, the first heartbeat's ping, the final ping when it stopped (a 3-tick run is far
    # shorter than deadman_interval_s, so no ping in between). When the final ping comes while
    # the first still waits (the sender busy with /start on a loaded machine), the one waiting
    # carries the final body instead: one or two pings, the last one saying `stopped`.
    assert paths in ([f"{PING}/start", PING, PING], [f"{PING}/start", PING]), paths
    assert b"starting" in hc.seen[0].body and b"stopped" in hc.seen[-1].body


@pytest.mark.slow
def test_a_paper_session_never_pings_the_live_loops_deadman_check(
    tmp_path: Path, hc: Receiver
) -> None:
    """The dead-man check watches the live loop: a paper session beside it (the same config, so
    the same `deadman` channel) must not ping it, or its pings would keep the check up while
    the live loop is dead. The live run first shows the check is the one the config names."""
    env, command = _trade_with_a_deadman(tmp_path, hc)
    live = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert live.returncode == 0, live.stderr
    pinged_by_live = len(hc.seen)
    assert pinged_by_live >= 2, [s.path for s in hc.seen]
    paper = subprocess.run(
        [*command, "--paper"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert paper.returncode == 0, paper.stderr
    assert "PAPER" in paper.stdout
    assert [s.path for s in hc.seen[pinged_by_live:]] == []

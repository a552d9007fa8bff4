"""A paper session's alerts are told from the live loop's: PAPER in the title and a fingerprint
of their own, so a page from paper is never read as live nor deduplicated with a live one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.cli._context import AppContext
from kalshi_cli.dashboard.actions import halt
from kalshi_cli.runner.loop.alerting import TradeAlerts
from kalshi_cli.store.paper import paper_state_path
from kalshi_cli.vocabulary.clock import ManualClock
from tests.alerts.receiver import Receiver, receiving
from tests.fakes import FakeAlertStateStore, RecordingRouter
from tests.waiting import poll_until


def _sent(*, paper: bool) -> Any:
    router = RecordingRouter()
    alerts = TradeAlerts(
        router, lambda: nullcontext(FakeAlertStateStore(ManualClock())), paper=paper
    )
    alerts.post("kill_switch", "", "trading HALTED by kalshi dashboard: halted by hand", {})
    alerts.close()
    (alert,) = router.sent
    assert router.beats == []  # no dead-man channel: no beat is sent
    return alert


def test_a_paper_sessions_halt_says_paper_and_has_a_fingerprint_of_its_own() -> None:
    live, paper = _sent(paper=False), _sent(paper=True)
    assert live.fingerprint == "trade.kill_switch"
    assert "PAPER" not in live.title
    assert paper.title.startswith("PAPER: ")
    assert paper.title.endswith(live.title)
    assert paper.fingerprint == "paper.trade.kill_switch"
    assert paper.severity == live.severity and paper.runbook == live.runbook


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiving() as rec:
        yield rec


@pytest.mark.slow
def test_a_halt_of_a_running_paper_session_pages_as_paper(tmp_path: Path, hook: Receiver) -> None:
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        "alerts:\n  channels:\n    pager:\n      type: generic\n"
        f"      url: {hook.url('/hook')}\n  routes:\n    critical: pager\n",
        encoding="utf-8",
    )
    environ = {**os.environ, "KALSHI_HOME": str(home), "KALSHI_CONFIG": str(config)}
    paper = paper_state_path(AppContext(environ=environ).settings("sim").state, "sim")
    command = [sys.executable, "-m", "kalshi_cli", "trade", "--strategy", "market-maker"]
    with subprocess.Popen(
        [*command, "--paper", "--duration", "120"],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as proc:
        try:
            log = paper.with_name(paper.stem + ".log")

            def beating() -> bool:
                return log.exists() and '"heartbeat"' in log.read_text()

            assert poll_until(beating, within_s=60)
            halt(paper, reason="halted by hand")
            hook.wait_for(1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    alert = json.loads(hook.seen[0].body)
    assert alert["title"] == "PAPER: Kill switch used: trading HALTED", alert
    assert alert["fingerprint"] == "paper.trade.kill_switch", alert

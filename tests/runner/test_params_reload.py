"""`kill -HUP` a running `kalshi trade --params FILE`: the fields the strategy marks updatable
change together when the whole file validates and nothing else changed; otherwise the running
params stay and the log says why (params_reload_refused)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest

from tests.runner.simproc import Book, client_for
from tests.waiting import wait_until

if TYPE_CHECKING:
    from tests.conftest import SimHarness

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "strategies" / "fair_value.py"
T = "KXRELOAD-26JAN01-A"
GOOD = "fair: 0.55\nedge: 0.02\ntake_profit: 0.04\norder_count: 5\n"


def _events(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _wait_for(
    log: Path,
    what: Callable[[dict[str, Any]], bool],
    *,
    after: int = 0,
    proc: subprocess.Popen[str] | None = None,
) -> dict[str, Any]:
    def seen() -> dict[str, Any] | None:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the loop exited {proc.returncode}: {_stderr(log)}")
        return next((e for e in _events(log)[after:] if what(e)), None)

    return wait_until(seen, lambda: f"an event in {log}: {_events(log)[after:]} {_stderr(log)}")


def _stderr(log: Path) -> str:
    path = log.with_suffix(".stderr")
    return path.read_text() if path.exists() else ""


def _start(
    sim: SimHarness,
    tmp_path: Path,
    stderr: IO[str],
    params_text: str = GOOD,
    *,
    listed: bool = False,
    config_more: str = "",
) -> tuple[subprocess.Popen[str], Path, Path]:
    """A dry-run loop of the example strategy file with --params (`params_text`) on T (listed
    here unless `listed` already), its params file and log; its config file is
    `home/config.yaml` under `tmp_path`, the simulator's section and `config_more`."""
    if not listed:
        sim.create_market(T)
    account = sim.account
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "config.yaml").write_text(
        "env: sim\nsim:\n"
        f"  api_base: {account.api_base}\n  ws_url: {account.ws_url}\n"
        f"  api_key_id: {account.key_id}\n  private_key_path: {account.private_key_path}\n"
        + config_more
    )
    params, log = tmp_path / "fv.yaml", tmp_path / "loop.log"
    params.write_text(params_text)
    args = ["trade", "--strategy", str(EXAMPLE), "--params", str(params), "--markets", T]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kalshi_cli", *args, "--dry-run", "--duration", "300",
         "--log-file", str(log)],
        env={**os.environ, "KALSHI_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
    )  # fmt: skip
    return proc, params, log


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def test_a_reload_while_the_loop_is_starting_is_kept_for_its_first_tick(
    sim: SimHarness, tmp_path: Path
) -> None:
    """`systemctl reload` can come while the loop still reconciles: SIGHUP's default would end
    the process; the loop instead reads the file at its first tick."""
    with (tmp_path / "loop.stderr").open("w") as stderr:
        proc, params, log = _start(sim, tmp_path, stderr)
        try:
            # the start-up's reconcile is logged before the loop's own signal handlers exist
            _wait_for(log, lambda e: e["event"] == "reconciled", proc=proc)
            params.write_text(GOOD.replace("0.02", "0.03"))
            proc.send_signal(signal.SIGHUP)
            event = _wait_for(log, lambda e: e["event"].startswith("params_reload"), proc=proc)
            # {} when the start read the file after it was written: either way 0.03 now runs
            assert event["event"] == "params_reloaded" and event["changed"] in (
                {"edge": "0.03"},
                {},
            )
            back = _reload(proc, params, log, GOOD)
            assert (back["event"], back["changed"]) == ("params_reloaded", {"edge": "0.02"})
            assert proc.poll() is None
        finally:
            _stop(proc)


@pytest.fixture
def loop(sim: SimHarness, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, Path]]:
    """A dry-run loop of the example strategy file with --params, its params file and log."""
    # the loop's console lines go to a file: a pipe nobody reads would fill and block it
    with (tmp_path / "loop.stderr").open("w") as stderr:
        proc, params, log = _start(sim, tmp_path, stderr)
        try:
            _wait_for(log, lambda e: e["event"] == "started", proc=proc)
            yield proc, params, log
        finally:
            _stop(proc)


def _reload(proc: subprocess.Popen[str], params: Path, log: Path, text: str) -> dict[str, Any]:
    seen = len(_events(log))
    params.write_text(text)
    proc.send_signal(signal.SIGHUP)
    return _wait_for(log, lambda e: e["event"].startswith("params_reload"), after=seen, proc=proc)


def test_a_good_file_changes_the_updatable_fields_together(loop: Any) -> None:
    proc, params, log = loop
    event = _reload(proc, params, log, GOOD.replace("0.55", "0.60").replace("0.02", "0.03"))
    assert event["event"] == "params_reloaded", event
    assert event["changed"] == {"fair": "0.6", "edge": "0.03"}  # YAML 0.60 is 0.6
    # the new values are the running ones: setting them again changes nothing
    again = _reload(proc, params, log, GOOD.replace("0.55", "0.60").replace("0.02", "0.03"))
    assert (again["event"], again["changed"]) == ("params_reloaded", {})
    assert proc.poll() is None  # the loop runs on


@pytest.mark.parametrize(
    ("text", "why"),
    [
        # take_profit is not updatable: the whole reload is refused, fair does not change either
        (
            GOOD.replace("0.55", "0.60").replace("0.04", "0.08"),
            "strategies.fair-value.take_profit cannot change while the loop runs",
        ),
        (GOOD + "fiar: 0.6\n", ":5: unknown parameter `strategies.fair-value.fiar`"),
        (GOOD.replace("0.55", "1.5"), ":1: strategies.fair-value.fair: must be < 1"),
        ("fair: [0.5\n", "malformed YAML"),
    ],
)
def test_a_bad_file_leaves_the_running_params(loop: Any, text: str, why: str) -> None:
    proc, params, log = loop
    event = _reload(proc, params, log, text)
    assert event["event"] == "params_reload_refused", event
    assert why in event["error"], event
    # nothing changed: a valid file with only `edge` changed names `edge` alone
    after = _reload(proc, params, log, GOOD.replace("0.02", "0.03"))
    assert (after["event"], after["changed"]) == ("params_reloaded", {"edge": "0.03"})
    assert proc.poll() is None


def test_status_names_the_strategy_file_a_loop_runs(loop: Any, tmp_path: Path) -> None:
    proc, _, log = loop
    _wait_for(log, lambda e: e["event"] == "heartbeat", proc=proc)
    done = subprocess.run(
        [sys.executable, "-m", "kalshi_cli", "status", "--json"],
        env={**os.environ, "KALSHI_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["loop_strategy"] == f"fair-value ({EXAMPLE})"
    assert proc.poll() is None


@pytest.mark.slow
def test_a_reload_reads_the_params_file_alone_the_risk_limits_stay_until_a_restart(
    sim: SimHarness, tmp_path: Path
) -> None:
    """SIGHUP reads the params file again, never the config file: a `risk:` limit written there
    before the reload leaves the running loop's limits as it started with them (its next order
    is not denied by it); a restart reads it (the same order denied)."""
    sim.create_market(T)
    maker = client_for(sim.new_account(balance_cents=10_000_000))
    Book(maker, T).quote("0.49", "0.51")  # YES ask 0.51, NO ask 0.51
    buy_yes = GOOD.replace("0.55", "0.70")  # YES worth 0.70: buy YES at 0.51
    buy_no = GOOD.replace("0.55", "0.30")  # NO worth 0.70: buy NO at 0.51
    config, tighter = tmp_path / "home" / "config.yaml", "risk:\n  max_order_count: 2\n"

    def would_buy(side: str) -> Callable[[dict[str, Any]], bool]:
        return lambda e: e["event"] == "dry_run_order" and e["side"] == side

    try:
        with (tmp_path / "loop.stderr").open("w") as stderr:
            proc, params, log = _start(sim, tmp_path, stderr, buy_yes, listed=True)
            try:
                _wait_for(log, would_buy("yes"), proc=proc)
                config.write_text(config.read_text() + tighter)
                reloaded = _reload(proc, params, log, buy_no)
                assert (reloaded["event"], reloaded["changed"]) == (
                    "params_reloaded",
                    {"fair": "0.3"},
                )
                after = _events(log).index(reloaded)
                # 5 contracts, over the 2 the file now says: the started limit (50) still runs
                order = _wait_for(log, would_buy("no"), after=after, proc=proc)
                assert order["count"] == "5", order
                assert not [e for e in _events(log)[after:] if e["event"] == "risk_denied"]
            finally:
                _stop(proc)
        log.rename(tmp_path / "first.log")
        with (tmp_path / "loop.stderr").open("w") as stderr:
            proc, params, log = _start(
                sim, tmp_path, stderr, buy_no, listed=True, config_more=tighter
            )
            try:
                denied = _wait_for(log, lambda e: e["event"] == "risk_denied", proc=proc)
                assert (denied["code"], denied["side"]) == ("MAX_ORDER_SIZE", "no"), denied
            finally:
                _stop(proc)
    finally:
        maker.close()

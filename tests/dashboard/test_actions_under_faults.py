"""The dashboard's keys under faults: a state file that cannot be written, a kill switch still
running, an exchange whose reads lag its writes. Each key acts as its command does and says what
happened; none freezes the screen, ends it, or sends a cancel a second time, and `q` during the
kill switch never closes the screen over its report."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.dashboard import build_wiring
from kalshi_cli.cli.dashboard_app import DashboardApp, Wiring
from kalshi_cli.client.orders import OrdersApi
from kalshi_cli.store import Store
from kalshi_cli.store.connection import BUSY_TIMEOUT_SECONDS
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.dashboard.prepared import TICKER, drive, loop_sources, prepare, until
from tests.fakes import Swapped
from tests.runner.simproc import Book
from tests.waiting import wait_until_async

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from tests.conftest import SimHarness

CANCEL_ALL = "DELETE /portfolio/events/orders"
BATCH_CANCEL = "DELETE /portfolio/events/orders/batched"


def _top(app: DashboardApp) -> str:
    return " ".join(app.panel_text("top").split())


def _requests(sim: SimHarness, endpoint: str) -> int:
    counts: dict[str, int] = sim.stats()["accounts"][sim.account.key_id]["requests"]
    return counts.get(endpoint, 0)


@contextmanager
def _lock_held(path: Path) -> Iterator[None]:
    """Another writer (a trade loop's transaction) holding the state file's write lock."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_halt_on_a_state_file_that_cannot_be_opened_says_so_and_the_screen_goes_on(
    tmp_path: Path,
) -> None:
    sources = loop_sources(tmp_path)
    sources.state_path.write_bytes(b"not a state file, " * 20)
    app = DashboardApp(Wiring(sources=sources, clock=SystemClock(), refresh_s=0.1))
    seen: list[str] = []

    async def halt(pilot: Pilot[None]) -> None:
        await pilot.press("h")
        await until(pilot, lambda: "HALT" in _top(app), "what became of the halt")
        seen.append(_top(app))
        await pilot.press("p")  # the screen still takes keys
        await until(pilot, lambda: "PAUSED" in _top(app), "the pause")

    drive(app, halt, settled=False)
    assert "HALT NOT recorded" in seen[0] and "not an SQLite database" in seen[0], seen[0]
    assert "HALTED: `kalshi resume` lifts it" not in seen[0]
    assert (tmp_path / "trade.pause").exists()


def test_halt_while_another_writer_holds_the_state_file_keeps_the_screen_refreshing(
    tmp_path: Path,
) -> None:
    sources = loop_sources(tmp_path)
    clock = prepare(sources.state_path, tmp_path / "trade.log")
    app = DashboardApp(Wiring(sources=sources, clock=clock, refresh_s=0.1))
    took: list[float] = []

    async def halt(pilot: Pilot[None]) -> None:
        with _lock_held(sources.state_path):
            started = time.monotonic()
            await pilot.press("h")
            took.append(time.monotonic() - started)
            # the local panels still follow the clock while the halt waits for the lock
            clock.advance(60)
            await until(pilot, lambda: "22:14:25 UTC" in _top(app), "the clock moving on")
            assert "REDUCING" in app.panel_text("trading")  # not recorded yet: not shown
        await until(pilot, lambda: "HALTED:" in _top(app), "the halt once the lock is free")
        assert "HALTED" in app.panel_text("trading")

    drive(app, halt, settled=False)
    # the old key held the screen for the whole wait for the lock (10 s, then a traceback);
    # a loaded machine takes seconds over a key press alone: the bound is just below that wait
    assert took[0] < BUSY_TIMEOUT_SECONDS, f"the key held the screen {took[0]:.1f}s"
    with Store.open(sources.state_path) as store:
        assert store.trading.trading_state().state == "HALTED"


def test_a_pause_file_that_cannot_be_made_is_said_and_the_screen_goes_on(tmp_path: Path) -> None:
    (tmp_path / "run").write_text("a file where the pause file's directory should be")
    sources = replace(loop_sources(tmp_path), pause_file=tmp_path / "run" / "trade.pause")
    clock = prepare(sources.state_path, tmp_path / "trade.log")
    app = DashboardApp(Wiring(sources=sources, clock=clock, refresh_s=0.1))
    seen: list[str] = []

    async def pause(pilot: Pilot[None]) -> None:
        await pilot.press("p")
        await until(pilot, lambda: "pause" in _top(app), "what became of the pause")
        seen.append(_top(app))
        seen.append(app.panel_text("trading"))

    drive(app, pause, settled=False)
    assert "pause file NOT changed" in seen[0], seen[0]
    assert "PAUSED" not in seen[1]


class _HeldCancelAll(OrdersApi):
    """The exchange's cancel-all, held until the test lets it go."""

    entered = threading.Event()
    release = threading.Event()

    def cancel_all_orders(self) -> None:
        type(self).entered.set()
        type(self).release.wait(30)
        super().cancel_all_orders()


def test_the_kill_key_pressed_again_while_the_kill_switch_runs_sends_nothing_more(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    sources = loop_sources(tmp_path)
    key, _ = load_private_key(path=Path(sim.account.private_key_path))
    _HeldCancelAll.entered.clear()
    _HeldCancelAll.release.clear()
    client = Swapped(
        _HeldCancelAll,
        api_base=sim.account.api_base,
        key_id=sim.account.key_id,
        private_key=key,
    )
    seen: list[str] = []
    with client:
        Book(client, TICKER).order(BookSide.BID, "0.30", "2", TimeInForce.GTC)
        app = DashboardApp(
            Wiring(sources=sources, clock=SystemClock(), client=client, refresh_s=0.1)
        )

        async def kill_twice(pilot: Pilot[None]) -> None:
            await pilot.press("k", *"KILL", "enter")
            await until(pilot, _HeldCancelAll.entered.is_set, "the cancel-all going out")
            await pilot.press("k")
            await pilot.press(*"KILL", "enter")
            await pilot.pause(0.5)
            seen.append(_top(app))
            _HeldCancelAll.release.set()
            await until(pilot, lambda: "PROVEN" in app.panel_text("kill"), "the proof")
            await app.workers.wait_for_complete()
            await pilot.pause(0.2)
            seen.append(app.panel_text("kill"))

        try:
            drive(app, kill_twice, settled=False)
        finally:
            _HeldCancelAll.release.set()
        left = list(client.orders.iter_orders(status="resting"))
    assert _requests(sim, CANCEL_ALL) == 1
    assert "already running" in seen[0], seen[0]
    assert "PROVEN: no resting order left" in seen[1], seen[1]
    assert "cancelled: 1 order(s), 2.00 contract(s)" in seen[1], seen[1]
    assert left == []


def test_the_kill_key_waits_the_configured_read_lag_as_cancel_all_does(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Reads lag writes by 2 s and `read_lag` says 3 s: `kalshi cancel-all` lists again 3 s
    after its cancel-all, finds nothing and proves; the kill key must do the same, not list
    after the default 1 s, see the cancelled orders still `resting`, and cancel them again."""
    sim.create_market(TICKER)
    environ = {
        "KALSHI_HOME": str(tmp_path),
        "KALSHI_ENV": "sim",
        "KALSHI_API_BASE": sim.account.api_base,
        "KALSHI_API_KEY_ID": sim.account.key_id,
        "KALSHI_PRIVATE_KEY_PATH": sim.account.private_key_path,
        "KALSHI_READ_LAG": "3",
    }
    wiring, _feed = build_wiring(AppContext(environ=environ), None)  # the feed never started
    assert wiring.client is not None
    wiring.refresh_s, wiring.remote_s = 0.2, 60.0
    seen: list[str] = []
    with wiring.client:
        for price in ("0.30", "0.31"):
            Book(wiring.client, TICKER).order(BookSide.BID, price, "2", TimeInForce.GTC)
        app = DashboardApp(wiring)

        async def kill(pilot: Pilot[None]) -> None:
            await app.workers.wait_for_complete()
            sim.set_faults(read_lag_ms=2000)
            await pilot.press("k", *"KILL", "enter")
            await until(pilot, lambda: "PROVEN" in app.panel_text("kill"), "the proof")
            seen.append(app.panel_text("kill"))

        drive(app, kill, settled=False)
        sim.clear_faults()
        left = list(wiring.client.orders.iter_orders(status="resting"))
    assert "PROVEN: no resting order left" in seen[0], seen[0]
    assert "cancelled: 2 order(s), 4.00 contract(s)" in seen[0], seen[0]
    assert _requests(sim, CANCEL_ALL) == 1
    assert _requests(sim, BATCH_CANCEL) == 0  # nothing cancelled a second time
    assert left == []


def test_q_while_the_kill_switch_runs_waits_for_its_report_and_hands_it_on_to_print(
    sim: SimHarness, tmp_path: Path
) -> None:
    """`q` pressed while the kill switch's cancel-all is out: the screen stays, saying it
    leaves once the kill switch has its report, then closes by itself, and the report (PROVEN
    or NOT PROVEN) is the command's to print once the screen is gone. The screen closed at
    once, the report came after it and went nowhere: the trader never saw whether the kill
    switch was proven."""
    sim.create_market(TICKER)
    sources = loop_sources(tmp_path)
    key, _ = load_private_key(path=Path(sim.account.private_key_path))
    _HeldCancelAll.entered.clear()
    _HeldCancelAll.release.clear()
    client = Swapped(
        _HeldCancelAll,
        api_base=sim.account.api_base,
        key_id=sim.account.key_id,
        private_key=key,
    )
    open_after_q: list[bool] = []
    said: list[str] = []
    with client:
        Book(client, TICKER).order(BookSide.BID, "0.30", "2", TimeInForce.GTC)
        app = DashboardApp(
            Wiring(sources=sources, clock=SystemClock(), client=client, refresh_s=0.1)
        )

        async def quit_while_killing(pilot: Pilot[None]) -> None:
            await pilot.press("k", *"KILL", "enter")
            await until(pilot, _HeldCancelAll.entered.is_set, "the cancel-all going out")
            await pilot.press("q")
            await asyncio.sleep(0.5)
            open_after_q.append(app.is_running)
            if app.is_running:
                said.append(_top(app))
            _HeldCancelAll.release.set()
            await wait_until_async(
                lambda: not app.is_running,
                "the screen to close once the kill switch has its report",
                between=lambda: asyncio.sleep(0.05),
            )

        try:
            drive(app, quit_while_killing, settled=False)
        finally:
            _HeldCancelAll.release.set()
        left = list(client.orders.iter_orders(status="resting"))
    assert open_after_q == [True], "the screen closed over the running kill switch"
    assert "leaving once the kill switch has its report" in said[0], said[0]
    printed = app.kill_report_unseen()
    assert printed is not None
    assert "PROVEN: no resting order left" in printed, printed
    assert "cancelled: 1 order(s), 2.00 contract(s)" in printed, printed
    assert left == []


def _read_until(
    terminal: int, seen: bytearray, wanted: bytes | tuple[bytes, ...] | None, within_s: float
) -> bool:
    """Read the dashboard's terminal into `seen` until `wanted` (or one of them) shows (None:
    until the terminal closes, the command done); whether it did within `within_s`."""
    deadline = time.monotonic() + within_s
    shown = (wanted,) if isinstance(wanted, bytes) else wanted
    while shown is None or not any(w in seen for w in shown):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([terminal], [], [], min(left, 0.2))
        if not ready:
            continue
        try:
            chunk = os.read(terminal, 65536)
        except OSError:  # the other end closed: the command is done
            chunk = b""
        if not chunk:
            return shown is None or any(w in seen for w in shown)
        seen += chunk
    return True


def test_kalshi_dashboard_quit_while_the_kill_switch_runs_prints_its_report(
    sim: SimHarness, tmp_path: Path
) -> None:
    """`kalshi dashboard` on a terminal: k, KILL, then q while the kill switch waits the
    `read_lag` setting (5 s) before its proof. The screen closes once the kill switch has its
    report, and the report is on the terminal after it (nothing was, on the old code)."""
    sim.create_market(TICKER)
    key, _ = load_private_key(path=Path(sim.account.private_key_path))
    with Swapped(
        OrdersApi, api_base=sim.account.api_base, key_id=sim.account.key_id, private_key=key
    ) as client:
        Book(client, TICKER).order(BookSide.BID, "0.30", "2", TimeInForce.GTC)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    env.update(
        KALSHI_HOME=str(tmp_path),
        KALSHI_ENV="sim",
        KALSHI_API_BASE=sim.account.api_base,
        KALSHI_API_KEY_ID=sim.account.key_id,
        KALSHI_PRIVATE_KEY_PATH=sim.account.private_key_path,
        KALSHI_READ_LAG="5",
        TERM="xterm-256color",
        COLUMNS="120",
        LINES="40",
    )
    terminal, other = pty.openpty()
    seen = bytearray()
    args = [sys.executable, "-m", "kalshi_cli", "dashboard", "--remote-every", "600"]
    with subprocess.Popen(args, stdin=other, stdout=other, stderr=other, env=env) as proc:
        os.close(other)
        try:
            for key_pressed, then in (
                (None, b"Trading state"),  # the screen drawn
                (b"k", b"Type KILL"),
                # the kill switch under way: its first words, or its first progress line if
                # that came before the screen was next drawn
                (b"KILL\r", (b"halting, cancelling", b"cancel-all sent")),
            ):
                if key_pressed is not None:
                    os.write(terminal, key_pressed)
                assert _read_until(terminal, seen, then, 60), bytes(seen[-2000:])
            os.write(terminal, b"q")
            assert _read_until(terminal, seen, None, 60), bytes(seen[-2000:])
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(terminal)
    after = bytes(seen).rsplit(b"\x1b[?1049l", 1)[-1]  # the terminal once the screen left
    assert b"PROVEN: no resting order left" in after, after
    assert b"kill switch (from the dashboard):" in after, after
    assert proc.returncode == 0, bytes(seen[-2000:])


def _closed_port() -> int:
    """A port on this host that nothing listens on: every connection to it is refused."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_kalshi_dashboard_exits_not_proven_after_its_kill_switch_was_not_proven(
    tmp_path: Path,
) -> None:
    """`kalshi dashboard` on a terminal, on an exchange no connection reaches: k, KILL, the
    panel says NOT PROVEN, q. The command exits 11, as `kalshi cancel-all` would have: a script
    around the dashboard can tell the kill switch left orders it could not prove gone. It
    exited 0 on the old code."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from kalshi_cli.vocabulary.exit_codes import ExitCode

    key_path = tmp_path / "key.pem"
    key_path.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    env.update(
        KALSHI_HOME=str(tmp_path),
        KALSHI_ENV="sim",
        KALSHI_API_BASE=f"http://127.0.0.1:{_closed_port()}/trade-api/v2",
        KALSHI_API_KEY_ID="key-id",
        KALSHI_PRIVATE_KEY_PATH=str(key_path),
        KALSHI_TIMEOUT="0.5",
        TERM="xterm-256color",
        COLUMNS="120",
        LINES="40",
    )
    terminal, other = pty.openpty()
    seen = bytearray()
    args = [sys.executable, "-m", "kalshi_cli", "dashboard", "--remote-every", "600"]
    with subprocess.Popen(args, stdin=other, stdout=other, stderr=other, env=env) as proc:
        os.close(other)
        try:
            for key_pressed, then in (
                (None, b"Trading state"),  # the screen drawn
                (b"k", b"Type KILL"),
                (b"KILL\r", b"NOT PROVEN"),  # given up on an exchange refused for 5 s
            ):
                if key_pressed is not None:
                    os.write(terminal, key_pressed)
                assert _read_until(terminal, seen, then, 60), bytes(seen[-2000:])
            os.write(terminal, b"q")
            assert _read_until(terminal, seen, None, 60), bytes(seen[-2000:])
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(terminal)
    assert proc.returncode == ExitCode.NOT_PROVEN, bytes(seen[-2000:])


def test_the_last_kill_switch_run_from_the_screen_decides_its_exit_code(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A kill switch NOT PROVEN (every answer a 5xx to its deadline), then one PROVEN once the
    exchange answers, then one NOT PROVEN again: the code the command would exit with follows
    the last of them (11, 0, 11), as `kalshi cancel-all` run each time would have."""
    from kalshi_cli.vocabulary.exit_codes import ExitCode

    sim.create_market(TICKER)
    key, _ = load_private_key(path=Path(sim.account.private_key_path))
    codes: list[ExitCode] = []
    with Swapped(
        OrdersApi, api_base=sim.account.api_base, key_id=sim.account.key_id, private_key=key
    ) as client:
        Book(client, TICKER).order(BookSide.BID, "0.30", "2", TimeInForce.GTC)
        app = DashboardApp(
            Wiring(
                sources=loop_sources(tmp_path),
                clock=SystemClock(),
                client=client,
                refresh_s=0.1,
                remote_s=600.0,
            )
        )

        async def kill_three_times(pilot: Pilot[None]) -> None:
            await app.workers.wait_for_complete()  # the first look at the exchange
            codes.append(app.kill_exit_code())
            last = ""
            for faults in ({"http_5xx_rate": 1.0}, None, {"http_5xx_rate": 1.0}):
                if faults is None:
                    sim.clear_faults()
                else:
                    sim.set_faults(**faults)
                # a failing kill spends its whole deadline: 2 s; a proof ends as soon as it is
                # made, and a loaded machine may need more than 2 s for it
                app.wiring.kill_deadline_s = 30.0 if faults is None else 2.0
                await pilot.press("k", *"KILL", "enter")

                def a_new_proof(before: str = last) -> bool:
                    shown = app.panel_text("kill")
                    return "PROVEN" in shown and shown != before  # not the last kill's

                await until(pilot, a_new_proof, "this kill switch's proof")
                last = app.panel_text("kill")
                assert ("NOT PROVEN" not in last) is (faults is None), last
                codes.append(app.kill_exit_code())

        try:
            drive(app, kill_three_times, settled=False)
        finally:
            sim.clear_faults()
    assert codes == [ExitCode.OK, ExitCode.NOT_PROVEN, ExitCode.OK, ExitCode.NOT_PROVEN]

"""The embedded simulator has a lifetime of its own: one background process per data directory,
joined by every command, stopped by `kalshi sim stop` or an idle period, never by another
command's exit. Real processes throughout: the installed `kalshi` script of this environment."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.waiting import wait_until

SCRIPT = shutil.which("kalshi", path=str(Path(sys.executable).parent))


def answers(api_base: str) -> bool:
    try:
        return httpx.get(api_base + "/exchange/status", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (our own child not yet reaped) is not alive either
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


class Home:
    """A KALSHI_HOME with no config file: `env: sim` and the embedded simulator."""

    def __init__(self, root: Path, **extra: str) -> None:
        self.root = root
        self.data_dir = root / "sim"
        self.env = {**os.environ, "KALSHI_HOME": str(root), "NO_COLOR": "1", **extra}
        for name in ("KALSHI_API_BASE", "KALSHI_WS_URL", "KALSHI_ENV", "KALSHI_CONFIG"):
            self.env.pop(name, None)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert SCRIPT is not None
        return subprocess.run(
            [SCRIPT, *args], env=self.env, capture_output=True, text=True, timeout=60, check=False
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        assert SCRIPT is not None
        return subprocess.Popen(
            [SCRIPT, *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def server(self) -> dict[str, object] | None:
        try:
            data: dict[str, object] = json.loads((self.data_dir / "server.json").read_text())
        except (OSError, ValueError):
            return None
        return data

    def answering(self) -> bool:
        server = self.server()
        return server is not None and answers(f"{server['base_url']}/trade-api/v2")

    def status(self) -> dict[str, object]:
        done = self.run("sim", "status", "--json")
        assert done.returncode == 0, done.stderr
        data: dict[str, object] = json.loads(done.stdout)
        return data


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    the_home = Home(tmp_path)
    yield the_home
    the_home.run("sim", "stop")


def next_line_after(proc: subprocess.Popen[str], after_ms: int) -> dict[str, object]:
    """The first NDJSON message `proc` prints stamped (`ts_ms`) later than `after_ms`."""
    stdout = proc.stdout
    assert stdout is not None

    def later_message() -> dict[str, object] | None:
        ready, _, _ = select.select([stdout], [], [], 0)
        if not ready:
            return None
        line = stdout.readline()
        assert line, "the output ended with no message after the first command was killed"
        message = json.loads(line)
        return dict(message) if int(message["msg"]["ts_ms"]) > after_ms else None

    return wait_until(later_message, "a message after the first command was killed")


def test_quitting_the_command_that_started_the_simulator_leaves_it_to_the_others(
    home: Home,
) -> None:
    first = home.start("watch", "ticker")
    second: subprocess.Popen[str] | None = None
    try:
        wait_until(lambda: home.answering() or first.poll() is not None, "a simulator")
        assert first.poll() is None, first.communicate()
        server = home.server()
        assert server is not None
        api_base = f"{server['base_url']}/trade-api/v2"
        # the simulator is a process of its own, not the command that started it
        assert server["pid"] != first.pid
        second = home.start("watch", "ticker")  # a long-lived command joined to it
        next_line_after(second, 0)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
        killed_ms = int(time.time() * 1000)
        # the second command goes on streaming from the same exchange
        next_line_after(second, killed_ms)
        assert answers(api_base), "quitting the first command took the exchange away"
        done = home.run("balance", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["balance"] == "1000.00"
        assert home.server() == server  # the same simulator, not a new one
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.communicate(timeout=10)


def test_sim_stop_stops_it_and_status_says_so(home: Home) -> None:
    assert home.status()["running"] is False
    assert home.run("balance", "--json").returncode == 0
    status = home.status()
    assert status["running"] is True
    pid = status["pid"]
    assert isinstance(pid, int) and alive(pid)
    api_base = str(status["api_base"])
    assert answers(api_base)
    assert status["ws_url"] == api_base.replace("http://", "ws://").replace(
        "/trade-api/v2", "/trade-api/ws/v2"
    )

    stopped = home.run("sim", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not alive(pid)
    assert not answers(api_base)
    assert home.status()["running"] is False
    # stopping what is not running is not an error
    assert home.run("sim", "stop").returncode == 0


def test_the_simulator_stops_itself_after_the_idle_period(tmp_path: Path) -> None:
    idle = Home(tmp_path, KALSHI_SIM_IDLE_STOP="2")
    assert idle.run("balance", "--json").returncode == 0
    # read straight from its file, not through another command: that would take part of the
    # two seconds on a loaded machine
    server = idle.server()
    assert server is not None and server["idle_stop_s"] == 2 and server["mode"] == "background"
    pid = server["pid"]
    assert isinstance(pid, int)
    wait_until(lambda: not alive(pid), "the idle simulator to stop itself")
    assert idle.status()["running"] is False
    # the next command starts it again, on the same exchange state
    assert idle.run("balance", "--json").returncode == 0
    idle.run("sim", "stop")


def test_two_commands_starting_at_once_join_one_simulator(home: Home) -> None:
    both = [home.start("balance", "--json") for _ in range(2)]
    for proc in both:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert json.loads(out)["balance"] == "1000.00"
    status = home.status()
    assert status["running"] is True
    serving = [
        pid
        for pid in os.listdir("/proc")
        if pid.isdigit()
        and "kalshi_cli.sim.server.background" in _cmdline(pid)
        and str(home.data_dir.resolve()) in _cmdline(pid)
    ]
    assert serving == [str(status["pid"])]


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_an_open_websocket_or_request_keeps_the_simulator_from_idling() -> None:
    """A `kalshi watch` that only listens is a client: the idle period starts when the last
    connection closes, not at the last request."""
    import asyncio

    from kalshi_cli.sim.server.background import IdleWatch

    now = [1000.0]
    opened, release = asyncio.Event(), asyncio.Event()

    async def app(scope: object, receive: object, send: object) -> None:
        opened.set()
        await release.wait()  # a WebSocket held open

    async def receive() -> dict[str, object]:
        return {}

    async def send(message: object) -> None:
        return None

    async def scenario() -> list[float]:
        watch = IdleWatch(app, 60.0, monotonic=lambda: now[0])
        seen = [watch.idle_for()]
        now[0] += 30
        seen.append(watch.idle_for())  # 30 s with no client
        connection = asyncio.create_task(watch({"type": "websocket"}, receive, send))
        await opened.wait()
        now[0] += 3600
        seen.append(watch.idle_for())  # an hour with the WebSocket open
        release.set()
        await connection
        now[0] += 10
        seen.append(watch.idle_for())  # 10 s after it closed
        return seen

    assert asyncio.run(scenario()) == [0.0, 30.0, 0.0, 10.0]


def test_a_killed_simulator_is_started_again_by_the_next_command(home: Home) -> None:
    """kill -9 leaves server.json behind, naming a dead pid: the next command starts a new
    simulator on the same exchange state instead of joining nothing."""
    assert home.run("balance", "--json").returncode == 0
    first = home.status()
    pid = first["pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not alive(pid), "the simulator to die")
    assert home.server() is not None  # left behind
    again = home.run("balance", "--json")
    assert again.returncode == 0, again.stderr
    second = home.status()
    assert second["running"] is True and second["pid"] != pid
    assert second["key_id"] == first["key_id"]  # the same account, from the journal


def test_sim_serve_beside_the_background_simulator_names_the_command_that_stops_it(
    home: Home,
) -> None:
    assert home.run("balance", "--json").returncode == 0  # the Quick start's background one
    status = home.status()
    busy = home.run("sim", "serve", "--port", "0")
    assert busy.returncode == 15, busy.stderr  # ALREADY_RUNNING
    # one line that names who serves, where, and the exact command that stops it
    assert f"pid {status['pid']}" in busy.stderr
    assert str(status["api_base"]) in busy.stderr
    assert "`kalshi sim stop`" in busy.stderr
    busy_elsewhere = home.run("sim", "serve", "--port", "0", "--data-dir", str(home.data_dir))
    assert f"`kalshi sim stop --data-dir {home.data_dir}`" in busy_elsewhere.stderr

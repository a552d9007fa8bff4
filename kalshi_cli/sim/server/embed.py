"""Run the simulator inside this process, as a background process of its own, or find the one
another process serves. One data directory is served by one simulator at a time (an exclusive
`flock` on `DATA_DIR/server.lock`), and `ensure_simulator`, what every `env: sim` command calls,
joins it or starts one detached, because the exchange must outlive the command that happened
to start it. See docs/simulator.md "The embedded simulator".
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO, TypedDict, Unpack

from kalshi_cli.sim.server.announce import AccountInfo, serving, serving_account

if TYPE_CHECKING:
    from kalshi_cli.sim.server.routing import ResponseHook, SimState
    from kalshi_cli.vocabulary.clock import Clock


class SimulatorOptions(TypedDict, total=False):
    """What `start_simulator` passes on to `prepare`, whose signature holds the defaults."""

    host: str
    port: int
    scenario: str | Path | None
    speed: float  # a clock rate
    tier: str
    balance_cents: int
    clock: Clock | None
    response_hook: ResponseHook | None
    heartbeat_s: float
    auth_window_s: float | None


# The server stack (uvicorn, starlette, the exchange core, the key primitives) is imported by
# `prepare` only, after it took the data directory's lock: a process that joins a simulator
# another process serves imports none of it (tests/test_cold_start.py).

DEFAULT_BALANCE_CENTS = 100_000
DEFAULT_HEARTBEAT_S = 10.0
DEFAULT_IDLE_STOP_S = 900.0  # 15 minutes with no request and no WebSocket open
STARTUP_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 15.0
# an idle HTTP connection is closed after this long (uvicorn's default, made explicit: the
# client lets its idle connections go before it, `client.connection.KEEPALIVE_EXPIRY_S`)
IDLE_TIMEOUT_S = 5
BUSY_EXIT = 3  # background.py's exit status when another simulator holds the directory
# why the directory's last start could not restore its state (removed by a start that could)
START_FAILED = "start.failed"


class SimulatorBusy(RuntimeError):
    """Another simulator already serves this data directory."""


class SimulatorFailed(RuntimeError):
    """The background simulator did not start; the message ends with its last log lines."""


def _lock(data_dir: Path) -> TextIO | None:
    """The exclusive server lock, or None when another simulator holds it."""
    handle = (data_dir / "server.lock").open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # The protocol named, not left 0: asyncio's own event loop (where uvloop is not installed)
    # turns Nagle's algorithm off only on connections of a socket whose protocol is
    # IPPROTO_TCP, and with it on every answer waited for the client's delayed acknowledgement.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # Listen now, not when uvicorn starts: the account is announced as soon as this returns,
    # and a client connecting in between must wait in the backlog, not be refused.
    sock.listen(2048)
    return sock


def _ensure_default_account(state: SimState, balance_cents: int) -> AccountInfo:
    """Reuse the account of `account.json` when its key is still there, else make one."""
    from kalshi_cli.sim.server.admin import account_info, key_path, new_account, write_account_json
    from kalshi_cli.vocabulary.keys import load_private_key, public_key_pem

    path = state.data_dir / "account.json"
    if path.exists():
        key_id = json.loads(path.read_text()).get("key_id")
        if isinstance(key_id, str) and key_path(state.data_dir, key_id).exists():
            if state.exchange.subaccounts.account_by_key(key_id) is None:
                # The journal does not know the key (e.g. it was deleted): register it again.
                key, _ = load_private_key(path=key_path(state.data_dir, key_id))
                state.exchange.accounts.create_account(
                    key_id=key_id, public_key_pem=public_key_pem(key), cash_cents=balance_cents
                )
            info = account_info(state, key_id)
            write_account_json(state.data_dir, info)
            return info
    account = new_account(state, balance_cents)
    info = account_info(state, account.key_id)
    write_account_json(state.data_dir, info)
    return info


class _Prepared(NamedTuple):
    """What `prepare` hands to the server's runner."""

    state: SimState
    server: Any  # uvicorn.Server
    sock: socket.socket
    lock: TextIO
    account: AccountInfo


def prepare(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    scenario: str | Path | None = "default",
    speed: float = 1.0,
    tier: str = "basic",
    balance_cents: int = DEFAULT_BALANCE_CENTS,
    clock: Clock | None = None,
    response_hook: ResponseHook | None = None,
    heartbeat_s: float = DEFAULT_HEARTBEAT_S,
    auth_window_s: float | None = None,  # None: sim/server/auth.py's DEFAULT_WINDOW_S
    log_level: str = "warning",
    mode: str = "in-process",  # server.json's: in-process, foreground or background
    idle_stop_s: float | None = None,
) -> _Prepared:
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock(data_dir)
    if lock is None:
        raise SimulatorBusy(f"another simulator is already serving {data_dir}")
    closes = contextlib.ExitStack()  # a failed start closes the exchange (its journal) again
    try:
        import uvicorn

        from kalshi_cli.sim.core.journal import JournalError
        from kalshi_cli.sim.core.scenarios import build_exchange, scenario_history
        from kalshi_cli.sim.server.app import Server, create_app
        from kalshi_cli.sim.server.auth import DEFAULT_WINDOW_S, Authenticator
        from kalshi_cli.sim.server.faults import Faults
        from kalshi_cli.sim.server.ratelimit import SimRateLimiter, tier_named
        from kalshi_cli.sim.server.routing import SimState
        from kalshi_cli.vocabulary.clock import SystemClock

        the_tier = tier_named(tier)
        clock = clock or SystemClock()
        failed = data_dir / START_FAILED
        try:
            exchange = build_exchange(
                scenario, clock=clock, journal=data_dir / "exchange.journal", speed=speed
            )
        except JournalError as exc:  # kept for `kalshi sim status`, with what to do
            failed.write_text(f"{exc}\n")
            raise
        closes.callback(exchange.close)
        failed.unlink(missing_ok=True)
        state = SimState(
            exchange=exchange,
            clock=clock,
            data_dir=data_dir,
            tier=the_tier,
            faults=Faults(clock),
            limiter=SimRateLimiter(the_tier, clock),
            auth=Authenticator(
                exchange.subaccounts.account_by_key,
                clock,
                DEFAULT_WINDOW_S if auth_window_s is None else auth_window_s,
                exchange.subaccounts.public_key_of,
            ),
            response_hook=response_hook,
            history=scenario_history(scenario),
        )
        sock = _bind(host, port)
        bound_port = sock.getsockname()[1]
        url_host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
        url_host = f"[{url_host}]" if ":" in url_host else url_host
        state.base_url = f"http://{url_host}:{bound_port}"
        account = _ensure_default_account(state, balance_cents)
        config = uvicorn.Config(
            create_app(state),
            log_config=None,
            log_level=log_level,
            access_log=False,
            lifespan="on",
            ws="websockets-sansio",
            ws_ping_interval=heartbeat_s,
            ws_ping_timeout=max(heartbeat_s * 2, 20.0),
            timeout_graceful_shutdown=1,
            timeout_keep_alive=IDLE_TIMEOUT_S,
            # the app dates each answer by the exchange's clock (sim/server/app.py)
            date_header=False,
        )
        server = Server(config)
        (data_dir / "server.json").write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "base_url": state.base_url,
                    "started": time.time(),
                    "mode": mode,
                    "idle_stop_s": idle_stop_s,
                }
            )
        )
    except BaseException:
        closes.close()  # a host it cannot listen on, a port in use
        lock.close()
        raise
    return _Prepared(state, server, sock, lock, account)


def release(prepared: _Prepared, *, close_journal: bool = True) -> None:
    """Give back what `prepare` took: the address file, the socket, the journal (only once the
    server no longer runs, as its handlers write to it) and, last, the data directory's lock."""
    with contextlib.suppress(OSError):
        (prepared.state.data_dir / "server.json").unlink()
    with contextlib.suppress(OSError):
        prepared.sock.close()
    if close_journal:
        prepared.state.exchange.close()
    prepared.lock.close()


class RunningSimulator:
    """A simulator serving in a daemon thread of this process."""

    def __init__(self, prepared: _Prepared) -> None:
        self._prepared = prepared
        self.account: AccountInfo = prepared.account
        self.base_url: str = prepared.state.base_url
        self.admin_url: str = self.base_url + "/sim/v1"
        self.data_dir: Path = prepared.state.data_dir
        self.state: SimState = prepared.state
        self._stopped = False
        self._thread = threading.Thread(
            target=prepared.server.run,
            kwargs={"sockets": [prepared.sock]},
            name=f"kalshi-sim:{self.base_url}",
            daemon=True,
        )

    def _start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._prepared.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the simulator on {self.base_url} did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._prepared.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        # a server still running after 10 s keeps its journal (the daemon thread dies with the
        # process); everything else is given back
        release(self._prepared, close_journal=not self._thread.is_alive())

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_simulator(data_dir: Path, **options: Unpack[SimulatorOptions]) -> RunningSimulator:
    """Serve the simulator in a background thread; returns once it accepts connections.

    Raises `SimulatorBusy` when another simulator already serves `data_dir`.
    """
    prepared = prepare(data_dir, **options)
    sim = RunningSimulator(prepared)
    sim._start()
    return sim


def _lock_held(data_dir: Path) -> bool:
    """Whether a simulator holds the directory's server lock (a probe: taken and given back)."""
    handle = _lock(data_dir)
    if handle is None:
        return True
    handle.close()
    return False


@contextlib.contextmanager
def _starting(data_dir: Path) -> Iterator[None]:
    """The starters' lock: one command at a time decides whether to start a simulator."""
    with (data_dir / "start.lock").open("a+") as handle:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S * 2
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SimulatorBusy(
                        f"another command has been starting the simulator of {data_dir} "
                        f"for {STARTUP_TIMEOUT_S * 2:.0f} s"
                    ) from None
                time.sleep(0.02)
        yield  # closing the file gives the lock back


def _log_tail(data_dir: Path, lines: int = 5) -> str:
    try:
        text = (data_dir / "server.log").read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(line for line in text.strip().splitlines()[-lines:])


def _spawn(data_dir: Path, scenario: str | Path | None, tier: str, idle_stop_s: float) -> int:
    """Start `background.py` detached (its own session, no terminal, output to server.log) and
    return the read end of the pipe it announces itself on."""
    if scenario is not None and Path(scenario).expanduser().is_file():
        scenario = Path(scenario).expanduser().resolve()  # the daemon runs elsewhere
    from kalshi_cli.sim.core.scenarios import load_scenario

    load_scenario(scenario)  # a bad one refused here, in its words, not by a process that died
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    log = os.open(data_dir / "server.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    argv = [
        sys.executable,
        "-m",
        "kalshi_cli.sim.server.background",
        "--data-dir",
        str(data_dir),
        "--tier",
        tier,
        "--idle-stop",
        repr(idle_stop_s),
        "--ready-fd",
        str(write_end),
    ]
    if scenario is not None:
        argv += ["--scenario", str(scenario)]
    try:
        # posix_spawn, not subprocess.Popen: the child must not be a Popen this process reaps
        # (or warns about) at exit; it belongs to no one
        os.posix_spawn(
            sys.executable,
            argv,
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log, 1),
                (os.POSIX_SPAWN_DUP2, log, 2),
            ],
            setsid=True,
        )
    finally:
        os.close(write_end)
        os.close(log)
    return read_end


def _await_announcement(read_end: int) -> bytes:
    """What the background simulator wrote on its pipe before closing it: its account once it
    listens, nothing if it died first."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    try:
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([read_end], [], [], left)
            if not ready:
                break
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
    return b"".join(chunks)


def ensure_simulator(
    data_dir: Path,
    *,
    scenario: str | Path | None = "default",
    tier: str = "basic",
    idle_stop_s: float = DEFAULT_IDLE_STOP_S,
) -> AccountInfo:
    """The account of the simulator serving `data_dir`, starting one in the background if none
    does. No command's exit stops it: `stop_simulator` or `idle_stop_s` without a client does."""
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    info = serving(data_dir, 0)
    if info is not None:
        return info
    with _starting(data_dir):
        info = serving(data_dir, 0)
        if info is not None:
            return info
        if not _lock_held(data_dir):
            announced = _await_announcement(_spawn(data_dir, scenario, tier, idle_stop_s))
            if announced:
                fields = json.loads(announced)
                return AccountInfo(**{k: fields[k] for k in AccountInfo._fields})
        # a simulator started some other way (`kalshi sim serve`) is on its way up, or ours
        # found the directory taken by one: join it
        info = serving(data_dir, STARTUP_TIMEOUT_S)
        if info is not None:
            return info
    raise SimulatorFailed(f"the simulator of {data_dir} did not start: {_log_tail(data_dir)}")


def simulator_status(data_dir: Path) -> dict[str, Any]:
    """What serves `data_dir`: `running`, and when it does its pid, mode (background,
    foreground or in-process), endpoints, start time and idle stop; when none does and the last
    start could not restore the state, `start_failed`: why, and what to do."""
    data_dir = Path(data_dir).expanduser().resolve()
    status: dict[str, Any] = {"data_dir": str(data_dir), "running": False}
    info = serving_account(data_dir)
    if info is None:
        with contextlib.suppress(OSError):  # why the last start failed, and what to do
            status["start_failed"] = (data_dir / START_FAILED).read_text().strip()
        return status
    try:
        server = json.loads((data_dir / "server.json").read_text())
    except (OSError, ValueError):
        return status
    return {
        **status,
        "running": True,
        "pid": server.get("pid"),
        "mode": server.get("mode"),
        "api_base": info.api_base,
        "ws_url": info.ws_url,
        "key_id": info.key_id,
        "private_key_path": info.private_key_path,
        "started": _iso(server.get("started")),
        "idle_stop_s": server.get("idle_stop_s"),
    }


def _iso(unix_s: object) -> str | None:
    """When the simulator started, as Kalshi writes a time (`iso_utc`); None if not recorded."""
    from kalshi_cli.vocabulary.clock import iso_utc

    return iso_utc(unix_s) if isinstance(unix_s, int | float) else None


def stop_simulator(data_dir: Path) -> dict[str, Any] | None:
    """Stop the simulator serving `data_dir` (SIGTERM; it finishes its requests and closes its
    journal) and return the status it had, or None when none ran. Returns once its lock is
    free, which proves it gone; SimulatorBusy if that takes longer than STOP_TIMEOUT_S."""
    status = simulator_status(data_dir)
    if not status["running"]:
        return None
    data_dir = Path(status["data_dir"])
    pid = status["pid"]
    if status["mode"] == "in-process" or not isinstance(pid, int) or pid == os.getpid():
        raise SimulatorBusy(f"the simulator of {data_dir} runs inside process {pid}")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _lock_held(data_dir):
        if time.monotonic() > deadline:
            raise SimulatorBusy(f"the simulator of {data_dir} (pid {pid}) did not stop")
        time.sleep(0.05)
    return status

"""Run the simulator inside this process, or find the one another process serves.

`start_simulator` builds the exchange from `DATA_DIR` (its journal keeps accounts, orders and
history across restarts), makes sure the default account exists, binds a loopback socket
(port 0 = a free one), writes `account.json` and `server.json`, and serves uvicorn in a daemon
thread; it returns once the server accepts connections. `serve.py` uses the same preparation
and runs uvicorn in the foreground instead.

One data directory is served by one simulator at a time: the server holds an exclusive
`flock` on `DATA_DIR/server.lock` while it runs (the OS releases it when the process dies,
even on kill -9). `ensure_simulator` uses that lock to tell "someone serves this directory"
(reuse it, so two `kalshi` processes see the same exchange) from "nobody does" (start one
here, stopped at exit).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from kalshi_cli.sim.announce import AccountInfo

if TYPE_CHECKING:
    from typing import TypedDict, Unpack

    from kalshi_cli.clock import Clock
    from kalshi_cli.sim.routing import ResponseHook, SimState

    class SimulatorOptions(TypedDict, total=False):
        """What `start_simulator` passes on to `prepare`, whose signature holds the defaults.
        (A name for the type checker only: generated at import, its fields were compiled at
        every start of a command that joins a simulator, #17 session 9.)"""

        host: str
        port: int
        scenario: str | Path | None
        speed: float  # float-ok: a clock rate
        tier: str
        balance_cents: int
        clock: Clock | None
        response_hook: ResponseHook | None
        heartbeat_s: float  # float-ok: seconds
        auth_window_s: float | None  # float-ok: seconds; None: sim/auth.py's DEFAULT_WINDOW_S

# The server stack (uvicorn, starlette, the exchange core, the key primitives) is imported by
# `prepare` only, after it took the data directory's lock: a process that joins a simulator
# another process serves imports none of it (tests/test_cold_start.py).

__all__ = [
    "AccountInfo",
    "RunningSimulator",
    "SimulatorBusy",
    "ensure_simulator",
    "start_simulator",
]

DEFAULT_BALANCE_CENTS = 100_000
DEFAULT_HEARTBEAT_S = 10.0
STARTUP_TIMEOUT_S = 15.0


class SimulatorBusy(RuntimeError):
    """Another simulator already serves this data directory."""


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
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # Listen now, not when uvicorn starts: the account is announced as soon as this returns,
    # and a client connecting in between must wait in the backlog, not be refused.
    sock.listen(2048)
    return sock


def _ensure_default_account(state: SimState, balance_cents: int) -> AccountInfo:
    """Reuse the account of `account.json` when its key is still there, else make one."""
    from kalshi_cli.keys import load_private_key, public_key_pem
    from kalshi_cli.sim.admin import account_info, key_path, new_account, write_account_json

    path = state.data_dir / "account.json"
    if path.exists():
        key_id = json.loads(path.read_text()).get("key_id")
        if isinstance(key_id, str) and key_path(state.data_dir, key_id).exists():
            if state.exchange.account_by_key(key_id) is None:
                # The journal does not know the key (e.g. it was deleted): register it again.
                key, _ = load_private_key(path=key_path(state.data_dir, key_id))
                state.exchange.create_account(
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
    """What `prepare` hands to the server's runner (a named tuple: a dataclass is generated at
    every import, and a process that only joins a simulator never makes one, #17 session 9)."""

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
    auth_window_s: float | None = None,  # None: sim/auth.py's DEFAULT_WINDOW_S
    log_level: str = "warning",
) -> _Prepared:
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock(data_dir)
    if lock is None:
        raise SimulatorBusy(f"another simulator is already serving {data_dir}")
    try:
        import uvicorn

        from kalshi_cli.clock import SystemClock
        from kalshi_cli.sim.app import create_app
        from kalshi_cli.sim.auth import DEFAULT_WINDOW_S, Authenticator
        from kalshi_cli.sim.faults import Faults
        from kalshi_cli.sim.ratelimit import RateLimiter, tier_named
        from kalshi_cli.sim.routing import SimState
        from kalshi_cli.sim.scenarios import build_exchange, scenario_history

        the_tier = tier_named(tier)
        clock = clock or SystemClock()
        exchange = build_exchange(
            scenario, clock=clock, journal=data_dir / "exchange.journal", speed=speed
        )
        state = SimState(
            exchange=exchange,
            clock=clock,
            data_dir=data_dir,
            tier=the_tier,
            faults=Faults(clock),
            limiter=RateLimiter(the_tier, clock),
            auth=Authenticator(
                exchange.account_by_key,
                clock,
                DEFAULT_WINDOW_S if auth_window_s is None else auth_window_s,
                exchange.public_key_of,
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
            date_header=False,  # the app dates each answer by the exchange's clock (sim/app.py)
        )
        server = uvicorn.Server(config)
        (data_dir / "server.json").write_text(
            json.dumps({"pid": os.getpid(), "base_url": state.base_url, "started": time.time()})
        )
    except BaseException:
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

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_simulator(data_dir: Path, **options: Unpack[SimulatorOptions]) -> RunningSimulator:
    """Serve the simulator in a background thread; returns once it accepts connections.

    Raises `SimulatorBusy` when another simulator already serves `data_dir`.
    """
    prepared = prepare(data_dir, **options)
    sim = RunningSimulator(prepared)
    sim._start()
    return sim


_in_process: dict[Path, RunningSimulator] = {}
_registry_lock = threading.Lock()


def _serving_elsewhere(data_dir: Path, timeout_s: float) -> AccountInfo | None:
    """The account of the simulator another process serves on `data_dir`, once it answers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            server = json.loads((data_dir / "server.json").read_text())
            account = json.loads((data_dir / "account.json").read_text())
            info = AccountInfo(
                **{k: account[k] for k in AccountInfo.__dataclass_fields__ if k in account}
            )
            if info.api_base.startswith(server["base_url"]):
                host, port = server["base_url"].rsplit("//", 1)[1].rsplit(":", 1)
                with socket.create_connection((host.strip("[]"), int(port)), timeout=1):
                    return info
        except (OSError, ValueError, KeyError, TypeError):
            pass
        time.sleep(0.05)
    return None


def ensure_simulator(data_dir: Path, **kwargs: Any) -> AccountInfo:
    """The account of the simulator serving `data_dir`, starting one here if none does.

    A simulator started here is stopped when this process exits.
    """
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with _registry_lock:
        running = _in_process.get(data_dir)
        if running is not None:
            return running.account
        for _attempt in range(3):
            try:
                sim = start_simulator(data_dir, **kwargs)
            except SimulatorBusy:
                info = _serving_elsewhere(data_dir, STARTUP_TIMEOUT_S)
                if info is not None:
                    return info
                continue  # the other server went away meanwhile: try to serve it here
            _in_process[data_dir] = sim
            atexit.register(sim.stop)
            return sim.account
    raise SimulatorBusy(f"{data_dir} is locked by a simulator that does not answer")

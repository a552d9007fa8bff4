"""What the trade-loop benchmarks share: `kalshi sim serve` in its own process (so the simulator
does not compete with the loop for this process's interpreter), its admin API, and clients."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from kalshi_cli.client import KalshiClient
from kalshi_cli.vocabulary.keys import load_private_key


def add_keep_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the run's working directory (scenario, simulator data, state file, trade "
        "log) and print where it is; without it the directory is removed when the run ends",
    )


@contextlib.contextmanager
def working_dir(prefix: str, *, keep: bool) -> Iterator[Path]:
    """A new directory under the system's temporary one for one run, removed when the run
    ends, however it ends (an error, Ctrl-C, the SIGTERM `start_simulator` makes an exception),
    unless `keep`: then its path is printed first."""
    if keep:
        kept = Path(tempfile.mkdtemp(prefix=prefix))
        print(f"working directory kept: {kept}", flush=True)
        yield kept
        return
    # a simulator that did not stop in time may still be writing its data: what it writes
    # after the removal is not a reason to fail the run
    with tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True) as made:
        yield Path(made)


def start_simulator(
    data_dir: Path,
    *,
    scenario: str = "empty",
    tier: str = "prime",
    balance: str | None = None,
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """Serve the simulator on a free loopback port; returns the process and its default
    account (`api_base`, `ws_url`, `key_id`, `private_key_path`), holding `balance` dollars
    (the simulator's default when None)."""
    command = [sys.executable, "-m", "kalshi_cli", "sim", "serve", "--port", "0"]
    command += ["--tier", tier, "--scenario", scenario, "--data-dir", str(data_dir)]
    if balance is not None:
        command += ["--balance", balance]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    main = threading.current_thread() is threading.main_thread()
    if main and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        # a benchmark stopped by SIGTERM (kill, pkill, timeout) ran no `finally`, so its
        # simulator went on serving, and loading the machine, for hours: now the signal raises
        # SystemExit and the caller's `finally: stop_simulator` runs
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the simulator did not start")
        if (data_dir / "server.json").exists() and (data_dir / "account.json").exists():
            account: dict[str, str] = json.loads((data_dir / "account.json").read_text())
            try:
                httpx.get(account["api_base"] + "/exchange/status", timeout=1)
            except httpx.TransportError:
                pass
            else:
                return proc, account
        time.sleep(0.05)


def stop_simulator(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def admin(api_base: str, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
    base = api_base.rsplit("/trade-api", 1)[0]
    response = httpx.post(base + "/sim/v1" + path, json=body, timeout=10)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def client_for(
    account: Mapping[str, str],
    transport: httpx.BaseTransport | None = None,
    *,
    tier: str = "prime",
) -> KalshiClient:
    key, _ = load_private_key(path=Path(account["private_key_path"]))
    return KalshiClient(
        api_base=account["api_base"],
        key_id=account["key_id"],
        private_key=key,
        tier=tier,
        transport=transport,
    )

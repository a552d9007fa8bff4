"""`kalshi check heartbeat` cold start next to `python -c "import typer"`, and `kalshi check
positions` against the simulator.

The heartbeat check reads only the state file: each run is a fresh process, alternating with the
typer import so machine noise hits both alike, against a state file holding a fresh heartbeat
(the OK path, which sends nothing). Its median is reported with its ratio to the typer import
(target: at most 1.5x), next to a one-command Typer app that does nothing: Typer 0.29 validates
every parameter with pydantic when a command runs, a floor no `kalshi` command can go under.
The positions check runs as a fresh process too, against a simulator on loopback started once
by this script, with a few open positions; its p50 and p90 are reported, since a cron check
pays the whole process each time.

    python benchmarks/bench_checks.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from kalshi_cli.client import CreateOrder, KalshiClient
from kalshi_cli.client.signing import load_private_key
from kalshi_cli.models import BookSide, TimeInForce
from kalshi_cli.sim.embed import AccountInfo, start_simulator
from kalshi_cli.store import Store

TARGET_RATIO = 1.5

NOOP_TYPER_APP = """
import typer
app = typer.Typer()
@app.command()
def noop(flag: bool = False) -> None:
    pass
app()
"""


def kalshi() -> str:
    script = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    if script is None:
        sys.exit("the `kalshi` script is not installed in this environment (pip install -e .)")
    return script


def timed(argv: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in ok:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}: {done.stdout}{done.stderr}")
    return elapsed


def client(account: AccountInfo) -> KalshiClient:
    key, _ = load_private_key(path=Path(account.private_key_path))
    return KalshiClient(api_base=account.api_base, key_id=account.key_id, private_key=key)


def open_positions(sim_admin: str, account: AccountInfo, seller: AccountInfo, n: int) -> None:
    import httpx

    with client(account) as me, client(seller) as other:
        for i in range(n):
            ticker = f"KXBENCH-{i}"
            httpx.post(
                f"{sim_admin}/markets",
                json={
                    "ticker": ticker,
                    "event_ticker": "KXBENCH",
                    "series_ticker": "KXB",
                    "title": f"Benchmark market {i}",
                },
                timeout=10,
            ).raise_for_status()
            price, count = Decimal("0.40"), Decimal(10 + i)
            me.create_order(
                CreateOrder(ticker=ticker, book_side=BookSide.BID, price=price, count=count)
            )
            other.create_order(
                CreateOrder(
                    ticker=ticker,
                    book_side=BookSide.ASK,
                    price=price,
                    count=count,
                    time_in_force=TimeInForce.IOC,
                )
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    exe = kalshi()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "KALSHI_HOME": home, "NO_COLOR": "1"}
        for name in ("KALSHI_CONFIG", "KALSHI_ENV", "KALSHI_API_BASE", "PYTHONDONTWRITEBYTECODE"):
            env.pop(name, None)
        with Store.open(Path(home) / "state" / "sim" / "state.db") as store:
            store.heartbeat(source="trade")

        typer_argv = [sys.executable, "-c", "import typer"]
        noop_argv = [sys.executable, "-c", NOOP_TYPER_APP]
        heartbeat_argv = [exe, "check", "heartbeat", "--warn", "3600", "--crit", "7200"]
        for argv in (typer_argv, noop_argv, heartbeat_argv):  # warm page cache and .pyc files
            timed(argv, env)
        typer_s: list[float] = []
        noop_s: list[float] = []
        heartbeat_s: list[float] = []
        for _ in range(args.runs):
            typer_s.append(timed(typer_argv, env))
            noop_s.append(timed(noop_argv, env))
            heartbeat_s.append(timed(heartbeat_argv, env))
        base, noop, hb = (statistics.median(x) for x in (typer_s, noop_s, heartbeat_s))

        sim = start_simulator(Path(home) / "sim", scenario="empty")
        try:
            import httpx

            seller = AccountInfo(
                **httpx.post(
                    f"{sim.admin_url}/accounts", json={"balance_cents": 1_000_000}, timeout=10
                ).json()
            )
            open_positions(sim.admin_url, sim.account, seller, 5)
            sim_env = {
                **env,
                "KALSHI_API_BASE": sim.account.api_base,
                "KALSHI_API_KEY_ID": sim.account.key_id,
                "KALSHI_PRIVATE_KEY_PATH": sim.account.private_key_path,
            }
            positions_argv = [exe, "check", "positions"]
            timed(positions_argv, sim_env)
            positions_s = sorted(timed(positions_argv, sim_env) for _ in range(args.runs))
        finally:
            sim.stop()

    p50 = statistics.median(positions_s)
    p90 = positions_s[int(0.9 * (len(positions_s) - 1))]
    print(f"median of {args.runs} cold starts each (target: heartbeat at most {TARGET_RATIO}x)")
    typer_name = 'python -c "import typer"'
    print(f"  {typer_name:34} {base * 1000:7.1f} ms  1.00x")
    print(f"  {'one-command Typer app':34} {noop * 1000:7.1f} ms  {noop / base:5.2f}x")
    print(f"  {'kalshi check heartbeat':34} {hb * 1000:7.1f} ms  {hb / base:5.2f}x")
    print(f"kalshi check positions on the simulator (5 positions), {args.runs} runs")
    print(f"  p50 {p50 * 1000:7.1f} ms   p90 {p90 * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Cold start of a network command: `kalshi markets --json` joining a running simulator, as fresh
processes interleaved with the `import typer` baseline: median wall and CPU time, each beside its
ratio to the baseline's (budgets: under 1 s wall, CPU under 3x the typer import's; `--floor`
shows what a bare signed GET costs, `--compare-with` another tree in the same rounds).
See docs/benchmarks.md "How each benchmark measures".

    python benchmarks/bench_cold_start_network.py [--runs 20] [--importtime]
        [--instructions] [--compare-with DIR] [--floor]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from coldstart import BASELINES, clean_env, kalshi, medians, report

BUDGET_S = 1.0  # docs/benchmarks.md: markets --json cold start, median wall
CPU_BUDGET_RATIO = 3.0  # docs/benchmarks.md: its median CPU time over `import typer`'s
# the tree's console-script entry point: `run` where it has one, else `main`
FROM_TREE = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); import kalshi_cli.__main__ as entry; "
    "getattr(entry, 'run', entry.main)()"
)


# the floors bar httpx's own command-line client, as `kalshi` does (kalshi_cli/__main__.py)
NO_HTTPX_CLI = 'import sys; sys.modules["httpx._main"] = None'
IMPORTS = f"{NO_HTTPX_CLI}; import kalshi_cli, typer, httpx"
PLAIN_GET = f"""{NO_HTTPX_CLI}
import kalshi_cli, typer, httpx, json, ssl, sys
with httpx.Client(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)) as http:
    print(json.dumps(http.get(sys.argv[1] + "/markets").raise_for_status().json())[:10])
"""
SIGNED_GET = f"""{NO_HTTPX_CLI}
import kalshi_cli, typer, httpx, base64, json, ssl, sys, time
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
with open(sys.argv[2], "rb") as pem:
    key = serialization.load_pem_private_key(
        pem.read(), None, unsafe_skip_rsa_key_validation=True
    )
url = sys.argv[1] + "/markets"
now = str(int(time.time() * 1000))
pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
signature = key.sign((now + "GET" + httpx.URL(url).path).encode(), pss, hashes.SHA256())
headers = {{
    "KALSHI-ACCESS-KEY": sys.argv[3],
    "KALSHI-ACCESS-TIMESTAMP": now,
    "KALSHI-ACCESS-SIGNATURE": base64.b64encode(signature).decode(),
}}
with httpx.Client(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)) as http:
    print(json.dumps(http.get(url, headers=headers).raise_for_status().json())[:10])
"""


def floors(home: Path) -> dict[str, list[str]]:
    """The floor commands, against the simulator whose account `home`'s sim directory holds."""
    account = json.loads((home / "sim" / "account.json").read_text())
    api, key, key_id = account["api_base"], account["private_key_path"], account["key_id"]
    return {
        "floor: import typer, httpx": [sys.executable, "-c", IMPORTS],
        "floor: + one plain httpx GET": [sys.executable, "-c", PLAIN_GET, api],
        "floor: + RSA key and signature": [sys.executable, "-c", SIGNED_GET, api, key, key_id],
    }


def from_tree(tree: str) -> list[str]:
    return [sys.executable, "-c", FROM_TREE, tree, "markets", "--json"]


def serve(home: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`kalshi sim serve` on the default sim data directory of `home`, once it answers.

    Nothing probes the simulator before `sim serve` has announced itself (`server.json` in the
    data directory): a probe that came first would find the directory unlocked, serve a
    simulator of its own and leave `sim serve` to exit on the lock, and every command timed
    afterwards would then start a simulator of its own instead of joining one (about twice
    the CPU; seen on a loaded machine).
    """
    proc = subprocess.Popen(
        [kalshi(), "sim", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    announced = home / "sim" / "server.json"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise SystemExit("the simulator did not start")
        if announced.exists():
            done = subprocess.run(
                [kalshi(), "markets", "--json"], env=env, capture_output=True, check=False
            )
            if done.returncode == 0:
                return proc
        time.sleep(0.2)


def slowest_imports(argv: list[str], env: dict[str, str], top: int = 25) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kalshi_cli", *argv[1:]],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    rows: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[1].strip().isdigit():
            rows.append((int(fields[1]), fields[2].rstrip()))
    rows.sort(reverse=True)
    print(f"slowest imports (cumulative) of `kalshi {' '.join(argv[1:])}`:")
    for cumulative, name in rows[:top]:
        print(f"  {cumulative / 1000:7.1f} ms  {name}")


def instructions(commands: dict[str, list[str]], env: dict[str, str]) -> None:
    """Instructions of one run of each command (cachegrind's `I refs`), and each one's ratio
    to `import typer`'s."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("--instructions needs valgrind")
    env = {**env, "PYTHONHASHSEED": "0"}  # the same dict and set layouts in every run
    counts: dict[str, int] = {}
    for name, argv in commands.items():
        subprocess.run(argv, env=env, capture_output=True, check=True)  # .pyc files written
        counted = [
            valgrind,
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
        ]
        done = subprocess.run(
            [*counted, *argv],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
        if found is None:
            sys.exit(f"no instruction count from valgrind for {name}")
        counts[name] = int(found.group(1).replace(",", ""))
    base = counts['python -c "import typer"']
    print("instructions of one run of each (valgrind cachegrind, PYTHONHASHSEED=0)")
    for name, count in counts.items():
        print(f"  {name:34} {count / 1e6:7.1f} M  {count / base:5.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--instructions", action="store_true")
    parser.add_argument("--compare-with", metavar="DIR")
    parser.add_argument("--floor", action="store_true")
    args = parser.parse_args()
    exe = kalshi()
    with tempfile.TemporaryDirectory() as home:
        env = clean_env(dict(os.environ), home)
        with serve(Path(home), env) as proc:
            try:
                command = [exe, "markets", "--json"]
                if args.importtime:
                    slowest_imports(command, env)
                    return 0
                commands = {**BASELINES, "kalshi markets --json (joins)": command}
                if args.compare_with:
                    this_tree = str(Path(__file__).resolve().parent.parent)
                    commands["  the same, this tree (python -c)"] = from_tree(this_tree)
                    commands["  the same, --compare-with tree"] = from_tree(args.compare_with)
                if args.floor:
                    commands |= floors(Path(home))
                if args.instructions:
                    instructions(commands, env)
                    return 0
                result = medians(commands, args.runs, env)
            finally:
                proc.terminate()
                proc.wait(10)
    print(f"load average {os.getloadavg()[0]:.2f}")
    report(
        result,
        args.runs,
        f"kalshi markets --json < {BUDGET_S:g} s wall, "
        f"CPU < {CPU_BUDGET_RATIO:g}x the typer import's",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fast start: help and the commands that need no network import no network or simulator code.

Each case runs the real entry point in a fresh interpreter and lists `sys.modules` afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# msgspec is not here: every answer of the exchange decodes through it (`models`), and its import
# measured ~8 ms (`python -X importtime`, its own modules after the standard library's), against
# the budgets of docs/benchmarks.md that `kalshi check heartbeat` and `kalshi markets` still keep
HEAVY = (
    "httpx",
    "cryptography",
    "kalshi_cli.sim",
    "kalshi_cli.client",
    "uvicorn",
    "starlette",
    "textual",  # kalshi dashboard only
    "pyarrow",
    "websocket",
    "kalshi_cli.data",
    "dask",  # backtest --executor dask only
    "distributed",
    "mcp",  # kalshi mcp only (the optional extra)
)

PROBE = """
import json, sys
sys.argv = ["kalshi", *json.loads(sys.argv[1])]
from kalshi_cli.__main__ import main
try:
    main()
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
loaded = sorted(name for name, module in sys.modules.items() if module is not None)  # None: barred
sys.stderr.write("\\nMODULES " + json.dumps(loaded) + " CODE " + str(code) + "\\n")
"""


def modules_after(args: list[str], home: Path) -> tuple[set[str], int]:
    env = {"KALSHI_HOME": str(home), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    marker = done.stderr.rsplit("MODULES ", 1)[1]
    names, code = marker.rsplit(" CODE ", 1)
    return set(json.loads(names)), int(code)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["markets", "--help"],
        ["orderbook", "--help"],
        ["sim", "serve", "--help"],
        ["config", "show"],
        ["config", "show", "--json"],
        ["--version"],
        ["watch", "--help"],
        ["record", "--help"],
        ["data", "--help"],
        ["data", "export", "--help"],
        ["mcp", "--help"],
    ],
)
def test_no_heavy_imports(tmp_path: Path, args: list[str]) -> None:
    modules, code = modules_after(args, tmp_path)
    assert code == 0
    heavy = sorted(m for m in modules if m.startswith(HEAVY))
    assert heavy == [], f"`kalshi {' '.join(args)}` imported {heavy}"


def test_help_imports_no_command_module_or_renderer(tmp_path: Path) -> None:
    modules, _code = modules_after(["--help"], tmp_path)
    loaded = {m for m in modules if m.startswith(("kalshi_cli.cli.", "rich"))}
    assert loaded == {
        "kalshi_cli.cli._context",
        "kalshi_cli.cli._options",
        "kalshi_cli.cli._output",
        "kalshi_cli.cli.app",
    }


def test_heartbeat_check_imports_no_network_code(tmp_path: Path) -> None:
    """A local check reads the state file only: no client, no simulator, no key."""
    from kalshi_cli.store import Store

    with Store.open(tmp_path / "state" / "sim" / "state.db") as store:
        store.entries.heartbeat(source="trade")
    modules, code = modules_after(
        ["check", "heartbeat", "--warn", "3600", "--crit", "7200"], tmp_path
    )
    assert code == 0  # OK: the heartbeat was just written
    loaded = sorted(m for m in modules if m.startswith(HEAVY))
    assert loaded == []


def test_heartbeat_check_still_refuses_a_bad_risk_section(tmp_path: Path) -> None:
    """A bad `risk:` section is refused before any check looks (exit 3, UNKNOWN), even by a
    check that compares no risk limit."""
    (tmp_path / "config.yaml").write_text("risk:\n  max_total_exposur: 5\n")
    _modules, code = modules_after(["check", "heartbeat"], tmp_path)
    assert code == 3


def test_data_listing_does_not_import_pyarrow(tmp_path: Path) -> None:
    """pyarrow loads only for `data export --format parquet`, never to list or describe."""
    (tmp_path / "set" / "frames").mkdir(parents=True)
    for args in (["data", "ls", str(tmp_path)], ["data", "info", str(tmp_path / "set")]):
        modules, code = modules_after(args, tmp_path)
        assert code == 0
        assert not [m for m in modules if m.startswith("pyarrow")], args


def test_a_network_command_joining_a_simulator_imports_the_client_only(
    tmp_path: Path,
) -> None:
    """`kalshi markets --json` joining a simulator another process serves needs the client
    only: not the simulator's server stack (starlette, uvicorn, the exchange core) nor the code
    that starts one (`embed`: it reads what the serving one announced), nor httpx's
    own command-line client (click, pygments, rich), which its package imports whenever they
    are installed (kalshi_cli/__main__.py), nor the client's areas other than markets (each
    is imported on first use, the order request shapes with the orders area)."""
    from kalshi_cli.client.client import AREAS
    from kalshi_cli.sim.server.embed import start_simulator

    with start_simulator(tmp_path / "sim", scenario="default") as sim:
        modules, code = modules_after(["markets", "--json"], tmp_path)
        assert sim.data_dir == (tmp_path / "sim").resolve()
    assert code == 0
    assert "kalshi_cli.client.client" in modules  # it did go over the network
    loaded = sorted(m for m in modules if m.startswith(("uvicorn", "starlette", "kalshi_cli.sim.")))
    # (the package `kalshi_cli.sim.server` itself is a docstring: it imports nothing)
    assert loaded == ["kalshi_cli.sim.server", "kalshi_cli.sim.server.announce"]
    renderers = sorted(m for m in modules if m.split(".")[0] in ("click", "pygments", "rich"))
    assert renderers == []
    areas = sorted(m for m in modules if m.removeprefix("kalshi_cli.client.") in AREAS)
    assert areas == ["kalshi_cli.client.markets"]
    # a public read is not signed while the key is unread (`client.signing.signs`): neither the key
    # nor the signature code (`cryptography`) is loaded
    assert "kalshi_cli.vocabulary.keys" not in modules
    assert [m for m in modules if m.split(".")[0] == "cryptography"] == []
    assert "kalshi_cli.client.requests" not in modules
    # the client's User-Agent names the version, a constant of the package: reading it from the
    # installed metadata costs `importlib.metadata` and a scan of sys.path on every start
    assert "importlib.metadata" not in modules

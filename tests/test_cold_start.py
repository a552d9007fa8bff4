"""Fast start: help and the commands that need no network import no network or simulator code.

Each case runs the real entry point in a fresh interpreter and lists `sys.modules` afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.cli._output import _plain_table

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
    "msgspec",  # the replay's decoder: data and backtest commands only
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
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + " CODE " + str(code) + "\\n")
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
    ],
)
def test_no_heavy_imports(tmp_path: Path, args: list[str]) -> None:
    modules, code = modules_after(args, tmp_path)
    assert code == 0
    heavy = sorted(m for m in modules if m.startswith(HEAVY))
    assert heavy == [], f"`kalshi {' '.join(args)}` imported {heavy}"


def test_help_imports_no_command_module_or_renderer(tmp_path: Path) -> None:
    modules, _code = modules_after(["--help"], tmp_path)
    loaded = {m for m in modules if m.startswith(("kalshi_cli.cli.", "rich", "tabulate", "yaml"))}
    assert loaded == {
        "kalshi_cli.cli._context",
        "kalshi_cli.cli._options",
        "kalshi_cli.cli._output",
        "kalshi_cli.cli.app",
    }


cells = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    headers=st.lists(cells, min_size=1, max_size=4),
    n_rows=st.integers(min_value=0, max_value=5),
)
def test_plain_table_is_what_tabulate_prints(
    data: st.DataObject, headers: list[str], n_rows: int
) -> None:
    """The plain format skips importing tabulate; its text must be tabulate's, byte for byte."""
    from tabulate import tabulate

    numeric = data.draw(st.lists(st.booleans(), min_size=len(headers), max_size=len(headers)))
    rows = data.draw(
        st.lists(
            st.lists(
                cells | st.sampled_from(["True", "1", "-2.5", " 3 "]),
                min_size=len(headers),
                max_size=len(headers),
            ),
            min_size=n_rows,
            max_size=n_rows,
        )
    )
    expected = tabulate(
        rows,
        headers=headers,
        tablefmt="plain",
        colalign=["right" if n else "left" for n in numeric],
        disable_numparse=True,
    )
    assert _plain_table(headers, rows, numeric=numeric) == expected


@pytest.mark.parametrize("cell", ["caf\u00e9", "\u5e02\u573a", "a\nb", "\x1b[1mx\x1b[0m", "a\tb"])
def test_plain_table_leaves_other_text_to_tabulate(cell: str) -> None:
    assert _plain_table(["h"], [[cell]], numeric=[False]) is None


def test_config_show_in_a_pipe_does_not_import_tabulate(tmp_path: Path) -> None:
    modules, code = modules_after(["config", "show"], tmp_path)
    assert code == 0
    assert "tabulate" not in modules


def test_heartbeat_check_imports_no_alerting_or_network_code(tmp_path: Path) -> None:
    """With no `alerts:` section there is nothing to post, so the router is never loaded."""
    from kalshi_cli.store import Store

    with Store.open(tmp_path / "state" / "sim" / "state.db") as store:
        store.heartbeat(source="trade")
    modules, code = modules_after(
        ["check", "heartbeat", "--warn", "3600", "--crit", "7200"], tmp_path
    )
    assert code == 0  # OK: the heartbeat was just written
    loaded = sorted(m for m in modules if m.startswith((*HEAVY, "kalshi_cli.alerts", "tabulate")))
    assert loaded == []


def test_heartbeat_check_without_a_risk_section_imports_no_risk_code(tmp_path: Path) -> None:
    """The heartbeat compares no risk limit: with no `risk:` section there is nothing to check,
    so neither the risk package nor what it shares with the strategies is loaded (#17)."""
    from kalshi_cli.store import Store

    with Store.open(tmp_path / "state" / "sim" / "state.db") as store:
        store.heartbeat(source="trade")
    (tmp_path / "config.yaml").write_text("checks:\n  heartbeat:\n    warn: 120\n")
    modules, code = modules_after(["check", "heartbeat"], tmp_path)
    assert code == 0  # OK: the heartbeat was just written, and the config was read
    loaded = sorted(m for m in modules if m.startswith(("kalshi_cli.risk", "kalshi_cli.decisions")))
    assert loaded == []
    # the state file and the local checks take money and directions from `units`, so the
    # exchange's response dataclasses in `models` are never generated (#17)
    assert "kalshi_cli.models" not in modules
    assert "kalshi_cli.units" in modules
    # reading the state file needs no temporary file (only creating one does), and so
    # neither tempfile nor the random and hashlib modules it loads (#17)
    assert not [m for m in modules if m in ("tempfile", "random", "hashlib")]


def test_heartbeat_check_still_refuses_a_bad_risk_section(tmp_path: Path) -> None:
    """Skipping the risk package is only for a config without `risk:`: a bad one is still
    refused before any check looks (exit 3, UNKNOWN), whichever check runs."""
    (tmp_path / "config.yaml").write_text("risk:\n  max_total_exposur: 5\n")
    modules, code = modules_after(["check", "heartbeat"], tmp_path)
    assert code == 3
    assert "kalshi_cli.risk" in modules


def test_commands_run_with_the_collector_on(tmp_path: Path) -> None:
    """The entry point turns garbage collection off only while it imports the app: the root
    callback, and so every command body after it (a trade loop runs for days), finds it on."""
    probe = (
        "import gc, sys\n"
        "import kalshi_cli.cli.app as cli\n"
        "activate = cli.activate\n"
        "def probe(context):\n"
        "    sys.stderr.write(f'GC {gc.isenabled()}\\n')\n"
        "    activate(context)\n"
        "cli.activate = probe\n"
        "sys.argv = ['kalshi', 'config', 'show']\n"
        "from kalshi_cli.__main__ import main\n"
        "main()\n"
    )
    env = {"KALSHI_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "GC True" in done.stderr.splitlines()


GC_PROBE = """
import gc, json, sys
sys.argv = ["kalshi", *json.loads(sys.argv[1])]
LOADS = {"load_command", "settings", "_build_client"}
during = []
def watch(phase, info):
    if phase == "start":
        frame, names = sys._getframe(1), set()
        while frame is not None:
            if "kalshi_cli/cli/" in frame.f_code.co_filename:
                names.add(frame.f_code.co_name)
            frame = frame.f_back
        if names & LOADS:
            during.append(sorted(names & LOADS))
gc.callbacks.append(watch)
from kalshi_cli.__main__ import main
try:
    main()
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
found = {"during": during, "on": gc.isenabled(), "tracked": len(gc.get_objects()),
         "frozen": gc.get_freeze_count(), "code": code}
sys.stderr.write("\\nGC " + json.dumps(found) + "\\n")
"""


def collector_after(args: list[str], home: Path) -> dict[str, Any]:
    env = {"KALSHI_HOME": str(home), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", GC_PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert "\nGC " in done.stderr, done.stderr
    found: dict[str, Any] = json.loads(done.stderr.rsplit("\nGC ", 1)[1].splitlines()[0])
    return found


def test_a_network_command_loads_its_client_without_collecting_and_freezes_it(
    tmp_path: Path,
) -> None:
    """What `kalshi markets --json` loads to keep until it exits (the command's module, the
    settings, the client with httpx, cryptography and the key) is built with the collector
    paused, and frozen out of later collections: the young collections those imports triggered
    walked tens of thousands of objects that are never garbage, ~6 ms of its cold start (#17,
    session 8). The collector is on again afterwards (a trade loop builds its client the same
    way and collects for days)."""
    from kalshi_cli.sim.embed import start_simulator

    with start_simulator(tmp_path / "sim", scenario="default"):
        found = collector_after(["markets", "--json"], tmp_path)
    assert found["code"] == 0
    assert found["during"] == []
    assert found["on"] is True
    # what is left for the collector to walk is what the command made after its loads (the
    # page of markets and its output): a small part of what the process froze
    assert found["tracked"] * 20 < found["frozen"], found


EXIT_PROBE = """
import atexit, json, os, sys, threading

quick_exit = os._exit
def seen_exit(code):  # the process ends here, without the interpreter's teardown
    os.write(2, b"QUICK EXIT %d\\n" % code)
    quick_exit(code)
os._exit = seen_exit
atexit.register(lambda: sys.stderr.write("ATEXIT\\n"))
if sys.argv[2] == "thread":
    def late_writer():
        threading.main_thread().join(60)  # the interpreter's shutdown waits for this thread
        sys.stderr.write("THREAD\\n")
    threading.Thread(target=late_writer).start()
sys.argv = ["kalshi", *json.loads(sys.argv[1])]
from kalshi_cli.__main__ import run  # the console script's entry point (pyproject.toml)
run()
"""


def exit_of(
    args: list[str], home: Path, *, thread: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {"KALSHI_HOME": str(home), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-c", EXIT_PROBE, json.dumps(args), "thread" if thread else "-"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "code"),
    [(["config", "show", "--json"], 0), (["--config", "/nonexistent.yaml", "config", "show"], 3)],
)
def test_the_console_script_exits_without_the_interpreter_teardown(
    tmp_path: Path, args: list[str], code: int
) -> None:
    """Once the command is done, `kalshi` runs the atexit handlers, flushes its output and exits
    with the command's code, without tearing the interpreter's modules down one object at a
    time (~7 ms of every cold start, #17 session 8): whatever must happen at exit is closed
    explicitly or is an atexit handler."""
    done = exit_of(args, tmp_path)
    assert done.returncode == code, done.stderr
    assert done.stderr.splitlines()[-2:] == ["ATEXIT", f"QUICK EXIT {code}"]
    if code == 0:
        assert json.loads(done.stdout)["settings"]["env"]["value"] == "sim"  # all of it, flushed


def test_with_a_thread_still_running_the_console_script_exits_as_python_does(
    tmp_path: Path,
) -> None:
    """A thread that is not a daemon is waited for, as the interpreter does, so the quick exit is
    only taken when nothing but the main thread (and daemons) is left."""
    done = exit_of(["config", "show", "--json"], tmp_path, thread=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == ["THREAD", "ATEXIT"]


def test_data_listing_does_not_import_pyarrow(tmp_path: Path) -> None:
    """pyarrow loads only for `data export --format parquet`, never to list or describe."""
    (tmp_path / "set" / "frames").mkdir(parents=True)
    for args in (["data", "ls", str(tmp_path)], ["data", "info", str(tmp_path / "set")]):
        modules, code = modules_after(args, tmp_path)
        assert code == 0
        assert not [m for m in modules if m.startswith("pyarrow")], args


def test_a_network_command_joining_a_simulator_imports_no_server_stack(
    tmp_path: Path,
) -> None:
    """`kalshi markets --json` joining a simulator another process serves needs the client
    only: not the simulator's server stack (starlette, uvicorn, the exchange core)."""
    from kalshi_cli.sim.embed import start_simulator

    with start_simulator(tmp_path / "sim", scenario="default") as sim:
        modules, code = modules_after(["markets", "--json"], tmp_path)
        generated = dataclasses_after(["markets", "--json"], tmp_path)
        assert sim.data_dir == (tmp_path / "sim").resolve()
    assert code == 0
    assert "kalshi_cli.client.client" in modules  # it did go over the network
    loaded = sorted(m for m in modules if m.startswith(("uvicorn", "starlette", "kalshi_cli.sim.")))
    assert loaded == ["kalshi_cli.sim.announce", "kalshi_cli.sim.embed"]
    # a public read opens no state file, so it imports neither the store nor sqlite3 (#17)
    assert not [m for m in modules if m.startswith(("kalshi_cli.store", "sqlite3", "_sqlite3"))]
    # the key loads through cryptography's PEM loader alone, not its serialization package
    # (whose SSH support imports ciphers, bcrypt and elliptic curves) (#17)
    assert not [m for m in modules if m.startswith("cryptography.hazmat.primitives.serialization")]
    assert "kalshi_cli.keys" in modules
    # with no config file, no YAML parser either; JSON output needs no table renderer (#17)
    assert not [m for m in modules if m.startswith(("yaml", "_yaml", "tabulate"))]
    # a read of the markets generates Market's dataclasses (`market`), not the ten other response
    # dataclasses of `models`: the client's areas import those in the calls that return them
    # (#17, session 7)
    assert "kalshi_cli.market" in modules
    assert "kalshi_cli.models" not in modules
    # nor the response dataclasses of the client's other areas: each area module loads its
    # shapes (`client/*_shapes.py`) on first use (#17, session 7)
    assert not [m for m in modules if m.endswith("_shapes")]
    # every dataclass of ours costs ~0.8 ms to generate at each start; these are all a read of
    # the markets may generate (the order request shapes of `client.requests` load with the
    # first order call, the config file's parsed document only with a config file) (#17)
    assert generated <= MARKETS_JSON_DATACLASSES, sorted(generated - MARKETS_JSON_DATACLASSES)


def test_a_network_command_compiles_no_pattern_of_ours_at_import(tmp_path: Path) -> None:
    """A module of ours that `kalshi markets --json` loads keeps no compiled regular expression:
    each pattern it does not use on this path (an order's path in the rate limits and the
    subaccount scope, a config refusal's leading key) compiles on first use, not at every start
    (#17, session 8)."""
    from kalshi_cli.sim.embed import start_simulator

    with start_simulator(tmp_path / "sim", scenario="default"):
        compiled = patterns_after(["markets", "--json"], tmp_path)
    assert compiled == set()


def test_every_dataclass_of_a_network_command_has_its_docstring(tmp_path: Path) -> None:
    """A dataclass without a docstring gets one made at import from `inspect.signature` of its
    generated `__init__` (~0.1-0.2 ms each, more with more fields): every dataclass that
    `kalshi markets --json` generates says what it is itself (#17, session 9)."""
    from kalshi_cli.sim.embed import start_simulator

    keep = (
        "isinstance(value, type) and dataclasses.is_dataclass(value) "
        "and value.__module__ == name and (value.__doc__ or '').startswith(value.__name__ + '(')"
    )
    with start_simulator(tmp_path / "sim", scenario="default"):
        undocumented = _names_after(["markets", "--json"], tmp_path, "UNDOCUMENTED", keep)
    assert undocumented == set()


def test_a_network_command_generates_no_typed_dict_of_ours(tmp_path: Path) -> None:
    """A TypedDict of ours that only annotates (`**options: Unpack[...]`) is a name for the type
    checker: generated at import, each of its string fields is compiled as a forward reference
    at every start (~0.4 ms for the simulator's options, #17 session 9)."""
    from kalshi_cli.sim.embed import start_simulator

    keep = "__import__('typing').is_typeddict(value)"
    with start_simulator(tmp_path / "sim", scenario="default"):
        generated = _names_after(["markets", "--json"], tmp_path, "TYPEDDICTS", keep)
    assert generated == set()


AREAS_WITH_LAZY_SHAPES = (
    "api_keys",
    "batch_orders",
    "communications",
    "exchange",
    "historical",
    "order_groups",
    "subaccounts",
)


@pytest.mark.parametrize("area", AREAS_WITH_LAZY_SHAPES)
def test_an_area_still_exports_the_shapes_it_loads_on_first_use(area: str) -> None:
    """Every public name of a client area, its response dataclasses included, is importable
    from the area's module as before, and is the one class (not a copy); an unknown name is
    still an AttributeError. Each module runs fresh, so the lazy path is the one taken."""
    probe = (
        "import importlib, sys\n"
        f"area = importlib.import_module('kalshi_cli.client.{area}')\n"
        f"assert 'kalshi_cli.client.{area}_shapes' not in sys.modules\n"
        "for name in area.__all__:\n"
        "    value = getattr(area, name)\n"
        f"shapes = sys.modules['kalshi_cli.client.{area}_shapes']\n"
        "moved = [n for n in area.__all__ if hasattr(shapes, n)]\n"
        "assert moved and all(getattr(area, n) is getattr(shapes, n) for n in moved), moved\n"
        "assert not hasattr(area, 'NoSuchName')\n"
        "print(sorted(moved))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() != "[]"


MARKETS_JSON_DATACLASSES = {
    "kalshi_cli.client.retry.RetryPolicy",
    "kalshi_cli.client.stats.EndpointStats",
    "kalshi_cli.config.Settings",
    "kalshi_cli.connection.Connection",
    "kalshi_cli.market.Market",
    "kalshi_cli.market.PriceRange",
    "kalshi_cli.sim.announce.AccountInfo",
}

# A process that runs `kalshi ARGS` in itself, then names each object of a module of ours
# that KEEP(name, value) selects, on stderr after LABEL (`_names_after`).
_NAMES_PROBE = """
import dataclasses, json, re, sys
sys.argv = ["kalshi", *json.loads(sys.argv[1])]
from kalshi_cli.__main__ import main
try:
    main()
except SystemExit as exc:
    code = exc.code
def keep(name, value):
    return KEEP
found = sorted(
    f"{name}.{attr}"
    for name, module in list(sys.modules.items())
    if name.startswith("kalshi_cli")
    for attr, value in vars(module).items()
    if keep(name, value)
)
sys.stdout.flush()
sys.stderr.write("\\nLABEL " + json.dumps(found) + "\\n")
"""


def _names_after(args: list[str], home: Path, label: str, keep: str) -> set[str]:
    env = {"KALSHI_HOME": str(home), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    probe = _NAMES_PROBE.replace("KEEP", keep).replace("LABEL", label)
    done = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert f"{label} " in done.stderr, done.stderr
    return set(json.loads(done.stderr.rsplit(f"{label} ", 1)[1].splitlines()[0]))


def dataclasses_after(args: list[str], home: Path) -> set[str]:
    """The dataclasses of ours that `kalshi ARGS` generated (defined in a loaded module)."""
    keep = (
        "isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == name"
    )
    return _names_after(args, home, "DATACLASSES", keep)


def patterns_after(args: list[str], home: Path) -> set[str]:
    """The compiled regular expressions that modules of ours hold after `kalshi ARGS`."""
    return _names_after(args, home, "PATTERNS", "isinstance(value, re.Pattern)")


def test_loading_gives_the_collector_back_even_when_the_load_fails() -> None:
    """A failed load (a bad key, an unreachable simulator) leaves the collector on, so a
    process that goes on (a retry, a trade loop) still collects; a caller that had turned it
    off (the console script while it imports the app) finds it off still."""
    import gc

    from kalshi_cli.cli._context import loading
    from kalshi_cli.errors import ConfigError

    assert gc.isenabled()
    with pytest.raises(ConfigError), loading():
        assert not gc.isenabled()
        raise ConfigError("no key")
    assert gc.isenabled()
    gc.disable()
    try:
        with loading():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


# The callbacks Typer builds into `kalshi markets`: the root's, its --version option's, the
# command's
MARKETS_CALLBACKS = ("root", "_version", "markets_command")


def test_a_network_command_evaluates_the_annotations_of_its_options_once(tmp_path: Path) -> None:
    """Typer reads a command's parameters twice while building it, and each read evaluated
    every string annotation (`from __future__ import annotations`) twice: four compilations of
    each `Annotated[..., typer.Option(...)]` of the root and of `markets`, ~2 ms of a cold
    start. `kalshi_cli.cli.app` evaluates them once before Typer builds the command, so Typer
    finds no string left to evaluate (#17, session 9)."""
    from kalshi_cli.sim.embed import start_simulator

    keep = (
        f"getattr(value, '__name__', None) in {MARKETS_CALLBACKS!r} "
        "and any(isinstance(a, str) for a in value.__annotations__.values())"
    )
    with start_simulator(tmp_path / "sim", scenario="default"):
        strings_left = _names_after(["markets", "--json"], tmp_path, "STRINGS", keep)
    assert strings_left == set()


# Every command of COMMANDS built twice in one process: first as Typer builds it from the
# string annotations (the whole module's app, nothing evaluated beforehand), then through
# `load_command`; each described by its help text and every attribute of its parameters.
_BUILDS_PROBE = """
import enum, importlib, json, sys, types
import typer, typer.main
from typer._click import Context
from kalshi_cli.cli.app import COMMANDS, load_command

def describe(value, depth=0):
    if isinstance(value, enum.Enum):
        return [type(value).__name__, value.value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [describe(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): describe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (types.FunctionType, types.MethodType)):
        return "function " + value.__qualname__
    if isinstance(value, type):
        return "class " + value.__qualname__
    if depth < 3 and hasattr(value, "__dict__"):
        return [type(value).__name__, describe(vars(value), depth + 1)]
    return type(value).__name__

def command_of(group, path):
    for name in path:
        group = group.commands[name]
    return group

def shape(command, name):
    found = {"help": command.get_help(Context(command, info_name=name))}
    found["params"] = [describe(vars(p)) for p in command.params]
    subcommands = getattr(command, "commands", {})
    found["subcommands"] = {n: shape(subcommands[n], n) for n in sorted(subcommands)}
    return found

typer_built = {}
for entry in COMMANDS:
    holder = typer.Typer(rich_markup_mode=None, add_completion=False)
    importlib.import_module(f"kalshi_cli.cli.{entry.module}").register(holder)
    whole = typer.main.get_command(holder)
    command = whole.commands[entry.name] if entry.name in getattr(whole, "commands", {}) else whole
    typer_built[entry.name] = shape(command, entry.name)
ours = {entry.name: shape(load_command(entry), entry.name) for entry in COMMANDS}
print(json.dumps({"typer": typer_built, "ours": ours}))
"""


def test_every_command_is_built_as_typer_builds_it_from_the_strings() -> None:
    """Evaluating a command's annotations before Typer builds it (`evaluate_callbacks`)
    changes nothing Typer makes of them: every command, group and subcommand has the same help
    and the same options, types, defaults and flags as when Typer evaluates the strings."""
    done = subprocess.run(
        [sys.executable, "-c", _BUILDS_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    built = json.loads(done.stdout)
    assert set(built["ours"]) == set(built["typer"])
    for name, shape in built["typer"].items():
        assert built["ours"][name] == shape, name
    assert any(shape["params"] for shape in built["ours"].values())

"""The layers of ARCHITECTURE.md, enforced: every import in the package, walked with `ast`.

A module may import modules of its own group and of groups in lower layers, never upward or
sideways; no two modules import each other, directly or in a ring (deferred imports inside
functions count: a cycle hidden in a function is still a cycle). A group not placed in a layer
fails the test, so a new package has to be placed before it can land.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kalshi_cli"

# Bottom first. The group of `kalshi_cli.X.Y` is `X`, except in the tier folders whose modules
# (or folders) are each a group of their own (`vocabulary.models`, `services.orders`,
# `runner.loop`): their order inside the tier is a rule too. `kalshi_cli` itself is "__init__".
TIER_FOLDERS = ("vocabulary", "services", "runner")
LAYERS: list[tuple[str, set[str]]] = [
    (
        "constants",
        {
            "__init__",
            "vocabulary",
            "services",
            "vocabulary.exit_codes",
            "vocabulary.clock",
            "vocabulary.owners",
            "vocabulary.files",
            "vocabulary.process",
            "vocabulary.trading_state",
            "vocabulary.request_ranges",
            "vocabulary.names",
        },
    ),
    (
        "errors and units",
        {"vocabulary.errors", "vocabulary.units", "vocabulary.reference_index"},
    ),
    ("the config decoder", {"vocabulary.decode"}),
    (
        "the exchange's shapes and keys, an event's outcomes",
        {"vocabulary.models", "vocabulary.keys", "vocabulary.event_outcomes"},
    ),
    (
        "decisions, order terms, documents",
        {"vocabulary.decisions", "vocabulary.order_terms", "vocabulary.documents"},
    ),
    ("the strategy API", {"strategy_api"}),
    (
        "adapters and rules",
        {"client", "store", "strategies", "risk", "feed", "alerts", "config", "sim"},
    ),
    ("accounting", {"services.pnl", "services.fees"}),
    ("each owner's part", {"services.owner_parts"}),
    ("a loop's strategies as status shows them", {"services.loop_strategies"}),
    ("reconciliation", {"services.reconcile"}),
    ("where the money and the markets are, by shard", {"services.shards"}),
    # one pre-trade account for every order path: below the loop, `kalshi order` and the
    # assistant, which hand it their view (ARCHITECTURE.md, 6.5)
    ("the pre-trade account", {"services.pretrade"}),
    (
        "services",
        {
            "services.orders",
            "services.killswitch",
            "services.connection",
            "services.key_files",
            "data",
            "venue",
        },
    ),
    ("views", {"services.positions", "services.paper_kill"}),
    # the checks read a view (`check positions`: each event's worst case, as `positions --by
    # event` has it)
    ("reports and checks", {"services.pnl_report", "services.metrics", "checks"}),
    # the trade loop's rooms (ARCHITECTURE.md, "The loop's rooms")
    ("what the loop knows", {"runner.books"}),
    ("what a run is asked, and what the loop reads through", {"runner.config", "runner.ports"}),
    ("from a decision to the exchange and back", {"runner.execution"}),
    ("the tick and what it holds every tick", {"runner.loop"}),
    (
        "the refusals before anything is sent, and the paper venue",
        {"runner.preflight", "runner.paper"},
    ),
    ("the loop assembled", {"runner.assembly"}),
    ("a run from start to stop", {"runner.lifecycle"}),
    ("the trade loop and the dashboard", {"runner", "dashboard"}),
    ("backtests", {"backtest"}),
    ("agent access", {"agent"}),
    ("commands", {"cli"}),
    ("entry point", {"__main__"}),
]
RANK = {group: rank for rank, (_, groups) in enumerate(LAYERS) for group in groups}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _group(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 2 and parts[1] in TIER_FOLDERS:
        return f"{parts[1]}.{parts[2]}"
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@cache
def _tree(path: Path) -> ast.Module:
    """The module parsed: once a process for every check here (parsing the package is most of
    their time)."""
    return ast.parse(path.read_text(), filename=str(path))


@cache
def _statements(path: Path) -> list[ast.stmt]:
    """The module's imports and class definitions, nested ones too: the package is walked once
    for every check here."""
    kinds = (ast.Import, ast.ImportFrom, ast.ClassDef)
    return [node for node in ast.walk(_tree(path)) if isinstance(node, kinds)]


def _imports(modules: dict[str, Path]) -> dict[str, set[tuple[str, int]]]:
    """module -> {(imported module, line)}, resolving `from pkg import submodule`."""
    found: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for name, path in modules.items():
        for node in _statements(path):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if not node.module.startswith("kalshi_cli"):
                    continue
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found[name].add((sub if sub in modules else node.module, node.lineno))
            elif isinstance(node, ast.ImportFrom):
                raise AssertionError(f"{path}:{node.lineno}: relative import; spell it out")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("kalshi_cli"):
                        found[name].add((alias.name, node.lineno))
    return found


def test_every_group_is_placed_in_a_layer() -> None:
    groups = {_group(m) for m in _modules()}
    unplaced = sorted(groups - RANK.keys())
    assert not unplaced, f"place these in ARCHITECTURE.md and LAYERS: {unplaced}"
    gone = sorted(RANK.keys() - groups)
    assert not gone, f"LAYERS names groups that no longer exist: {gone}"


def test_imports_only_flow_downward() -> None:
    modules = _modules()
    wrong = []
    for importer, targets in _imports(modules).items():
        for target, line in sorted(targets):
            mine, theirs = _group(importer), _group(target)
            if mine not in RANK or theirs not in RANK:
                continue  # reported by test_every_group_is_placed_in_a_layer
            if mine != theirs and RANK[theirs] >= RANK[mine]:
                wrong.append(f"{modules[importer]}:{line}: {mine} imports {theirs} ({target})")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


# The assistant reaches the account through the pre-trade account and the services, as a command
# does: it imports nothing of the trade loop (what both need sits below both, services/pretrade).
RUNNER = "kalshi_cli.runner"


def _imports_of_the_runner(modules: dict[str, Path], under: str) -> list[str]:
    """Each import of `kalshi_cli.runner` (or a module of it) by a module under `under`, at the
    module's top or inside a function."""
    return [
        f"{modules[importer]}:{line}: {importer} imports {target}"
        for importer, targets in _imports(modules).items()
        if importer == under or importer.startswith(under + ".")
        for target, line in sorted(targets)
        if target == RUNNER or target.startswith(RUNNER + ".")
    ]


def test_the_assistant_imports_nothing_of_the_trade_loop() -> None:
    wrong = _imports_of_the_runner(_modules(), "kalshi_cli.agent")
    assert not wrong, "the assistant imports the trade loop:\n" + "\n".join(wrong)


def test_the_runner_import_check_sees_one_inside_a_function(tmp_path: Path) -> None:
    modules = {
        "kalshi_cli.agent.tools.orders": tmp_path / "o.py",
        "kalshi_cli.runner.books.portfolio": tmp_path / "p.py",
    }
    modules["kalshi_cli.agent.tools.orders"].write_text(
        "def books():\n    from kalshi_cli.runner.books import portfolio\n    return portfolio\n"
    )
    modules["kalshi_cli.runner.books.portfolio"].write_text("")
    assert _imports_of_the_runner(modules, "kalshi_cli.agent") == [
        f"{modules['kalshi_cli.agent.tools.orders']}:2: kalshi_cli.agent.tools.orders imports "
        "kalshi_cli.runner.books.portfolio"
    ]


# What runs the exchange in-process (the local venue, the backtests) and the exchange core itself
# never import the simulator's server: the server is reached only over the network.
SERVER = "kalshi_cli.sim.server"
NO_SERVER = ("kalshi_cli.venue", "kalshi_cli.backtest", "kalshi_cli.sim.core")


def _imports_of_the_server(modules: dict[str, Path]) -> list[str]:
    found = []
    for importer, targets in _imports(modules).items():
        if not importer.startswith(tuple(f"{p}." for p in NO_SERVER) + NO_SERVER):
            continue
        for target, line in sorted(targets):
            if target == SERVER or target.startswith(SERVER + "."):
                found.append(f"{modules[importer]}:{line}: {importer} imports {target}")
    return found


def test_the_venue_the_backtests_and_the_exchange_core_never_import_the_simulator_server() -> None:
    wrong = _imports_of_the_server(_modules())
    assert not wrong, "imports of the simulator's server:\n" + "\n".join(wrong)


# The local venue holds the exchange core's parts (the matching engine, the accounts, the order
# desk, ...), not the served exchange, whose journal, tick, RFQs and keys it has no use for.
EXCHANGE = "kalshi_cli.sim.core.exchange"


def test_the_venue_holds_the_core_parts_rather_than_the_served_exchange() -> None:
    modules = _modules()
    wrong = [
        f"{modules[importer]}:{line}: {importer} imports {target}"
        for importer, targets in _imports(modules).items()
        if importer == "kalshi_cli.venue" or importer.startswith("kalshi_cli.venue.")
        for target, line in sorted(targets)
        if target == EXCHANGE or target.startswith(EXCHANGE + ".")
    ]
    assert not wrong, "the venue imports the served exchange:\n" + "\n".join(wrong)
    # nor through a module it imports: a fresh interpreter that loads the venue has not
    # loaded the served exchange
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, kalshi_cli.venue.venue, kalshi_cli.venue.client; "
            f"print({EXCHANGE!r} in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == "False"


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {m: {t for t, _ in targets} for m, targets in _imports(modules).items()}
    cycles = _strongly_connected(graph)
    assert not cycles, "modules that import each other: " + "; ".join(
        " <-> ".join(sorted(c)) for c in cycles
    )


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative; returns the components with more than one module.
    A package's `__init__` re-exporting its own modules is not a cycle of design, so the
    edge from a module to its own package is left out."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0

    def edges(v: str) -> list[str]:
        return sorted(w for w in graph.get(v, ()) if not v.startswith(w + "."))

    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(edges(root)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(edges(w))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.add(w)
                    if w == v:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [{"a", "b"}]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [{"a", "b", "c"}]),
        ({"a": {"b"}, "b": {"c"}}, []),
        ({"p.m": {"p"}, "p": {"p.m"}}, []),  # a package re-exporting its module
    ],
)
def test_the_cycle_finder_itself(graph: dict[str, set[str]], expected: list[set[str]]) -> None:
    assert _strongly_connected(graph) == expected


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The walker resolves names the way the checks above rely on."""
    modules = {
        "kalshi_cli.vocabulary.models": tmp_path / "m.py",
        "kalshi_cli.runner.loop": tmp_path / "r.py",
    }
    modules["kalshi_cli.vocabulary.models"].write_text("from kalshi_cli.runner.loop import Loop\n")
    modules["kalshi_cli.runner.loop"].write_text("from kalshi_cli.vocabulary import models\n")
    found = _imports(modules)
    assert found["kalshi_cli.vocabulary.models"] == {("kalshi_cli.runner.loop", 1)}
    assert found["kalshi_cli.runner.loop"] == {("kalshi_cli.vocabulary.models", 1)}
    assert RANK[_group("kalshi_cli.runner.loop")] > RANK[_group("kalshi_cli.vocabulary.models")]
    # runner/'s folders are ranked too: its books sit below the loop
    assert (
        RANK[_group("kalshi_cli.runner.loop.trade_loop")]
        > RANK[_group("kalshi_cli.runner.books.fees")]
    )


def _classes_built_on_ours(package: str) -> list[str]:
    """The classes of `package`'s modules (its sub-packages' too) that derive from another class of
    kalshi_cli, but for exceptions (one tree, errors.py) and Protocols (what a part reads
    through)."""
    import importlib
    import inspect
    import pkgutil

    found = []
    for info in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
        module = importlib.import_module(info.name)
        for name, cls in vars(module).items():
            if not inspect.isclass(cls) or cls.__module__ != info.name:
                continue
            if issubclass(cls, BaseException) or getattr(cls, "_is_protocol", False):
                continue
            bases = [
                b.__qualname__ for b in cls.__mro__[1:] if b.__module__.startswith(PACKAGE.name)
            ]
            if bases:
                found.append(f"{info.name}.{name} on {', '.join(bases)}")
    return found


def test_the_trade_loop_and_its_executor_have_their_parts_rather_than_inherit_them() -> None:
    """STYLE.md: an object has its parts. A class split over modules by inheritance shares its
    state through `self`, so no part can be read, tested or changed on its own."""
    assert _classes_built_on_ours("kalshi_cli.runner") == []


# STYLE.md "Name by role, once": two classes with one name make every reader stop (which
# `Connection` is this?).


def _class_definitions(modules: dict[str, Path]) -> dict[str, list[str]]:
    """class name -> the modules defining a class of that name (nested classes too)."""
    found: dict[str, list[str]] = defaultdict(list)
    for name, path in modules.items():
        for node in _statements(path):
            if isinstance(node, ast.ClassDef):
                found[node.name].append(name)
    return found


def test_no_class_name_is_defined_twice_in_the_package() -> None:
    twice = {
        name: where for name, where in _class_definitions(_modules()).items() if len(where) > 1
    }
    wrong = [f"{name}: {', '.join(where)}" for name, where in sorted(twice.items())]
    assert not wrong, "one name, one class; name each for its role:\n" + "\n".join(wrong)


def test_the_class_name_check_sees_a_name_defined_twice(tmp_path: Path) -> None:
    modules = {
        "kalshi_cli.client.connection": tmp_path / "c.py",
        "kalshi_cli.feed.ws": tmp_path / "f.py",
    }
    modules["kalshi_cli.client.connection"].write_text("class Connection:\n    pass\n")
    modules["kalshi_cli.feed.ws"].write_text(
        "def make():\n    class Connection:\n        pass\n    return Connection\n"
    )
    assert _class_definitions(modules)["Connection"] == [
        "kalshi_cli.client.connection",
        "kalshi_cli.feed.ws",
    ]


# The loop's rooms stay readable: no module of runner/loop/ over this many lines (split it by
# responsibility, never by count).
LOOP_MODULE_MAX_LINES = 450


def test_no_module_of_the_loop_is_over_its_size() -> None:
    over = [
        f"{path.relative_to(PACKAGE)}: {n} lines"
        for path in sorted((PACKAGE / "runner" / "loop").glob("*.py"))
        if (n := len(path.read_text().splitlines())) > LOOP_MODULE_MAX_LINES
    ]
    assert not over, f"over {LOOP_MODULE_MAX_LINES} lines:\n" + "\n".join(over)


# A function a reader can hold in their head: no function of the package over this cyclomatic
# complexity, as radon counts it (ruff's mccabe leaves out `and`/`or`). Lower it by drawing out a
# step that is a responsibility of its own, never by tricks.
MAX_COMPLEXITY = 20
# The functions allowed over it, each with its reason; none is added to make a change land.
OVER_COMPLEXITY: dict[str, str] = {}


def _functions(blocks: list[Any]) -> Iterator[Any]:
    """Every function radon found, methods and nested functions each on its own."""
    from radon.visitors import Class

    for block in blocks:
        if isinstance(block, Class):
            yield from _functions([*block.methods, *block.inner_classes])
        else:
            yield block
            yield from _functions(block.closures)


def _complexities() -> dict[str, int]:
    from radon.complexity import cc_visit_ast

    return {
        f"{path.relative_to(PACKAGE.parent)} {block.fullname}": block.complexity
        for path in sorted(PACKAGE.rglob("*.py"))
        for block in _functions(cc_visit_ast(_tree(path)))
    }


def test_no_function_is_over_its_complexity() -> None:
    complexities = _complexities()
    over = {name for name, n in complexities.items() if n > MAX_COMPLEXITY}
    assert sorted(over - OVER_COMPLEXITY.keys()) == [], f"over complexity {MAX_COMPLEXITY}"
    # an exception that is no longer over (or no longer there) leaves the list
    assert sorted(OVER_COMPLEXITY.keys() - over) == []


# A run's start reads as its steps: `trade` (runner/lifecycle/session.py) is preflight, assemble,
# run and summary, each a function; what the run says first, its order group and the loop's run
# under the signals are modules of their own.
SESSION_MAX_LINES, TRADE_MAX_LINES = 500, 60


def test_the_session_and_its_trade_stay_within_their_size() -> None:
    source = (PACKAGE / "runner" / "lifecycle" / "session.py").read_text()
    trade = next(
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and node.name == "trade"
    )
    assert len(source.splitlines()) <= SESSION_MAX_LINES
    assert (trade.end_lineno or 0) - trade.lineno + 1 <= TRADE_MAX_LINES


# A part is given what it uses through its constructor (runner/assembly.py builds each once): no
# code of runner/ assigns a part or a callback onto another object's attribute after it was built.
# The attributes that hold one are those the package declares with a callable's or a part's
# annotation (`self.wake: Callable[...]`, `self.budgets: Budgets | None`); plain values a part is
# told as it runs (a flag, a count, an id) are not wiring.
_PLAIN = re.compile(r"^(None|bool|int|float|str|Decimal|Path|dict|list|set|tuple|frozenset)\b")


def _wires(modules: dict[str, Path]) -> set[str]:
    """The attribute names the package's classes annotate as a callable or another object (and
    none annotates as a plain value)."""
    found, plain = set(), set()
    for path in modules.values():
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Attribute):
                continue
            annotation = ast.unparse(node.annotation)
            settings = annotation.endswith(("Settings", "Settings | None"))
            if ("Callable" in annotation or not _PLAIN.match(annotation)) and not settings:
                found.add(node.target.attr)
            else:
                plain.add(node.target.attr)
    return found - plain


def _late_wirings(modules: dict[str, Path], wires: set[str]) -> list[str]:
    wrong = []
    for name, path in modules.items():
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                if not isinstance(target, ast.Attribute) or target.attr not in wires:
                    continue
                if isinstance(target.value, ast.Name) and target.value.id == "self":
                    continue  # its own
                wrong.append(f"{name}:{node.lineno}: {ast.unparse(target)}")
    return wrong


def test_no_part_of_the_runner_is_wired_after_it_was_built() -> None:
    modules = _modules()
    runner = {n: p for n, p in modules.items() if n.startswith("kalshi_cli.runner")}
    wires = _wires(modules)
    # the callbacks of the executor's chain, once wired late, are given through constructors:
    # the check watches them
    assert {"on_change", "_on_change", "_told_filled", "awaiting_answer"} <= wires
    wrong = _late_wirings(runner, wires)
    assert not wrong, "give these through the constructor:\n" + "\n".join(wrong)


def test_the_wiring_check_sees_a_late_wiring(tmp_path: Path) -> None:
    part = tmp_path / "part.py"
    part.write_text(
        "class Part:\n    def __init__(self) -> None:\n"
        "        self.on_news: Callable[[], None] | None = None\n        self.count: int = 0\n"
    )
    wiring = tmp_path / "wiring.py"
    wiring.write_text("def build(part, loop):\n    part.on_news = loop.tick\n    part.count = 1\n")
    modules = {"kalshi_cli.runner.part": part, "kalshi_cli.runner.wiring": wiring}
    assert _wires(modules) == {"on_news"}
    assert [w.split(": ")[1] for w in _late_wirings(modules, _wires(modules))] == ["part.on_news"]


# A class holds at most MAX_METHODS methods: past that it does several things, and is split into
# parts it has (as `OrderService`, `KillSwitch` and `AgentTools` are). The classes not split yet
# are held to what they have, each with its reason.
MAX_METHODS = 25
NOT_SPLIT_YET = {
    "Connection": (30, "signing, retries, pacing and the deadline of one HTTP connection"),
    "Portfolio": (26, "the loop's books: positions, orders and their owners"),
    "Communications": (26, "the simulator's RFQ and quote endpoints, one per operation"),
    "Store": (27, "the state file's one door: a method per question the commands ask of it"),
    "OrderRepository": (26, "the state file's order rows: one query per question"),
}
# At most this many modules of the package are over MODULE_MAX_LINES lines.
MODULE_MAX_LINES = 800
MODULES_OVER_MAX = 3


def _methods_per_class() -> dict[str, int]:
    """`module.Class` -> the methods defined in its body (nested classes counted on their own)."""
    counts: dict[str, int] = {}
    for name, path in _modules().items():
        for node in _statements(path):
            if isinstance(node, ast.ClassDef):
                kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
                counts[f"{name}.{node.name}"] = sum(isinstance(b, kinds) for b in node.body)
    return counts


def test_no_class_has_more_than_its_share_of_methods() -> None:
    wrong = []
    for where, count in sorted(_methods_per_class().items()):
        allowed, _why = NOT_SPLIT_YET.get(where.rsplit(".", 1)[1], (MAX_METHODS, ""))
        if count > allowed:
            wrong.append(f"{where}: {count} methods, at most {allowed}")
    assert not wrong, "split it into parts it has (STYLE.md 14):\n" + "\n".join(wrong)
    grown_smaller = [
        name
        for name, (allowed, _why) in NOT_SPLIT_YET.items()
        if max((c for w, c in _methods_per_class().items() if w.endswith(f".{name}")), default=0)
        <= MAX_METHODS
    ]
    assert not grown_smaller, f"no longer over {MAX_METHODS}: take them out of NOT_SPLIT_YET"


def test_at_most_three_modules_are_over_800_lines() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in _modules().items()}
    over = [n for n, lines in sizes.items() if lines > MODULE_MAX_LINES]
    assert len(over) <= MODULES_OVER_MAX, (
        f"{len(over)} modules over {MODULE_MAX_LINES} lines (split by responsibility): "
        + ", ".join(f"{n} ({sizes[n]})" for n in over)
    )


# "Event" in a class's name means Kalshi's Event (a group of markets: `GET /events`,
# `event_ticker`), and nothing else: a feed's is a message (`FeedMessage`), the loop's log
# writes entries (`EntryLog`), the simulator tells notices (`SimNotice`). These are the classes
# named for Kalshi's Event, with the WebSocket messages named after the spec's channels.
KALSHI_EVENT_CLASSES = frozenset(
    {
        "EventAnswer",
        "EventBook",
        "EventBreach",
        "EventCreated",  # asyncapi `event_lifecycle`: an event was created
        "EventFeeUpdated",  # asyncapi `event_fee_update`
        "EventFeeUpdateMessage",  # the spec's `event_fee_update` channel
        "EventGroup",
        "EventGroups",
        "EventLeg",
        "EventLimit",
        "EventLifecycleMessage",  # the spec's `event_lifecycle` channel
        "EventLine",
        "EventLossRule",
        "EventMarket",
        "EventOutcome",
        "EventOutcomes",
        "EventPosition",
        "EventReader",
        "EventReads",
        "EventRow",
        "EventTerms",
        "EventUnreadable",
        "EventView",
        "SimEvent",  # the simulator's record of an event (pickled by name in old snapshots)
        "SimEventFeeChange",  # openapi EventFeeChange
        "_EventCandles",  # GET /series/{series}/events/{event}/candlesticks
    }
)


def _classes_named_event() -> set[str]:
    return {
        node.name
        for path in _modules().values()
        for node in _statements(path)
        if isinstance(node, ast.ClassDef) and "Event" in node.name
    }


def test_a_class_named_event_is_a_kalshi_event() -> None:
    """A new class named `*Event*` is either Kalshi's Event (add it above) or is named for what
    it is; a name above that is gone is taken out, so the list stays the package's."""
    found = _classes_named_event()
    assert found - KALSHI_EVENT_CLASSES == set(), "name it for what it is, or add it if Kalshi's"
    assert KALSHI_EVENT_CLASSES - found == set(), "gone: take it out of KALSHI_EVENT_CLASSES"

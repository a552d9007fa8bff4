"""The trade loop's parts and what each is given (runner/assembly.py, and the parts the loop
still builds itself in runner/loop/trade_loop.py): no part is built with more than six
collaborators, the constructor arguments that are other parts or services. Plain values (numbers,
flags, names, paths), settings and callbacks are not collaborators. What several parts share for one
purpose comes as one small record (runner/loop/shared.py, runner/execution/shared.py), which
counts as one."""

from __future__ import annotations

import ast
import inspect
import re
from types import ModuleType

import pytest

from kalshi_cli.runner import assembly
from kalshi_cli.runner.loop import trade_loop as loop

MAX_COLLABORATORS = 6

PLAIN = {
    "None",
    "bool",
    "int",
    "float",
    "str",
    "bytes",
    "Decimal",
    "Path",
    "Mapping",
    "Sequence",
    "Iterable",
    "dict",
    "list",
    "set",
    "frozenset",
    "tuple",
    "MarketTerms",  # what a market's rules say: data, not a part
}
NAME = re.compile(r"[A-Za-z_][\w.]*")


def _is_collaborator(annotation: str) -> bool:
    if annotation.startswith("Callable"):
        return False  # a callback: the part calls back, it does not hold another part
    names = {n.rsplit(".", 1)[-1] for n in NAME.findall(annotation)}
    return not all(n in PLAIN or n.endswith("Settings") for n in names)


def collaborators(cls: type) -> list[str]:
    """The constructor's arguments that are other parts or services (a dataclass's fields)."""
    found = []
    for name, parameter in inspect.signature(cls).parameters.items():
        annotation = parameter.annotation
        if annotation is inspect.Parameter.empty:
            found.append(name)  # unannotated: counted, to be safe
            continue
        if _is_collaborator(annotation if isinstance(annotation, str) else str(annotation)):
            found.append(name)
    return found


def _built_in(module: ModuleType) -> set[type]:
    """The classes of runner/ that `module` builds: every call of a name it imports."""
    tree = ast.parse(inspect.getsource(module))
    built = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            found = getattr(module, node.func.id, None)
            if inspect.isclass(found) and found.__module__.startswith("kalshi_cli.runner"):
                built.add(found)
    return built


PARTS = sorted(_built_in(assembly) | _built_in(loop) | {loop.TradeLoop}, key=lambda c: c.__name__)


def test_the_assembly_builds_the_executors_chain_and_the_loop() -> None:
    names = {c.__name__ for c in PARTS}
    chain = {"TradeLoop", "LoopExecutor", "CallGuard", "BalanceHold", "UnknownOrders"}
    loop_parts = {"OwnOrders", "MarketPass", "LoopWatch", "Heartbeat", "MarketSchedule"}
    assert chain | {"FillSync", "Cancels", "Sender", "Outbox"} | loop_parts <= names


@pytest.mark.parametrize("part", PARTS, ids=lambda c: c.__name__)
def test_no_part_is_built_with_more_than_six_collaborators(part: type) -> None:
    given = collaborators(part)
    assert len(given) <= MAX_COLLABORATORS, (
        f"{part.__name__} is given {len(given)}: {', '.join(given)}"
    )


@pytest.mark.parametrize(
    ("annotation", "counted"),
    [
        ("CallGuard", True),
        ("threading.Event", True),
        ("TradeAlerts | None", True),
        ("LoopSettings", False),
        ("bool", False),
        ("Mapping[str, str] | None", False),
        ("Callable[[], None] | None", False),
        ("set[str]", False),
    ],
)
def test_what_counts_as_a_collaborator(annotation: str, counted: bool) -> None:
    assert _is_collaborator(annotation) is counted

"""The trade loop's components and what each is given (runner/assembly.py builds every one; the loop
builds none): no component is built with more than six collaborators, the constructor arguments that
are other components or services, unless its module's docstring says why it is given more than six
collaborators. Plain values (numbers, flags, names, paths), settings and callbacks are not
collaborators. A record of the loop's components (runner/loop/shared.py,
runner/loop/loop_components.py) counts opened: each of its members that is a collaborator counts,
and a frozen one is read whole by the component given it (a component is given what it reads). The
executor's records (runner/execution/shared.py) still count as one each."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import re
import sys
from types import ModuleType

import pytest

import kalshi_cli.runner
from kalshi_cli.runner import assembly
from kalshi_cli.runner.loop import loop_components, shared
from kalshi_cli.runner.loop import trade_loop as loop
from kalshi_cli.runner.loop.settings import LoopSettings

MAX_COLLABORATORS = 6
# the trade loop meets its components in the tick, each step one's (runner/loop/trade_loop.py):
# past this it does the steps' work itself, and a step of its own is the way out
LOOP_MAX_COLLABORATORS = 14

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
    "MarketTerms",  # what a market's rules say: data, not a component
    "Alert",  # a callback (runner/loop/shared.py)
}
NAME = re.compile(r"[A-Za-z_][\w.]*")


def _is_collaborator(annotation: str) -> bool:
    if annotation.startswith("Callable"):
        return False  # a callback: the component calls back, it does not hold another component
    names = {n.rsplit(".", 1)[-1] for n in NAME.findall(annotation)}
    return not all(n in PLAIN or n.endswith("Settings") for n in names)


def _records(module: ModuleType) -> dict[str, type]:
    """The dataclasses of `module`, by name."""
    return {
        name: cls
        for name, cls in vars(module).items()
        if inspect.isclass(cls)
        and cls.__module__ == module.__name__
        and dataclasses.is_dataclass(cls)
    }


RECORDS = _records(shared) | _records(loop_components)
ALL_RECORDS = {
    cls
    for info in pkgutil.walk_packages(kalshi_cli.runner.__path__, "kalshi_cli.runner.")
    for cls in _records(importlib.import_module(info.name)).values()
}


def _record_in(annotation: str) -> type | None:
    names = [n.rsplit(".", 1)[-1] for n in NAME.findall(annotation)]
    return next((RECORDS[n] for n in names if n in RECORDS), None)


def collaborators(cls: type) -> list[str]:
    """The constructor's arguments that are other components or services (a dataclass's fields), a
    record's opened (`record.member`)."""
    found = []
    for name, parameter in inspect.signature(cls).parameters.items():
        annotation = parameter.annotation
        if annotation is inspect.Parameter.empty:
            found.append(name)  # unannotated: counted, to be safe
            continue
        text = annotation if isinstance(annotation, str) else str(annotation)
        record = _record_in(text)
        if record is not None and not text.startswith("Callable"):
            found.extend(f"{name}.{member}" for member in collaborators(record))
        elif _is_collaborator(text):
            found.append(name)
    return found


def _says_why(cls: type) -> bool:
    """Its module's docstring says why it is given more than six collaborators."""
    doc = " ".join((sys.modules[cls.__module__].__doc__ or "").split())
    return "more than six collaborators because" in doc


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


COMPONENTS = sorted(
    (_built_in(assembly) | {loop.TradeLoop}) - ALL_RECORDS, key=lambda c: c.__name__
)


def test_the_loop_builds_none_of_its_components() -> None:
    """runner/loop/trade_loop.py stores what it is given: it calls no class of runner/."""
    assert _built_in(loop) == set()


def test_the_assembly_builds_the_executors_chain_and_the_loop() -> None:
    names = {c.__name__ for c in COMPONENTS}
    chain = {"TradeLoop", "LoopExecutor", "CallGuard", "BalanceHold", "UnknownOrders"}
    loop_components = {"OwnOrders", "MarketPass", "LoopWatch", "Heartbeat", "MarketSchedule"}
    assert chain | {"FillSync", "Cancels", "Sender", "Outbox"} | loop_components <= names


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.__name__)
def test_no_part_is_built_with_more_than_six_collaborators(component: type) -> None:
    given = collaborators(component)
    assert len(given) <= MAX_COLLABORATORS or _says_why(component), (
        f"{component.__name__} is given {len(given)}: {', '.join(given)}"
    )


def test_the_loop_is_given_at_most_fourteen_collaborators() -> None:
    """The loop sequences its components' steps: a phase of collaborators used together (the tick's
    questions, the markets' turns, the stop) is a component of its own, not more of the loop."""
    given = collaborators(loop.TradeLoop)
    assert len(given) <= LOOP_MAX_COLLABORATORS, f"TradeLoop is given {len(given)}: {given}"


def _unopened_records(component: type) -> list[str]:
    """The records of runner/ given to `component` that the count does not open (those outside
    runner/loop/loop_components.py and runner/loop/shared.py): each would count as one."""
    by_name = {cls.__name__: cls for cls in ALL_RECORDS}
    unopened = by_name.keys() - RECORDS.keys()
    return [
        f"{name}: {found}"
        for name, parameter in inspect.signature(component).parameters.items()
        for found in NAME.findall(str(parameter.annotation))
        if found.rsplit(".", 1)[-1] in unopened and _is_collaborator(found)
    ]


def test_the_loop_is_given_no_record_the_count_does_not_open() -> None:
    """A bundle the count does not open would pass the loop's limit above as one."""
    assert _unopened_records(loop.TradeLoop) == []


def test_the_record_check_sees_a_bundle_the_count_does_not_open() -> None:
    from kalshi_cli.runner.assembly import ExecutorChain

    class _Bundled:
        def __init__(self, *, chain: ExecutorChain, settings: LoopSettings) -> None:
            self.outbox, self.tick_s = chain.outbox, settings.tick_interval_s

    assert _unopened_records(_Bundled) == ["chain: ExecutorChain"]


def _bundles_passed_whole(component: type) -> list[str]:
    """The members of frozen records given to `component` that its class never reads."""
    source = inspect.getsource(component)
    unread = []
    for name, parameter in inspect.signature(component).parameters.items():
        record = _record_in(str(parameter.annotation))
        if record is None or not record.__dataclass_params__.frozen:  # type: ignore[attr-defined]
            continue  # a record that changes while the loop runs is read where it is
        unread += [
            f"{name}.{f.name}" for f in dataclasses.fields(record) if f".{f.name}" not in source
        ]
    return unread


LOOP_COMPONENTS = [p for p in COMPONENTS if p.__module__.startswith("kalshi_cli.runner.loop")]


@pytest.mark.parametrize("component", LOOP_COMPONENTS, ids=lambda c: c.__name__)
def test_no_part_of_the_loop_is_given_a_record_it_does_not_read_whole(component: type) -> None:
    assert _bundles_passed_whole(component) == []


def test_the_counts_open_a_record_and_see_one_passed_whole() -> None:
    from kalshi_cli.runner.loop.loop_components import Books

    class _Reads:
        def __init__(self, *, books: Books) -> None:
            self.clock = books.clock

    assert collaborators(_Reads) == [f"books.{f}" for f in ("portfolio", "feed", "clock", "log")]
    assert "books.feed" in _bundles_passed_whole(_Reads)


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

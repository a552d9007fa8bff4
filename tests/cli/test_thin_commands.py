"""Every command is parse -> one library call -> render (STYLE.md habit 1): a command body longer
than `MAX_BODY_LINES` is a sign that logic has crept into `cli/`, where nothing else can reuse
it and only the command line can test it.

The commands are found the way `kalshi` finds them, through `COMMANDS` and each module's
`register`, so one registered by a decorator, a call or a loop is measured alike; each body is
measured with `ast`: the lines from its first statement after the docstring to its last that
hold code, less blank lines, comments (a comment says why; it should not cost room) and imports
(deferred into the command so that `kalshi --help` and cron checks start fast, STYLE.md habit 2:
they are not logic).
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from kalshi_cli.cli.app import COMMANDS, load_command

MAX_BODY_LINES = 25

# command path -> why it may be longer. Empty: no command needs to be.
EXCEPTIONS: dict[str, str] = {}


def _commands(command: click.Command, path: str) -> Iterator[tuple[str, Any]]:
    if hasattr(command, "commands"):  # a group (Typer may bring its own Click)
        for name, sub in command.commands.items():
            yield from _commands(sub, f"{path} {name}")
    elif command.callback is not None:
        yield path, inspect.unwrap(command.callback)


def body_lines(function: Any) -> int:
    source = Path(inspect.getsourcefile(function) or "")
    text = source.read_text()
    tree = ast.parse(text, filename=str(source))
    (node,) = (
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef)
        and n.name == function.__name__
        and min([n.lineno, *(d.lineno for d in n.decorator_list)])
        == function.__code__.co_firstlineno
    )
    body = node.body
    if ast.get_docstring(node) is not None:
        body = body[1:]
    if not body:
        return 0
    assert node.end_lineno is not None
    imports = {
        line
        for statement in body
        for n in ast.walk(statement)
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for line in range(n.lineno, (n.end_lineno or n.lineno) + 1)
    }
    lines = text.splitlines()
    return sum(
        1
        for number in range(body[0].lineno, node.end_lineno + 1)
        if number not in imports and lines[number - 1].strip()[:1] not in ("", "#")
    )


def every_command() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for entry in COMMANDS:
        for path, function in _commands(load_command(entry), f"kalshi {entry.name}"):
            found[path] = function
    return found


def test_every_command_body_stays_short() -> None:
    long = {
        path: body_lines(function)
        for path, function in every_command().items()
        if body_lines(function) > MAX_BODY_LINES and path not in EXCEPTIONS
    }
    assert not long, (
        f"command bodies over {MAX_BODY_LINES} lines (move the logic below cli/): {long}"
    )


def test_the_measure_sees_every_command_and_counts_body_lines() -> None:
    commands = every_command()
    # registered by a decorator, by a call, by a loop, and inside a group
    for path in ("kalshi order place", "kalshi check", "kalshi status", "kalshi sim serve"):
        assert path in commands
    assert len(commands) > len(COMMANDS)
    assert not set(EXCEPTIONS) - set(commands), "an exception names no command"

    def sample() -> None:
        """A docstring is not counted, nor an import."""
        import json

        # a comment is not counted either
        a = len(json.dumps(1))
        b = a + 1
        del b

    assert body_lines(sample) == 3

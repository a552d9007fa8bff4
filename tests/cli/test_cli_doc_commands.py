"""Every `kalshi ...` command line the runbooks, the README and docs/ tell a person to type exists.

A runbook is read at 3 a.m. during an incident: a command it names that was renamed, or a flag
that was dropped, costs minutes nobody has. So each inline `kalshi ...` span and each `kalshi`
line of a shell block is parsed here: the command path must exist (`kalshi PATH --help` exits 0)
and every flag it uses must appear in that help (or in the root's, for the global options).
Placeholders (`TICKER`, `[--limit N]`, `a|b` alternatives, `...`) are allowed.
"""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kalshi_cli.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    [ROOT / "README.md", *(ROOT / "runbooks").glob("*.md"), *(ROOT / "docs").glob("*.md")]
)
GENERATED = {ROOT / "docs" / "cli.md"}  # rendered from --help itself
GLOBAL_WITH_VALUE = {"--env", "--config", "--state"}
INLINE = re.compile(r"`((?:\.venv/bin/)?kalshi [^`]+)`")
BLOCK = re.compile(r"```(?:bash|sh|console|shell)?\n(.*?)```", re.S)


def command_lines(text: str) -> list[str]:
    found = [m.group(1) for m in INLINE.finditer(text)]
    for block in BLOCK.findall(text):
        for raw in block.splitlines():
            for part in re.split(r"&&|;", raw):
                # `kalshi` at the start, after a crontab schedule, `sudo -u kalshi` or a venv's
                # bin/; only when a command or a global option follows (not `useradd ... kalshi`).
                match = re.search(r"(?:^|\s|/bin/)(kalshi (\S+).*)", part)
                if match and "(cold process)" not in part and is_command_word(match.group(2)):
                    found.append(match.group(1).strip())
    return found


def is_command_word(word: str) -> bool:
    from kalshi_cli.cli.app import COMMANDS

    return word in GLOBAL_WITH_VALUE or word in {c.name for c in COMMANDS}


def invocations() -> list[tuple[str, str]]:
    result = []
    for path in SOURCES:
        if path in GENERATED:
            continue
        for line in command_lines(path.read_text(encoding="utf-8")):
            result.append((path.relative_to(ROOT).as_posix(), line))
    return result


@cache
def help_of(path: tuple[str, ...]) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, [*path, "--help"], prog_name="kalshi", env={"COLUMNS": "200", "NO_COLOR": "1"}
    )
    return result.exit_code, result.stdout


def words(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


def check(line: str) -> None:
    """` | ` is either a pipe into another program (the command ends) or a choice between
    flags (`--by N | --to N`) or between commands (`status | halt [--reason R] | resume`).
    ` && ` chains commands: each is checked."""
    if " && " in line:
        for part in line.split(" && "):
            check(part if part.startswith("kalshi ") else f"kalshi {part}")
        return
    line = line.split(" #", 1)[0].replace("\\|", "|").split(" > ", 1)[0]
    first, *others = line.split(" | ")
    check_one(first)
    for piece in others:
        other = piece.strip()
        head = other.lstrip("[").split(" ", 1)[0]
        if head.startswith("-"):
            check_one(f"{first} {other}")
        elif help_of((head,))[0] == 0:
            check_one(f"kalshi {other}")
        else:
            break


def check_one(line: str) -> None:
    tokens = [t.strip("[]()") for t in words(line)[1:]]
    tokens = [t for t in tokens if t and t != "..."]
    while tokens and tokens[0] in GLOBAL_WITH_VALUE:
        tokens = tokens[2:]
    if not tokens or tokens[0].startswith("-"):
        code, text = help_of(())
        assert code == 0
        for token in tokens:
            if token.startswith("-"):
                assert token.split("=")[0] in text, f"{line!r}: no {token} in `kalshi --help`"
        return
    path: tuple[str, ...] = (tokens[0],)
    code, text = help_of(path)
    assert code == 0, f"{line!r}: `kalshi {tokens[0]}` is not a command"
    rest = tokens[1:]
    # down the groups (`kalshi backtest runs list`) to the command the flags belong to
    while "Commands:" in text and rest and not rest[0].startswith("-"):
        alternatives = rest[0].split("|")
        for sub in alternatives:
            sub_code, _ = help_of((*path, sub))
            assert sub_code == 0, f"{line!r}: `kalshi {' '.join(path)} {sub}` is not a command"
        if len(alternatives) > 1:
            return
        path = (*path, rest[0])
        rest = rest[1:]
        code, text = help_of(path)
    _, root_text = help_of(())
    for token in rest:
        if not token.startswith("-") or token in ("-", "--"):
            continue
        for choice in token.split("|"):
            flag = choice.split("=")[0].strip("[]")
            if flag.startswith("-"):
                assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text + root_text), (
                    f"{line!r}: `kalshi {' '.join(path)}` has no {flag}"
                )


CASES = invocations()


def test_the_sources_name_commands() -> None:
    sources = {source for source, _ in CASES}
    assert "README.md" in sources and "runbooks/01-heartbeat-lost.md" in sources
    assert len(CASES) > 100


@pytest.mark.parametrize(("source", "line"), CASES, ids=[f"{s}:{c}" for s, c in CASES])
def test_documented_command_exists(source: str, line: str) -> None:
    check(line)


def test_the_checker_catches_a_renamed_command_and_a_dropped_flag() -> None:
    with pytest.raises(AssertionError, match="not a command"):
        check("kalshi cancelall --yes")
    with pytest.raises(AssertionError, match="has no --bogus"):
        check("kalshi --env prod order list --bogus 3")
    with pytest.raises(AssertionError, match="not a command"):
        check("kalshi order place|frobnicate ...")
    with pytest.raises(AssertionError, match="has no --resume"):
        check("kalshi status | halt [--reason R] | resume --resume")
    check("kalshi fills --format csv > trades.csv | kalshi-not-a-command --bogus")

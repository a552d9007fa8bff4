"""Every `kalshi ...` command line the runbooks, the README and docs/ tell a person to type exists.

A runbook is read at 3 a.m. during an incident: a command it names that was renamed, or a flag
that was dropped, costs minutes nobody has. So each inline `kalshi ...` span and each `kalshi`
line of a shell block is parsed here: the command path must exist (`kalshi PATH --help` exits 0)
and every flag it uses must appear in that help (or in the root's, for the global options).
Placeholders (`TICKER`, `[--limit N]`, `a|b` alternatives, `...`) are allowed.

A line with no placeholder is one a person pastes as it stands, so it is also parsed as written,
in-process, by the command's own parser: its values converted and checked, its required options
present. Nearly every runbook line names `--env prod` (a key and the network, which no test
has), so parsing is what they get; the lines that need neither run against the simulator
(tests/cli/test_docs_commands_run.py, tests/cli/test_docs_walkthroughs_run.py).
"""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path

import pytest
import typer
from typer._click.exceptions import ClickException
from typer.core import TyperGroup
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
# A placeholder: a word the docs use for "yours here" (`TICKER`, `ID`, `N`, `A,B`; a ticker such
# as `KXBTCD` is not one), an ellipsis, an optional part or a choice between alternatives.
PLACEHOLDER_WORDS = (
    "A|B|E|M|N|P|R|S|T|X|ID|DIR|FILE|KEY_ID|NAME|PATH|PREFIX|RESULT|SECONDS|TICKER|TIME|UUID"
)
PLACEHOLDER = re.compile(
    rf"(?:^|[\s=,])(?:{PLACEHOLDER_WORDS})(?=$|[\s,])|\.\.\.|\[|\|(?!\|)|<[a-z]"
)


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


CAPITALS = re.compile(r"(?:^|\s)[A-Z][A-Z_]*(?=$|\s)")
INLINE_SPANS = {
    path.relative_to(ROOT).as_posix(): {m.group(1) for m in INLINE.finditer(path.read_text())}
    for path in SOURCES
}


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


def parse_as_written(line: str) -> None:
    """Parse a complete command line with the commands' own parsers, down the groups: a bad
    value or a missing required option raises; nothing is run. A bare command path (`kalshi
    record`) is a name in prose, not a line to paste: only its existence is checked."""
    args = words(line.split(" #", 1)[0].split(" > ", 1)[0].split(" | ", 1)[0])[1:]
    command = typer.main.get_command(app)
    ctx = command.make_context("kalshi", args, resilient_parsing=False)
    while isinstance(command, TyperGroup):
        rest = [*ctx._protected_args, *ctx.args]  # click keeps the subcommand's name apart
        if not rest:
            return
        name, found, rest = command.resolve_command(ctx, rest)
        assert found is not None, f"{line!r}: {name} is not a command"
        if not rest:  # a command named in prose (`kalshi watch`), nothing given to it
            return
        command, ctx = found, found.make_context(name or "", rest, parent=ctx)


def parse_failure(line: str) -> str | None:
    try:
        parse_as_written(line)
    except ClickException as exc:
        return exc.format_message()
    except typer.Exit as exc:  # --help, --version: done at parsing, as a person sees
        return None if exc.exit_code == 0 else f"exit {exc.exit_code}"
    return None


def pasted_as_written(line: str, inline: bool) -> bool:
    """A line with no placeholder (nor any word in capitals: `PORT`, `RFQ_ID`), that a person
    pastes: every line of a shell block, and an inline span unless it ends in a flag (`kalshi
    trade --metrics-port`, `kalshi order place --json`: prose naming an option or a shape)."""
    if PLACEHOLDER.search(line) or CAPITALS.search(line) or " && " in line:
        return False
    return not (inline and words(line)[-1].startswith("-"))


CASES = invocations()
COMPLETE = [
    (source, line)
    for source, line in CASES
    if pasted_as_written(line, inline=line in INLINE_SPANS[source])
]


def test_the_sources_name_commands() -> None:
    sources = {source for source, _ in CASES}
    assert "README.md" in sources and "runbooks/01-heartbeat-lost.md" in sources
    assert len(CASES) > 100


@pytest.mark.parametrize(("source", "line"), CASES, ids=[f"{s}:{c}" for s, c in CASES])
def test_documented_command_exists(source: str, line: str) -> None:
    check(line)


@pytest.mark.parametrize(("source", "line"), COMPLETE, ids=[f"{s}:{c}" for s, c in COMPLETE])
def test_a_complete_documented_command_parses_as_written(source: str, line: str) -> None:
    assert parse_failure(line) is None, f"{source}: {line!r}: {parse_failure(line)}"


def test_parsing_as_written_catches_a_refused_value_and_a_missing_option() -> None:
    assert len(COMPLETE) > 100
    assert "--limit" in (parse_failure("kalshi markets --limit many") or "")
    assert "--name" in (parse_failure("kalshi key create --type ed25519") or "")
    assert "--since" in (parse_failure("kalshi --env prod pnl --since yesterdayish") or "")
    assert parse_failure("kalshi --env prod pnl --by strategy --since 2026-01-31") is None


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

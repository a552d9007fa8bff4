"""Every complete command line of the runbooks, the README and docs/ that needs no key and no
network runs as written, against the simulator, to an answer that is not a refusal of its own
words.

tests/cli/test_cli_doc_commands.py parses every line; tests/cli/test_docs_walkthroughs_run.py runs
the walkthroughs in order. This runs each remaining complete line alone, in a fresh home on the
default simulator, as a person trying a runbook step there would: its body runs, so a value the
command refuses in its body (not its parser), or a crash, fails here. Its exit code may be any
documented outcome of the state it meets (a check that finds no loop, `resume` with nothing
halted, a check's CRITICAL), except 1 (a bug) and a usage error (2, naming the command's
--help). Left out: lines for the demo or production exchange or real money (a key and the
network), and commands that run until stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import typer
from typer._click.core import Context
from typer.core import TyperGroup

from kalshi_cli.cli.app import app

from .test_cli_doc_commands import COMPLETE, words
from .test_cli_examples import invoke
from .test_cli_sim import account_env
from .test_docs_walkthroughs_run import WALKTHROUGHS

if TYPE_CHECKING:
    from tests.conftest import SimHarness

NEEDS_THE_NETWORK = ("--env prod", "--env demo", "--live", "tcp://")
# a person's own module, which the docs name as an example of the form
OF_A_PERSON = ("python:mypkg.",)
# commands that run until stopped (a loop, a screen, a server, a stream): the walkthroughs run
# them with a duration where the docs give one
RUN_UNTIL_STOPPED = {
    ("trade",),
    ("dashboard",),
    ("watch",),
    ("mcp",),
    ("sim", "serve"),
    ("record",),
}
WALKED = {step.line for _, steps in WALKTHROUGHS for step in steps}


def named_in_prose(args: list[str]) -> bool:
    """A command path alone (`kalshi order amend`) whose command needs an argument or option: a
    name in a sentence, not a line to run."""
    command = typer.main.get_command(app)
    for at, word in enumerate(args):
        if not isinstance(command, TyperGroup):
            return False
        found = command.get_command(Context(command), word)
        if found is None:
            return False
        command = found
        if at == len(args) - 1:
            return isinstance(command, TyperGroup) or any(p.required for p in command.params)
    return False


def runnable(line: str) -> bool:
    args = words(line)[1:]
    if any(word in line for word in (*NEEDS_THE_NETWORK, *OF_A_PERSON)) or line in WALKED:
        return False
    if any(tuple(args[: len(path)]) == path for path in RUN_UNTIL_STOPPED):
        return False
    if args[:1] == ["metrics"] and "--textfile" not in args:
        return False  # it serves the metrics until stopped
    return bool(args) and "--watch" not in args and not named_in_prose(args)


LINES = sorted(
    {
        " ".join(line.split(" #", 1)[0].split(" | ", 1)[0].split())
        for _, line in COMPLETE
        if runnable(" ".join(line.split()))
    }
)


@pytest.mark.parametrize("line", LINES)
def test_a_documented_command_runs_as_written(
    line: str, sim_default: SimHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    command = line.partition(" > ")[0]  # its output read here, not written to the file
    result = invoke(words(command)[1:], tmp_path, account_env(sim_default.account))
    refused = result.exit_code == 2 and "--help`)" in " ".join(result.output.split())
    assert result.exit_code != 1 and not refused, f"{line}\n{result.output}"


def test_the_runbooks_lines_that_need_no_network_are_run() -> None:
    assert len(LINES) > 20
    assert "kalshi check heartbeat" in LINES and "kalshi reconcile" in LINES

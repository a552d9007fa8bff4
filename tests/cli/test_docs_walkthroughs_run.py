"""Every walkthrough in the docs runs as written against the simulator, line after line.

A walkthrough is a fenced shell block (```bash, or ```text of `$ kalshi ...` lines) of complete
`kalshi` command lines: no placeholder (`TICKER`, `ID`, `N`), no `[optional]` part, no `a|b`
choice, no `...`. A person pastes such a block as it stands, so each one runs here in order, in
one fresh KALSHI_HOME against the default simulator, and every line must exit 0. Blocks with
placeholders are a syntax summary, not something to paste: tests/cli/test_cli_doc_commands.py
checks that their commands and flags exist.

What cannot run here is left out of a walkthrough, each for a stated reason (`SKIPPED_LINES`),
and the few adjustments are the ones a person trying the walkthrough on the simulator makes by
hand (`adjusted`): a recording or a paper session of minutes or an hour runs for a few seconds,
`my_model.py` is the worked example script of docs/models.md, and a data set a walkthrough reads
without recording it is recorded first (200 s of the default scenario, in simulated time).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest

from .test_cli_doc_commands import PLACEHOLDER
from .test_cli_examples import invoke
from .test_cli_sim import account_env

if TYPE_CHECKING:
    from tests.conftest import SimHarness

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
GENERATED = {ROOT / "docs" / "cli.md"}
FENCE = re.compile(r"```(bash|sh|shell|text)\n(.*?)```", re.S)
SKIPPED_LINES = {
    # the demo and production exchanges are on the internet, which no test reaches (`config`
    # only edits the file, so its `--env demo` lines run)
    "--env demo": "needs the demo exchange",
    "--env prod": "needs the production exchange",
    "--live": "real money",
}
SHORTENED_S = "4"
MODEL_SCRIPT = ROOT / "examples" / "models" / "anchor_command.py"


class Step(NamedTuple):
    line: str  # the command line, without its comment
    error: str | None  # a transcript's `Error: ...` answer to it: the step must fail so


def steps_of(block: str) -> list[Step]:
    """The block's steps: its `kalshi` lines and `python -m pytest` lines (a shell block), or its
    `$ ` lines (a transcript, whose other lines are the answers). [] if the block holds another
    kind of command (`sudo`, `chmod`): then it is not a walkthrough this test can run."""
    lines = [raw.strip() for raw in block.splitlines() if raw.strip()]
    transcript = any(line.startswith("$ ") for line in lines)
    steps: list[Step] = []
    for text in lines:
        if transcript and not text.startswith("$ "):
            if text.startswith("Error: ") and steps:
                steps[-1] = steps[-1]._replace(error=text.split(": ")[-1].split(" (")[0])
            continue
        line = text.removeprefix("$ ")
        if line.startswith("#"):
            continue
        if not line.startswith(("kalshi ", "python -m pytest ")):
            return []
        steps.append(Step(re.split(r"\s+#\s", line, maxsplit=1)[0].strip(), None))
    return steps


def walkthroughs() -> list[tuple[str, list[Step]]]:
    found = []
    for path in DOCS:
        if path in GENERATED:
            continue
        for n, (_, block) in enumerate(FENCE.findall(path.read_text(encoding="utf-8"))):
            steps = steps_of(block)
            if any(s.line.startswith("kalshi ") for s in steps) and not any(
                PLACEHOLDER.search(s.line) for s in steps
            ):
                found.append((f"{path.relative_to(ROOT).as_posix()}#{n + 1}", steps))
    return found


WALKTHROUGHS = walkthroughs()


def adjusted(line: str, home: Path) -> tuple[list[str], Path | None]:
    """The command's arguments and the file its stdout is redirected to (` > FILE`)."""
    command, _, target = line.partition(" > ")
    args = shlex.split(command)[1:]
    if args[:1] in (["record"], ["trade"]) and "--duration" in args:
        args[args.index("--duration") + 1] = SHORTENED_S
    for at, arg in enumerate(args):
        if arg == "command:python3 my_model.py":
            shutil.copy(MODEL_SCRIPT, home / "my_model.py")
            args[at] = f"command:python3 {home / 'my_model.py'}"
    return args, (home / target.strip() if target else None)


def record(data: Path) -> None:
    """The recording a walkthrough reads when no line of it makes one (a person records first):
    200 s of the simulator's default scenario, recorded in simulated time."""
    from kalshi_cli.data.scenario_recording import record_scenario

    record_scenario("default", data, seconds=200, tickers=["KXNBAGAME-SIM-LALGSW-LAL"])


def test_the_docs_hold_the_walkthroughs_a_person_pastes() -> None:
    """The collector finds the walkthroughs of the backtest, strategy and config pages (a change
    to the fences or the placeholder rule that lost them would make the test below vacuous)."""
    names = {name.split("#")[0] for name, _ in WALKTHROUGHS}
    assert {"docs/backtesting.md", "docs/strategies.md", "docs/configuration.md"} <= names
    assert sum(len(steps) for _, steps in WALKTHROUGHS) >= 15
    assert any(step.error for _, steps in WALKTHROUGHS for step in steps)


@pytest.mark.parametrize(
    "steps", [steps for _, steps in WALKTHROUGHS], ids=[name for name, _ in WALKTHROUGHS]
)
def test_walkthrough_runs_as_written(
    steps: list[Step], sim_default: SimHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths (`recordings/kx`) land in the test's directory
    environ = account_env(sim_default.account)
    ran = 0
    for line, error in steps:
        if not line.startswith("kalshi config ") and any(flag in line for flag in SKIPPED_LINES):
            continue
        ran += 1
        if line.startswith("python -m pytest "):
            tests = subprocess.run(
                [sys.executable, *shlex.split(line)[1:], "-q", "-p", "no:cacheprovider"],
                capture_output=True,
                text=True,
                check=False,
            )
            assert tests.returncode == 0, f"{line}\n{tests.stdout}{tests.stderr}"
            continue
        args, redirect = adjusted(line, tmp_path)
        if "--data" in args and not Path(args[args.index("--data") + 1]).exists():
            record(Path(args[args.index("--data") + 1]))
        result = invoke(args, tmp_path, environ)
        if error is not None:
            assert result.exit_code not in (0, 1), f"{line}\n{result.output}"
            assert error in " ".join(result.output.split()), f"{line}\n{result.output}"
            continue
        assert result.exit_code == 0, f"{line}\n{result.output}"
        if redirect is not None:
            redirect.write_text(result.stdout, encoding="utf-8")
    assert ran > 0

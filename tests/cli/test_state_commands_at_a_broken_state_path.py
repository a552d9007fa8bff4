"""`kalshi state ...` where the state path holds something that cannot be a state file.

A symbolic link whose target is gone (the volume it points into is not mounted, the file was
moved) or a directory at the state path is a broken state file, never "no state file yet": read
as none, `state path --json` said `"exists": false` and `state migrate --list` listed every
migration pending, an account without history. Each subcommand refuses it in one line naming
the path and what is there (exit 17), and nothing is created, through the link or beside it.
Nothing at all at the path keeps its meaning: no state file yet. A state path named in a
directory that does not exist (a typo) is refused as every other command refuses it, except by
`state path`, which is where such a typo is found.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import Result

from kalshi_cli.store import Store
from kalshi_cli.vocabulary.exit_codes import ExitCode

from .fakes import FakeClient, run

# An explicit API base: the fake client stands in for the exchange, no simulator is started.
API_BASE = {"KALSHI_API_BASE": "http://127.0.0.1:1/trade-api/v2"}

SUBCOMMANDS = [
    ["state", "path"],
    ["state", "path", "--json"],
    ["state", "migrate", "--list"],
    ["state", "migrate", "--list", "--json"],
    ["state", "migrate"],
    ["state", "prune"],
    ["state", "prune", "--dry-run"],
    ["state", "bind", "--yes"],
]


def key_file(tmp_path: Path) -> Path:
    from kalshi_cli.vocabulary.keys import generate_private_key, private_key_pem

    path = tmp_path / "key.pem"
    path.write_bytes(private_key_pem(generate_private_key()))
    path.chmod(0o600)
    return path


def kalshi(home: Path, args: list[str], state: Path) -> Result:
    environ = {
        **API_BASE,
        "KALSHI_STATE": str(state),
        "KALSHI_API_KEY_ID": "key-id-123456",
        "KALSHI_PRIVATE_KEY_PATH": str(home / "key.pem"),
    }
    return run(args, client=FakeClient(), home=home, environ=environ)


def broken(tmp_path: Path, what: str) -> tuple[Path, str]:
    """The state path with `what` at it, and how the refusal names it."""
    state = tmp_path / "state.db"
    if what == "a symbolic link to nothing":
        state.symlink_to(tmp_path / "volume" / "state.db")
        return state, f"is a symbolic link to {tmp_path / 'volume' / 'state.db'}, which does not"
    state.mkdir()
    return state, "is a directory"


def everything_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("what", ["a symbolic link to nothing", "a directory"])
@pytest.mark.parametrize("args", SUBCOMMANDS, ids=" ".join)
def test_a_state_command_refuses_what_cannot_be_a_state_file_and_makes_nothing(
    tmp_path: Path, args: list[str], what: str
) -> None:
    key_file(tmp_path)
    state, named = broken(tmp_path, what)
    before = everything_under(tmp_path)

    result = kalshi(tmp_path, args, state)

    assert result.exit_code == ExitCode.BAD_STATE_FILE, result.output
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {state} {named}"), line
    assert everything_under(tmp_path) == before
    assert state.is_symlink() == (what == "a symbolic link to nothing")
    assert not (tmp_path / "volume").exists()


def test_nothing_at_the_state_path_is_still_no_state_file_yet(tmp_path: Path) -> None:
    """The refusal is for something there: a path with nothing at it is shown, listed and
    pruned as no state file yet, exit 0, and none of these creates it."""
    state = tmp_path / "state.db"

    shown = kalshi(tmp_path, ["state", "path"], state)
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == f"{state}\n"

    document = kalshi(tmp_path, ["state", "path", "--json"], state)
    assert document.exit_code == 0, document.output
    assert json.loads(document.stdout)["exists"] is False
    assert json.loads(document.stdout)["bound_to"] is None

    listed = kalshi(tmp_path, ["state", "migrate", "--list", "--json"], state)
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["exists"] is False
    assert json.loads(listed.stdout)["pending"] == Store.known_migrations()

    pruned = kalshi(tmp_path, ["state", "prune", "--json"], state)
    assert pruned.exit_code == 0, pruned.output
    assert json.loads(pruned.stdout)["total"] == 0

    assert everything_under(tmp_path) == []


@pytest.mark.parametrize("args", SUBCOMMANDS[2:], ids=" ".join)
def test_a_state_command_refuses_a_state_file_in_a_missing_directory_and_makes_nothing(
    tmp_path: Path, args: list[str]
) -> None:
    """A typo in KALSHI_STATE is refused as by every other command (exit 3, naming the missing
    directory): `state migrate` made the typo's directory and a new state file there and said
    every migration was applied, `--list` and `prune` read it as no state file yet."""
    key_file(tmp_path)
    state = tmp_path / "typo" / "state.db"

    result = kalshi(tmp_path, args, state)

    assert result.exit_code == ExitCode.CONFIG, result.output
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert f"the directory {state.parent} does not exist" in line
    assert not state.parent.exists()


@pytest.mark.parametrize("args", SUBCOMMANDS[:2], ids=" ".join)
def test_state_path_still_shows_a_state_file_in_a_missing_directory(
    tmp_path: Path, args: list[str]
) -> None:
    """`state path` is where a wrong KALSHI_STATE is found: it shows it, exit 0, making nothing."""
    state = tmp_path / "typo" / "state.db"
    result = kalshi(tmp_path, args, state)
    assert result.exit_code == 0, result.output
    assert str(state) in result.stdout
    assert not state.parent.exists()

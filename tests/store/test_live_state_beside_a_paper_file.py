"""The live state file a paper session's file was named beside (`paper_state_path` undone): the
kill switch given a paper file halts that one, so it must be the file a live `kalshi trade`
beside it uses, and nothing when that cannot be told for certain."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_cli.store.paper import live_state_path, paper_state_path


@pytest.mark.parametrize("name", ["state.db", "a.b.db", "state.sqlite", "state"])
def test_the_live_file_a_paper_file_was_named_beside_is_found(tmp_path: Path, name: str) -> None:
    live = tmp_path / name
    live.touch()
    assert live_state_path(paper_state_path(live, "demo"), "demo") == live


def test_no_live_file_beside_it_tells_nothing(tmp_path: Path) -> None:
    assert live_state_path(paper_state_path(tmp_path / "state.db", "demo"), "demo") is None


def test_two_files_that_both_pair_with_it_tell_nothing(tmp_path: Path) -> None:
    (tmp_path / "state").touch()
    (tmp_path / "state.db").touch()
    paper = paper_state_path(tmp_path / "state.db", "demo")
    assert paper == paper_state_path(tmp_path / "state", "demo")
    assert live_state_path(paper, "demo") is None


def test_a_paper_file_of_another_environment_or_no_paper_file_tells_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "state.db").touch()
    assert live_state_path(paper_state_path(tmp_path / "state.db", "demo"), "prod") is None
    assert live_state_path(tmp_path / "state.db", "demo") is None
    assert live_state_path(tmp_path / ".paper-demo.db", "demo") is None

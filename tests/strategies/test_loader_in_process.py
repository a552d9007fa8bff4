"""The strategy loader in this process (the CLI tests load through `kalshi` processes): a file,
an import path, and each way a file can be wrong, refused with its file and line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kalshi_cli.strategies import get_strategy
from kalshi_cli.vocabulary.errors import UsageError

EXAMPLE = Path(__file__).parents[2] / "examples" / "strategies" / "fair_value.py"


def test_a_file_loads_with_its_name_spec_and_source_fingerprint() -> None:
    loaded = get_strategy(str(EXAMPLE))
    assert loaded.name == "fair-value"
    assert loaded.spec == str(EXAMPLE)
    assert loaded.source and loaded.source != get_strategy("spike").source
    # the same file twice is the same strategy (not loaded again)
    assert get_strategy(str(EXAMPLE)).name == loaded.name


def test_an_import_path_loads_the_attribute_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_strats.py").write_text(EXAMPLE.read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        loaded = get_strategy("my_strats:STRATEGY")
        assert loaded.name == "fair-value"
    finally:
        sys.modules.pop("my_strats", None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("def broken(:\n", "cannot load the strategy"),
        ("x = 1\n", "no strategy"),
        ("raise RuntimeError('boom')\n", "boom"),
    ],
)
def test_a_bad_file_is_refused_with_its_file(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.py"
    path.write_text(text)
    with pytest.raises(UsageError) as refused:
        get_strategy(str(path))
    assert str(path) in refused.value.one_line()
    assert expected in refused.value.one_line().lower() or expected in refused.value.one_line()


def test_an_unknown_name_is_refused_with_a_suggestion() -> None:
    with pytest.raises(UsageError) as refused:
        get_strategy("mean_reversion")
    assert "mean-reversion" in refused.value.one_line()
    with pytest.raises(UsageError):
        get_strategy("no_such_module_here:STRATEGY")


def test_a_models_fingerprint_follows_the_files_its_source_names(tmp_path: Path) -> None:
    from kalshi_cli.strategies.model.sources import fingerprint

    data = tmp_path / "fair.csv"
    data.write_text("ticker,fair\nKX-1,0.5\n")
    script = tmp_path / "model.py"
    script.write_text("def fair(snapshot):\n    return 0.5\n")
    sources = [f"file:{data}", f"python:{script}:fair", f"command:python3 {script}"]
    before = [fingerprint(s) for s in sources]
    assert len(set(before)) == 3
    data.write_text("ticker,fair\nKX-1,0.6\n")
    script.write_text("def fair(snapshot):\n    return 0.6\n")
    after = [fingerprint(s) for s in sources]
    assert all(a != b for a, b in zip(after, before, strict=True))
    # an installed module counts by its file; a name that is no file here, by its text alone
    assert fingerprint("python:json:loads") == fingerprint("python:json:loads")
    assert fingerprint("command:no-such-program --x") != fingerprint("command:no-such-program")
    assert fingerprint(f"file:{tmp_path / 'gone.csv'}")  # an unreadable file still keys

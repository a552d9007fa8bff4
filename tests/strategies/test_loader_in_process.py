"""The strategy loader in this process (the CLI tests load through `kalshi` processes): a file,
an import path, and each way a file can be wrong, refused with its file and line."""

from __future__ import annotations

import os
import py_compile
import sys
from pathlib import Path

import pytest

from kalshi_cli.strategies import get_strategy
from kalshi_cli.strategy_api import params_dict
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


STALE = """\
from decimal import Decimal

from fairs import FAIR
from kalshi_cli.strategy_api import Params, Strategy


class P(Params, frozen=True):
    count: Decimal = Decimal("{count}")
    fair: Decimal = FAIR


STRATEGY = Strategy("stale-{count}", P, lambda snapshot, position, params: [])
"""


def _write_as_before(path: Path, text: str) -> None:
    """`text` written with the size and modification time the file had (an edit within the
    second that keeps the length): a bytecode file of the old text passes Python's check."""
    before = path.stat()
    assert len(text.encode()) == before.st_size
    path.write_text(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_an_edit_keeping_size_and_second_runs_the_new_code_not_its_bytecode(
    tmp_path: Path,
) -> None:
    """The strategy file and the module beside it it imports are compiled from their source:
    bytecode of their old text, written before the edit, is never run."""
    strategy, fairs = tmp_path / "edited.py", tmp_path / "fairs.py"
    strategy.write_text(STALE.format(count="5"))
    fairs.write_text('from decimal import Decimal\n\nFAIR = Decimal("0.40")\n')
    for path in (strategy, fairs):  # the bytecode a run of the old text leaves
        py_compile.compile(str(path), doraise=True)
    _write_as_before(strategy, STALE.format(count="7"))
    _write_as_before(fairs, 'from decimal import Decimal\n\nFAIR = Decimal("0.60")\n')
    loaded = get_strategy(str(strategy))
    assert loaded.name == "stale-7"
    assert params_dict(loaded.params()) == {"count": "7", "fair": "0.60"}


def test_a_module_beside_the_file_is_its_own_and_read_again_when_edited(tmp_path: Path) -> None:
    """In one process: two strategy files in two directories each import their own `fairs`,
    and an edit of one's `fairs` alone is run at the next load."""
    fairs = {}
    for name, fair in (("a", "0.40"), ("b", "0.60")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "mine.py").write_text(STALE.format(count="5"))
        fairs[name] = tmp_path / name / "fairs.py"
        fairs[name].write_text(f'from decimal import Decimal\n\nFAIR = Decimal("{fair}")\n')

    def fair_of(name: str) -> object:
        return params_dict(get_strategy(str(tmp_path / name / "mine.py")).params())["fair"]

    assert (fair_of("a"), fair_of("b")) == ("0.40", "0.60")
    fairs["a"].write_text('from decimal import Decimal\n\nFAIR = Decimal("0.75")\n')
    assert fair_of("a") == "0.75"
    assert "fairs" not in sys.modules  # the files keep theirs; no later import meets them

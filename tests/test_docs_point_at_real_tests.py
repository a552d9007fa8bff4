"""Every test the docs name as a proof exists: a file `tests/....py`, and the test or class after
its `::`. A guarantee whose proving test was renamed or folded away reads as proven and is not.
Every module docs/mutation.md scores exists too."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", ROOT / "ARCHITECTURE.md"]
REFERENCE = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?")


# the docs name some 260 test files about 770 times: each file is parsed once
@cache
def _names(path: Path) -> frozenset[str]:
    return frozenset(_defined(ast.parse(path.read_text(encoding="utf-8")).body))


# the fields that hold statements: a def or class is a statement, so it is found in these
# without walking every expression of the file (most of a walk's nodes)
_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")


def _defined(statements: Sequence[ast.AST]) -> Iterator[str]:
    for node in statements:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node.name
        for field in _BODIES:
            yield from _defined(getattr(node, field, []))


def test_every_test_the_docs_name_exists() -> None:
    seen = 0
    missing: list[str] = []
    for page in PAGES:
        for match in REFERENCE.finditer(page.read_text(encoding="utf-8")):
            seen += 1
            path, name = ROOT / match.group(1), match.group(2)
            if not path.is_file():
                missing.append(f"{page.name}: {match.group(0)} (no such file)")
            elif name and name not in _names(path):
                missing.append(f"{page.name}: {match.group(0)} (no such test)")
    assert seen > 100, "the pattern finds the docs' test references"
    assert missing == []


MUTATED = re.compile(r"`((?:\w+/)+\w+\.py|(?:\w+/)+)`")


def test_every_module_the_mutation_scores_name_exists() -> None:
    """A row of docs/mutation.md's scores names the module it scored as it is now (a module
    moved since is named where it lives): one named at a path that is gone reads as scored and
    is nobody's."""
    rows = [
        line.split(" | ")[0]
        for line in (ROOT / "docs" / "mutation.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| `")
    ]
    named = [path for row in rows for path in MUTATED.findall(row)]
    missing = [path for path in named if not (ROOT / "kalshi_cli" / path).exists()]
    assert len(named) > 20, "the pattern finds the scored modules"
    assert missing == []

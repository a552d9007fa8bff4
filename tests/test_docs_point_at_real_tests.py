"""Every test the docs name as a proof exists: a file `tests/....py`, and the test or class after
its `::`. A guarantee whose proving test was renamed or folded away reads as proven and is not."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", ROOT / "ARCHITECTURE.md"]
REFERENCE = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?")


def _names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


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

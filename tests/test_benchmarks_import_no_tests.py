"""The benchmarks run from a checkout without the test suite's code: no script in benchmarks/
imports a module of tests/ (what a benchmark and a test share lives in the package)."""

from __future__ import annotations

import ast
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_benchmark_imports_the_tests() -> None:
    scripts = sorted(BENCHMARKS.glob("*.py"))
    assert scripts
    wrong = {
        p.name: sorted(n for n in _imported(p) if n == "tests" or n.startswith("tests."))
        for p in scripts
    }
    assert {name: found for name, found in wrong.items() if found} == {}

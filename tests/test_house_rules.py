"""House rules read from the source. No module grows past 800 lines without saying why (issue
#11): a long module is either split along its seams or carries a paragraph in its docstring that
starts with "Why one module" and gives the reason it stays whole. And no `float(` without a
`# float-ok` comment saying it is a time or a duration (CONTRIBUTING.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import kalshi_cli

LIMIT = 800
PACKAGE = Path(kalshi_cli.__file__).parent


def _unexplained(root: Path) -> list[str]:
    """The modules under `root` over LIMIT lines whose docstring gives no reason."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        if text.count("\n") > LIMIT:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "Why one module" not in doc:
                found.append(str(path.relative_to(root)))
    return found


def test_every_module_over_800_lines_says_why_it_stays_whole() -> None:
    unexplained = _unexplained(PACKAGE)
    assert not unexplained, f"over {LIMIT} lines with no reason in the docstring: {unexplained}"


def test_the_rule_finds_a_long_module_with_no_reason(tmp_path: Path) -> None:
    body = "x = 1\n" * LIMIT
    (tmp_path / "long.py").write_text('"""A long module."""\n' + body)
    (tmp_path / "explained.py").write_text('"""Long.\n\nWhy one module: a reason."""\n' + body)
    (tmp_path / "short.py").write_text('"""Short."""\nx = 1\n')
    assert _unexplained(tmp_path) == ["long.py"]


def test_every_float_in_the_package_says_it_is_a_time() -> None:
    # CONTRIBUTING.md: money and counts are Decimal; a `float(` carries `# float-ok` saying it is
    # a time or a duration, so a price, count, balance or P&L cannot slip into a float unseen
    bare = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "float(" in line and "# float-ok" not in line
    ]
    assert not bare, f"float( without a `# float-ok` reason: {bare}"

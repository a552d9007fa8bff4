"""The public library API is what docs/library.md lists: `kalshi_cli.__all__` and
`kalshi_cli.strategy_api.__all__`, every name importable."""

from __future__ import annotations

import re
from pathlib import Path

import kalshi_cli
from kalshi_cli import strategy_api

DOC = (Path(__file__).parent.parent / "docs" / "library.md").read_text()


def _documented(section: str) -> set[str]:
    start = DOC.index(f"## `{section}`")
    end = DOC.find("\n## ", start + 1)
    table = DOC[start : end if end != -1 else None]
    names: set[str] = set()
    for row in re.findall(r"^\| (.+?) \| ", table, re.M):
        names.update(re.findall(r"`(\w+)", row))
    return names - {"name"}


def test_the_package_exports_exactly_what_the_page_lists() -> None:
    assert set(kalshi_cli.__all__) == _documented("kalshi_cli")
    for name in kalshi_cli.__all__:
        assert getattr(kalshi_cli, name) is not None, name


def test_the_strategy_api_exports_exactly_what_the_page_lists() -> None:
    assert set(strategy_api.__all__) == _documented("kalshi_cli.strategy_api")
    for name in strategy_api.__all__:
        assert hasattr(strategy_api, name), name
    assert strategy_api.STRATEGY_API_VERSION == 1


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        kalshi_cli.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("kalshi_cli.no_such_name resolved")

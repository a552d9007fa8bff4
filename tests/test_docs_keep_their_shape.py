"""The reference pages keep the shape that makes them readable at a glance, so they cannot grow
back into a lab log:

- a `docs/safety.md` row is `| N | guarantee | proof |` with a number no other row has, at most
  400 characters with its test ids, and its guarantee is one sentence (one `.`, `!` or `?`
  outside code spans, at its end), proved by at least one test id;
- a `docs/benchmarks.md` "current value" cell is one value: `VALUE (load L, DATE)` or
  `VALUE: VERDICT (load L, DATE)`, with no `;` or parenthesis in VALUE or VERDICT, one date, at
  most 120 characters; L is the load average (a number or a range) or `load not recorded`;
- a `CHANGELOG.md` entry, released or not, is one line (`- ...`, no continuation line) of at
  most 300 characters: what a trader notices, not the mechanism."""

from __future__ import annotations

import re
from collections import Counter
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAFETY_ROW = re.compile(r"^\| (\d+) \| (.*?) \| (`tests/.*) \|$")
CODE = re.compile(r"`[^`]*`")
SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
VALUE_CELL = re.compile(
    r"^[^;()]+(?:: [^;()]+)? \(load (?:\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?|not recorded), "
    r"\d{4}-\d{2}-\d{2}\)$"
)
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _safety_rows() -> list[tuple[int, str, str]]:
    """(number, guarantee, the whole row) of each numbered row."""
    lines = (ROOT / "docs" / "safety.md").read_text(encoding="utf-8").splitlines()
    numbered = [line for line in lines if re.match(r"^\| \d+ \|", line)]
    rows = [SAFETY_ROW.match(line) for line in numbered]
    assert [line for line, row in zip(numbered, rows, strict=True) if row is None] == [], (
        "a numbered row without a test id"
    )
    return [(int(row.group(1)), row.group(2), row.group(0)) for row in rows if row]


def test_every_safety_guarantee_is_one_short_sentence_with_its_own_number() -> None:
    rows = _safety_rows()
    assert len(rows) > 100, "the pattern finds the guarantees"
    counts = Counter(number for number, _, _ in rows)
    assert sorted(n for n, seen in counts.items() if seen > 1) == [], "row numbers repeated"
    too_long = [n for n, _, row in rows if len(row) > 400]
    assert too_long == [], "rows over 400 characters, their test ids included"
    prose = [(n, CODE.sub("code", text.replace("e.g.", "eg"))) for n, text, _ in rows]
    not_one = [n for n, text in prose if len(SENTENCE_END.findall(text)) != 1]
    assert not_one == [], "guarantees that are not one sentence"


def _benchmark_values() -> list[str]:
    lines = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| figure |"))
    column = [cell.strip() for cell in lines[header].strip("|").split(" | ")].index(
        "current value (load, date)"
    )
    values: list[str] = []
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        values.append(line.strip("| ").split(" | ")[column])
    return values


def test_every_benchmark_value_is_one_figure_with_its_load_and_date() -> None:
    values = _benchmark_values()
    assert len(values) > 20, "the pattern finds the table"
    misshapen = [
        value
        for value in values
        if len(value) > 120 or len(DATE.findall(value)) != 1 or not VALUE_CELL.match(value)
    ]
    assert misshapen == []


def test_every_changelog_entry_is_one_short_line() -> None:
    """Unreleased and every release alike: a release moves the lines, it does not rewrite them."""
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    changes = text.split("## [Unreleased]", 1)[1]
    entries = [line for line in changes.splitlines() if line.startswith("- ")]
    assert len(entries) > 5, "the pattern finds the entries"
    lines = changes.splitlines()
    continued = [
        before
        for before, line in pairwise(lines)
        if before.startswith("- ") and line.strip() and not line.startswith(("- ", "#"))
    ]
    assert continued == [], "entries that run onto a second line"
    assert [entry for entry in entries if len(entry) > 300] == []

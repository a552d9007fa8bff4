"""How values are written to the state file and read back: money and counts as TEXT in a canonical
Decimal form ("0.56", "10"), a float refused; times as REAL unix seconds; details as compact JSON
with Decimals as strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from kalshi_cli.vocabulary.request_ranges import SUBACCOUNT_MAX
from kalshi_cli.vocabulary.units import BookSide

DAY_SECONDS = 86_400.0
BOOK_SIDES = {side.value: side for side in BookSide}
DECIMAL_CACHE_SIZE = 65_536
_DECIMAL_TEXT: dict[Decimal, str] = {}


def dec_text(value: object) -> str:
    """The canonical TEXT of a Decimal: no exponent, no trailing zeros, no negative zero.

    The text depends only on the numeric value, so it is cached by value: batches of fills
    repeat a few hundred prices, counts and fees (a figure that seldom repeats is written by
    `figure_text`, uncached). Only exact Decimals use the cache, because a
    float or a bool would compare equal to one and slip past the type check.
    """
    if type(value) is Decimal:
        text = _DECIMAL_TEXT.get(value)
        if text is None:
            text = _canonical(value)
            if len(_DECIMAL_TEXT) < DECIMAL_CACHE_SIZE:
                _DECIMAL_TEXT[value] = text
        return text
    return _canonical(value)


def _canonical(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(
            f"expected a Decimal for a money or count value, got {type(value).__name__}"
        )
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"{value} is not a finite number")
    text = f"{number:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def opt_dec_text(value: Decimal | None) -> str | None:
    return None if value is None else dec_text(value)


def figure_text(value: Decimal | None) -> str | None:
    """`dec_text` of a figure that seldom repeats (a fill's realized P&L, a model's fair value),
    not cached: a loop writes one a fill for weeks, and each kept would be some 220 bytes held
    for nothing (tests/store/test_figures_written_hold_no_memory.py)."""
    return None if value is None else _canonical(value)


def opt_decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def json_text(data: Mapping[str, Any]) -> str:
    return json.dumps(data, default=_json_default, separators=(",", ":"), ensure_ascii=False)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write a {type(value).__name__} to the event log")


def where_clause(conditions: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def where_given(conditions: Mapping[str, object]) -> tuple[str, list[object]]:
    """The WHERE clause of the `conditions` (each SQL with its `?`s) whose value is given (not
    None), and their values in order: a list fills an `IN (?, ...)` item by item."""
    where: list[str] = []
    params: list[object] = []
    for sql, value in conditions.items():
        if value is not None:
            where.append(sql)
            params.extend(value if isinstance(value, list) else [value])
    return where_clause(where), params


def subaccount_number(value: object) -> int:
    """A subaccount as the state file keeps it: 0 (the primary) to 63."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SUBACCOUNT_MAX:
        raise ValueError(f"a subaccount is 0 (primary) to {SUBACCOUNT_MAX}, not {value!r}")
    return value

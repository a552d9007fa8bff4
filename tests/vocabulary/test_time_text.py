"""Time written by a person or the exchange is read as UTC unless the text names an offset, one
parser for every command: the machine's own time zone never moves a moment."""

from __future__ import annotations

import pytest

from kalshi_cli.backtest.command import parse_time as backtest_time
from kalshi_cli.vocabulary.clock import parse_http_date, parse_iso, parse_time

JAN_2_UTC = 1_767_312_000  # 2026-01-02T00:00:00Z


def test_a_backtest_window_without_an_offset_is_utc_on_a_machine_in_new_york(new_york) -> None:
    # the help says UTC; a New York machine read it five hours late
    assert backtest_time("2026-01-02", "--from") == JAN_2_UTC * 1_000_000_000
    assert backtest_time("2026-01-02T00:00:00", "--from") == JAN_2_UTC * 1_000_000_000


def test_an_exchange_time_without_an_offset_is_utc(new_york) -> None:
    assert parse_iso("2026-01-02T00:00:00").timestamp() == JAN_2_UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02", JAN_2_UTC),
        ("2026-01-02T00:00:00", JAN_2_UTC),
        ("2026-01-02T00:00:00Z", JAN_2_UTC),
        ("2026-01-01T19:00:00-05:00", JAN_2_UTC),
        (str(JAN_2_UTC), JAN_2_UTC),
        ("1767312000.5", JAN_2_UTC + 0.5),
        (" 2026-01-02 ", JAN_2_UTC),
    ],
)
def test_every_spelling_names_the_same_moment_whatever_the_zone(new_york, text, expected) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01", "nan", "inf", "-inf", "1e400"])
def test_what_is_not_a_time_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not"):
        parse_time(text)


@pytest.mark.parametrize(
    "text",
    [
        "Fri, 02 Jan 2026 00:00:00 GMT",
        "Fri, 02 Jan 2026 00:00:00 -0000",
        "Fri, 02 Jan 2026 00:00:00 +0000",
        "Fri, 02 Jan 2026 00:00:00",
        "Thu, 01 Jan 2026 19:00:00 -0500",
    ],
)
def test_an_http_date_is_utc_unless_it_names_an_offset(new_york, text: str) -> None:
    assert parse_http_date(text) == JAN_2_UTC


@pytest.mark.parametrize("text", ["", "soon", "Fri, 32 Jan 2026 00:00:00 GMT"])
def test_what_is_not_an_http_date_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an HTTP date"):
        parse_http_date(text)

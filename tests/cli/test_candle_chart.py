"""`kalshi candles --chart`: a candle that closed above its open reads differently from one that
closed below it, in characters alone."""

from __future__ import annotations

from typing import Any

from kalshi_cli.cli._chart import DOWN, UP, candle_chart
from kalshi_cli.client.markets import Candle
from kalshi_cli.vocabulary.models import decode_answer


def candle(end: int, open_: str, close: str, low: str, high: str) -> Candle:
    quote: dict[str, Any] = {"close_dollars": "0.50"}
    return decode_answer(
        Candle,
        {
            "end_period_ts": end,
            "yes_bid": quote,
            "yes_ask": quote,
            "price": {
                "open_dollars": open_,
                "close_dollars": close,
                "low_dollars": low,
                "high_dollars": high,
            },
            "volume_fp": "10.00",
            "open_interest_fp": "0.00",
        },
    )


def body(lines: list[str], column: int) -> set[str]:
    return {line.split("┤", 1)[1][column] for line in lines if "┤" in line} - {" ", "│"}


def test_a_rising_candle_and_a_falling_one_have_different_bodies() -> None:
    rising = candle(60, "0.40", "0.60", "0.35", "0.65")
    falling = candle(120, "0.60", "0.40", "0.35", "0.65")
    lines = candle_chart([rising, falling], width=40, height=10)
    assert body(lines, 0) == {UP}
    assert body(lines, 1) == {DOWN}
    assert UP != DOWN
    assert any(UP in line and DOWN in line and "up" in line for line in lines)  # the legend

"""A backtest's clock: the data's time, which only the backtest's driver moves (engine.py)."""

from __future__ import annotations


class ReplayClock:
    """The data's time: `wall` is the receive time of what was last applied (or the time the
    driver moved it to); `monotonic` counts from the start. Only the driver moves it, and only
    forward."""

    def __init__(self, start: float) -> None:  # unix seconds
        self._wall = start
        self._start = start

    def wall(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._wall - self._start

    def sleep(self, seconds: float) -> None:
        self._wall += max(0.0, seconds)

    def set(self, t: float) -> None:  # unix seconds
        self._wall = max(self._wall, t)

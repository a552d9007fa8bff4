"""`kalshi data download`'s progress on stderr: a rich bar on a terminal (markets done of the
total, rows, the market being read, the rate), plain lines otherwise (one per market, and one
now and then inside a long market) so a cron log stays readable."""

from __future__ import annotations

import io
import re

from kalshi_cli.cli.data import DownloadDisplay
from kalshi_cli.data.download import MarketDone, PageDone


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_stderr_is_not_a_terminal() -> None:
    stream, ticks = io.StringIO(), Ticks()
    display = DownloadDisplay(stream, clock=ticks)
    display(MarketDone("trades", "KX-A", 1, 2, 7, resumed=True))
    display(PageDone("trades", "KX-B", 2, 2, rows=1000, new_rows=1000))
    ticks.now = 10.0
    display(PageDone("trades", "KX-B", 2, 2, rows=2000, new_rows=1000))  # too soon for a line
    ticks.now = 70.0
    display(PageDone("trades", "KX-B", 2, 2, rows=3000, new_rows=1000))
    display(MarketDone("trades", "KX-B", 2, 2, 3000, resumed=False))
    display.close()
    assert stream.getvalue().splitlines() == [
        "download: [1/2] KX-A: 7 trades (already downloaded)",
        "download: [2/2] KX-B: 3000 trades so far (42 rows/s)",
        "download: [2/2] KX-B: 3000 trades",
    ]
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()


def test_a_progress_bar_on_a_terminal() -> None:
    stream, ticks = Terminal(), Ticks()
    display = DownloadDisplay(stream, clock=ticks)
    display(MarketDone("trades", "KX-A", 1, 3, 7, resumed=True))
    ticks.now = 2.0
    display(PageDone("trades", "KX-B", 2, 3, rows=1000, new_rows=1000))
    display.close()
    shown = stream.getvalue()
    assert "\x1b[" in shown  # drawn in place, not one line per update
    last = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.rsplit("\r", 1)[-1])  # the last draw
    for part in ("download trades", "1/3 markets", "1,007 rows", "500 rows/s", "KX-B"):
        assert part in last, (part, last)
    assert "download: [" not in shown  # no plain lines on a terminal

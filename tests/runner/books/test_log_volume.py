"""The trade log's volume is bounded, and the file is private (a blocked loop's whole log:
test_console_coalescing.py).

A HALTED loop used to log a `signal` and a `risk_denied` line for every intent on every tick (33.7
MB an hour). Repeats of the same kind (the same denial code in the same market, the same signal)
are now one line, then one `*_summary` line with their count per interval; the file rotates by
size; it and its rotated copies are created mode 0600, like the state file.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import TradeConfig
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ConfigError
from tests.runner.fakes import START


def _lines(path: Path) -> list[dict[str, object]]:
    """Every line of the log and its rotated copies, oldest first."""
    rotated = sorted(path.parent.glob(path.name + ".*"), key=lambda p: -int(p.suffix[1:]))
    lines: list[dict[str, object]] = []
    for p in [*rotated, path]:
        lines.extend(json.loads(line) for line in p.read_text(encoding="utf-8").splitlines())
    return lines


def test_a_different_denial_is_logged_at_once(tmp_path: Path) -> None:
    clock = ManualClock(START)
    path = tmp_path / "trade.log"
    log = EntryLog(clock, path=path, stderr=None)
    for _ in range(5):
        log.emit("risk_denied", {"code": "POSITION_LIMIT", "ticker": "A", "detail": "x"})
    log.emit("risk_denied", {"code": "POSITION_LIMIT", "ticker": "B", "detail": "x"})
    log.emit("risk_denied", {"code": "STALE_FEED", "ticker": "A", "detail": "x"})
    clock.advance(61)
    log.emit("heartbeat", {})
    log.close()
    events = [(e["event"], e.get("ticker"), e.get("code"), e.get("count")) for e in _lines(path)]
    assert events == [
        ("risk_denied", "A", "POSITION_LIMIT", None),
        ("risk_denied", "B", "POSITION_LIMIT", None),
        ("risk_denied", "A", "STALE_FEED", None),
        ("risk_denied_summary", "A", "POSITION_LIMIT", 4),
        ("heartbeat", None, None, None),
    ]


def test_the_log_rotates_by_size_and_every_file_is_private(tmp_path: Path) -> None:
    clock = ManualClock(START)
    path = tmp_path / "trade.log"
    log = EntryLog(clock, path=path, stderr=None, max_bytes=2000, backups=2)
    for n in range(200):
        log.emit("order_placed", {"n": n, "ticker": "A"})
    log.close()
    files = sorted(tmp_path.glob("trade.log*"))
    assert [f.name for f in files] == ["trade.log", "trade.log.1", "trade.log.2"]
    assert all(f.stat().st_size <= 2000 for f in files)
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    # the newest lines are kept, the oldest rotated away
    assert _lines(path)[-1]["n"] == 199


def test_a_log_file_left_readable_by_others_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "trade.log"
    path.write_text("", encoding="utf-8")
    path.chmod(0o644)
    log = EntryLog(ManualClock(START), path=path, stderr=None)
    log.emit("started", {})
    log.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("value", [0, -1, 1.5, "big", True])
def test_log_sizes_that_would_not_bound_the_log_are_refused(value: object) -> None:
    with pytest.raises(ConfigError, match=r"trade\.log_max_bytes"):
        TradeConfig(trade={"log_max_bytes": value}).settings  # noqa: B018 - it decodes
    with pytest.raises(ConfigError, match=r"trade\.log_backups"):
        TradeConfig(trade={"log_backups": value}).settings  # noqa: B018 - it decodes


def test_an_order_cut_on_every_requote_is_one_line_then_a_count(tmp_path: Path) -> None:
    """A market maker beside contracts bought by hand has its asks cut on every requote, many
    a second: one line per strategy and market, then a count per interval."""
    clock = ManualClock(START)
    path = tmp_path / "trade.log"
    log = EntryLog(clock, path=path, stderr=None)
    for kind in ("order_cut", "exit_cut"):
        for _ in range(3):
            log.emit(kind, {"ticker": "A", "strategy": "mm", "asked": "5", "count": "0"})
    log.emit("order_cut", {"ticker": "B", "strategy": "mm", "asked": "5", "count": "0"})
    clock.advance(61)
    log.emit("heartbeat", {})
    log.close()
    events = [(e["event"], e.get("ticker"), e.get("count")) for e in _lines(path)]
    assert events == [
        ("order_cut", "A", "0"),
        ("exit_cut", "A", "0"),
        ("order_cut", "B", "0"),
        ("order_cut_summary", "A", 2),
        ("exit_cut_summary", "A", 2),
        ("heartbeat", None, None),
    ]

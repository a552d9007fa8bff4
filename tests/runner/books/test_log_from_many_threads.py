"""The trade log is written from more than the loop's thread: the dispatch's workers make a
market's reads when it joins mid-run, and with them its session's group on a new shard, logged
`order_group_created`. Lines written at once from many threads, across rotations and coalescing
intervals, are each whole JSON, none is lost, and each coalesced kind's counts add up to what
was emitted."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.vocabulary.clock import ManualClock
from tests.runner.fakes import START

THREADS = 8
EACH = 300


@pytest.fixture
def switching_often() -> Iterator[None]:
    """Threads switched after every few bytecodes, so that a race shows in a short test."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _all_lines(path: Path) -> list[str]:
    lines: list[str] = []
    for p in sorted(path.parent.glob(path.name + "*")):
        lines.extend(p.read_text(encoding="utf-8").splitlines())
    return lines


@pytest.mark.usefixtures("switching_often")
def test_lines_from_many_threads_are_whole_none_lost_and_counts_add_up(tmp_path: Path) -> None:
    clock = ManualClock(START)
    path = tmp_path / "trade.log"
    # small files and a short interval: many rotations and summaries while the threads write
    log = EntryLog(clock, path=path, stderr=None, coalesce_s=0.05, max_bytes=3000, backups=1000)
    start = threading.Barrier(THREADS)

    def write(t: int) -> None:
        start.wait()
        for n in range(EACH):
            clock.advance(0.001)
            log.emit("order_placed", {"thread": t, "n": n, "ticker": f"T{t}"})
            log.emit("risk_denied", {"code": "POSITION_LIMIT", "ticker": f"T{t % 2}"})
            log.emit("risk_denied", {"code": "HALTED", "ticker": f"T{t}"})

    threads = [threading.Thread(target=write, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()

    records = [json.loads(line) for line in _all_lines(path)]  # each line whole JSON
    placed = sorted((r["thread"], r["n"]) for r in records if r["event"] == "order_placed")
    assert placed == [(t, n) for t in range(THREADS) for n in range(EACH)]
    said: dict[tuple[object, object], int] = {}
    for r in records:
        if r["event"] in ("risk_denied", "risk_denied_summary"):
            # HALTED holds for every market: one key, its first line naming the first market
            key = (r["code"], None if r["code"] == "HALTED" else r["ticker"])
            said[key] = said.get(key, 0) + int(r.get("count", 1))
    assert said == {
        ("POSITION_LIMIT", "T0"): EACH * THREADS // 2,
        ("POSITION_LIMIT", "T1"): EACH * THREADS // 2,
        ("HALTED", None): EACH * THREADS,
    }
    assert log.counts == {"order_placed": EACH * THREADS, "risk_denied": 2 * EACH * THREADS}

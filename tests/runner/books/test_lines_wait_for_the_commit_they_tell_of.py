"""A thread booking into an open transaction (`EntryLog.until`, the loop's drain of answers)
writes its lines only once that transaction commits, each with the fields it had when emitted,
and never if it rolls back: the trade log never says what the state file does not hold. Another
thread's lines meanwhile are written at once, and so are the booking thread's after the block."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from tests.runner.fakes import START


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_bookings_lines_wait_for_its_commit_and_say_what_was_emitted(tmp_path: Path) -> None:
    clock = ManualClock(START)
    path = tmp_path / "trade.log"
    log = EntryLog(clock, path=path, stderr=None)
    store = Store.in_memory(clock=clock)
    fields: dict[str, object] = {"ticker": "KXA", "count": 1}
    try:
        with store.transaction(), log.until(store.when_committed):
            log.emit("order_filled", fields)
            fields["count"] = 2  # the caller's own dict, changed after the line was emitted
            beside = threading.Thread(target=log.emit, args=("feed_reconnected", {"n": 1}))
            beside.start()
            beside.join()
            assert [line["event"] for line in _lines(path)] == ["feed_reconnected"]
        written = _lines(path)
        assert [line["event"] for line in written] == ["feed_reconnected", "order_filled"]
        assert (written[1]["ticker"], written[1]["count"]) == ("KXA", 1)

        with pytest.raises(KeyError), store.transaction(), log.until(store.when_committed):
            log.emit("order_cancelled", {"ticker": "KXA"})
            raise KeyError("the booking failed")
        log.emit("order_placed", {"ticker": "KXB"})
        assert [line["event"] for line in _lines(path)][2:] == ["order_placed"]
    finally:
        log.close()
        store.close()

"""SAFE_MODE, REDUCING, HALTED and `--dry-run` log once per change and a count per interval, so
the trade log's volume is bounded whatever the loop is refused.

A blocking trading state denies every market's intents on every tick, and a dry run "sends"
the same order on every tick; both used to write a line per market per tick to the console (or,
after the first coalescing, a line and a summary per market). A state that blocks everything is
one denial line when it begins and one counted summary per interval, whatever the number of
markets; a dry-run order is one line when it changes (market, side, action, price or count) and a
counted summary per interval. The console and the file get the same lines.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.vocabulary.clock import ManualClock
from tests.runner.fakes import START, make_rig


def _events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("state", ["SAFE_MODE", "REDUCING", "HALTED"])
def test_a_blocking_state_is_one_line_then_one_count_per_interval(
    tmp_path: Path, state: str
) -> None:
    log_path = tmp_path / "trade.log"
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", log_path=log_path)
    rig.store.trading.set_trading_state(state, reason="test", source="test")
    # 150 s in 150 ticks: three summary intervals (how often the loop ticks changes only the
    # counts), a live feed all along, so only the state denies
    ticks = 150
    for _ in range(ticks):
        rig.feed.last_at = rig.clock.monotonic()
        rig.step(1.0)
    rig.loop.log.close()
    denied = rig.loop.log.counts["risk_denied"]
    every = _events(log_path)
    lines = [e for e in every if str(e["event"]).startswith("risk_denied")]
    full = [e for e in lines if e["event"] == "risk_denied"]
    summaries = [e for e in lines if e["event"] == "risk_denied_summary"]
    markets = len(rig.exchange.reference.markets)
    assert denied >= ticks, "the strategy kept asking, and every ask was denied"
    assert [e["code"] for e in full] == [state]  # one line, not one per market
    assert len(summaries) <= 3  # one per 60 s interval of 150 s
    assert {s["code"] for s in summaries} <= {state}
    assert all("ticker" not in s for s in summaries)
    # nothing is lost: the summaries count every denial the first line did not show
    assert len(full) + sum(int(str(s["count"])) for s in summaries) == denied
    # the strategy's signals too: per market and kind, a line and a summary per interval
    signals = [e for e in every if e["event"] in ("signal", "signal_summary")]
    assert len(signals) <= 4 * 2 * markets
    # what remains is the heartbeat (once a second) and a few lines of state
    assert len(every) < 1000


def test_a_dry_run_logs_an_order_once_per_change(tmp_path: Path) -> None:
    log_path = tmp_path / "trade.log"
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", log_path=log_path, dry_run=True)
    ticks = 150
    for _ in range(ticks):
        rig.feed.last_at = rig.clock.monotonic()
        rig.step(1.0)
    rig.loop.log.close()
    would = rig.loop.log.counts["dry_run_order"]
    lines = _events(log_path)
    full = [e for e in lines if e["event"] == "dry_run_order"]
    summaries = [e for e in lines if e["event"] == "dry_run_order_summary"]
    assert would >= ticks, "the same quotes were wanted on every tick"
    assert len(full) < would / 5  # a line only when what would be sent changed
    assert len(full) + sum(int(str(s["count"])) for s in summaries) == would


def test_the_console_gets_the_coalesced_lines() -> None:
    clock = ManualClock(START)
    console = io.StringIO()
    log = EntryLog(clock, stderr=console)
    for _ in range(20):
        for ticker in ("A", "B", "C"):
            log.emit("risk_denied", {"code": "SAFE_MODE", "ticker": ticker, "detail": "x"})
            order = {"ticker": ticker, "side": "yes", "action": "buy", "price": "0.4", "count": "1"}
            log.emit("dry_run_order", order)
        clock.advance(1)
    clock.advance(60)
    log.emit("status", {})
    log.close()
    lines = console.getvalue().splitlines()
    assert sum(" risk_denied " in line for line in lines) == 1
    assert sum(" risk_denied_summary " in line and "count=59" in line for line in lines) == 1
    assert sum(" dry_run_order " in line for line in lines) == 3  # one per market
    assert sum(" dry_run_order_summary " in line for line in lines) == 3

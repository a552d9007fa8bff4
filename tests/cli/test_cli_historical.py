"""`kalshi fills` and `pnl` across the historical cutoff, against a fake client (the same over
the simulator: tests/services/test_historical_pnl.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .fakes import FakeClient, run

LIVE = {
    "fill_id": "f-live",
    "trade_id": "t2",
    "order_id": "o2",
    "market_ticker": "KXA-1",
    "book_side": "bid",
    "count_fp": "1.00",
    "yes_price_dollars": "0.5000",
    "is_taker": True,
    "fee_cost": "0.0200",
    "created_time": "2026-03-02T00:00:00Z",
    "ts": 1772409600,
}


def fill(fill_id: str, ts: int) -> dict[str, Any]:
    return {**LIVE, "fill_id": fill_id, "ts": ts}


def test_fills_lists_the_archived_fills_after_the_live_ones_each_once(tmp_path: Path) -> None:
    # the cutoff moved between the two reads: f-live is listed by both tiers
    client = FakeClient(
        fills=[LIVE],
        historical_fills=[LIVE, fill("f-old", 1767225600)],
        cutoff_ts=1772409700,
    )
    result = run(["fills", "--json"], client=client, home=tmp_path)
    assert result.exit_code == 0, result.output
    assert [f["fill_id"] for f in json.loads(result.stdout)["fills"]] == ["f-live", "f-old"]
    assert [name for name, _ in client.calls] == [
        "iter_fills",
        "get_historical_cutoff",
        "iter_historical_fills",
    ]


def test_fills_stops_at_the_limit_without_reading_the_archive(tmp_path: Path) -> None:
    client = FakeClient(fills=[LIVE], historical_fills=[fill("f-old", 1767225600)])
    result = run(["fills", "--limit", "1", "--json"], client=client, home=tmp_path)
    assert [f["fill_id"] for f in json.loads(result.stdout)["fills"]] == ["f-live"]
    assert [name for name, _ in client.calls] == ["iter_fills"]


def test_the_archive_fills_up_to_the_limit(tmp_path: Path) -> None:
    older = [fill(f"f-old{i}", 1767225600 - i) for i in range(5)]
    client = FakeClient(fills=[LIVE], historical_fills=older, cutoff_ts=1772409700)
    result = run(["fills", "--limit", "3", "--json"], client=client, home=tmp_path)
    ids = [f["fill_id"] for f in json.loads(result.stdout)["fills"]]
    assert ids == ["f-live", "f-old0", "f-old1"]

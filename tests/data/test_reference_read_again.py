"""`kalshi record` reads its markets again when it stops, for the results of those that settled
meanwhile (kalshi_cli/data/reference.py `refresh_markets`). A backtest replays the data set from
its start, so what that read brings is the status and outcome alone: a close time or a strike
that moved during the recording stays as read at the start (a close moves in the replay when the
recording's `close_date_updated` frame says), or every decision of the replay would know it
before it happened."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kalshi_cli.data.reference import refresh_markets

T = "KXTEST-26JAN01-A"


@dataclass
class Listed:
    ticker: str
    raw: dict[str, Any]


class Markets:
    def __init__(self, bodies: list[dict[str, Any]]) -> None:
        self.bodies = bodies

    def iter_markets(self, **_: Any) -> list[Listed]:
        return [Listed(b["ticker"], b) for b in self.bodies]


class Client:
    def __init__(self, bodies: list[dict[str, Any]]) -> None:
        self.markets = Markets(bodies)


def test_the_read_at_the_end_brings_the_outcome_and_keeps_the_terms_read_at_the_start(
    tmp_path: Path,
) -> None:
    at_start = {
        "ticker": T,
        "event_ticker": "KXTEST-26JAN01",
        "status": "active",
        "close_time": "2026-01-02T00:00:00Z",
        "floor_strike": 100,
        "result": "",
        "expiration_value": "",
    }
    outcome = {
        "status": "finalized",
        "result": "yes",
        "expiration_value": "131.5",
        "settlement_value_dollars": "1.0000",
        "settlement_ts": "2026-01-01T01:05:00Z",
    }
    # determined early: its close moved to the end of the game, and its strike was amended
    at_end = {**at_start, "close_time": "2026-01-01T01:00:00Z", "floor_strike": 120, **outcome}
    events = [{"event_ticker": "KXTEST-26JAN01", "series_ticker": "KXTEST"}]
    (tmp_path / "reference.json").write_text(json.dumps({"markets": [at_start], "events": events}))
    assert refresh_markets(Client([at_end]), tmp_path, [T]) == []  # type: ignore[arg-type]
    reference = json.loads((tmp_path / "reference.json").read_text())
    assert reference["markets"] == [{**at_start, **outcome}]
    assert reference["events"] == events

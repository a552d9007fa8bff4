"""A backtest hands a strategy the reference index as it was recorded: a scenario with an index
walk and a market whose rules name it, recorded (the index frames beside the book), then
replayed through the production loop: every decision of a strategy that reads the index sees
exactly the latest index value received before it (its averages included), never a later one,
and an index value alone is news that wakes the strategy."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli import strategies
from kalshi_cli.backtest import BacktestSpec, execute
from kalshi_cli.data.replay import iter_records
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.feed.index import IndexTick, decode_tick
from kalshi_cli.feed.messages import Cfb5HzValueMessage, CfbValueMessage
from kalshi_cli.strategies import register_strategy
from kalshi_cli.strategy_api import (
    Decision,
    IndexView,
    MarketSnapshot,
    Params,
    PositionView,
    Strategy,
)

TICKER = "KXBTCSIM-26JAN01H01-T95000"
SCENARIO = f"""
description: a BTC market and its index
indices:
  - id: BRTI
    walk: {{start: "95000.00", volatility: "0.0001", seed: 11}}
series:
  - ticker: KXBTCSIM
    title: Bitcoin price
    category: Crypto
    frequency: hourly
    events:
      - event_ticker: KXBTCSIM-26JAN01H01
        title: Bitcoin at 1 AM
        markets:
          - ticker: {TICKER}
            title: Bitcoin above 95000
            rules_primary: "If the simple average of the sixty seconds of CF Benchmarks'
              Bitcoin Real-Time Index (BRTI) before 1 AM is above 95000, the market resolves
              to Yes."
            close_after_seconds: 3600
            path: {{kind: flat, price: "0.50"}}
            quote: {{half_spread: "0.02", size: "50"}}
"""


class ProbeParams(Params, frozen=True):
    pass


SEEN: list[tuple[float, IndexView | None]] = []


def probe(snap: MarketSnapshot, pos: PositionView, params: ProbeParams) -> Sequence[Decision]:
    SEEN.append((snap.ts, snap.index))
    assert snap.terms is not None and snap.terms.index_id == "BRTI"
    return []


@pytest.fixture
def index_probe() -> Iterator[str]:
    """The probe, registered for this test only: every registered name is listed (`trade
    --help`, the registry's own test), so it must not outlive the test in this process."""
    register_strategy(
        Strategy("index-probe", ProbeParams, probe, reads_mids=False, reads_index=True)
    )
    try:
        yield "index-probe"
    finally:
        strategies._REGISTRY.pop("index-probe", None)


def test_each_decision_sees_the_index_value_last_received_before_it(
    tmp_path: Path, index_probe: str
) -> None:
    (tmp_path / "btc.yaml").write_text(SCENARIO)
    data = record_scenario(tmp_path / "btc.yaml", tmp_path / "data", seconds=40)
    received: list[tuple[float, IndexTick]] = [
        (ns / 1e9, decode_tick(obj))
        for ns, obj, _ in iter_records(data, Counter())
        if isinstance(obj, CfbValueMessage | Cfb5HzValueMessage)
    ]
    kinds = Counter(t.channel for _, t in received)
    assert kinds["cfbenchmarks_value"] >= 39 and kinds["cfbenchmarks_value_5hz"] >= 5 * 39
    manifest = json.loads((data / "manifest.json").read_text())
    assert "cfbenchmarks_value_5hz" in manifest["channels"]

    SEEN.clear()
    artifacts = execute(BacktestSpec(data=str(data), strategy=index_probe))
    assert artifacts.skipped["unknown_type"] == 0 and artifacts.skipped["bad_index"] == 0
    assert len(SEEN) > 40
    checked = 0
    for ts, view in SEEN:
        before = [t for at, t in received if at < ts]
        if not before:
            assert view is None
            continue
        latest = max(before, key=lambda t: t.ts)
        assert view is not None
        assert (view.ts, view.value) == (latest.ts, latest.value)
        assert view.ts <= ts  # never a value from the decision's future
        one_hz = [t for t in before if t.channel == "cfbenchmarks_value"]
        if one_hz:
            assert one_hz[-1].avg_60s is not None
            assert view.avg_60s == one_hz[-1].avg_60s.value
        checked += 1
    assert checked > 40
    # five index values a second and a quiet book: most decisions were woken by the index
    assert len(SEEN) > 2 * artifacts.book_events


def test_a_recording_with_only_index_ticks_of_its_markets_is_no_data(tmp_path: Path) -> None:
    """Index values are no data of the markets: a recording that kept the index and lost the
    market's book and trades has nothing to trade on, and a report of zero trades would say
    the strategy found nothing to trade."""
    from kalshi_cli.vocabulary.errors import NoDataError
    from tests.backtest.test_backtest import _rewritten

    (tmp_path / "btc.yaml").write_text(SCENARIO)
    data = record_scenario(tmp_path / "btc.yaml", tmp_path / "data", seconds=20)

    def not_the_markets(record: dict[str, Any]) -> bool:
        return bool(record.get("frame", {}).get("msg", {}).get("market_ticker") != TICKER)

    index_only = _rewritten(data, tmp_path / "index-only", not_the_markets)
    kept = Counter(type(obj).__name__ for _, obj, _ in iter_records(index_only, Counter()))
    assert kept["CfbValueMessage"] > 0 and kept["Cfb5HzValueMessage"] > 0, kept
    spec = BacktestSpec(data=str(index_only), strategy="spike", markets=(TICKER,))
    with pytest.raises(NoDataError, match=f"no data of {TICKER} in {index_only}"):
        execute(spec)

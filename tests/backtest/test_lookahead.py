"""The look-ahead check (kalshi_cli/backtest/lookahead.py): a strategy that reads the future is
caught; an honest one passes."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli import strategies
from kalshi_cli.backtest import BacktestSpec
from kalshi_cli.backtest.lookahead import check_lookahead, truncate
from kalshi_cli.data.manifest import write_manifest
from kalshi_cli.data.replay import iter_records
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.data.segments import SegmentWriter
from kalshi_cli.feed.messages import TradeMessage
from kalshi_cli.strategies import register_strategy
from kalshi_cli.strategy_api import Decision, MarketSnapshot, Params, PositionView, buy_at_ask
from kalshi_cli.strategy_api.strategy import Strategy
from kalshi_cli.vocabulary.units import Side

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
PEEK = "test-peek-at-the-future"


class PeekParams(Params, frozen=True):
    data: str = ""
    horizon_s: float = 20.0


_TRADES: dict[str, list[tuple[float, Decimal]]] = {}


def _future_trades(data: str) -> list[tuple[float, Decimal]]:
    """Every public trade of the data set, read from its files: the future, for a strategy
    that should never have it."""
    if data not in _TRADES:
        _TRADES[data] = [
            (ns / 1e9, obj.msg.yes_price)
            for ns, obj, _ in iter_records(Path(data), Counter())
            if isinstance(obj, TradeMessage) and obj.msg.yes_price is not None
        ]
    return _TRADES[data]


def peek(snap: MarketSnapshot, pos: PositionView, params: PeekParams) -> Sequence[Decision]:
    """Buys YES when the price `horizon_s` from now is higher than the mid: a perfect oracle."""
    mid = snap.book.mid
    if mid is None or pos.held_side is not None or pos.resting:
        return []
    later = [p for t, p in _future_trades(params.data) if t >= snap.ts + params.horizon_s]
    if not later or later[0] <= mid + Decimal("0.05"):
        return []
    intent = buy_at_ask(
        snap,
        Side.YES,
        count=Decimal(1),
        fair=later[0],
        reason="peek",
        strategy=PEEK,
        min_edge=Decimal(0),
    )
    return [] if intent is None else [intent]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    register_strategy(Strategy(PEEK, PeekParams, peek))
    try:
        yield record_scenario("default", tmp_path_factory.mktemp("la"), seconds=200, tickers=[LAL])
    finally:
        # registered for this module only: `trade --help` lists every registered name
        strategies._REGISTRY.pop(PEEK, None)


def test_a_strategy_peeking_at_the_future_is_caught(data: Path, tmp_path: Path) -> None:
    spec = BacktestSpec(data=str(data), strategy=PEEK, params=(("data", str(data)),))
    report = check_lookahead(spec, tmp_path, samples=4)
    assert report.signals > 0
    assert not report.ok
    assert report.differences and all(d["full"] > d["cut"] for d in report.differences)
    assert "changed" in report.lines()[0]


def test_an_honest_strategy_passes(data: Path, tmp_path: Path) -> None:
    params = (("take_profit", "0.06"), ("order_count", "20"))
    report = check_lookahead(
        BacktestSpec(data=str(data), strategy="spike", params=params), tmp_path
    )
    assert report.signals > 0 and len(report.checked) == 5
    assert report.ok, report.to_json()


def test_a_cut_copy_holds_only_what_came_before(data: Path, tmp_path: Path) -> None:
    times = [ns for ns, _, _ in iter_records(data, Counter())]
    cut = times[len(times) // 2]
    truncate(data, tmp_path / "cut", before_ns=cut)
    kept = [ns for ns, _, _ in iter_records(tmp_path / "cut", Counter())]
    assert kept == [t for t in times if t < cut]
    assert json.loads((tmp_path / "cut" / "reference.json").read_text()) == json.loads(
        (data / "reference.json").read_text()
    )


def test_a_cut_copy_keeps_only_the_results_its_records_had_shown(tmp_path: Path) -> None:
    """`kalshi record` reads the markets again when it stops, so the data set's reference data
    holds results that came after any cut: the copy keeps a market's result only where a
    record before the cut stated it, so a strategy reading the data set's own outcomes is
    caught like one reading its later trades."""
    start_ns = 1_767_225_600 * 10**9
    determined = {"event_type": "determined", "result": "yes", "market_ticker": "A"}
    frames = [
        (start_ns, {"type": "trade", "sid": 1, "seq": 1, "msg": {}}),
        (
            start_ns + 10 * 10**9,
            {"type": "market_lifecycle_v2", "sid": 2, "seq": 1, "msg": determined},
        ),
    ]
    data = tmp_path / "set"
    writer = SegmentWriter(data, fsync=False)
    for ns, frame in frames:
        writer.write(ns, json.dumps({"recv_ns": ns, "frame": frame}).encode() + b"\n")
    writer.close()
    write_manifest(data, {"segments": writer.segments})
    outcome = {"result": "yes", "expiration_value": "97000.12", "settlement_value_dollars": "1"}
    markets = [{"ticker": t, "status": "finalized", **outcome} for t in ("A", "B")]
    (data / "reference.json").write_text(json.dumps({"markets": markets}))

    def results(before_s: int) -> dict[str, dict[str, str]]:
        cut = tmp_path / f"cut-{before_s}"
        truncate(data, cut, before_ns=start_ns + before_s * 10**9)
        reference = json.loads((cut / "reference.json").read_text())
        return {m["ticker"]: {k: m[k] for k in outcome if k in m} for m in reference["markets"]}

    unknown = dict.fromkeys(outcome, "")
    assert results(5) == {"A": unknown, "B": unknown}
    # A's result frame came before the cut; B's result only ever came from the reference
    assert results(15) == {"A": outcome, "B": unknown}

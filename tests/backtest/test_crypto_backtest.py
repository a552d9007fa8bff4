"""The crypto strategy judged before money: the simulator's crypto scenario recorded (two
15-minute series, their books and the BTC and ETH indices, through one close), then backtested
end to end with the built-in crypto model: it places orders, they fill, every market settles as
the recorded index says it must, the report's P&L equals a hand computation from the venue's
fills to the cent, and its calibration table is the model's own forecasts against the outcomes."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.backtest import BacktestSpec, execute
from kalshi_cli.backtest.engine import RunArtifacts
from kalshi_cli.backtest.report import build_report, render_text
from kalshi_cli.data.replay import iter_records
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.feed.index import decode_tick
from kalshi_cli.feed.messages import CfbValueMessage
from kalshi_cli.strategy_api import MarketTerms
from kalshi_cli.vocabulary.reference_index import settlement_value, settles_yes, window
from kalshi_cli.vocabulary.units import ZERO, BookSide

SERIES = ["KXBTC15M", "KXETH15M"]
FIRST_CLOSE = 1_767_225_600.0 + 900.0  # the first quarter hour of 2026 ends
# the recording's lead-in before that close: the quarter's markets are listed when it starts,
# the model has minutes of index values to estimate volatility from, and the strategy trades and
# holds markets at the close as it does over the whole quarter, which cost twice the CPU time
LEAD_IN_S = 360.0
# recorded and backtested once for the module (5 s of CPU time when quiet, a minute under
# coverage on a busy machine): the first test pays for it
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def crypto_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # to just past the first close: the first markets settle
    return record_scenario(
        "crypto",
        tmp_path_factory.mktemp("crypto"),
        start=FIRST_CLOSE - LEAD_IN_S,
        seconds=LEAD_IN_S + 5,
        series=SERIES,
    )


@pytest.fixture(scope="module")
def run(
    crypto_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[RunArtifacts, dict[str, Any]]:
    # no stop-loss cool-down: the run must hold positions to the close for settlement to be read
    spec = BacktestSpec(
        data=str(crypto_data),
        strategy="crypto",
        sample_s=5,
        risk=(("stop_loss_cooldown_s", 0),),
    )
    artifacts = execute(spec)
    report = build_report(artifacts)
    return artifacts, report


def recorded_seconds(data: Path) -> dict[str, dict[int, Decimal]]:
    """The 1 Hz values of each recorded index, by second."""
    out: dict[str, dict[int, Decimal]] = {}
    for _, obj, _ in iter_records(data, Counter()):
        if isinstance(obj, CfbValueMessage):
            tick = decode_tick(obj)
            out.setdefault(tick.index_id, {})[int(tick.ts)] = tick.value
    return out


def test_the_strategy_trades_and_every_market_settles_as_the_recorded_index_says(
    crypto_data: Path, run: tuple[RunArtifacts, dict[str, Any]]
) -> None:
    artifacts, report = run
    totals = report["totals"]
    assert totals["orders"] > 0 and totals["fills"] > 0
    settlements = {s.ticker: s for s in artifacts.venue.client.portfolio.iter_settlements()}
    assert settlements, "the strategy held something at the close"
    seconds = recorded_seconds(crypto_data)
    closed = [t for t, info in artifacts.infos.items() if info.result]
    assert len(closed) == 10  # five strikes of each series' first quarter
    for ticker in closed:
        body = artifacts.venue.client.markets.get_market(ticker)
        terms = MarketTerms.from_market({**body.raw, **_recorded_body(crypto_data, ticker)})
        assert terms.close_ts is not None and terms.index_id in seconds
        start, end = window(int(terms.close_ts))
        values = [v for s, v in seconds[terms.index_id].items() if start <= s < end]
        assert len(values) == 60
        value = settlement_value(values)
        expected = settles_yes(terms.strike_type, terms.floor_strike, terms.cap_strike, value)
        assert artifacts.infos[ticker].result == ("yes" if expected else "no")
        if ticker in settlements:
            assert settlements[ticker].market_result == artifacts.infos[ticker].result


def test_the_reports_pnl_is_the_hand_computation_to_the_cent(
    run: tuple[RunArtifacts, dict[str, Any]],
) -> None:
    artifacts, report = run
    totals = report["totals"]
    fills = list(artifacts.venue.client.portfolio.iter_fills())
    assert Decimal(totals["fees"]) == sum((f.fee for f in fills), ZERO) > 0
    marks = ZERO
    for pos in artifacts.venue.client.portfolio.get_positions():
        book = artifacts.books[pos.ticker]
        assert book is not None
        best = book.best_yes_bid if pos.position > 0 else book.best_no_bid
        marks += abs(pos.position) * (best[0] if best is not None else ZERO)
    hand = sum(cash_flows(artifacts), ZERO) + marks
    assert Decimal(totals["net"]) == hand
    assert Decimal(totals["end_equity"]) - Decimal(totals["start_balance"]) == hand
    settled = sum((s.revenue for s in artifacts.venue.client.portfolio.iter_settlements()), ZERO)
    assert Decimal(totals["settled"]) <= settled  # revenue, before the cost the fills paid


def test_the_calibration_table_is_the_models_forecasts_against_the_outcomes(
    run: tuple[RunArtifacts, dict[str, Any]],
) -> None:
    artifacts, report = run
    results = {t: i.result for t, i in artifacts.infos.items() if i.result}
    with artifacts.store as store:
        intents = store.orders.intents()
    # the model's orders, and the risk engine's stop-loss closing some of them
    assert intents and {i.strategy for i in intents} <= {"crypto", "stop-loss"}
    mine = [i for i in intents if i.strategy == "crypto"]
    assert mine and all("builtin:crypto version crypto-1" in (i.reason or "") for i in mine)
    forecasts = [
        (float(i.model_fair), results[i.ticker] == i.side.value)
        for i in intents
        if i.model_fair is not None and i.ticker in results
    ]
    assert forecasts
    calibration = report["statistics"]["calibration"]
    assert calibration["forecasts"] == len(forecasts)
    brier = math.fsum((p - (1.0 if won else 0.0)) ** 2 for p, won in forecasts) / len(forecasts)
    assert calibration["brier"] == pytest.approx(brier, abs=1e-12)
    assert sum(row["forecasts"] for row in calibration["bins"]) == len(forecasts)
    for row in calibration["bins"]:
        inside = [
            (p, won)
            for p, won in forecasts
            if float(row["from"]) <= p < float(row["to"]) or (row["to"] == "1" and p == 1.0)
        ]
        assert row["forecasts"] == len(inside)
        assert row["settled_share"] == pytest.approx(sum(w for _, w in inside) / len(inside))


def cash_flows(artifacts: RunArtifacts) -> Iterator[Decimal]:
    """By hand, from the venue's fills, market by market: what each fill paid or received in
    the trader's terms (a `bid` fill buys YES at p, or closes NO and gets 1 - p back; an `ask`
    fill sells YES at p, or buys NO at 1 - p), its fee, and what settlement paid."""
    position: dict[str, Decimal] = {}
    for f in sorted(artifacts.venue.client.portfolio.iter_fills(), key=lambda f: f.created_time):
        p, c, held = f.yes_price, f.count, position.get(f.ticker, ZERO)
        if f.book_side is BookSide.BID:
            closing = min(c, max(-held, ZERO))
            yield closing * (1 - p) - (c - closing) * p
            position[f.ticker] = held + c
        else:
            closing = min(c, max(held, ZERO))
            yield closing * p - (c - closing) * (1 - p)
            position[f.ticker] = held - c
        yield -f.fee
    for s in artifacts.venue.client.portfolio.iter_settlements():
        yield s.revenue


def _recorded_body(data: Path, ticker: str) -> dict[str, Any]:
    import json

    reference = json.loads((data / "reference.json").read_text())
    found: dict[str, Any] = next(m for m in reference["markets"] if m["ticker"] == ticker)
    return found


def test_a_backtest_whose_markets_the_strategy_does_not_trade_says_so(tmp_path: Path) -> None:
    """The default scenario has no market whose rules name a reference index: crypto decides
    nothing there, and the report says why rather than a bare "no trades"."""
    data = record_scenario(
        "default", tmp_path / "d", seconds=30, tickers=["KXNBAGAME-SIM-LALGSW-LAL"]
    )
    report = build_report(execute(BacktestSpec(data=str(data), strategy="crypto")))
    assert list(report["idle"]) == ["crypto"]
    assert "decides nothing" in report["idle"]["crypto"]
    lines = render_text(report)
    assert f"idle: crypto: {report['idle']['crypto']}" in lines, lines

"""The equity curve is cash plus positions marked to market: the money resting orders hold is
still the trader's, so quoting without a fill leaves the curve flat, and every point of a run
that trades equals the cash its fills moved (and the marks of what it holds), by hand."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.backtest import BacktestSpec, execute
from kalshi_cli.backtest.report import build_report, render_text
from kalshi_cli.data.replay import BookReplay, iter_records
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.vocabulary.clock import parse_iso
from kalshi_cli.vocabulary.units import ZERO, BookSide
from tests.backtest.in_process import kalshi

LAL = "KXNBAGAME-SIM-LALGSW-LAL"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("eq"), seconds=120, tickers=[LAL])


def test_quotes_that_never_fill_leave_the_curve_flat_and_no_drawdown(
    data: Path, tmp_path: Path
) -> None:
    # a spread of 0.60 quotes 30 cents off the mid: the market never comes to it
    args = ["backtest", "--strategy", "market-maker", "--data", str(data)]
    args += ["--param", "spread=0.6", "--balance", "1000"]
    done = kalshi([*args, "--json", "--out", str(tmp_path / "run")], tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    totals = report["totals"]
    quotes = totals["orders"] + totals["amends"]
    assert quotes > 10 and totals["fills"] == 0, "the strategy must quote, not fill"
    assert len(report["equity"]) > 5
    assert {e for _, e, _ in report["equity"]} == {"1000.0000"}
    assert {x for _, _, x in report["equity"]} == {"0.0000"}
    assert totals["max_drawdown"] == "0.0000"
    assert totals["max_drawdown_share"] is None
    assert totals["end_equity"] == "1000.0000"
    text = kalshi(args, tmp_path)
    assert text.returncode == 0, text.stderr
    assert "max drawdown     $0.00 (-)" in text.stdout
    # the HTML page draws the same report's curve: its drawdown line is at zero throughout
    from kalshi_cli.backtest.html import render_html

    page = render_html(json.loads((tmp_path / "run" / "report.json").read_text()))
    assert "<th>max drawdown</th><td class=n>$0.00 (-)</td>" in page
    # and `kalshi dashboard --backtest` of the run: a flat chart, no drawdown
    from kalshi_cli.cli.dashboard_backtest import BacktestApp
    from kalshi_cli.dashboard.backtest import load_backtest
    from kalshi_cli.vocabulary.clock import SystemClock
    from tests.dashboard.test_backtest_view import _screen

    seen = _screen(BacktestApp(load_backtest(tmp_path / "run", SystemClock())))
    assert "max drawdown $0.00" in seen["summary"]
    # no fill, no trade: the dashboard says the figures conclude nothing, per trade
    assert "Sharpe / Sortino - / - per trade" in seen["summary"]
    assert "conclusive no (see notes)" in seen["summary"]
    assert set(seen["chart"]) == {1000.0}


def hand_curve(artifacts: object, start: Decimal, at: float) -> tuple[Decimal, Decimal, Decimal]:
    """Cash, position and cost basis (average cost) at `at`, from the venue's fills by hand."""
    cash, position, cost = start, ZERO, ZERO
    venue = artifacts.venue  # type: ignore[attr-defined]
    for f in sorted(venue.client.portfolio.iter_fills(), key=lambda f: f.created_time):
        if parse_iso(f.created_time).timestamp() > at:
            break
        p, c = f.yes_price, f.count
        buys_yes = f.book_side is BookSide.BID
        own = p if buys_yes else 1 - p
        closing = min(c, max(-position if buys_yes else position, ZERO))
        if closing:
            removed = cost if closing == abs(position) else cost * closing / abs(position)
            cost -= removed
        cash += closing * (1 - own) - (c - closing) * own - f.fee
        cost += (c - closing) * own
        position += c if buys_yes else -c
    return cash, position, cost


def test_the_curve_of_a_trading_run_is_cash_plus_marks_by_hand(data: Path, tmp_path: Path) -> None:
    params = (("take_profit", "0.06"), ("order_count", "20"))
    spec = BacktestSpec(data=str(data), strategy="spike", params=params, sample_s=1)
    artifacts = execute(spec)
    report = build_report(artifacts)
    start = Decimal(spec.balance)
    flat_after_trading = held = 0
    # the books as the run saw them: every record received before the sample's time
    records = iter_records(data, Counter())
    replay, pending = BookReplay(), next(records, None)
    for ts, equity, exposure in report["equity"]:
        while pending is not None and pending[0] / 1e9 < ts:
            replay.apply_record(*pending)
            pending = next(records, None)
        cash, position, cost = hand_curve(artifacts, start, ts)
        assert abs(Decimal(exposure) - cost) < Decimal("0.000001"), ts
        if position == 0:
            assert Decimal(equity) == cash, ts
            flat_after_trading += cash != start
        else:
            held += 1
            book = replay.books[LAL].to_orderbook()
            best = book.best_yes_bid if position > 0 else book.best_no_bid
            assert best is not None
            assert Decimal(equity) == cash + abs(position) * best[0], ts
    assert flat_after_trading and held, "the run must both hold and close positions"
    # drawdown: the largest fall from a running peak of the same curve, by hand
    peak, worst = None, ZERO
    for _, equity, _ in report["equity"]:
        e = Decimal(equity)
        peak = e if peak is None or e > peak else peak
        worst = max(worst, peak - e)
    assert Decimal(report["totals"]["max_drawdown"]) == worst
    assert Decimal(report["totals"]["max_exposure"]) == max(
        Decimal(x) for _, _, x in report["equity"]
    )
    assert any("max drawdown" in line for line in render_text(report))

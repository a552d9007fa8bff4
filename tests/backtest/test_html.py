"""The HTML report (kalshi_cli/backtest/html.py): its charts carry the report's own figures."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from kalshi_cli.backtest import BacktestSpec, run_backtest
from kalshi_cli.backtest.html import render_html
from kalshi_cli.backtest.scenario import record_scenario

LAL = "KXNBAGAME-SIM-LALGSW-LAL"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    data = record_scenario("default", tmp_path_factory.mktemp("html"), seconds=200, tickers=[LAL])
    spec = BacktestSpec(
        data=str(data),
        strategy="spike",
        params=(("take_profit", "0.06"), ("order_count", "20")),
        sample_s=5,
    )
    return run_backtest(spec)


def chart_points(page: str, chart: str) -> list[tuple[float, Decimal]]:
    """The (time, dollars) points a chart of the page was drawn from."""
    match = re.search(rf'<svg id="{chart}"[^>]* data-points="([^"]*)"', page)
    assert match is not None, f"no {chart} chart"
    pairs = [p.split(",") for p in match.group(1).split(";")]
    return [(float(ts), Decimal(v)) for ts, v in pairs]  # the time axis


def test_the_exposure_over_time_chart_carries_the_reports_exposure(
    report: dict[str, object],
) -> None:
    page = render_html(report)
    equity = report["equity"]
    assert isinstance(equity, list)
    points = chart_points(page, "exposure")
    assert points == [(float(ts), Decimal(exposure)) for ts, _, exposure in equity]
    assert max(v for _, v in points) > 0, "spike traded: some exposure was held"
    totals = report["totals"]
    assert isinstance(totals, dict)
    assert max(v for _, v in points) == Decimal(totals["max_exposure"])
    assert "<h2>Exposure over time</h2>" in page
    # the line drawn has one vertex per point, inside the picture
    svg = page[page.index('<svg id="exposure"') :]
    vertices = re.search(r'<polyline[^>]* points="([^"]*)"', svg)
    assert vertices is not None
    assert len(vertices.group(1).split()) == len(points)


def test_equity_and_drawdown_charts_carry_the_curve(report: dict[str, object]) -> None:
    page = render_html(report)
    equity = report["equity"]
    assert isinstance(equity, list)
    assert chart_points(page, "equity") == [(float(ts), Decimal(e)) for ts, e, _ in equity]
    drawdown = chart_points(page, "drawdown")
    peak = None
    for (_, e, _), (_, d) in zip(equity, drawdown, strict=True):
        peak = Decimal(e) if peak is None else max(peak, Decimal(e))
        assert d == Decimal(e) - peak <= 0


def test_a_failed_runs_page_opens_with_its_failure(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The page is what gets mailed and archived: a run whose strategy failed must say so first,
    as the terminal does, or its figures read as the strategy's."""
    from pathlib import Path

    data = record_scenario("default", tmp_path_factory.mktemp("failed"), seconds=60, tickers=[LAL])
    unruly = str(Path(__file__).with_name("unruly_strategy.py"))
    params = (("broken_fair", "0.65"), ("fair", "0.65"))
    failed = run_backtest(BacktestSpec(data=str(data), strategy=unruly, params=params))
    assert failed["failed"] is not None
    page = render_html(failed)
    head = page.index("<table>")  # the summary
    banner = page.find("FAILED: the strategy failed in")
    assert 0 <= banner < head, page[:2000]
    assert "no row for fair 0.65 in the model&#x27;s table" in page[banner:head]
    assert "FAILED" not in render_html(run_backtest(BacktestSpec(data=str(data), strategy=unruly)))

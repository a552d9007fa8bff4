"""The HTML report (kalshi_cli/backtest/html.py): its charts carry the report's own figures, and
a real browser draws them."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.backtest import BacktestSpec, run_backtest
from kalshi_cli.backtest.html import render_html
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.vocabulary.units import fmt_money

LAL = "KXNBAGAME-SIM-LALGSW-LAL"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("html"), seconds=200, tickers=[LAL])


@pytest.fixture(scope="module")
def report(data: Path) -> dict[str, object]:
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


def test_a_lineups_page_names_every_strategy_with_its_parameters_and_figures(data: Path) -> None:
    """Two strategies in one loop: the title names both, the parameters are each one's, and a
    by-strategy table shows the realized P&L, fees and fills each strategy's own fills made
    (the report's `by_strategy`, which add up to the run's)."""
    spec = BacktestSpec(
        data=str(data),
        strategy="spike",
        params=(("take_profit", "0.06"), ("order_count", "20")),
        beside=(("market-maker", (("spread", "0.06"),)),),
        sample_s=5,
    )
    lineup = run_backtest(spec)
    page = render_html(lineup)
    title = f"Backtest: spike, market-maker on {data}"
    assert f"<title>{title}</title>" in page and f"<h1>{title}</h1>" in page
    assert "spike: take_profit=0.06, order_count=20; market-maker: spread=0.06" in page
    groups = lineup["by_strategy"]
    assert isinstance(groups, dict)
    assert {"spike", "market-maker"} <= set(groups), "both must trade"
    table = page[page.index("<h2>By strategy</h2>") :]
    table = table[: table.index("</table>")]
    for name, group in groups.items():
        row = f"<td>{name}</td><td class=n>{fmt_money(Decimal(group['realized']))}</td>"
        assert row in table, (row, table)
        assert f"<td class=n>{group['fills']}</td>" in table
    # one strategy's page has no such table: its totals are the strategy's
    assert "By strategy" not in render_html(run_backtest(replace(spec, beside=())))


def _rgb(colour: str) -> tuple[int, int, int]:
    """`#b00` or `#1f5fbf` as a screenshot's pixel has it."""
    digits = colour.removeprefix("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    red, green, blue = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    return red, green, blue


@pytest.mark.slow
def test_a_headless_chromium_draws_the_pages_charts_with_no_console_error(
    report: dict[str, object], tmp_path: Path
) -> None:
    """Debian's `chromium` opens the page as `--html` writes it. Nothing reaches the console: the
    page has no script, and a chart's markup the browser cannot draw (`points` it cannot read)
    is reported there. The screenshot is no blank page (an unclosed tag that swallows the body
    leaves one colour), and each chart's colour is painted over a line's worth of pixels: a
    chart present in the markup but not drawn leaves none."""
    from PIL import Image

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run does)")
    text = render_html(report)
    page = tmp_path / "report.html"
    page.write_text(text, encoding="utf-8")
    # each chart's own colour, as the page draws it: the three lines and the bars
    colours = dict(re.findall(r'<svg id="(\w+)"[^>]*><polyline[^>]* stroke="(#\w+)"', text))
    colours |= {f"bar {fill}": fill for fill in re.findall(r'<rect[^>]* fill="(#\w+)"', text)}
    assert len(colours) == 4, colours
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=900,2000",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], "\n".join(console)
    image = Image.open(shot).convert("RGB")
    found = image.getcolors(maxcolors=image.width * image.height)  # never None at this bound
    assert found is not None
    counts = {colour: n for n, colour in found}
    assert len(counts) > 16, f"a blank page: {len(counts)} colours"
    painted = {chart: counts.get(_rgb(colour), 0) for chart, colour in colours.items()}
    assert all(n >= 100 for n in painted.values()), f"pixels of each chart's colour: {painted}"

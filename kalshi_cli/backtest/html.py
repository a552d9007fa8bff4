"""The report as one self-contained HTML file: inline CSS and inline SVG charts (equity, drawdown,
exposure, P&L per market), no script, font or request, so it opens the same anywhere. Each line
chart carries the figures it was drawn from in `data-points` (`time,dollars;...`), so a picture
can be read back exactly.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Any

from kalshi_cli.backtest.report import (
    _amount,
    failed,
    failure_lines,
    lineup,
    num,
    pct,
    report_places,
    skipped_line,
    statistics_lines,
    trading_state_lines,
)
from kalshi_cli.backtest.stats import MIN_DAYS
from kalshi_cli.vocabulary.units import fmt_money

W, H, PAD = 760, 220, 40

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:820px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 10px;border-bottom:1px solid #ddd}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.neg{color:#b00}.pos{color:#070}svg{background:#fafafa;border:1px solid #eee}
.note{color:#666;font-size:12px}.warn{color:#b00;font-weight:bold;margin:.2em 0}
"""


def render_html(report: dict[str, Any]) -> str:
    t = report["totals"]
    spec = report["spec"]
    places = report_places(report)  # of every amount on the page

    def money(value: str | None) -> str:
        return _amount(value, places)

    equity = [(float(ts), Decimal(e)) for ts, e, _ in report["equity"]]  # time axis
    exposure = [(float(ts), Decimal(x)) for ts, _, x in report["equity"]]  # time axis
    markets = [(k, Decimal(m["net"])) for k, m in report["markets"].items() if m["fills"]]
    summary = [
        ("net P&L", money(t["net"])),
        (
            "realized / settled / marked",
            f"{money(t['realized'])} / {money(t['settled'])} / {money(t['marked'])}",
        ),
        ("fees", money(t["fees"])),
        ("equity", f"{money(t['start_balance'])} → {money(t['end_equity'])}"),
        ("round trips (won)", f"{t['round_trips']} ({t['wins']})"),
        ("win rate", pct(t["win_rate"])),
        ("expectancy per contract", money(t["expectancy_per_contract"])),
        ("profit factor", num(t["profit_factor"])),
        ("max drawdown", f"{money(t['max_drawdown'])} ({pct(t['max_drawdown_share'])})"),
        ("orders / fills", f"{t['orders']} / {t['fills']}"),
        ("fill ratio", pct(t["fill_ratio"])),
        ("maker / taker", f"{pct(t['maker_share'])} / {pct(t['taker_share'])}"),
        ("max exposure", money(t["max_exposure"])),
    ]
    rows = "".join(f"<tr><th>{escape(k)}</th><td class=n>{escape(v)}</td></tr>" for k, v in summary)
    day_rows = "".join(
        f"<tr><td>{escape(d)}</td><td class=n>{escape(money(b['realized']))}</td>"
        f"<td class=n>{escape(money(b['fees']))}</td><td class=n>{b['fills']}</td></tr>"
        for d, b in report["by_day"].items()
    )
    stats = "".join(
        f"<li>{escape(line)}</li>" for line in statistics_lines(report["statistics"], places)
    )
    exits = ", ".join(f"{escape(k)} {v}" for k, v in sorted(report["exit_reasons"].items()))
    strategies = lineup(spec)
    title = f"Backtest: {', '.join(name for name, _ in strategies)} on {spec['data']}"
    each = [(name, ", ".join(f"{k}={v}" for k, v in p) or "defaults") for name, p in strategies]
    params = each[0][1] if len(each) == 1 else "; ".join(f"{n}: {p}" for n, p in each)
    warned = "".join(f"<p class=warn>{escape(line)}</p>" for line in _warnings(report))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{escape(title)}</h1>
<p class=note>parameters: {escape(params)}; fill model {escape(spec["fill_model"])}, latency
{spec["latency_ms"]} ms, {report["data"]["markets"]} markets, {report["data"]["book_events"]}
book events. Assumptions: docs/backtesting.md.</p>
{warned}<table>{rows}</table>
{_strategy_table(report, places) if len(strategies) > 1 else ""}<h2>Statistics</h2><ul>{stats}</ul>
<p class=note>Returns per day, or per closed round trip under {MIN_DAYS} days of data; never
annualized. Intervals: bootstrap of the closed round trips. docs/backtesting.md "Statistics".</p>
<h2>Equity</h2>{_line_chart(equity, "#1f5fbf", "equity", places)}
<h2>Drawdown</h2>{_line_chart(_drawdown(equity), "#b00", "drawdown", places)}
<h2>Exposure over time</h2>{_line_chart(exposure, "#8a5a00", "exposure", places)}
<p class=note>exposure: the cost of the open positions, sampled with the equity.</p>
<h2>P&amp;L per market</h2>{_bar_chart(markets, places)}
<table><tr><th>market</th><th class=n>net</th><th class=n>realized</th><th class=n>settled</th>
<th class=n>marked</th><th class=n>fees</th><th class=n>fills</th><th class=n>won</th></tr>
{_market_rows(report, places)}</table>
<h2>Per day</h2><table><tr><th>day</th><th class=n>realized + settled</th><th class=n>fees</th>
<th class=n>fills</th></tr>{day_rows}</table>
<p>exits: {exits or "none"}</p>
</body></html>
"""


def _drawdown(equity: list[tuple[float, Decimal]]) -> list[tuple[float, Decimal]]:
    peak = None
    drawdown = []
    for ts, e in equity:
        peak = e if peak is None or e > peak else peak
        drawdown.append((ts, e - peak))
    return drawdown


def _warnings(report: dict[str, Any]) -> list[str]:
    """First, as in the terminal: a failed run's figures are not the strategy's, a run whose
    trading state changed has those of a loop that traded as it could after each change, and
    a cut-off recording's are those of what was read."""
    failure = failed(report)
    warnings = [line for line in failure_lines(failure) if line] if failure else []
    warnings += [" ".join(line.split()) for line in trading_state_lines(report) if line]
    return warnings + [line for line in (skipped_line(report),) if line]


def _strategy_table(report: dict[str, Any], places: Decimal) -> str:
    """Each strategy's realized P&L (its own fills; settlements apart): they sum to the run's
    realized and settled."""
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td class=n>{escape(_amount(g['realized'], places))}</td>"
        f"<td class=n>{escape(_amount(g['fees'], places))}</td><td class=n>{g['fills']}</td></tr>"
        for name, g in report["by_strategy"].items()
    )
    return (
        "<h2>By strategy</h2><table><tr><th>strategy</th><th class=n>realized</th>"
        f"<th class=n>fees</th><th class=n>fills</th></tr>{rows}</table>\n"
    )


def _market_rows(report: dict[str, Any], places: Decimal) -> str:
    return "".join(
        "<tr>"
        + f"<td>{escape(k)}</td>"
        + "".join(
            f"<td class=n>{escape(_amount(m[c], places))}</td>"
            for c in ("net", "realized", "settled", "marked", "fees")
        )
        + f"<td class=n>{m['fills']}</td><td class=n>{m['wins']}/{m['round_trips']}</td></tr>"
        for k, m in report["markets"].items()
        if m["fills"]
    )


def _line_chart(
    points: list[tuple[float, Decimal]],  # times
    color: str,
    chart_id: str,
    places: Decimal,  # the page's
) -> str:
    if len(points) < 2:
        return "<p class=note>not enough points</p>"
    xs = [p[0] for p in points]
    ys = [float(p[1]) for p in points]  # pixels
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1

    def sx(x: float) -> float:  # pixels
        return PAD + (x - x0) / ((x1 - x0) or 1) * (W - 2 * PAD)

    def sy(y: float) -> float:  # pixels
        return H - PAD + (y - y0) / (y1 - y0) * -(H - 2 * PAD)

    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys, strict=True))
    top = escape(fmt_money(max(p[1] for p in points), places=places))
    bottom = escape(fmt_money(min(p[1] for p in points), places=places))
    data = ";".join(f"{x!r},{v}" for x, v in points)
    return (
        f'<svg id="{chart_id}" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img"'
        f' data-points="{data}">'
        f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>'
        f'<text x="4" y="{sy(y1) + 4:.0f}" font-size="11">{top}</text>'
        f'<text x="4" y="{sy(y0) + 4:.0f}" font-size="11">{bottom}</text>'
        "</svg>"
    )


def _bar_chart(bars: list[tuple[str, Decimal]], places: Decimal) -> str:
    if not bars:
        return "<p class=note>no trades</p>"
    top = max(abs(v) for _, v in bars) or Decimal(1)
    row = 22
    height = row * len(bars) + 10
    mid = W / 2
    shapes = []
    for i, (name, value) in enumerate(bars):
        width = float(abs(value) / top) * (W / 2 - 160)  # pixels
        x = mid if value >= 0 else mid - width
        color = "#070" if value >= 0 else "#b00"
        y = 5 + i * row
        shapes.append(
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{row - 6}" fill="{color}"/>'
            f'<text x="4" y="{y + 12}" font-size="11">{escape(name)}</text>'
            f'<text x="{W - 90}" y="{y + 12}" font-size="11">'
            f"{escape(fmt_money(value, places=places))}</text>"
        )
    return (
        f'<svg width="{W}" height="{height}" viewBox="0 0 {W} {height}" role="img">'
        f'<line x1="{mid}" y1="0" x2="{mid}" y2="{height}" stroke="#999"/>{"".join(shapes)}</svg>'
    )

"""`kalshi pnl`: realized and unrealized P&L, totals, and a cross-check against the exchange's own
per-market figures (`services.pnl_report.pnl_report()`; docs/pnl.md). The state file is opened
read-only. `--local` skips the exchange: no unrealized P&L or cross-check, no network.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalshi_cli.cli._context import begin
from kalshi_cli.cli._options import (
    EnvOpt,
    FormatOpt,
    JsonOpt,
    SubaccountOpt,
    parse_since,
    time_option,
)
from kalshi_cli.cli._output import Column, TableFormat

if TYPE_CHECKING:
    from kalshi_cli.cli._context import AppContext
    from kalshi_cli.cli._output import Output
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.services.pnl import Bucket
    from kalshi_cli.services.pnl_report import PnlReport


class By(StrEnum):
    MARKET = "market"
    DAY = "day"
    STRATEGY = "strategy"


CHART_WIDTH = 40
# which measure `--by strategy` is, under its table (docs/pnl.md "`kalshi pnl`")
BY_STRATEGY = "by strategy: what its own contracts realized, as its daily loss limit counts them"


def pnl_command(
    *,
    since: Annotated[
        str | None,
        time_option(
            "--since",
            "Count realized P&L from this date or time (today, 2026-01-31, 2026-01-31T14:00Z)",
        ),
    ] = None,
    by: Annotated[
        By, typer.Option("--by", help="One row per market, day or strategy.", case_sensitive=False)
    ] = By.MARKET,
    chart: Annotated[
        bool, typer.Option("--chart", help="Draw daily realized P&L in the terminal.")
    ] = False,
    local: Annotated[
        bool,
        typer.Option("--local", help="State file only: no unrealized P&L, no cross-check."),
    ] = False,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    subaccount: SubaccountOpt = None,
    env: EnvOpt = None,
) -> None:
    """Realized and unrealized P&L, cross-checked with the exchange.

    Realized P&L is computed by average cost from the fills and settlements in the state file
    (those it lacks are brought in first, unless --local); unrealized P&L marks open positions
    at the best bid. Each subaccount is its own book: --subaccount N counts N's fills only;
    without it, every subaccount's book is added, each subaccount's positions marked and
    cross-checked with its own book.

    Example: kalshi pnl --by day --format csv > daily-pnl.csv
    """
    from kalshi_cli.cli._services import refuse_quarantined
    from kalshi_cli.services.pnl_report import pnl_report

    since_ts = None if since is None else parse_since(since)
    app, out = begin(env, None if local else subaccount, as_json=as_json, fmt=fmt)
    settings = app.settings()
    report = pnl_report(
        settings.state,
        since=since,
        since_ts=since_ts,
        by=by.value,
        exchange=None if local else partial(exchange_access, app),
        subaccount=subaccount,
    )
    out.table(COLUMNS[by], [display_row(r) for r in report.rows], document=report.document)
    if report.document["paper"]:
        from kalshi_cli.store.paper import paper_note

        out.warn(paper_note(settings.state))
    if not out.as_json and out.format is not TableFormat.CSV:
        render_totals(out, report)
        if by is By.STRATEGY:
            out.line(BY_STRATEGY)
        if chart:
            draw_chart(out, report.summary.groups["day"])
    refuse_quarantined(app, out)


def exchange_access(app: AppContext) -> tuple[KalshiClient, Decimal | None]:
    from kalshi_cli.cli._services import order_limits

    return app.client(auth=True), order_limits(app).max_position_per_market


def render_totals(out: Output, report: PnlReport) -> None:
    from kalshi_cli.cli.portfolio import warn_of_differences
    from kalshi_cli.vocabulary.units import fmt_money, money_places

    summary, view, unrealized = report.summary, report.view, report.unrealized
    total = None if unrealized is None else summary.realized + unrealized
    places = money_places([summary.fees, summary.realized, unrealized if view else None, total])
    fees, realized = (fmt_money(v, places=places) for v in (summary.fees, summary.realized))
    out.line("")
    out.line(f"realized (net of {fees} fees): {realized}")
    if view is None:
        return
    out.line(
        "unrealized (at the best bid): "
        + fmt_money(unrealized, "unknown (a book is empty)", places)
    )
    if total is not None:
        out.line(f"total: {fmt_money(total, places=places)}")
    warn_of_differences(out, view, report.state)


def display_row(row: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in row.items()}


def _columns(by: By) -> tuple[Column, ...]:
    if by is By.STRATEGY:
        return (
            Column("strategy", "strategy"),
            Column("realized", "realized net", numeric=True, money=True),
        )
    base = (
        Column(by.value, "date" if by is By.DAY else by.value, identifier=by is By.MARKET),
        Column("fills", "fills", numeric=True),
        Column("settlements", "settlements", numeric=True),
        Column("realized_gross", "realized gross", numeric=True, money=True),
        Column("fees", "fees", numeric=True, money=True),
        Column("realized", "realized net", numeric=True, money=True),
    )
    if by is By.DAY:
        return (*base, Column("cumulative", "cumulative", numeric=True, money=True))
    return base


COLUMNS = {by: _columns(by) for by in By}


def draw_chart(out: Output, days: dict[str, Bucket]) -> None:
    """One bar per day, scaled to the largest day; gains right of the axis, losses left; every
    day's amount to the same places."""
    from kalshi_cli.vocabulary.units import fmt_money, money_places

    if not days:
        out.line("(no realized P&L to chart)")
        return
    largest = max(abs(b.net) for b in days.values()) or Decimal(1)
    half = CHART_WIDTH // 2
    places = money_places(b.net for b in days.values())
    out.line("")
    for day in sorted(days):
        net = days[day].net
        size = int((abs(net) / largest * half).to_integral_value())
        if net < 0:
            bar = " " * (half - size) + "█" * size + "|" + " " * half
        else:
            bar = " " * half + "|" + "█" * size + " " * (half - size)
        out.line(f"{day}  {bar}  {fmt_money(net, places=places)}")

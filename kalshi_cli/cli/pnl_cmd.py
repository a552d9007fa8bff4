"""`kalshi pnl`: realized P&L from the state file's fills and settlements (average cost, fees
expensed when paid), unrealized P&L marked at the book, totals, and a cross-check against the
exchange's own per-market figures. How it is computed: docs/pnl.md.

The state file is opened read-only (never created). `--local` skips the exchange: no
unrealized P&L and no cross-check, but no network either (cron, a laptop on a plane).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalshi_cli.cli._context import current
from kalshi_cli.cli._options import EnvOpt, FormatOpt, JsonOpt
from kalshi_cli.cli._output import Column, TableFormat

if TYPE_CHECKING:
    from kalshi_cli.cli._output import Output
    from kalshi_cli.pnl import Bucket
    from kalshi_cli.positions import PositionsView


class By(StrEnum):
    MARKET = "market"
    DAY = "day"
    STRATEGY = "strategy"


def register(app: typer.Typer) -> None:
    app.command("pnl")(pnl_command)


CHART_WIDTH = 40


def pnl_command(
    *,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Count realized P&L from this date or time (2026-01-31, 2026-01-31T14:00Z).",
            show_default=False,
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
    env: EnvOpt = None,
) -> None:
    """Realized and unrealized P&L, cross-checked with the exchange.

    Realized P&L is computed by average cost from the fills and settlements in the state file
    (`kalshi reconcile` brings them in); unrealized P&L marks open positions at the best bid.

    Example: kalshi pnl --by day --format csv > daily-pnl.csv
    """
    from kalshi_cli.cli.portfolio import parse_since
    from kalshi_cli.pnl import summarize_rows
    from kalshi_cli.store import Store

    since_ts = None if since is None else parse_since(since)
    app = current()
    settings = app.settings(env.value if env else None)
    out = app.output(as_json=as_json, fmt=fmt)
    store = Store.open_readonly(settings.state)
    view: PositionsView | None = None
    try:
        if store is None:
            summary = summarize_rows([], [], since=since_ts)
        else:
            summary = summarize_rows(store.iter_fill_rows(), store.settlements(), since=since_ts)
        if not local:
            from kalshi_cli.cli._services import order_limits
            from kalshi_cli.positions import mark_to_market

            view = mark_to_market(
                app.client(auth=True),
                store,
                engine=summary.engine,
                limit=order_limits(app).max_position_per_market,
                include_flat=True,
            )
    finally:
        if store is not None:
            store.close()

    buckets = summary.groups[by.value]
    rows = bucket_rows(buckets, by)
    unrealized = None if view is None else view.unrealized
    document: dict[str, Any] = {
        **summary.to_json(),
        "since": since,
        "by": by.value,
        "rows": rows,
        "unrealized_pnl": None if unrealized is None else str(unrealized),
        "total_pnl": None if unrealized is None else str(summary.realized + unrealized),
        "cross_checked": view is not None,
        "differences": [] if view is None else [d.to_json() for d in view.differences],
    }
    columns = COLUMNS[by]
    out.table(columns, [display_row(r) for r in rows], document=document)
    if out.as_json:
        return
    if out.format is TableFormat.CSV:
        return
    from kalshi_cli.models import fmt_money

    out.line("")
    out.line(f"realized (net of {fmt_money(summary.fees)} fees): {fmt_money(summary.realized)}")
    if view is not None:
        out.line(
            "unrealized (at the best bid): "
            + ("unknown (a book is empty)" if unrealized is None else fmt_money(unrealized))
        )
        if unrealized is not None:
            out.line(f"total: {fmt_money(summary.realized + unrealized)}")
        for d in view.differences:
            out.warn(
                f"{d.ticker}: {d.what} is {d.ours} here but {d.exchange} on the exchange "
                "(`kalshi reconcile` brings in missing fills)"
            )
    if chart:
        draw_chart(out, summary.groups["day"])


def bucket_rows(buckets: dict[str, Bucket], by: By) -> list[dict[str, Any]]:
    rows = []
    cumulative = Decimal(0)
    for key in sorted(buckets):
        b = buckets[key]
        cumulative += b.net
        row = {
            by.value: key,
            "fills": b.fills,
            "settlements": b.settlements,
            "realized_gross": str(b.gross),
            "fees": str(b.fees),
            "realized": str(b.net),
        }
        if by is By.DAY:
            row["cumulative"] = str(cumulative)
        rows.append(row)
    return rows


def display_row(row: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in row.items()}


def _columns(by: By) -> tuple[Column, ...]:
    base = (
        Column(by.value, "date" if by is By.DAY else by.value),
        Column("fills", "fills", numeric=True),
        Column("settlements", "settlements", numeric=True),
        Column("realized_gross", "realized gross", numeric=True),
        Column("fees", "fees", numeric=True),
        Column("realized", "realized net", numeric=True),
    )
    if by is By.DAY:
        return (*base, Column("cumulative", "cumulative", numeric=True))
    return base


COLUMNS = {by: _columns(by) for by in By}


def draw_chart(out: Output, days: dict[str, Bucket]) -> None:
    """One bar per day, scaled to the largest day; gains right of the axis, losses left."""
    if not days:
        out.line("(no realized P&L to chart)")
        return
    largest = max(abs(b.net) for b in days.values()) or Decimal(1)
    half = CHART_WIDTH // 2
    out.line("")
    for day in sorted(days):
        net = days[day].net
        size = int((abs(net) / largest * half).to_integral_value())
        if net < 0:
            bar = " " * (half - size) + "█" * size + "|" + " " * half
        else:
            bar = " " * half + "|" + "█" * size + " " * (half - size)
        out.line(f"{day}  {bar}  {net:+.2f}")

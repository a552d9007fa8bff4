"""Portfolio commands: `balance`, `positions`, `fills`, `settlements` (the exchange's view).

All need credentials; without them they stop with a one-line credentials error before any
request. Money is shown and emitted in dollars (balances with 2 decimals, prices with 4), counts
with 2 decimals; the JSON shapes are documented in docs/output.md. As `kalshi --help` imports
this module, the models are imported inside the functions that use them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalshi_cli.cli._context import current
from kalshi_cli.cli._options import EnvOpt, FormatOpt, JsonOpt, LimitOpt
from kalshi_cli.cli._output import Column

if TYPE_CHECKING:
    from kalshi_cli.models import Balance, Fill, Position, Settlement


def register(app: typer.Typer) -> None:
    for name, command in (
        ("balance", balance_command),
        ("positions", positions_command),
        ("fills", fills_command),
        ("settlements", settlements_command),
    ):
        app.command(name)(command)


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


# --------------------------------------------------------------------------------------------


def balance_command(as_json: JsonOpt = False, fmt: FormatOpt = None, env: EnvOpt = None) -> None:
    """Show the cash balance and the portfolio value.

    Example: kalshi balance --env demo --json
    """
    from kalshi_cli.models import fmt_money

    app = current()
    app.settings(env.value if env else None)
    out = app.output(as_json=as_json, fmt=fmt)
    balance = app.client(auth=True).get_balance()
    out.record(
        [
            ("balance", fmt_money(balance.balance)),
            ("portfolio value", fmt_money(balance.portfolio_value)),
        ],
        document=balance_json(balance),
    )


def balance_json(balance: Balance) -> dict[str, Any]:
    return {
        "balance": _money(balance.balance),
        "portfolio_value": _money(balance.portfolio_value),
        "updated_ts": balance.updated_ts or None,
    }


# --------------------------------------------------------------------------------------------


def positions_command(
    *,
    ticker: Annotated[
        str | None, typer.Option("--ticker", help="Only this market.", show_default=False)
    ] = None,
    event: Annotated[
        str | None, typer.Option("--event", help="Only this event.", show_default=False)
    ] = None,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    env: EnvOpt = None,
) -> None:
    """List open positions as the exchange reports them.

    A positive position holds YES contracts, a negative one NO contracts.

    Example: kalshi positions --format csv > positions.csv
    """
    from kalshi_cli.models import fmt_count, fmt_dollars

    app = current()
    app.settings(env.value if env else None)
    out = app.output(as_json=as_json, fmt=fmt)
    positions = app.client(auth=True).get_positions(ticker=ticker, event_ticker=event)
    rows = [
        {
            "ticker": p.ticker,
            "side": p.side.value if p.side else "",
            "position": fmt_count(p.position),
            "exposure": fmt_dollars(p.exposure),
            "realized_pnl": fmt_dollars(p.realized_pnl),
            "fees_paid": fmt_dollars(p.fees_paid),
        }
        for p in positions
    ]
    out.table(
        POSITION_COLUMNS,
        rows,
        document={"positions": [position_json(p) for p in positions], "count": len(positions)},
    )


POSITION_COLUMNS = (
    Column("ticker", "ticker"),
    Column("side", "side"),
    Column("position", "position", numeric=True),
    Column("exposure", "exposure", numeric=True),
    Column("realized_pnl", "realized P&L", numeric=True),
    Column("fees_paid", "fees", numeric=True),
)


def position_json(p: Position) -> dict[str, Any]:
    from kalshi_cli.models import fmt_count, fmt_dollars

    return {
        "ticker": p.ticker,
        "side": p.side.value if p.side else None,
        "position": fmt_count(p.position),
        "market_exposure": fmt_dollars(p.exposure),
        "realized_pnl": fmt_dollars(p.realized_pnl),
        "fees_paid": fmt_dollars(p.fees_paid),
        "total_traded": fmt_dollars(p.total_traded),
    }


# --------------------------------------------------------------------------------------------


def parse_since(text: str) -> int:
    """A date (YYYY-MM-DD, midnight UTC) or an ISO 8601 time (UTC unless it says otherwise)
    -> unix seconds."""
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time", param_hint="--since"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def fills_command(
    *,
    ticker: Annotated[
        str | None, typer.Option("--ticker", help="Only this market.", show_default=False)
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only fills at or after this date or time (2026-01-31, 2026-01-31T14:00Z).",
            show_default=False,
        ),
    ] = None,
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    env: EnvOpt = None,
) -> None:
    """List your fills, newest first.

    Example: kalshi fills --ticker KXBTCD-25DEC31-T100000 --since 2026-01-01
    """
    from kalshi_cli.models import fmt_count, fmt_dollars

    min_ts = None if since is None else parse_since(since)
    app = current()
    app.settings(env.value if env else None)
    out = app.output(as_json=as_json, fmt=fmt)
    fills = list(app.client(auth=True).iter_fills(ticker=ticker, min_ts=min_ts, limit=limit))
    rows = [
        {
            "time": f.created_time,
            "ticker": f.ticker,
            "book_side": f.book_side.value,
            "yes_price": fmt_dollars(f.yes_price),
            "count": fmt_count(f.count),
            "fee": fmt_dollars(f.fee),
            "role": "taker" if f.is_taker else "maker",
        }
        for f in fills
    ]
    out.table(
        FILL_COLUMNS, rows, document={"fills": [fill_json(f) for f in fills], "count": len(fills)}
    )


FILL_COLUMNS = (
    Column("time", "time"),
    Column("ticker", "ticker"),
    Column("book_side", "book side"),
    Column("yes_price", "YES price", numeric=True),
    Column("count", "count", numeric=True),
    Column("fee", "fee", numeric=True),
    Column("role", "role"),
)


def fill_json(f: Fill) -> dict[str, Any]:
    from kalshi_cli.models import fmt_count, fmt_dollars

    return {
        "fill_id": f.fill_id,
        "order_id": f.order_id,
        "ticker": f.ticker,
        "book_side": f.book_side.value,
        "yes_price": fmt_dollars(f.yes_price),
        "count": fmt_count(f.count),
        "fee": fmt_dollars(f.fee),
        "is_taker": f.is_taker,
        "created_time": f.created_time or None,
        "ts": f.ts,
    }


# --------------------------------------------------------------------------------------------


def settlements_command(
    *,
    ticker: Annotated[
        str | None, typer.Option("--ticker", help="Only this market.", show_default=False)
    ] = None,
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
    env: EnvOpt = None,
) -> None:
    """List settled markets you held, with what each paid.

    Example: kalshi settlements --limit 20 --format markdown
    """
    from kalshi_cli.models import fmt_count, fmt_dollars

    app = current()
    app.settings(env.value if env else None)
    out = app.output(as_json=as_json, fmt=fmt)
    settlements = list(app.client(auth=True).iter_settlements(ticker=ticker, limit=limit))
    rows = [
        {
            "time": s.settled_time,
            "ticker": s.ticker,
            "result": s.market_result,
            "yes_count": fmt_count(s.yes_count),
            "no_count": fmt_count(s.no_count),
            "revenue": _money(s.revenue),
            "fee": fmt_dollars(s.fee),
        }
        for s in settlements
    ]
    document = {
        "settlements": [settlement_json(s) for s in settlements],
        "count": len(settlements),
    }
    out.table(SETTLEMENT_COLUMNS, rows, document=document)


SETTLEMENT_COLUMNS = (
    Column("time", "settled"),
    Column("ticker", "ticker"),
    Column("result", "result"),
    Column("yes_count", "YES", numeric=True),
    Column("no_count", "NO", numeric=True),
    Column("revenue", "revenue", numeric=True),
    Column("fee", "fee", numeric=True),
)


def settlement_json(s: Settlement) -> dict[str, Any]:
    from kalshi_cli.models import fmt_count, fmt_dollars

    return {
        "ticker": s.ticker,
        "event_ticker": s.event_ticker,
        "market_result": s.market_result,
        "yes_count": fmt_count(s.yes_count),
        "yes_total_cost": fmt_dollars(s.yes_total_cost),
        "no_count": fmt_count(s.no_count),
        "no_total_cost": fmt_dollars(s.no_total_cost),
        "revenue": _money(s.revenue),
        "fee": fmt_dollars(s.fee),
        "settled_time": s.settled_time or None,
    }

"""`kalshi exchange status|schedule`: is the exchange trading, and when is it down for maintenance.
The JSON shapes are in docs/output.md; times are RFC 3339 in UTC.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kalshi_cli.cli._context import begin
from kalshi_cli.cli._options import EnvOpt, FormatOpt, JsonOpt
from kalshi_cli.cli._output import Column, Output
from kalshi_cli.cli.app import command_group

if TYPE_CHECKING:
    from kalshi_cli.client.exchange import ExchangeSchedule
    from kalshi_cli.vocabulary.models import ExchangeStatus

exchange_app = command_group("exchange")


@exchange_app.command("status")
def status_command(*, as_json: JsonOpt = False, fmt: FormatOpt = None, env: EnvOpt = None) -> None:
    """Show whether the exchange is up and trading, and when it resumes if not.

    Each exchange shard (matching engine) trades and takes transfers on its own: one line each.

    Example: kalshi exchange status --json
    """
    app, out = begin(env, as_json=as_json, fmt=fmt)
    render_status(out, app.client().exchange.get_exchange_status())


def status_json(status: ExchangeStatus) -> dict[str, Any]:
    from kalshi_cli.vocabulary.documents import shard_status_json

    return {
        "exchange_active": status.exchange_active,
        "trading_active": status.trading_active,
        "exchange_estimated_resume_time": status.raw.get("exchange_estimated_resume_time"),
        # each shard's own (`exchange_index_statuses`); empty when the exchange gives none
        "shards": [shard_status_json(s.exchange_index, s) for s in status.shards],
    }


def render_status(out: Output, status: ExchangeStatus) -> None:
    document = status_json(status)
    fields = [
        ("exchange", "active" if status.exchange_active else "INACTIVE (maintenance)"),
        ("trading", "active" if status.trading_active else "PAUSED"),
    ]
    if document["exchange_estimated_resume_time"]:
        fields.append(("resumes (estimate)", str(document["exchange_estimated_resume_time"])))
    for s in status.shards:
        trading = "trading" if s.trades else "PAUSED"
        transfers = "transfers on" if s.intra_exchange_transfers_active else "transfers off"
        fields.append((f"shard {s.exchange_index}", f"{trading}, {transfers} ({s.description})"))
    out.record(fields, document=document, title="exchange")


@exchange_app.command("schedule")
def schedule_command(
    *, as_json: JsonOpt = False, fmt: FormatOpt = None, env: EnvOpt = None
) -> None:
    """List the scheduled maintenance windows, during which orders are refused.

    `kalshi check exchange` warns ahead of the next one (docs/checks.md).

    Example: kalshi exchange schedule --json
    """
    app, out = begin(env, as_json=as_json, fmt=fmt)
    render_schedule(out, app.client().exchange.get_exchange_schedule())


WINDOW_COLUMNS = (
    Column("start", "start (UTC)"),
    Column("end", "end (UTC)"),
    Column("length", "length", numeric=True),
)


def schedule_json(schedule: ExchangeSchedule) -> dict[str, Any]:
    return {
        "maintenance_windows": [
            {"start": _iso(w.start), "end": _iso(w.end)} for w in schedule.maintenance_windows
        ],
        "standard_hours": schedule.standard_hours,
    }


def _iso(moment: Any) -> str:
    return str(moment.isoformat().replace("+00:00", "Z"))


def render_schedule(out: Output, schedule: ExchangeSchedule) -> None:
    rows = []
    for w in schedule.maintenance_windows:
        minutes = int((w.end - w.start).total_seconds() // 60)
        rows.append(
            {
                "start": _iso(w.start),
                "end": _iso(w.end),
                "length": f"{minutes // 60}h{minutes % 60:02d}m",
            }
        )
    out.table(
        WINDOW_COLUMNS,
        rows,
        document=schedule_json(schedule),
        title="maintenance windows",
        empty="no maintenance scheduled",
    )

"""What each panel of `kalshi dashboard` shows: Rich renderables built from a snapshot
(`kalshi_cli.dashboard`), and the cells and tables they are made of. Pure functions, no Textual:
the live app (dashboard_app.py) and a backtest's (dashboard_backtest.py) set them into their
panels, and the tests read them without an app."""

from __future__ import annotations

import io
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from kalshi_cli.dashboard.snapshot import (
    LocalSnapshot,
    RemoteSnapshot,
)
from kalshi_cli.vocabulary.clock import describe_age, utc_datetime
from kalshi_cli.vocabulary.units import CENT, fmt_money, money_places

if TYPE_CHECKING:
    from kalshi_cli.dashboard.snapshot import FillLine
    from kalshi_cli.services.killswitch.report import KillReport


STATE_STYLE = {
    "ACTIVE": "bold green",
    "REDUCING": "bold yellow",
    "HALTED": "bold red",
    "SAFE_MODE": "bold magenta",
}
CHECK_STYLE = {"OK": "green", "WARNING": "yellow", "CRITICAL": "bold red", "UNKNOWN": "magenta"}


def count_cell(value: Decimal | None, places: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:,.{places}f}"


def money_cell(value: Decimal | None, places: Decimal = CENT) -> Text:
    """A gain or a loss: `fmt_money` to `places` (those of its table), in green or red."""
    if value is None:
        return Text("-")
    style = "green" if value > 0 else "red" if value < 0 else ""
    return Text(fmt_money(value, places=places), style=style)


def age_text(seconds: float | None) -> str:
    return "never" if seconds is None else describe_age(seconds)


def _unknown_age(label: str, why: str | None, after: str = "") -> Text | None:
    """A recorded time that cannot be aged (`clock.age_of`), as the checks grade it: UNKNOWN and
    why, never the `0.0s ago` of a live loop with fresh data. None when it can be aged."""
    if why is None:
        return None
    return Text.assemble(label, ("UNKNOWN", CHECK_STYLE["UNKNOWN"]), f": {why}{after}")


def time_cell(ts: float | None) -> str:
    return "-" if not ts else utc_datetime(ts).strftime("%H:%M:%S")


class FitTable:
    """A panel's table that never cuts a cell: drawn as a table when every cell fits the panel's
    width whole, else as records, one `column: value` line each (as the command line's tables
    fall back to records on a narrow terminal). `add_row` as `rich.table.Table`'s. With
    `subaccounts`, a first column `sub` names each row's subaccount (`add_row`'s `subaccount`)."""

    def __init__(self, *columns: str, subaccounts: bool = False) -> None:
        self.columns = ("sub", *columns) if subaccounts else columns
        self._subaccounts = subaccounts
        self.rows: list[tuple[RenderableType, ...]] = []

    def add_row(self, *cells: RenderableType, subaccount: int = 0) -> None:
        self.rows.append((str(subaccount), *cells) if self._subaccounts else cells)

    def _table(self, *, expand: bool) -> Table:
        table = Table(box=None, expand=expand, pad_edge=False, header_style="bold")
        for c in self.columns:
            table.add_column(c, no_wrap=True)
        for row in self.rows:
            table.add_row(*row)
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        natural = Measurement.get(
            console, options.update(max_width=10_000), self._table(expand=False)
        ).maximum
        if natural <= options.max_width:
            yield self._table(expand=True)
            return
        names = [c or "·" for c in self.columns]
        pad = max(len(n) for n in names)
        for n, row in enumerate(self.rows):
            if n:
                yield Text("")
            for name, cell in zip(names, row, strict=False):
                line = Text(f"{name:<{pad}}  ", style="bold")
                line.append_text(cell if isinstance(cell, Text) else Text(str(cell)))
                yield line


def note_text(text: str, style: str = "dim") -> Text:
    return Text(text, style=style)


# ------------------------------------------------------------------------------ rendering


def render_trading(local: LocalSnapshot) -> RenderableType:
    t = local.trading
    sub = local.health.loop_subaccount  # the state is the account's, the loop trades `sub`
    strategy = local.health.loop_strategy
    lines = [
        Text.assemble(
            (t.state, STATE_STYLE.get(t.state, "bold")),
            (f"  loop on subaccount {sub}" if sub is not None else "", "bold cyan"),
            (f"  strategy {strategy}" if strategy else "", "cyan"),
            ("  PAUSED (pause file)" if t.paused else "", "bold yellow"),
            ("  PAUSED (SIGUSR1)" if t.paused_by_signal else "", "bold yellow"),
        ),
        Text(f"why: {t.reason}"),
        Text(f"by: {t.source} at {time_cell(t.since)}", style="dim"),
    ]
    rows = local.health.strategies
    places = money_places(Decimal(row["realized_today"]) for row in rows)
    for row in rows if len(rows) > 1 or any(r.get("stopped") for r in rows) else ():
        stopped = f" STOPPED ({row['stopped']})," if row.get("stopped") else ""
        lines.append(
            Text(
                f"  {row['strategy']}:{stopped} {row['open_orders']} open, own part realized "
                f"today {fmt_money(Decimal(row['realized_today']), places=places)}",
                style="bold yellow" if stopped else "",
            )
        )
    if t.trips:
        lines.append(Text("breaker trips today:", style="bold"))
        lines.extend(Text(f"  {time_cell(x.at)} {x.code}: {x.detail}") for x in t.trips[:3])
    else:
        lines.append(note_text("no risk trips today"))
    if local.error:
        lines.append(note_text(local.error, "bold red"))
    return Group(*lines)


def render_health(local: LocalSnapshot, remote: RemoteSnapshot | None, flt: str) -> RenderableType:
    h = local.health
    ticks = f" ({h.ticks} ticks)" if h.ticks else ""
    lines: list[RenderableType] = [
        _unknown_age("heartbeat  ", h.heartbeat_age_unknown, ticks)
        or Text(f"heartbeat  {age_text(h.heartbeat_age)} ago{ticks}"),
        _unknown_age("loop feed  ", h.loop_feed_age_unknown)
        or Text(f"loop feed  {age_text(h.loop_feed_age)} since the last market data"),
    ]
    if remote is None or remote.error:
        why = remote.error if remote is not None and remote.error else "asking the exchange..."
        lines.append(note_text(f"per-market feed: {why}"))
    elif remote.feed:
        table = FitTable("market", "bid", "ask", "age", "")
        feed = [f for f in remote.feed if flt in f.ticker.upper()]
        places = money_places(q[0] for f in feed for q in (f.bid, f.ask) if q)
        for f in feed:
            table.add_row(
                f.ticker,
                fmt_money(f.bid[0], places=places) if f.bid else "-",
                fmt_money(f.ask[0], places=places) if f.ask else "-",
                age_text(f.age),
                Text("fresh", "green") if f.fresh else Text("STALE", "bold red"),
            )
        lines.append(table)
    else:
        lines.append(note_text("per-market feed: no market held or quoted"))
    return Group(*lines)


def render_pnl(local: LocalSnapshot, remote: RemoteSnapshot | None) -> RenderableType:
    unrealized = remote.unrealized if remote is not None and remote.error is None else None
    total = local.pnl.realized_today + unrealized if unrealized is not None else None
    places = money_places([local.pnl.realized_today, unrealized, total])
    table = FitTable("", "")
    table.add_row("realized today", money_cell(local.pnl.realized_today, places))
    table.add_row(
        "unrealized",
        money_cell(unrealized, places)
        if unrealized is not None
        else note_text("exchange not read"),
    )
    table.add_row("total", money_cell(total, places))
    return table


def render_positions(remote: RemoteSnapshot | None, flt: str) -> RenderableType:
    if remote is None:
        return note_text("asking the exchange...")
    if remote.error:
        return note_text(remote.error, "bold red")
    sub = remote.names_subaccounts  # a first column naming each row's subaccount
    table = FitTable(
        "market", "side", "qty", "entry", "mark", "unreal.", "limit use", subaccounts=sub
    )
    held = [p for p in remote.positions if flt in p.ticker.upper()]
    events = [e for e in remote.events if flt in e.event_ticker.upper()]
    places = money_places(
        [*(v for p in held for v in (p.entry, p.mark, p.unrealized)), *(e.worst for e in events)]
    )
    for p in held:
        use = p.limit_use
        table.add_row(
            p.ticker,
            p.side,
            count_cell(p.contracts),
            fmt_money(p.entry, places=places),
            fmt_money(p.mark, places=places),
            money_cell(p.unrealized, places),
            "-" if use is None else Text(f"{use:.0%}", "bold red" if use > 1 else ""),
            subaccount=p.subaccount,
        )
    shown: list[RenderableType] = [table if remote.positions else note_text("no open position")]
    # what an event held in several markets can lose at settlement (`kalshi positions --by event`)
    for e in events:
        where = f"sub {e.subaccount} " if sub else ""
        shown.append(
            Text.assemble(
                f"{where}event {e.event_ticker}, {e.markets} markets: worst ",
                money_cell(e.worst, places),
                f" ({e.worst_outcome})",
            )
        )
    if remote.subaccounts_note:
        shown.append(note_text(remote.subaccounts_note, "yellow"))
    return shown[0] if len(shown) == 1 else Group(*shown)


def render_orders(remote: RemoteSnapshot | None, flt: str) -> RenderableType:
    if remote is None:
        return note_text("asking the exchange...")
    if remote.error:
        return note_text(remote.error, "bold red")
    if not remote.orders:
        return note_text("no resting order")
    table = FitTable(
        "market",
        "side",
        "action",
        "price",
        "left",
        "ahead",
        "strategy",
        subaccounts=remote.names_subaccounts,
    )
    resting = [o for o in remote.orders if flt in o.ticker.upper()]
    places = money_places(o.price for o in resting)
    for o in resting:
        table.add_row(
            o.ticker,
            o.side,
            o.action,
            fmt_money(o.price, places=places),
            count_cell(o.remaining),
            "?" if o.queue_ahead is None else count_cell(o.queue_ahead),
            o.strategy or "-",
            subaccount=o.subaccount,
        )
    if remote.queue_note:
        return Group(table, note_text(remote.queue_note, "yellow"))
    return table


def render_fills(local: LocalSnapshot, remote: RemoteSnapshot | None, flt: str) -> RenderableType:
    if not local.fills:
        return note_text(local.error or "no fill yet")
    # the state file's fills are every subaccount's: each names its own when a subaccount but
    # 0 is in sight, here or on the exchange's panels (an account on 0 alone reads as before)
    sub = any(f.subaccount != 0 for f in local.fills) or (
        remote is not None and remote.error is None and remote.names_subaccounts
    )
    return fills_table(local.fills, flt, sub=sub)


def fills_table(fills: Iterable[FillLine], flt: str, *, sub: bool = False) -> FitTable:
    """`sub`: a first column naming each fill's subaccount."""
    table = FitTable(
        "time", "market", "trade", "price", "qty", "slip", "model_fair", subaccounts=sub
    )
    shown = [f for f in fills if flt in f.ticker.upper()]
    places = money_places(v for f in shown for v in (f.price, f.slippage, f.model_fair))
    for f in shown:
        table.add_row(
            time_cell(f.at),
            f.ticker,
            f"{f.action} {f.side}",
            fmt_money(f.price, places=places),
            count_cell(f.count),
            fmt_money(f.slippage, places=places),
            fmt_money(f.model_fair, places=places),
            subaccount=f.subaccount,
        )
    return table


def render_denials(local: LocalSnapshot, flt: str) -> RenderableType:
    if not local.denials:
        return note_text(local.denials_note or "no risk denial in the recent log")
    lines: list[RenderableType] = []
    for d in local.denials:
        if flt in d.last_ticker.upper():
            lines.append(
                Text.assemble(
                    (d.code, "bold"), f" x{d.count}  last {d.last_at[11:19]} {d.last_ticker}"
                )
            )
            if d.last_detail:
                lines.append(note_text(f"  {d.last_detail}"))
    return Group(*lines)


def render_checks(local: LocalSnapshot, remote: RemoteSnapshot | None) -> RenderableType:
    table = FitTable("check", "status", "summary")
    remote_checks = () if remote is None else remote.checks
    for c in (*local.checks, *remote_checks):
        table.add_row(c.name, Text(c.status, CHECK_STYLE.get(c.status, "")), c.summary)
    if remote is None or remote.error:
        why = remote.error if remote is not None else "asking the exchange..."
        return Group(table, note_text(f"positions, exposure, api: {why}"))
    return table


def render_alerts(local: LocalSnapshot) -> RenderableType:
    if not local.alerts:
        return note_text("no alert sent")
    lines: list[RenderableType] = []
    for a in local.alerts:
        lines.append(
            Text.assemble(
                f"{time_cell(a.at)} ",
                (a.status, CHECK_STYLE.get(a.status, "")),
                " sent" if a.sent else (f" NOT SENT {a.error or ''}", "bold red"),
            )
        )
        lines.append(Text(f"  {a.summary}"))
    return Group(*lines)


def kill_report_text(report: KillReport) -> str:
    """The proof exactly as `kalshi cancel-all` prints it."""
    from kalshi_cli.cli._output import Output, TableFormat
    from kalshi_cli.cli.trading import render_kill_report

    buffer = io.StringIO()
    render_kill_report(
        Output(stdout=buffer, stderr=buffer, fmt=TableFormat.PLAIN), report, scope="every market"
    )
    return buffer.getvalue().rstrip("\n")

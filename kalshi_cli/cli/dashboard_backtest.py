"""The Textual app behind `kalshi dashboard --backtest RESULT`: a finished backtest's results,
read-only (kalshi_cli.dashboard.backtest loads them). It reuses the live dashboard's cell
formatting, its help and filter screens and its panel base (`_panels.PanelApp`); the keys that
act on a running loop say they do not apply here."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer, Sparkline, Static

from kalshi_cli.cli._panels import PANEL_CSS, PANEL_KEYS, PanelApp
from kalshi_cli.cli.dashboard_app import HelpScreen, panel_grid
from kalshi_cli.cli.dashboard_panels import (
    FitTable,
    count_cell,
    fills_table,
    money_cell,
    note_text,
    time_cell,
)
from kalshi_cli.vocabulary.units import fmt_money, money_places

if TYPE_CHECKING:
    from kalshi_cli.dashboard.backtest import BacktestView

# ------------------------------------------------------------------------------ a backtest

NOT_A_LOOP = "does not apply to a backtest: these are a finished run's results, no loop to act on"
BACKTEST_HELP = """\
A backtest's results, read-only (`kalshi backtest --out DIR` or its --json).

p h k  do not apply: there is no running loop behind a backtest's results
/      filter the markets shown (empty: all)
?      this help
q      quit"""

# in grid order: the summary and the equity curve, P&L per market and per day, the positions
# left open and the last fills across the screen
BACKTEST_PANELS = (
    ("summary", "Summary"),
    ("equity", "Equity curve"),
    ("markets", "P&L per market"),
    ("days", "Per day, exits"),
    ("left", "Left open at the end"),
    ("fills", "Last fills (the run's state file)"),
)


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def render_summary(view: BacktestView) -> RenderableType:
    from kalshi_cli.backtest.report import failed, failure_line, num, pct, state_change

    t = view.totals
    table = FitTable("", "")
    failure = failed(view.report)
    if failure is not None:  # first: a failed run's figures are not the strategy's
        table.add_row("FAILED", note_text(failure_line(failure), "bold red"))
    # every change of the trading state, before the figures: they are those of a loop that
    # traded as it could after each
    for change in view.report.get("trading_states") or []:
        table.add_row("trading state", note_text(state_change(change), "bold yellow"))
    amounts = ("net", "realized", "settled", "marked", "fees", "start_balance", "end_equity")
    places = money_places(_dec(t.get(k)) for k in (*amounts, "max_drawdown", "max_exposure"))
    net, realized, settled, marked = (money_cell(_dec(t.get(k)), places) for k in amounts[:4])
    fees, start, end = (fmt_money(_dec(t.get(k)), places=places) for k in amounts[4:])
    table.add_row("net P&L", net)
    table.add_row("realized", realized)
    table.add_row("settled", settled)
    table.add_row("marked", marked)
    table.add_row("fees", fees)
    table.add_row("start balance", start)
    table.add_row("end equity", end)
    table.add_row("fills / orders", f"{t.get('fills', 0)} / {t.get('orders', 0)}")
    table.add_row("trades (won)", f"{t.get('round_trips', 0)} ({t.get('wins', 0)})")
    table.add_row("win rate", pct(t.get("win_rate")))
    table.add_row(
        "max drawdown",
        f"{fmt_money(_dec(t.get('max_drawdown')), places=places)} "
        f"({pct(t.get('max_drawdown_share'))})",
    )
    st = view.report.get("statistics") or {}
    per = (st.get("returns") or {}).get("basis", "trade")
    table.add_row("Sharpe / Sortino", f"{num(t.get('sharpe'))} / {num(t.get('sortino'))} per {per}")
    table.add_row("max exposure", fmt_money(_dec(t.get("max_exposure")), places=places))
    if st and not st.get("conclusive"):
        # why, in full, is in the text report's NOTE lines and --json's statistics.notes
        table.add_row("conclusive", note_text("no (see notes)", "bold yellow"))
    return table


def render_equity(view: BacktestView) -> RenderableType:
    curve = view.report.get("equity") or []
    if not curve:
        return note_text("no equity sample")
    first, last = curve[0], curve[-1]
    start, end = float(first[0]), float(last[0])  # unix seconds of the samples
    places = money_places([Decimal(first[1]), Decimal(last[1])])
    return Text(
        f"{len(curve)} samples, {time_cell(start)} -> {time_cell(end)} UTC: "
        f"{fmt_money(Decimal(first[1]), places=places)} -> "
        f"{fmt_money(Decimal(last[1]), places=places)}"
    )


def render_markets(view: BacktestView, flt: str) -> RenderableType:
    markets = view.report.get("markets") or {}
    traded = {k: m for k, m in markets.items() if m.get("fills")}
    if not traded:
        return note_text("no market traded")
    table = FitTable("market", "net", "realized", "settled", "marked", "fees", "fills")
    shown = [(ticker, m) for ticker, m in sorted(traded.items()) if flt in ticker.upper()]
    gains = ("net", "realized", "settled", "marked")
    places = money_places(_dec(m.get(k)) for _, m in shown for k in (*gains, "fees"))
    for ticker, m in shown:
        table.add_row(
            ticker,
            *(money_cell(_dec(m.get(k)), places) for k in gains),
            fmt_money(_dec(m.get("fees")), places=places),
            str(m.get("fills", 0)),
        )
    return table


def render_left_open(view: BacktestView, flt: str) -> RenderableType:
    left = view.report.get("left_open") or []
    if not left:
        return note_text("no position left open at the end")
    table = FitTable("market", "qty", "entry", "bid", "mid", "marked")
    shown = [p for p in left if flt in str(p.get("ticker", "")).upper()]
    prices = ("average_entry", "mark_bid", "mark_mid")
    places = money_places(_dec(p.get(k)) for p in shown for k in (*prices, "marked"))
    for p in shown:
        table.add_row(
            str(p.get("ticker")),
            count_cell(_dec(p.get("position"))),
            *(fmt_money(_dec(p.get(k)), places=places) for k in prices),
            money_cell(_dec(p.get("marked")), places),
        )
    return table


def render_days(view: BacktestView) -> RenderableType:
    days = view.report.get("by_day") or {}
    table = FitTable("day", "P&L", "fees", "fills")
    places = money_places(_dec(b.get(k)) for b in days.values() for k in ("realized", "fees"))
    for day, b in sorted(days.items()):
        table.add_row(
            day,
            money_cell(_dec(b.get("realized")), places),
            fmt_money(_dec(b.get("fees")), places=places),
            str(b.get("fills")),
        )
    exits = view.report.get("exit_reasons") or {}
    line = ", ".join(f"{k} {v}" for k, v in sorted(exits.items())) or "none"
    return Group(table, Text(f"exits: {line}"))


class BacktestHelp(HelpScreen):
    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(
                Text.assemble(("kalshi dashboard --backtest: keys\n\n", "bold"), BACKTEST_HELP)
            )


class BacktestApp(PanelApp):
    """`kalshi dashboard --backtest RESULT`: a finished backtest's results, read-only."""

    TITLE = "kalshi dashboard - BACKTEST"
    CSS = (
        PANEL_CSS
        + """
    #grid { grid-size: 3 4; grid-columns: 1fr 1fr 1fr; grid-rows: 17 1fr 7 1fr; height: 1fr; }
    #equity-box, #markets { column-span: 2; }
    #left, #fills { column-span: 3; }
    #equity-box { border: round $primary; padding: 0 1; height: 100%; }
    #equity-chart { height: 1fr; margin-top: 1; }
    BacktestHelp, FilterScreen { align: center middle; }
    """
    )
    help_screen = BacktestHelp
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "not_a_loop('p')", "pause"),
        Binding("h", "not_a_loop('h')", "halt"),
        Binding("k", "not_a_loop('k')", "kill switch"),
        *PANEL_KEYS,
    ]

    def __init__(self, view: BacktestView) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        yield Static(id="top")
        yield from panel_grid(BACKTEST_PANELS, chart="equity")
        yield Footer()

    def on_mount(self) -> None:
        self._lay_out(self.size.width)
        self.render_panels()

    def render_panels(self) -> None:
        view, flt = self.view, self.market_filter.upper()
        spec = view.report.get("spec") or {}
        data = view.report.get("data") or {}
        from kalshi_cli.backtest.report import failed

        top = Text.assemble(
            (" BACKTEST ", "bold reverse cyan"),
            (" FAILED ", "bold reverse red") if failed(view.report) else "",
            f"  {spec.get('strategy', '?')} on {data.get('path', spec.get('data', '?'))}",
            f"  fill model {spec.get('fill_model', '?')}, latency {spec.get('latency_ms', 0)} ms",
            f"  {view.source}",
            (f"  filter: {self.market_filter}" if self.market_filter else "", "bold cyan"),
            (f"  {self.message}" if self.message else "", "bold"),
        )
        self._set("top", top)
        self._set("summary", render_summary(view))
        self._set("equity", render_equity(view))
        self._set("markets", render_markets(view, flt))
        self._set("left", render_left_open(view, flt))
        fills = (
            fills_table(view.fills, flt) if view.fills else note_text(view.fills_note or "no fill")
        )
        self._set("fills", fills)
        self._set("days", render_days(view))
        chart = self.query_one("#equity-chart", Sparkline)
        chart.data = self.equity_points()

    def equity_points(self) -> list[float]:  # pixels, not money
        return [float(e) for _, e, _ in self.view.report.get("equity") or []]  # pixels

    def action_not_a_loop(self, key: str) -> None:
        self.message = f"{key}: {NOT_A_LOOP}"
        self.render_panels()

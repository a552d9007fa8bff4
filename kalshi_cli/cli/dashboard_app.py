"""The Textual app behind `kalshi dashboard`: it renders `kalshi_cli.dashboard` snapshots and
handles the keys; it gathers nothing itself.

The local panels refresh every `refresh_s` on the UI thread; the exchange is asked every `remote_s`
on a worker thread, so a slow exchange never freezes the screen (the remote panels keep their last
values with their age, or say why they are empty).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Sparkline, Static

from kalshi_cli.cli._panels import PANEL_CSS, PANEL_KEYS, PanelApp
from kalshi_cli.cli.dashboard_panels import (
    STATE_STYLE,
    age_text,
    kill_report_text,
    render_alerts,
    render_checks,
    render_denials,
    render_fills,
    render_health,
    render_orders,
    render_pnl,
    render_positions,
    render_trading,
)
from kalshi_cli.dashboard import actions
from kalshi_cli.dashboard.snapshot import (
    LocalSnapshot,
    RemoteSnapshot,
    Sources,
    local_snapshot,
    remote_snapshot,
)
from kalshi_cli.services.reconcile import DEFAULT_READ_LAG_S
from kalshi_cli.vocabulary.clock import utc_datetime
from kalshi_cli.vocabulary.exit_codes import ExitCode

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.dashboard.snapshot import DashboardFeed
    from kalshi_cli.vocabulary.clock import Clock

KILL_WORD = "KILL"
HELP = """\
p   pause / resume new orders (the trade loop's pause file)
h   halt trading (as `kalshi halt`; `kalshi resume` lifts it)
k   kill switch: halt, cancel every resting order, prove none is left
    (as `kalshi cancel-all`; asks you to type KILL first). On a PAPER screen: halts the
    paper loop, which cancels the orders of its own venue; nothing goes to the exchange
/   filter the markets shown (empty: all)
?   this help
q   quit (the trade loop is not touched); while the kill switch runs, once it has its
    report, which is printed when the screen closes

Local panels (state file, pause file, trade log) refresh every second; the exchange's panels
every few seconds, and say why when the exchange cannot be reached."""


@dataclass
class Wiring:
    """What the app reads and acts on; the command builds it from the settings."""

    sources: Sources
    clock: Clock
    client: KalshiClient | None = None
    no_client_reason: str = "no API key: the exchange's panels need credentials"
    feed: DashboardFeed | None = None
    on_tickers: Callable[[Sequence[str]], None] | None = None  # markets to watch in the feed
    refresh_s: float = 1.0
    remote_s: float = 5.0
    kill_deadline_s: float = 60.0
    # how long a read of orders may lag a write (the `read_lag` setting, as `kalshi cancel-all`
    # reads it): the kill switch's proof listing waits that long after its cancels
    read_lag_s: float = DEFAULT_READ_LAG_S


# ------------------------------------------------------------------------------ screens


class ConfirmKill(ModalScreen[bool]):
    """The kill switch asks for the word, typed."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, *, paper: bool = False) -> None:
        super().__init__()
        self.paper = paper

    def compose(self) -> ComposeResult:
        what = (
            (
                "Halts the PAPER loop and has it cancel EVERY paper order of its own venue, "
                "then list again until none is left. Nothing is sent to the exchange.\n"
            )
            if self.paper
            else (
                "Halts trading, cancels EVERY resting order of this account, then lists "
                "again until none is left (as `kalshi cancel-all`).\n"
            )
        )
        with Vertical(id="dialog"):
            yield Static(
                Text.assemble(
                    ("PAPER KILL SWITCH\n" if self.paper else "KILL SWITCH\n", "bold red"),
                    what,
                    f"Type {KILL_WORD} and Enter to go on; Escape to go back.",
                )
            )
            yield Input(placeholder=KILL_WORD, id="kill-word")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() == KILL_WORD)

    def action_cancel(self) -> None:
        self.dismiss(False)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "close"),
        Binding("question_mark", "close", "close"),
        Binding("q", "close", "close"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text.assemble(("kalshi dashboard: keys\n\n", "bold"), HELP))

    def action_close(self) -> None:
        self.dismiss(None)


# ------------------------------------------------------------------------------ the app


def panel_grid(panels: Iterable[tuple[str, str]], chart: str) -> ComposeResult:
    """A dashboard screen's grid of titled panels (`#grid`), in grid order: each panel a
    `Static` of its key and class `panel`, except `chart`, a box (`#{chart}-box`) of its text
    (`#{chart}`) above a sparkline (`#{chart}-chart`). The live and the backtest screens build
    theirs with it; each screen's CSS lays the grid out."""
    with Grid(id="grid"):
        for key, title in panels:
            if key == chart:
                with Vertical(id=f"{chart}-box") as box:
                    box.border_title = title
                    yield Static(id=chart)
                    yield Sparkline([], id=f"{chart}-chart")
            else:
                panel = Static(id=key, classes="panel")
                panel.border_title = title
                yield panel


# in grid order: three columns, the wide tables spanning two
PANELS = (
    ("trading", "Trading state"),
    ("health", "Heartbeat and feed"),
    ("pnl", "P&L today"),
    ("positions", "Positions"),
    ("checks", "Checks"),
    ("fills", "Last fills"),
    ("denials", "Risk denials by code (trade log)"),
    ("orders", "Resting orders"),
    ("alerts", "Last alerts"),
)


class DashboardApp(PanelApp):
    TITLE = "kalshi dashboard"
    CSS = (
        PANEL_CSS
        + """
    #grid { grid-size: 3 4; grid-columns: 1fr 1fr 1fr; grid-rows: 9 1fr 1fr 1fr; height: 1fr; }
    #positions, #fills, #orders { column-span: 2; }
    #pnl-box { border: round $primary; padding: 0 1; height: 100%; }
    #pnl-chart { height: 3; margin-top: 1; }
    #kill { height: auto; max-height: 9; border: round red; padding: 0 1; display: none; }
    ConfirmKill, HelpScreen, FilterScreen { align: center middle; }
    """
    )
    help_screen = HelpScreen
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause", "pause/resume"),
        Binding("h", "halt", "halt"),
        Binding("k", "kill", "kill switch"),
        *PANEL_KEYS,
    ]

    def __init__(self, wiring: Wiring) -> None:
        super().__init__()
        self.wiring = wiring
        self.local: LocalSnapshot | None = None
        self.remote: RemoteSnapshot | None = None
        self.kill_text: str | None = None
        self._remote_busy = False
        self._kill_paper = False  # the confirmed kill is a paper loop's
        self._kill_running = False  # a kill switch is out: another would cancel a second time
        self._leaving = threading.Event()  # a paper kill stops waiting for its loop
        # the kill switch's report outlives the screen (`kill_report_unseen`): set by its
        # worker, whether or not the screen is still there to show it
        self._kill_report: str | None = None
        self._kill_proven = False  # the last kill switch's report was PROVEN
        self._kill_ended = threading.Event()
        self._kill_started = False
        self._kill_seen = False  # its report reached a screen that stays open
        self._quit_after_kill = False  # q pressed while it ran

    # -------------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield Static(id="top")
        yield from panel_grid(PANELS, chart="pnl")
        kill = Static(id="kill")
        kill.border_title = "Kill switch"
        yield kill
        yield Footer()

    def on_unmount(self) -> None:
        self._leaving.set()

    def on_mount(self) -> None:
        self._lay_out(self.size.width)
        self.refresh_local()
        self.refresh_remote()
        self.set_interval(self.wiring.refresh_s, self.refresh_local)
        self.set_interval(self.wiring.remote_s, self.refresh_remote)

    # -------------------------------------------------------------------- data

    def refresh_local(self) -> None:
        self.local = local_snapshot(self.wiring.sources, self.wiring.clock)
        self.render_panels()

    def refresh_remote(self) -> None:
        if self._remote_busy:
            return  # the last question is still out: never pile requests on a slow exchange
        self._remote_busy = True
        self.run_worker(self._ask_exchange, thread=True, group="remote")

    def _ask_exchange(self) -> None:
        w = self.wiring
        try:
            snap = remote_snapshot(
                w.sources, w.client, w.clock, feed=w.feed, no_client_reason=w.no_client_reason
            )
        finally:
            self._remote_busy = False
        if w.on_tickers is not None and snap.error is None:
            w.on_tickers(snap.tickers)
        self.call_from_thread(self._got_remote, snap)

    def _got_remote(self, snap: RemoteSnapshot) -> None:
        self.remote = snap
        self.render_panels()

    # -------------------------------------------------------------------- drawing

    def render_panels(self) -> None:
        local, remote, flt = self.local, self.remote, self.market_filter.upper()
        if local is None:
            return
        try:
            self.query_one("#top", Static)
        except NoMatches:
            return  # closing: an answer from the exchange that lands now has no panel to go to
        badge = local.env.upper()
        self._mark_paper(local.paper)
        top = Text.assemble(
            (" PAPER ", "bold reverse yellow") if local.paper else "",
            (f" {badge} ", "bold reverse red" if badge == "PROD" else "bold reverse"),
            (f"  {local.trading.state}", STATE_STYLE.get(local.trading.state, "bold")),
            f"  {utc_datetime(local.at).strftime('%Y-%m-%d %H:%M:%S')} UTC",
            f"  state {local.state_path}",
            (f"  filter: {self.market_filter}" if self.market_filter else "", "bold cyan"),
            (f"  {self.message}" if self.message else "", "bold"),
        )
        if remote is not None and remote.error is None:
            top.append(f"  exchange read {age_text(local.at - remote.at)} ago", style="dim")
        self._set("top", top)
        self._set("trading", render_trading(local))
        self._set("health", render_health(local, remote, flt))
        self._set("pnl", render_pnl(local, remote))
        self._set("positions", render_positions(remote, flt))
        self._set("orders", render_orders(remote, flt))
        self._set("fills", render_fills(local, remote, flt))
        self._set("denials", render_denials(local, flt))
        self._set("checks", render_checks(local, remote))
        self._set("alerts", render_alerts(local))
        chart = self.query_one("#pnl-chart", Sparkline)
        chart.data = [float(v) for _, v in local.pnl.series]  # pixels, not money
        kill = self.query_one("#kill", Static)
        if self.kill_text is not None:
            kill.display = True
            self._set("kill", Text(self.kill_text, style=_kill_style(self.kill_text)))

    def _mark_paper(self, paper: bool) -> None:
        """A paper loop's screen says PAPER in its title and on its trading panel, so it is
        never taken for a live loop's; the exchange's panels are the account's, not its."""
        title = f"{self.TITLE} - PAPER" if paper else self.TITLE
        if self.title == title:
            return
        self.title = title
        trading = self.query_one("#trading", Static)
        trading.border_title = "Trading state - PAPER (no real orders)" if paper else PANELS[0][1]
        for key, name in PANELS:
            if key in ("positions", "orders"):
                panel = self.query_one(f"#{key}", Static)
                panel.border_title = (
                    f"{name} (the account's, not the paper loop's)" if paper else name
                )

    # -------------------------------------------------------------------- keys

    def action_pause(self) -> None:
        pause_file = self.wiring.sources.pause_file
        if pause_file is None:
            self.message = "no pause file configured"
        else:
            try:
                paused = actions.toggle_pause(pause_file)
            except OSError as exc:
                self.message = f"pause file NOT changed: {exc.strerror or exc}: {pause_file}"
            else:
                self.message = "new orders PAUSED" if paused else "new orders resumed"
                if not paused and self.local is not None and self.local.trading.paused_by_signal:
                    # the file is gone, but the loop's own pause is the signal's to lift
                    self.message = (
                        "pause file removed; the loop is still PAUSED by SIGUSR1: "
                        "`kill -USR1` its process to resume"
                    )
        self.refresh_local()

    def action_halt(self) -> None:
        # on a worker: the state file may be another writer's for seconds (`kalshi halt` waits
        # for its lock as long), and the screen must keep refreshing meanwhile
        self.message = "halting: writing HALTED to the state file..."
        self.render_panels()
        self.run_worker(self._run_halt, thread=True, group="halt")

    def _run_halt(self) -> None:
        from kalshi_cli.vocabulary.errors import KalshiError

        try:
            actions.halt(self.wiring.sources.state_path)
        except KalshiError as exc:
            said = f"HALT NOT recorded: {exc.one_line()}"
        else:
            said = "HALTED: `kalshi resume` lifts it"
        if not self._leaving.is_set():  # a screen closed meanwhile has no line to say it on
            self.call_from_thread(self._said, said)

    def _said(self, message: str) -> None:
        self.message = message
        self.refresh_local()

    def action_kill(self) -> None:
        if self._kill_running:
            self.message = "kill switch already running: its panel shows its progress"
            self.render_panels()
            return
        if self.local is not None and self.local.paper:
            # the paper loop has no order on the exchange, and the account's real ones may be a
            # live loop's: the paper loop cancels its own, through its state file
            self._kill_paper = True
            self.push_screen(ConfirmKill(paper=True), self._kill_confirmed)
            return
        self._kill_paper = False
        if self.wiring.client is None:
            self.message = f"kill switch needs the exchange: {self.wiring.no_client_reason}"
            self.render_panels()
            return
        self.push_screen(ConfirmKill(), self._kill_confirmed)

    def _kill_confirmed(self, confirmed: bool | None) -> None:
        if not confirmed:
            self.message = "kill switch not run (the word was not typed)"
            self.render_panels()
            return
        self._kill_running = True
        self._kill_started, self._kill_seen = True, False
        self._kill_report = None
        self._kill_proven = False
        self._kill_ended.clear()
        self.kill_text = "running: halting, cancelling, proving..."
        self.render_panels()
        if self._kill_paper:
            self.query_one("#kill", Static).border_title = "Kill switch - PAPER loop"
            self.run_worker(self._run_paper_kill, thread=True, group="kill")
        else:
            self.run_worker(self._run_kill, thread=True, group="kill")

    def _run_kill(self) -> None:
        w = self.wiring
        assert w.client is not None
        progress: list[str] = []

        def say(line: str) -> None:
            progress.append(line)
            self.call_from_thread(self._kill_progress, "\n".join(progress[-4:]))

        try:
            report = actions.kill(
                w.client,
                w.sources.state_path,
                w.clock,
                deadline_s=w.kill_deadline_s,
                read_lag_s=w.read_lag_s,
                on_progress=say,
            )
            text = self._kill_report = kill_report_text(report)
            self._kill_proven = report.proven
        finally:
            self._kill_ended.set()
        if not self._leaving.is_set():  # a screen closed meanwhile: the command prints it
            self.call_from_thread(self._kill_done, text)

    def _run_paper_kill(self) -> None:
        w = self.wiring

        def say(line: str) -> None:
            self.call_from_thread(self._kill_progress, line)

        try:
            report = actions.paper_kill(
                w.sources.state_path,
                w.clock,
                deadline_s=w.kill_deadline_s,
                on_progress=say,
                stop=self._leaving,
            )
            text = self._kill_report = "\n".join(report.lines())
            self._kill_proven = report.proven
        finally:
            self._kill_ended.set()
        if not self._leaving.is_set():  # a screen closed meanwhile: the command prints it
            self.call_from_thread(self._kill_done, text)

    def _kill_progress(self, text: str) -> None:
        self.kill_text = text
        self.render_panels()

    def _kill_done(self, text: str) -> None:
        self._kill_running = False
        self.kill_text = text
        if self._quit_after_kill:
            self.exit()  # the report goes to the terminal the screen leaves (`kill_report_unseen`)
            return
        self._kill_seen = True
        self.message = "kill switch done: see its proof below"
        self.refresh_local()
        self.refresh_remote()

    async def action_quit(self) -> None:
        """q (and ctrl+q). While a kill switch runs, the screen stays until it has its
        report: closing now would take with it whether the kill was PROVEN, which is what the
        trader pressed k to learn."""
        if not self._kill_running:
            self.exit()
            return
        self._quit_after_kill = True
        self.message = (
            "leaving once the kill switch has its report (printed when the screen closes)"
        )
        self.render_panels()

    def kill_report_unseen(self) -> str | None:
        """Once the screen has closed: the report of a kill switch it closed before showing,
        for the command to print (waits for one still running). None when none ran, or the
        screen showed its report and stayed open."""
        if not self._kill_started or self._kill_seen:
            return None
        self._kill_ended.wait()
        return self._kill_report

    def kill_exit_code(self) -> ExitCode:
        """What the command exits with once the screen has closed: NOT_PROVEN when the last
        kill switch run from it did not prove that no order is left (as `kalshi cancel-all`),
        OK when none ran or the last was PROVEN. Waits for one still running."""
        if not self._kill_started:
            return ExitCode.OK
        self._kill_ended.wait()
        return ExitCode.OK if self._kill_proven else ExitCode.NOT_PROVEN


def _kill_style(text: str) -> str:
    if "NOT PROVEN" in text:
        return "bold red"
    if "PROVEN" in text:
        return "bold green"
    return ""


def panel_ids() -> Iterable[str]:
    return ("top", *(key for key, _ in PANELS), "kill")


def describe(app: DashboardApp) -> dict[str, Any]:
    """Every panel's text, keyed by id."""
    return {key: app.panel_text(key) for key in panel_ids()}

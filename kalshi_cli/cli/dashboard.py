"""`kalshi dashboard`: a live, full-screen view of a running trade loop. Textual is imported inside
the command; `kalshi_cli.dashboard.snapshot` gathers what `dashboard_app` draws.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kalshi_cli.cli._context import current
from kalshi_cli.cli._options import EnvOpt, StateOpt, number_option
from kalshi_cli.vocabulary.errors import UsageError
from kalshi_cli.vocabulary.exit_codes import ExitCode

if TYPE_CHECKING:
    from kalshi_cli.cli._context import AppContext
    from kalshi_cli.cli.dashboard_app import Wiring
    from kalshi_cli.dashboard.snapshot import Sources
    from kalshi_cli.feed import MarketData


def dashboard_command(
    *,
    refresh: Annotated[
        float,
        number_option("--refresh", "Seconds between redraws of the local panels.", min=0.2, max=60),
    ] = 1.0,
    remote: Annotated[
        float,
        number_option(
            "--remote-every",
            "Seconds between questions to the exchange (positions, orders, checks).",
            min=1,
            max=600,
        ),
    ] = 5.0,
    state: StateOpt = None,
    env: EnvOpt = None,
    backtest: Annotated[
        Path | None,
        typer.Option(
            "--backtest",
            help="Show a finished backtest's results instead, read-only: the directory of "
            "`kalshi backtest --out DIR`, or a file of its --json.",
        ),
    ] = None,
) -> None:
    """A live dashboard of a running bot, full screen, over SSH too.

    Trading state and why, the subaccount the loop trades, heartbeat and feed age, today's P&L
    with a chart, positions, resting orders, the last fills with slippage and model_fair, risk
    denials by code, the checks and the last alerts. Keys: p pause/resume, h halt, k kill switch
    (type KILL), / filter, ? help, q quit. Without credentials or an exchange, the local panels
    keep working and the others say why. Exits 11 when the last kill switch run from it was NOT
    PROVEN, as `kalshi cancel-all` does.

    With --backtest RESULT: a backtest's summary, equity curve, P&L per market, last fills and
    positions left open; p, h and k do not apply.

    Example: kalshi dashboard --env prod
    """
    from kalshi_cli.cli.dashboard_app import DashboardApp

    if backtest is not None:
        from kalshi_cli.cli.dashboard_backtest import BacktestApp
        from kalshi_cli.dashboard.backtest import load_backtest
        from kalshi_cli.vocabulary.clock import SystemClock

        result = load_backtest(backtest, SystemClock())
        _need_terminal("for a script: `kalshi backtest runs show RUN --json`")
        BacktestApp(result).run()
        return
    _need_terminal("for a script: `kalshi status --json`, `kalshi positions --json`, `kalshi pnl`")
    app = current()
    if state is not None:
        app.state = state
    wiring, feed = build_wiring(app, env.value if env else None, refresh_s=refresh, remote_s=remote)
    if feed is not None:
        feed.start()
    dashboard = DashboardApp(wiring)
    try:
        dashboard.run()
    finally:
        if feed is not None:
            feed.stop()
        # a kill switch's report the screen closed over: whether it was PROVEN must not go
        # with the screen
        unseen = dashboard.kill_report_unseen()
        if unseen is not None:
            app.output().line(f"kill switch (from the dashboard):\n{unseen}")
    # a kill switch NOT PROVEN exits as `kalshi cancel-all` does, so a wrapper can tell
    code = dashboard.kill_exit_code()
    if code is not ExitCode.OK:
        raise typer.Exit(int(code))


def _need_terminal(instead: str) -> None:
    """A full-screen app on a pipe or under cron draws escape codes until it is killed."""
    import sys

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("kalshi dashboard draws a full screen and needs a terminal", hint=instead)


def build_wiring(
    app: AppContext,
    env: str | None,
    *,
    refresh_s: float = 1.0,
    remote_s: float = 5.0,
) -> tuple[Wiring, MarketData | None]:
    """What the screen reads: the sources from the config file, the client when there are
    credentials, and the dashboard's own WebSocket feed (not started: the caller starts and
    stops it) whose markets follow the positions and orders the exchange reports."""
    from kalshi_cli.cli.dashboard_app import Wiring
    from kalshi_cli.vocabulary.clock import SystemClock
    from kalshi_cli.vocabulary.errors import CredentialsError

    settings = app.settings(env)
    # the badge names the money at stake: prod on Kalshi's production host, whatever `env` names
    sources = load_sources(app, app.own_state(), settings.money_env)
    wiring = Wiring(
        sources=sources,
        clock=SystemClock(),
        refresh_s=refresh_s,
        remote_s=remote_s,
        read_lag_s=settings.read_lag,
    )
    feed = None
    try:
        wiring.client = app.client(auth=True)
    except CredentialsError as exc:
        wiring.no_client_reason = f"no exchange panels: {exc.one_line()}"
    else:
        feed = _own_feed(app)
        if feed is not None:
            wiring.feed = feed
            wiring.on_tickers = feed.add_markets
    return wiring, feed


def load_sources(app: AppContext, state_path: Path, env: str) -> Sources:
    """Where the dashboard looks, from the config file as `kalshi trade` and `kalshi check`
    read it: the pause file and trade log of the loop, the position limit, the thresholds."""
    from kalshi_cli.checks.run import load_sections
    from kalshi_cli.checks.thresholds import resolve
    from kalshi_cli.dashboard.snapshot import Sources, is_paper
    from kalshi_cli.risk.engine import RiskLimits
    from kalshi_cli.runner.config import load_trade_config

    config_path = app.settings().config_path
    sections = load_sections(config_path)
    trade = load_trade_config(config_path)
    paper = is_paper(state_path)  # a paper session's state file: its own pause file and log
    return Sources(
        state_path=state_path,
        env=env,
        pause_file=trade.loop_path("pause_file", state_path, paper=paper),
        log_path=trade.loop_path("log_file", state_path, paper=paper),
        limit=RiskLimits.from_config(sections["risk"]).max_position_per_market,
        thresholds=resolve(sections["checks"]),
        risk_section=dict(sections["risk"]),
    )


def _own_feed(app: AppContext) -> MarketData | None:
    """The dashboard's own WebSocket feed, for the data age of each market it shows; markets are
    added as positions and orders appear. None without a WebSocket address."""
    from kalshi_cli.client.signing import KalshiAuth
    from kalshi_cli.feed import MarketData

    connection = app.connection(auth=True)
    if connection.ws_url is None or connection.key_id is None or connection.private_key is None:
        return None
    # it reads books, freshness and data ages, never the messages: it keeps none, or a
    # dashboard left open would hold the account's order updates and fills up to the bound
    return MarketData(
        [],
        ws_url=connection.ws_url,
        auth=KalshiAuth(connection.key_id, connection.private_key),
        max_messages=0,
    )

"""`kalshi trade`: the trading loop, with its risk controls (kalshi_cli.runner)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kalshi_cli.cli._context import current
from kalshi_cli.cli._options import EnvOpt

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.metrics import Family, LoopTelemetry


def register(app: typer.Typer) -> None:
    app.command("trade")(trade_command)


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(t.strip() for t in (text or "").split(",") if t.strip())


def trade_command(
    *,
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            help="spike, mean_reversion, arbitrage or market_maker.",
            show_default=False,
        ),
    ],
    markets: Annotated[
        str | None,
        typer.Option("--markets", help="Comma-separated tickers to trade.", show_default=False),
    ] = None,
    series: Annotated[
        str | None,
        typer.Option("--series", help="Every open market of a series.", show_default=False),
    ] = None,
    event: Annotated[
        str | None,
        typer.Option("--event", help="Every open market of an event.", show_default=False),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Log signals and risk verdicts; send nothing.")
    ] = False,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit (for cron).")] = False,
    duration: Annotated[
        float | None,
        typer.Option("--duration", help="Stop after this many seconds.", show_default=False),
    ] = None,
    max_ticks: Annotated[
        int | None, typer.Option("--max-ticks", help="Stop after N ticks.", show_default=False)
    ] = None,
    live: Annotated[
        bool, typer.Option("--live", help="Required on prod: place real orders.")
    ] = False,
    log_file: Annotated[
        Path | None,
        typer.Option(
            "--log-file",
            help="JSON-lines log. [default: trade.log by the state file]",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Serve Prometheus metrics (from the state file) on 127.0.0.1:PORT/metrics.",
            min=1,
            max=65535,
            show_default=False,
        ),
    ] = None,
    env: EnvOpt = None,
) -> None:
    """Run the trading loop: a strategy on live market data, every order through the risk rules.

    Example: kalshi trade --strategy spike --duration 60
    """
    from kalshi_cli.client.signing import KalshiAuth
    from kalshi_cli.errors import UsageError
    from kalshi_cli.metrics import LoopTelemetry
    from kalshi_cli.runner import (
        CLIENT_RETRY_BUDGET_S,
        Selection,
        TradeOptions,
        load_trade_config,
        trade,
    )
    from kalshi_cli.runner.lock import acquire

    if sum(1 for x in (markets, series, event) if x) > 1:
        raise UsageError("give at most one of --markets, --series and --event")
    options = TradeOptions(
        strategy=strategy,
        selection=Selection(_split(markets), series, event),
        dry_run=dry_run,
        once=once,
        duration_s=duration,
        max_ticks=max_ticks,
        live=live,
        log_file=log_file,
    )
    app = current()
    settings = app.settings(env.value if env else None)
    # every section of the file checked before a client exists: a mistake is refused unsent
    config = load_trade_config(settings.config_path)
    client = app.client(auth=True, retry_budget_s=CLIENT_RETRY_BUDGET_S)
    connection = app.connection(auth=True)
    assert connection.key_id is not None and connection.private_key is not None
    # before anything is read, written or served: one loop per state file and account, the
    # locks held until this process ends (a dry run sends nothing, so it locks only its file)
    account = None if dry_run else f"{connection.key_id}@{connection.api_base}"
    with acquire(settings.state, account=account, now=time.time()):  # float-ok: wall time
        telemetry: LoopTelemetry | None = None
        stop_metrics: Callable[[], None] | None = None
        if metrics_port:
            telemetry = LoopTelemetry()
            stop_metrics = _serve_metrics(metrics_port, settings.state, client, telemetry)
        try:
            trade(
                options,
                env=settings.env,
                state_path=settings.state,
                config=config,
                client=client,
                ws_url=connection.ws_url,
                signer=KalshiAuth(connection.key_id, connection.private_key),
                telemetry=telemetry,
            )
        finally:
            if stop_metrics is not None:
                stop_metrics()


def _serve_metrics(
    port: int, state_path: Path, client: KalshiClient, telemetry: LoopTelemetry
) -> Callable[[], None]:
    """Metrics from the state file, opened read-only on each scrape, and what this process
    counted in memory (its client's requests, its loop's denials and feed ages): the scrape
    thread never sends a request with the loop's client nor uses its store connection (the
    exchange's figures come from the `kalshi metrics --textfile` cron job)."""
    from kalshi_cli.metrics import Collector, api_families, serve_metrics

    def process() -> list[Family]:
        return [*api_families(client.stats.snapshot()), *telemetry.families()]

    server = serve_metrics(port, Collector(state_path, extra=process).collect)
    typer.echo(f"metrics on {server.url}", err=True)
    return server.stop

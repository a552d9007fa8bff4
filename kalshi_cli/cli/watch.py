"""`kalshi watch CHANNEL`: stream a WebSocket channel as NDJSON (kalshi_cli/data/watch.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from kalshi_cli.cli._context import current
from kalshi_cli.cli._options import EnvOpt, FiniteFloat


def register(app: typer.Typer) -> None:
    app.command("watch")(watch_command)


def watch_command(
    channel: Annotated[
        str,
        typer.Argument(
            help="orderbook, ticker, trades, fills, orders, positions or lifecycle.",
            show_default=False,
        ),
    ],
    *,
    tickers: Annotated[
        str | None,
        typer.Option(
            "--tickers",
            "--ticker",
            "--markets",
            help="Comma-separated market tickers (required for orderbook; others: all markets).",
            show_default=False,
        ),
    ] = None,
    max_events: Annotated[
        int | None,
        typer.Option(
            "--max-events", min=1, help="Stop after this many messages.", show_default=False
        ),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration",
            parser=FiniteFloat(min=0),
            help="Stop after this many seconds (0 or more).",
            show_default=False,
        ),
    ] = None,
    env: EnvOpt = None,
) -> None:
    """Stream a WebSocket channel as NDJSON, one message per line.

    Each message is printed exactly as the exchange sent it; reconnects, resubscriptions and
    sequence gaps are reported on stderr, one line each.

    Example: kalshi watch orderbook --tickers KXBTCD-SIM-T97000 --max-events 1 > book.jsonl
    """
    import sys

    from kalshi_cli.client.signing import KalshiAuth
    from kalshi_cli.data.watch import Watcher, check_tickers, ws_url_for

    app = current()
    app.settings(env.value if env else None)
    connection = app.connection(auth=True)
    assert connection.key_id is not None and connection.private_key is not None
    named = [t for t in (tickers or "").split(",") if t]
    if named:  # an unknown ticker or an unreachable exchange ends here, not in the feed
        check_tickers(app.client(), named)
    watcher = Watcher(
        channel,
        named,
        ws_url=ws_url_for(connection.ws_url, connection.api_base),
        auth=KalshiAuth(connection.key_id, connection.private_key),
        out=sys.stdout,
        err=sys.stderr,
        max_events=max_events,
    )
    try:
        watcher.run(duration_s=duration)
    except KeyboardInterrupt:  # Ctrl-C is how a stream is stopped: not an error
        watcher.feed.stop()

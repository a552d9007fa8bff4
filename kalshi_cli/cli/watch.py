"""`kalshi watch CHANNEL`: stream a WebSocket channel as NDJSON (kalshi_cli/data/watch.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from kalshi_cli.cli._context import begin, stream_access
from kalshi_cli.cli._options import DurationOpt, EnvOpt, index_option, tickers_option
from kalshi_cli.vocabulary.names import names_in


def watch_command(
    channel: Annotated[
        str,
        typer.Argument(
            help="orderbook, ticker, trades, fills, orders, positions, lifecycle, "
            "cfbenchmarks, cfbenchmarks5hz or pyth."
        ),
    ],
    *,
    tickers: Annotated[
        str | None,
        tickers_option(
            "Comma-separated market tickers (required for orderbook; others: all markets)."
        ),
    ] = None,
    index: Annotated[
        str | None,
        index_option(
            "Comma-separated index IDs for cfbenchmarks and cfbenchmarks5hz (e.g. BRTI), "
            "underlying tickers for pyth (default: every one).",
        ),
    ] = None,
    list_ids: Annotated[
        bool,
        typer.Option(
            "--list", help="First print which index IDs (or underlyings) the channel offers."
        ),
    ] = False,
    max_events: Annotated[
        int | None, typer.Option("--max-events", min=1, help="Stop after this many messages.")
    ] = None,
    duration: DurationOpt = None,
    env: EnvOpt = None,
) -> None:
    """Stream a WebSocket channel as NDJSON, one message per line.

    Each message is printed exactly as the exchange sent it; reconnects, resubscriptions and
    sequence gaps are reported on stderr, one line each. The reference index channels
    (cfbenchmarks, cfbenchmarks5hz, pyth) follow --index instead of markets.

    Example: kalshi watch orderbook --tickers KXBTCD-SIM-T97000 --max-events 1 > book.jsonl
    """
    import sys

    from kalshi_cli.data.watch import Watcher, check_tickers

    app, _ = begin(env)
    ws_url, auth = stream_access(app)
    named = names_in(tickers)
    if named:  # an unknown ticker or an unreachable exchange ends here, not in the feed
        check_tickers(app.client().markets, named)
    watcher = Watcher(
        channel,
        named,
        ws_url=ws_url,
        auth=auth,
        out=sys.stdout,
        err=sys.stderr,
        max_events=max_events,
        index_ids=names_in(index),
        list_ids=list_ids,
    )
    try:
        watcher.run(duration_s=duration)
    except KeyboardInterrupt:  # Ctrl-C is how a stream is stopped: not an error
        watcher.feed.stop()

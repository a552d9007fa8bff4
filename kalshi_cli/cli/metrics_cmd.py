"""`kalshi metrics`: Prometheus metrics, printed or written for node_exporter's textfile
collector (kalshi_cli.services.metrics)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kalshi_cli.cli._context import begin
from kalshi_cli.cli._options import EnvOpt


def metrics_command(
    textfile: Annotated[
        Path | None,
        typer.Option(
            "--textfile",
            help="Write here, atomically, instead of printing (a .prom file in node_exporter's "
            "--collector.textfile.directory).",
            dir_okay=False,
        ),
    ] = None,
    no_exchange: Annotated[
        bool,
        typer.Option(
            "--no-exchange",
            help="Only the state file: no balance, exposure or latency; positions as its fills "
            "add them up.",
        ),
    ] = False,
    env: EnvOpt = None,
) -> None:
    """Write Prometheus metrics for node_exporter's textfile collector.

    Balance, exposure, positions and API latency from the exchange; daily P&L, orders placed and
    rejected, fills, risk trips, trading state and the last heartbeat from the state file (and
    the positions, with --no-exchange). A
    source that cannot be read is reported as kalshi_source_up 0 (and on stderr) and the rest is
    still written. Metric names: docs/metrics.md.

    Example: kalshi metrics --textfile /var/lib/node_exporter/textfile/kalshi.prom
    """
    from kalshi_cli.services.metrics import Collector, write_textfile

    app, _ = begin(env)
    collector = Collector(app.own_state(), client=None if no_exchange else app.client)
    text = collector.collect()
    for problem in collector.problems:
        app.warn(problem)
    if textfile is None:
        typer.echo(text, nl=False)
    else:
        write_textfile(textfile, text)

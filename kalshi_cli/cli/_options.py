"""Options shared by many commands, declared once as `Annotated` aliases.

A command takes `as_json: JsonOpt = False, fmt: FormatOpt = None` and gets the same flag name,
help text and validation as every other command. The global `--env`, `--config` and `--state`
sit on the root (`kalshi --env demo balance`); `--env` is also accepted after a command
(`kalshi balance --env demo`), where it wins over the root one.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kalshi_cli.cli._output import TableFormat


class Environment(StrEnum):
    SIM = "sim"
    DEMO = "demo"
    PROD = "prod"


JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print JSON in the stable shape documented in docs/output.md.",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    TableFormat | None,
    typer.Option(
        "--format",
        "-f",
        help="Output format: table (default on a terminal), plain (default in a pipe), "
        "csv or markdown.",
        case_sensitive=False,
        show_default=False,
    ),
]
EnvOpt = Annotated[
    Environment | None,
    typer.Option(
        "--env",
        help="Exchange environment: sim (local simulator, the default), demo or prod. "
        "[env: KALSHI_ENV]",
        case_sensitive=False,
        show_default=False,
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Config file. [env: KALSHI_CONFIG; default: config.yaml in the user config dir]",
        dir_okay=False,
        show_default=False,
    ),
]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state",
        help="State file of this environment. [env: KALSHI_STATE]",
        dir_okay=False,
        show_default=False,
    ),
]
YesOpt = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Do not ask for confirmation.", show_default=False),
]
LimitOpt = Annotated[
    int,
    typer.Option("--limit", "-n", min=1, help="At most this many rows."),
]
TickerArg = Annotated[str, typer.Argument(help="Market ticker, e.g. KXBTCD-25DEC31-T100000.")]
SubaccountOpt = Annotated[
    int | None,
    typer.Option(
        "--subaccount",
        min=0,
        max=63,
        help="Subaccount number (0 is the primary account, 1-63 numbered ones).",
        show_default=False,
    ),
]

"""`kalshi sim serve`: run the Kalshi-compatible simulator in the foreground."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from kalshi_cli.cli._context import current
from kalshi_cli.cli._options import FiniteFloat

sim_app = typer.Typer(
    name="sim",
    help="The local Kalshi-compatible exchange simulator.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def register(app: typer.Typer) -> None:
    app.add_typer(sim_app)


def parse_balance(text: str) -> int:
    """Dollars (e.g. 1000 or 250.50) -> whole cents; anything else is a usage error."""
    from kalshi_cli.models import dollars_to_cents

    try:
        dollars = Decimal(text)
        if not dollars.is_finite():
            raise ValueError(text)
        cents = dollars_to_cents(dollars)
    except (InvalidOperation, ValueError):
        raise typer.BadParameter(
            f"{text!r} is not an amount in dollars and cents", param_hint="--balance"
        ) from None
    if cents < 0:
        raise typer.BadParameter("must not be negative", param_hint="--balance")
    return cents


@sim_app.command("serve")
def serve_command(
    *,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 = any free one).")] = 8765,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            file_okay=False,
            help="Exchange state directory. [default: the sim data_dir setting]",
            show_default=False,
        ),
    ] = None,
    scenario: Annotated[
        str, typer.Option(help="Builtin scenario (default, quiet, empty) or a YAML file.")
    ] = "default",
    speed: Annotated[
        float,
        typer.Option(
            parser=FiniteFloat(min=0.0),
            help="Scenario clock speed (2 = twice real time; at least 0).",
        ),
    ] = 1.0,
    tier: Annotated[
        str,
        typer.Option(help="Rate-limit tier: basic, advanced, expert, premier, paragon, prime..."),
    ] = "basic",
    balance: Annotated[
        str, typer.Option(help="Starting cash of the default account, in dollars.")
    ] = "1000",
) -> None:
    """Serve the simulator over HTTP and WebSocket until Ctrl-C. Other `kalshi` processes use it
    with KALSHI_API_BASE=http://HOST:PORT/trade-api/v2 and the key it prints.

    Example: kalshi sim serve --port 8765 --scenario quiet --speed 10
    """
    from kalshi_cli.config import TIERS
    from kalshi_cli.connection import serve_simulator

    if tier not in TIERS:
        raise typer.BadParameter(f"must be one of {', '.join(TIERS)}", param_hint="--tier")
    balance_cents = parse_balance(balance)
    serve_simulator(
        current().settings("sim"),
        host=host,
        port=port,
        data_dir=data_dir,
        scenario=scenario,
        speed=speed,
        tier=tier,
        balance_cents=balance_cents,
    )

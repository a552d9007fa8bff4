"""`kalshi sim`: serve the Kalshi-compatible simulator in the foreground, and see or stop the
background simulator commands start on demand."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kalshi_cli.cli._context import current
from kalshi_cli.cli._options import JsonOpt, directory, non_empty_text, number_option
from kalshi_cli.cli.app import command_group

DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        parser=directory,
        help="Exchange state directory. [default: the sim data_dir setting]",
    ),
]

sim_app = command_group("sim")


@sim_app.command("serve")
def serve_command(
    *,
    host: Annotated[
        str,
        # refused blank: an empty host listens on every interface, not on none
        typer.Option(parser=non_empty_text, help="Interface to listen on."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 = any free one).")] = 8765,
    data_dir: DataDirOpt = None,
    scenario: Annotated[
        str,
        typer.Option(
            help="Builtin scenario (default, quiet, empty, crypto, shards, zero_fee) "
            "or a YAML file."
        ),
    ] = "default",
    speed: Annotated[
        float,
        number_option("--speed", "Scenario clock speed (2 = twice real time).", min=0),
    ] = 1.0,
    tier: Annotated[
        str,
        typer.Option(help="Rate-limit tier: basic, advanced, expert, premier, paragon, prime..."),
    ] = "basic",
    balance: Annotated[
        str, typer.Option(help="Starting cash of the default account, in dollars.")
    ] = "1000",
) -> None:
    """Serve the simulator over HTTP and WebSocket until Ctrl-C.

    It prints its default account as JSON on stdout, and on stderr the `export` lines another
    shell needs to use it: KALSHI_ENV, KALSHI_API_BASE, KALSHI_WS_URL, KALSHI_API_KEY_ID and
    KALSHI_PRIVATE_KEY_PATH. In that shell, `eval "$(kalshi sim env --data-dir DIR)"` sets them
    too.

    Example: kalshi sim serve --port 8765 --scenario quiet --speed 10
    """
    from kalshi_cli.cli.orders import parse_cents
    from kalshi_cli.config import TIERS
    from kalshi_cli.services.connection import serve_simulator

    if tier not in TIERS:
        raise typer.BadParameter(f"must be one of {', '.join(TIERS)}", param_hint="--tier")
    balance_cents = parse_cents(balance, "--balance", allow_zero=True)  # 0 too
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


@sim_app.command("status")
def status_command(*, data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Say whether a simulator serves the data directory: its pid, mode (background,
    foreground), endpoints and idle stop; or why its last start failed, and what to do.

    Example: kalshi sim status --json
    """
    from kalshi_cli.sim.server.embed import simulator_status

    app = current()
    status = simulator_status(data_dir or app.settings("sim").data_dir)
    out = app.output(as_json=as_json)
    if as_json:
        out.json(status)
        return
    if not status["running"]:
        failed = status.get("start_failed")
        why = f"; its last start failed: {failed}" if failed else ""
        out.line(f"no simulator serves {status['data_dir']}{why}")
        return
    idle = status["idle_stop_s"]
    out.line(
        f"{status['mode']} simulator (pid {status['pid']}) serves {status['data_dir']} at "
        f"{status['api_base']}" + (f"; stops after {idle:g} s without a client" if idle else "")
    )


@sim_app.command("stop")
def stop_command(*, data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Stop the simulator serving the data directory (it finishes what is in flight and keeps
    its state for the next start). Nothing running is not an error.

    Example: kalshi sim stop
    """
    from kalshi_cli.services.connection import stop_simulator

    app = current()
    stopped = stop_simulator(app.settings("sim"), data_dir)
    out = app.output(as_json=as_json)
    out.result(
        {"stopped": stopped is not None, "pid": stopped and stopped["pid"]},
        "no simulator was running"
        if stopped is None
        else f"stopped the simulator (pid {stopped['pid']}) of {stopped['data_dir']}",
    )


@sim_app.command("env")
def env_command(*, data_dir: DataDirOpt = None) -> None:
    """Print the `export` lines that point another shell at the simulator serving the data
    directory (KALSHI_ENV, KALSHI_API_BASE, KALSHI_WS_URL, KALSHI_API_KEY_ID,
    KALSHI_PRIVATE_KEY_PATH), starting it in the background if none does. In a shell:
    eval "$(kalshi sim env)".

    Example: kalshi sim env
    """
    from kalshi_cli.services.connection import simulator_exports

    app = current()
    app.output(as_json=False).line(simulator_exports(app.settings("sim"), data_dir))

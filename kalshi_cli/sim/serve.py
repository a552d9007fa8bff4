"""`kalshi sim serve`: the simulator in the foreground, until Ctrl-C or SIGTERM.

It prints the default account (the four keys of `account.json`) as JSON on stdout once the
socket is bound, so a script can read where to connect and with which key.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kalshi_cli.sim.embed import DEFAULT_BALANCE_CENTS, prepare, release


def serve(  # noqa: PLR0917 (the positional signature the CLI calls)
    host: str = "127.0.0.1",
    port: int = 0,
    data_dir: Path | str = "sim-data",
    scenario: str | Path | None = None,
    speed: float = 1.0,
    tier: str = "basic",
    balance_cents: int = DEFAULT_BALANCE_CENTS,
) -> None:
    """Blocking. Raises `embed.SimulatorBusy` if another simulator serves `data_dir`."""
    prepared = prepare(
        Path(data_dir),
        host=host,
        port=port,
        scenario=scenario if scenario is not None else "default",
        speed=speed,
        tier=tier,
        balance_cents=balance_cents,
        log_level="info",
    )
    try:
        sys.stdout.write(json.dumps(prepared.account.to_json(), indent=2) + "\n")
        sys.stdout.flush()
        prepared.server.run(sockets=[prepared.sock])
    finally:
        release(prepared)

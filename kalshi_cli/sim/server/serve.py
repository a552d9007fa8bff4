"""`kalshi sim serve`: the simulator in the foreground, until Ctrl-C or SIGTERM. It prints the
default account as JSON on stdout once the socket is bound and the `export` lines that point
`kalshi` in another shell at it on stderr, and, since the process is the simulator's own, tunes
the cyclic garbage collector for latency (`GC_THRESHOLDS`).
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

from kalshi_cli.sim.server.embed import DEFAULT_BALANCE_CENTS, prepare, release

# (young, middle, old): a young collection every 20,000 net allocations instead of 700.
GC_THRESHOLDS = (20_000, 50, 100)


def tune_gc() -> None:
    """Freeze what is alive now out of cyclic collection and collect the young less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


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
        mode="foreground",
    )
    try:
        tune_gc()
        sys.stdout.write(json.dumps(prepared.account.to_json(), indent=2) + "\n")
        sys.stdout.flush()
        sys.stderr.write(
            "# in another shell, to use this simulator:\n" + prepared.account.exports() + "\n"
        )
        sys.stderr.flush()
        prepared.server.run(sockets=[prepared.sock])
    finally:
        release(prepared)

"""`kalshi trade` around the loop: the locks, the metrics endpoint, then `session.trade`.

Before anything else the process takes the locks of its state file and of its account
(`lock.acquire`; a dry run locks only its file) until the loop ends. With a metrics port, Prometheus
metrics are served from the state file (opened read-only per scrape) and from this process's
in-memory counters; the scrape thread never uses the loop's client or store connection.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kalshi_cli.vocabulary.errors import UsageError

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.client.pacing import TierSetting
    from kalshi_cli.runner.config import TradeConfig, TradeOptions
    from kalshi_cli.services.connection import ResolvedConnection
    from kalshi_cli.services.metrics import Family, LoopTelemetry
    from kalshi_cli.store import Store


def run_trade(
    options: TradeOptions,
    *,
    env: str,
    state_path: Path,
    config: TradeConfig,
    client: KalshiClient,
    connection: ResolvedConnection,
    metrics_port: int | None,
    announce: Callable[[str], None],
    read_lag_s: float,
    bind: Callable[[Store], None] | None = None,
    tier: TierSetting | None = None,
) -> None:
    """Lock, serve metrics if asked (`announce` tells where), and run the loop to its end.
    `bind` binds the state file to the exchange endpoint and account once it is open; `tier`:
    the `tier` setting (`session.trade`)."""
    from kalshi_cli.client.signing import KalshiAuth
    from kalshi_cli.runner.lifecycle.lock import acquire
    from kalshi_cli.runner.lifecycle.running import reload_signal
    from kalshi_cli.runner.lifecycle.session import trade
    from kalshi_cli.runner.loop.state_fault import refused_by_state_file
    from kalshi_cli.store import StoreError
    from kalshi_cli.store.errors import is_state_failure

    assert connection.key_id is not None and connection.private_key is not None
    # a dry run and a paper session send no order: they lock only their own file
    sends = not (options.dry_run or options.paper)
    account = f"{connection.key_id}@{connection.api_base}" if sends else None
    now = time.time()  # wall time
    with (
        reload_signal() as reload,
        acquire(state_path, account=account, now=now, subaccount=options.subaccount) as lock,
    ):

        def opened(store: Store) -> None:
            # the file as its path names it once open: the one claimed unless it was replaced
            # in between, which is then refused or locked too
            lock.holds_state(store.identity)
            if bind is not None:
                bind(store)

        telemetry: LoopTelemetry | None = None
        stop_metrics: Callable[[], None] | None = None
        if metrics_port:
            from kalshi_cli.services.metrics import LoopTelemetry

            telemetry = LoopTelemetry()
            stop_metrics = _serve_metrics(metrics_port, state_path, client, telemetry, announce)
        try:
            trade(
                options,
                env=env,
                state_path=state_path,
                config=config,
                client=client,
                ws_url=connection.ws_url,
                signer=KalshiAuth(connection.key_id, connection.private_key),
                read_lag_s=read_lag_s,
                telemetry=telemetry,
                bind=opened,
                reload=reload,
                tier=tier,
                claim=lock.holds_state,
            )
        except StoreError as exc:
            # the loop itself turns a failure while it trades into StateFileFailed; one here
            # came before its first order or after its last was cancelled
            if not is_state_failure(exc):
                raise
            raise refused_by_state_file(exc) from exc
        finally:
            if stop_metrics is not None:
                stop_metrics()


def _serve_metrics(
    port: int,
    state_path: Path,
    client: KalshiClient,
    telemetry: LoopTelemetry,
    announce: Callable[[str], None],
) -> Callable[[], None]:
    from kalshi_cli.services.metrics import Collector, api_families, serve_metrics

    def process() -> list[Family]:
        return [*api_families(client.stats.snapshot()), *telemetry.families()]

    try:
        server = serve_metrics(port, Collector(state_path, extra=process).collect)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise UsageError(
            f"--metrics-port {port}: another program listens there; nothing was traded",
            hint="choose another port, or stop what holds it (`ss -ltnp` names it)",
        ) from exc
    announce(f"metrics on {server.url}")
    return server.stop

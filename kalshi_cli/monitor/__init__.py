"""The checks behind `kalshi check NAME`, built on the framework in `kalshi_cli.checks`.

Each check is a function that looks once and returns a `CheckResult`. They come in two kinds,
kept in separate modules so a cron check pays only for what it reads:

- `local`: heartbeat, feed, orders and pnl read only the state file, opened read-only. They
  never import httpx or cryptography, so `kalshi check heartbeat` starts about as fast as Python
  with Typer does.
- `remote`: positions, exposure and api ask the exchange, because there the exchange is the
  truth. They are a second guard beside the trade loop's own bookkeeping, so they deliberately do
  not trust the state file.

`run` wires a check to its inputs (settings, thresholds, the state file, the client) and to the
alert router; `thresholds` holds every number a check compares against, with its default.
"""

from __future__ import annotations

LOCAL_CHECKS = ("heartbeat", "feed", "orders", "pnl")
REMOTE_CHECKS = ("positions", "exposure", "api")
CHECK_NAMES = ("positions", "pnl", "heartbeat", "orders", "exposure", "api", "feed")

"""The signed Kalshi client: client.py for the client and its areas, connection.py for how a
request travels.

The order request shapes (`CreateOrder`, `CreateOrderResult`, `CancelResult`, from `requests`)
are exported here too, imported on first use: a command that only reads never loads them.
"""

from typing import TYPE_CHECKING, Any

from kalshi_cli.client.client import KalshiClient
from kalshi_cli.client.ratelimit import TIERS, BucketLimit, TierLimits

if TYPE_CHECKING:
    from kalshi_cli.client.requests import CancelResult, CreateOrder, CreateOrderResult

__all__ = [
    "TIERS",
    "BucketLimit",
    "CancelResult",
    "CreateOrder",
    "CreateOrderResult",
    "KalshiClient",
    "TierLimits",
]


def __getattr__(name: str) -> Any:
    if name in ("CancelResult", "CreateOrder", "CreateOrderResult"):
        from kalshi_cli.client import requests

        return getattr(requests, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

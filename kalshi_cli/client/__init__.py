"""The signed Kalshi client; see base.py for how a request travels, client.py for the API areas.

The order request shapes (`CreateOrder`, `CreateOrderResult`, `CancelResult`, from `requests`)
are exported here too but load on first use: a client that only reads generates none of their
dataclasses.
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

_REQUESTS = frozenset({"CancelResult", "CreateOrder", "CreateOrderResult"})


def __getattr__(name: str) -> Any:
    if name in _REQUESTS:
        from kalshi_cli.client import requests

        return getattr(requests, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The signed Kalshi client: client.py for the client and its areas, connection.py for how a
request travels.

The order request shapes (`CreateOrder`, `CreateOrderResult`, `CancelResult`, from `requests`)
are exported here too.
"""

from kalshi_cli.client.client import KalshiClient
from kalshi_cli.client.ratelimit import TIERS, BucketLimit, TierLimits
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

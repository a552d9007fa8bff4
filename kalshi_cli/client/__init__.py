"""The signed Kalshi client: client.py for the client and its areas, connection.py for how a
request travels. Every other name is imported from the module that defines it (the order request
shapes from `requests`, the rate-limit tiers from `ratelimit`).
"""

from kalshi_cli.client.client import KalshiClient

__all__ = ["KalshiClient"]

"""KalshiClient: the one synchronous, signed client every command and the trade loop share.

It is the transport of `base.py` (how a request travels: read it first) with every area of the
API on top, one module each (`markets.py`, `portfolio.py`, `trading.py`, `queue.py`,
`historical.py`, `order_groups.py`, ...). A new area of the API is a new module with a
`ClientBase` subclass, added to the bases below.

Every area is imported by every process that builds a client, with the Structs its calls
answer with (msgspec builds a Struct class without generating code, so they cost next to
nothing at start).
"""

from __future__ import annotations

from kalshi_cli.client.api_keys import ApiKeysApi
from kalshi_cli.client.base import LANDING_WINDOW_S, SIGNATURE_WINDOW_S, ClientBase
from kalshi_cli.client.batch_orders import BatchOrdersApi
from kalshi_cli.client.communications import CommunicationsApi
from kalshi_cli.client.exchange import ExchangeDataApi
from kalshi_cli.client.historical import HistoricalApi
from kalshi_cli.client.markets import MarketDataApi
from kalshi_cli.client.order_groups import OrderGroupsApi
from kalshi_cli.client.portfolio import PortfolioApi
from kalshi_cli.client.queue import QueueApi
from kalshi_cli.client.subaccounts import SubaccountsApi
from kalshi_cli.client.trading import TradingApi

__all__ = ["LANDING_WINDOW_S", "SIGNATURE_WINDOW_S", "ClientBase", "KalshiClient"]


class KalshiClient(
    MarketDataApi,
    PortfolioApi,
    TradingApi,
    QueueApi,
    HistoricalApi,
    OrderGroupsApi,
    ExchangeDataApi,
    BatchOrdersApi,
    SubaccountsApi,
    ApiKeysApi,
    CommunicationsApi,
):
    """Signed access to the Kalshi trade API v2 (or the simulator, which speaks the same)."""

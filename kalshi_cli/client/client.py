"""KalshiClient: the one synchronous, signed client every command and the trade loop share. It
has one `Connection` (connection.py: how a request travels) and an object per area of the API
over it, one module each, named for openapi.yaml's tags, each method named for its operation
there. See docs/library.md "The client" (the areas, subaccounts, `on_subaccount` for a client
another thread uses) and "How a request travels".
"""

from __future__ import annotations

import copy
import importlib
from typing import TYPE_CHECKING, Generic, Self, TypeVar, Unpack, overload

from kalshi_cli.client.connection import (
    LANDING_WINDOW_S,
    SIGNATURE_WINDOW_S,
    Connection,
    ConnectionOptions,
)
from kalshi_cli.client.stats import ApiStats

if TYPE_CHECKING:
    from kalshi_cli.client.api_keys import ApiKeysApi
    from kalshi_cli.client.communications import CommunicationsApi
    from kalshi_cli.client.exchange import ExchangeApi
    from kalshi_cli.client.historical import HistoricalApi
    from kalshi_cli.client.markets import MarketsApi
    from kalshi_cli.client.order_groups import OrderGroupsApi
    from kalshi_cli.client.orders import OrdersApi
    from kalshi_cli.client.portfolio import PortfolioApi
    from kalshi_cli.client.subaccounts import KeyMemory, SubaccountsApi

__all__ = ["LANDING_WINDOW_S", "SIGNATURE_WINDOW_S", "KalshiClient"]

A = TypeVar("A")


class _LazyArea(Generic[A]):
    """An area of the client: on first use, its module (`kalshi_cli.client.NAME`, the attribute's
    name) is imported and the class named here built over the client's connection, then kept
    on the client until `_attach` forgets it."""

    def __init__(self, class_name: str) -> None:
        self._class_name = class_name
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, client: None, owner: type) -> Self: ...
    @overload
    def __get__(self, client: KalshiClient, owner: type) -> A: ...
    def __get__(self, client: KalshiClient | None, owner: type) -> A | Self:
        if client is None:
            return self
        module = importlib.import_module(f"kalshi_cli.client.{self._name}")
        area: A = getattr(module, self._class_name)(client.connection)
        client.__dict__[self._name] = area
        return area


class KalshiClient:
    """Signed access to the Kalshi trade API v2 (or the simulator, which speaks the same)."""

    # the key's restriction as `own_subaccount` found it: (n,) or (None,) once asked, None before
    _key_subaccount: tuple[int | None] | None = None
    key_memory: KeyMemory | None = None
    """Where `own_subaccount` looks before asking the exchange, and keeps what it learns."""

    def __init__(self, *, api_base: str, **options: Unpack[ConnectionOptions]) -> None:
        """`options`: those of `Connection`. `rate_limits` overrides the tier's published
        budgets (e.g. with what `exchange.get_account_limits()` reported); `rng` makes the retry
        jitter reproducible."""
        self._attach(Connection(api_base=api_base, **options))

    def _attach(self, connection: Connection) -> None:
        """Every area over `connection`: the areas built over another one are forgotten."""
        self.connection = connection
        for area in AREAS:
            self.__dict__.pop(area, None)

    # Each area's module is imported, and the area built, on its first use: `kalshi markets`
    # imports none of the order, portfolio, key or RFQ modules (docs/benchmarks.md, "Cold
    # starts"). An area holds nothing but the connection, so building it twice is harmless.
    exchange: _LazyArea[ExchangeApi] = _LazyArea("ExchangeApi")
    markets: _LazyArea[MarketsApi] = _LazyArea("MarketsApi")
    portfolio: _LazyArea[PortfolioApi] = _LazyArea("PortfolioApi")
    orders: _LazyArea[OrdersApi] = _LazyArea("OrdersApi")
    order_groups: _LazyArea[OrderGroupsApi] = _LazyArea("OrderGroupsApi")
    subaccounts: _LazyArea[SubaccountsApi] = _LazyArea("SubaccountsApi")
    historical: _LazyArea[HistoricalApi] = _LazyArea("HistoricalApi")
    api_keys: _LazyArea[ApiKeysApi] = _LazyArea("ApiKeysApi")
    communications: _LazyArea[CommunicationsApi] = _LazyArea("CommunicationsApi")

    def __repr__(self) -> str:
        return f"KalshiClient(api_base={self.api_base!r}, authenticated={self.authenticated})"

    @property
    def api_base(self) -> str:
        return self.connection.api_base

    @property
    def authenticated(self) -> bool:
        return self.connection.authenticated

    @property
    def stats(self) -> ApiStats:
        """Every attempt's latency and outcome by endpoint family, for `trade --metrics-port`."""
        return self.connection.stats

    @property
    def last_latency_ms(self) -> float | None:
        return self.connection.last_latency_ms

    @property
    def subaccount(self) -> int | None:
        """The subaccount every portfolio and order call acts on; None: the exchange's
        defaults (client/subaccount_scope.py)."""
        return self.connection.subaccount

    @subaccount.setter
    def subaccount(self, subaccount: int | None) -> None:
        self.connection.subaccount = subaccount

    def own_subaccount(self, *, strict: bool = False) -> int | None:
        """The subaccount an order or read naming none acts on: `subaccount` when set; else the one
        this API key is restricted to (GET /api_keys), 0 for an unrestricted key. None when it
        cannot be told: the caller then reads unnamed. `strict` (the trade loop's start): an
        exchange that could not answer raises instead, nothing cached. Asked at most once per
        client, not at all when `key_memory` recalls it; only a known answer is kept there."""
        if self.subaccount is not None:
            return self.subaccount
        if self._key_subaccount is None:
            self._key_subaccount = (self._key_restriction(strict),)
        return self._key_subaccount[0]

    def _key_restriction(self, strict: bool) -> int | None:
        own_key = self.connection.key_id
        if own_key is None:
            return None
        memory = self.key_memory
        known = memory.recall(own_key) if memory is not None else None
        if known is not None:
            return known
        restriction = self._listed_restriction(own_key, strict)
        if memory is not None and restriction is not None:
            memory.keep(own_key, restriction)
        return restriction

    def _listed_restriction(self, own_key: str, strict: bool) -> int | None:
        from kalshi_cli.vocabulary.errors import (
            KalshiError,
            RateLimitedError,
            ServerError,
            TransportError,
        )

        try:
            # decoded as the API key area lists them: a `subaccount` outside the spec's shape
            # (an integer or null) makes the listing unreadable, so the restriction unknown
            keys = self.api_keys.list_api_keys()
        except (TransportError, RateLimitedError, ServerError):
            # not an unknown restriction: an exchange that cannot be traded with now (after the
            # retries); a strict caller gets its error and exit code, and nothing is cached
            if strict:
                raise
            return None
        except KalshiError:
            return None
        rows = [k for k in keys if k.api_key_id == own_key]
        if len(rows) != 1:
            return None
        restriction = rows[0].subaccount
        return 0 if restriction is None else restriction

    def on_subaccount(self, subaccount: int | None) -> Self:
        """This client acting on `subaccount` (None: the exchange's defaults), as a second
        handle: it shares the connection, the rate limits and the stats, and this client keeps
        acting on what it did, whatever thread is using it. Close this client, never the
        handle (closing either closes the shared connection)."""
        handle = copy.copy(self)
        handle._attach(self.connection.on_subaccount(subaccount))
        return handle

    def close(self) -> None:
        """Close the connection (and so every handle `on_subaccount` made of this client)."""
        self.connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# the names of the client's areas
AREAS = tuple(name for name, v in vars(KalshiClient).items() if isinstance(v, _LazyArea))

"""KalshiClient: the one synchronous, signed client every command and the trade loop share.

Each request goes through the same four steps:

1. The rate limiter takes the request's tokens from the read or write bucket, waiting if the
   bucket is short, so bursts are paced before the exchange has to refuse them (ratelimit.py).
2. httpx sends it with explicit timeouts; `KalshiAuth` signs every attempt afresh.
3. The answer is turned into a value or a typed error from `kalshi_cli.errors`: an error status
   becomes the `ApiError` subclass for it, a failure to get any answer becomes a one-line
   `TransportError` naming the host.
4. The retry policy (retry.py) decides from the error and the request's `Resend` mode whether to
   try again: reads and cancels are retried; amend and decrease only when the exchange certainly
   did not act; creating an order never is. An order whose fate is unclear (timeout, dropped
   connection, 5xx such as 503, a 2xx without an `order_id` or with an `error` object) raises
   `OrderOutcomeUnknown` with its `client_order_id`, to be resolved with
   `find_order_by_client_id`, never by sending it again (an amend: `AmendOutcomeUnknown`).
   Such a request can still land until its signature leaves the exchange's acceptance window:
   `LANDING_WINDOW_S` below.

Lists follow cursors through pagination.py. Responses are parsed into the tolerant models of
`kalshi_cli.models`: unknown fields are ignored, prices and counts are `Decimal`.
"""

from __future__ import annotations

import os
import random
import ssl
from collections.abc import Callable, Iterator
from decimal import Decimal
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from kalshi_cli import __version__
from kalshi_cli.client.pagination import paginate
from kalshi_cli.client.ratelimit import RateLimiter, TierLimits, tier_limits
from kalshi_cli.client.requests import (
    CancelResult,
    CreateOrder,
    CreateOrderResult,
    check_count,
    check_price,
)
from kalshi_cli.client.retry import Resend, RetryPolicy, nothing_sent
from kalshi_cli.client.signing import KalshiAuth
from kalshi_cli.client.stats import ApiStats
from kalshi_cli.clock import Clock, SystemClock
from kalshi_cli.errors import (
    AmendOutcomeUnknown,
    ApiError,
    AuthError,
    CredentialsError,
    KalshiError,
    NotFoundError,
    OrderOutcomeUnknown,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
)
from kalshi_cli.keys import PrivateKey
from kalshi_cli.models import (
    ZERO,
    Balance,
    BookSide,
    ExchangeStatus,
    Fill,
    Market,
    Order,
    Orderbook,
    Position,
    Settlement,
    Trade,
    fmt_count,
    fmt_dollars,
)

T = TypeVar("T")
Params = dict[str, str | int | None]

REACHABILITY_HINT = "is the exchange reachable? `kalshi health-check`"
BATCH_CANCEL_MAX = 20  # the documented batch size; the write bucket may lower it
MARKETS_PAGE_MAX = 1000
EVENTS_PAGE_MAX = 200
PORTFOLIO_PAGE_MAX = 1000
# The exchange acts on a signed request only while its KALSHI-ACCESS-TIMESTAMP is within this
# many seconds of its own clock: the simulator's window (sim/auth.py DEFAULT_WINDOW_S; a test
# keeps this at least as long); Kalshi's is shorter (5 s accepted, 30 s refused: REFERENCE.md,
# "Observed on the real wire").
SIGNATURE_WINDOW_S = 30.0
# An order request whose answer was lost may still land until this long after the failure was
# seen (which is after it was signed): the window, plus a margin for this machine's clock
# running ahead of the exchange's (`kalshi health-check` fails at 5 s) and for a request signed
# after its intent was written (the rate limiter's wait). Until then it is never called "never
# placed".
LANDING_MARGIN_S = 10.0
LANDING_WINDOW_S = SIGNATURE_WINDOW_S + LANDING_MARGIN_S


_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy"})


def _tls_for(base: httpx.URL) -> ssl.SSLContext | bool:
    """What the client verifies TLS with: for an https base, httpx's default (the certifi CA
    bundle, certificates and host names checked), unchanged.

    A plain-http base (the simulator on loopback) sends nothing over TLS, yet httpx would load
    the CA bundle anyway: 40-70 ms of a command's cold start (docs/benchmarks.md). It gets a
    context that trusts no certificate at all (certificates and host names still required), so
    that if anything ever did reach TLS through this client it would fail closed, never be
    trusted blindly. The one way TLS can still be reached from an http base is a proxy from the
    environment (an https:// proxy URL): with any proxy variable set, the default stays.
    """
    if base.scheme != "http" or any(name.lower() in _PROXY_VARIABLES for name in os.environ):
        return True
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class KalshiClient:
    """Signed access to the Kalshi trade API v2 (or the simulator, which speaks the same)."""

    def __init__(
        self,
        *,
        api_base: str,
        key_id: str | None = None,
        private_key: PrivateKey | None = None,
        tier: str = "basic",
        timeout: float = 10.0,
        max_attempts: int = 4,
        max_retry_seconds: float = 20.0,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = f"kalshi-cli/{__version__}",
        rate_limits: TierLimits | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """`rate_limits` overrides the tier's published budgets (e.g. with what
        `get_account_limits()` reported); `rng` makes the retry jitter reproducible."""
        if (key_id is None) != (private_key is None):
            raise CredentialsError(
                "a key id needs its private key, and a private key needs its key id",
                hint="set both KALSHI_API_KEY_ID and the private key, or neither",
            )
        self.api_base = api_base.rstrip("/")
        base = httpx.URL(self.api_base)
        self.host = base.netloc.decode("ascii")
        self._clock = clock or SystemClock()
        self._auth = (
            KalshiAuth(key_id, private_key, clock=self._clock)
            if key_id is not None and private_key is not None
            else None
        )
        self._timeout = timeout
        # full URLs and no empty params: httpx merging a base URL or an empty query costs
        # about 12 microseconds each per request (benchmarks/bench_client.py)
        self._http = httpx.Client(
            auth=self._auth,
            timeout=httpx.Timeout(connect=timeout, read=timeout, write=timeout, pool=timeout),
            transport=transport,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            follow_redirects=False,
            verify=_tls_for(base),
        )
        self._limiter = RateLimiter(rate_limits or tier_limits(tier), self._clock)
        self._retry = RetryPolicy(max_attempts=max_attempts, max_seconds=max_retry_seconds)
        self._rng = rng or random.Random()
        self.last_latency_ms: float | None = None
        # every attempt's latency and outcome by endpoint family, for `trade --metrics-port`
        self.stats = ApiStats()

    def __repr__(self) -> str:
        return f"KalshiClient(api_base={self.api_base!r}, authenticated={self.authenticated})"

    @property
    def authenticated(self) -> bool:
        return self._auth is not None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KalshiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------
    # transport

    def _send_once(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        items: int = 1,
        what: str,
        signed: bool = True,
    ) -> httpx.Response:
        self._limiter.acquire(method, path, items=items)
        query = {k: v for k, v in params.items() if v is not None} if params else None
        started = self._clock.monotonic()
        try:
            response = self._http.request(
                method,
                self.api_base + path,
                params=query or None,
                json=json,
                auth=httpx.USE_CLIENT_DEFAULT if signed else None,
            )
        except httpx.RequestError as exc:
            self.stats.record(method, path, None, None)
            raise TransportError(
                f"{what}: no answer from {self.host}: {self._reason(exc)}", hint=REACHABILITY_HINT
            ) from exc
        elapsed = self._clock.monotonic() - started
        self.last_latency_ms = elapsed * 1000.0
        self.stats.record(method, path, response.status_code, elapsed)
        if response.is_success:
            return response
        if response.status_code == 429:
            self._limiter.rate_limited(method, path)
        raise self._api_error(response, what)

    def _reason(self, exc: httpx.RequestError) -> str:
        if isinstance(exc, httpx.ConnectTimeout):
            return f"connecting timed out after {self._timeout:g}s"
        if isinstance(exc, httpx.TimeoutException):
            return f"no response within {self._timeout:g}s"
        text = " ".join(str(exc).split())
        return text or type(exc).__name__

    @staticmethod
    def _api_error(response: httpx.Response, what: str) -> ApiError:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        error = ApiError.from_response(response.status_code, body, what=what)
        if isinstance(error, AuthError) and error.code == "header_timestamp_expired":
            error.hint = "this machine's clock may be off; `kalshi health-check` measures the skew"
        return error

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        items: int = 1,
        mode: Resend = Resend.ALWAYS,
        auth: bool = False,
        signed: bool = True,
    ) -> httpx.Response:
        what = f"{method} {path}"
        if auth:
            self._require_key(what)
        return self._retry.run(
            lambda: self._send_once(
                method, path, params=params, json=json, items=items, what=what, signed=signed
            ),
            mode=mode,
            clock=self._clock,
            rng=self._rng,
            what=what,
        )

    def _require_key(self, what: str) -> None:
        if self._auth is None:
            raise CredentialsError(
                f"{what} needs an API key and none is configured",
                hint="set KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH, or use --env sim",
            )

    @staticmethod
    def _body(response: httpx.Response) -> dict[str, Any]:
        what = f"{response.request.method} {response.request.url.path}"
        try:
            data = response.json()
        except ValueError:
            raise KalshiError(
                f"{what}: the exchange answered HTTP {response.status_code} with a body that is "
                "not JSON"
            ) from None
        if not isinstance(data, dict):
            raise KalshiError(f"{what}: expected a JSON object, got {type(data).__name__}")
        return data

    def _get(self, path: str, *, params: Params | None = None, auth: bool = False) -> Any:
        return self._body(self._request("GET", path, params=params, auth=auth))

    @staticmethod
    def _parse(parse: Callable[[Any], T], data: Any, what: str) -> T:
        try:
            return parse(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise KalshiError(f"unexpected {what} from the exchange: {exc!r}") from exc

    def _page(
        self,
        path: str,
        key: str,
        parse: Callable[[Any], T],
        *,
        cursor: str | None,
        limit: int,
        params: Params,
        auth: bool,
    ) -> tuple[list[T], str]:
        body = self._get(path, params={**params, "limit": limit, "cursor": cursor}, auth=auth)
        items = [self._parse(parse, item, key) for item in body.get(key) or []]
        return items, str(body.get("cursor") or "")

    def _iterate(
        self,
        path: str,
        key: str,
        parse: Callable[[Any], T],
        *,
        params: Params,
        limit: int | None,
        page_size: int,
        auth: bool,
        on_page: Callable[[int], None] | None = None,
    ) -> Iterator[T]:
        return paginate(
            lambda cursor, size: self._page(
                path, key, parse, cursor=cursor, limit=size, params=params, auth=auth
            ),
            page_size=page_size,
            limit=limit,
            on_page=on_page,
            what=key,
        )

    # ----------------------------------------------------------------------------------------
    # market data

    def get_exchange_status(self) -> ExchangeStatus:
        return self._parse(ExchangeStatus.from_api, self._get("/exchange/status"), "status")

    def get_markets_page(
        self,
        *,
        cursor: str | None = None,
        limit: int = 100,
        status: str | None = None,
        series_ticker: str | None = None,
        event_ticker: str | None = None,
        tickers: list[str] | None = None,
        **extra: str | int | None,
    ) -> tuple[list[Market], str]:
        """One page of `GET /markets`: (markets, next cursor; "" on the last page). `extra`
        passes other documented filters through (`min_close_ts`, `mve_filter`, ...)."""
        params: Params = {
            "status": status,
            "series_ticker": series_ticker,
            "event_ticker": event_ticker,
            "tickers": ",".join(tickers) if tickers else None,
            **extra,
        }
        return self._page(
            "/markets",
            "markets",
            Market.from_api,
            cursor=cursor,
            limit=limit,
            params=params,
            auth=False,
        )

    def iter_markets(
        self,
        *,
        limit: int | None = None,
        page_size: int = MARKETS_PAGE_MAX,
        on_page: Callable[[int], None] | None = None,
        **filters: Any,
    ) -> Iterator[Market]:
        """Every market matching `filters` (as `get_markets_page`), following cursors.
        `on_page(markets_so_far)` runs after each page, for progress output."""
        return paginate(
            lambda cursor, size: self.get_markets_page(cursor=cursor, limit=size, **filters),
            page_size=min(page_size, MARKETS_PAGE_MAX),
            limit=limit,
            on_page=on_page,
            what="markets",
        )

    def get_market(self, ticker: str) -> Market:
        try:
            body = self._get(f"/markets/{_path_segment(ticker)}")
        except NotFoundError as exc:
            raise _not_found(
                exc, f"unknown ticker {ticker}", "`kalshi markets` lists them"
            ) from exc
        return self._parse(lambda b: Market.from_api(b["market"]), body, "market")

    def get_orderbook(self, ticker: str, depth: int = 0) -> Orderbook:
        try:
            # public since API 3.31.0 (3.13-3.30 required a signature): with a key it is signed
            # all the same, so a server that still wants one gets it
            body = self._get(
                f"/markets/{_path_segment(ticker)}/orderbook", params={"depth": depth or None}
            )
        except NotFoundError as exc:
            raise _not_found(
                exc, f"unknown ticker {ticker}", "`kalshi markets` lists them"
            ) from exc
        return self._parse(lambda b: Orderbook.from_api(ticker, b), body, "orderbook")

    def get_event(self, event_ticker: str, *, with_nested_markets: bool = False) -> dict[str, Any]:
        """The `GET /events/{event_ticker}` body as sent: `{"event": {...}, "markets": [...]}`."""
        try:
            body: dict[str, Any] = self._get(
                f"/events/{_path_segment(event_ticker)}",
                params={"with_nested_markets": _flag(with_nested_markets)},
            )
        except NotFoundError as exc:
            raise _not_found(exc, f"unknown event {event_ticker}", None) from exc
        return body

    def iter_events(
        self,
        *,
        limit: int | None = None,
        page_size: int = EVENTS_PAGE_MAX,
        status: str | None = None,
        series_ticker: str | None = None,
        with_nested_markets: bool = False,
        **extra: str | int | None,
    ) -> Iterator[dict[str, Any]]:
        params: Params = {
            "status": status,
            "series_ticker": series_ticker,
            "with_nested_markets": _flag(with_nested_markets),
            **extra,
        }
        return self._iterate(
            "/events",
            "events",
            _as_dict,
            params=params,
            limit=limit,
            page_size=min(page_size, EVENTS_PAGE_MAX),
            auth=False,
        )

    def get_series(self, series_ticker: str) -> dict[str, Any]:
        try:
            body = self._get(f"/series/{_path_segment(series_ticker)}")
        except NotFoundError as exc:
            raise _not_found(exc, f"unknown series {series_ticker}", None) from exc
        return self._parse(lambda b: _as_dict(b["series"]), body, "series")

    def get_series_fee_changes(
        self, *, series_ticker: str | None = None, show_historical: bool = False
    ) -> list[dict[str, Any]]:
        """`GET /series/fee_changes`: the scheduled changes of series' fees (SeriesFeeChange:
        id, series_ticker, fee_type, fee_multiplier, scheduled_ts), those still to come unless
        `show_historical`."""
        body = self._get(
            "/series/fee_changes",
            params={"series_ticker": series_ticker, "show_historical": _flag(show_historical)},
        )
        return self._parse(
            lambda b: [_as_dict(c) for c in b["series_fee_change_arr"]],
            body,
            "series fee changes",
        )

    def iter_trades(
        self, *, ticker: str | None = None, limit: int | None = None, page_size: int = 1000
    ) -> Iterator[Trade]:
        return self._iterate(
            "/markets/trades",
            "trades",
            Trade.from_api,
            params={"ticker": ticker},
            limit=limit,
            page_size=min(page_size, 1000),
            auth=False,
        )

    # ----------------------------------------------------------------------------------------
    # portfolio

    def get_balance(self) -> Balance:
        return self._parse(Balance.from_api, self._get("/portfolio/balance", auth=True), "balance")

    def get_positions(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        include_flat: bool = False,
    ) -> list[Position]:
        """Every market position that is not flat, across all pages; with `include_flat`, also
        the markets traded and since closed out (for cross-checking realized P&L and fees)."""
        count_filter = "total_traded" if include_flat else "position"
        positions = self._iterate(
            "/portfolio/positions",
            "market_positions",
            Position.from_api,
            params={"ticker": ticker, "event_ticker": event_ticker, "count_filter": count_filter},
            limit=None,
            page_size=PORTFOLIO_PAGE_MAX,
            auth=True,
        )
        return [p for p in positions if include_flat or p.position != ZERO]

    def iter_fills(
        self,
        *,
        ticker: str | None = None,
        order_id: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        limit: int | None = None,
    ) -> Iterator[Fill]:
        params: Params = {
            "ticker": ticker,
            "order_id": order_id,
            "min_ts": min_ts,
            "max_ts": max_ts,
        }
        return self._iterate(
            "/portfolio/fills",
            "fills",
            Fill.from_api,
            params=params,
            limit=limit,
            page_size=PORTFOLIO_PAGE_MAX,
            auth=True,
        )

    def iter_settlements(
        self, *, ticker: str | None = None, limit: int | None = None
    ) -> Iterator[Settlement]:
        return self._iterate(
            "/portfolio/settlements",
            "settlements",
            Settlement.from_api,
            params={"ticker": ticker},
            limit=limit,
            page_size=PORTFOLIO_PAGE_MAX,
            auth=True,
        )

    def iter_orders(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Order]:
        params: Params = {"ticker": ticker, "event_ticker": event_ticker, "status": status}
        return self._iterate(
            "/portfolio/orders",
            "orders",
            Order.from_api,
            params=params,
            limit=limit,
            page_size=PORTFOLIO_PAGE_MAX,
            auth=True,
        )

    def get_order(self, order_id: str) -> Order:
        try:
            body = self._get(f"/portfolio/orders/{_path_segment(order_id)}", auth=True)
        except NotFoundError as exc:
            raise _not_found(
                exc, f"unknown order {order_id}", "`kalshi order list` shows them"
            ) from exc
        return self._parse(lambda b: Order.from_api(b["order"]), body, "order")

    def find_order_by_client_id(self, client_order_id: str, ticker: str) -> Order | None:
        """The order placed with `client_order_id` on `ticker`, whatever its status, or None if
        the exchange has none: how an `OrderOutcomeUnknown` is resolved."""
        for order in self.iter_orders(ticker=ticker):
            if order.client_order_id == client_order_id:
                return order
        return None

    def get_account_limits(self) -> dict[str, Any]:
        body: dict[str, Any] = self._get("/account/limits", auth=True)
        return body

    # ----------------------------------------------------------------------------------------
    # orders (V2 write endpoints)

    def create_order(self, request: CreateOrder) -> CreateOrderResult:
        """Place one order. Never retried: see the module docstring.

        A 4xx is a refusal (nothing was created) and raises its `ApiError`; a 429 raises
        `RateLimitedError` (refused, nothing created; try again later only after checking); a
        failure to connect raises `TransportError` (nothing reached the exchange); a timeout,
        a dropped connection or a 5xx raises `OrderOutcomeUnknown`.
        """
        path = "/portfolio/events/orders"
        coid = request.client_order_id
        what = f"order {coid}"
        self._require_key(f"placing {what}")
        try:
            response = self._send_once("POST", path, json=request.to_api(), what=what)
        except RateLimitedError as exc:
            exc.hint = "the exchange refused it before placing it; wait, then place it again"
            raise
        except ServerError as exc:
            raise OrderOutcomeUnknown(
                f"the exchange answered HTTP {exc.status} to {what}; it may or may not exist",
                client_order_id=coid,
            ) from exc
        except TransportError as exc:
            if nothing_sent(exc):
                raise
            raise OrderOutcomeUnknown(
                f"{exc.message}; {what} may or may not exist", client_order_id=coid
            ) from exc
        try:
            body = self._body(response)
        except KalshiError as exc:
            raise OrderOutcomeUnknown(
                f"the exchange answered HTTP {response.status_code} to {what} but its answer "
                "could not be read; it may or may not exist",
                client_order_id=coid,
            ) from exc
        missing = _no_order(response.status_code, body, what)
        if missing:
            raise OrderOutcomeUnknown(missing, client_order_id=coid)
        try:
            return CreateOrderResult.from_api(body)
        except (KeyError, TypeError, ValueError) as exc:
            raise OrderOutcomeUnknown(
                f"the exchange accepted {what} but its answer could not be read",
                client_order_id=coid,
            ) from exc

    def cancel_order(self, order_id: str, *, ticker: str | None = None) -> CancelResult:
        """Cancel one order (retried: cancelling is idempotent). `ticker` lets the exchange
        route the cancel to the right shard."""
        response = self._request(
            "DELETE",
            f"/portfolio/events/orders/{_path_segment(order_id)}",
            params={"market_ticker": ticker},
            auth=True,
        )
        return self._parse(CancelResult.from_api, self._body(response), "cancel result")

    def cancel_all_orders(self) -> None:
        """Cancel every resting order of every subaccount (`DELETE /portfolio/events/orders`)."""
        self._request("DELETE", "/portfolio/events/orders", auth=True)

    def batch_cancel(self, orders: list[tuple[str, str | None]]) -> list[CancelResult]:
        """Cancel (order_id, ticker) pairs in batches; per-order failures come back as
        `CancelResult.error`, not as an exception."""
        path = "/portfolio/events/orders/batched"
        size = min(BATCH_CANCEL_MAX, self._limiter.max_batch_items(per_item=2))
        results: list[CancelResult] = []
        for start in range(0, len(orders), size):
            chunk = orders[start : start + size]
            items = [{"order_id": oid} | ({"market_ticker": t} if t else {}) for oid, t in chunk]
            response = self._request(
                "DELETE", path, json={"orders": items}, items=len(chunk), auth=True
            )
            body = self._body(response)
            results.extend(
                self._parse(CancelResult.from_api, item, "cancel result")
                for item in body.get("orders") or []
            )
        return results

    def amend_order(
        self,
        order_id: str,
        *,
        ticker: str,
        book_side: BookSide,
        price: Decimal,
        count: Decimal,
        updated_client_order_id: str | None = None,
        expiration_time: int | None = None,
    ) -> dict[str, Any]:
        """Change price, size and/or expiry. `count` is the new total: filled so far plus what
        should rest. `expiration_time` (unix seconds): None keeps the expiry, 0 removes it,
        anything else must be in the future. Retried only when the exchange certainly did not
        act on the first attempt."""
        check_price(price)
        check_count(count)
        if expiration_time is not None and (
            isinstance(expiration_time, bool)
            or not isinstance(expiration_time, int)
            or expiration_time < 0
        ):
            raise ValidationError(
                "expiration_time must be unix seconds, or 0 to remove the expiry",
                code="bad_expiration",
            )
        body: dict[str, Any] = {
            "ticker": ticker,
            "side": BookSide(book_side).value,
            "price": fmt_dollars(price),
            "count": fmt_count(count),
        }
        if updated_client_order_id:
            body["updated_client_order_id"] = updated_client_order_id
        if expiration_time is not None:
            body["expiration_time"] = expiration_time
        what = f"amend of order {order_id}"
        try:
            response = self._request(
                "POST",
                f"/portfolio/events/orders/{_path_segment(order_id)}/amend",
                json=body,
                mode=Resend.IF_UNSENT,
                auth=True,
            )
        except ServerError as exc:
            raise AmendOutcomeUnknown(
                f"the exchange answered HTTP {exc.status} to the {what}; it may or may not "
                "have been applied",
                order_id=order_id,
            ) from exc
        except TransportError as exc:
            if nothing_sent(exc):
                raise
            raise AmendOutcomeUnknown(
                f"{exc.message}; the {what} may or may not have been applied", order_id=order_id
            ) from exc
        try:
            answer = self._body(response)
        except KalshiError as exc:
            raise AmendOutcomeUnknown(
                f"the {what} was answered HTTP {response.status_code} with a body that could "
                "not be read; it may or may not have been applied",
                order_id=order_id,
            ) from exc
        missing = _no_order(response.status_code, answer, f"the {what}")
        if missing:
            raise AmendOutcomeUnknown(missing, order_id=order_id)
        return answer

    def decrease_order(
        self,
        order_id: str,
        *,
        reduce_by: Decimal | None = None,
        reduce_to: Decimal | None = None,
    ) -> dict[str, Any]:
        """Shrink a resting order by `reduce_by`, or to `reduce_to` (exactly one of them)."""
        if (reduce_by is None) == (reduce_to is None):
            raise ValidationError(
                "give exactly one of reduce_by and reduce_to", code="conflicting_options"
            )
        if reduce_by is not None:
            body = {"reduce_by": fmt_count(check_count(reduce_by, "reduce_by"))}
        else:
            assert reduce_to is not None
            if reduce_to != 0:
                check_count(reduce_to, "reduce_to")
            body = {"reduce_to": fmt_count(reduce_to)}
        response = self._request(
            "POST",
            f"/portfolio/events/orders/{_path_segment(order_id)}/decrease",
            json=body,
            mode=Resend.IF_UNSENT,
            auth=True,
        )
        return self._body(response)

    # ----------------------------------------------------------------------------------------
    # diagnostics

    def clock_skew_seconds(self) -> float:
        """The exchange's clock minus ours, in seconds (positive: the exchange is ahead).

        Read from the HTTP `Date` header of `GET /exchange/status`, which has one-second
        resolution: the result is good to about half a second plus half the round trip, enough
        to catch a clock far enough off to spoil signatures, not to measure latency. The
        request goes unsigned, so a clock bad enough to be refused can still be measured.
        """
        before = self._clock.wall()
        response = self._request("GET", "/exchange/status", signed=False)
        after = self._clock.wall()
        date = response.headers.get("Date")
        if not date:
            raise KalshiError(
                f"{self.host} sent no Date header, so the clock skew cannot be measured"
            )
        try:
            server = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            raise KalshiError(f"{self.host} sent an unreadable Date header: {date!r}") from None
        # the header truncates to the second: the exchange's clock read somewhere in [D, D + 1)
        return server + 0.5 - (before + after) / 2


def _no_order(status: int, body: dict[str, Any], what: str) -> str | None:
    """Why a 2xx answer to an order write does not show the write done (no `order_id`, or an
    `error` object: Kalshi answered retired order paths so in June 2026), or None."""
    error = body.get("error")
    order_id = body.get("order_id")
    if not error and isinstance(order_id, str) and order_id:
        return None
    text = f"the exchange answered HTTP {status} to {what} with no order id"
    if error:
        inner = error if isinstance(error, dict) else {"message": error}
        detail = ": ".join(str(inner[k]) for k in ("code", "message") if inner.get(k))
        text = f"the exchange answered HTTP {status} to {what} with an error ({detail})"
    return f"{text}; it may or may not have been done"


def _path_segment(value: str) -> str:
    """A path segment, escaped so a stray '/' or '?' cannot change which endpoint is called."""
    return quote(value, safe="")


def _flag(value: bool) -> str | None:
    return "true" if value else None


def _as_dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _not_found(exc: NotFoundError, message: str, hint: str | None) -> NotFoundError:
    return NotFoundError(
        message,
        status=exc.status,
        code=exc.code,
        details=exc.details,
        exchange_message=exc.exchange_message,
        hint=hint,
    )

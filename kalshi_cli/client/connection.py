"""The signed connection every area of `KalshiClient` shares: each request paced by the rate
limiter, sent by httpx under one overall deadline, turned into a value or a typed error, and
retried only as its `Resend` mode allows. `Connection.write` is the one place that says a write
whose answer was lost after sending is of unknown outcome (`UnknownOutcome`): looked up, never
sent again. docs/library.md "How a request travels".
"""

from __future__ import annotations

import copy
import os
import random
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache, partial
from typing import Annotated, Any, TypedDict, TypeVar, cast
from urllib.parse import quote

import httpx
import msgspec

from kalshi_cli import __version__
from kalshi_cli.client.deadline import hold_to_deadlines
from kalshi_cli.client.fill_quarantine import FillQuarantine
from kalshi_cli.client.pagination import listed_items, next_cursor, paginate
from kalshi_cli.client.ratelimit import RateLimiter, TierLimits, TurnAfterDeadline, tier_limits
from kalshi_cli.client.retry import (
    DEFAULT_RETRY_BUDGET_S,
    Resend,
    RetryPolicy,
    UnknownOutcome,
    may_have_acted,
    resent,
)
from kalshi_cli.client.signing import KalshiAuth, KeySource, signs
from kalshi_cli.client.stats import ApiStats
from kalshi_cli.vocabulary.clock import Clock, Deadline, SystemClock, answer_limit
from kalshi_cli.vocabulary.errors import (
    AnswerUnreadable,
    ApiError,
    AuthError,
    CredentialsError,
    CutShortByDeadline,
    KalshiError,
    NotFoundError,
    NotSentPastDeadline,
    RateLimitedError,
    RedirectedError,
    RequestWithdrawn,
    TransportError,
    TurnPastDeadline,
    ValidationError,
)
from kalshi_cli.vocabulary.models import decode_answer

T = TypeVar("T")
S = TypeVar("S", bound=msgspec.Struct)
Params = dict[str, str | int | list[str] | None]  # a list: the parameter repeated

REACHABILITY_HINT = "is the exchange reachable? `kalshi health-check`"
# a 429 to a write sent once (`Connection.write`): refused before the exchange acted on it
REFUSED_BEFORE_ACTING = "the exchange refused it before placing it; wait, then place it again"
MARKETS_PAGE_MAX = 1000
EVENTS_PAGE_MAX = 200
PORTFOLIO_PAGE_MAX = 1000
# The exchange acts on a signed request only while its KALSHI-ACCESS-TIMESTAMP is within this
# many seconds of its own clock: the simulator's window (sim/server/auth.py DEFAULT_WINDOW_S; a test
# keeps this at least as long); Kalshi's is shorter (5 s accepted, 30 s refused: REFERENCE.md,
# "Observed on the real wire").
SIGNATURE_WINDOW_S = 30.0
# An order request whose answer was lost may still land until this long after the failure was
# seen (which is after it was signed): the window, plus a margin for this machine's clock
# running ahead of the exchange's (`kalshi health-check` fails at 5 s) and for a request signed
# after its intent was written (the rate limiter's wait). Until then it is never called "never
# placed".
LANDING_MARGIN_S = 10.0
# an idle pooled connection is dropped after this long: a clear second before a server's idle
# timeout (the simulator's is 5 s, `sim.server.embed.IDLE_TIMEOUT_S`), since a request written
# on a connection the server is closing gets no answer, and a POST's outcome is then unknown
KEEPALIVE_EXPIRY_S = 3.0
LANDING_WINDOW_S = SIGNATURE_WINDOW_S + LANDING_MARGIN_S
URL_CACHE_MAX = 1024  # parsed request URLs kept per client (`Connection._url`)


_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy"})


def _tls_for(base: httpx.URL) -> ssl.SSLContext | bool:
    """What the client verifies TLS with: for an https base, httpx's default, unchanged.

    A plain-http base (the simulator on loopback) would still load the CA bundle, a good part of a
    cold start (docs/benchmarks.md); it gets a context that trusts no certificate, so anything that
    reached TLS through it would fail closed. With a proxy variable set (an https:// proxy could
    reach TLS), the default stays."""
    if base.scheme != "http" or any(name.lower() in _PROXY_VARIABLES for name in os.environ):
        return True
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class ConnectionOptions(TypedDict, total=False):
    """A `Connection`'s settings past `api_base`, as `KalshiClient` takes them (`Connection`)."""

    key_id: str | None
    private_key: KeySource | None
    tier: str
    timeout: float
    max_attempts: int
    max_retry_seconds: float
    clock: Clock | None
    transport: httpx.BaseTransport | None
    user_agent: str
    rate_limits: TierLimits | None
    rng: random.Random | None


class Connection:
    """How a request travels (see the module docstring): signing, rate limiting, retries, typed
    errors, decoding and pagination. Each area of the API (`markets.py`, `orders.py`, ...) has
    one and adds its endpoints on top; `KalshiClient` (client.py) has the connection and the
    areas."""

    subaccount: int | None = None
    """The subaccount every portfolio and order call acts on; None: the exchange's defaults
    (client/subaccount_scope.py)."""

    def __init__(
        self,
        *,
        api_base: str,
        key_id: str | None = None,
        private_key: KeySource | None = None,
        tier: str = "basic",
        timeout: float = 10.0,
        max_attempts: int = 4,
        max_retry_seconds: float = DEFAULT_RETRY_BUDGET_S,
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
        self.clock = clock or SystemClock()
        self._auth = (
            KalshiAuth(key_id, private_key, clock=self.clock)
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
            limits=httpx.Limits(
                max_connections=100,
                max_keepalive_connections=20,
                keepalive_expiry=KEEPALIVE_EXPIRY_S,
            ),
        )
        # httpx's transports (its default one or the one given, and one per proxy from the
        # environment) hold each request to its overall deadline; a fake a test gives has no
        # socket to hold and is used as it is
        for made in (self._http._transport, *self._http._mounts.values()):
            if made is not None:
                hold_to_deadlines(made)
        # each path's URL parsed once: httpx parses a URL string character by character, about
        # 20 us per request (docs/benchmarks.md, "Client"); a parsed `httpx.URL` it takes as is
        self._urls: dict[str, httpx.URL] = {}
        self.limiter = RateLimiter(rate_limits or tier_limits(tier), self.clock)
        self._retry = RetryPolicy(max_attempts=max_attempts, max_seconds=max_retry_seconds)
        self._rng = rng or random.Random()
        self.last_latency_ms: float | None = None
        # every attempt's latency and outcome by endpoint family, for `trade --metrics-port`
        self.stats = ApiStats()
        self.fill_quarantine = FillQuarantine()

    def __repr__(self) -> str:
        return f"Connection(api_base={self.api_base!r}, authenticated={self.authenticated})"

    @property
    def authenticated(self) -> bool:
        return self._auth is not None

    @property
    def key_id(self) -> str | None:
        """The id of the API key requests are signed with; None without a key."""
        return self._auth.key_id if self._auth is not None else None

    def on_subaccount(self, subaccount: int | None) -> Connection:
        """This connection acting on `subaccount`: a second handle sharing the HTTP connection
        pool, the rate limits and the stats (client/subaccount_scope.py)."""
        handle = copy.copy(self)
        handle.subaccount = subaccount
        return handle

    def close(self) -> None:
        self._http.close()

    # ----------------------------------------------------------------------------------------
    # transport

    def send_once(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        items: int = 1,
        what: str,
        signed: bool = True,
    ) -> httpx.Response:
        if signed and self._auth is not None:
            self._auth.private_key()  # a key that cannot be read fails here, before any wait
        # the limiter asks whether the request was withdrawn while it waits and once more at
        # its turn, the last moment before anything leaves; one not sent holds no tokens
        try:
            self.limiter.acquire(method, path, items=items, withdrawn=_WITHDRAWN.get())
        except RequestWithdrawn:
            raise RequestWithdrawn(f"{what}: withdrawn before it was sent") from None
        except TurnAfterDeadline as exc:
            self.stats.record(method, path, None, None)
            raise TurnPastDeadline(
                f"{what}: not sent: its turn from the client's rate limiter comes after its "
                "deadline",
                hint="the client asked more of the account's rate limits than it can wait for",
            ) from httpx.ConnectTimeout(str(exc))  # nothing left: `retry.nothing_sent`
        leaving = _LEAVING.get()
        if leaving is not None:
            leaving()
        if self.subaccount is not None:
            # only a handle acting on a subaccount scopes its requests: its rules load with it
            from kalshi_cli.client.subaccount_scope import scope_request

            params, json = scope_request(method, path, params, json, self.subaccount)
        query = {k: v for k, v in params.items() if v is not None} if params else None
        started = self.clock.monotonic()
        # the request's overall deadline: its timeout (or the caller's `answers_within`, counted
        # from here, after the limiter's wait), or sooner the caller's (client/deadline.py)
        cap = answer_limit()
        limit = self._timeout if cap is None else min(self._timeout, cap)
        own = limit
        outer = Deadline.current()
        limit = limit if outer is None else max(0.0, min(limit, outer.remaining()))
        if limit <= 0:
            self.stats.record(method, path, None, None)
            raise NotSentPastDeadline(
                f"{what}: no answer from {self.host}: not sent: its deadline had passed",
                hint=REACHABILITY_HINT,
            ) from httpx.ConnectTimeout("its deadline had passed before it was sent")
        with Deadline.after(self.clock, limit).scope():
            try:
                response = self._send(method, self._url(path), query or None, json, signed)
            except httpx.RequestError as exc:
                self.stats.record(method, path, None, None)
                cut = limit < own and isinstance(exc, httpx.TimeoutException)
                raise (CutShortByDeadline if cut else TransportError)(
                    f"{what}: no answer from {self.host}: {self._reason(exc, limit)}",
                    hint=REACHABILITY_HINT,
                ) from exc
        elapsed = self.clock.monotonic() - started
        self.last_latency_ms = elapsed * 1000.0
        self.stats.record(method, path, response.status_code, elapsed)
        if response.is_success:
            return response
        if response.status_code == 429:
            self.limiter.rate_limited(method, path)
        raise self._api_error(response, what)

    def _send(
        self, method: str, url: httpx.URL, query: Params | None, json: Any, signed: bool
    ) -> httpx.Response:
        """One request through `httpx.Client.send`, its answer read whole."""
        request = self._http.build_request(method, url, params=query, json=json)
        return self._http.send(request, auth=httpx.USE_CLIENT_DEFAULT if signed else None)

    def _url(self, path: str) -> httpx.URL:
        url = self._urls.get(path)
        if url is None:
            if len(self._urls) >= URL_CACHE_MAX:  # bounded: a path can hold any ticker or id
                self._urls.clear()
            url = self._urls[path] = httpx.URL(self.api_base + path)
        return url

    @staticmethod
    def _reason(exc: httpx.RequestError, limit: float) -> str:
        """Why no answer came; `limit`: the seconds the request had."""
        if isinstance(exc, httpx.ConnectTimeout):
            return f"connecting timed out after {round(limit, 2):g}s"
        if isinstance(exc, httpx.TimeoutException):
            return f"no response within {round(limit, 2):g}s"
        text = " ".join(str(exc).split())
        return text or type(exc).__name__

    @staticmethod
    def _api_error(response: httpx.Response, what: str) -> ApiError:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        error = ApiError.from_response(response.status_code, body, what=what)
        location = response.headers.get("location")
        if isinstance(error, RedirectedError) and location:
            error.message += f" (redirected to {location})"
        if isinstance(error, AuthError) and error.code == "header_timestamp_expired":
            error.hint = "this machine's clock may be off; `kalshi health-check` measures the skew"
        return error

    def request(
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
        on_retry: Callable[[KalshiError], object] | None = None,
    ) -> httpx.Response:
        what = f"{method} {path}"
        if auth:
            self.require_key(what)
        signed = signed and signs(self._auth, private=auth, path=path)
        return self._retry.run(
            lambda: self.send_once(
                method, path, params=params, json=json, items=items, what=what, signed=signed
            ),
            mode=mode,
            clock=self.clock,
            rng=self._rng,
            what=what,
            on_retry=on_retry,
        )

    def write(
        self,
        method: str,
        path: str,
        unknown: UnknownOutcome,
        *,
        json: Any = None,
        params: Params | None = None,
        items: int = 1,
        resend: Resend = Resend.NEVER,
    ) -> httpx.Response:
        """Send a write that places, creates, changes or executes something: once (`Resend.NEVER`),
        again only while it certainly never left (`IF_UNSENT`), or whatever became of it
        (`ALWAYS`: one the exchange does once by a key it carries). A failure after which the
        exchange may have acted (`may_have_acted`: a 5xx, a timeout or a dropped connection after
        sending, an answer that cannot be read, a 409 `order_already_exists`) raises
        `unknown.error` (`UnknownOutcome.of`); so does any failure after such a try
        (`retry.resent`). Anything else is raised as it came. A 429 to a write sent once says it
        may be sent again after a wait (`REFUSED_BEFORE_ACTING`)."""
        try:
            if resend is Resend.NEVER:
                self.require_key(f"placing {unknown.what}")
                return self.send_once(
                    method, path, params=params, json=json, items=items, what=unknown.what
                )
            send = partial(self.request, method, path, params=params, json=json, items=items)
            return resent(lambda keep: send(mode=resend, auth=True, on_retry=keep), unknown)
        except RateLimitedError as exc:
            if resend is Resend.NEVER:
                exc.hint = REFUSED_BEFORE_ACTING
            raise
        except KalshiError as exc:
            if not may_have_acted(exc):
                raise
            told = unknown.of(exc)
            if told is exc:
                raise
            raise told from exc

    @staticmethod
    def written(
        response: httpx.Response, unknown: UnknownOutcome, read: Callable[[httpx.Response], T]
    ) -> T:
        """`read` of the answer to a write (`write`); an answer it cannot read raises
        `unknown.error`: whatever the status said, the exchange may or may not have acted."""
        try:
            return read(response)
        except (KalshiError, KeyError, TypeError, ValueError) as exc:
            raise unknown.error(
                f"the exchange answered HTTP {response.status_code} to {unknown.what} but its "
                f"answer could not be read; {unknown.doubt}"
            ) from exc

    @staticmethod
    def unless_error(response: httpx.Response, unknown: UnknownOutcome) -> None:
        """Nothing, unless the answer to a write the spec answers with no body (a 204) carries
        an `error` object: then `unknown.error`. Kalshi answered writes to its retired order
        paths so, a 2xx whose body held an error, and did not act (REFERENCE.md, field reports
        of 2026): such an answer proves neither the write nor its refusal. Any other body is
        the write done, as the status says."""
        if not response.content:
            return
        try:
            body = response.json()
        except ValueError:
            return
        detail = error_detail(body) if isinstance(body, dict) else None
        if detail is not None:
            raise unknown.error(
                f"the exchange answered HTTP {response.status_code} to {unknown.what} with an "
                f"error ({detail}); {unknown.doubt}"
            )

    def require_key(self, what: str) -> None:
        if self._auth is None:
            raise CredentialsError(
                f"{what} needs an API key and none is configured",
                hint="set KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH, or use --env sim",
            )

    @staticmethod
    def body(response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise AnswerUnreadable(
                f"{_what(response)}: the exchange answered HTTP {response.status_code} with a "
                "body that is not JSON"
            ) from None
        if not isinstance(data, dict):
            raise AnswerUnreadable(
                f"{_what(response)}: expected a JSON object, got {type(data).__name__}"
            )
        return data

    @classmethod
    def fields(cls, response: httpx.Response) -> dict[str, msgspec.Raw]:
        """The answer's top-level fields, each still its bytes."""
        try:
            return _FIELDS.decode(response.content)
        except msgspec.DecodeError as exc:
            cls.body(response)  # raises the one-line error of a body that is no JSON object
            raise _not_json(response, exc) from exc

    def get(self, path: str, *, params: Params | None = None, auth: bool = False) -> Any:
        return self.body(self.request("GET", path, params=params, auth=auth))

    def get_fields(
        self, path: str, *, params: Params | None = None, auth: bool = False
    ) -> dict[str, msgspec.Raw]:
        return self.fields(self.request("GET", path, params=params, auth=auth))

    def answer(self, cls: type[S], response: httpx.Response, what: str) -> S:
        """The whole answer as `cls`; `AnswerUnreadable` when it does not decode."""
        return self.decode(response, lambda content: decode_answer(cls, content), what)

    def decode(self, response: httpx.Response, decode: Callable[[bytes], T], what: str) -> T:
        """`decode` of the answer's bytes; `AnswerUnreadable` when they do not decode."""
        try:
            return decode(response.content)
        except (KeyError, TypeError, msgspec.ValidationError) as exc:
            raise AnswerUnreadable(f"unexpected {what} from the exchange: {exc!r}") from exc
        except msgspec.DecodeError as exc:
            self.body(response)  # raises the one-line error of a body that is no JSON
            raise _not_json(response, exc) from exc

    def items(self, cls: type[S], fields: dict[str, msgspec.Raw], key: str, what: str) -> list[S]:
        """The answer's list `key`, which the spec requires (null: none; missing:
        `AnswerUnreadable`, `listed_items`), each item as `cls`."""
        items = self.parse(lambda f: listed_items(f, key, required=True), fields, what)
        return [self.parse(lambda b: decode_answer(cls, b), item, what) for item in items]

    def item(self, cls: type[S], fields: dict[str, msgspec.Raw], key: str, what: str) -> S:
        """The answer's field `key` (`{"order": {...}}`) as `cls`; `AnswerUnreadable` when
        the answer lacks it or it does not decode."""
        return self.parse(lambda f: decode_answer(cls, f[key]), fields, what)

    def field(self, fields: dict[str, msgspec.Raw], key: str, shape: Any, what: str) -> Any:
        """The answer's field `key` decoded as `shape` (a type msgspec decodes: `Id`, `int`,
        `list[dict[str, Any]]`, a Struct...); `AnswerUnreadable` when the answer lacks it or it
        does not decode. The caller states what it returns: `shape` may be any type form."""
        return self.parse(lambda f: _decoder_of(shape).decode(f[key]), fields, what)

    def get_field(
        self, path: str, key: str, shape: Any, what: str, *, params: Params | None = None,
        auth: bool = False,
    ) -> Any:  # fmt: skip
        """`field` of the answer to `GET path`."""
        return self.field(self.get_fields(path, params=params, auth=auth), key, shape, what)

    @staticmethod
    def parse(parse: Callable[[Any], T], data: Any, what: str) -> T:
        try:
            return parse(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AnswerUnreadable(f"unexpected {what} from the exchange: {exc!r}") from exc

    def page(
        self,
        path: str,
        key: str,
        parse: Callable[[Any], T] | type[T],
        *,
        cursor: str | None,
        limit: int,
        params: Params,
        auth: bool,
        cursor_required: bool,
    ) -> tuple[list[T], str]:
        """One page: its items, each decoded by `parse` (an Answer Struct, decoded from the
        item's bytes; or a function of the item as a dict), and the next cursor. Every listing
        read page by page has a list the spec requires: a page without it is `AnswerUnreadable`
        (`listed_items`). Whether the spec requires its cursor too is said at the call
        (`cursor_required`): a page without a required cursor is unreadable too (`next_cursor`)."""
        fields = self.get_fields(
            path, params={**params, "limit": limit, "cursor": cursor}, auth=auth
        )
        if isinstance(parse, type) and issubclass(parse, msgspec.Struct):
            decoded = cast("list[T]", self.items(parse, fields, key, key))
        else:
            convert = cast("Callable[[Any], T]", parse)
            items = self.parse(lambda f: listed_items(f, key, required=True), fields, key)
            decoded = [self.parse(convert, msgspec.json.decode(i), key) for i in items]
        following = self.parse(lambda f: next_cursor(f, required=cursor_required), fields, "cursor")
        return decoded, following

    def iterate(
        self,
        path: str,
        key: str,
        parse: Callable[[Any], T] | type[T],
        *,
        params: Params,
        limit: int | None,
        page_size: int,
        auth: bool,
        cursor_required: bool,
        on_page: Callable[[int], None] | None = None,
    ) -> Iterator[T]:
        return paginate(
            lambda cursor, size: self.page(
                path,
                key,
                parse,
                cursor=cursor,
                limit=size,
                params=params,
                auth=auth,
                cursor_required=cursor_required,
            ),
            page_size=page_size,
            limit=limit,
            on_page=on_page,
            what=key,
        )

    def listing(
        self,
        path: str,
        key: str,
        parse: Callable[[Any], T] | type[T],
        params: Params,
        limit: int | None = None,
        *,
        private: bool,
        cursor_required: bool,
    ) -> Iterator[T]:
        """Every item of the listing at `path` (at most `limit`), page by page. A private listing
        (the portfolio, the orders, the archived fills, orders and positions) needs a key and is
        paged `PORTFOLIO_PAGE_MAX` at a time, a public one (market data, live and archived)
        `MARKETS_PAGE_MAX`. `cursor_required`: whether the spec requires each page's cursor."""
        page_size = PORTFOLIO_PAGE_MAX if private else MARKETS_PAGE_MAX
        return self.iterate(
            path, key, parse, params=params, limit=limit, page_size=page_size, auth=private,
            cursor_required=cursor_required,
        )  # fmt: skip

    # ----------------------------------------------------------------------------------------
    # diagnostics


_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
Id = Annotated[str, msgspec.Meta(min_length=1)]
"""An id the exchange sends (an order group's, an RFQ's...): text, never empty."""
Rows = list[dict[str, Any]]
"""A list of objects kept as sent (series, fee changes, candlesticks of the archive...)."""


@cache
def _decoder_of(shape: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(shape)


class Area:
    """An area of the API (markets, orders, portfolio, ...): its endpoints, over the connection
    every area of a `KalshiClient` shares."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def _written_field(
        self, response: httpx.Response, unknown: UnknownOutcome, key: str, shape: Any, what: str
    ) -> Any:
        """The field `key` of the answer to a write that creates something (its id, its
        number), as `shape`: an answer without it, or whose `key` does not decode, raises
        `unknown.error` (`Connection.written`)."""
        conn = self._conn
        return conn.written(
            response, unknown, lambda r: conn.field(conn.fields(r), key, shape, what)
        )


def _not_json(response: httpx.Response, exc: msgspec.DecodeError) -> AnswerUnreadable:
    """A body Python's `json` reads and msgspec refuses (a NaN, which JSON does not allow):
    unreadable like any body that is no JSON, never msgspec's own error, which no caller
    expects and which ended `kalshi cancel-all` as a bug, with no report."""
    return AnswerUnreadable(
        f"{_what(response)}: the exchange answered HTTP {response.status_code} with a body "
        f"that is not JSON ({exc})"
    )


def _what(response: httpx.Response) -> str:
    """`METHOD /path` of the request `response` answers, for a message."""
    return f"{response.request.method} {response.request.url.path}"


def error_detail(body: dict[str, Any]) -> str | None:
    """The `error` a 2xx answer carries, as "code: message", or None when it carries none.
    Read field by field, not as a Struct: any shape of it (a number, a text error) must still
    read as an error, never fail the reading of an answer to a write."""
    error = body.get("error")
    if not error:
        return None
    inner = error if isinstance(error, dict) else {"message": error}
    return ": ".join(str(inner[k]) for k in ("code", "message") if inner.get(k))


def no_order_reason(status: int, body: dict[str, Any], what: str) -> str | None:
    """Why a 2xx answer to an order write does not show the write done (no `order_id`, or an
    `error` object: Kalshi answered retired order paths so in June 2026), or None."""
    detail = error_detail(body)
    order_id = body.get("order_id")
    if detail is None and isinstance(order_id, str) and order_id:
        return None
    text = f"the exchange answered HTTP {status} to {what} with no order id"
    if detail is not None:
        text = f"the exchange answered HTTP {status} to {what} with an error ({detail})"
    return f"{text}; it may or may not have been done"


def path_segment(value: str) -> str:
    """A path segment, escaped so a stray '/' or '?' cannot change which endpoint is called.
    `.` and `..` are refused: escaping leaves them as they are and the URL then drops or climbs
    the segment, so that `DELETE .../orders/.` would be the exchange's cancel-all."""
    if value in (".", ".."):
        raise ValidationError(f"{value!r} is not an id", code="bad_id")
    return quote(value, safe="")


def flag_param(value: bool) -> str | None:
    return "true" if value else None


def as_dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


@contextmanager
def missing_as(message: str, hint: str | None) -> Iterator[None]:
    """A 404 in the block raised again as `message` with `hint` (the rest of it kept)."""
    try:
        yield
    except NotFoundError as exc:
        raise NotFoundError(
            message,
            status=exc.status,
            code=exc.code,
            details=exc.details,
            exchange_message=exc.exchange_message,
            hint=hint,
        ) from exc


_WITHDRAWN: ContextVar[Callable[[], bool] | None] = ContextVar("kalshi_withdrawn", default=None)
_LEAVING: ContextVar[Callable[[], None] | None] = ContextVar("kalshi_leaving", default=None)


class on_leaving:
    """`told()` as each request made in the block has its turn from the rate limiter, the
    moment before it leaves: when the trade loop's calls count as sent (a request may wait
    seconds for a write token). Per thread, like `answers_within`. A class rather than a
    generator: the loop makes every exchange call under one."""

    __slots__ = ("_token", "_told")

    def __init__(self, told: Callable[[], None]) -> None:
        self._told = told

    def __enter__(self) -> None:
        self._token = _LEAVING.set(self._told)

    def __exit__(self, *_: object) -> None:
        _LEAVING.reset(self._token)


@contextmanager
def withdrawn_when(withdrawn: Callable[[], bool]) -> Iterator[None]:
    """Each request made in the block is withdrawn (`RequestWithdrawn`, nothing sent) if
    `withdrawn()` is true once it has its turn from the rate limiter: what the trade loop's
    order calls are made under, so a request that waited for a token when the loop's stop
    began never leaves. Per thread, like `answers_within`."""
    token = _WITHDRAWN.set(withdrawn)
    try:
        yield
    finally:
        _WITHDRAWN.reset(token)

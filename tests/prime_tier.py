"""A simulator on the prime tier (so a thousand orders are not paced by the basic tier's budget;
the pacing itself is benchmarked in benchmarks/), a signed client and a state file for it, and
`kalshi` run in-process against it: the fixtures `prime`, `client`, `store` and `kalshi` (a
plugin of tests/conftest.py, so every test folder has them) and the helpers their tests import."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import httpx
import pytest
from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.client import KalshiClient
from kalshi_cli.client.connection import Area
from kalshi_cli.client.ratelimit import RateLimiter, tier_limits
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import Clock, SystemClock
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.fakes import Swapped
from tests.openapi_check import RECORDER
from tests.waiting import PATIENCE_S
from tests.wire import order_body

TIER = "prime"
A = TypeVar("A", bound=Area)


# the account of the running `prime` simulator, for `state_path` (one per test)
_ACCOUNT: list[AccountInfo] = []


def prime_simulator(
    tmp_path: Path, *, clock: Clock | None = None, auth_window_s: float | None = None
) -> Iterator[SimHarness]:
    """The `prime` fixture's simulator; a module that needs it on a test's clock (and a wider
    signature window for the commands, which sign with the real one) overrides `prime` with
    this."""
    harness = SimHarness(
        start_simulator(
            tmp_path / "sim",
            scenario="empty",
            tier=TIER,
            clock=clock,
            auth_window_s=auth_window_s,
            response_hook=RECORDER.hook,
        )
    )
    _ACCOUNT[:] = [harness.account]
    yield harness
    _ACCOUNT.clear()
    harness.close()


@pytest.fixture
def prime(tmp_path: Path) -> Iterator[SimHarness]:
    yield from prime_simulator(tmp_path)


# a test client's deadline for one request unless the test sets its own (a short one, to lose
# an answer the simulator holds): the in-process simulator shares the test's process and its
# CPU, so on a shared 2-core machine at load 20 and more a read may take longer than the
# client's default 10 s. A safety net (PATIENCE_S): an answered request never comes near it
CLIENT_TIMEOUT_S = PATIENCE_S


def connect(account: AccountInfo, **kwargs: Any) -> KalshiClient:
    key, _ = load_private_key(path=account.private_key_path)
    kwargs.setdefault("timeout", CLIENT_TIMEOUT_S)
    return KalshiClient(
        api_base=account.api_base, key_id=account.key_id, private_key=key, tier=TIER, **kwargs
    )


class RequestsSeen(httpx.HTTPTransport):
    """A client's transport that keeps the path of each request made through it, in order,
    without the `/trade-api/v2` prefix (`paths`), and the query of each (`queries`)."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []
        self.queries: list[dict[str, str]] = []
        # requests made at once on several threads (the catch-up's listings) keep each path
        # beside its own query
        self._noting = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._noting:
            self.paths.append(request.url.path.removeprefix("/trade-api/v2"))
            self.queries.append(dict(request.url.params))
        return super().handle_request(request)

    def clear(self) -> None:
        self.paths.clear()
        self.queries.clear()


def another_accounts_order(
    harness: SimHarness, ticker: str, book_side: BookSide, price: str, count: int
) -> None:
    """One order of a new account of the simulator: the other side of a test's trade, resting
    for it or taking what rests."""
    with connect(harness.new_account()) as other:
        other.orders.create_order(CreateOrder(ticker, book_side, Decimal(price), Decimal(count)))


# no fees (set on the series, by its first market): the figures of Kalshi's example
FREE = {"fee_type": "quadratic", "fee_multiplier": "0"}


def hold_kalshis_event_example(harness: SimHarness, client: KalshiClient) -> None:
    """Kalshi's collateral-return example on `client`'s account: NO 1 at 0.60 on KXSOS-A and NO
    1 at 0.70 on KXSOS-C of the three-market mutually exclusive event KXSOS, $1.30 in, and
    -$0.30 at worst (KXSOS-A yes)."""
    for n, name in enumerate("ABC"):
        harness.create_market(
            f"KXSOS-{name}", event_ticker="KXSOS", collateral_return_type="MECNET",
            **(FREE if n == 0 else {}),
        )  # fmt: skip
    for name, yes_price in (("A", "0.40"), ("C", "0.30")):
        another_accounts_order(harness, f"KXSOS-{name}", BookSide.BID, yes_price, 1)
        client.orders.create_order(
            CreateOrder(f"KXSOS-{name}", BookSide.ASK, Decimal(yes_price), Decimal(1))
        )


class EventAnswered(httpx.BaseTransport):
    """The simulator over loopback, but `GET /events/{event}` answers `body(answer)` (bytes)
    instead of the simulator's `answer`; `asked`: how many times it was read."""

    def __init__(self, event: str, body: Callable[[dict[str, object]], bytes]) -> None:
        self._inner = httpx.HTTPTransport()
        self._event = event
        self._body = body
        self.asked = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.method == "GET" and request.url.path.endswith(f"/events/{self._event}"):
            self.asked += 1
            response.read()
            return httpx.Response(200, content=self._body(json.loads(response.content)))
        return response

    def close(self) -> None:
        self._inner.close()


def funded_subaccount(client: KalshiClient, cents: int = 5000) -> int:
    """A new subaccount of the client's account, given `cents` from subaccount 0; its number."""
    number = client.subaccounts.create_subaccount()
    client.subaccounts.transfer_between_subaccounts(
        from_subaccount=0, to_subaccount=number, amount_cents=cents
    )
    return number


def connect_as(area_type: type[A], account: AccountInfo, **kwargs: Any) -> Swapped[A]:
    """A client of `account` one of whose areas is `area_type`, a test's subclass of it that
    changes one call (reached as `client.area`)."""
    key, _ = load_private_key(path=account.private_key_path)
    kwargs.setdefault("timeout", CLIENT_TIMEOUT_S)
    return Swapped(
        area_type,
        api_base=account.api_base,
        key_id=account.key_id,
        private_key=key,
        tier=TIER,
        **kwargs,
    )


@pytest.fixture
def client(prime: SimHarness) -> Iterator[KalshiClient]:
    with connect(prime.account) as c:
        yield c


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state.db") as s:
        yield s


def cli_env(
    account: AccountInfo, home: Path, *, tier: str | None = TIER, **extra: str
) -> dict[str, str]:
    """The settings of `kalshi` as `account`, `home` its KALSHI_HOME, paced by `tier` (None: the
    default tier's pace), `extra` more."""
    env = {
        "KALSHI_HOME": str(home),
        "KALSHI_API_BASE": account.api_base,
        "KALSHI_API_KEY_ID": account.key_id,
        "KALSHI_PRIVATE_KEY_PATH": account.private_key_path,
    }
    if tier is not None:
        env["KALSHI_TIER"] = tier
    return {**env, **extra}


Kalshi = Callable[..., Result]


def kalshi_as(
    account: AccountInfo,
    home: Path,
    *,
    tier: str | None = TIER,
    transport: httpx.BaseTransport | None = None,
    columns: int = 120,
) -> Kalshi:
    """`kalshi ARGS` in-process as `account`, with `home` as its KALSHI_HOME (`cli_env`); its
    client behind `transport` when one is given."""

    def invoke(
        *args: str,
        input: str | None = None,
        client: Callable[[], Any] | None = None,
        **extra: str,
    ) -> Result:
        """`client`: build the command's client (a fake wrapping a real one), instead of the
        configured one; `extra`: more settings."""
        if client is None and transport is not None:
            client = lambda: connect(account, transport=transport)  # noqa: E731
        factory = None if client is None else (lambda _app, _settings, _anonymous: client())
        environ = cli_env(account, home, tier=tier, **extra)
        return CliRunner().invoke(
            app,
            list(args),
            obj=AppContext(environ=environ, client_factory=factory),
            input=input,
            env={"COLUMNS": str(columns), "NO_COLOR": "1"},
            prog_name="kalshi",
        )

    return invoke


@pytest.fixture
def kalshi(prime: SimHarness, tmp_path: Path) -> Kalshi:
    """`kalshi ARGS` in-process against the prime simulator, with its own KALSHI_HOME."""
    return kalshi_as(prime.account, tmp_path / "home")


def state_path(tmp_path: Path, **extra: str) -> Path:
    """Where `kalshi` (the `kalshi` fixture) keeps the state file of the `prime` simulator's
    account: the default for that endpoint and key id (docs/state-file.md); `extra` are the
    environment variables the command was given on top (another KALSHI_API_BASE is another
    exchange, with another file)."""
    from kalshi_cli.config import load_settings

    assert _ACCOUNT, "state_path needs the `prime` fixture"
    return load_settings(environ=cli_env(_ACCOUNT[0], tmp_path / "home", **extra)).state


def make_markets(harness: SimHarness, count: int, *, event: str = "KXT-EV") -> list[str]:
    tickers = [f"{event}-M{i:02d}" for i in range(count)]
    for t in tickers:
        harness.create_market(t, event_ticker=event, series_ticker="KXT")
    return tickers


def seed_resting(harness: SimHarness, tickers: list[str], per_market: int) -> int:
    """Resting bids, far from any cross, placed with batched creates (fast setup)."""
    items = [
        order_body(t, price=f"0.{10 + i % 30:02d}", count="1.00", client_order_id=f"seed-{t}-{i}")
        for t in tickers
        for i in range(per_market)
    ]
    # paced like the client paces itself: a thousand orders are more than one bucket holds
    limiter = RateLimiter(tier_limits(TIER), SystemClock())
    for start in range(0, len(items), 20):
        limiter.acquire("POST", "/portfolio/events/orders/batched", items=20)
        response = harness.signed(
            harness.account,
            "POST",
            "/portfolio/events/orders/batched",
            json={"orders": items[start : start + 20]},
        )
        response.raise_for_status()
        assert not any("error" in o and o["error"] for o in response.json()["orders"])
    return len(items)


def resting_count(client: KalshiClient, **filters: Any) -> int:
    return sum(1 for _ in client.orders.iter_orders(status="resting", **filters))


class Counted(NamedTuple):
    """One market as an order's limits count it: the position, the contracts resting on each
    side, and of those the contracts of orders of unknown outcome (counted: they may land)."""

    position: Decimal
    resting_bids: Decimal
    resting_asks: Decimal
    unknown: Decimal = Decimal(0)


def counted(service: OrderService, ticker: str) -> Counted:
    """`ticker` as `service`'s pre-trade checks count it (`PreTradeChecks.account_views`)."""
    view = service.checks.account_views(ticker).get(ticker)
    if view is None:
        return Counted(Decimal(0), Decimal(0), Decimal(0))
    bids, asks, unknown = (
        sum((o.remaining for o in view.resting if wanted(o)), Decimal(0))
        for wanted in (
            lambda o: o.book_side is BookSide.BID,
            lambda o: o.book_side is BookSide.ASK,
            lambda o: not o.order_id,
        )
    )
    return Counted(view.position, bids, asks, unknown)

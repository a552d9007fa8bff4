"""Shared fixtures: the simulator over loopback (`sim`, `sim_default`; on the prime tier,
tests/prime_tier.py), and the autouse check that every response it gave the test conforms to
openapi.yaml (see tests/openapi_check.py)."""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings

from kalshi_cli.client.connection import KEEPALIVE_EXPIRY_S
from kalshi_cli.sim.server import admin
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.sim.server.embed import (
    RunningSimulator,
    start_simulator,
    stop_simulator,
)
from kalshi_cli.vocabulary.clock import Clock, ManualClock
from kalshi_cli.vocabulary.keys import (
    KeyType,
    PrivateKey,
    generate_private_key,
    load_private_key,
    signed_headers,
)
from kalshi_cli.vocabulary.models import FeeModel, FeeType
from tests.openapi_check import RECORDER
from tests.waiting import SLOW_TEST_TIMEOUT_S, wait_until

# Kalshi's standard fees (`quadratic` at multiplier 1, no waiver) and none at all (multiplier 0),
# for the tests that charge them: the product has no default fee model, so a test names the fees
# it charges as a market's series would.
STANDARD_FEES = FeeModel(FeeType.QUADRATIC, Decimal(1), None)
NO_FEES = FeeModel(FeeType.QUADRATIC, Decimal(0), None)


def standard_rates(ticker: str, at: float) -> tuple[Decimal, Decimal]:
    """Every market's (taker, maker) rates at Kalshi's standard fees: a risk engine's
    `fee_rates` for the tests whose markets charge them."""
    return STANDARD_FEES.rates(at=at)


# The prime-tier simulator's fixtures (`prime`, `client`, `store`, `kalshi`), for the order,
# kill-switch and P&L tests of every folder; every test's own HOME (tests/home_guard.py); the
# webhook `receiver` of the alert, check and kill-switch tests (tests/alerts/receiver.py);
# pytester, for the tests of that guard.
pytest_plugins = ["tests.prime_tier", "tests.home_guard", "tests.alerts.receiver", "pytester"]

# Hypothesis's per-example deadline (200 ms) and its `too_slow` health check (examples generated
# too slowly) are timing assertions: on a busy machine an example is slow for reasons that are not
# the test's. Speed budgets live in benchmarks/.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")


# The keys the in-process simulators give their new accounts: made once per worker and handed
# out in turn, since a 2048-bit RSA key takes a tenth of a second of CPU and the suite starts
# thousands of simulators. Any 32 accounts made one after another hold different keys (no test's
# simulator makes more), so within one simulator no account can sign as another.
_KEY_POOL_SIZE = 32
_key_pool: dict[tuple[KeyType, int], PrivateKey] = {}
_keys_handed_out = [0]


def _pooled_private_key(kind: KeyType = "rsa") -> PrivateKey:
    slot = (kind, _keys_handed_out[0] % _KEY_POOL_SIZE)
    _keys_handed_out[0] += 1
    if slot not in _key_pool:
        _key_pool[slot] = generate_private_key(kind)
    return _key_pool[slot]


@pytest.fixture(autouse=True, scope="session")
def _simulator_accounts_take_pooled_keys() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(admin, "generate_private_key", _pooled_private_key)
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A `slow` test without a time limit of its own gets the longer one (tests/waiting.py)."""
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TEST_TIMEOUT_S))


class SimHarness:
    """A running simulator plus the admin calls tests use to set the stage."""

    def __init__(self, running: RunningSimulator) -> None:
        self.running = running
        self.account: AccountInfo = running.account
        self.base_url = running.base_url
        self.admin_url = running.admin_url
        self.data_dir = running.data_dir
        # an idle connection let go before the simulator closes it, as the product's client
        # does: the two timers equal raced (a request written as the server closed it); plain
        # http on loopback, so no CA bundle to load (70 ms a simulator), as the product's client
        self.http = httpx.Client(
            timeout=10,
            limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S),
            verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
        )
        self._keys: dict[str, Any] = {}

    def _admin(self, method: str, path: str, body: object | None = None) -> httpx.Response:
        response = self.http.request(method, self.admin_url + path, json=body)
        response.raise_for_status()
        return response

    def create_market(
        self,
        ticker: str,
        *,
        event_ticker: str | None = None,
        series_ticker: str | None = None,
        title: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        body = {
            "ticker": ticker,
            "event_ticker": event_ticker or ticker.rsplit("-", 1)[0],
            "series_ticker": series_ticker or ticker.split("-", 1)[0],
            "title": title or f"Simulated market {ticker}",
            **extra,
        }
        market: dict[str, Any] = self._admin("POST", "/markets", body).json()["market"]
        return market

    def new_account(self, balance_cents: int = 100_000, key_type: str = "rsa") -> AccountInfo:
        body = {"balance_cents": balance_cents, "key_type": key_type}
        return AccountInfo(**self._admin("POST", "/accounts", body).json())

    def set_faults(self, **knobs: Any) -> None:
        self._admin("PUT", "/faults", knobs)

    def faults(self) -> dict[str, Any]:
        """The fault settings now (a one-shot knob such as `hold_request_s` reads 0 once taken)."""
        document: dict[str, Any] = self._admin("GET", "/faults").json()
        return document

    def clear_faults(self) -> None:
        self._admin("DELETE", "/faults")

    def schedule_maintenance(self, start_ts: int, end_ts: int) -> None:
        """Announce a maintenance window (unix seconds, the exchange's clock)."""
        self._admin("POST", "/exchange/maintenance", {"start_ts": start_ts, "end_ts": end_ts})

    def settle(self, ticker: str, result: str) -> None:
        self._admin("POST", f"/markets/{ticker}/settle", {"result": result})

    def set_status(self, ticker: str, status: str) -> None:
        self._admin("POST", f"/markets/{ticker}/status", {"status": status})

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = self._admin("GET", "/stats").json()
        return data

    def run_out_execution_timers(self) -> None:
        """Move the simulator's clock (a test's `ManualClock`) to the end of the RFQ execution
        timer of every quote confirmed until now, and wait for the tick that executes them."""
        clock = self.running.state.clock
        assert isinstance(clock, ManualClock), "only a test's clock can be moved"
        comms = self.running.state.exchange.communications
        clock.advance(comms.execution_timer_s)
        wait_until(  # the server's tick loop runs every 0.1 s
            lambda: not any(q.status == "confirmed" for q in list(comms.quotes.values())),
            "the tick that executes the confirmed quotes",
        )

    def signed(
        self,
        account: AccountInfo,
        method: str,
        path: str,
        *,
        json: object | None = None,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,  # a list repeats a key
        timeout: float | None = None,
    ) -> httpx.Response:
        """A plain httpx request signed like Kalshi's; `path` is relative to /trade-api/v2.
        `timeout`: give up waiting for the answer after that many seconds."""
        key = self._keys.get(account.key_id)
        if key is None:
            key, _ = load_private_key(path=account.private_key_path)
            self._keys[account.key_id] = key
        request = self.http.build_request(
            method,
            account.api_base + path,
            json=json,
            params=params,
            timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
        )
        # the simulator's own clock: SystemClock unless a test runs it on a ManualClock
        timestamp_ms = int(self.running.state.clock.wall() * 1000)
        request.headers.update(
            signed_headers(key, account.key_id, method, request.url.raw_path.decode(), timestamp_ms)
        )
        return self.http.send(request)

    def place_order(
        self, account: AccountInfo, body: object, *, timeout: float | None = None
    ) -> httpx.Response:
        """`POST /portfolio/events/orders` of `body` (tests/wire.py `order_body` builds one),
        signed by `account`: the answer as it came, whatever its status."""
        return self.signed(account, "POST", "/portfolio/events/orders", json=body, timeout=timeout)

    def placed(self, account: AccountInfo, body: object) -> dict[str, Any]:
        """`place_order` that the exchange must take (a 201, or the test fails with the answer's
        text): the created order's answer."""
        response = self.place_order(account, body)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def close(self) -> None:
        self.http.close()
        self.running.stop()


def _start(
    data_dir: Path, scenario: str, clock: Clock | None = None, tier: str | None = None
) -> SimHarness:
    if tier is None:
        return SimHarness(
            start_simulator(data_dir, scenario=scenario, clock=clock, response_hook=RECORDER.hook)
        )
    return SimHarness(
        start_simulator(
            data_dir, scenario=scenario, clock=clock, tier=tier, response_hook=RECORDER.hook
        )
    )


def tier_simulator(tmp_path: Path, tier: str) -> Iterator[SimHarness]:
    """The `sim` fixture's simulator on the API tier `tier` (subaccounts need Advanced or
    above: REFERENCE.md), for a module's own fixture to yield from."""
    harness = _start(tmp_path / "sim", "empty", tier=tier)
    yield harness
    harness.close()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimHarness]:
    harness = _start(tmp_path / "sim", "empty")
    yield harness
    harness.close()


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's local time zone is New York's (UTC-5, -4 in summer): time text read as
    local time instead of UTC comes out hours off."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# The signature window of a simulator on a test's clock that clients signing with the real
# clock also use: each run-out execution timer puts the simulator's clock further ahead.
REAL_CLOCK_WINDOW_S = 3600.0


@pytest.fixture
def manual_clock() -> ManualClock:
    """A clock that moves only when the test says; pass it to `manual_sim`."""
    return ManualClock(time.time())  # now, so the first signatures are fresh


@pytest.fixture
def manual_sim(tmp_path: Path, manual_clock: ManualClock) -> Iterator[SimHarness]:
    """The `sim` fixture on `manual_clock`: its rate-limit buckets refill, orders expire and
    signatures age only when the test advances the clock, however slowly the machine runs."""
    harness = _start(tmp_path / "sim", "empty", manual_clock)
    yield harness
    harness.close()


@pytest.fixture(scope="module")
def sim_default(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimHarness]:
    harness = _start(tmp_path_factory.mktemp("sim-default"), "default")
    yield harness
    harness.close()


@pytest.fixture(autouse=True)
def _responses_conform_to_openapi() -> Iterator[None]:
    RECORDER.drain_violations()  # whatever an earlier module-scoped fixture left behind
    yield
    violations = RECORDER.drain_violations()
    if violations:
        pytest.fail("responses off the openapi.yaml spec:\n" + "\n".join(violations))


@pytest.fixture(autouse=True)
def _every_fake_loops_log_is_closed() -> Iterator[None]:
    """The logs of the fake loops a test built (tests/runner/fakes.py `make_rig`) closed when it
    ends: one left open is closed by the garbage collector later, whose ResourceWarning then
    fails whichever test is running."""
    yield
    fakes = sys.modules.get("tests.runner.fakes")
    if fakes is not None:
        fakes.close_rig_logs()


def _stop_background_simulators(root: Path) -> None:
    """Stop the background simulators (started by commands with env sim) serving under root."""
    for server in root.glob("**/server.json"):
        try:
            mode = json.loads(server.read_text()).get("mode")
        except (OSError, ValueError):
            continue
        if mode == "background":
            stop_simulator(server.parent)


@pytest.fixture(autouse=True)
def _no_background_simulator_outlives_its_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """A command run by a test may start a background simulator in the test's directory; it
    would otherwise serve on until its idle stop, long after the test."""
    # asked for here, before the test, so that tmp_path is torn down after this fixture
    tmp_path = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if tmp_path is not None:
        _stop_background_simulators(tmp_path)


@pytest.fixture(autouse=True, scope="session")
def _relative_paths_land_outside_the_checkout(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """A command a test runs with a relative path (`--out dl/candles`, as the docs write it)
    writes under the working directory: a scratch directory of the session's, never the
    checkout, where a half-written data set would be committed with the next `git add`."""
    checkout = Path.cwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(checkout)


@pytest.fixture(autouse=True, scope="session")
def _no_background_simulator_outlives_the_session(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    yield
    _stop_background_simulators(tmp_path_factory.getbasetemp())

"""An exchange that trickles its answer never holds a request, a command or the kill switch past
its deadline.

A socket read timeout alone is no bound: an answer sent one byte a second resets it with every
byte, so a 10 s timeout could wait for minutes. The client bounds each request as a whole
(connect, write and the whole answer, headers included) by its timeout and by any deadline the
caller runs it under (`clock.Deadline`), and its retries and the kill switch's never start a
wait or an attempt past that deadline.

The trickling server is a plain socket server: it reads the request head, then sends a valid
answer one byte a second, and gives up after `TRICKLE_FOR_S` (so a client without the bound
fails the test in bounded time instead of hanging it). Every wait is on a condition with a
deadline.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.ratelimit import BucketLimit, TierLimits
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.client.retry import nothing_sent
from kalshi_cli.services.killswitch.switch import KillSwitch
from kalshi_cli.vocabulary.clock import Deadline, ManualClock, SystemClock, answers_within
from kalshi_cli.vocabulary.errors import OrderOutcomeUnknown, ServerError, TransportError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import generate_private_key, private_key_pem
from kalshi_cli.vocabulary.units import BookSide
from tests.loopback import LoopbackServer, read_request

TRICKLE_FOR_S = 20.0  # how long the server keeps trickling before it hangs up
BYTE_EVERY_S = 1.0  # one byte a second
BODY = b'{"balance": 100000, "portfolio_value": 0, "orders": [], "cursor": ""}'
ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)
# what a command may take on top of its deadline once it asked the exchange: writing the state
# file, printing, exiting (generous: the machine is shared). Its start (Python and the app's
# imports, seconds on a busy machine) is not counted: the time is taken from its first request.
START_MARGIN_S = 4.0


class TrickleServer:
    """On each connection on loopback, reads the request and then sends `ANSWER` one byte every
    `BYTE_EVERY_S`, until it is sent, `TRICKLE_FOR_S` has passed or the server is closed."""

    def __init__(self) -> None:
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._trickle)
        self.url = f"{self.server.base}/trade-api/v2"

    @property
    def connections(self) -> int:
        return self.server.connections

    @property
    def first_connected_at(self) -> float | None:  # time.monotonic()
        return self.server.first_accepted_at

    def _trickle(self, conn: socket.socket, _n: int) -> None:
        conn.settimeout(5.0)
        if b"\r\n\r\n" not in read_request(conn):
            return
        until = time.monotonic() + TRICKLE_FOR_S
        for byte in ANSWER:
            if self.server.release.wait(BYTE_EVERY_S) or time.monotonic() >= until:
                return
            conn.sendall(bytes([byte]))
            with self._lock:
                self.bytes_sent += 1

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def trickle() -> Iterator[TrickleServer]:
    server = TrickleServer()
    yield server
    server.close()


def _client(url: str, *, timeout: float, **kwargs: object) -> KalshiClient:
    return KalshiClient(
        api_base=url,
        key_id="deadline-test",
        private_key=generate_private_key(),
        tier="prime",
        timeout=timeout,
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_trickled_answer_is_cut_off_at_the_timeout(trickle: TrickleServer) -> None:
    with _client(trickle.url, timeout=2.0, max_attempts=1) as client:
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            client.portfolio.get_balance()
        took = time.monotonic() - started
    # a timeout per read would let the trickle run its 20 s: the bound is half that, far past
    # the 2 s timeout, so a busy machine's stall cannot reach it
    assert took < TRICKLE_FOR_S / 2, f"a 2 s timeout held the request {took:.1f}s"
    assert trickle.bytes_sent >= 1, "the server never started answering: nothing was proven"
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert not nothing_sent(caught.value)


def test_an_order_cut_off_at_its_deadline_is_an_unknown_outcome(trickle: TrickleServer) -> None:
    order = CreateOrder(
        ticker="KXT-M",
        book_side=BookSide.BID,
        price=Decimal("0.50"),
        count=Decimal(1),
        client_order_id="cid-1",
    )
    with _client(trickle.url, timeout=2.0) as client:
        started = time.monotonic()
        with pytest.raises(OrderOutcomeUnknown) as caught:
            client.orders.create_order(order)
        took = time.monotonic() - started
    assert took < TRICKLE_FOR_S / 2  # as above
    assert caught.value.client_order_id == "cid-1"
    assert trickle.connections == 1, "an order whose answer was lost was sent again"


def test_a_callers_deadline_bounds_the_client_retries(trickle: TrickleServer) -> None:
    # each attempt could take its whole 10 s timeout and four of them 40 s, with waits between:
    # the caller's 6 s deadline holds them all, the first one too. The bound is one attempt's
    # timeout, 4 s past the deadline, so a busy machine's stall cannot reach it
    clock = SystemClock()
    with _client(trickle.url, timeout=10.0, max_attempts=4, max_retry_seconds=60.0) as client:
        started = time.monotonic()
        with Deadline.within(clock, 6.0), pytest.raises(TransportError):
            client.portfolio.get_balance()
        took = time.monotonic() - started
    assert took < 10.0, f"a 6 s deadline held the retries {took:.1f}s"


def test_answers_within_gives_a_request_less_than_the_clients_timeout(
    trickle: TrickleServer,
) -> None:
    """The trade loop's own calls run `answers_within` its `call_timeout_s`: a request whose
    answer does not come is given up at that, not at the client's minute."""
    client = _client(trickle.url, timeout=60.0, max_attempts=1)
    with client, answers_within(1.0), pytest.raises(TransportError) as caught:
        client.portfolio.get_balance()
    assert "no response within 1s" in caught.value.message
    assert trickle.connections == 1
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


class _SlowFailures(httpx.BaseTransport):
    """Every request takes `each_s` of the manual clock and is answered 503."""

    def __init__(self, clock: ManualClock, each_s: float) -> None:
        self.clock = clock
        self.each_s = each_s
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        self.clock.advance(self.each_s)
        return httpx.Response(503, json={"error": {"code": "unavailable"}})


def test_the_kill_switch_deadline_holds_under_the_clients_own_retries() -> None:
    # the kill switch retries around a client that retries inside each call: ten attempts of
    # 1 s each with waits between, 60 s of retry budget, under a 5 s deadline
    clock = ManualClock()
    transport = _SlowFailures(clock, each_s=1.0)
    client = KalshiClient(
        api_base="http://exchange.invalid/trade-api/v2",
        key_id="deadline-test",
        private_key=generate_private_key(),
        tier="prime",
        clock=clock,
        transport=transport,
        max_attempts=10,
        max_retry_seconds=60.0,
    )
    started = clock.monotonic()
    report = KillSwitch(client, None, clock, deadline_s=5.0).run()
    spent = clock.monotonic() - started
    assert not report.proven
    assert transport.requests >= 2, "the switch gave up before trying"
    # one attempt already under way when the deadline comes cannot be cut on this clock
    assert spent <= 5.0 + transport.each_s, f"the 5 s deadline ran {spent:.1f}s"


EXCHANGE = "http://exchange.invalid/trade-api/v2"


class _WaitsOverrun(ManualClock):
    """A machine so loaded that every wait between tries ends past the deadline it was
    measured against: the try after it is never sent."""

    def sleep(self, seconds: float) -> None:
        deadline = Deadline.current()
        self.advance(max(seconds, 0.0 if deadline is None else deadline.remaining() + 0.1))


def test_a_retry_its_deadline_kept_from_going_out_reports_the_last_answer() -> None:
    """The exchange answers 503, the wait before the retry overruns the caller's deadline, and
    the retry is never sent: the error is the 503, what the exchange said, not the retry's
    "not sent: its deadline had passed", which says nothing of it."""
    clock = _WaitsOverrun()
    transport = _SlowFailures(clock, each_s=0.0)
    client = _client(EXCHANGE, timeout=10.0, clock=clock, transport=transport)
    with client, Deadline.within(clock, 5.0), pytest.raises(ServerError, match="HTTP 503"):
        client.exchange.get_exchange_status()
    assert transport.requests == 1


def test_the_kill_switch_names_the_exchanges_answer_not_a_try_its_deadline_kept_back() -> None:
    """Every answer a 503 and every wait overrunning: NOT PROVEN, naming the 503s the exchange
    gave, never a try its deadline kept from going out, nor the exchange as out of reach."""
    clock = _WaitsOverrun()
    transport = _SlowFailures(clock, each_s=0.0)
    client = _client(EXCHANGE, timeout=10.0, clock=clock, transport=transport)
    report = KillSwitch(client, None, clock, deadline_s=5.0).run()
    assert not report.proven and transport.requests
    assert not report.unreachable
    assert report.errors and all("HTTP 503" in e for e in report.errors), report.errors


# ---------------------------------------------------------------------------------------------
# through the command line


def _kalshi_binary() -> str:
    script = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    assert script is not None, "the kalshi script is not installed beside this python"
    return script


def _run(
    tmp_path: Path, trickle: TrickleServer, *args: str, **extra: str
) -> tuple[int, float, str]:
    """`kalshi *args` against the trickling exchange: its exit code, how long it ran from its
    first request to its exit, and its output."""
    url = trickle.url
    key = tmp_path / "key.pem"
    key.write_bytes(private_key_pem(generate_private_key()))
    key.chmod(0o600)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "COLUMNS": "120",
        "NO_COLOR": "1",
        "KALSHI_HOME": str(tmp_path / "home"),
        "KALSHI_API_BASE": url,
        "KALSHI_API_KEY_ID": "deadline-test",
        "KALSHI_PRIVATE_KEY_PATH": str(key),
        "KALSHI_TIER": "prime",
        **extra,
    }
    done = subprocess.run(
        [_kalshi_binary(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=TRICKLE_FOR_S * 6,
        check=False,
    )
    ended = time.monotonic()
    assert trickle.first_connected_at is not None, done.stdout + done.stderr
    return done.returncode, ended - trickle.first_connected_at, done.stdout + done.stderr


def test_kalshi_balance_against_a_trickling_exchange_ends_within_its_timeouts(
    trickle: TrickleServer, tmp_path: Path
) -> None:
    # KALSHI_TIMEOUT 2 s per request; a read is tried at most 4 times, with waits of at most
    # 0.25 + 0.5 + 1 s between: 10 s in all, against the minutes the trickle would take
    code, took, output = _run(tmp_path, trickle, "balance", KALSHI_TIMEOUT="2")
    assert code != 0, output
    assert trickle.bytes_sent >= 1
    assert took < 4 * 2.0 + 1.75 + START_MARGIN_S, f"kalshi balance took {took:.1f}s: {output}"


def test_kalshi_cancel_all_against_a_trickling_exchange_ends_at_its_deadline(
    trickle: TrickleServer, tmp_path: Path
) -> None:
    code, took, output = _run(tmp_path, trickle, "cancel-all", "--yes", "--deadline", "3")
    assert code == ExitCode.NOT_PROVEN, output
    assert trickle.bytes_sent >= 1
    assert took < 3.0 + START_MARGIN_S, f"cancel-all --deadline 3 took {took:.1f}s: {output}"


def _emptied_read_bucket(clock: ManualClock) -> tuple[KalshiClient, list[httpx.Request]]:
    """A client whose read bucket (one token, ten a second's worth) its first read emptied,
    and the requests that reached its exchange."""
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"balance": 1, "portfolio_value": 0})

    client = KalshiClient(
        api_base="http://exchange.invalid/trade-api/v2",
        key_id="deadline-test",
        private_key=generate_private_key(),
        clock=clock,
        transport=httpx.MockTransport(answer),
        rate_limits=TierLimits(read=BucketLimit(1, 10), write=BucketLimit(1, 10)),
    )
    client.portfolio.get_balance()  # takes the bucket's tokens
    return client, sent


def test_the_rate_limiters_wait_ends_at_the_callers_deadline() -> None:
    """A read bucket of one token a second, emptied: the next read would wait ~10 s for its
    tokens. Under a 2 s deadline the wait ends there and the read is not sent at all."""
    clock = ManualClock()
    client, sent = _emptied_read_bucket(clock)
    assert len(sent) == 1
    started = clock.monotonic()
    with Deadline.within(clock, 2.0), pytest.raises(TransportError) as caught:
        client.portfolio.get_balance()
    waited = clock.monotonic() - started
    assert waited <= 2.0, f"the wait ran {waited:.1f}s"
    assert nothing_sent(caught.value)
    assert len(sent) == 1


def test_the_rate_limiters_wait_is_not_counted_in_answers_within() -> None:
    """A request waiting its turn has not left: under `answers_within(2.0)` a read whose tokens
    come ~10 s later still goes out then and is answered (a `Deadline` of 2 s would end it
    unsent, above)."""
    clock = ManualClock()
    client, sent = _emptied_read_bucket(clock)
    started = clock.monotonic()
    with answers_within(2.0):
        client.portfolio.get_balance()
    assert clock.monotonic() - started > 2.0  # it waited for its tokens past the 2 s
    assert len(sent) == 2


def test_the_kill_switch_against_a_refused_connection_gives_up_in_seconds_not_its_deadline() -> (
    None
):
    """Nothing listens where the exchange should be: every connect is refused at once. The
    switch used to try again until its whole 60 s deadline was spent (66 s for a person at the
    terminal); a connection refused for `UNREACHABLE_GIVE_UP_S` is NOT PROVEN now, and says
    so. The clock is manual: the waits between tries are the switch's own, counted exactly."""
    from kalshi_cli.services.killswitch.pull import UNREACHABLE_GIVE_UP_S

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clock = ManualClock()
    client = KalshiClient(
        api_base=f"http://127.0.0.1:{port}/trade-api/v2",
        key_id="k",
        private_key=generate_private_key(),
        clock=clock,
        max_attempts=1,
    )
    started = clock.monotonic()
    report = KillSwitch(client, None, clock, deadline_s=60.0).run()
    spent = clock.monotonic() - started
    assert not report.proven and report.unreachable
    assert spent <= UNREACHABLE_GIVE_UP_S + 2.0, f"gave up after {spent:.1f}s"
    assert any("refused" in e.lower() or "connect" in e.lower() for e in report.errors)

"""`kalshi check` has one deadline for the run (`--deadline`, default 60 s): an exchange that
holds its answers makes the checks that ask it UNKNOWN when the deadline passes, exit 3, with
their alert posted as for any UNKNOWN, instead of a run that outlasts the cron wrapper's timeout
(each request may take the client's timeout and its retries, and `all` asks four times over).

The exchange here is a loopback server that reads each request and never answers until the
test ends. The client's timeout is set far above the deadline, so a check that returns at all
before it was cut off by the run's deadline, not by its requests' own timeouts; no test holds
the run to a tight time.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kalshi_cli.alerts.channels.base import DEFAULT_MAX_ATTEMPTS, DEFAULT_TIMEOUT_S
from kalshi_cli.checks import CheckStatus
from kalshi_cli.checks.run import CheckInputs, run_named
from kalshi_cli.checks.thresholds import resolve
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.keys import generate_private_key, private_key_pem
from tests.alerts.receiver import Receiver
from tests.checks.test_check_cli import UNKNOWN, account_env, check, client_for, line
from tests.conftest import SimHarness
from tests.loopback import LoopbackServer, read_request
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
# each request's own timeout: far past any deadline below, so only the deadline can end a check
REQUEST_TIMEOUT_S = "300"


class HeldExchange:
    """Takes each connection on loopback, reads the request and never answers, until closed."""

    def __init__(self) -> None:
        self.requests = 0
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._hold)
        self.url = f"{self.server.base}/trade-api/v2"

    def _hold(self, conn: socket.socket, _n: int) -> None:
        conn.settimeout(5.0)
        if b"\r\n\r\n" not in read_request(conn):
            return
        with self._lock:
            self.requests += 1
        self.server.release.wait()

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def held() -> Iterator[HeldExchange]:
    server = HeldExchange()
    yield server
    server.close()


def held_env(tmp_path: Path, held: HeldExchange) -> dict[str, str]:
    key = tmp_path / "key.pem"
    key.write_bytes(private_key_pem(generate_private_key()))
    key.chmod(0o600)
    return {
        "KALSHI_API_BASE": held.url,
        "KALSHI_API_KEY_ID": "held-answers",
        "KALSHI_PRIVATE_KEY_PATH": str(key),
        "KALSHI_TIMEOUT": REQUEST_TIMEOUT_S,
    }


def test_a_check_the_exchange_holds_is_unknown_at_its_deadline(
    tmp_path: Path, held: HeldExchange
) -> None:
    started = time.monotonic()
    result = check(tmp_path, "positions", "--deadline", "1", environ=held_env(tmp_path, held))
    took = time.monotonic() - started

    assert result.exit_code == UNKNOWN, result.stdout
    assert line(result).startswith(
        "KALSHI POSITIONS UNKNOWN - no verdict within the 1s deadline (--deadline): "
    ), line(result)
    wait_until(lambda: held.requests >= 1, "the check's request reached the exchange")
    assert took < float(REQUEST_TIMEOUT_S), took  # the deadline ended it, not the timeout


def test_check_all_gives_every_check_one_deadline_and_still_grades_the_state_file(
    tmp_path: Path, held: HeldExchange
) -> None:
    """One deadline for the run, not one per check: once it has passed, the checks that ask
    the exchange are not started (UNKNOWN), and those that read the state file still grade it.
    The api check, CRITICAL for an exchange that does not answer within the client's timeout,
    is UNKNOWN here: the run's deadline, not the exchange, ended its look."""
    with Store.open(tmp_path / "state" / "sim" / "state.db") as store:
        store.entries.heartbeat(source="trade")
        store.entries.set_kv("feed.last_message_at", f"{time.time():.3f}")
    result = check(tmp_path, "all", "--deadline", "1", environ=held_env(tmp_path, held))

    assert result.exit_code == UNKNOWN, result.stdout
    lines = {row.split(" - ")[0]: row for row in result.stdout.splitlines()}
    for name in ("POSITIONS", "EXPOSURE", "API", "EXCHANGE", "BALANCE"):
        assert f"KALSHI {name} UNKNOWN" in lines, result.stdout
    for name in ("HEARTBEAT", "FEED", "ORDERS", "PNL"):
        assert f"KALSHI {name} OK" in lines, result.stdout
    not_started = "not started: the run's 1s deadline (--deadline) had passed"
    for name in ("EXPOSURE", "API", "EXCHANGE", "BALANCE"):
        assert lines[f"KALSHI {name} UNKNOWN"].endswith(not_started), result.stdout
    wait_until(lambda: held.requests >= 1, "the positions check's request reached the exchange")
    assert held.requests == 1  # positions asked once; the rest never asked at all


def test_an_exchange_slow_on_every_answer_ends_the_check_at_its_deadline(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Each answer well inside the client's timeout, so no request ever fails, yet a check
    asks several times (positions: the subaccounts, then each one's positions) and `all` four
    checks over: the run's deadline, not any request's, ends it. The deadline falls in the
    positions check's second request on a quiet machine; on a busy one it may fall in the
    first, which is as much the run's deadline (no answer took the client's timeout)."""
    sim.set_faults(latency_ms=1500)
    result = check(tmp_path, "positions", "--deadline", "2", environ=account_env(sim.account))

    assert result.exit_code == UNKNOWN, result.stdout
    assert line(result).startswith(
        "KALSHI POSITIONS UNKNOWN - no verdict within the 2s deadline (--deadline): GET /portfolio/"
    ), line(result)


def test_an_unknown_at_the_deadline_is_posted_like_any_unknown(
    tmp_path: Path, held: HeldExchange, receiver: Receiver
) -> None:
    (tmp_path / "config.yaml").write_text(receiver.alerts_config())
    result = check(tmp_path, "api", "--deadline", "1", environ=held_env(tmp_path, held))

    assert result.exit_code == UNKNOWN, result.stdout
    assert line(result).startswith("KALSHI API UNKNOWN - no verdict within the 1s deadline")
    assert [(p["status"], p["fingerprint"], p["title"]) for p in receiver.posts] == [
        ("firing", "check:api", "KALSHI API UNKNOWN")
    ]


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "3601", "soon"])
def test_a_deadline_that_is_no_number_of_seconds_is_refused_as_unknown(
    tmp_path: Path, value: str
) -> None:
    result = check(tmp_path, "heartbeat", "--deadline", value)
    assert result.exit_code == UNKNOWN, result.stdout
    assert line(result).startswith("KALSHI CHECK UNKNOWN - "), result.stdout
    assert "--deadline" in line(result)


def test_the_default_deadline_leaves_the_cron_wrapper_time_for_the_alerts() -> None:
    """The cron wrapper stops a check at 120 s and reports UNKNOWN in place of its verdict.
    After the deadline, a run may still wait once for the alert state's lock (the busy timeout,
    10 s) and on its webhooks (a default channel's deadline), and Python has to start."""
    from kalshi_cli.checks import DEFAULT_DEADLINE_S
    from kalshi_cli.store.connection import BUSY_TIMEOUT_SECONDS

    wrapper = (ROOT / "scripts" / "cron" / "kalshi-check").read_text()
    assert 'limit="${KALSHI_CHECK_TIMEOUT:-120}"' in wrapper
    alerts = DEFAULT_TIMEOUT_S * DEFAULT_MAX_ATTEMPTS
    assert DEFAULT_DEADLINE_S + BUSY_TIMEOUT_SECONDS + alerts + 10 <= 120


class BalanceHeldPastTheDeadline(httpx.HTTPTransport):
    """The simulator, except that `GET /portfolio/balance` takes until past the run's deadline
    (on the manual clock) and then times out."""

    def __init__(self, clock: ManualClock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/portfolio/balance"):
            self.clock.advance(self.seconds)
            raise httpx.ReadTimeout("held", request=request)
        return super().handle_request(request)


def test_a_critical_read_before_the_deadline_stands_though_a_later_read_is_cut_off(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The exchange said it is inactive (CRITICAL) before the deadline cut off the balance
    read that came after: what it read is a verdict, not "no verdict", and an UNKNOWN would go
    to the `warning` route instead of the pager."""
    now = int(time.time())
    body = {"start_ts": now - 10, "end_ts": now + 600}
    sim.http.post(sim.admin_url + "/exchange/maintenance", json=body).raise_for_status()
    clock = ManualClock(time.time())
    transport = BalanceHeldPastTheDeadline(clock, 30.0)
    # the manual clock runs ahead of the simulator's by the hold: that skew is not graded here
    thresholds = resolve(None, overrides=["api.skew_warn=600", "api.skew_crit=600"])
    with client_for(sim.account, transport=transport, clock=clock) as client:
        inputs = CheckInputs(
            tmp_path / "state.db", thresholds, client=lambda: client, clock=clock, deadline_s=10
        )
        [result] = run_named("api", inputs)
    assert result.status is CheckStatus.CRITICAL, result.summary
    assert result.summary.startswith("exchange inactive; credentials not checked: ")

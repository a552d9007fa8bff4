"""An RFQ or quote write whose answer is lost after it was sent (the connection dropped once the
exchange acted, or a 5xx) is of unknown outcome: `kalshi rfq ...` and `kalshi quote ...` exit 10
naming the command that reads it back, never 7 ("is the exchange reachable?") or 14 as if
nothing happened, and the write is not sent again. An accept the exchange took is a purchase
once the maker confirms: the trader told it failed would not know to withdraw it. A write that
never left (a refused connection) is no such case: it is sent again, or reported unreachable.

The exchange is the real simulator: the dropped connection is its own fault knob, the 5xx a
transport between the command and it that answers 503 once the simulator has acted."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.cli.test_rfq_cli import T, ok_json
from tests.conftest import REAL_CLOCK_WINDOW_S, SimHarness
from tests.prime_tier import kalshi_as, prime_simulator


@pytest.fixture
def prime(tmp_path: Path) -> Iterator[SimHarness]:
    yield from prime_simulator(
        tmp_path, clock=ManualClock(time.time()), auth_window_s=REAL_CLOCK_WINDOW_S
    )


class AnsweredUnavailable(httpx.BaseTransport):
    """The real simulator, except that the first request `lost` picks gets a 503 in place of the
    simulator's answer: the exchange acted, and the caller cannot tell."""

    def __init__(self, lost: Callable[[httpx.Request], bool]) -> None:
        self._inner = httpx.HTTPTransport()
        self._lost = lost
        self.hit = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if self.hit or not self._lost(request):
            return response
        response.read()
        self.hit += 1
        body = {"error": {"code": "service_unavailable", "message": "service unavailable"}}
        return httpx.Response(503, json=body)

    def close(self) -> None:
        self._inner.close()


@dataclass
class Parties:
    requester: Any
    maker: Any
    rfq_id: str = ""
    quote_id: str = ""


def _parties(prime: SimHarness, tmp_path: Path) -> tuple[Parties, AccountInfo]:
    """The requester (the prime simulator's account) and a maker of a new account, each with
    its own KALSHI_HOME; and the maker's account."""
    maker = prime.new_account()
    requester = kalshi_as(prime.account, tmp_path / "requester")
    return Parties(requester, kalshi_as(maker, tmp_path / "maker")), maker


def _rfq(p: Parties) -> None:
    p.rfq_id = ok_json(p.requester("rfq", "create", T, "--count", "10", "--json"))["rfq_id"]


def _quote(p: Parties) -> None:
    _rfq(p)
    quoted = p.maker("quote", "create", p.rfq_id, "--yes-bid", "0.40", "--no-bid", "0.55", "--json")
    p.quote_id = ok_json(quoted)["quote_id"]


def _accepted(p: Parties) -> None:
    _quote(p)
    ok_json(p.requester("quote", "accept", p.quote_id, "--side", "yes", "--json"))


# each write: who sends it (the requester or the maker), what comes before it, its arguments,
# its method and path's end, and the read back the error names, with what that read shows
@dataclass(frozen=True)
class Write:
    name: str
    by_maker: bool
    before: Callable[[Parties], None]
    args: Callable[[Parties], tuple[str, ...]]
    method: str
    path_end: str
    read_back: Callable[[Parties], tuple[str, ...]]
    shows: Callable[[Any, Parties], bool]


WRITES = [
    Write(
        "rfq create",
        False,
        lambda p: None,
        lambda p: ("rfq", "create", T, "--count", "10"),
        "POST",
        "/communications/rfqs",
        lambda p: ("rfq", "list", "--mine"),
        lambda doc, p: [r["status"] for r in doc["rfqs"]] == ["open"],
    ),
    Write(
        "quote create",
        True,
        _rfq,
        lambda p: ("quote", "create", p.rfq_id, "--yes-bid", "0.40", "--no-bid", "0.55"),
        "POST",
        "/communications/quotes",
        lambda p: ("quote", "list", "--mine", "--rfq", p.rfq_id),
        lambda doc, p: [q["status"] for q in doc["quotes"]] == ["open"],
    ),
    Write(
        "quote accept",
        False,
        _quote,
        lambda p: ("quote", "accept", p.quote_id, "--side", "yes"),
        "PUT",
        "/accept",
        lambda p: ("quote", "show", p.quote_id),
        lambda doc, p: doc["status"] == "accepted" and doc["accepted_side"] == "yes",
    ),
    Write(
        "quote confirm",
        True,
        _accepted,
        lambda p: ("quote", "confirm", p.quote_id),
        "PUT",
        "/confirm",
        lambda p: ("quote", "show", p.quote_id),
        lambda doc, p: doc["status"] == "confirmed",
    ),
    Write(
        "quote cancel",
        True,
        _quote,
        lambda p: ("quote", "cancel", p.quote_id),
        "DELETE",
        "/quotes/",
        lambda p: ("quote", "show", p.quote_id),
        lambda doc, p: doc["status"] == "cancelled",
    ),
    Write(
        "rfq cancel",
        False,
        _rfq,
        lambda p: ("rfq", "cancel", p.rfq_id),
        "DELETE",
        "/communications/rfqs/",
        lambda p: ("rfq", "show", p.rfq_id),
        lambda doc, p: doc["status"] == "closed",
    ),
]


def _sent(prime: SimHarness, account: AccountInfo, write: Write) -> int:
    requests = prime.stats()["accounts"][account.key_id]["requests"]
    method, end = write.method, write.path_end
    return sum(
        n for endpoint, n in requests.items() if endpoint.startswith(method) and end in endpoint
    )


@pytest.mark.parametrize("fault", ["connection dropped", "503"])
@pytest.mark.parametrize("write", WRITES, ids=[w.name for w in WRITES])
def test_a_write_whose_answer_is_lost_exits_10_naming_the_read_back_and_is_sent_once(
    prime: SimHarness, tmp_path: Path, write: Write, fault: str
) -> None:
    prime.create_market(T)
    parties, maker_account = _parties(prime, tmp_path)
    write.before(parties)
    account = maker_account if write.by_maker else prime.account
    home = tmp_path / ("maker" if write.by_maker else "requester")

    def lost(request: httpx.Request) -> bool:
        return request.method == write.method and write.path_end in request.url.path

    transport = AnsweredUnavailable(lost) if fault == "503" else None
    sender = kalshi_as(account, home, transport=transport)
    if fault == "connection dropped":
        prime.set_faults(drop_response_after_commit_rate=1.0)
    try:
        result = sender(*write.args(parties))
    finally:
        prime.clear_faults()

    assert result.exit_code == ExitCode.OUTCOME_UNKNOWN, result.output
    read_back = write.read_back(parties)
    assert f"kalshi {' '.join(read_back)}" in result.stderr, result.stderr
    assert "may or may not" in result.stderr
    assert _sent(prime, account, write) == 1
    # the exchange did act: the read back the error names shows it
    party = parties.maker if write.by_maker else parties.requester
    assert write.shows(ok_json(party(*read_back, "--json")), parties)


class ReadsFailAfter(httpx.BaseTransport):
    """The real simulator, until the request `after` picks has been answered: every GET from
    then on is answered 503, as an exchange whose read service fails under the write."""

    def __init__(self, after: Callable[[httpx.Request], bool]) -> None:
        self._inner = httpx.HTTPTransport()
        self._after = after
        self.failing = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.failing and request.method == "GET":
            body = {"error": {"code": "service_unavailable", "message": "service unavailable"}}
            return httpx.Response(503, json=body)
        response = self._inner.handle_request(request)
        self.failing = self.failing or self._after(request)
        return response

    def close(self) -> None:
        self._inner.close()


def test_a_confirmation_answered_yes_is_reported_confirmed_when_the_read_after_it_fails(
    prime: SimHarness, tmp_path: Path
) -> None:
    """The exchange said yes to the confirmation: the orders are placed when the timer runs out.
    A read of the quote after it that fails is no reason to say the confirmation failed."""
    prime.create_market(T)
    parties, maker_account = _parties(prime, tmp_path)
    _accepted(parties)
    transport = ReadsFailAfter(lambda r: r.method == "PUT" and r.url.path.endswith("/confirm"))

    result = kalshi_as(maker_account, tmp_path / "maker", transport=transport)(
        "quote", "confirm", parties.quote_id, "--json"
    )

    assert result.exit_code == 0, result.output
    assert ok_json(result)["result"] == "confirmed"
    shown = ok_json(parties.maker("quote", "show", parties.quote_id, "--json"))
    assert shown["status"] == "confirmed"


class AnswerWithoutId(httpx.BaseTransport):
    """The real simulator, except that the answers `garbled` picks lose their `id`."""

    def __init__(self, garbled: Callable[[httpx.Request], bool]) -> None:
        self._inner = httpx.HTTPTransport()
        self._garbled = garbled

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if not self._garbled(request):
            return response
        body = json.loads(response.read())
        body.pop("id", None)
        return httpx.Response(response.status_code, json=body)

    def close(self) -> None:
        self._inner.close()


@pytest.mark.parametrize("write", WRITES[:2], ids=[w.name for w in WRITES[:2]])
def test_a_create_answered_without_its_id_exits_10_naming_the_read_back(
    prime: SimHarness, tmp_path: Path, write: Write
) -> None:
    """A 201 whose id is missing: the RFQ or quote exists, and the command cannot say which it
    is. Missing means unknown: exit 10 and the listing that shows it, never exit 1."""
    prime.create_market(T)
    parties, maker_account = _parties(prime, tmp_path)
    write.before(parties)
    account = maker_account if write.by_maker else prime.account
    home = tmp_path / ("maker" if write.by_maker else "requester")
    transport = AnswerWithoutId(
        lambda r: r.method == write.method and r.url.path.endswith(write.path_end)
    )

    result = kalshi_as(account, home, transport=transport)(*write.args(parties))

    assert result.exit_code == ExitCode.OUTCOME_UNKNOWN, result.output
    read_back = write.read_back(parties)
    assert f"kalshi {' '.join(read_back)}" in result.stderr, result.stderr
    party = parties.maker if write.by_maker else parties.requester
    assert write.shows(ok_json(party(*read_back, "--json")), parties)


class RefusedBeforeSending(httpx.BaseTransport):
    """The real simulator, except that the first `times` requests `refused` picks fail to
    connect: nothing of them leaves this machine."""

    def __init__(self, refused: Callable[[httpx.Request], bool], times: int) -> None:
        self._inner = httpx.HTTPTransport()
        self._refused = refused
        self.left = times

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.left and self._refused(request):
            self.left -= 1
            raise httpx.ConnectError("connection refused", request=request)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@pytest.mark.parametrize("always", [False, True], ids=["refused-once", "refused-every-time"])
@pytest.mark.parametrize("write", WRITES, ids=[w.name for w in WRITES])
def test_a_write_that_never_left_is_sent_again_or_reported_unsent(
    prime: SimHarness, tmp_path: Path, write: Write, always: bool
) -> None:
    """A connection refused before anything was sent proves the exchange did nothing: the write
    is sent again, and made once; refused every time, the command says the exchange could not
    be reached (exit 7), never that the write may or may not have been made (exit 10), which
    would send the person to read back what is not there."""
    prime.create_market(T)
    parties, maker_account = _parties(prime, tmp_path)
    write.before(parties)
    account = maker_account if write.by_maker else prime.account
    home = tmp_path / ("maker" if write.by_maker else "requester")
    transport = RefusedBeforeSending(
        lambda r: r.method == write.method and write.path_end in r.url.path,
        times=1_000 if always else 1,
    )

    result = kalshi_as(account, home, transport=transport)(*write.args(parties))

    party = parties.maker if write.by_maker else parties.requester
    if always:
        assert result.exit_code == ExitCode.UNREACHABLE, result.output
        assert "may or may not" not in result.stderr, result.stderr
        assert _sent(prime, account, write) == 0
    else:
        assert result.exit_code == 0, result.output
        assert _sent(prime, account, write) == 1
        assert write.shows(ok_json(party(*write.read_back(parties), "--json")), parties)

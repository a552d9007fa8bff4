"""`kalshi cancel-all` and what of the RFQ side it cannot close. A quote on our RFQ, or our
quote on another's, that is confirmed: Kalshi's RFQ guide says that once confirmed "neither
party can withdraw", and the orders are placed on the public book when the execution timer runs
out. An RFQ service that never lists: our accepted quote executes on the maker's confirmation
alone. The kill switch cannot stop either, so it must not say it did: what it could not close is
named, or the RFQ side said unlisted, and the run is not proven (exit 11)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.communications import CommunicationsApi, Rfq
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.cli.test_rfq_cli import T, accepted_quote, ok_json
from tests.conftest import REAL_CLOCK_WINDOW_S, SimHarness
from tests.prime_tier import Kalshi, connect, kalshi_as, prime_simulator


@pytest.fixture
def prime(tmp_path: Path) -> Iterator[SimHarness]:
    """The prime simulator on a test's clock: the execution timer runs out when the test says,
    never during the kill switch's run however slow the machine; the commands sign with the
    real clock."""
    yield from prime_simulator(
        tmp_path, clock=ManualClock(time.time()), auth_window_s=REAL_CLOCK_WINDOW_S
    )


def test_cancel_all_during_an_execution_timer_is_not_proven_and_names_the_rfq(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    prime.create_market(T)
    maker = kalshi_as(prime.new_account(), tmp_path / "maker")
    rfq_id, quote_id = accepted_quote(kalshi, maker)
    ok_json(maker("quote", "confirm", quote_id, "--json"))

    result = kalshi("cancel-all", "--yes", "--json")
    assert result.exit_code == ExitCode.NOT_PROVEN, result.output
    report = json.loads(result.stdout)
    assert report["proven"] is False
    assert report["rfqs_closed"] == [] and report["communications_left"] == [rfq_id]
    assert ok_json(kalshi("rfq", "show", rfq_id, "--json"))["status"] == "open"

    # and the execution goes ahead when the timer runs out, as the guide says
    prime.run_out_execution_timers()
    rows = ok_json(kalshi("positions", "--json"))["positions"]
    assert [(r["side"], r["contracts"]) for r in rows if r["ticker"] == T] == [("yes", "10.00")]


def test_cancel_all_of_a_maker_whose_quote_is_confirmed_is_not_proven_and_names_the_quote(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """The other party's view: our quote on another's RFQ is confirmed, so our order is placed
    when the timer runs out and nothing we send stops it. The switch must name the quote and
    not say it proved the account still."""
    prime.create_market(T)
    requester = kalshi_as(prime.new_account(), tmp_path / "requester")
    _, quote_id = accepted_quote(requester, kalshi)
    ok_json(kalshi("quote", "confirm", quote_id, "--json"))

    result = kalshi("cancel-all", "--yes", "--json")
    assert result.exit_code == ExitCode.NOT_PROVEN, result.output
    report = json.loads(result.stdout)
    assert report["proven"] is False
    assert report["quotes_cancelled"] == [] and report["communications_left"] == [quote_id]

    prime.run_out_execution_timers()
    rows = ok_json(kalshi("positions", "--json"))["positions"]
    assert [(r["side"], r["contracts"]) for r in rows if r["ticker"] == T] == [("no", "10.00")]


def test_an_event_scoped_cancel_all_names_our_confirmed_quote_in_that_event(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """`--event` leaves our open and accepted quotes alone (neither executes without our
    confirmation, which HALTED refuses), but a confirmed one executes with no further word from
    us: in the event's scope it is named, and the run is not proven."""
    prime.create_market(T)
    prime.create_market("KXOTHER-26JAN01-T1", event_ticker="KXOTHER-26JAN01")
    requester = kalshi_as(prime.new_account(), tmp_path / "requester")
    _, quote_id = accepted_quote(requester, kalshi)
    ok_json(kalshi("quote", "confirm", quote_id, "--json"))
    event = T.rsplit("-", 1)[0]

    elsewhere = kalshi("cancel-all", "--event", "KXOTHER-26JAN01", "--yes", "--json")
    assert elsewhere.exit_code == 0, elsewhere.output
    assert json.loads(elsewhere.stdout)["communications_left"] == []

    result = kalshi("cancel-all", "--event", event, "--yes", "--json")
    assert result.exit_code == ExitCode.NOT_PROVEN, result.output
    report = json.loads(result.stdout)
    assert report["proven"] is False and report["communications_left"] == [quote_id]


class SecondListingFailsOnce:
    """The real RFQ service, except that the second RFQ listing (the proof's) is answered 503
    once: retried, it answers."""

    def __init__(self, real: CommunicationsApi) -> None:
        self._real = real
        self.listings = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def iter_rfqs(self, **filters: Any) -> Iterator[Rfq]:
        self.listings += 1
        if self.listings == 2:
            raise ServerError("the RFQ service is busy", status=503, code="unavailable")
        return self._real.iter_rfqs(**filters)


def test_the_text_report_names_what_the_rfq_side_left_open_whatever_error_came_last(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """The person reading `NOT PROVEN` must learn that an RFQ of theirs will execute, even when
    the last error of the run is a passing 503 that a retry got past."""
    prime.create_market(T)
    maker = kalshi_as(prime.new_account(), tmp_path / "maker")
    rfq_id, quote_id = accepted_quote(kalshi, maker)
    ok_json(maker("quote", "confirm", quote_id, "--json"))

    def client() -> KalshiClient:
        real = connect(prime.account)
        real.__dict__["communications"] = SecondListingFailsOnce(real.communications)
        return real

    result = kalshi("cancel-all", "--yes", client=client)

    assert result.exit_code == ExitCode.NOT_PROVEN, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("NOT PROVEN: ") for line in lines), result.stdout
    assert any(rfq_id in line and "still open" in line for line in lines), result.stdout


class RfqListingDown:
    """The real RFQ service, except that its RFQ listing answers 503 every time."""

    def __init__(self, real: CommunicationsApi) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def iter_rfqs(self, **filters: Any) -> Iterator[Rfq]:
        raise ServerError("the RFQ service is down", status=503, code="unavailable")


def test_a_kill_that_could_not_list_the_rfq_side_is_not_proven(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """Our RFQ whose quote we accepted executes on the maker's confirmation alone. A kill switch
    that never saw the RFQ side cannot say the account is clean: the maker confirms after it,
    and we buy."""
    prime.create_market(T)
    maker = kalshi_as(prime.new_account(), tmp_path / "maker")
    _, quote_id = accepted_quote(kalshi, maker)

    def client() -> KalshiClient:
        real = connect(prime.account)
        real.__dict__["communications"] = RfqListingDown(real.communications)
        return real

    result = kalshi("cancel-all", "--yes", "--json", "--deadline", "5", client=client)

    assert result.exit_code == ExitCode.NOT_PROVEN, result.output
    report = json.loads(result.stdout)
    assert report["proven"] is False and report["rfqs_closed"] == []
    # what the switch could not close executes on the maker's confirmation
    ok_json(maker("quote", "confirm", quote_id, "--json"))
    prime.run_out_execution_timers()
    rows = ok_json(kalshi("positions", "--json"))["positions"]
    assert [(r["side"], r["contracts"]) for r in rows if r["ticker"] == T] == [("yes", "10.00")]

"""RFQs and quotes on subaccounts: the `subaccount` of CreateRFQ and CreateQuote
puts the RFQ or quote on that subaccount of its user, so the orders an executed quote places
are that subaccount's (its cash, fills and positions); `creator_subaccount` and
`rfq_creator_subaccount` report it to the owner; GetRFQs' `subaccount` filters on it; the user
still owns what it made on any of its subaccounts; a subaccount not created is refused; a
restarted simulator keeps all of it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.vocabulary.clock import ManualClock
from tests.conftest import SimHarness
from tests.openapi_check import RECORDER

T = "KXRFQSUB-26JAN01-A"
RFQS = "/communications/rfqs"
QUOTES = "/communications/quotes"


def ok(answer: Any, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json() if answer.content else None


def _harness(path: Path, clock: ManualClock | None = None) -> SimHarness:
    """On a test's clock, so that an execution timer runs out when the test says."""
    return SimHarness(
        start_simulator(
            path,
            scenario="empty",
            tier="advanced",
            clock=clock or ManualClock(time.time()),
            response_hook=RECORDER.hook,
        )
    )


@pytest.fixture
def adv(tmp_path: Path) -> Iterator[SimHarness]:
    harness = _harness(tmp_path / "sim")
    harness.create_market(T)
    yield harness
    harness.close()


def fund_subaccounts(sim: SimHarness, me: AccountInfo, count: int, cents: int) -> None:
    """Create subaccounts 1..count and move `cents` to the last one."""
    for number in range(1, count + 1):
        made = ok(sim.signed(me, "POST", "/portfolio/subaccounts", json={}), 201)
        assert made["subaccount_number"] == number
    body = {
        "client_transfer_id": str(uuid.uuid4()),
        "from_subaccount": 0,
        "to_subaccount": count,
        "amount_cents": cents,
    }
    ok(sim.signed(me, "POST", "/portfolio/subaccounts/transfer", json=body))


def positions(sim: SimHarness, who: AccountInfo, subaccount: int) -> Decimal:
    params = {"subaccount": str(subaccount)}
    rows = ok(sim.signed(who, "GET", "/portfolio/positions", params=params))["market_positions"]
    return sum((Decimal(r["position_fp"]) for r in rows if r["ticker"] == T), Decimal(0))


def fills(sim: SimHarness, who: AccountInfo, subaccount: int) -> list[Any]:
    params = {"subaccount": str(subaccount)}
    rows: list[Any] = ok(sim.signed(who, "GET", "/portfolio/fills", params=params))["fills"]
    return rows


def rfqs_on(sim: SimHarness, who: AccountInfo, subaccount: int) -> list[str]:
    params = {"subaccount": str(subaccount)}
    return [r["id"] for r in ok(sim.signed(who, "GET", RFQS, params=params))["rfqs"]]


def trade_on_subaccounts(sim: SimHarness) -> tuple[AccountInfo, AccountInfo, str, str]:
    """An RFQ on the requester's subaccount 1 quoted from the maker's subaccount 2, accepted,
    confirmed and executed: (requester, maker, rfq id, quote id)."""
    requester, maker = sim.account, sim.new_account()
    fund_subaccounts(sim, requester, 1, 50_00)
    fund_subaccounts(sim, maker, 2, 50_00)
    rfq_body = {"market_ticker": T, "contracts_fp": "10", "rest_remainder": False, "subaccount": 1}
    rfq_id = ok(sim.signed(requester, "POST", RFQS, json=rfq_body), 201)["id"]
    quote_body = {
        "rfq_id": rfq_id,
        "yes_bid": "0.40",
        "no_bid": "0.55",
        "rest_remainder": False,
        "subaccount": 2,
    }
    quote_id = ok(sim.signed(maker, "POST", QUOTES, json=quote_body), 201)["id"]
    accept = {"accepted_side": "yes"}
    ok(sim.signed(requester, "PUT", f"{QUOTES}/{quote_id}/accept", json=accept), 204)
    ok(sim.signed(maker, "PUT", f"{QUOTES}/{quote_id}/confirm"), 204)
    sim.run_out_execution_timers()
    return requester, maker, rfq_id, quote_id


def test_an_executed_quote_trades_on_the_two_subaccounts_and_not_on_0(adv: SimHarness) -> None:
    requester, maker, rfq_id, quote_id = trade_on_subaccounts(adv)
    # the requester bought 10 YES at 0.40 on its subaccount 1, the maker holds 10 NO on its 2
    assert (positions(adv, requester, 1), positions(adv, requester, 0)) == (10, 0)
    assert (positions(adv, maker, 2), positions(adv, maker, 0)) == (-10, 0)
    assert {f["yes_price_dollars"] for f in fills(adv, requester, 1)} == {"0.4000"}
    assert fills(adv, requester, 0) == [] and fills(adv, maker, 0) == []
    assert len(fills(adv, maker, 2)) >= 1
    # the cash moved on the subaccounts: $4.00 (plus fees) left subaccount 1, not subaccount 0
    rows = ok(adv.signed(requester, "GET", "/portfolio/subaccounts/balances"))
    balances = {r["subaccount_number"]: Decimal(r["balance"]) for r in rows["subaccount_balances"]}
    assert balances[0] == Decimal("950.00") and balances[1] < Decimal("46.00")
    # each owner sees its own subaccount in the shapes
    rfq = ok(adv.signed(requester, "GET", f"{RFQS}/{rfq_id}"))["rfq"]
    assert rfq["creator_subaccount"] == 1
    assert "creator_subaccount" not in ok(adv.signed(maker, "GET", f"{RFQS}/{rfq_id}"))["rfq"]
    mine = ok(adv.signed(maker, "GET", f"{QUOTES}/{quote_id}"))["quote"]
    assert mine["creator_subaccount"] == 2 and "rfq_creator_subaccount" not in mine
    theirs = ok(adv.signed(requester, "GET", f"{QUOTES}/{quote_id}"))["quote"]
    assert theirs["rfq_creator_subaccount"] == 1 and "creator_subaccount" not in theirs


def test_the_rfq_list_filters_on_the_callers_subaccount(adv: SimHarness) -> None:
    requester, maker, rfq_id, _ = trade_on_subaccounts(adv)
    primary = ok(
        adv.signed(
            requester,
            "POST",
            RFQS,
            json={"market_ticker": T, "contracts_fp": "1", "rest_remainder": False},
        ),
        201,
    )["id"]
    assert rfqs_on(adv, requester, 1) == [rfq_id]
    assert rfqs_on(adv, requester, 0) == [primary]
    # the maker has no RFQ on its subaccount 1; without the filter it sees every RFQ
    assert rfqs_on(adv, maker, 1) == []
    assert {r["id"] for r in ok(adv.signed(maker, "GET", RFQS))["rfqs"]} == {rfq_id, primary}


def test_the_user_owns_its_subaccounts_rfqs_and_quotes_and_unknown_ones_are_refused(
    adv: SimHarness,
) -> None:
    me, maker = adv.account, adv.new_account()
    fund_subaccounts(adv, me, 1, 10_00)
    body = {"market_ticker": T, "contracts_fp": "2", "rest_remainder": False, "subaccount": 3}
    refused = adv.signed(me, "POST", RFQS, json=body)
    assert refused.status_code == 400 and "subaccount" in refused.text
    rfq_id = ok(adv.signed(me, "POST", RFQS, json={**body, "subaccount": 1}), 201)["id"]
    # one open RFQ per user and market, whichever subaccount it is on
    assert adv.signed(me, "POST", RFQS, json={**body, "subaccount": 0}).status_code == 409
    quoted = {"rfq_id": rfq_id, "yes_bid": "0.40", "no_bid": "0.55", "rest_remainder": False}
    assert adv.signed(maker, "POST", QUOTES, json={**quoted, "subaccount": 1}).status_code == 400
    # the user cannot quote its own RFQ from another of its subaccounts
    assert adv.signed(me, "POST", QUOTES, json=quoted).status_code == 400
    quote_id = ok(adv.signed(maker, "POST", QUOTES, json=quoted), 201)["id"]
    mine = ok(adv.signed(me, "GET", RFQS, params={"user_filter": "self"}))["rfqs"]
    assert [r["id"] for r in mine] == [rfq_id] and mine[0]["creator_user_id"]
    assert ok(adv.signed(me, "GET", QUOTES, params={"rfq_user_filter": "self"}))["quotes"]
    ok(adv.signed(me, "DELETE", f"{RFQS}/{rfq_id}"), 204)
    gone = ok(adv.signed(maker, "GET", f"{QUOTES}/{quote_id}"))["quote"]
    assert gone["status"] == "cancelled"


def test_a_restart_keeps_the_subaccounts_of_rfqs_quotes_and_their_trades(tmp_path: Path) -> None:
    clock = ManualClock(time.time())
    first = _harness(tmp_path / "sim", clock)
    first.create_market(T)
    requester, maker, rfq_id, quote_id = trade_on_subaccounts(first)

    def seen(sim: SimHarness, who: AccountInfo, sub: int) -> Any:
        return (
            ok(sim.signed(who, "GET", f"{RFQS}/{rfq_id}"))["rfq"],
            ok(sim.signed(who, "GET", f"{QUOTES}/{quote_id}"))["quote"],
            rfqs_on(sim, who, sub),
            positions(sim, who, sub),
            fills(sim, who, sub),
        )

    before = [seen(first, requester, 1), seen(first, maker, 2)]
    first.close()
    second = _harness(tmp_path / "sim", clock)
    try:
        moved = [who._replace(api_base=second.account.api_base) for who in (requester, maker)]
        after = [seen(second, moved[0], 1), seen(second, moved[1], 2)]
        assert after == before
        assert after[0][0]["creator_subaccount"] == 1 and after[1][3] == -10
    finally:
        second.close()

"""RFQs and quotes on the simulator (sim/core/communications.py): create, list, quote, accept,
confirm, delete, with the execution placing real orders on the book once the confirmation's
execution timer ran out, each caller seeing only what the spec lets it see, and the
`communications` WebSocket channel validated against asyncapi.yaml. The timer itself, and what
the execution does on the public book: tests/sim/test_rfq_execution_timer.py."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.sim.core.communications import QuoteRequest, RfqRequest
from kalshi_cli.sim.core.scenarios import build_exchange
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.vocabulary.clock import ManualClock
from tests.conftest import SimHarness
from tests.sim.test_spec_audit import ws_problems
from tests.sim.wsutil import Ws

T = "KXRFQ-26JAN01-A"
QUIET = "KXFEDDECISION-SIM-DEC-H0"  # a market of the "quiet" scenario
RFQS = "/communications/rfqs"
QUOTES = "/communications/quotes"


def ok(answer: Any, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json() if answer.content else None


def create_rfq(sim: SimHarness, who: AccountInfo, **extra: Any) -> str:
    body = {"market_ticker": T, "contracts_fp": "10", "rest_remainder": False, **extra}
    rfq_id: str = ok(sim.signed(who, "POST", RFQS, json=body), 201)["id"]
    return rfq_id


def quote(sim: SimHarness, who: AccountInfo, rfq_id: str, yes: str, no: str, **extra: Any) -> str:
    body = {"rfq_id": rfq_id, "yes_bid": yes, "no_bid": no, "rest_remainder": False, **extra}
    quote_id: str = ok(sim.signed(who, "POST", QUOTES, json=body), 201)["id"]
    return quote_id


def position(sim: SimHarness, who: AccountInfo) -> Decimal:
    rows = ok(sim.signed(who, "GET", "/portfolio/positions"))["market_positions"]
    return sum((Decimal(r["position_fp"]) for r in rows if r["ticker"] == T), Decimal(0))


def test_an_accepted_and_confirmed_quote_trades_between_the_two(manual_sim: SimHarness) -> None:
    sim = manual_sim
    sim.create_market(T)
    requester, maker = sim.account, sim.new_account()
    rfq_id = create_rfq(sim, requester)
    [listed] = ok(sim.signed(maker, "GET", RFQS))["rfqs"]
    assert listed["id"] == rfq_id and listed["status"] == "open"
    assert listed["contracts_fp"] == "10.00" and "creator_user_id" not in listed  # private
    quote_id = quote(sim, maker, rfq_id, "0.40", "0.55")
    scoped = f"{RFQS}/{rfq_id}/quotes/{quote_id}"

    ok(sim.signed(requester, "PUT", scoped + "/accept", json={"accepted_side": "yes"}), 204)
    seen = ok(sim.signed(maker, "GET", scoped))["quote"]
    assert (seen["status"], seen["accepted_side"]) == ("accepted", "yes")
    # only the maker confirms; the requester cannot
    assert sim.signed(requester, "PUT", scoped + "/confirm").status_code == 404
    ok(sim.signed(maker, "PUT", scoped + "/confirm"), 204)
    assert ok(sim.signed(maker, "GET", scoped))["quote"]["status"] == "confirmed"

    sim.run_out_execution_timers()
    done = ok(sim.signed(maker, "GET", scoped))["quote"]
    assert done["status"] == "executed" and done["creator_order_id"]
    assert "rfq_creator_order_id" not in done  # the requester's order is the requester's
    # the requester bought 10 YES at the quote's yes price; the maker holds the 10 NO
    assert (position(sim, requester), position(sim, maker)) == (Decimal(10), Decimal(-10))
    fills = ok(sim.signed(requester, "GET", "/portfolio/fills"))["fills"]
    assert {f["yes_price_dollars"] for f in fills} == {"0.4000"}
    assert ok(sim.signed(requester, "GET", f"{RFQS}/{rfq_id}"))["rfq"]["status"] == "closed"


def test_accepting_no_buys_no_at_the_no_price(manual_sim: SimHarness) -> None:
    sim = manual_sim
    sim.create_market(T)
    requester, maker = sim.account, sim.new_account()
    rfq_id = create_rfq(sim, requester, contracts_fp="3")
    quote_id = quote(sim, maker, rfq_id, "0", "0.30")  # declines the YES side
    refused = sim.signed(
        requester, "PUT", f"{QUOTES}/{quote_id}/accept", json={"accepted_side": "yes"}
    )
    assert refused.status_code == 400
    ok(
        sim.signed(requester, "PUT", f"{QUOTES}/{quote_id}/accept", json={"accepted_side": "no"}),
        204,
    )
    ok(sim.signed(maker, "PUT", f"{QUOTES}/{quote_id}/confirm"), 204)
    sim.run_out_execution_timers()
    assert (position(sim, requester), position(sim, maker)) == (Decimal(-3), Decimal(3))


def test_a_refused_execution_cancels_the_quote_and_leaves_no_order(
    manual_sim: SimHarness,
) -> None:
    """The execution is refused when the timer runs out; the confirmation, answered long
    before, was accepted: the refusal shows in the quote, cancelled with its reason."""
    sim = manual_sim
    sim.create_market(T)
    requester, maker = sim.new_account(balance_cents=100), sim.new_account()
    rfq_id = create_rfq(sim, requester)  # 10 contracts at 0.40 = $4.00, with $1.00 of cash
    quote_id = quote(sim, maker, rfq_id, "0.40", "0.55")
    ok(
        sim.signed(requester, "PUT", f"{QUOTES}/{quote_id}/accept", json={"accepted_side": "yes"}),
        204,
    )
    ok(sim.signed(maker, "PUT", f"{QUOTES}/{quote_id}/confirm"), 204)
    sim.run_out_execution_timers()
    refused = ok(sim.signed(maker, "GET", f"{QUOTES}/{quote_id}"))["quote"]
    assert refused["status"] == "cancelled"
    assert refused["cancellation_reason"].startswith("execution refused: insufficient balance")
    for who in (requester, maker):
        resting = ok(sim.signed(who, "GET", "/portfolio/orders", params={"status": "resting"}))
        assert resting["orders"] == []
        assert position(sim, who) == 0


def test_quotes_are_private_and_a_new_quote_replaces_the_old(sim: SimHarness) -> None:
    sim.create_market(T)
    requester, maker, other = sim.account, sim.new_account(), sim.new_account()
    rfq_id = create_rfq(sim, requester)
    first = quote(sim, maker, rfq_id, "0.40", "0.55")
    second = quote(sim, maker, rfq_id, "0.41", "0.55")
    theirs = quote(sim, other, rfq_id, "0.39", "0.57")
    statuses = {q["id"]: q["status"] for q in ok(sim.signed(requester, "GET", QUOTES))["quotes"]}
    assert statuses == {first: "cancelled", second: "open", theirs: "open"}
    assert {q["id"] for q in ok(sim.signed(maker, "GET", QUOTES))["quotes"]} == {first, second}
    assert sim.signed(maker, "GET", f"{QUOTES}/{theirs}").status_code == 404
    mine = ok(sim.signed(other, "GET", QUOTES, params={"user_filter": "self"}))["quotes"]
    assert [q["id"] for q in mine] == [theirs]
    # one's own RFQ cannot be quoted
    body = {"rfq_id": rfq_id, "yes_bid": "0.40", "no_bid": "0.55", "rest_remainder": False}
    assert sim.signed(requester, "POST", QUOTES, json=body).status_code == 400


def test_rfq_rules_one_open_per_market_ids_are_uuids_and_delete_closes(sim: SimHarness) -> None:
    sim.create_market(T)
    me, maker = sim.account, sim.new_account()
    first = create_rfq(sim, me, obscure_creator_id=True)
    again = sim.signed(
        me, "POST", RFQS, json={"market_ticker": T, "contracts_fp": "1", "rest_remainder": False}
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_exists"
    second = create_rfq(sim, me, replace_existing=True)
    assert ok(sim.signed(me, "GET", f"{RFQS}/{first}"))["rfq"]["status"] == "closed"
    # the obscured creator is "0" to others, itself to the creator
    assert ok(sim.signed(maker, "GET", f"{RFQS}/{first}"))["rfq"]["creator_id"] == "0"
    assert ok(sim.signed(me, "GET", f"{RFQS}/{first}"))["rfq"]["creator_id"] != "0"
    # an id that is not a UUID is refused alike in the path and in the query
    for path, query, named in (
        (f"{RFQS}/not-a-uuid", {}, "rfq_id"),
        (RFQS, {"cursor": "x"}, "cursor"),
    ):
        refused = sim.signed(me, "GET", path, params=query)
        assert (refused.status_code, refused.json()["error"]["message"]) == (
            400,
            f"{named} is not a UUID",
        )
    assert sim.signed(me, "GET", f"{RFQS}/{uuid.uuid4()}").status_code == 404
    # neither both sizes nor none
    both = {
        "market_ticker": T,
        "contracts_fp": "1",
        "target_cost_dollars": "5.00",
        "rest_remainder": False,
    }
    assert sim.signed(me, "POST", RFQS, json={**both, "replace_existing": True}).status_code == 400
    ok(sim.signed(me, "DELETE", f"{RFQS}/{second}"), 204)
    assert ok(sim.signed(me, "GET", RFQS, params={"status": "open"}))["rfqs"] == []
    mine = ok(sim.signed(me, "GET", RFQS, params={"user_filter": "self", "limit": "1"}))
    assert len(mine["rfqs"]) == 1 and mine["cursor"]


def test_an_rfq_and_a_quote_without_rest_remainder_are_refused_as_missing(
    sim: SimHarness,
) -> None:
    sim.create_market(T)
    me, maker = sim.account, sim.new_account()
    rfq_id = create_rfq(sim, me)
    for who, path, body in (
        (me, RFQS, {"market_ticker": T, "contracts_fp": "10", "rest_remainder": None}),
        (maker, QUOTES, {"rfq_id": rfq_id, "yes_bid": "0.40", "no_bid": "0.55"}),
    ):
        refused = sim.signed(who, "POST", path, json=body)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == "missing_parameters"
        assert refused.json()["error"]["message"] == "rest_remainder is required"
    assert ok(sim.signed(maker, "GET", QUOTES, params={"rfq_id": rfq_id}))["quotes"] == []


def test_a_target_cost_rfq_sizes_each_side_of_a_quote(sim: SimHarness) -> None:
    sim.create_market(T)
    requester, maker = sim.account, sim.new_account()
    rfq_id = create_rfq(
        sim,
        requester,
        contracts_fp=None,
        target_cost_dollars="10.00",
        target_cost_excludes_fees=True,
    )
    quote_id = quote(sim, maker, rfq_id, "0.40", "0.30")
    seen = ok(sim.signed(requester, "GET", f"{QUOTES}/{quote_id}"))["quote"]
    # $10 buys 25 YES at 0.40 or 33 NO at 0.30 (whole contracts, fees on top)
    assert (seen["yes_contracts_fp"], seen["no_contracts_fp"]) == ("25.00", "33.00")


def test_a_target_cost_with_fees_sizes_a_quote_at_its_markets_own_taker_fee(
    manual_sim: SimHarness, manual_clock: ManualClock
) -> None:
    """A target cost that includes fees caps principal plus the taker fee the requester would
    pay in that market (openapi.yaml `target_cost_excludes_fees`: "the target cost caps
    principal plus Kalshi fees"), the fee the simulator charges its fills: its series' rate,
    none while its fee waiver runs. $100 buys 230 YES at 0.40 or 303 NO at 0.30 at twice the
    standard rate, 250 and 333 while the fee is waived; the quote was sized at the standard
    rate in both (239 and 317)."""
    sim = manual_sim
    doubled, waived = "KXRFQDBL-26JAN01-A", "KXRFQFREE-26JAN01-A"
    sim.create_market(doubled, fee_type="quadratic", fee_multiplier="2")
    sim.create_market(
        waived,
        fee_type="quadratic",
        fee_multiplier="1",
        fee_waiver_expiration_time=int(manual_clock.wall()) + 3600,
    )
    requester, maker = sim.account, sim.new_account()
    sizes = {}
    for ticker in (doubled, waived):
        rfq_id = create_rfq(
            sim, requester, market_ticker=ticker, contracts_fp=None, target_cost_dollars="100.00"
        )
        quote_id = quote(sim, maker, rfq_id, "0.40", "0.30")
        seen = ok(sim.signed(requester, "GET", f"{QUOTES}/{quote_id}"))["quote"]
        sizes[ticker] = (seen["yes_contracts_fp"], seen["no_contracts_fp"])
    assert sizes == {doubled: ("230.00", "303.00"), waived: ("250.00", "333.00")}


def test_the_communications_channel_tells_each_party_its_own_story(
    manual_sim: SimHarness, manual_clock: ManualClock
) -> None:
    sim = manual_sim
    sim.create_market(T)
    requester, maker, bystander = sim.account, sim.new_account(), sim.new_account()
    now_ms = int(manual_clock.wall() * 1000)
    sockets = {
        name: Ws(who, now_ms=now_ms)
        for name, who in (("r", requester), ("m", maker), ("b", bystander))
    }
    try:
        for ws in sockets.values():
            ws.subscribe(["communications"])
        rfq_id = create_rfq(sim, requester)
        quote_id = quote(sim, maker, rfq_id, "0.45", "0.50")
        ok(
            sim.signed(
                requester, "PUT", f"{QUOTES}/{quote_id}/accept", json={"accepted_side": "yes"}
            ),
            204,
        )
        ok(sim.signed(maker, "PUT", f"{QUOTES}/{quote_id}/confirm"), 204)
        sim.run_out_execution_timers()
        kinds = ("rfq_created", "quote_created", "quote_accepted", "quote_executed")
        seen: dict[str, list[dict[str, Any]]] = {}
        for name in ("r", "m"):
            seen[name] = [sockets[name].recv_until(lambda m, k=k: m["type"] == k) for k in kinds]
        created = sockets["b"].recv_until(lambda m: m["type"] == "rfq_created")
        assert created["msg"]["id"] == rfq_id
        for name, messages in seen.items():
            assert [m["seq"] for m in messages] == [1, 2, 3, 4], name
            for message in [*messages, created]:
                assert ws_problems(message) == [], message
        orders = {
            name: ok(sim.signed(who, "GET", "/portfolio/orders"))["orders"][0]["order_id"]
            for name, who in (("r", requester), ("m", maker))
        }
        assert seen["r"][3]["msg"]["order_id"] == orders["r"]
        assert seen["m"][3]["msg"]["order_id"] == orders["m"]
        # the bystander hears of the RFQ, never of the quotes: its next message is its delete
        ok(
            sim.signed(
                requester,
                "POST",
                RFQS,
                json={
                    "market_ticker": T,
                    "contracts_fp": "1",
                    "rest_remainder": False,
                    "replace_existing": True,
                },
            ),
            201,
        )
        later = sockets["b"].recv()
        assert later["type"] == "rfq_created" and later["seq"] == 2
    finally:
        for ws in sockets.values():
            ws.close()


def _everything(sim: SimHarness, who: AccountInfo) -> dict[str, Any]:
    """What `who` can see of RFQs, quotes, orders, fills and positions."""
    return {
        "rfqs": ok(sim.signed(who, "GET", RFQS))["rfqs"],
        "quotes": ok(sim.signed(who, "GET", QUOTES))["quotes"],
        "orders": ok(sim.signed(who, "GET", "/portfolio/orders"))["orders"],
        "fills": ok(sim.signed(who, "GET", "/portfolio/fills"))["fills"],
        "positions": ok(sim.signed(who, "GET", "/portfolio/positions"))["market_positions"],
        "balance": ok(sim.signed(who, "GET", "/portfolio/balance"))["balance"],
    }


def test_a_restarted_simulator_has_the_same_rfqs_quotes_fills_and_positions(
    tmp_path: Path,
) -> None:
    """Every RFQ and quote write is journaled: a simulator restarted on the same data directory
    shows each account the same RFQs, quotes (every status: open, accepted, executed, cancelled
    by a refused execution, deleted) and the fills and positions an execution made."""
    other = "KXRFQ-26JAN01-B"
    clock = ManualClock(time.time())  # the execution timers run out when the test says
    with start_simulator(tmp_path, scenario="empty", tier="prime", clock=clock) as first:
        sim = SimHarness(first)
        sim.create_market(T)
        sim.create_market(other)
        requester, maker, poor = sim.account, sim.new_account(), sim.new_account(balance_cents=100)
        # executed
        done = create_rfq(sim, requester)
        executed = quote(sim, maker, done, "0.40", "0.55")
        sim.signed(requester, "PUT", f"{QUOTES}/{executed}/accept", json={"accepted_side": "yes"})
        ok(sim.signed(maker, "PUT", f"{QUOTES}/{executed}/confirm"), 204)
        sim.run_out_execution_timers()
        # open RFQ with an accepted quote, a replaced one and a deleted one
        live = create_rfq(sim, requester, contracts_fp="4")
        quote(sim, maker, live, "0.30", "0.60")
        replacing = quote(sim, maker, live, "0.31", "0.60")
        deleted = quote(sim, poor, live, "0.20", "0.70")
        ok(sim.signed(poor, "DELETE", f"{QUOTES}/{deleted}"), 204)
        ok(
            sim.signed(
                requester, "PUT", f"{QUOTES}/{replacing}/accept", json={"accepted_side": "no"}
            ),
            204,
        )
        # an execution refused for the requester's balance cancels the quote
        broke = create_rfq(sim, poor, market_ticker=other)
        refused = quote(sim, maker, broke, "0.40", "0.55")
        sim.signed(poor, "PUT", f"{QUOTES}/{refused}/accept", json={"accepted_side": "yes"})
        ok(sim.signed(maker, "PUT", f"{QUOTES}/{refused}/confirm"), 204)
        sim.run_out_execution_timers()
        # a deleted RFQ
        gone = create_rfq(sim, maker, market_ticker=other)
        ok(sim.signed(maker, "DELETE", f"{RFQS}/{gone}"), 204)
        accounts = (requester, maker, poor)
        before = [_everything(sim, who) for who in accounts]
        sim.http.close()
    with start_simulator(tmp_path, scenario="empty", tier="prime", clock=clock) as second:
        sim = SimHarness(second)
        # the same keys, at the new address
        moved = [who._replace(api_base=second.account.api_base) for who in accounts]
        requester, maker = moved[0], moved[1]
        after = [_everything(sim, who) for who in moved]
        assert after == before
        assert [q["status"] for q in after[1]["quotes"]] == [
            "cancelled",
            "accepted",
            "cancelled",
            "executed",
        ]
        # the restored quote goes on where it stopped: the maker confirms the accepted one
        ok(sim.signed(maker, "PUT", f"{QUOTES}/{replacing}/confirm"), 204)
        sim.run_out_execution_timers()
        assert position(sim, requester) == Decimal(10 - 4)
        sim.http.close()


def test_rfqs_and_quotes_survive_compaction(tmp_path: Path) -> None:
    """The snapshot a compaction writes holds the RFQs and quotes (the journal it replaces
    held their records)."""
    journal = tmp_path / "j.jsonl"
    ex = build_exchange("quiet", clock=ManualClock(), journal=journal)
    a = ex.accounts.create_account(key_id="a", public_key_pem="", cash_cents=100_00).account_id
    b = ex.accounts.create_account(key_id="b", public_key_pem="", cash_cents=100_00).account_id
    assert ex.subaccounts.create_subaccount(a) == 1
    rfq = ex.communications.create_rfq(
        a,
        RfqRequest(
            market_ticker=QUIET,
            contracts=Decimal(2),
            target_cost=None,
            rest_remainder=False,
            subaccount=1,
        ),
    )
    q = ex.communications.create_quote(
        b,
        QuoteRequest(
            rfq_id=rfq.rfq_id, yes_bid=Decimal("0.40"), no_bid=Decimal("0.50"), rest_remainder=False
        ),
    )
    ex.compact()
    ex.communications.accept_quote(a, q.quote_id, "yes")
    ex.close()
    again = build_exchange("quiet", clock=ManualClock(), journal=journal)
    try:
        assert again.communications.quote(q.quote_id).status == "accepted"
        assert again.communications.rfq(rfq.rfq_id).market_ticker == QUIET
        assert again.communications.rfq(rfq.rfq_id).subaccount == 1
    finally:
        again.close()

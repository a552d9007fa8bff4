"""A market is determined (its result known, `result` set) before it is settled (positions
paid), `settlement_timer_seconds` after it (openapi.yaml `Market.settlement_timer_seconds`: "The
amount of time after determination that the market settles"; `Market.status` `determined`, then
`finalized`; asyncapi `market_lifecycle_v2` `determined` with `result`, then `settled`).

Over the wire, a market held determined: it reads `determined` with its result, the account's
position is not paid, its balance not credited, no settlement listed, the lifecycle says
`determined` alone; the second step settles it. On the core's clock: the settlement timer
settles it by itself, and a journal replay keeps both steps apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import (
    ExchangeError,
    MarketLifecycle,
    SimEvent,
    SimSeries,
)
from kalshi_cli.sim.core.serialize import market_json
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import NO_FEES, SimHarness
from tests.runner.fakes import place_on_desk
from tests.sim.test_core import market
from tests.sim.wsutil import Ws
from tests.wire import order_body

TIMER_S = 3600


def _trade(sim: SimHarness, ticker: str) -> None:
    """The harness's account buys 10 YES at $0.30 from another account."""
    seller = sim.new_account()
    bid = order_body(ticker, price="0.30", count="10")
    sim.place_order(sim.account, bid).raise_for_status()
    ask = {**bid, "side": "ask", "time_in_force": "immediate_or_cancel"}
    sim.place_order(seller, ask).raise_for_status()


def _read(sim: SimHarness, path: str, **params: Any) -> dict[str, Any]:
    answer = sim.signed(sim.account, "GET", path, params=params or None)
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def test_a_market_held_determined_shows_its_result_and_pays_nothing_until_settled(
    sim: SimHarness,
) -> None:
    t = "KXHELD-26-A"
    sim.create_market(t, settlement_timer_seconds=TIMER_S)
    _trade(sim, t)
    cash = _read(sim, "/portfolio/balance")["balance"]
    ws = Ws(sim.account)
    try:
        ws.subscribe(["market_lifecycle_v2"])
        determined = httpx.post(f"{sim.admin_url}/markets/{t}/determine", json={"result": "yes"})
        assert determined.status_code == 200, determined.text
        market_read = _read(sim, f"/markets/{t}")["market"]
        assert (market_read["status"], market_read["result"]) == ("determined", "yes")
        assert market_read["settlement_timer_seconds"] == TIMER_S
        positions = _read(sim, "/portfolio/positions", ticker=t)["market_positions"]
        assert [p["position_fp"] for p in positions] == ["10.00"]
        assert _read(sim, "/portfolio/balance")["balance"] == cash
        assert _read(sim, "/portfolio/settlements")["settlements"] == []
        # the list filter has no `determined`: a market closed to trading, not yet settled
        listed = _read(sim, "/markets", status="closed")["markets"]
        assert [m["ticker"] for m in listed if m["ticker"] == t] == [t]
        settled = _read(sim, "/markets", status="settled")["markets"]
        assert not [m for m in settled if m["ticker"] == t]
        said = ws.recv_until(lambda m: m.get("type") == "market_lifecycle_v2")["msg"]
        assert (said["event_type"], said["result"]) == ("determined", "yes")
        assert said["settlement_value"] == "1.0000"

        # the second step: settled with the result determined
        sim.settle(t, "yes")
        said = ws.recv_until(lambda m: m.get("type") == "market_lifecycle_v2")["msg"]
        assert said["event_type"] == "settled"
    finally:
        ws.close()
    market_read = _read(sim, f"/markets/{t}")["market"]
    assert (market_read["status"], market_read["result"]) == ("finalized", "yes")
    assert _read(sim, "/portfolio/balance")["balance"] == cash + 1000
    settlements = _read(sim, "/portfolio/settlements")["settlements"]
    assert [(s["ticker"], s["revenue"]) for s in settlements] == [(t, 1000)]


def test_a_determined_market_takes_no_order_and_no_other_result(sim: SimHarness) -> None:
    t = "KXHELD-26-B"
    sim.create_market(t, settlement_timer_seconds=TIMER_S)
    httpx.post(f"{sim.admin_url}/markets/{t}/determine", json={"result": "no"}).raise_for_status()
    bid = order_body(t, price="0.30", count="1")
    refused = sim.place_order(sim.account, bid)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "market_closed")
    other = httpx.post(f"{sim.admin_url}/markets/{t}/settle", json={"result": "yes"})
    assert other.status_code == 409
    reopened = httpx.post(f"{sim.admin_url}/markets/{t}/status", json={"status": "open"})
    assert reopened.status_code == 409
    again = httpx.post(f"{sim.admin_url}/markets/{t}/determine", json={"result": "no"})
    assert again.status_code == 409


def test_today_s_one_step_settle_still_determines_and_settles_at_once(sim: SimHarness) -> None:
    t = "KXHELD-26-C"
    sim.create_market(t, settlement_timer_seconds=TIMER_S)
    _trade(sim, t)
    cash = _read(sim, "/portfolio/balance")["balance"]
    sim.settle(t, "yes")
    assert _read(sim, f"/markets/{t}")["market"]["status"] == "finalized"
    assert _read(sim, "/portfolio/balance")["balance"] == cash + 1000


class _Core:
    """An exchange on a test's clock with one market whose settlement timer is `TIMER_S`, where
    account `a` holds 10 YES bought from `b` at $0.30."""

    def __init__(self, journal: Path | None = None) -> None:
        self.clock = ManualClock()
        self.ex = Exchange(clock=self.clock, fees=NO_FEES, journal=journal)
        self.ex.reference.add_series(SimSeries("SER", "series"))
        self.ex.reference.add_event(SimEvent("EV", "SER", "event"))
        self.ex.add_market(market("M", settlement_timer_seconds=TIMER_S))
        self.a = self.ex.accounts.create_account(
            key_id="a", public_key_pem="", cash_cents=100_00
        ).account_id
        b = self.ex.accounts.create_account(
            key_id="b", public_key_pem="", cash_cents=100_00
        ).account_id
        for who, side in ((self.a, BookSide.BID), (b, BookSide.ASK)):
            place_on_desk(self.ex, who, "M", side, "0.30", 10)

    def cash(self, ex: Exchange | None = None) -> int:
        return (ex or self.ex).accounts.account(self.a).cash_cents


def test_the_settlement_timer_settles_a_determined_market_by_itself() -> None:
    core = _Core()
    said: list[MarketLifecycle] = []
    core.ex.reference.listeners.append(
        lambda notice: said.append(notice) if isinstance(notice, MarketLifecycle) else None
    )
    cash = core.cash()
    determined_at = core.clock.wall()
    core.ex.settlement.determine("M", "yes")
    core.clock.advance(TIMER_S - 1)
    core.ex.tick()
    m = core.ex.reference.markets["M"]
    assert (m.status, m.result, core.cash()) == ("determined", "yes", cash)
    assert market_json(core.ex.engine, m)["status"] == "determined"
    core.clock.advance(1)
    core.ex.tick()
    assert (m.status, m.settled_time) == ("settled", determined_at + TIMER_S)
    assert core.cash() == cash + 1000
    assert [(n.event_type, n.ts) for n in said if n.event_type in ("determined", "settled")] == [
        ("determined", determined_at),
        ("settled", determined_at + TIMER_S),
    ]


def test_a_settle_of_another_result_than_the_one_determined_is_refused() -> None:
    core = _Core()
    core.ex.settlement.determine("M", "no")
    try:
        core.ex.settlement.settle("M", "yes")
    except ExchangeError as exc:
        assert exc.status == 409
    else:
        raise AssertionError("a determined NO was settled YES")


def test_a_result_other_than_yes_no_or_scalar_is_refused_and_determines_nothing() -> None:
    core = _Core()
    void: Any = "void"  # what a caller reading untyped data could pass
    try:
        core.ex.settlement.determine("M", void)
    except ExchangeError as exc:
        assert (exc.status, exc.message) == (400, "result must be yes, no or scalar")
    else:
        raise AssertionError("a market was determined void")
    assert core.ex.reference.markets["M"].status == "open"


def test_a_restored_journal_keeps_the_market_determined_then_settles_it(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    core = _Core(journal)
    core.ex.settlement.determine("M", "yes")
    core.ex.close()
    restored = Exchange(clock=core.clock, fees=NO_FEES, journal=journal)
    try:
        m = restored.reference.markets["M"]
        assert (m.status, m.result) == ("determined", "yes")
        assert core.cash(restored) == core.cash()
        core.clock.advance(TIMER_S)
        restored.tick()
        assert m.status == "settled"
        assert core.cash(restored) == core.cash() + 1000
    finally:
        restored.close()

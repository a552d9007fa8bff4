"""A set of legs ends whole or flat, and says which, under the simulator's own faults: a
three-market set (NO 5 in each) sent by the loop's set part (runner/execution/leg_sets.py) while
the exchange drops an answer after the order was accepted, holds a leg past the client's
deadline, or answers a burst of 429s; while the loop is stopped with a leg out; and after a kill
between two legs. Nothing is ever sent twice: every order of the set has its own client order
id, and each market's orders on the exchange are the ones the state file records."""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.checks import CheckResult, CheckStatus
from kalshi_cli.checks.local import LocalView, check_orders
from kalshi_cli.checks.thresholds import resolve
from kalshi_cli.cli._output import Output
from kalshi_cli.cli.trading import render_kill_report
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.runner.lifecycle.session import _summary
from kalshi_cli.runner.loop.stop_proof import SetsLeftBroken
from kalshi_cli.services.killswitch.switch import KillSwitch
from kalshi_cli.services.reconcile import reconcile
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import SystemClock, parse_iso
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.conftest import SimHarness
from tests.runner.sim_rig import Rig, rig
from tests.runner.simproc import (
    Book,
    client_for,
    log_events,
    observer_for,
    stop,
    trade_command,
    trade_env,
    trade_process,
)
from tests.waiting import pause, poll_until

A, B, C = "KXSET-SIM-A", "KXSET-SIM-B", "KXSET-SIM-C"
TICKERS = [A, B, C]
# the kill switch's deadline in the tests that read what it names: the sets it reports are read
# from the state file before its deadline begins, so the deadline changes nothing they assert
# (even 0 s names the same); the default spent 20 s of each waiting out an unknown leg's landing
# window, and the proof itself is the subject of tests/services/test_killswitch_*.py
SWITCH_DEADLINE_S = 2


class FaultsAtLeg(httpx.HTTPTransport):
    """The real transport; just before the order create of a market named in `faults` leaves,
    the simulator's fault knobs are set to that market's (`PUT /sim/v1/faults`), and cleared
    once the create is answered (or failed). `before` runs first (a kill between two legs)."""

    def __init__(self, sim: SimHarness, faults: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.sim = sim
        self.faults = faults
        self.before: Callable[[str], None] = lambda ticker: None
        self.cleared_at: float | None = None  # monotonic, when the faults were last cleared

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        ticker = next((t for t in self.faults if t.encode() in request.content), None)
        if request.method != "POST" or not request.url.path.endswith("/orders") or ticker is None:
            return super().handle_request(request)
        self.before(ticker)
        self.sim.set_faults(**self.faults.pop(ticker))
        try:
            return super().handle_request(request)
        finally:
            self.sim.clear_faults()
            self.cleared_at = time.monotonic()


def _no(ticker: str) -> Intent:
    # the quiet book bids YES 0.40 and asks 0.60: NO asks 0.60, 100 deep
    return Intent(
        ticker,
        Side.NO,
        Action.BUY,
        Decimal("0.60"),
        Decimal(5),
        Decimal("0.70"),
        "arbitrage: one NO in every market",
        strategy="arbitrage",
        time_in_force=TimeInForce.IOC,
    )


@contextmanager
def _set_rig(
    sim: SimHarness, tmp_path: Path, faults: dict[str, dict[str, Any]], **kw: Any
) -> Iterator[tuple[Rig, FaultsAtLeg]]:
    transport = FaultsAtLeg(sim, faults)
    with rig(
        sim, tmp_path, TICKERS, strategy="arbitrage", params={}, transport=transport, **kw
    ) as r:
        yield r, transport


def _send_set(r: Rig) -> None:
    r.loop.legs.execute([_no(t) for t in TICKERS], last_data_at=r.loop.clock.wall())


def _ticking(r: Rig) -> None:
    r.loop.tick(r.feed.drain_messages(), full=True)
    pause()


def _held(r: Rig) -> dict[str, Decimal]:
    """NO held in each market, as the exchange lists it."""
    listed = {p.ticker: -p.position for p in r.client.portfolio.get_positions()}
    return {t: listed.get(t, Decimal(0)) for t in TICKERS}


def _amounts(held: object) -> dict[str, Decimal]:
    assert isinstance(held, dict)
    return {k: Decimal(v) for k, v in held.items()}


def _done(r: Rig) -> list[dict[str, object]]:
    return r.events("group_done") + r.events("group_left_broken")


def _until_done(r: Rig) -> dict[str, object]:
    assert poll_until(lambda: bool(_done(r)), between=lambda: _ticking(r), within_s=60)
    (done,) = _done(r)
    return done


def _never_twice(r: Rig) -> None:
    """Every order the state file records has its own client order id, and the exchange
    holds no order of the trader's that the state file does not."""
    rows = r.store.orders.intents()
    assert not [c for c, n in Counter(i.client_order_id for i in rows).items() if n > 1]
    on_exchange = list(r.client.orders.iter_orders())
    assert {o.client_order_id for o in on_exchange} <= {i.client_order_id for i in rows}


def _whole(r: Rig, done: dict[str, object]) -> None:
    assert done["status"] == "whole", done
    assert _held(r) == dict.fromkeys(TICKERS, Decimal(5))
    assert r.events("group_broken") == []
    _never_twice(r)


@pytest.mark.slow
def test_a_first_leg_whose_answer_was_lost_is_looked_up_and_the_set_goes_on(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A's create executes and its answer is dropped: the set waits for its lookup, which finds
    it executed, and then sends B and C: NO 5 in each, one order each."""
    with _set_rig(sim, tmp_path, {A: {"drop_response_after_commit_rate": 1.0}}) as (r, _):
        _send_set(r)
        (unknown,) = r.events("group_leg_unknown")
        assert unknown["ticker"] == A
        _whole(r, _until_done(r))
        resolved = [e for e in r.events("order_resolved") if e["ticker"] == A]
        assert [e["status"] for e in resolved] == ["executed"]


@pytest.mark.slow
def test_a_second_leg_whose_answer_was_lost_is_not_sold_back_against(
    sim: SimHarness, tmp_path: Path
) -> None:
    """B's create executes and its answer is dropped: A is not sold back while B's outcome is
    unknown; the lookup finds B executed and C completes the set."""
    with _set_rig(sim, tmp_path, {B: {"drop_response_after_commit_rate": 1.0}}) as (r, _):
        _send_set(r)
        _whole(r, _until_done(r))
        assert [g["action"] for g in r.events("group_leg")] == ["buy", "buy", "buy"]


@pytest.mark.slow
def test_a_second_leg_slower_than_the_call_deadline_is_settled_before_the_set_decides(
    sim: SimHarness, tmp_path: Path
) -> None:
    """B is held in the network past the client's deadline (it lands after): B is looked up
    once the backoff lets it, found executed, and C goes once the backoff is over."""
    faults = {B: {"hold_request_s": 3.0}}
    with _set_rig(sim, tmp_path, faults, timeout=1.5) as (r, _):
        _send_set(r)
        _whole(r, _until_done(r))
        assert r.events("group_unwind_failed") == []


@pytest.mark.slow
def test_a_sale_back_held_by_a_429_burst_goes_when_the_backoff_ends(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Every request 429 while B is sent: B is refused, and the sale back of A, held by the
    backoff, goes once it ends: flat, and said so."""
    with _set_rig(sim, tmp_path, {B: {"http_429_rate": 1.0}}) as (r, _):
        _send_set(r)
        done = _until_done(r)
        assert done["status"] == "flat", done
        assert _held(r) == dict.fromkeys(TICKERS, Decimal(0))
        assert r.events("group_unwind_failed") == []
        (broken,) = r.events("group_broken")
        assert _amounts(broken["held"]) == {f"{A} no": 5, f"{B} no": 0, f"{C} no": 0}
        sales = [g for g in r.events("group_leg") if g["action"] == "sell"]
        assert [(g["ticker"], Decimal(str(g["filled"]))) for g in sales] == [(A, 5)]
        _never_twice(r)


@pytest.mark.slow
def test_a_second_leg_the_exchange_refuses_in_a_paused_market_has_the_first_sold_back(
    sim: SimHarness, tmp_path: Path
) -> None:
    """B's market is paused: the exchange refuses B, and A is sold back at once: flat, each
    line naming what is held."""
    with _set_rig(sim, tmp_path, {}) as (r, _):
        sim.set_status(B, "paused")
        _send_set(r)
        done = _until_done(r)
        assert done["status"] == "flat", done
        assert _held(r) == dict.fromkeys(TICKERS, Decimal(0))
        (broken,) = r.events("group_broken")
        assert _amounts(broken["held"]) == {f"{A} no": 5, f"{B} no": 0, f"{C} no": 0}
        assert broken["reason"] == (
            "a leg did not fill in full: what each leg holds beyond 0 whole set(s) is sold back"
        )
        _never_twice(r)


@pytest.mark.slow
def test_a_stop_with_the_second_leg_out_unwinds_the_set_before_it_exits(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The loop is stopped while B is held in the network: B's answer comes back within the
    stop, C is not sent by a stopping loop, and A and B are sold back before it exits: flat,
    and the stop names no set left broken."""
    faults = {B: {"hold_request_s": 2.0}}
    with _set_rig(sim, tmp_path, faults, send_workers=2) as (r, transport):
        _send_set(r)
        # A's answer is booked by a tick; then B goes, and is held
        assert poll_until(lambda: B not in transport.faults, between=lambda: _ticking(r))
        assert transport.cleared_at is None
        summary = r.loop.stop.shutdown(cancel_resting=True)
        assert summary.broken_sets == ()
        assert _held(r) == dict.fromkeys(TICKERS, Decimal(0))
        (done,) = r.events("group_done")
        assert done["status"] == "flat"
        assert [g["ticker"] for g in r.events("group_leg") if g["action"] == "buy"] == [A, B]
        _never_twice(r)


@pytest.mark.slow
def test_a_stop_that_cannot_sell_back_exits_not_proven(sim: SimHarness, tmp_path: Path) -> None:
    """Stopped while B is out, with nobody left bidding for A: the set is left broken, said
    (`group_left_broken`), and the run's end is exit 11, not 0."""
    faults = {B: {"hold_request_s": 2.0}}
    with _set_rig(sim, tmp_path, faults, send_workers=2) as (r, transport):
        _send_set(r)
        assert poll_until(lambda: B not in transport.faults, between=lambda: _ticking(r))
        r.books[A].set("ask", None)  # NO's bids are YES asks: nobody buys A's NO back
        assert poll_until(lambda: r.loop.legs.sale_back.price(A, Side.NO, Decimal(5)) is None)
        summary = r.loop.stop.shutdown(cancel_resting=True)
        (left,) = r.events("group_left_broken")
        assert summary.broken_sets == (left["set"],)
        with pytest.raises(SetsLeftBroken) as raised:
            _summary(summary, None)
        assert raised.value.exit_code == ExitCode.NOT_PROVEN


class Killed(BaseException):
    """The process killed between two legs."""


def _kill_between_legs(transport: FaultsAtLeg) -> None:
    def kill(ticker: str) -> None:
        raise Killed

    transport.before = kill


@pytest.mark.slow
def test_the_kill_switch_names_a_set_left_broken_and_its_legs(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Killed after A filled and before B left: `cancel-all` names the set and what each leg
    holds (NO 5 of A, none of C; B unknown: its intent was written and no answer recorded, as
    a kill while its request is out leaves it), in its text and its `--json`."""
    with _set_rig(sim, tmp_path, {B: {}}) as (r, transport):
        _kill_between_legs(transport)
        with pytest.raises(Killed):
            _send_set(r)
        report = KillSwitch(r.client, r.store, SystemClock(), deadline_s=SWITCH_DEADLINE_S).run()
    (broken,) = report.to_json()["broken_sets"]
    assert (broken["status"], broken["subaccount"]) == ("open", 0)
    assert [(g["ticker"], g["side"], g["held"]) for g in broken["legs"]] == [
        (A, "no", "5"),
        (B, "no", "unknown"),
        (C, "no", "0"),
    ]
    out = io.StringIO()
    render_kill_report(Output(stdout=out), report, scope="all markets")
    assert f"set {broken['set_id']} (arbitrage, open, subaccount 0): {A} no 5" in out.getvalue()


@pytest.mark.slow
def test_a_start_after_a_kill_between_two_legs_unwinds_the_set_it_finds(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Killed after A filled and before B left: the state file holds the set open. The next
    loop on the same account and state file says so (`group_broken`, naming NO 5 held in A)
    and sells A back: flat."""
    with _set_rig(sim, tmp_path, {B: {}}) as (r, transport):
        _kill_between_legs(transport)
        with pytest.raises(Killed):
            _send_set(r)
        account = r.account
        assert [s.status for s in r.store.leg_sets.unfinished(0)] == ["open"]
    with rig(sim, tmp_path, TICKERS, strategy="arbitrage", params={}, trader=account) as again:
        done = _until_done(again)
        assert done["status"] == "flat", done
        (broken,) = again.events("group_broken")
        assert _amounts(broken["held"]) == {f"{A} no": 5, f"{B} no": 0, f"{C} no": 0}
        assert broken["reason"] == (
            "found open in the state file at start: what each leg holds beyond 0 whole set(s) "
            "is sold back"
        )
        assert _held(again) == dict.fromkeys(TICKERS, Decimal(0))
        assert again.store.leg_sets.unfinished(0) == []
        _never_twice(again)


@pytest.mark.slow
def test_sigterm_with_a_leg_out_unwinds_the_set_before_the_process_exits(
    sim: SimHarness, tmp_path: Path
) -> None:
    """`kalshi trade --strategy arbitrage` on a three-market exclusive event whose NO asks sum
    to 1.80: its first leg is held in the network when SIGTERM comes, and answered (NO 5) within
    the stop. The stop sends no further leg and sells the leg back: the process exits 0 holding
    nothing, and says the set ended flat."""
    tickers = [f"KXSETS-SIM-{c}" for c in "ABC"]
    for ticker in tickers:
        sim.create_market(ticker, event_ticker="KXSETS-SIM", mutually_exclusive=True)
    trader = sim.new_account(balance_cents=10_000_000)
    maker = client_for(sim.new_account(balance_cents=10_000_000))
    for ticker in tickers:
        Book(maker, ticker).quote("0.40", "0.60")  # NO asks 0.60, NO bids 0.40
    params = tmp_path / "arbitrage.yaml"
    params.write_text("max_count: 5\n", encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    # the held leg is answered, not given up on: a send worker waits for it past the hold
    (home / "config.yaml").write_text("trade:\n  call_timeout_s: 30\n", encoding="utf-8")
    state, log = tmp_path / "state.db", tmp_path / "trade.log"
    command = trade_command("arbitrage", ",".join(tickers), log, "--params", str(params))
    sim.set_faults(hold_request_s=5.0)  # the next order create: the set's first leg
    with trade_process(command, trade_env(trader, home, state)) as proc, maker:
        # the hold is taken (the knob back at 0) once the first leg reached the exchange
        assert poll_until(lambda: sim.faults()["hold_request_s"] == 0 or proc.poll() is not None)
        assert proc.poll() is None
        err = stop(proc)
    assert proc.returncode == 0, err[-2000:]
    events = log_events(log)
    (done,) = [e for e in events if e["event"] == "group_done"]
    assert done["status"] == "flat", done
    legs = [(e["ticker"], e["action"]) for e in events if e["event"] == "group_leg"]
    assert legs == [(tickers[0], "buy"), (tickers[0], "sell")]
    with observer_for(trader) as watcher:
        assert watcher.portfolio.get_positions() == []


@pytest.mark.slow
def test_a_stop_before_the_first_tick_unwinds_the_set_found_at_start(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Killed after A filled and before B left; the next loop is stopped before its first tick
    could unwind the set it found (NO 5 held in A): the stop unwinds it (flat, said), never an
    exit 0 with the set left open."""
    with _set_rig(sim, tmp_path, {B: {}}) as (r, transport):
        _kill_between_legs(transport)
        with pytest.raises(Killed):
            _send_set(r)
        account = r.account
    with rig(sim, tmp_path, TICKERS, strategy="arbitrage", params={}, trader=account) as again:
        summary = again.loop.stop.shutdown(cancel_resting=True)
        assert summary.broken_sets == ()
        assert _held(again) == dict.fromkeys(TICKERS, Decimal(0))
        (done,) = _done(again)
        assert done["status"] == "flat", done
        assert again.store.leg_sets.unfinished(0) == []
        _never_twice(again)


@pytest.mark.slow
def test_a_sale_back_whose_answer_was_lost_and_never_placed_is_sold_again(
    sim: SimHarness, tmp_path: Path
) -> None:
    """B's market is paused, so A is sold back; the sale's create is answered 503 before the
    exchange took it. Its lookups find it never placed: the sale goes again (under a new client
    order id) and the set ends flat, not left broken with bids to sell into."""
    with _set_rig(sim, tmp_path, {B: {}}) as (r, transport):
        # the window in which a lost order may still land, short: its rule is not what is tested
        r.loop.executor.unknown_orders.landing_s = 3.0
        sim.set_status(B, "paused")

        def then_fail_a(ticker: str) -> None:  # A's next create, once B went: its sale back
            transport.faults[A] = {"http_5xx_rate": 1.0}

        transport.before = then_fail_a
        _send_set(r)
        done = _until_done(r)
        assert done["status"] == "flat", done
        assert _held(r) == dict.fromkeys(TICKERS, Decimal(0))
        assert r.events("group_unwind_failed") == []
        resolved = [e for e in r.events("order_resolved") if e["ticker"] == A]
        assert [e["status"] for e in resolved] == ["rejected"]
        _never_twice(r)


@pytest.mark.slow
def test_a_stop_whose_sale_back_is_refused_429_sells_again_within_its_deadline(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Stopped while B is out; A's sale back at the stop is answered 429 once: the stop sells
    again once the backoff ends, within its deadline, and exits flat, no set left broken."""
    faults = {B: {"hold_request_s": 2.0}}
    with _set_rig(sim, tmp_path, faults, send_workers=2) as (r, transport):
        _send_set(r)
        assert poll_until(lambda: B not in transport.faults, between=lambda: _ticking(r))
        transport.faults[A] = {"http_429_rate": 1.0}  # A's next create: its sale back
        summary = r.loop.stop.shutdown(cancel_resting=True)
        assert summary.broken_sets == ()
        assert _held(r) == dict.fromkeys(TICKERS, Decimal(0))
        (done,) = r.events("group_done")
        assert done["status"] == "flat", done
        _never_twice(r)


@pytest.mark.slow
def test_a_sale_back_answered_429_goes_again_once_the_backoff_ends(
    sim: SimHarness, tmp_path: Path
) -> None:
    """B's market is paused, so A is sold back while the loop runs; the sale's create is
    answered 429 (never placed, nothing filled). That is no refusal by the risk engine and no
    sale that filled short: it goes again once the backoff ends, and the set ends flat."""
    with _set_rig(sim, tmp_path, {B: {}}) as (r, transport):
        sim.set_status(B, "paused")

        def then_throttle_a(ticker: str) -> None:  # A's next create, once B went: its sale back
            transport.faults[A] = {"http_429_rate": 1.0}

        transport.before = then_throttle_a
        _send_set(r)
        done = _until_done(r)
        assert done["status"] == "flat", done
        assert _held(r) == dict.fromkeys(TICKERS, Decimal(0))
        assert r.events("group_unwind_failed") == []
        # the sale's line says what the set holds after it: none of A left
        sold = [g for g in r.events("group_leg") if g["action"] == "sell"][-1]
        assert Decimal(str(sold["filled"])) == 5, sold
        assert _amounts(sold["held"]) == dict.fromkeys((f"{t} no" for t in TICKERS), 0)
        _never_twice(r)


@pytest.mark.slow
def test_a_sale_back_sent_long_after_the_set_was_decided_is_judged_on_the_feed_now(
    sim: SimHarness, tmp_path: Path
) -> None:
    """B's market is paused, so A is sold back; the sale's create is answered 503 before the
    exchange took it, and its lookups find it never placed only past the stale-feed limit
    (`risk.stale_after_s`) after the set was decided. The feed is fresh all along (C's book
    moves every tick): the sale that goes again is judged on the data of now, not refused as
    stale for the age of the set's decision, and the set ends flat."""
    with _set_rig(sim, tmp_path, {B: {}}, risk={"stale_after_s": 2.0}) as (r, transport):
        r.loop.executor.unknown_orders.landing_s = 4.0  # past the stale-feed limit
        sim.set_status(B, "paused")

        def then_fail_a(ticker: str) -> None:  # A's next create, once B went: its sale back
            transport.faults[A] = {"http_5xx_rate": 1.0}

        transport.before = then_fail_a
        _send_set(r)
        prices = iter(["0.30", "0.31"] * 200)

        def moving(r: Rig) -> None:
            r.books[C].set("moving", BookSide.BID, next(prices))
            _ticking(r)

        assert poll_until(lambda: bool(_done(r)), between=lambda: moving(r), within_s=60)
        (done,) = _done(r)
        assert done["status"] == "flat", done
        assert _held(r) == dict.fromkeys(TICKERS, Decimal(0))
        assert r.events("group_unwind_failed") == []
        _never_twice(r)


@pytest.mark.slow
def test_the_kill_switch_names_a_leg_of_unknown_outcome_as_unknown_not_as_none_held(
    sim: SimHarness, tmp_path: Path
) -> None:
    """B's create executes and its answer is dropped, and the loop is killed before its lookup:
    the state file knows B only as an order of unknown outcome. `cancel-all` names the set, A
    held (NO 5) and B as unknown, never as holding none (the exchange holds NO 5 of it)."""
    with _set_rig(sim, tmp_path, {B: {"drop_response_after_commit_rate": 1.0}}) as (r, _):
        _send_set(r)
        (unknown,) = r.events("group_leg_unknown")
        assert unknown["ticker"] == B
        assert _held(r)[B] == 5
        report = KillSwitch(r.client, r.store, SystemClock(), deadline_s=SWITCH_DEADLINE_S).run()
    (broken,) = report.to_json()["broken_sets"]
    assert [(g["ticker"], g["held"]) for g in broken["legs"]] == [
        (A, "5"),
        (B, "unknown"),
        (C, "0"),
    ]
    out = io.StringIO()
    render_kill_report(Output(stdout=out), report, scope="all markets")
    assert f"{B} no unknown of 5" in out.getvalue(), out.getvalue()


@pytest.mark.slow
def test_a_sale_back_the_order_rate_cap_has_no_room_for_waits_for_room(
    sim: SimHarness, tmp_path: Path
) -> None:
    """`risk.max_orders_per_minute` 3 and C's market paused: A and B fill, C is refused, and the
    three orders fill the minute's cap. The sale back of A waits for room (`group_waits`), never
    given up as filled short. The stop, within the same minute, asks the risk engine as the run
    does: the cap refuses the sales back of A and B (ORDER_RATE, said), nothing goes past it,
    and the set is left broken with A and B held, named for the exit 11."""
    risk = {"max_orders_per_minute": 3}
    with _set_rig(sim, tmp_path, {}, risk=risk) as (r, _):
        sim.set_status(C, "paused")
        _send_set(r)
        (broken,) = r.events("group_broken")
        assert _amounts(broken["held"]) == {f"{A} no": 5, f"{B} no": 5, f"{C} no": 0}
        _ticking(r)
        (waits,) = r.events("group_waits")
        assert "order-rate cap" in str(waits["reason"]), waits
        assert r.events("group_unwind_failed") == []
        assert _done(r) == []
        summary = r.loop.stop.shutdown(cancel_resting=True)
        refused = r.events("group_unwind_failed")
        assert [e["ticker"] for e in refused] == [A, B], refused
        assert all("refused by the risk engine (ORDER_RATE" in str(e["reason"]) for e in refused)
        (left,) = r.events("group_left_broken")
        assert summary.broken_sets == (left["set"],)
        assert _held(r) == {A: 5, B: 5, C: 0}
        assert [g for g in r.events("group_leg") if g["action"] == "sell"] == []
        _never_twice(r)


@pytest.mark.slow
def test_a_set_found_at_start_in_a_market_settled_since_sells_nothing_it_no_longer_holds(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Killed after A filled (NO 5) and before B left; A then settles NO and pays. The next
    loop finds the set open, and A holds nothing now: no sale back is sent into the settled
    market, and the set ends, not broken at every stop from then on."""
    with _set_rig(sim, tmp_path, {B: {}}) as (r, transport):
        _kill_between_legs(transport)
        with pytest.raises(Killed):
            _send_set(r)
        account = r.account
    assert account is not None
    sim.settle(A, "no")
    # the start's reconcile, as `kalshi trade` runs it before its loop: A's settlement is in the
    # state file when the loop rebuilds what each leg holds
    with client_for(account) as reader, Store.open(tmp_path / "state.db") as store:
        reconcile(reader, store)
    with rig(sim, tmp_path, TICKERS, strategy="arbitrage", params={}, trader=account) as again:
        done = _until_done(again)
        assert done["status"] == "flat", done
        assert [g for g in again.events("group_leg") if g["action"] == "sell"] == []
        assert again.events("group_unwind_failed") == []
        assert again.loop.stop.shutdown(cancel_resting=True).broken_sets == ()
        assert again.store.leg_sets.unfinished(0) == []


@pytest.mark.slow
def test_a_sale_back_the_risk_engine_refuses_says_so_and_leaves_the_set_broken(
    sim: SimHarness, tmp_path: Path
) -> None:
    """B's market is paused, so the exchange refuses B; just before B left, trading was halted
    (as `cancel-all` halts it). The sale back of A is refused by the risk engine: the line says
    so and names the rule, never that it filled short; the set is recorded broken, the stop
    sends nothing the risk engine refuses and exits 11 naming the set, and `cancel-all` names
    it with NO 5 held in A."""
    with _set_rig(sim, tmp_path, {B: {}}) as (r, transport):
        sim.set_status(B, "paused")

        def halt(ticker: str) -> None:
            r.store.trading.set_trading_state("HALTED", reason="kill switch", source="cancel-all")

        transport.before = halt
        _send_set(r)
        done = _until_done(r)
        assert done["status"] == "broken", done
        (failed,) = r.events("group_unwind_failed")
        assert (failed["ticker"], Decimal(str(failed["count"]))) == (A, 5)
        assert "refused by the risk engine" in str(failed["reason"]), failed
        assert "HALTED" in str(failed["reason"]), failed
        assert "filled short" not in str(failed["reason"]), failed
        # what is next for the set: left broken for the risk engine, never the stop-loss's
        assert "the set is left broken until the risk engine allows" in str(failed["reason"])
        assert "tried again in 5 s" in str(failed["reason"]), failed
        assert "stop-loss" not in str(failed["reason"]), failed
        assert [s.status for s in r.store.leg_sets.unfinished(0)] == ["broken"]
        summary = r.loop.stop.shutdown(cancel_resting=True)
        (left,) = r.events("group_left_broken")
        assert summary.broken_sets == (left["set"],)
        with pytest.raises(SetsLeftBroken) as raised:
            _summary(summary, None)
        assert raised.value.exit_code == ExitCode.NOT_PROVEN
        assert _held(r)[A] == 5
        assert [g["action"] for g in r.events("group_leg")] == ["buy", "buy"]
        report = KillSwitch(r.client, r.store, SystemClock(), deadline_s=SWITCH_DEADLINE_S).run()
    (broken,) = report.to_json()["broken_sets"]
    assert broken["status"] == "broken"
    assert [(g["ticker"], g["held"]) for g in broken["legs"]] == [(A, "5"), (B, "0"), (C, "0")]


@pytest.mark.slow
def test_a_broken_sets_sale_back_never_sells_what_a_newer_set_holds(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A first set is left broken: A filled (NO 5), B's market paused, and nobody bids for A's
    NO to sell it back. A second set of the same strategy then fills whole (NO 5 in each), and
    NO 5 of A is sold by hand: the strategy holds NO 5 of A, the second set's. The stop unwinds
    the first set: what it held of A is gone, so it sells nothing, and the second set stays
    whole (NO 5 in each market). The sale back had been sized from the strategy's position,
    selling the second set's NO 5 of A and breaking it."""
    # no stop-loss: it would refuse NO on A with nobody bidding for it, and sell by itself; the
    # first set is not tried again during the run (its wait an hour): the stop unwinds it
    risk, again = {"stop_loss_share": "0"}, {"set_again_s": (3600.0, 3600.0)}
    with _set_rig(sim, tmp_path, {}, risk=risk, settings=again) as (r, _):
        r.books[A].set("ask", None)  # NO's bids are YES asks: nobody buys A's NO back
        assert poll_until(lambda: r.loop.legs.sale_back.price(A, Side.NO, Decimal(5)) is None)
        sim.set_status(B, "paused")
        _send_set(r)
        first = _until_done(r)
        assert first["status"] == "broken", first
        sim.set_status(B, "open")
        r.books[A].set("ask", BookSide.ASK, "0.60")
        assert poll_until(lambda: r.loop.legs.sale_back.price(A, Side.NO, Decimal(5)) is not None)
        _send_set(r)
        assert poll_until(
            lambda: len(r.events("group_done")) == 2, between=lambda: _ticking(r), within_s=60
        )
        second = r.events("group_done")[1]
        assert second["status"] == "whole", second
        assert _held(r) == {A: 10, B: 5, C: 5}
        # NO 5 of A sold by hand: YES bought at the ask, which the exchange nets
        by_hand = r.client.orders.create_order(
            CreateOrder(
                ticker=A,
                book_side=BookSide.BID,
                price=Decimal("0.60"),
                count=Decimal(5),
                time_in_force=TimeInForce.IOC,
            )
        )
        assert by_hand.fill_count == 5
        assert poll_until(
            lambda: r.loop.portfolio.position(A) == -5, between=lambda: _ticking(r), within_s=30
        )
        summary = r.loop.stop.shutdown(cancel_resting=True)
        assert summary.broken_sets == ()
        assert _held(r) == dict.fromkeys(TICKERS, Decimal(5))
        assert [g for g in r.events("group_leg") if g["action"] == "sell"] == []
        assert r.store.leg_sets.unfinished(0) == []


@pytest.mark.slow
def test_a_stop_asks_the_risk_engine_before_a_sale_back_it_never_refused(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A set is left broken while the loop runs (A filled NO 5, B's market paused, nobody bids
    for A's NO): its sale back was never asked of the risk engine. Trading is then halted (as
    `cancel-all` halts it) and A's bids come back. The stop asks the risk engine before it
    sells A back: refused (HALTED), said with its rule, nothing sold, the set left broken and
    the exit 11, never a sale back sent past the pre-trade checks."""
    with _set_rig(sim, tmp_path, {}, risk={"stop_loss_share": "0"}) as (r, _):
        r.books[A].set("ask", None)  # NO's bids are YES asks: nobody buys A's NO back
        assert poll_until(lambda: r.loop.legs.sale_back.price(A, Side.NO, Decimal(5)) is None)
        sim.set_status(B, "paused")
        _send_set(r)
        assert _until_done(r)["status"] == "broken"
        (failed,) = r.events("group_unwind_failed")
        assert "nobody bids" in str(failed["reason"]), failed
        r.books[A].set("ask", BookSide.ASK, "0.60")
        assert poll_until(lambda: r.loop.legs.sale_back.price(A, Side.NO, Decimal(5)) is not None)
        r.store.trading.set_trading_state("HALTED", reason="kill switch", source="cancel-all")
        summary = r.loop.stop.shutdown(cancel_resting=True)
        refused = r.events("group_unwind_failed")[1:]
        assert [e["ticker"] for e in refused] == [A], refused
        assert "refused by the risk engine (HALTED" in str(refused[0]["reason"]), refused
        assert _amounts(refused[0]["held"]) == {f"{A} no": 5, f"{B} no": 0, f"{C} no": 0}
        (left,) = r.events("group_left_broken")
        assert summary.broken_sets == (left["set"],)
        with pytest.raises(SetsLeftBroken) as raised:
            _summary(summary, None)
        assert raised.value.exit_code == ExitCode.NOT_PROVEN
        assert [g for g in r.events("group_leg") if g["action"] == "sell"] == []
        assert _held(r)[A] == 5
        assert [s.status for s in r.store.leg_sets.unfinished(0)] == ["broken"]


@pytest.mark.slow
def test_a_stop_sells_back_only_what_a_leg_holds_beyond_the_whole_sets(
    sim: SimHarness, tmp_path: Path
) -> None:
    """B's book sells only 3 NO: A fills 5, B 3, C 3, so the set holds 3 whole sets and 2 NO
    of A beyond them. Nobody bids for A's NO, so the run leaves the set broken; A's bids come
    back and the stop sells back those 2, never the whole sets: 3 held in every market, the set
    whole and nothing left broken."""
    with _set_rig(sim, tmp_path, {}, risk={"stop_loss_share": "0"}) as (r, _):
        r.books[A].set("ask", None)  # NO's bids are YES asks: nobody buys A's NO back
        r.books[B].set("bid", None)  # NO's asks are YES bids: B sells 3 NO, no more
        r.books[B].order(BookSide.BID, "0.40", "3", TimeInForce.GTC)
        assert poll_until(lambda: r.loop.legs.sale_back.price(A, Side.NO, Decimal(2)) is None)
        _send_set(r)
        done = _until_done(r)
        assert (done["status"], Decimal(str(done["sets"]))) == ("broken", 3), done
        assert _held(r) == {A: 5, B: 3, C: 3}
        r.books[A].set("ask", BookSide.ASK, "0.60")
        assert poll_until(lambda: r.loop.legs.sale_back.price(A, Side.NO, Decimal(2)) is not None)
        summary = r.loop.stop.shutdown(cancel_resting=True)
        assert summary.broken_sets == ()
        sales = [g for g in r.events("group_leg") if g["action"] == "sell"]
        assert [(g["ticker"], Decimal(str(g["filled"]))) for g in sales] == [(A, 2)], sales
        assert _held(r) == dict.fromkeys(TICKERS, Decimal(3))
        assert r.store.leg_sets.unfinished(0) == []


@pytest.mark.slow
def test_a_sale_back_that_fills_short_is_given_up_and_said_and_the_next_leg_sold(
    sim: SimHarness, tmp_path: Path
) -> None:
    """C's book sells only 2 NO: A and B fill 5, C 2, so A and B each hold 3 beyond the 2 whole
    sets. A's bids hold 1: its sale back fills 1 of 3, the 2 left are said (filled short, the
    stop-loss covering them, tried again on the clock) and given up, and B's 3 are still sold;
    the set ends broken."""
    with _set_rig(sim, tmp_path, {}, risk={"stop_loss_share": "0"}) as (r, _):
        r.books[A].set("ask", None)
        r.books[A].order(BookSide.ASK, "0.60", "1", TimeInForce.GTC)
        r.books[C].set("bid", None)
        r.books[C].order(BookSide.BID, "0.40", "2", TimeInForce.GTC)
        assert poll_until(
            lambda: (
                r.loop.legs.sale_back.price(A, Side.NO, Decimal(3)) is not None
                and r.loop.legs.sale_back.price(C, Side.NO, Decimal(3)) is not None
            )
        )
        _send_set(r)
        assert _until_done(r)["status"] == "broken"
        (short,) = r.events("group_unwind_failed")
        assert (short["ticker"], Decimal(str(short["count"]))) == (A, 2), short
        assert "filled short" in str(short["reason"]), short
        assert "the stop-loss and the position limit covering it" in str(short["reason"]), short
        assert "tried again in 5 s" in str(short["reason"]), short
        sales = [g for g in r.events("group_leg") if g["action"] == "sell"]
        assert [(g["ticker"], Decimal(str(g["filled"]))) for g in sales] == [(A, 1), (B, 3)]
        assert _held(r) == {A: 4, B: 2, C: 2}


def _a_and_b_unsold_beyond_two_sets(r: Rig) -> None:
    """C's book sells only 2 NO and nobody bids for A's or B's: A and B fill 5, C 2, so A and B
    each hold 3 beyond the 2 whole sets, and the run leaves the set broken, selling nothing."""
    r.books[A].set("ask", None)
    r.books[B].set("ask", None)
    r.books[C].set("bid", None)
    r.books[C].order(BookSide.BID, "0.40", "2", TimeInForce.GTC)
    assert poll_until(
        lambda: (
            r.loop.legs.sale_back.price(A, Side.NO, Decimal(3)) is None
            and r.loop.legs.sale_back.price(B, Side.NO, Decimal(3)) is None
        )
    )
    _send_set(r)
    assert _until_done(r)["status"] == "broken"
    assert _held(r) == {A: 5, B: 5, C: 2}


def _bids_back_for_b(r: Rig) -> None:
    """B's bids deep again (A's set by the caller), and both seen by the loop."""
    r.books[B].set("ask", BookSide.ASK, "0.60")
    assert poll_until(
        lambda: (
            r.loop.legs.sale_back.price(A, Side.NO, Decimal(3)) is not None
            and r.loop.legs.sale_back.price(B, Side.NO, Decimal(3)) is not None
        )
    )


@pytest.mark.slow
def test_a_stop_whose_sale_back_of_one_leg_fills_short_still_sells_back_the_next(
    sim: SimHarness, tmp_path: Path
) -> None:
    """C's book sells only 2 NO: A and B fill 5, C 2, so A and B each hold 3 beyond the 2 whole
    sets. Nobody bids for A's or B's NO while the loop runs; at the stop A's bids hold 1 and
    B's are deep: A's sale back fills 1 of 3, and B's still goes, selling its 3."""
    with _set_rig(sim, tmp_path, {}, risk={"stop_loss_share": "0"}) as (r, _):
        _a_and_b_unsold_beyond_two_sets(r)
        r.books[A].order(BookSide.ASK, "0.60", "1", TimeInForce.GTC)
        _bids_back_for_b(r)
        summary = r.loop.stop.shutdown(cancel_resting=True)
        (left,) = r.events("group_left_broken")
        assert summary.broken_sets == (left["set"],)
        sales = [g for g in r.events("group_leg") if g["action"] == "sell"]
        assert [(g["ticker"], Decimal(str(g["filled"]))) for g in sales] == [(A, 1), (B, 3)]
        assert _held(r) == {A: 4, B: 2, C: 2}


@pytest.mark.slow
def test_a_stop_sale_back_whose_answer_was_lost_is_not_read_as_selling_nothing(
    sim: SimHarness, tmp_path: Path
) -> None:
    """As above, 2 NO of A beyond 3 whole sets; the stop's sale back of them executes and its
    answer is dropped. What it sold is unknown, so the stop says no sale (never one that filled
    nothing), sells nothing more and leaves the set broken for the next start to settle."""
    with _set_rig(sim, tmp_path, {}, risk={"stop_loss_share": "0"}) as (r, transport):
        r.books[A].set("ask", None)
        r.books[B].set("bid", None)
        r.books[B].order(BookSide.BID, "0.40", "3", TimeInForce.GTC)
        assert poll_until(lambda: r.loop.legs.sale_back.price(A, Side.NO, Decimal(2)) is None)
        _send_set(r)
        assert _until_done(r)["status"] == "broken"
        r.books[A].set("ask", BookSide.ASK, "0.60")
        assert poll_until(lambda: r.loop.legs.sale_back.price(A, Side.NO, Decimal(2)) is not None)
        transport.faults[A] = {"drop_response_after_commit_rate": 1.0}  # the stop's sale back
        summary = r.loop.stop.shutdown(cancel_resting=True)
        (left,) = r.events("group_left_broken")
        assert summary.broken_sets == (left["set"],)
        assert [g for g in r.events("group_leg") if g["action"] == "sell"] == []
        assert _held(r) == dict.fromkeys(TICKERS, Decimal(3))  # it did sell, unseen
        assert [s.status for s in r.store.leg_sets.unfinished(0)] == ["broken"]


@contextmanager
def _next_loop_after_a_kill_past_a(sim: SimHarness, tmp_path: Path) -> Iterator[Rig]:
    """A set killed after A filled (NO 5) and before B left; the next loop on its account, with
    `risk.max_order_count` 2."""
    with _set_rig(sim, tmp_path, {B: {}}) as (r, transport):
        _kill_between_legs(transport)
        with pytest.raises(Killed):
            _send_set(r)
        account = r.account
    with rig(
        sim,
        tmp_path,
        TICKERS,
        strategy="arbitrage",
        params={},
        trader=account,
        risk={"max_order_count": 2},
    ) as again:
        yield again


def _sales(r: Rig) -> list[tuple[str, Decimal, Decimal]]:
    """Each sale back: its market, its count and what it filled."""
    return [
        (str(g["ticker"]), Decimal(str(g["count"])), Decimal(str(g["filled"])))
        for g in r.events("group_leg")
        if g["action"] == "sell"
    ]


def _sold_back_in_pieces_of_two(r: Rig) -> None:
    """A's NO 5 sold back in orders of at most 2 (2, 2, 1), flat and no set unfinished."""
    assert _sales(r) == [(A, 2, 2), (A, 2, 2), (A, 1, 1)]
    assert _held(r) == dict.fromkeys(TICKERS, Decimal(0))
    assert r.store.leg_sets.unfinished(0) == []
    _never_twice(r)


@pytest.mark.slow
def test_a_sale_back_over_the_max_order_count_goes_in_pieces(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Killed after A filled NO 5; the next loop runs with `risk.max_order_count` 2. The set it
    finds is sold back in orders of at most 2 (2, 2, 1), each allowed by the risk engine, and
    ends flat, never refused whole for MAX_ORDER_SIZE and left broken."""
    with _next_loop_after_a_kill_past_a(sim, tmp_path) as again:
        done = _until_done(again)
        assert done["status"] == "flat", done
        assert again.events("group_unwind_failed") == []
        _sold_back_in_pieces_of_two(again)


@pytest.mark.slow
def test_a_stops_sale_back_over_the_max_order_count_goes_in_pieces(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Killed after A filled NO 5; the next loop, with `risk.max_order_count` 2, is stopped
    before its first tick: the stop sells A back in orders of at most 2 (2, 2, 1) and exits
    flat, no set left broken."""
    with _next_loop_after_a_kill_past_a(sim, tmp_path) as again:
        summary = again.loop.stop.shutdown(cancel_resting=True)
        assert summary.broken_sets == ()
        _sold_back_in_pieces_of_two(again)


@pytest.mark.slow
def test_a_stop_whose_sale_back_backs_off_past_its_share_still_sells_back_the_next_leg(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A and B each hold 3 NO beyond the 2 whole sets (C sells only 2), unsold while the loop
    runs. At the stop A's sale back is answered 429, and the API error guard's backoff (30 s)
    ends past the stop's share of its deadline: A's sale is not sent again, but B's still goes,
    selling its 3; the set is left broken, A's 3 beyond the whole sets still held."""
    risk = {"stop_loss_share": "0", "backoff_base_s": 30}
    with _set_rig(sim, tmp_path, {}, risk=risk) as (r, transport):
        _a_and_b_unsold_beyond_two_sets(r)
        r.books[A].set("ask", BookSide.ASK, "0.60")
        _bids_back_for_b(r)
        transport.faults[A] = {"http_429_rate": 1.0}  # A's next create: its sale back
        summary = r.loop.stop.shutdown(cancel_resting=True)
        (left,) = r.events("group_left_broken")
        assert summary.broken_sets == (left["set"],)
        sales = [g for g in r.events("group_leg") if g["action"] == "sell"]
        assert [(g["ticker"], Decimal(str(g["filled"]))) for g in sales] == [(A, 0), (B, 3)]
        assert _held(r) == {A: 5, B: 2, C: 2}
        _never_twice(r)


@pytest.mark.slow
@pytest.mark.parametrize("send_workers", [0, 1], ids=["on-the-path", "with-a-worker"])
def test_a_set_given_up_during_the_run_is_sold_back_again_on_a_clock(
    sim: SimHarness, tmp_path: Path, send_workers: int
) -> None:
    """A fills (NO 5), B's market is paused so B is refused, and nobody bids for A's NO: the
    sale back is given up, the set left broken, and the line says when it is tried again (5 s,
    the first wait). Bids come back: within the run, with no stop, the sale back is tried again
    through the same path (its answer booked on the tick it comes back, with a send worker)
    and the set ends flat, its markets free again. On the old code the set stayed broken, A
    held unhedged, until the stop or the next start."""
    # no stop-loss: it would sell A's NO by itself once bids are back
    risk = {"stop_loss_share": "0"}
    with _set_rig(sim, tmp_path, {}, risk=risk, send_workers=send_workers) as (r, transport):
        r.books[A].set("ask", None)  # NO's bids are YES asks: nobody buys A's NO back
        assert poll_until(lambda: r.loop.legs.sale_back.price(A, Side.NO, Decimal(5)) is None)
        sim.set_status(B, "paused")
        _send_set(r)
        first = _until_done(r)
        assert first["status"] == "broken", first
        (failed,) = r.events("group_unwind_failed")
        assert (failed["set"], failed["ticker"]) == (first["set"], A), failed
        assert "nobody bids" in str(failed["reason"]), failed
        assert "tried again in 5 s" in str(failed["reason"]), failed
        # while it is left broken, `kalshi check orders` pages with the set named
        broken = _orders_check(r)
        assert broken.status is CheckStatus.CRITICAL, broken.summary
        assert f"set {first['set']} (" in broken.summary
        # the sale back tried again is slow to answer: ticks go on while it is out
        transport.faults[A] = {"latency_ms": 600}
        r.books[A].set("ask", BookSide.ASK, "0.60")
        if send_workers:

            def tried_again() -> bool:
                return any("tried again" in str(e["reason"]) for e in r.events("group_broken"))

            assert poll_until(tried_again, between=lambda: _ticking(r), within_s=60)
            # its sale back out on the worker: every market of the set held meanwhile
            assert [t for t in TICKERS if not r.loop.dispatch.busy(t)] == []
        assert poll_until(lambda: len(_done(r)) == 2, between=lambda: _ticking(r), within_s=60), (
            "the set was not tried again during the run"
        )
        again = _done(r)[1]
        assert again["status"] == "flat", again
        assert _amounts(first["held"]) == {f"{A} no": 5, f"{B} no": 0, f"{C} no": 0}, first
        assert _amounts(again["held"]) == {f"{t} no": 0 for t in TICKERS}, again
        assert poll_until(
            lambda: not any(r.loop.dispatch.busy(t) for t in TICKERS),
            between=lambda: _ticking(r),
            within_s=60,
        ), "the set's markets were left held"
        assert _held(r) == dict.fromkeys(TICKERS, Decimal(0))
        assert r.store.leg_sets.unfinished(0) == []
        assert _orders_check(r).status is CheckStatus.OK
        assert r.loop.stop.shutdown(cancel_resting=True).broken_sets == ()
        assert len(_done(r)) == 2, "the stop ended again a set that had ended"
        _never_twice(r)


def _orders_check(r: Rig) -> CheckResult:
    """`kalshi check orders` on the loop's state file now."""
    return check_orders(LocalView(r.store, Path("state.db"), time.time()), resolve(None))


@pytest.mark.slow
def test_a_set_given_up_again_waits_twice_as_long_each_time_up_to_the_longest(
    sim: SimHarness, tmp_path: Path
) -> None:
    """As above with nobody bidding for A's NO all along, and waits of 0.5 s doubling to 1.5 s:
    each try gives the sale back up again, its line saying the next wait (0.5, then 1, then 1.5:
    never longer than the longest), each try begun with a `group_broken` line, and nothing is
    sold."""
    risk, again = {"stop_loss_share": "0"}, {"set_again_s": (0.5, 1.5)}
    with _set_rig(sim, tmp_path, {}, risk=risk, settings=again) as (r, _):
        r.books[A].set("ask", None)
        assert poll_until(lambda: r.loop.legs.sale_back.price(A, Side.NO, Decimal(5)) is None)
        sim.set_status(B, "paused")
        _send_set(r)
        assert poll_until(
            lambda: len(r.events("group_unwind_failed")) >= 3,
            between=lambda: _ticking(r),
            within_s=60,
        )
        failed = r.events("group_unwind_failed")[:3]
        assert [e["ticker"] for e in failed] == [A, A, A], failed
        waits = [str(e["reason"]).split("tried again in ")[1].split(" s ")[0] for e in failed]
        assert waits == ["0.5", "1", "1.5"], failed
        tried = "during the run, tried again"
        tries = [e for e in r.events("group_broken") if tried in str(e["reason"])]
        assert len(tries) >= 2, tries
        # each try comes no sooner than the wait its give-up said
        for gave_up, wait, next_try in zip(failed, waits, tries[:2], strict=False):
            waited = parse_iso(str(next_try["ts"])) - parse_iso(str(gave_up["ts"]))
            assert waited.total_seconds() >= float(wait) - 0.01, (gave_up, next_try)
        assert [g for g in r.events("group_leg") if g["action"] == "sell"] == []
        assert _held(r)[A] == 5


@pytest.mark.slow
def test_a_whole_set_a_leg_of_which_is_sold_by_hand_stays_whole_and_the_rest_is_kept(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A set ends whole (NO 5 in each market); C's NO 5 is then sold by hand. The row still
    says how the loop ended the set (`whole`): the loop sells back none of the legs the person
    kept, on its clock or at its stop, and the stop names no set left broken (no exit 11 for
    a position a person shaped). The stop-loss is off: what it judges is docs/risk.md's."""
    with _set_rig(sim, tmp_path, {}, risk={"stop_loss_share": "0"}) as (r, _):
        _send_set(r)
        _whole(r, _until_done(r))
        by_hand = r.client.orders.create_order(
            CreateOrder(
                ticker=C,
                book_side=BookSide.BID,
                price=Decimal("0.60"),
                count=Decimal(5),
                time_in_force=TimeInForce.IOC,
            )
        )
        assert by_hand.fill_count == 5
        assert poll_until(
            lambda: r.loop.portfolio.position(C) == 0, between=lambda: _ticking(r), within_s=30
        )
        summary = r.loop.stop.shutdown(cancel_resting=True)
        assert summary.broken_sets == ()
        assert _held(r) == {A: 5, B: 5, C: 0}
        assert [g for g in r.events("group_leg") if g["action"] == "sell"] == []
        assert [s.status for s in r.store.leg_sets.unfinished(0)] == []

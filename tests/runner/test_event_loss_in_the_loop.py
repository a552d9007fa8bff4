"""The trade loop holds its orders to the limit on an event's loss (`risk.max_event_loss`, and a
strategy's own in `trade.budgets`): its events read once at start, its resting orders counted
as filled where they lose, a denial naming the event and the outcome that loses; the hedge goes
out. What the account holds in the event's markets the loop does not trade counts, a trade made
there during the run from the next fill read on."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.runner.loop.lifecycle_watch import LIFECYCLE_CHANNEL
from kalshi_cli.runner.loop.settings import LoopSettings
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import SimOrder
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.runner.fakes import (
    START,
    Rig,
    another_trader_places,
    make_rig,
    new_exchange,
    place_on_desk,
    trader,
)

A, B, C = (f"KXSOS-26-{m}" for m in "ABC")

MARKET = """
          - ticker: %s
            title: Who?
            yes_sub_title: "Yes"
            no_sub_title: "No"
            book: {yes_bids: [["%s", "10"]], no_bids: [["0.05", "10"]]}"""
SCENARIO = """
description: Three candidates of a mutually exclusive event, no fees, books that stand still.
fees: {fee_type: quadratic, fee_multiplier: "0"}
series:
  - ticker: KXSOS
    title: Secretary of State
    category: Politics
    frequency: custom
    events:
      - event_ticker: KXSOS-26
        title: Who?
        mutually_exclusive: true
        collateral_return_type: MECNET
        markets:""" + "".join(
    MARKET % (t, bid) for t, bid in ((A, "0.40"), (B, "0.20"), (C, "0.20"))
)


def buy_no_by_hand(exchange: Exchange, account_id: str, ticker: str) -> None:
    """NO 1 on `ticker` at $0.80, taking its YES bid of $0.20 on the exchange by hand."""
    take_by_hand(exchange, account_id, ticker, BookSide.ASK, "0.20")


def take_by_hand(
    exchange: Exchange, account_id: str, ticker: str, book_side: BookSide, price: str
) -> None:
    take = place_on_desk(
        exchange, account_id, ticker, book_side, price, 1, time_in_force=TimeInForce.IOC
    )
    assert take.fills


@pytest.mark.parametrize(
    ("limits", "who"),
    [
        ({"risk": {"max_event_loss": "0.65"}}, ""),
        ({"trade": {"budgets": {"spike": {"max_event_loss": "0.65"}}}}, "strategy spike: "),
    ],
    ids=["account", "strategy-budget"],
)
def test_the_worked_example_in_the_loop(tmp_path: Path, limits: dict[str, Any], who: str) -> None:
    clock = ManualClock(START)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    exchange = new_exchange(scenario, clock=clock)
    limits.setdefault("risk", {})["stop_loss_share"] = "0"
    rig = make_rig(
        tmp_path / "s.db",
        exchange=exchange,
        clock=clock,
        account_id=trader(exchange),
        log_path=tmp_path / "log.jsonl",
        **limits,
    )
    rig.step()

    def execute(ticker: str, side: Side, price: str) -> bool:
        intent = Intent(ticker, side, Action.BUY, D(price), D(1), D("0.99"), "t", "spike")
        went: bool = rig.loop.executor.execute(intent, last_data_at=rig.clock.wall())
        rig.step(0.1)
        return went

    assert execute(A, Side.NO, "0.60")  # fills at the YES bid of $0.40
    sent = len(rig.client.requests)
    assert not execute(B, Side.YES, "0.10")
    assert len(rig.client.requests) == sent  # nothing was sent
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    (denied,) = [e for e in lines if e.get("event") == "risk_denied"]
    assert denied["code"] == "EVENT_LOSS"
    assert denied["detail"].startswith(f"{who}event KXSOS-26: ")
    assert f"-$0.70 ({A} yes)" in denied["detail"]
    assert execute(C, Side.NO, "0.70")  # the hedge: worst case -$0.30 once it fills
    assert len(rig.client.requests) == sent + 1
    rig.loop.log.close()


def test_a_position_in_a_market_of_the_event_the_loop_does_not_trade_counts(
    tmp_path: Path,
) -> None:
    """NO on C at $0.80 held, C closed awaiting its result, so the loop trades A and B only: C
    still settles with them, so YES on B at $0.10 could lose $0.90 (C yes), past a limit of
    $0.85, and is refused; the loop had read C as nothing held and sent it."""
    clock = ManualClock(START)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    exchange = new_exchange(scenario, clock=clock)
    me = trader(exchange)
    buy_no_by_hand(exchange, me, C)
    exchange.settlement.set_market_status(C, "closed")
    risk = {"max_event_loss": "0.85", "stop_loss_share": "0"}
    rig = make_rig(tmp_path / "s.db", exchange=exchange, clock=clock, account_id=me, risk=risk)
    rig.step()
    sent = len(rig.client.requests)
    intent = Intent(B, Side.YES, Action.BUY, D("0.10"), D(1), D("0.99"), "t", "spike")
    assert not rig.loop.executor.execute(intent, last_data_at=rig.clock.wall())
    assert len(rig.client.requests) == sent
    rig.loop.log.close()


class ExchangeClock(ManualClock):
    """The exchange's clock, `behind` seconds behind the loop's (the machine's runs ahead)."""

    def __init__(self, loop: ManualClock, behind: float) -> None:
        super().__init__()
        self._loop, self._behind = loop, behind

    def wall(self) -> float:
        return self._loop.wall() - self._behind

    def monotonic(self) -> float:
        return self._loop.monotonic()


def loop_trading(
    tmp_path: Path,
    scenario: str,
    limit: str,
    tickers: list[str],
    *,
    held_no: str = "",
    behind: float = 0,
    strategy: str = "spike",
) -> Rig:
    """A loop trading `tickers` alone on the simulator of `scenario`, under an event limit of
    `limit`, its log in log.jsonl; NO on `held_no` (if named) bought by hand a minute before;
    the exchange's clock `behind` seconds behind the loop's."""
    clock = ManualClock(START)
    path = tmp_path / "scenario.yaml"
    path.write_text(scenario)
    exchange = new_exchange(path, clock=ExchangeClock(clock, behind) if behind else clock)
    me = trader(exchange)
    if held_no:
        buy_no_by_hand(exchange, me, held_no)
        clock.advance(60)
    return make_rig(
        tmp_path / "s.db",
        strategy=strategy,
        exchange=exchange,
        clock=clock,
        account_id=me,
        risk={"max_event_loss": limit, "stop_loss_share": "0"},
        tickers=tickers,
        log_path=tmp_path / "log.jsonl",
    )


def yes_at_a_dime(rig: Rig, ticker: str) -> bool:
    """The loop's YES 1 on `ticker` at $0.10 (it rests): whether it went out."""
    intent = Intent(ticker, Side.YES, Action.BUY, D("0.10"), D(1), D("0.99"), "t", "spike")
    went: bool = rig.loop.executor.execute(intent, last_data_at=rig.clock.wall())
    return went


def _rest_no_on_b(rig: Rig) -> SimOrder:
    """NO 1 on B at $0.79, rested by hand (an ask of YES at $0.21)."""
    return place_on_desk(rig.exchange, rig.client.account_id, B, BookSide.ASK, "0.21", 1).order


def logged(tmp_path: Path, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    return [e for e in lines if e.get("event") == event]


@pytest.mark.parametrize(("limit", "sent"), [("0.85", False), ("0.95", True)])
def test_a_fill_by_hand_during_the_run_in_a_market_the_loop_does_not_trade_counts(
    tmp_path: Path, limit: str, sent: bool
) -> None:
    """The loop trades A alone. During the run NO on B is bought by hand at $0.80: with it, YES
    on A at $0.10 could lose $0.90 (B yes), past a limit of $0.85 (refused) and within $0.95
    (sent). The loop had read B once, at the start, as nothing held, and sent it under both."""
    rig = loop_trading(tmp_path, SCENARIO, limit, [A])
    rig.step()
    buy_no_by_hand(rig.exchange, rig.client.account_id, B)
    rig.step(LoopSettings.fill_poll_s)  # the loop's next fill read lists it
    before = len(rig.client.requests)
    assert yes_at_a_dime(rig, A) is sent
    assert len(rig.client.requests) == before + sent
    rig.loop.log.close()
    if not sent:
        (denied,) = logged(tmp_path, "risk_denied")
        assert denied["code"] == "EVENT_LOSS"
        assert f"-$0.90 ({B} yes)" in denied["detail"]


def test_a_position_closed_by_hand_during_the_run_no_longer_counts(tmp_path: Path) -> None:
    """The loop trades A alone; NO on B at $0.80 is held from before the run, then closed by
    hand (YES on B bought at $0.95): YES on A at $0.10 goes out under a limit of $0.85, which
    it would pass with B still counted (-$0.90, B yes)."""
    rig = loop_trading(tmp_path, SCENARIO, "0.85", [A], held_no=B)
    rig.step()
    take_by_hand(rig.exchange, rig.client.account_id, B, BookSide.BID, "0.95")
    rig.step(LoopSettings.fill_poll_s)  # the fill read lists it: the event is read again
    assert yes_at_a_dime(rig, A)
    rig.loop.log.close()


def test_a_fill_by_hand_just_after_the_events_read_counts_on_a_clock_seconds_ahead(
    tmp_path: Path,
) -> None:
    """The machine's clock runs 4 s ahead of the exchange's (health-check warns; the exchange
    still takes signed requests). NO on B is bought by hand, the next fill read reads the event;
    just after, NO on B again: with both, YES on A at $0.10 could lose $1.70 (B yes), past a
    limit of $1.50. The loop had taken the second fill, stamped by the exchange 4 s before the
    event's read by the machine's clock, for one the read held, and sent the order."""
    rig = loop_trading(tmp_path, SCENARIO, "1.50", [A], behind=4)
    rig.step(LoopSettings.fill_poll_s)
    buy_no_by_hand(rig.exchange, rig.client.account_id, B)
    rig.step(LoopSettings.fill_poll_s)  # lists it: the event is read
    buy_no_by_hand(rig.exchange, rig.client.account_id, B)
    rig.step(LoopSettings.fill_poll_s)  # lists it too
    assert not yes_at_a_dime(rig, A)
    rig.loop.log.close()


def test_an_order_rested_by_hand_in_a_market_the_loop_does_not_trade_counts_once_told(
    tmp_path: Path,
) -> None:
    """The loop trades A alone. NO 1 on B at $0.79 is rested by hand, told by `user_orders`:
    with it, YES on A at $0.10 could lose $0.89 (B yes), past a limit of $0.85, and is
    refused; once the order is cancelled by hand, told too, it goes out. The event is read
    with the fill read each message makes due, and once more 2 s on (the exchange's listing
    may lag its word); nothing happening there, it is never read. The loop had left the
    messages to the next start and sent the order."""
    rig = loop_trading(tmp_path, SCENARIO, "0.85", [A])
    start = len(rig.client.positions_reads)  # the start's
    for _ in range(2):
        rig.step(LoopSettings.fill_poll_s)
    reads = rig.client.positions_reads[start:]
    assert reads == []
    order = _rest_no_on_b(rig)
    rig.step(0.1)  # its message: the fill read it makes due reads the event
    assert rig.client.positions_reads[start:] == [{"event_ticker": "KXSOS-26"}]
    assert not yes_at_a_dime(rig, A)
    rig.exchange.desk.cancel_order(rig.client.account_id, order.order_id)
    rig.step(0.1)
    assert yes_at_a_dime(rig, A)
    for _ in range(3):
        rig.step(LoopSettings.fill_poll_s)
    assert len(rig.client.positions_reads[start:]) == 3  # each message's, once more; no more
    rig.loop.log.close()
    assert f"-$0.89 ({B} yes)" in logged(tmp_path, "risk_denied")[0]["detail"]


def test_an_order_rested_by_hand_whose_message_a_reconnect_lost_counts_from_the_gap(
    tmp_path: Path,
) -> None:
    """As above, but the `user_orders` message of NO 1 on B is lost while the feed reconnects
    (the channel has no sequence numbers). The reconnect's lifecycle gap has every followed
    event read again with the next fill read, and YES on A at $0.10 is refused; it went out,
    the order waiting for a fill there or the next start."""
    rig = loop_trading(tmp_path, SCENARIO, "0.85", [A])
    rig.step()
    _rest_no_on_b(rig)
    rig.clock.advance(0.1)
    rig.exchange.tick()
    lost = [e for e in rig.feed.drain_messages() if e.kind is not MessageKind.USER_ORDER]
    rig.loop.tick(lost, full=True)
    assert yes_at_a_dime(rig, A), "nothing told of the order"
    rig.clock.advance(0.1)
    rig.loop.tick([FeedMessage(MessageKind.GAP, reason=LIFECYCLE_CHANNEL)], full=True)
    assert not yes_at_a_dime(rig, A)
    rig.loop.log.close()


def test_a_settlement_in_a_market_the_loop_does_not_trade_counts_once_told(
    tmp_path: Path,
) -> None:
    """The loop trades A alone; NO on B at $0.80 is held from before the run, so YES on A at
    $0.10 could lose $0.90 (B yes), past a limit of $0.85. B settles NO, told by the lifecycle
    channel: the event is read again, B holds nothing, and the order goes out. The loop had
    counted B's settled position until the next start."""
    rig = loop_trading(tmp_path, SCENARIO, "0.85", [A], held_no=B)
    rig.step()
    assert not yes_at_a_dime(rig, A)
    rig.exchange.settlement.settle(B, "no")
    rig.step(0.1)
    assert yes_at_a_dime(rig, A)
    rig.loop.log.close()


G = "KXSOS-27-G"
TWO_EVENTS = (
    SCENARIO
    + """
      - event_ticker: KXSOS-27
        title: Who next?
        mutually_exclusive: true
        collateral_return_type: MECNET
        markets:"""
    + MARKET % (G, "0.40")
)


def test_while_the_event_cannot_be_read_what_is_known_there_counts_and_other_events_trade(
    tmp_path: Path,
) -> None:
    """The loop trades A and G (another event). NO on B at $0.80 is held from before the run;
    then the positions read fails, and YES on C is bought by hand at $0.95. The event's read
    fails: B as last read and the fill on C listed still count, so YES on A at $0.10 could lose
    $1.85 (B yes), past a limit of $1.50, and is refused (without C, $0.90; without B, $1.05);
    G's order goes out, and the failure is logged once, not counted as an API error; the event
    is asked again once in 5 s, however many fill reads are made. Once the exchange answers,
    the next fill read reads the event again with no new fill there."""
    rig = loop_trading(tmp_path, TWO_EVENTS, "1.50", [A, G], held_no=B)
    rig.step()
    rig.client.positions_error = ServerError("request failed: HTTP 503", status=503)
    take_by_hand(rig.exchange, rig.client.account_id, C, BookSide.BID, "0.95")
    rig.step(LoopSettings.fill_poll_s)  # the fill read lists it: the event's read fails
    assert rig.loop.log.counts.get("event_read_failed") == 1  # said at the first failure
    tried = len(rig.client.positions_reads)
    for _ in range(8):  # a fill read on each step for 4 s: the event is not asked again yet
        rig.loop.executor.fills_due = True
        rig.step(0.5)
    assert len(rig.client.positions_reads) == tried
    rig.step(LoopSettings.fill_poll_s)  # asked again: it fails again
    assert len(rig.client.positions_reads) == tried + 1
    assert not yes_at_a_dime(rig, A)
    assert yes_at_a_dime(rig, G)
    assert not rig.loop.executor.guard.backing_off
    rig.client.positions_error = None
    reads = len(rig.client.positions_reads)
    rig.step(LoopSettings.fill_poll_s)
    assert rig.client.positions_reads[reads:] == [{"event_ticker": "KXSOS-26"}]
    assert not yes_at_a_dime(rig, A)  # the exchange's positions now: the same worst case
    for _ in range(3):  # read, it is not asked again with nothing new there
        rig.step(LoopSettings.fill_poll_s)
    assert len(rig.client.positions_reads) == reads + 1
    rig.loop.log.close()
    (failed,) = logged(tmp_path, "event_read_failed")
    assert failed["event_ticker"] == "KXSOS-26" and "503" in failed["error"]
    assert f"-$1.85 ({B} yes)" in logged(tmp_path, "risk_denied")[0]["detail"]


@pytest.mark.parametrize(
    ("held_no", "bought", "limit", "worst"),
    [(B, B, "1.50", f"-$1.70 ({B} yes)"), ("", C, "0.85", f"-$0.90 ({C} yes)")],
    ids=["adds-to-what-was-read", "names-its-market"],
)
def test_a_fill_told_while_the_event_cannot_be_read_counts_where_it_was_made(
    tmp_path: Path, held_no: str, bought: str, limit: str, worst: str
) -> None:
    """NO at $0.80 bought by hand while the event cannot be read. On B, where NO is held from
    before the run, both count: YES on A at $0.10 could lose $1.70 (B yes), not the $0.90 of the
    fill alone. On C, where nothing was known, the refusal names C."""
    rig = loop_trading(tmp_path, TWO_EVENTS, limit, [A, G], held_no=held_no)
    rig.step()
    rig.client.positions_error = ServerError("request failed: HTTP 503", status=503)
    buy_no_by_hand(rig.exchange, rig.client.account_id, bought)
    rig.step(LoopSettings.fill_poll_s)  # the fill read lists it: the event's read fails
    assert not yes_at_a_dime(rig, A)
    rig.loop.log.close()
    assert worst in logged(tmp_path, "risk_denied")[0]["detail"]


def test_a_fill_read_that_holds_a_market_does_not_wait_on_an_event_that_cannot_be_read(
    tmp_path: Path,
) -> None:
    """The loop trades A and G; the event of A cannot be read since a fill by hand on C. The
    loop's own order on G fills: the fill read made for it, which G takes no decision until,
    does not ask A's event again (each try can take the client's retries, seconds); the next
    read on the timer does."""
    rig = loop_trading(tmp_path, TWO_EVENTS, "1.50", [A, G])
    rig.step()
    rig.client.positions_error = ServerError("request failed: HTTP 503", status=503)
    take_by_hand(rig.exchange, rig.client.account_id, C, BookSide.BID, "0.95")
    rig.step(LoopSettings.fill_poll_s)  # the fill read lists it: the event's read fails
    assert rig.loop.log.counts.get("event_read_failed") == 1  # said at the first failure
    tried = len(rig.client.positions_reads)
    rig.clock.advance(LoopSettings.fill_poll_s)
    no_on_g = Intent(G, Side.NO, Action.BUY, D("0.60"), D(1), D("0.99"), "t", "spike")
    assert rig.loop.executor.execute(no_on_g, last_data_at=rig.clock.wall())
    assert rig.loop.portfolio.position(G) == -1  # its fill read is booked
    assert len(rig.client.positions_reads) == tried
    rig.step(LoopSettings.fill_poll_s)
    assert len(rig.client.positions_reads) == tried + 1
    rig.loop.log.close()


def test_each_event_is_read_once_at_start_for_both_of_its_readings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The arbitrage strategy's groups (is the event mutually exclusive?) and the limit on its
    loss read the one answer of the one reader (services/pretrade/events.py): one
    `GET /events/KXSOS-26` at start, not one for each."""
    from tests.runner.fakes import FakeClient

    asked: list[str] = []
    get_event = FakeClient.get_event

    def counted(self: FakeClient, event_ticker: str, **kwargs: Any) -> dict[str, Any]:
        asked.append(event_ticker)
        return get_event(self, event_ticker, **kwargs)

    monkeypatch.setattr(FakeClient, "get_event", counted)
    clock = ManualClock(START)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    exchange = new_exchange(scenario, clock=clock)
    rig = make_rig(
        tmp_path / "s.db",
        strategy="arbitrage",
        exchange=exchange,
        clock=clock,
        account_id=trader(exchange),
        risk={"max_event_loss": "100", "stop_loss_share": "0"},
    )
    assert asked == ["KXSOS-26"]
    assert set(rig.loop.executor._account.reads.events) == {A, B, C}
    rig.loop.log.close()


def test_a_market_of_the_event_settling_during_the_run_rules_out_the_outcomes_it_ended(
    tmp_path: Path,
) -> None:
    """The loop trades A, B and C. NO on C at $0.80 could lose $0.80 (C yes), past a limit of
    $0.50, and is refused. A then settles YES, told by the lifecycle channel: at most one market
    of the event settles YES, so C yes is ruled out and NO on C can only win; it goes out. The
    loop had kept the results read at its start, and refused it until the next start."""
    rig = loop_trading(tmp_path, SCENARIO, "0.50", [A, B, C])
    rig.step()

    def no_on_c() -> bool:
        intent = Intent(C, Side.NO, Action.BUY, D("0.80"), D(1), D("0.99"), "t", "spike")
        went: bool = rig.loop.executor.execute(intent, last_data_at=rig.clock.wall())
        return went

    assert not no_on_c()
    rig.exchange.settlement.settle(A, "yes")
    rig.step(0.1)
    assert no_on_c()
    rig.loop.log.close()
    (denied,) = logged(tmp_path, "risk_denied")
    assert f"-$0.80 ({C} yes)" in denied["detail"]


def test_an_arbitrage_set_is_sized_beside_what_the_account_holds_in_the_event(
    tmp_path: Path,
) -> None:
    """Three candidates under a limit of $5 on the event's loss; NO 4 on A bought by hand at
    $0.60 before the run. Another trader then bids YES $0.45 on each (10 deep): a set of NOs
    pays $2 for $1.65 (no fees). A set whose first leg (NO on A) fills alone could lose $0.55 a
    set (A yes), so alone 9 sets would fit; beside the $2.40 NO 4 on A can lose, 4 do ($4.60),
    5 do not ($5.15). The strategy buys 4 whole sets first and no leg is denied; it had sized 9,
    and the limit refused the first leg of every set it tried."""
    rig = loop_trading(tmp_path, SCENARIO, "5", [A, B, C], held_no=A, strategy="arbitrage")
    for _ in range(3):
        take_by_hand(rig.exchange, rig.client.account_id, A, BookSide.ASK, "0.40")
    rig.step()
    assert rig.loop.portfolio.position(A) == -4
    assert logged(tmp_path, "group_leg") == []
    for ticker in (A, B, C):
        another_trader_places(
            rig.exchange, ticker, BookSide.BID, D("0.45"), D(10), time_in_force=TimeInForce.GTC
        )
    for _ in range(3):
        rig.step()
    rig.loop.log.close()
    assert logged(tmp_path, "risk_denied") == []
    assert logged(tmp_path, "group_dropped") == []
    done = logged(tmp_path, "group_done")
    assert done and all(d["status"] == "whole" for d in done), done
    # the first set; beside it, what NO 4 on A can lose is hedged, and more sets fit
    assert {k: D(v) for k, v in done[0]["held"].items()} == {f"{t} no": 4 for t in (A, B, C)}

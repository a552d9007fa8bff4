"""A position the loop's account holds in a market the loop does not trade is guarded by the
stop-loss all the same: the market is taken on for its exits alone (its book followed, the
stop-loss and its closes through the one risk and send path, no strategy's call there), whether
it was held at the start or bought by hand while the loop runs; it ends with the market as the
loop's other markets do. docs/risk.md "Stop-loss floor"."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace as struct_replace

from kalshi_cli.runner.loop.lifecycle_watch import REREAD_RETRY_S
from kalshi_cli.services.reconcile import reconcile
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.order_terms import owned_client_order_id
from kalshi_cli.vocabulary.owners import STOP_LOSS
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.runner.fakes import (
    START,
    FakeClient,
    Rig,
    another_trader_places,
    make_rig,
    new_exchange,
    place_on_desk,
    swap_decide,
    trader,
)
from tests.runner.simproc import log_events
from tests.waiting import PATIENCE_S, pause, wait_until

HELD = "KXHIGHNY-SIM-D1-T60"  # quiet scenario: YES bid 0.452 x 50, YES ask 0.469 x 50
TRADED = "KXFEDDECISION-SIM-DEC-H0"  # quiet scenario: YES bid 0.60, YES ask 0.62
# the floor above the mark once 10 YES are bought at the ask: 0.452 x 10 < 0.99 x 4.69
RISK = {"stop_loss_share": "0.99"}


def _loop(
    tmp_path: Path,
    *,
    held_at_start: bool,
    then: Callable[[Exchange, str], object] = lambda *_: None,
    settings: dict[str, Any] | None = None,
    risk: dict[str, str] = RISK,
    send_workers: int = 0,
) -> tuple[Rig, Path]:
    """A loop trading TRADED alone on an account that holds 10 YES of HELD bought at 0.469
    before it starts (`held_at_start`, booked by the start's reconcile), or holds nothing;
    `then`: what the exchange does (with the account's id) after the buy, before the start;
    `settings`: the loop's settings past the config's; `risk`: its risk section."""
    clock = ManualClock(START)
    exchange = new_exchange("quiet", clock)
    me = trader(exchange)
    if held_at_start:
        place_on_desk(
            exchange, me, HELD, BookSide.BID, "0.469", "10", time_in_force=TimeInForce.IOC
        )
    then(exchange, me)
    # the buy older than the loop's first fill read reaches back (a minute before its start):
    # the market is known held from the start's books alone, never from a fill read
    clock.advance(120)
    if held_at_start:
        with Store.open(tmp_path / "s.db", clock=clock) as store:
            reconcile(FakeClient(exchange, me, clock=clock), store, clock=clock, read_lag_s=0.0)
    log = tmp_path / "trade.log"
    rig = make_rig(
        tmp_path / "s.db",
        exchange=exchange,
        clock=clock,
        account_id=me,
        risk=risk,
        tickers=[TRADED],
        log_path=log,
        read_lag_s=0.0,
        settings=settings,
        send_workers=send_workers,
    )
    return rig, log


def _steps_until(rig: Rig, done: Any, what: str, *, steps: int = 40) -> None:
    for _ in range(steps):
        rig.step(0.5)
        if done():
            return
    raise AssertionError(f"{what}: not within {steps} steps")


def _held_at_exchange(rig: Rig) -> Decimal:
    return sum(
        (
            p.position
            for p in rig.exchange.accounts.positions(rig.client.account_id)
            if p.ticker == HELD
        ),
        Decimal(0),
    )


def _closed_by_the_stop_loss(rig: Rig, log: Path) -> None:
    _steps_until(rig, lambda: _held_at_exchange(rig) == 0, "the held position closed")
    sent = [r for r in rig.client.requests if r.ticker == HELD]
    assert sent, "no order was sent in the held market"
    # its exits alone: every order there is a reduce-only IOC sell of the stop-loss's
    assert all(r.reduce_only and r.time_in_force is TimeInForce.IOC for r in sent), sent
    intents = rig.store.orders.intents(strategy=STOP_LOSS)
    assert {i.ticker for i in intents} == {HELD}
    stops = [e for e in log_events(log) if e["event"] == "stop_loss"]
    assert [e["ticker"] for e in stops] == [HELD]
    assert rig.loop.portfolio.position(HELD) == 0


def test_a_position_held_at_the_start_outside_the_selection_is_closed_by_the_stop_loss_alone(
    tmp_path: Path,
) -> None:
    rig, log = _loop(tmp_path, held_at_start=True)
    assert rig.loop.portfolio.position(HELD) == 10
    called: list[str] = []
    decide = rig.loop.reloads.lineup.members[0].strategy.decide_fn

    def counted(snapshot: Any, view: Any, params: Any) -> Any:
        called.append(snapshot.ticker)
        return decide(snapshot, view, params)

    swap_decide(rig.loop, counted)
    _closed_by_the_stop_loss(rig, log)
    # visited for its exits alone: no strategy is called there
    assert TRADED in called
    assert HELD not in called
    [added] = [e for e in log_events(log) if e["event"] == "market_added"]
    assert (added["ticker"], added["why"]) == (HELD, "held")


def test_a_position_bought_by_hand_during_the_run_outside_the_selection_is_booked_and_closed(
    tmp_path: Path,
) -> None:
    rig, log = _loop(tmp_path, held_at_start=False)
    rig.step(0.5)
    assert not [e for e in log_events(log) if e["event"] == "market_added"]
    rig.hand_buy_yes(HELD, "0.469", "10")
    _closed_by_the_stop_loss(rig, log)
    # booked once: the buy and the close, each applied once, and the market taken on once
    assert sorted(f.count for f in rig.store.fills.iter_fills() if f.ticker == HELD) == [10, 10]
    added = [e for e in log_events(log) if e["event"] == "market_added"]
    assert [(e["ticker"], e["why"]) for e in added] == [(HELD, "held")]


def test_a_held_market_that_closes_ends_its_exits_as_the_loops_markets_do(tmp_path: Path) -> None:
    rig, log = _loop(tmp_path, held_at_start=True)
    rig.loop.questions.risk.limits = struct_replace(
        rig.loop.questions.risk.limits, stop_loss_share=Decimal("0.1")
    )  # no stop-loss due while the market is taken on
    _steps_until(
        rig,
        lambda: any(e["event"] == "market_added" for e in log_events(log)),
        "the held market taken on",
    )
    rig.exchange.settlement.set_market_status(HELD, "closed")
    _steps_until(
        rig,
        lambda: any(e["event"] == "market_closed" and e["ticker"] == HELD for e in log_events(log)),
        "the held market closed",
    )
    rig.loop.questions.risk.limits = struct_replace(
        rig.loop.questions.risk.limits, stop_loss_share=Decimal("0.99")
    )
    for _ in range(6):
        rig.step(0.5)
    assert [r for r in rig.client.requests if r.ticker == HELD] == []
    assert rig.loop.portfolio.position(HELD) == 10


def test_a_held_market_paused_at_the_start_is_guarded_once_it_trades_again(
    tmp_path: Path,
) -> None:
    rig, log = _loop(
        tmp_path,
        held_at_start=True,
        then=lambda exchange, _: exchange.settlement.set_market_status(HELD, "paused"),
    )
    for _ in range(4):
        rig.step(0.5)
    [refused] = [e for e in log_events(log) if e["event"] == "market_refused"]
    assert refused["ticker"] == HELD
    assert [r for r in rig.client.requests if r.ticker == HELD] == []
    rig.exchange.settlement.set_market_status(HELD, "open")
    _closed_by_the_stop_loss(rig, log)


def test_a_market_bought_by_hand_and_paused_before_it_is_read_is_guarded_once_it_trades_again(
    tmp_path: Path,
) -> None:
    """Bought by hand while the loop runs, then paused before the loop reads it: refused while
    it does not trade, it is taken on once its lifecycle says it trades again. The loop's feed
    carried no lifecycle of a market it neither traded nor followed from the start, so the
    market was never read again and the position went unguarded for the rest of the run."""
    rig, log = _loop(tmp_path, held_at_start=False)
    rig.step(0.5)
    rig.hand_buy_yes(HELD, "0.469", "10")
    rig.exchange.settlement.set_market_status(HELD, "paused")
    for _ in range(4):
        rig.step(0.5)
    [refused] = [e for e in log_events(log) if e["event"] == "market_refused"]
    assert refused["ticker"] == HELD
    assert [r for r in rig.client.requests if r.ticker == HELD] == []
    rig.exchange.settlement.set_market_status(HELD, "open")
    _closed_by_the_stop_loss(rig, log)


def test_a_held_market_refused_for_its_fees_is_tried_again_a_listing_interval_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A held market whose fees cannot be priced (its series listed with a fee type of unknown
    rates) is refused, not read again every tick, and taken on a listing interval later once
    they can: its position is guarded then."""
    from tests.runner import fakes

    unpriced = {"KXHIGHNY"}  # HELD's series

    class UnpricedSeries(FakeClient):
        def get_series(self, series_ticker: str) -> dict[str, Any]:
            answer = super().get_series(series_ticker)
            return {**answer, "fee_type": "flat"} if series_ticker in unpriced else answer

    monkeypatch.setattr(fakes, "FakeClient", UnpricedSeries)
    rig, log = _loop(tmp_path, held_at_start=True, settings={"new_markets_poll_s": 5.0})

    def refused() -> list[dict[str, Any]]:
        return [e for e in log_events(log) if e["event"] == "market_refused"]

    _steps_until(rig, refused, "the held market refused for its fees")
    assert refused()[0]["ticker"] == HELD and "flat" in str(refused()[0]["refused"])
    for _ in range(8):  # 4 s, within the listing interval: not read again
        rig.step(0.5)
    assert len(refused()) == 1
    unpriced.clear()  # its fees can be priced again
    _closed_by_the_stop_loss(rig, log)
    assert len(refused()) == 1


def _resting(rig: Rig, ticker: str) -> list[str]:
    return [o.order_id for o in rig.client.iter_orders(ticker=ticker, status="resting")]


def test_an_earlier_runs_quote_in_a_held_market_is_withdrawn_once_the_market_is_taken_on(
    tmp_path: Path,
) -> None:
    # an earlier run of the loop's strategy left a bid resting in HELD, where the account holds
    # 10 YES; this run does not trade HELD: once it is taken on for its exits, no strategy
    # would manage that quote there
    def quoted(exchange: Exchange, me: str) -> None:
        place_on_desk(
            exchange, me, HELD, BookSide.BID, "0.30", "5",
            client_order_id=owned_client_order_id("spike"),
        )  # fmt: skip

    rig, log = _loop(tmp_path, held_at_start=True, then=quoted)
    [quote] = _resting(rig, HELD)
    rig.loop.questions.risk.limits = struct_replace(
        rig.loop.questions.risk.limits, stop_loss_share=Decimal("0.1")
    )  # no stop-loss due: the quote is the only order of the loop's there
    _steps_until(
        rig,
        lambda: any(e["event"] == "market_added" for e in log_events(log)),
        "the held market taken on",
    )
    # withdrawn at once, long before a silent feed's staleness would withdraw it
    _steps_until(rig, lambda: not _resting(rig, HELD), "the earlier run's quote withdrawn", steps=2)
    cancelled = [e for e in log_events(log) if e["event"] == "order_cancelled"]
    assert [(e["order_id"], e["reason"]) for e in cancelled] == [
        (quote, "held, no strategy trades there")
    ]
    summary = rig.loop.stop.shutdown(cancel_resting=True)
    assert summary.not_proven == ()
    assert [r for r in rig.client.requests if r.ticker == HELD] == []
    assert rig.store.orders.intent_by_order_id(quote).status == "canceled"


def test_a_held_market_assigned_to_a_strategy_gives_it_nothing_where_no_strategy_acts(
    tmp_path: Path,
) -> None:
    # an earlier `--assign spike:HELD` kept in the state file: this run does not trade HELD, so
    # spike is never asked there; the contracts stay nobody's (its budget, `kalshi status` and
    # the P&L by strategy do not count them as spike's), the stop-loss guarding them all
    rig, log = _loop(tmp_path, held_at_start=True)
    rig.store.trading.set_assignments({HELD: "spike"})
    _steps_until(
        rig,
        lambda: any(e["event"] == "market_added" for e in log_events(log)),
        "the held market taken on",
    )
    assert not [e for e in log_events(log) if e["event"] == "position_assigned"]
    assert set(rig.loop.portfolio.owners.parts(HELD)) <= {0}


def test_a_held_markets_book_change_brings_its_stop_loss_with_no_change_of_the_position(
    tmp_path: Path,
) -> None:
    rig, log = _loop(tmp_path, held_at_start=True)
    # the floor (0.95 x 4.69 = 4.4555) under the mark (0.452 x 10): no stop-loss yet
    rig.loop.questions.risk.limits = struct_replace(
        rig.loop.questions.risk.limits, stop_loss_share=Decimal("0.95")
    )
    _steps_until(
        rig,
        lambda: any(e["event"] == "market_added" for e in log_events(log)),
        "the held market taken on",
    )
    for _ in range(4):
        rig.step(0.5)
    assert not [r for r in rig.client.requests if r.ticker == HELD]
    # another trader takes the bid and bids lower: the book alone puts the mark under the floor
    another_trader_places(rig.exchange, HELD, BookSide.ASK, Decimal("0.452"), Decimal(50))
    another_trader_places(
        rig.exchange, HELD, BookSide.BID, Decimal("0.40"), Decimal(50),
        time_in_force=TimeInForce.GTC,
    )  # fmt: skip
    _steps_until(
        rig,
        lambda: [r for r in rig.client.requests if r.ticker == HELD],
        "the stop-loss on the held market's book change",
        steps=4,
    )
    [sold] = [r for r in rig.client.requests if r.ticker == HELD]
    assert sold.reduce_only and sold.price == Decimal("0.40"), sold


def test_a_held_market_is_not_read_while_the_api_error_guard_backs_off(tmp_path: Path) -> None:
    rig, log = _loop(tmp_path, held_at_start=True)
    guard = rig.loop.executor.guard
    guard.backoff_until = rig.clock.monotonic() + 10.0  # as an outage's errors set it
    for _ in range(8):
        rig.step(0.5)
        assert not [e for e in log_events(log) if e["event"] == "market_added"]
    _steps_until(
        rig,
        lambda: any(e["event"] == "market_added" for e in log_events(log)),
        "the held market taken on once the backoff is over",
    )


class _HeldReads:
    """The times (the rig's clock) of the reads of HELD's market the loop makes, each failing
    (the exchange's 503) while `fail`."""

    def __init__(self, rig: Rig, *, fail: bool) -> None:
        self.made: list[float] = []
        self.fail = fail
        self._rig, self._listing = rig, rig.client.iter_markets
        rig.client.iter_markets = self._read  # type: ignore[method-assign]

    def _read(self, **filters: Any) -> Any:
        if filters.get("tickers") == [HELD]:
            self.made.append(self._rig.clock.monotonic())
            if self.fail:
                raise ServerError("request failed: HTTP 503", status=503)
        return self._listing(**filters)


def test_a_held_market_is_not_read_nor_taken_on_while_the_stop_loss_is_off(
    tmp_path: Path,
) -> None:
    rig, log = _loop(tmp_path, held_at_start=True, risk={"stop_loss_share": "0"})
    reads = _HeldReads(rig, fail=False)
    for _ in range(12):
        rig.step(0.5)
    assert reads.made == []
    assert not [e for e in log_events(log) if e["event"] == "market_added"]


def test_a_failed_read_of_a_held_market_is_said_and_made_again_after_its_wait_not_each_tick(
    tmp_path: Path,
) -> None:
    rig, log = _loop(tmp_path, held_at_start=True)
    reads = _HeldReads(rig, fail=True)
    _steps_until(rig, lambda: len(reads.made) == 2, "the failed read made again")
    # made again `REREAD_RETRY_S` after the failure, not on each tick meanwhile
    assert REREAD_RETRY_S <= reads.made[1] - reads.made[0] <= REREAD_RETRY_S + 1.0, reads.made
    failed = [e for e in log_events(log) if e["event"] == "held_markets_read_failed"]
    assert [e["error"] for e in failed][:1] == [
        ServerError("request failed: HTTP 503", status=503).one_line()
    ]
    assert not [e for e in log_events(log) if e["event"] == "market_added"]
    reads.fail = False
    _steps_until(
        rig,
        lambda: any(e["event"] == "market_added" for e in log_events(log)),
        "the held market taken on once its read answers",
    )


def test_a_held_markets_read_is_one_at_a_time_and_a_market_found_meanwhile_is_read_next(
    tmp_path: Path,
) -> None:
    """The read of a held market is out on a send worker, slow to answer; a buy by hand in
    another market meanwhile is read once that read is booked, not beside it."""
    other = "KXFEDDECISION-SIM-DEC-C25"  # quiet scenario: YES ask 0.35
    rig, log = _loop(tmp_path, held_at_start=True, send_workers=2)
    answer = threading.Event()
    made: list[list[str]] = []
    listing = rig.client.iter_markets

    def read(**filters: Any) -> Any:
        tickers = filters.get("tickers")
        if tickers is not None and set(tickers) & {HELD, other}:
            made.append(list(tickers))
            answer.wait(PATIENCE_S)  # set below: a bound, never the test's way on
        return listing(**filters)

    rig.client.iter_markets = read  # type: ignore[method-assign]
    _steps_until(rig, lambda: made == [[HELD]], "the held market's read out")
    rig.hand_buy_yes(other, "0.35", "5")

    def step_then_pause() -> None:
        rig.step(0.5)
        pause()

    # the fill read is a send worker's: stepped, a pause apart, until its answer is in
    wait_until(
        lambda: rig.loop.executor.fills.outside or made != [[HELD]],
        "the buy read",
        between=step_then_pause,
    )
    for _ in range(6):
        rig.step(0.5)
    assert made == [[HELD]]
    answer.set()
    _steps_until(
        rig,
        lambda: len([e for e in log_events(log) if e["event"] == "market_added"]) == 2,
        "both taken on",
    )
    assert made == [[HELD], [other]]

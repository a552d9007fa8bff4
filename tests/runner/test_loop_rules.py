"""Deterministic checks of the loop's safety behaviour on the fakes."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kalshi_cli.client.fill_quarantine import FillQuarantine
from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.runner.assembly import LoopInputs, start_loop
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import StrategyChoice, TradeConfig, TradeOptions
from kalshi_cli.runner.loop.trade_loop import TradeLoop
from kalshi_cli.runner.preflight import check_live, reconcile
from kalshi_cli.services.reconcile import DEFAULT_READ_LAG_S
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.store import FillRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import TransportError, UsageError
from kalshi_cli.vocabulary.models import Position
from kalshi_cli.vocabulary.units import BookSide, Side, TimeInForce
from tests.runner.fakes import (
    START,
    FakeClient,
    FakeFeed,
    make_rig,
    new_exchange,
    place_on_desk,
    trader,
)

LAL = "KXNBAGAME-SIM-LALGSW-LAL"


def test_prod_refuses_without_live() -> None:
    with pytest.raises(UsageError, match="--live"):
        check_live("prod", TradeOptions(strategies=(StrategyChoice("spike"),)))
    check_live("prod", TradeOptions(strategies=(StrategyChoice("spike"),), live=True))
    check_live("sim", TradeOptions(strategies=(StrategyChoice("spike"),)))


def test_spike_scenario_places_and_fills_an_order_within_a_minute(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db")
    for _ in range(120):
        rig.step(0.5)
    placed = [r for r in rig.client.requests if r.ticker == LAL]
    assert placed, "the default scenario's spike must trigger the spike strategy"
    assert rig.loop.executor.counters.fills >= 1


def test_quiet_scenario_does_not_trigger_spike(tmp_path: Path) -> None:
    clock = ManualClock(START)
    rig = make_rig(tmp_path / "s.db", exchange=new_exchange("quiet", clock), clock=clock)
    for _ in range(240):
        rig.step(0.5)
    assert rig.client.requests == []


def test_stop_loss_fires_on_the_next_tick(tmp_path: Path) -> None:
    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    me = trader(exchange)
    rig = make_rig(
        tmp_path / "s.db", exchange=exchange, clock=clock, account_id=me, params={"spike_share": 5}
    )
    rig.step(0.1)
    place_on_desk(exchange, me, LAL, BookSide.BID, "0.99", "10", time_in_force=TimeInForce.IOC)
    rig.step(0.1)  # the loop learns the position from its fills
    assert rig.loop.portfolio.position(LAL) > 0
    # the mark (the YES bid) is well above half the entry cost: no stop yet
    sent = len(rig.client.requests)
    rig.step(0.1)
    assert len(rig.client.requests) == sent
    # the trigger: the floor rises above the mark (as if the bid had collapsed)
    rig.loop.questions.risk.limits = RiskLimits(stop_loss_share=Decimal("0.99"))
    rig.step(0.1)
    closes = [r for r in rig.client.requests[sent:] if r.reduce_only]
    assert closes and closes[0].book_side is BookSide.ASK


def test_circuit_breaker_trips_at_threshold_and_holds_after_restart(tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    rig = make_rig(state, risk={"daily_loss_limit": 5})
    rig.step()
    rig.store.fills.record_fill(
        FillRecord(
            "f-loss",
            "o-1",
            None,
            LAL,
            BookSide.BID,
            Decimal("0.5"),
            Decimal("1"),
            Decimal("0"),
            True,
            START + 1,
            "spike",
            Decimal("-5"),
        )
    )
    rig.step()
    assert rig.store.trading.trading_state().state == "REDUCING"
    assert rig.store.trading.risk_trips(rule="circuit_breaker")
    rig.store.close()
    again = make_rig(state, risk={"daily_loss_limit": 5}, clock=ManualClock(START + 10))
    assert again.loop.questions.risk.check_circuit_breaker()
    for _ in range(120):
        again.step(0.5)
    assert [r for r in again.client.requests if not r.reduce_only] == []


def test_an_order_whose_answer_is_lost_is_looked_up_never_sent_twice(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db", strategy="market-maker")
    rig.step(0.1)
    quoted = {r.ticker for r in rig.client.requests}
    assert LAL in quoted
    # the next order is taken by the exchange, its answer lost, and the lookup fails as well
    rig.client.create_errors.append("unknown")
    rig.client.lookup_errors.append(TransportError("connection reset"))
    sent = len(rig.client.requests)
    while len(rig.client.requests) == sent:
        rig.step(0.5)
    lost = rig.client.requests[sent]
    assert rig.store.orders.get_intent(lost.client_order_id).status == "unknown"
    assert lost.client_order_id in rig.loop.executor.unknown_orders.unknown
    after = len(rig.client.requests)
    for _ in range(6):
        rig.step(0.5)
    # resolved by the lookup, the order counts as the loop's own; nothing was re-sent
    assert rig.loop.executor.unknown_orders.unknown == {}
    intent = rig.store.orders.get_intent(lost.client_order_id)
    (on_exchange,) = [
        o
        for o in rig.exchange.history.orders(rig.client.account_id)
        if o.client_order_id == lost.client_order_id
    ]
    assert intent.order_id == on_exchange.order_id
    assert intent.status == on_exchange.status
    assert [
        r for r in rig.client.requests[after:] if r.client_order_id == lost.client_order_id
    ] == []


def test_a_market_with_an_unresolved_order_takes_no_new_order(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db", strategy="market-maker")
    rig.client.create_errors.append("unknown")
    # the exchange took the order but does not list it for a while
    rig.client.lookup_errors.extend("missing" for _ in range(6))
    rig.step(0.1)
    rig.feed.drain_messages()  # and its user_orders message is lost too
    ((coid, lost),) = rig.loop.executor.unknown_orders.unknown.items()
    sent = len(rig.client.requests)
    for _ in range(8):
        rig.step(0.5)
    assert coid in rig.loop.executor.unknown_orders.unknown, (
        "not listed yet, within the grace period"
    )
    assert [r for r in rig.client.requests[sent:] if r.ticker == lost.ticker] == []
    assert [r for r in rig.client.requests[sent:] if r.ticker != lost.ticker], "others go on"
    for _ in range(6):
        rig.step(0.5)
    assert rig.loop.executor.unknown_orders.unknown == {}
    assert rig.store.orders.get_intent(coid).order_id is not None
    assert [r for r in rig.client.requests if r.client_order_id == coid] == [
        r for r in rig.client.requests[:sent] if r.client_order_id == coid
    ], "sent once"
    assert [r for r in rig.client.requests[sent:] if r.ticker == lost.ticker], "trading resumes"


class _FillsOnFirstPositionsRead(FakeClient):
    """The exchange as a restart sees it when a quote left by the previous run fills between
    the reconciliation and the read of the positions."""

    def __init__(self, exchange: Exchange, account_id: str, fill: Callable[[], None]) -> None:
        super().__init__(exchange, account_id)
        self._fill: Callable[[], None] | None = fill
        # what the loop's assembly listens to on a client (KalshiClient.connection)
        self.connection = SimpleNamespace(fill_quarantine=FillQuarantine())

    def get_positions(self, **filters: Any) -> list[Position]:
        if self._fill is not None:
            fill, self._fill = self._fill, None
            fill()
        return super().get_positions(**filters)


def _restart_while_a_quote_fills(
    tmp_path: Path, config: TradeConfig, *, send_workers: int = 0
) -> tuple[TradeLoop, EntryLog, _FillsOnFirstPositionsRead]:
    """A loop started where the previous run's quote fills between the reconciliation and the
    read of the positions: its first build is discarded (`positions_moved`) and a second one
    runs."""
    state = tmp_path / "s.db"
    clock = ManualClock(START)
    first = make_rig(state, strategy="market-maker", clock=clock)
    first.step(0.1)
    quote = next(o for o in first.loop.portfolio.orders.values() if o.ticker == LAL)
    first.store.close()  # the previous run dies with its quotes resting
    exchange, me = first.exchange, first.client.account_id
    taker = exchange.accounts.create_account(key_id="taker", public_key_pem="", cash_cents=10**7)

    def fill() -> None:
        # takes the whole top of the book on the quote's side, the loop's quote included
        yes_bids, no_bids = exchange.engine.book(LAL)
        levels = yes_bids if quote.side is Side.YES else no_bids
        place_on_desk(
            exchange,
            taker.account_id,
            LAL,
            BookSide.ASK if quote.side is Side.YES else BookSide.BID,
            quote.price if quote.side is Side.YES else 1 - quote.price,
            sum((size for _, size in levels), Decimal(0)),
            time_in_force=TimeInForce.IOC,
        )

    client = _FillsOnFirstPositionsRead(exchange, me, fill)
    store = Store.open(state, clock=clock)
    log = EntryLog(clock, stderr=None)
    inputs = LoopInputs(client, store, FakeFeed(exchange, me, clock), clock, log)
    inputs.send_workers = send_workers
    inputs.read_lag_s = 2.5  # the `read_lag` setting: the loop's services wait that long
    reconcile(client, store, clock)
    loop = start_loop(
        inputs,
        TradeOptions(strategies=(StrategyChoice("market-maker"),)),
        config,
        [
            client.get_market(t)
            for t in exchange.reference.markets
            if exchange.reference.markets[t].status == "open"
        ],
    )
    assert log.counts.get("positions_moved") == 1
    return loop, log, client


def test_a_fill_during_start_up_is_reconciled_not_refused(tmp_path: Path) -> None:
    loop, _, client = _restart_while_a_quote_fills(tmp_path, TradeConfig())
    assert loop.executor.answers.orders.read_lag_s == 2.5
    assert loop.portfolio.position(LAL) == next(
        p.position for p in client.get_positions() if p.ticker == LAL
    )


def test_a_quarantined_fill_is_told_to_the_loop_that_runs_not_to_one_discarded_at_start(
    tmp_path: Path,
) -> None:
    """A loop built and discarded at start (positions moved) left its listener on the client's
    fill quarantine: with the calls on the deciding thread (`send_workers: 0`) a fill listed
    without its count was then logged, recorded and alerted once by each loop ever built."""
    loop, log, client = _restart_while_a_quote_fills(
        tmp_path, TradeConfig(trade={"send_workers": 0})
    )
    client.connection.fill_quarantine.add({"ticker": LAL, "trade_id": "t-1"}, "no count_fp")
    assert log.counts.get("fill_quarantined") == 1
    assert loop.executor.unknown_orders.holds(LAL)


@pytest.mark.parametrize("workers", [0, 4])
def test_a_fill_quarantined_by_the_stops_last_read_is_told_to_the_loop(
    tmp_path: Path, workers: int
) -> None:
    """The stop reads the fills once more after its withdrawal: a fill that read lists without
    a field the spec requires is still logged, recorded and alerted, not left unheard because
    the loop let go of the quarantine as its calls closed, nor (with send workers) left waiting
    for a drain of answers that no tick will make."""
    loop, log, client = _restart_while_a_quote_fills(tmp_path, TradeConfig(), send_workers=workers)
    listed = client.iter_fills

    def fills_with_one_unreadable(**filters: Any) -> Any:
        client.connection.fill_quarantine.add({"ticker": LAL, "trade_id": "t-9"}, "no count_fp")
        return listed(**filters)

    client.iter_fills = fills_with_one_unreadable  # type: ignore[method-assign]
    loop.stop.shutdown(cancel_resting=True)
    assert log.counts.get("fill_quarantined") == 1
    assert loop.stop.store.entries.count("fill_quarantined") == 1
    client.connection.fill_quarantine.add({"ticker": LAL, "trade_id": "t-10"}, "no count_fp")
    assert log.counts.get("fill_quarantined") == 1, "a stopped loop hears no more"


def test_the_loop_builds_its_order_service_with_the_configured_read_lag(tmp_path: Path) -> None:
    # `read_lag` (KALSHI_READ_LAG) reaches the loop: its order service (and the reconcile and
    # kill switch that service runs) trusts no listing sooner than that after a write
    lagged = make_rig(tmp_path / "a.db", read_lag_s=4.0).loop.executor.answers.orders
    assert lagged.read_lag_s == 4.0
    assert make_rig(tmp_path / "b.db").loop.executor.answers.orders.read_lag_s == DEFAULT_READ_LAG_S

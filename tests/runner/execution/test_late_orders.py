"""An order whose answer was lost may still reach the exchange until its signature timestamp
leaves the exchange's acceptance window: the loop keeps it UNKNOWN (and its market free of new
adding orders) for that long, adopts it when it lands late, and attributes its fills."""

from __future__ import annotations

import threading
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.client.client import LANDING_WINDOW_S, SIGNATURE_WINDOW_S
from kalshi_cli.runner.execution.unknown_orders import LOOKUP_SHARE
from kalshi_cli.sim.server.auth import DEFAULT_WINDOW_S
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.clock import ManualClock, SystemClock, utc_day
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.runner.fakes import (
    START,
    Held,
    Rig,
    make_rig,
    new_exchange,
    place_on_desk,
    swap_decide,
    trader,
)
from tests.runner.test_strategy_scenarios import SCENARIO, TICKER, Mover
from tests.waiting import poll_until

# the default cap of orders a minute is no part of these tests
RISK = {"max_orders_per_minute": 1000}
# requoting at every tick's move: these tests hold "the loop's next create", which comes soon
# requotes as cancels and new orders: these tests hold the loop's next create, which an amend
# of a requote would never be
CREATES = {"amend_requotes": False}
PARAMS = {"requote_tolerance": "0"}
MM, MR = "market-maker", "mean-reversion"


def _hold_next_create(rig: Rig, held: Held) -> str:
    """Quote once, then hold the loop's next create; returns its client order id."""
    rig.step(0.1)
    rig.client.create_errors.append(held)
    sent = len(rig.client.requests)
    while len(rig.client.requests) == sent:
        rig.step(0.5)
    coid = rig.client.requests[sent].client_order_id
    assert coid in rig.loop.executor.unknown_orders.unknown
    return coid


def _take(rig: Rig, coid: str) -> None:
    """Another account takes the whole of the order `coid` as soon as it rests (and every
    better-priced order before it)."""
    (order,) = [
        o for o in rig.exchange.history.orders(rig.client.account_id) if o.client_order_id == coid
    ]
    yes_bids, no_bids = rig.exchange.engine.book(order.ticker)
    if order.book_side is BookSide.BID:
        ahead = sum((n for p, n in yes_bids if p >= order.price), Decimal(0))
    else:
        ahead = sum((n for p, n in no_bids if p >= 1 - order.price), Decimal(0))
    taker = rig.exchange.accounts.create_account(
        key_id="taker", public_key_pem="", cash_cents=10**8
    )
    place_on_desk(
        rig.exchange,
        taker.account_id,
        order.ticker,
        BookSide.ASK if order.book_side is BookSide.BID else BookSide.BID,
        order.price,
        ahead,
        time_in_force=TimeInForce.IOC,
    )


def test_the_client_window_covers_the_exchanges() -> None:
    # the simulator refuses a signature older than DEFAULT_WINDOW_S; Kalshi's is shorter
    assert SIGNATURE_WINDOW_S >= DEFAULT_WINDOW_S
    assert LANDING_WINDOW_S > SIGNATURE_WINDOW_S


def test_an_order_held_past_the_old_grace_lands_late_adopted_and_never_doubled(
    tmp_path: Path,
) -> None:
    rig = make_rig(
        tmp_path / "s.db", strategy="market-maker", risk=RISK, params=PARAMS, trade=CREATES
    )
    landed: list[float] = []
    held = Held(25.0, then=lambda: landed.append(rig.clock.monotonic()))
    coid = _hold_next_create(rig, held)
    ticker = rig.store.orders.get_intent(coid).ticker
    sent = before_landing = len(rig.client.requests)
    while not landed:
        assert rig.store.orders.get_intent(coid).status == "unknown", "it could still land"
        before_landing = len(rig.client.requests)
        rig.step(0.5)
    # no new adding order in its market while it was in the network (the step in which it
    # landed may replace it, once the loop knows it)
    assert [r for r in rig.client.requests[sent:before_landing] if r.ticker == ticker] == []
    for _ in range(4):
        rig.step(0.5)
    assert coid not in rig.loop.executor.unknown_orders.unknown
    intent = rig.store.orders.get_intent(coid)
    (on_exchange,) = [
        o for o in rig.exchange.history.orders(rig.client.account_id) if o.client_order_id == coid
    ]
    assert (intent.order_id, intent.status) == (on_exchange.order_id, on_exchange.status)
    assert intent.strategy == "market-maker"
    # the loop counts it as its own quote: no second quote on its side joins it
    for _ in range(20):
        rig.step(0.5)
    mine = [
        o
        for o in rig.exchange.history.orders(rig.client.account_id)
        if o.ticker == ticker and o.book_side is on_exchange.book_side and o.status == "resting"
    ]
    assert len(mine) <= 1
    assert [r.client_order_id for r in rig.client.requests].count(coid) == 1, "sent once"


def test_a_late_order_filled_before_the_loop_looked_is_attributed(tmp_path: Path) -> None:
    rig = make_rig(
        tmp_path / "s.db", strategy="market-maker", risk=RISK, params=PARAMS, trade=CREATES
    )
    coid = ""
    held = Held(15.0, then=lambda: _take(rig, coid))
    coid = _hold_next_create(rig, held)
    while rig.client.held:
        rig.clock.advance(0.5)
        rig.client.deliver_held()
    # the fill is read before the next lookup by client order id would have run
    assert rig.loop.executor.fills.sync() >= 1
    fills = [f for f in rig.store.fills.read() if f.client_order_id == coid]
    assert fills, "the late fill is attributed to its intent"
    assert {f.strategy for f in fills} == {"market-maker"}
    intent = rig.store.orders.get_intent(coid)
    assert intent.status == "executed" and intent.filled == sum(
        (f.count for f in fills), Decimal(0)
    )
    assert rig.loop.portfolio.position(intent.ticker) != 0


def test_an_order_that_never_lands_is_rejected_only_after_the_window(tmp_path: Path) -> None:
    rig = make_rig(
        tmp_path / "s.db", strategy="market-maker", risk=RISK, params=PARAMS, trade=CREATES
    )
    coid = _hold_next_create(rig, Held(10_000.0))  # lost for good
    failed_at = rig.clock.monotonic()
    ticker = rig.store.orders.get_intent(coid).ticker
    sent = len(rig.client.requests)
    while rig.clock.monotonic() - failed_at < LANDING_WINDOW_S - 1:
        rig.step(0.5)
        assert rig.store.orders.get_intent(coid).status == "unknown"
    assert [r for r in rig.client.requests[sent:] if r.ticker == ticker] == []
    for _ in range(6):
        rig.step(0.5)
    assert rig.store.orders.get_intent(coid).status == "rejected"
    assert coid not in rig.loop.executor.unknown_orders.unknown
    for _ in range(10):
        rig.step(0.5)
    assert [r for r in rig.client.requests[sent:] if r.ticker == ticker], "trading resumes"


def _two_lost_one_filled(rig: Rig) -> tuple[str, str]:
    """Two orders of unknown outcome in two markets: the first lands late and is taken at
    once, the second is lost for good; returns their client order ids."""
    first = ""
    landed: list[bool] = []

    def take() -> None:
        _take(rig, first)
        landed.append(True)

    first = _hold_next_create(rig, Held(15.0, then=take))
    second = _hold_next_create(rig, Held(10_000.0))
    while not landed:
        rig.clock.advance(0.5)
        rig.client.deliver_held()
    tickers = {rig.store.orders.get_intent(c).ticker for c in (first, second)}
    assert len(tickers) == 2, "the two lost orders are in two markets"
    return first, second


def _lookups(rig: Rig) -> list[tuple[str, int]]:
    """Each lookup by client order id from now on: (the id, the thread that made it)."""
    made: list[tuple[str, int]] = []
    find = rig.client.find_order_by_client_id

    def spy(client_order_id: str, ticker: str) -> Order | None:
        made.append((client_order_id, threading.get_ident()))
        return find(client_order_id, ticker)

    rig.client.find_order_by_client_id = spy  # type: ignore[method-assign]
    return made


def test_a_fill_read_looks_up_only_the_lost_orders_of_the_markets_it_found_fills_in(
    tmp_path: Path,
) -> None:
    """A fill of an order the loop does not know may be a lost order's, landed late: the read
    looks up the lost orders of that fill's market before booking it, not every lost order
    (with hundreds lost, one lookup each would hold the loop for as many round trips)."""
    rig = make_rig(
        tmp_path / "s.db", strategy="market-maker", risk=RISK, params=PARAMS, trade=CREATES
    )
    first, second = _two_lost_one_filled(rig)
    made = _lookups(rig)
    assert rig.loop.executor.fills.sync() >= 1
    assert [coid for coid, _ in made] == [first]
    assert {f.strategy for f in rig.store.fills.read() if f.client_order_id == first} == {
        "market-maker"
    }
    assert second in rig.loop.executor.unknown_orders.unknown


def test_a_fill_read_off_the_deciding_path_makes_its_lookups_on_the_worker(
    tmp_path: Path,
) -> None:
    """With send workers, the read's lookups of the lost orders in its fills' markets go out
    with the listing, on the worker: the deciding thread waits for none, and the late order's
    fill is still booked as its strategy's."""
    rig = make_rig(
        tmp_path / "s.db", strategy="market-maker", risk=RISK, params=PARAMS, trade=CREATES
    )
    first, second = _two_lost_one_filled(rig)
    made = _lookups(rig)
    dispatch = rig.loop.dispatch
    dispatch.workers = 1  # from here on, calls off the deciding path
    try:
        rig.loop.executor.fills.read_for()
        assert dispatch.settle(SystemClock(), 30)
    finally:
        dispatch.close()
    assert [coid for coid, _ in made] == [first]
    assert all(thread != threading.get_ident() for _, thread in made)
    fills = [f for f in rig.store.fills.read() if f.client_order_id == first]
    assert fills and {f.strategy for f in fills} == {"market-maker"}
    assert rig.store.orders.get_intent(first).status == "executed"
    assert second in rig.loop.executor.unknown_orders.unknown


def _made(asked: list[str], n: int) -> bool:
    return len(asked) == n


@pytest.mark.parametrize("workers", [32, 24])
def test_the_lookups_of_lost_orders_take_at_most_their_share_of_the_send_workers(
    tmp_path: Path, workers: int
) -> None:
    """Lost orders in many markets (an outage's aftermath): each market's are looked up on a
    call of its own, but no more such calls are out at once than a share of the send workers
    (a whole number of them: 24 workers give one), so the markets in doubt do not take every
    worker from the others' orders; as those calls are booked, the markets not looked up yet
    take their turn, each market once at a time."""
    rig = make_rig(tmp_path / "s.db", send_workers=workers)
    unknown = rig.loop.executor.unknown_orders
    markets = [f"KXLOST-{n}" for n in range(10)]
    for ticker in markets:
        unknown.lost(f"{ticker}-a", ticker)
        unknown.lost(f"{ticker}-b", ticker)
    release = threading.Event()
    asked: list[str] = []

    def held(client_order_id: str, ticker: str) -> Order | None:
        asked.append(ticker)
        release.wait(60)
        return None

    rig.client.find_order_by_client_id = held  # type: ignore[method-assign]
    dispatch = rig.loop.dispatch
    share = workers // LOOKUP_SHARE
    assert len(markets) % share == 0
    for turn in range(len(markets) // share):
        unknown.resolve_later()
        assert dispatch.in_flight == share
        unknown.resolve_later()  # no market asked for twice at once, none past the share
        assert dispatch.in_flight == share
        release.set()
        looked = 2 * share * (turn + 1)  # every lookup of the turn's calls made
        assert poll_until(partial(_made, asked, looked))
        while dispatch.in_flight:
            assert poll_until(lambda: dispatch.answered)
            dispatch.drain()
        # this turn's markets, both orders of each, are the first not looked up before
        assert sorted(asked[2 * share * turn :]) == sorted(markets[share * turn :][:share] * 2)
    assert set(unknown.unknown) == {f"{t}-{s}" for t in markets for s in "ab"}, "still landing"


def test_a_market_whose_lookup_is_still_out_does_not_hold_back_the_next_markets_turn(
    tmp_path: Path,
) -> None:
    """Three markets in doubt, looked up side by side; one market's lookup is held in the
    network. At the next round that market is passed over, and the markets after it in line
    are looked up again all the same."""
    rig = make_rig(tmp_path / "s.db", send_workers=3 * LOOKUP_SHARE)
    unknown = rig.loop.executor.unknown_orders
    markets = ["KXLOST-A", "KXLOST-B", "KXLOST-C"]
    for ticker in markets:
        unknown.lost(f"{ticker}-a", ticker)
    release = threading.Event()
    asked: list[str] = []

    def held(client_order_id: str, ticker: str) -> Order | None:
        asked.append(ticker)
        if ticker == markets[1]:
            release.wait(60)
        return None

    rig.client.find_order_by_client_id = held  # type: ignore[method-assign]
    dispatch = rig.loop.dispatch
    try:
        unknown.resolve_later()
        assert poll_until(partial(_made, asked, 3))
        while dispatch.in_flight > 1:  # all but the held market's booked
            assert poll_until(lambda: dispatch.answered)
            dispatch.drain()
        rig.clock.advance(1.0)
        unknown.resolve_later()
        assert poll_until(partial(_made, asked, 5))
        assert sorted(asked[3:]) == [markets[0], markets[2]]
    finally:
        release.set()
        dispatch.close()


def test_a_lost_order_is_called_never_placed_only_once_a_listing_could_show_it(
    tmp_path: Path,
) -> None:
    """An order whose answer was lost may land until LANDING_WINDOW_S after the failure, and a
    listing shows it only a read lag after it landed: until both have passed, a lookup that
    does not find it leaves it unknown, as `kalshi reconcile` does (`landing_wait_s`)."""
    rig = make_rig(
        tmp_path / "s.db",
        strategy="market-maker",
        risk=RISK,
        params=PARAMS,
        read_lag_s=5.0,
        trade=CREATES,
    )
    coid = _hold_next_create(rig, Held(10_000.0))  # it never lands
    unknown = rig.loop.executor.unknown_orders
    since = unknown.unknown[coid].since
    rig.clock.advance(since + LANDING_WINDOW_S + 1.0 - rig.clock.monotonic())
    unknown.resolve()
    assert coid in unknown.unknown, "a listing may not show it yet"
    assert rig.store.orders.get_intent(coid).status == "unknown"
    rig.clock.advance(5.0)
    unknown.resolve()
    assert coid not in unknown.unknown
    assert rig.store.orders.get_intent(coid).status == "rejected"


@pytest.mark.parametrize("reconciled_first", [False, True])
def test_a_late_orders_fill_read_before_its_lookup_becomes_its_strategys_once_found(
    tmp_path: Path, reconciled_first: bool
) -> None:
    """A fill of an order the loop does not know, in a market with an order of unknown
    outcome, may be that order's (landed late): while the lookup that would say so fails, the
    fill is in the account's position as nobody's (the strategy does not exit it), and once
    the order is found it is the strategy's, in the state file and in the strategy's own
    part alike; also when a reconcile in another process found the order and attributed the
    fill in the state file before the loop's own lookup did."""
    rig = make_rig(
        tmp_path / "s.db", strategy="market-maker", risk=RISK, params=PARAMS, trade=CREATES
    )
    first, _ = _two_lost_one_filled(rig)
    ticker = rig.store.orders.get_intent(first).ticker
    rig.client.lookup_errors.extend([ServerError("down", status=503)] * 2)
    dispatch = rig.loop.dispatch
    fills = rig.loop.executor.fills
    dispatch.workers = 1  # from here on, calls off the deciding path
    try:
        fills.read_for()
        assert dispatch.settle(SystemClock(), 30)
        (early,) = [f for f in rig.store.fills.read() if f.ticker == ticker]
        assert early.strategy is None
        assert rig.loop.portfolio.view_for(ticker, "market-maker").position == 0
        if reconciled_first:
            # the other process's reconcile, as `resolve_unknown` attributes what it finds
            rig.store.fills.attribute_fills(
                early.order_id, client_order_id=first, strategy="market-maker"
            )
        rig.loop.executor.unknown_orders.resolve_later()
        assert dispatch.settle(SystemClock(), 30)
        fills.read_for()
        assert dispatch.settle(SystemClock(), 30)
    finally:
        dispatch.close()
    assert first not in rig.loop.executor.unknown_orders.unknown
    booked = [f for f in rig.store.fills.read() if f.ticker == ticker]
    assert booked and {f.strategy for f in booked} == {"market-maker"}
    filled = sum((f.count for f in booked), Decimal(0))
    position = rig.loop.portfolio.position(ticker)
    assert abs(position) == filled
    own = rig.loop.portfolio.view_for(ticker, "market-maker")
    assert own.position == position, "the strategy's own part counts its late order's fill"


class _Sends:
    """A strategy's decide that sends what the test queues for it, once, and nothing else."""

    def __init__(self) -> None:
        self.queued: list[Intent] = []

    def __call__(self, snap: MarketSnapshot, pos: PositionView, params: Any) -> list[Intent]:
        sent, self.queued = self.queued, []
        return sent


def _ioc(action: Action, price: str, count: int) -> Intent:
    return Intent(
        ticker=TICKER,
        side=Side.YES,
        action=action,
        price=Decimal(price),
        count=Decimal(count),
        model_fair=Decimal("0.50" if action is Action.BUY else "0.30"),  # an edge either way
        reason="test",
        strategy="test",  # the loop stamps the strategy that decided it
        time_in_force=TimeInForce.IOC,
    )


def _parts(rig: Rig) -> dict[str, tuple[Decimal, Decimal]]:
    """Each strategy's own part of the market and what its own fills realized today."""
    today = utc_day(rig.clock.wall())
    portfolio = rig.loop.portfolio
    return {
        name: (
            portfolio.view_for(TICKER, name).position,
            portfolio.owners.realized_today(name, today),
        )
        for name in (MM, MR)
    }


@pytest.mark.parametrize("newest", [MR, MM])
def test_a_late_sell_found_after_its_fill_cuts_only_its_own_strategys_part(
    tmp_path: Path, newest: str
) -> None:
    """Two strategies hold parts of one market; one's sell loses its answer, lands and fills,
    and the fill is read before the lookup that finds the order. Booked as nobody's, it cut
    the newest part first, at no P&L: the other strategy's, or the seller's own below what it
    then sells. Once the order is found the market's parts are what a restart builds from the
    state file: the other strategy's part whole, the seller's less what it sold, and the
    exit in what the seller realized today."""
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    clock = ManualClock(START)
    exchange = new_exchange(scenario, clock)
    account = trader(exchange)
    Mover(exchange).quote("0.40", "0.45")
    rig = make_rig(
        tmp_path / "s.db", exchange=exchange, clock=clock, account_id=account, strategies=[MM, MR]
    )
    decides = {MM: _Sends(), MR: _Sends()}
    for name, decide in decides.items():
        swap_decide(rig.loop, decide, name)
    bought = {MM: 5, MR: 3}
    for name in sorted(bought, key=lambda n: n == newest):  # the newest part bought last
        decides[name].queued.append(_ioc(Action.BUY, "0.45", bought[name]))
        rig.step(1.0)
    assert {n: p for n, (p, _) in _parts(rig).items()} == bought

    landed: list[bool] = []
    rig.client.create_errors.append(Held(15.0, then=lambda: landed.append(True)))
    decides[MM].queued.append(_ioc(Action.SELL, "0.40", 3))
    rig.step(1.0)
    (lost,) = rig.loop.executor.unknown_orders.unknown
    while not landed:
        rig.clock.advance(0.5)
        rig.client.deliver_held()
    rig.client.lookup_errors.extend([ServerError("down", status=503)] * 2)
    fills = rig.loop.executor.fills
    fills.read_for()  # its own lookup and the one before booking it fail: nobody's
    (sold,) = [f for f in rig.store.fills.read() if f.book_side is BookSide.ASK]
    assert sold.strategy is None
    assert rig.loop.portfolio.position(TICKER) == 5
    rig.loop.executor.unknown_orders.resolve_later()
    assert lost not in rig.loop.executor.unknown_orders.unknown

    booked = rig.store.fills.read()
    (buy, sell) = sorted((f for f in booked if f.strategy == MM), key=lambda f: f.ts)
    assert sell.fill_id == sold.fill_id, "the state file gives the sell to its strategy"
    (other,) = [f for f in booked if f.strategy == MR]
    after = _parts(rig)
    assert after[MR] == (3, -other.fee), "the other strategy's part is whole"
    exit_pnl = 3 * (sold.yes_price - buy.yes_price) - buy.fee - sold.fee
    assert after[MM] == (2, exit_pnl), "the seller's part less what it sold, the exit realized"
    rig.store.close()
    restarted = make_rig(
        tmp_path / "s.db", exchange=exchange, clock=clock, account_id=account, strategies=[MM, MR]
    )
    assert _parts(restarted) == after


def test_a_lookup_sent_before_a_lost_order_could_no_longer_land_does_not_call_it_never_placed(
    tmp_path: Path,
) -> None:
    """A lookup goes out just before a lost order could no longer land and comes back after,
    not finding it. It shows the exchange as it was when it was taken: the order, held in the
    network, may land after that and before its window closes. Only a lookup sent once the
    window closed proves it never will; until then it is unknown, its market holding."""
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, read_lag_s=0.5)
    rig.step(0.1)
    ticker = next(iter(rig.exchange.reference.markets))
    quote = Intent(
        ticker=ticker,
        side=Side.YES,
        action=Action.BUY,
        price=Decimal("0.10"),
        count=Decimal("10"),
        model_fair=Decimal("0.20"),
        reason="a quote",
        strategy="spike",
        post_only=True,
    )
    rig.client.create_errors.append(Held(10_000.0))  # the answer lost; it lands when told
    rig.loop.executor.execute(quote, last_data_at=rig.clock.wall())
    unknown = rig.loop.executor.unknown_orders
    (coid,) = unknown.unknown
    rig.clock.advance(unknown.landing_s - 2)
    find = rig.client.find_order_by_client_id

    def slow(client_order_id: str, ticker: str) -> Order | None:
        shown = find(client_order_id, ticker)  # not there yet, as the lookup is taken
        rig.clock.advance(1)
        # the order, signed before its answer was lost, lands within its window
        rig.client.held = [(0.0, request, held) for _, request, held in rig.client.held]
        rig.client.deliver_held()
        rig.clock.advance(4)  # and the lookup's answer comes back past the window
        return shown

    rig.client.find_order_by_client_id = slow  # type: ignore[method-assign]
    unknown.resolve()
    assert coid in unknown.unknown, "a lookup taken inside the window proves nothing"
    assert rig.store.orders.get_intent(coid).status == "unknown"
    rig.client.find_order_by_client_id = find  # type: ignore[method-assign]
    unknown.resolve()
    assert coid not in unknown.unknown
    assert rig.store.orders.get_intent(coid).status == "resting"

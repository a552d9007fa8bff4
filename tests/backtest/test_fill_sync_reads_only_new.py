"""The trade loop reads its fills from the newest it has seen on (a listing from a recent time,
as live), and the local venue answers such a listing from that time on without rebuilding the
fills it archived before. Nothing is lost or applied twice: fills arriving between two reads,
fills of the same second as the last one read, fills already archived when read, and a loop
restarted on the same state file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, cast

from kalshi_cli.backtest.engine import ReplayFeed
from kalshi_cli.backtest.replay_clock import ReplayClock
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.runner.assembly import LoopInputs, build_loop, start_loop
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import Selection, StrategyChoice, TradeConfig, TradeOptions
from kalshi_cli.runner.loop.trade_loop import TradeLoop
from kalshi_cli.services.reconcile import reconcile
from kalshi_cli.store import Store
from kalshi_cli.venue import LocalVenue, MarketInfo
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.fakes import ticks

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient

D = Decimal
T = "KXTEST-26JAN01-A"
START = 1_767_225_600.0
YES = {D("0.40"): D(10_000)}
NO = {D("0.45"): D(10_000)}  # a YES ask at 0.55


def _venue(clock: ReplayClock) -> LocalVenue:
    venue = LocalVenue(
        clock,
        [MarketInfo(T, "KXTEST-26JAN01", "KXTEST", fee_type="quadratic", fee_multiplier="1")],
        balance=D(100_000),
    )
    venue.book_changed(T, ticks(YES), ticks(NO))
    return venue


def _loop(venue: LocalVenue, store: Store, clock: ReplayClock, *, start: bool = False) -> TradeLoop:
    log = EntryLog(clock, path=None, stderr=None)
    inputs = LoopInputs(venue.client, store, ReplayFeed([T], clock), clock, log)
    options = TradeOptions(strategies=(StrategyChoice("spike"),), selection=Selection((T,)))
    markets = [venue.client.markets.get_market(T)]
    config = TradeConfig(strategies={"spike": {}})
    return (start_loop if start else build_loop)(inputs, options, config, markets)


def _take(venue: LocalVenue, count: int) -> None:
    """Fills of the account's own (as a person's orders by hand are): YES bought at 0.55."""
    for _ in range(count):
        order = CreateOrder(T, BookSide.BID, D("0.55"), D(1), TimeInForce.IOC)
        assert venue.client.orders.create_order(order).fill_count == 1


def _stored_fill_ids(store: Store) -> list[str]:
    return [f.fill_id for f in store.fills.iter_fills()]


def _venue_fill_ids(venue: LocalVenue) -> list[str]:
    return [f.fill_id for f in venue.client.portfolio.iter_fills()]


def test_every_fill_is_applied_once_across_reads_archives_and_a_restart(tmp_path: Path) -> None:
    clock = ReplayClock(START)
    venue = _venue(clock)
    store = Store.open(tmp_path / "state.db", clock=clock, durable=False)
    loop = _loop(venue, store, clock)
    sync = loop.executor.fills.sync

    _take(venue, 3)
    assert sync() == 3
    _take(venue, 2)  # after a read, in the same second as the fills it read
    assert sync() == 2
    assert sync() == 0  # read again: nothing new
    unread = 0
    for _ in range(5):  # minutes pass: the venue archives what is a minute old
        clock.set(clock.wall() + 45.5)
        venue.book_changed(T, ticks(YES), ticks(NO))
        _take(venue, 2)
        assert sync() == 2 + unread
        _take(venue, 1)  # the same second again, read at the next sync
        unread = 1
    clock.set(clock.wall() + 0.4)
    _take(venue, 1)
    assert sync() == 2
    live, archived = venue.core.history.fill_tiers(venue.account)
    assert archived > 0 and live > 0  # the listings read both tiers
    assert sorted(_stored_fill_ids(store)) == sorted(_venue_fill_ids(venue))
    assert loop.portfolio.position(T) == len(_venue_fill_ids(venue)) == 21

    # the loop stops; fills land while nothing reads them, in the second of the last one read
    # and later; the restart reconciles them into the state file and the new loop starts from
    # there, then reads on from the newest, a fill of that very second included
    _take(venue, 2)
    clock.set(clock.wall() + 75)
    venue.book_changed(T, ticks(YES), ticks(NO))
    _take(venue, 1)
    reconcile(cast("KalshiClient", venue.client), store, clock=clock, read_lag_s=0.0)
    again = _loop(venue, store, clock, start=True)
    assert again.portfolio.position(T) == 24
    _take(venue, 1)
    assert again.executor.fills.sync() == 1
    assert again.executor.fills.sync() == 0
    assert sorted(_stored_fill_ids(store)) == sorted(_venue_fill_ids(venue))
    assert again.portfolio.position(T) == 25
    store.close()


def test_a_listing_from_a_time_on_is_the_whole_listing_cut_at_that_time() -> None:
    clock = ReplayClock(START)
    venue = _venue(clock)
    for _ in range(6):
        _take(venue, 2)
        clock.set(clock.wall() + 30.25)
        venue.book_changed(T, ticks(YES), ticks(NO))  # compacts what is old enough
    _take(venue, 2)
    listing = venue.client.portfolio.iter_fills
    whole = [(f, f.ts or 0) for f in listing()]  # the answer's whole seconds
    assert venue.core.history.fill_tiers(venue.account)[1] > 0
    for since in {ts for _, ts in whole} | {int(START) - 1, int(clock.wall()) + 1}:
        assert list(listing(min_ts=since)) == [f for f, ts in whole if ts >= since], since

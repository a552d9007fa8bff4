"""Over the simulator's WebSocket feed: a buy by hand in a market the loop does not trade has
that market taken on for its exits, its book subscribed (the feed follows only the markets it
was asked for), and the stop-loss closes the position on that book. The fakes' feed hands out
every market's book; this is the test of the subscription. The feed's `fill` channel follows
the loop's markets alone: the timer's fill read finds the buy (every second here, 5 s by
default). docs/risk.md "Stop-loss floor"."""

from __future__ import annotations

import time
from pathlib import Path

from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.runner.sim_rig import Rig, rig
from tests.runner.simproc import Book, client_for
from tests.runner.test_markets_opened_mid_run_sim import (
    _fund_shard,
    _GroupCreatesCounted,
    _open_with_a_book,
)
from tests.waiting import wait_until

TRADED, HELD = "KXHELDSUB-SIM-A", "KXHELDSUB-SIM-B"


def _ticks_until(r: Rig, done: object, what: str) -> None:
    assert callable(done)

    def tick() -> object:
        r.loop.tick(r.feed.drain_messages())
        return done()

    wait_until(tick, what)


def test_a_buy_by_hand_outside_the_selection_is_closed_by_the_stop_loss_on_its_subscribed_book(
    sim: SimHarness, tmp_path: Path
) -> None:
    maker = client_for(sim.new_account(balance_cents=10_000_000))
    try:
        sim.create_market(HELD)
        Book(maker, HELD).quote("0.40", "0.60")
        # the floor above the mark once 10 YES are bought at 0.60: 0.40 x 10 < 0.99 x 6.00
        with rig(sim, tmp_path, [TRADED], strategy="market-maker", params={},
                 risk={"stop_loss_share": "0.99"}, send_workers=2,
                 settings={"fill_poll_s": 1.0}) as r:  # fmt: skip
            assert r.feed.book(HELD) is None  # not followed: the loop does not trade it
            Book(r.client, HELD).order(BookSide.BID, "0.60", "10", TimeInForce.IOC)
            _ticks_until(r, lambda: r.events("market_added"), f"{HELD} taken on")
            (added,) = r.events("market_added")
            assert (added["ticker"], added["why"]) == (HELD, "held"), added
            _ticks_until(
                r, lambda: r.events("stop_loss") and r.loop.portfolio.position(HELD) == 0,
                f"the position in {HELD} closed by the stop-loss",
            )  # fmt: skip
            assert r.feed.book(HELD) is not None
            placed = [e for e in r.events("order_placed") if e["ticker"] == HELD]
            assert placed and all(e["strategy"] == "stop-loss" for e in placed), placed
            # the exchange holds nothing there any more
            assert r.client.portfolio.get_positions(ticker=HELD) == []
    finally:
        maker.close()


def test_a_held_market_refused_for_its_shards_group_is_not_read_again_every_tick(
    sim: SimHarness, tmp_path: Path
) -> None:
    # a loop in order groups, its market on shard 0; a buy by hand in a market on shard 3,
    # where the session has no group and the exchange refuses its create: the market is
    # refused, and tried again when a create there may be (a listing interval, an hour here),
    # not read again (and said again) on every tick meanwhile
    on_shard_3 = "KXHELDSHARD-SIM-A"  # an event of its own: shard 3's
    transport = _GroupCreatesCounted(sim, lose=False)
    with rig(sim, tmp_path, [TRADED], strategy="market-maker", params={},
             risk={"stop_loss_share": "0.99"}, order_group=True, transport=transport,
             settings={"fill_poll_s": 0.2, "new_markets_poll_s": 3600.0}) as r:  # fmt: skip
        _open_with_a_book(sim, on_shard_3, shard=3)
        _fund_shard(r, 3)
        transport.armed = True
        Book(r.client, on_shard_3).order(BookSide.BID, "0.60", "10", TimeInForce.IOC)
        _ticks_until(r, lambda: r.events("market_refused"), f"{on_shard_3} refused")
        creates = transport.sent  # the client's retries of the one create included
        for _ in range(20):
            r.loop.tick(r.feed.drain_messages())
        refused = [e for e in r.events("market_refused") if e["ticker"] == on_shard_3]
        assert len(refused) == 1, refused
        assert transport.sent == creates


def test_a_held_market_refused_for_its_shards_group_is_taken_on_a_listing_interval_later(
    sim: SimHarness, tmp_path: Path
) -> None:
    on_shard_4 = "KXHELDLATER-SIM-A"  # an event of its own: shard 4's
    transport = _GroupCreatesCounted(sim, lose=False)
    with rig(sim, tmp_path, [TRADED], strategy="market-maker", params={},
             risk={"stop_loss_share": "0.99"}, order_group=True, transport=transport,
             settings={"fill_poll_s": 0.2, "new_markets_poll_s": 5.0}) as r:  # fmt: skip
        _open_with_a_book(sim, on_shard_4, shard=4)
        _fund_shard(r, 4)
        transport.armed = True
        Book(r.client, on_shard_4).order(BookSide.BID, "0.60", "10", TimeInForce.IOC)
        _ticks_until(r, lambda: r.events("market_refused"), f"{on_shard_4} refused")
        # a later fill, in the loop's market, seconds on: the fill reads, which list the
        # newest fill again and again, no longer list the buy (which would bring the market
        # back on their own): only the retry a listing interval on reads it again
        refused_at = time.monotonic()
        _ticks_until(r, lambda: time.monotonic() - refused_at > 3.0, "3 s of ticks")
        Book(r.client, TRADED).order(BookSide.BID, "0.60", "1", TimeInForce.IOC)
        _ticks_until(
            r, lambda: any(f.ticker == TRADED for f in r.store.fills.iter_fills()),
            "the later fill read",
        )  # fmt: skip
        transport.armed = False  # the exchange makes groups again
        _ticks_until(r, lambda: r.events("market_added"), f"{on_shard_4} taken on")
        (added,) = r.events("market_added")
        assert (added["ticker"], added["why"], added["shard"]) == (on_shard_4, "held", 4), added


def test_a_held_market_refused_beside_one_taken_on_in_the_same_read_is_taken_on_later(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Two buys by hand read together: the market on the loop's shard is taken on at once, the
    one on a shard whose group the exchange refuses is not read again meanwhile (not forgotten
    for the one taken on beside it) and is tried again a listing interval later."""
    on_shard_0, on_shard_4 = "KXHELDFIRST-SIM-A", "KXHELDSECOND-SIM-A"  # events of their own
    transport = _GroupCreatesCounted(sim, lose=False)
    with rig(sim, tmp_path, [TRADED], strategy="market-maker", params={},
             risk={"stop_loss_share": "0.99"}, order_group=True, transport=transport,
             settings={"fill_poll_s": 0.2, "new_markets_poll_s": 5.0}) as r:  # fmt: skip
        _open_with_a_book(sim, on_shard_0)
        _open_with_a_book(sim, on_shard_4, shard=4)
        _fund_shard(r, 4)
        transport.armed = True
        Book(r.client, on_shard_4).order(BookSide.BID, "0.60", "10", TimeInForce.IOC)
        Book(r.client, on_shard_0).order(BookSide.BID, "0.60", "10", TimeInForce.IOC)
        _ticks_until(r, lambda: r.events("market_refused"), f"{on_shard_4} refused")
        assert [e["ticker"] for e in r.events("market_added")] == [on_shard_0]
        creates = transport.sent
        refused_at = time.monotonic()
        _ticks_until(r, lambda: time.monotonic() - refused_at > 3.0, "3 s of ticks")
        # the fill reads that list the buys again read neither market again meanwhile
        assert [e["ticker"] for e in r.events("market_refused")] == [on_shard_4]
        assert transport.sent == creates
        # a later fill in the loop's market: the fill reads no longer list the buys
        Book(r.client, TRADED).order(BookSide.BID, "0.60", "1", TimeInForce.IOC)
        _ticks_until(
            r, lambda: any(f.ticker == TRADED for f in r.store.fills.iter_fills()),
            "the later fill read",
        )  # fmt: skip
        transport.armed = False  # the exchange makes groups again
        _ticks_until(r, lambda: len(r.events("market_added")) == 2, f"{on_shard_4} taken on")
        added = [(e["ticker"], e["why"], e["shard"]) for e in r.events("market_added")]
        assert added == [(on_shard_0, "held", 0), (on_shard_4, "held", 4)], added

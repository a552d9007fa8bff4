"""Over the simulator's WebSocket feed: a buy by hand in a market the loop does not trade has
that market taken on for its exits, its book subscribed (the feed follows only the markets it
was asked for), and the stop-loss closes the position on that book. The fakes' feed hands out
every market's book; this is the test of the subscription. The feed's `fill` channel follows
the loop's markets alone: the timer's fill read finds the buy (every second here, 5 s by
default). docs/risk.md "Stop-loss floor"."""

from __future__ import annotations

from pathlib import Path

from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.runner.sim_rig import Rig, rig
from tests.runner.simproc import Book, client_for
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

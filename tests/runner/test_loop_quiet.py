"""Quiet markets (runner/loop/trade_loop.py `_still_quiet`) still honour time: a decision that
changes only because old mids aged out of the strategy's window, with the book standing still, is
made.

The spike strategy's window (60 s) first holds 0.53, then 0.48 (-9.4%: no spike), then the book
settles at 0.58 (+9.4% from the window's start: no spike either), and the strategy decides
nothing pass after pass. Once 0.53 is older than the window, the window starts at 0.48 and the
same book is a +20.8% spike: the loop must call the strategy again (the mids changed) and buy
NO, with no book change at all.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.units import BookSide
from tests.runner.fakes import START, make_rig, new_exchange, scenario_rig, trader

FED = "KXFEDDECISION-SIM-DEC-H0"  # quiet scenario


def book_at(mid: str) -> Orderbook:
    """A book around `mid`, one cent either side, 50 deep."""
    m = Decimal(mid)
    return Orderbook(
        FED, ((m - Decimal("0.01"), Decimal(50)),), ((1 - m - Decimal("0.01"), Decimal(50)),)
    )


def test_a_signal_made_by_the_window_sliding_goes_out_with_the_book_unchanged(
    tmp_path: Path,
) -> None:
    clock = ManualClock(START)
    exchange = new_exchange("quiet", clock)
    rig = make_rig(tmp_path / "q.db", exchange=exchange, clock=clock, account_id=trader(exchange))
    for mid in ("0.53", "0.48"):
        rig.feed.show(book_at(mid))
        rig.step(5.0)
    settled = book_at("0.58")
    rig.feed.show(settled)
    rig.step(1.0)
    assert rig.client.requests == []
    seconds = 11.0
    while not rig.client.requests and seconds < 120:
        # the same book, shown again so it stays fresh: equal books, no change to trade on
        rig.feed.show(settled)
        rig.step(1.0)
        seconds += 1.0
    assert rig.feed.book(FED) == settled
    (order,) = rig.client.requests
    # NO bought: a YES ask on the book, at 1 - the NO price
    assert order.ticker == FED and order.book_side is BookSide.ASK
    # only once 0.53 (recorded at 5 s) is more than the 60 s window old
    assert seconds > 65


LOWERED = """
fees: {fee_type: quadratic, fee_multiplier: "1"}
series:
  - ticker: KXLOW
    title: No fees from a minute in
    fee_changes:
      - {fee_type: quadratic, fee_multiplier: "0", after_seconds: 60}
    events:
      - event_ticker: KXLOW-1
        title: One
        markets:
          - {ticker: KXLOW-1-A, path: {kind: flat, price: "0.50"},
             quote: {half_spread: "0.02", size: "10", levels: 1}}
liquidity_provider: {cash_cents: 10000000, refresh_seconds: 1.0}
"""


def test_a_quiet_market_with_the_very_same_book_is_decided_again_when_its_fees_change(
    tmp_path: Path,
) -> None:
    """The full pass's shortcut for a market none of whose inputs was touched
    (runner/loop/trade_loop.py `_untouched`: the feed hands out the same book object until it
    changes, as a recorded feed does) still sees what changes with the clock: here a fee change.
    YES and NO asks of 0.48 leave 4 cents a pair, 0.5 cent after the standard fees (below
    arbitrage's 1 cent minimum): nothing, pass after pass, on the same book object; once the
    series' fees drop to zero the same book pays and the pair goes out."""
    rig = scenario_rig(tmp_path, LOWERED, strategy="arbitrage")
    clock = rig.clock
    ticker = "KXLOW-1-A"
    bid = ((Decimal("0.52"), Decimal(10)),)
    crossed = Orderbook(ticker, bid, bid)
    while clock.wall() < START + 59:
        rig.feed.show(crossed)  # the same object, shown again so the book stays fresh
        rig.step(1.0)
    assert rig.client.requests == []
    while not rig.client.requests and clock.wall() < START + 70:
        rig.feed.show(crossed)
        rig.step(1.0)
    assert rig.feed.book(ticker) is crossed  # no book change: the fees alone
    # the pair's first leg (YES bought at its ask; the fake exchange's own book then refuses
    # the fill-or-kill, so the NO leg is not sent), once the fees fell at 60 s
    order = rig.client.requests[0]
    assert order.ticker == ticker and order.book_side is BookSide.BID
    assert clock.wall() >= START + 60

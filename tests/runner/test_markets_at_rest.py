"""Markets at rest (runner/loop/schedule.py, docs/trade-loop.md "Markets at rest"): a market whose
strategies' last calls decided nothing, with nothing they read touched since and nothing held or
resting there, is not visited by the loop's full passes (its book is not even read) until
something it reads changes: its book, or the fees, which change with the clock alone."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.feed.book import MESSAGES_DROPPED, FeedMessage, MessageKind
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.units import BookSide
from tests.runner.fakes import START, Rig, scenario_rig

TICKER = "KXLOW-1-A"
# one market, no liquidity of the exchange's own: its book is only what the test shows, so no
# event but the test's reaches the loop; the series' fees fall to zero a minute in
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
          - {ticker: KXLOW-1-A, path: {kind: flat, price: "0.50"}}
"""


def _rig(tmp_path: Path) -> tuple[Rig, list[str]]:
    """Arbitrage on the market, and the markets whose book the loop reads, in order."""
    rig = scenario_rig(tmp_path, LOWERED, strategy="arbitrage")
    reads: list[str] = []
    book = rig.feed.book

    def counted(ticker: str) -> Orderbook | None:
        reads.append(ticker)
        return book(ticker)

    rig.feed.book = counted  # type: ignore[method-assign]
    return rig, reads


def _quiet_step(rig: Rig) -> None:
    """A second of full passes with no event: the feed says its data is fresh, nothing else."""
    rig.feed.last_at = rig.clock.monotonic()
    rig.step(1.0)


def test_a_market_at_rest_is_not_visited_until_its_book_changes(tmp_path: Path) -> None:
    rig, reads = _rig(tmp_path)
    wide = Orderbook(TICKER, ((Decimal("0.45"), Decimal(10)),), ((Decimal("0.45"), Decimal(10)),))
    rig.feed.show(wide)
    _quiet_step(rig)  # its news: decided on, nothing
    _quiet_step(rig)  # the next full pass: nothing touched, so at rest from here
    reads.clear()
    for _ in range(5):
        _quiet_step(rig)
    assert reads == []
    narrower = Orderbook(
        TICKER, ((Decimal("0.46"), Decimal(10)),), ((Decimal("0.46"), Decimal(10)),)
    )
    rig.feed.show(narrower)
    _quiet_step(rig)
    assert reads == [TICKER]
    assert rig.client.requests == []


def test_a_market_at_rest_is_visited_again_when_the_feed_may_have_lost_its_change(
    tmp_path: Path,
) -> None:
    """The feed's full queue dropped events: the book change of a market at rest may be among
    them, so the next full pass visits it again and reads the book as it stands."""
    rig, reads = _rig(tmp_path)
    wide = Orderbook(TICKER, ((Decimal("0.45"), Decimal(10)),), ((Decimal("0.45"), Decimal(10)),))
    rig.feed.show(wide)
    for _ in range(3):
        _quiet_step(rig)
    reads.clear()
    _quiet_step(rig)
    assert reads == []
    # a change whose event was dropped: the book moved, and only the gap is told
    moved = Orderbook(TICKER, ((Decimal("0.46"), Decimal(10)),), ((Decimal("0.46"), Decimal(10)),))
    rig.feed.shown[TICKER] = moved
    rig.feed.messages.append(
        FeedMessage(MessageKind.GAP, None, reason=MESSAGES_DROPPED, data={"n": 1}, source="ws")
    )
    _quiet_step(rig)
    assert reads == [TICKER]


def test_a_market_at_rest_is_decided_again_when_its_fees_change_with_no_event(
    tmp_path: Path,
) -> None:
    """YES and NO asks of 0.48 leave 4 cents a pair, 0.5 cent after the standard fees (below
    arbitrage's 1 cent minimum): the market rests on that one book; once the series' fees drop
    to zero at 60 s the same book pays, and the pair's first leg goes out with no event at all."""
    rig, reads = _rig(tmp_path)
    bid = ((Decimal("0.52"), Decimal(10)),)
    crossed = Orderbook(TICKER, bid, bid)
    rig.feed.show(crossed)
    while rig.clock.wall() < START + 58:
        _quiet_step(rig)
    assert rig.client.requests == []
    reads.clear()
    _quiet_step(rig)  # 59 s: at rest, its book not read
    assert reads == []
    while not rig.client.requests and rig.clock.wall() < START + 70:
        _quiet_step(rig)
    assert rig.feed.book(TICKER) is crossed  # shown once: the fees alone changed
    order = rig.client.requests[0]
    assert order.ticker == TICKER and order.book_side is BookSide.BID
    assert rig.clock.wall() >= START + 60

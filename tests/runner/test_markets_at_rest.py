"""Markets at rest (runner/loop/schedule.py, docs/trade-loop.md "Markets at rest"): a market whose
strategies' last calls decided nothing, with nothing they read touched since and nothing held or
resting there, is not visited by the loop's full passes (its book is not even read) until
something it reads changes: its book, or the fees, which change with the clock alone."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.feed.book import MESSAGES_DROPPED, FeedMessage, MessageKind
from kalshi_cli.runner.loop.settings import LoopSettings
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.runner.fakes import (
    START,
    Rig,
    make_rig,
    new_exchange,
    place_on_desk,
    scenario_rig,
    trader,
)

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


C_HELD = "KXEVT-1-C"
# a mutually exclusive event of three markets; the loop trades A and B (NO asks 0.40 each: a
# set of the two pays at least $1 for $0.80), not C, where the account holds YES by hand
EVENT = """
fees: {fee_type: quadratic, fee_multiplier: "0"}
series:
  - ticker: KXEVT
    title: Who?
    events:
      - event_ticker: KXEVT-1
        title: Who?
        mutually_exclusive: true
        collateral_return_type: MECNET
        markets:
          - {ticker: KXEVT-1-A, book: {yes_bids: [["0.60", "10"]], no_bids: [["0.05", "10"]]}}
          - {ticker: KXEVT-1-B, book: {yes_bids: [["0.60", "10"]], no_bids: [["0.05", "10"]]}}
          - {ticker: KXEVT-1-C, book: {yes_bids: [["0.20", "10"]], no_bids: [["0.05", "10"]]}}
"""


def _take(exchange: Exchange, account_id: str, book_side: BookSide, price: str) -> None:
    """One contract of C taken by hand (a bid buys YES at the ask, an ask sells it into the
    bid)."""
    take = place_on_desk(
        exchange, account_id, C_HELD, book_side, price, 1, time_in_force=TimeInForce.IOC
    )
    assert take.fills


def test_a_market_at_rest_is_decided_again_when_only_what_its_event_holds_changes(
    tmp_path: Path,
) -> None:
    """`risk.max_event_loss` $1; YES 1 on C bought by hand at $0.95 before the run loses it all
    unless C settles YES. A NO set on A and B whose first leg fills alone could lose $0.40 more
    when A settles YES: no set fits, the arbitrage says so and decides nothing, and nothing in
    A's or B's book or view changes after. YES on C is then sold by hand: once the loop's fill
    read brings it in, only what the account holds in the event (`MarketSnapshot.event_limits`)
    changed, and the arbitrage is asked again and buys a set. The loop had left A at rest, and
    skipped its strategy as quiet, never asking it again."""
    path = tmp_path / "event.yaml"
    path.write_text(EVENT)
    clock = ManualClock(START)
    exchange = new_exchange(path, clock)
    me = trader(exchange)
    _take(exchange, me, BookSide.BID, "0.95")
    clock.advance(60)
    rig = make_rig(
        tmp_path / "rest.db",
        strategy="arbitrage",
        exchange=exchange,
        clock=clock,
        account_id=me,
        risk={"max_event_loss": "1", "stop_loss_share": "0"},
        tickers=["KXEVT-1-A", "KXEVT-1-B"],
        log_path=tmp_path / "log.jsonl",
    )
    for ticker in ("KXEVT-1-A", "KXEVT-1-B"):  # shown once: their books never change after
        book = rig.feed.book(ticker)
        assert book is not None
        rig.feed.show(book)
    for _ in range(3):
        _quiet_step(rig)
    assert rig.client.requests == []
    notes = _logged(tmp_path, "strategy_note")
    assert notes and "fits the event-loss limit" in str(notes[0]), notes
    _take(exchange, me, BookSide.ASK, "0.20")
    for _ in range(int(LoopSettings.fill_poll_s) + 3):
        _quiet_step(rig)
    legs = _logged(tmp_path, "group_leg")
    assert [(g["ticker"], g["side"], g["action"]) for g in legs][:2] == [
        ("KXEVT-1-A", "no", "buy"),
        ("KXEVT-1-B", "no", "buy"),
    ], legs


def _logged(tmp_path: Path, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    return [e for e in lines if e.get("event") == event]

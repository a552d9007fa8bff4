"""A `market_lifecycle_v2` message lost in a gap: the channel has no snapshot, so the trade loop
reads its markets' state again from the exchange (`GET /markets?tickers=`) and applies it by the
rule a lifecycle message is applied by (kalshi_cli/runner/loop/watch.py).

On the simulator: the exchange changes a market's status, the feed loses the message that says
so and reports the gap, as `MarketData` does for a lost sequence number. On the old code the
loop only logged the gap: a market whose resume was lost was never traded again, and a market
whose result was lost waited for its settlement until the next start."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.feed.book import MESSAGES_DROPPED, FeedMessage, MessageKind
from kalshi_cli.runner.assembly import LoopInputs, build_loop
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import StrategyChoice, TradeConfig, TradeOptions
from kalshi_cli.runner.loop.lifecycle_watch import CLOSED_EVENTS, ENDED_EVENTS
from kalshi_cli.runner.paper import PaperClient, PaperFeed, build_venue
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.models import LIFECYCLE_RESUMES, lifecycle_of_status
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.openapi_check import raw_spec
from tests.runner.fakes import (
    START,
    FakeClient,
    FakeFeed,
    Rig,
    new_exchange,
    quiet_market_maker,
    trader,
)

TICKER = "KXFEDDECISION-SIM-DEC-H0"
GAP = FeedMessage(MessageKind.GAP, reason="market_lifecycle_v2")


def _lost_in_a_gap(rig: Rig) -> None:
    """The lifecycle messages the feed holds are lost, and the feed reports the gap."""
    rig.feed.messages = [e for e in rig.feed.messages if e.kind is not MessageKind.LIFECYCLE]
    rig.feed.messages.append(GAP)


def _quoted(rig: Rig, ticker: str) -> bool:
    return any(r.ticker == ticker for r in rig.client.requests)


def _events(log: Path, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return [e for e in lines if e["event"] == name]


def test_a_market_whose_resume_was_lost_in_a_gap_is_quoted_again_after_the_read(
    tmp_path: Path,
) -> None:
    log = tmp_path / "trade.log"
    rig = quiet_market_maker(tmp_path, log_path=log)
    rig.exchange.settlement.set_market_status(TICKER, "paused")
    rig.step()
    assert TICKER in rig.loop.closed
    assert not _quoted(rig, TICKER)
    rig.exchange.settlement.set_market_status(TICKER, "open")
    _lost_in_a_gap(rig)
    rig.step()
    rig.step()
    assert TICKER not in rig.loop.closed
    assert _quoted(rig, TICKER)
    rig.loop.log.close()
    (reopened,) = _events(log, "market_reopened")
    assert reopened["ticker"] == TICKER
    rig.store.close()


def test_a_result_lost_in_a_gap_closes_the_market_and_its_settlement_is_booked(
    tmp_path: Path,
) -> None:
    rig = quiet_market_maker(tmp_path)
    rig.buy_yes(TICKER, Decimal("0.62"), Decimal(3))
    assert rig.loop.portfolio.position(TICKER) == 3
    rig.exchange.settlement.settle(TICKER, "yes")
    _lost_in_a_gap(rig)
    rig.step()
    rig.step()
    assert TICKER in rig.loop.closed
    (settlement,) = rig.store.settlements.read()
    assert settlement.ticker == TICKER
    assert rig.loop.portfolio.position(TICKER) == 0
    # a result is final: a later `activated` does not bring the market back
    rig.exchange.reference.markets[TICKER].status = "open"
    rig.feed.messages.append(GAP)
    rig.step()
    assert TICKER in rig.loop.closed
    rig.store.close()


def test_a_close_lost_in_a_gap_stops_the_loop_quoting_the_market(tmp_path: Path) -> None:
    rig = quiet_market_maker(tmp_path)
    rig.exchange.settlement.set_market_status(TICKER, "closed")
    _lost_in_a_gap(rig)
    rig.step()
    rig.step()
    assert TICKER in rig.loop.closed
    assert not _quoted(rig, TICKER)
    rig.store.close()


def test_a_failed_read_is_counted_and_made_again_and_gaps_share_one_read(
    tmp_path: Path,
) -> None:
    rig = quiet_market_maker(tmp_path)
    rig.step()
    reads: list[list[str]] = []
    fail = [True]
    listing = rig.client.iter_markets

    def iter_markets(**filters: Any) -> Any:
        reads.append(list(filters.get("tickers") or []))
        if fail[0]:
            raise ServerError("unavailable", status=503)
        return listing(**filters)

    rig.client.iter_markets = iter_markets  # type: ignore[method-assign]
    rig.exchange.settlement.set_market_status(TICKER, "paused")
    _lost_in_a_gap(rig)
    rig.feed.messages.append(GAP)  # two gaps in one drain: one read
    errors_before = rig.loop.executor.counters.errors
    rig.step()
    assert len(reads) == 1
    assert TICKER in reads[0]
    assert rig.loop.executor.counters.errors == errors_before + 1
    assert rig.loop.log.counts.get("lifecycle_read_failed") == 1  # said under its kind
    assert TICKER not in rig.loop.closed
    rig.step()  # no gap and the retry not due: nothing read
    assert len(reads) == 1
    fail[0] = False
    rig.step(30.0)  # the retry, a bounded time later, with no gap since
    assert len(reads) == 2
    assert TICKER in rig.loop.closed
    rig.store.close()


def test_what_a_full_queue_dropped_is_read_again_a_fill_and_a_pause_among_it(
    tmp_path: Path,
) -> None:
    """A stall long enough for the feed's queue to drop its oldest events loses any kind: the
    loop reads again what they may have said (the markets' state, the fills) at once, not at
    the fills' fallback timer or never, and logs how many went."""
    log = tmp_path / "trade.log"
    rig = quiet_market_maker(tmp_path, log_path=log)
    rig.step()
    rig.hand_buy_yes(TICKER, Decimal("0.62"), Decimal(3))
    rig.exchange.settlement.set_market_status(TICKER, "paused")
    rig.feed.messages = [FeedMessage(MessageKind.GAP, data={"n": 7}, reason=MESSAGES_DROPPED)]
    rig.step(0.1)
    rig.step(0.1)
    assert rig.loop.portfolio.position(TICKER) == 3
    assert TICKER in rig.loop.closed
    rig.loop.log.close()
    (gap,) = _events(log, "feed_gap")
    assert (gap["reason"], gap["dropped"]) == (MESSAGES_DROPPED, 7)
    rig.store.close()


def test_every_market_status_of_the_spec_reads_as_a_lifecycle_event() -> None:
    """A status the read does not know would leave the market as the loop last knew it: each
    one the spec lists stands for an event, the trading ones resume and the others stop."""
    spec = raw_spec()
    statuses = spec["components"]["schemas"]["Market"]["properties"]["status"]["enum"]
    read = {status: lifecycle_of_status(status) for status in statuses}
    assert read["active"] == LIFECYCLE_RESUMES
    stops = {s for s in read if s != "active"}
    assert all(read[s] in CLOSED_EVENTS for s in stops), read
    # the result known, or the market closed: no later status brings it back
    ended = {s for s in stops if read[s] in ENDED_EVENTS}
    assert ended == {"closed", "determined", "disputed", "amended", "finalized"}
    assert lifecycle_of_status("closed", "yes") == "determined"


def test_a_result_lost_in_a_gap_settles_a_paper_sessions_position(tmp_path: Path) -> None:
    """A paper session's venue learns a result from the feed's lifecycle message; when a gap
    lost it, the markets the loop reads again from the exchange tell the venue instead, so the
    paper position is paid the result as the live one would be, not held open for good."""
    clock = ManualClock(START)
    exchange = new_exchange("quiet", clock)
    exchange_client = FakeClient(exchange, trader(exchange), clock=clock)
    markets = [exchange_client.get_market(TICKER)]
    venue = build_venue(exchange_client, markets, clock, Decimal(1000))  # type: ignore[arg-type]
    inner = FakeFeed(exchange, "nobody", clock, [TICKER])
    feed = PaperFeed(inner, venue)  # type: ignore[arg-type]
    client = PaperClient(exchange_client, venue)  # type: ignore[arg-type]
    store = Store.open(tmp_path / "state.paper-sim.db", clock=clock)
    log = EntryLog(clock, path=None, stderr=None)
    options = TradeOptions(strategies=(StrategyChoice("market-maker"),), paper=True)
    config = TradeConfig(strategies={"market-maker": {}}, risk={}, trade={})
    loop = build_loop(LoopInputs(client, store, feed, clock, log), options, config, markets)

    def step() -> None:
        clock.advance(0.5)
        loop.tick(feed.drain_messages(), full=True)

    inner.messages.append(FeedMessage(MessageKind.BOOK, TICKER))
    step()  # the venue has the market's book
    ask = exchange.engine.book(TICKER)[1][0][0]  # the best NO bid: YES offered at 1 - it
    bought = venue.client.orders.create_order(
        CreateOrder(TICKER, BookSide.BID, 1 - ask, Decimal(3), time_in_force=TimeInForce.IOC)
    )
    assert bought.fill_count == 3
    for _ in range(120):  # a paper loop reads its venue's fills, as a live one its account's
        if loop.portfolio.position(TICKER) == 3:
            break
        step()
    assert loop.portfolio.position(TICKER) == 3
    exchange.settlement.settle(TICKER, "yes")
    inner.messages = [e for e in inner.messages if e.kind is not MessageKind.LIFECYCLE]
    inner.messages.append(GAP)
    step()
    step()
    (settlement,) = venue.client.portfolio.iter_settlements()
    assert (settlement.market_result, settlement.revenue) == ("yes", Decimal(3))
    assert loop.portfolio.position(TICKER) == 0
    assert [s.ticker for s in store.settlements.read()] == [TICKER]
    log.close()
    store.close()

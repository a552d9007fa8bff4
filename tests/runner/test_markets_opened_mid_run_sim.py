"""A loop asked for a series takes on the markets of that series that open while it runs, through
the checks and the set-up of the markets found at its start: told by the lifecycle channel's
`created` message, or found by the paced listing when no message reaches it. A market of another
series is never traded, and a new market's orders are held to its own shard's balance.
docs/trade-loop.md "Markets that open while the loop runs"."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.runner.config import Selection, StrategyChoice, TradeOptions
from kalshi_cli.runner.loop.lineup import Lineup, Member
from kalshi_cli.runner.loop.new_markets import join_reads
from kalshi_cli.services.killswitch.order_groups import session_order_group_places
from kalshi_cli.strategies import get_strategy
from tests.conftest import SimHarness
from tests.runner.sim_rig import Rig, rig
from tests.runner.simproc import Book, client_for
from tests.waiting import wait_until

SERIES = "KXROLL"
FIRST, LATER = f"{SERIES}-26JAN01-A", f"{SERIES}-26JAN02-A"
ELSEWHERE = "KXOTHER-26JAN02-A"


def _placed(r: Rig, ticker: str) -> list[dict[str, object]]:
    return [e for e in r.events("order_placed") if e["ticker"] == ticker]


def _open_with_a_book(sim: SimHarness, *tickers: str, shard: int = 0) -> None:
    """Markets listed while the loop runs on `shard`, each with a book another account makes
    (with its money moved there)."""
    maker = client_for(sim.new_account(balance_cents=10_000_000))
    try:
        for ticker in tickers:
            sim.create_market(ticker, exchange_index=shard)
        if shard:  # a shard is there once a market is
            moved = maker.portfolio.send_transfer(Decimal(50_000), from_shard=0, to_shard=shard)
            wait_until(
                lambda: maker.portfolio.get_transfer(moved).status == "complete",
                f"the maker's money on shard {shard}",
            )
        for ticker in tickers:
            Book(maker, ticker).quote("0.40", "0.60")
    finally:
        maker.close()


def _ticks_until(r: Rig, found: Any, what: str, *, hand_events: bool = True) -> Any:
    def tick() -> Any:
        events = r.feed.drain_messages()
        r.loop.tick(events if hand_events else ())
        return found()

    return wait_until(tick, what)


def test_a_series_loop_trades_a_market_of_its_series_that_opens_after_its_start(
    sim: SimHarness, tmp_path: Path
) -> None:
    # the listing is never due in this test: only the lifecycle message can tell of the market
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={},
             selection=Selection(series=SERIES),
             settings={"new_markets_poll_s": 3600.0}) as r:  # fmt: skip
        _ticks_until(r, lambda: _placed(r, FIRST), "the loop quoting its first market")
        _open_with_a_book(sim, ELSEWHERE, LATER)
        _ticks_until(r, lambda: _placed(r, LATER), f"an order of the loop's in {LATER}")
        (added,) = r.events("market_added")
        assert added["ticker"] == LATER and added["why"] == "created", added
        assert LATER in r.loop.portfolio.markets and r.feed.is_fresh(LATER)
        # a few more ticks: the other series' market, opened first, is never the loop's
        for _ in range(5):
            r.loop.tick(r.feed.drain_messages())
        assert not _placed(r, ELSEWHERE)
        assert ELSEWHERE not in r.loop.portfolio.markets


def test_a_market_joining_on_a_shard_the_loop_trades_leaves_its_shard_records_as_read(
    sim: SimHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-trade account's balance records are built again at a join only for a shard no
    market of the loop was on: a market joining shard 0, where the loop trades, builds none."""
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={},
             selection=Selection(series=SERIES),
             settings={"new_markets_poll_s": 3600.0}) as r:  # fmt: skip
        _ticks_until(r, lambda: _placed(r, FIRST), "the loop quoting its first market")
        reads = r.loop.executor._account.reads
        assert reads.shard_of[FIRST] == 0 and 0 in reads.shards
        rebuilt: list[object] = []
        balances_read = reads.balances_read

        def counted(balances: Any, sent_at: float | None) -> None:
            if sent_at is None:  # a join's, not a balance read's
                rebuilt.append(balances)
            balances_read(balances, sent_at)

        monkeypatch.setattr(reads, "balances_read", counted)
        _open_with_a_book(sim, LATER)
        _ticks_until(r, lambda: _placed(r, LATER), f"an order of the loop's in {LATER}")
        assert reads.shard_of[LATER] == 0
        assert rebuilt == []


def test_a_market_listed_before_its_open_time_is_taken_on_when_it_opens_not_before(
    sim: SimHarness, tmp_path: Path
) -> None:
    # the market is created an hour before it opens: its `created` message has the loop list
    # the series, which lists it only once open; its `activated` has it taken on. The listing
    # runs on the loop's workers, as a service's does
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={},
             selection=Selection(series=SERIES), send_workers=2,
             settings={"new_markets_poll_s": 3600.0}) as r:  # fmt: skip
        _ticks_until(r, lambda: _placed(r, FIRST), "the loop quoting its first market")
        listings = r.requests(sim).get("GET /markets", 0)
        maker = client_for(sim.new_account(balance_cents=10_000_000))
        try:
            opens = int(sim.running.state.clock.wall()) + 3600
            assert sim.create_market(LATER, open_time=opens)["status"] == "initialized"
            _ticks_until(
                r,
                lambda: r.requests(sim).get("GET /markets", 0) > listings,
                "the listing its `created` message asked for",
            )
            for _ in range(5):  # that listing's answer booked: nothing to take on
                r.loop.tick(r.feed.drain_messages())
            assert not r.events("market_added") and not r.events("market_refused")
            assert LATER not in r.loop.portfolio.markets and not _placed(r, LATER)
            sim.set_status(LATER, "open")  # the exchange opens it
            Book(maker, LATER).quote("0.40", "0.60")
        finally:
            maker.close()
        _ticks_until(r, lambda: _placed(r, LATER), f"an order in {LATER}")
        (added,) = r.events("market_added")
        assert added["ticker"] == LATER and added["why"] == "activated", added
        refusals = [e for e in r.events("order_rejected") if e.get("ticker") == LATER]
        assert not refusals, refusals


def test_a_market_no_message_told_of_is_found_by_the_paced_listing(
    sim: SimHarness, tmp_path: Path
) -> None:
    # the feed's messages are never handed to the loop: the listing alone finds the market
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={},
             selection=Selection(series=SERIES),
             settings={"new_markets_poll_s": 0.2}) as r:  # fmt: skip
        _open_with_a_book(sim, ELSEWHERE, LATER)
        _ticks_until(
            r, lambda: r.events("market_added"), "the listing finding the market", hand_events=False
        )
        (added,) = r.events("market_added")
        assert added["ticker"] == LATER and added["why"] == "listed", added
        assert ELSEWHERE not in r.loop.portfolio.markets


def test_a_new_markets_orders_are_held_to_its_own_shards_balance(
    sim: SimHarness, tmp_path: Path
) -> None:
    # the account's money is all on shard 0; the new market sits on shard 3, which holds none
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={},
             selection=Selection(series=SERIES),
             settings={"new_markets_poll_s": 3600.0}) as r:  # fmt: skip
        _open_with_a_book(sim, LATER, shard=3)

        def denied() -> list[dict[str, object]]:
            return [
                e
                for e in r.events("risk_denied")
                if e["code"] == "SHARD_BALANCE" and LATER in str(e["detail"])
            ]

        (first, *_) = _ticks_until(r, denied, f"an order in {LATER} held to shard 3")
        assert f"{LATER} trades on shard 3" in str(first["detail"]), first
        assert not _placed(r, LATER)
        # and the loop says of its shard what its start says of its markets' (`shards_at_start`)
        (said,) = r.events("shards_at_join")
        assert said["ticker"] == LATER, said
        lines = said["lines"]
        assert isinstance(lines, list) and len(lines) == 2, said
        shard, short = (str(line) for line in lines)
        assert shard == "shard 3: 1 market(s), balance $0.00", said
        assert short.startswith("market-maker: 1 of its market(s) are on shard 3, which"), said
        assert "`kalshi shard move" in short, said


def _fund_shard(r: Rig, shard: int) -> None:
    moved = r.client.portfolio.send_transfer(Decimal(50_000), from_shard=0, to_shard=shard)
    wait_until(
        lambda: r.client.portfolio.get_transfer(moved).status == "complete",
        f"the trader's money on shard {shard}",
    )


def test_a_market_joining_on_a_shard_the_start_had_none_on_trades_in_a_group_of_the_session(
    sim: SimHarness, tmp_path: Path
) -> None:
    # the start's market is on shard 0, so its one group is there; the new market is on shard 3;
    # the loop's calls go on workers, as a service's do (the listing and the group's create too)
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={},
             selection=Selection(series=SERIES), order_group=True, send_workers=2,
             settings={"new_markets_poll_s": 3600.0, "shard_poll_s": 0.2}) as r:  # fmt: skip
        assert r.group is not None and set(r.group.by_shard) == {0}
        _ticks_until(r, lambda: _placed(r, FIRST), "the loop quoting its first market")
        _open_with_a_book(sim, LATER, shard=3)
        _fund_shard(r, 3)
        (first, *_) = _ticks_until(r, lambda: _placed(r, LATER), f"an order in {LATER}")
        named = r.client.orders.get_order(str(first["order_id"])).raw.get("order_group_id")
        listed = {g.order_group_id: g for g in r.client.order_groups.list_order_groups()}
        assert named in listed and listed[named].exchange_index == 3, (named, listed)
        # recorded with its shard as the start's group is, for `cancel-all` and the stop
        places = {p.order_group_id: p.exchange_index for p in session_order_group_places(r.store)}
        assert places == {r.group.by_shard[0]: 0, named: 3}, places
        assert r.group.by_shard == {0: r.group.by_shard[0], 3: named}
        assert r.loop.executor.answers.order_groups == r.group.by_shard
        (added,) = r.events("market_added")
        made = [e for e in r.events("order_group_created") if e["exchange_index"] == 3]
        assert [e["order_group_id"] for e in made] == [named] and added["shard"] == 3


class _GroupCreatesRefused(httpx.HTTPTransport):
    """The real transport; once `armed`, each order group create meets the simulator's
    `http_5xx_rate` fault (set just before it leaves, cleared once it is answered)."""

    def __init__(self, sim: SimHarness) -> None:
        super().__init__()
        self.sim = sim
        self.armed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not (self.armed and request.url.path.endswith("/order_groups/create")):
            return super().handle_request(request)
        self.sim.set_faults(http_5xx_rate=1.0)
        try:
            return super().handle_request(request)
        finally:
            self.sim.clear_faults()


def test_a_market_whose_shards_group_cannot_be_made_is_refused_and_the_loop_goes_on(
    sim: SimHarness, tmp_path: Path
) -> None:
    transport = _GroupCreatesRefused(sim)
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={},
             selection=Selection(series=SERIES), order_group=True, transport=transport,
             settings={"new_markets_poll_s": 3600.0, "shard_poll_s": 0.2}) as r:  # fmt: skip
        assert r.group is not None
        start_group = dict(r.group.by_shard)
        _ticks_until(r, lambda: _placed(r, FIRST), "the loop quoting its first market")
        transport.armed = True
        _open_with_a_book(sim, LATER, shard=3)
        _fund_shard(r, 3)
        (refused, *_) = _ticks_until(r, lambda: r.events("market_refused"), f"{LATER} refused")
        assert refused["ticker"] == LATER, refused
        assert "order group on shard 3" in str(refused["refused"]), refused
        assert "start the loop again" in str(refused["refused"]), refused
        # nothing traded there, no group taken for the session's, and the loop goes on
        before = len(_placed(r, FIRST))
        _open_with_a_book(sim, FIRST.replace("-A", "-B"))  # a second market on shard 0
        _ticks_until(r, lambda: r.events("market_added"), "a market on shard 0 still taken on")
        for _ in range(5):
            r.loop.tick(r.feed.drain_messages())
        assert not _placed(r, LATER) and LATER not in r.loop.portfolio.markets
        assert (
            r.group.by_shard == start_group and r.loop.executor.answers.order_groups == start_group
        )
        places = [p.exchange_index for p in session_order_group_places(r.store)]
        assert places == [0], places
        assert len(_placed(r, FIRST)) >= before


def test_a_market_joining_an_event_the_loop_reads_is_held_to_the_events_limit(
    sim: SimHarness, tmp_path: Path
) -> None:
    # an event loop with a limit on an event's loss: the new market of the event is judged
    # with the event's book, which holds the loop's orders in its first market
    event = FIRST.rsplit("-", 1)[0]
    joining = f"{event}-B"
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={},
             selection=Selection(event=event), risk={"max_event_loss": "500"},
             settings={"new_markets_poll_s": 3600.0}) as r:  # fmt: skip
        _ticks_until(r, lambda: _placed(r, FIRST), "the loop quoting its first market")
        _open_with_a_book(sim, joining)
        _ticks_until(r, lambda: _placed(r, joining), f"an order of the loop's in {joining}")
        (limit,) = r.loop.executor.event_limits("market-maker", joining)
        assert limit.max_loss == Decimal(500)
        held = {leg.ticker for leg in limit.held}
        assert {FIRST, joining} <= held, limit.held
        # and the first market's event counts the new one
        (first,) = r.loop.executor.event_limits("market-maker", FIRST)
        assert joining in {leg.ticker for leg in first.held}, first.held


class _Feed:
    """A feed that can take on markets, and says whether it was asked to hear of new ones."""

    def __init__(self) -> None:
        self.hears_new = False

    def add_markets(self, tickers: object) -> None:
        raise AssertionError("no market is added here")

    def hear_new_markets(self) -> None:
        self.hears_new = True


@pytest.mark.parametrize(
    ("selection", "paper", "takes_on"),
    [
        (Selection(series=SERIES), False, True),
        (Selection(event=f"{SERIES}-26JAN01"), False, True),
        (Selection(tickers=(FIRST,)), False, False),  # --markets: the list stays fixed
        (Selection(), False, False),  # every open market
        (Selection(series=SERIES), True, False),  # a paper venue knows its start's markets
    ],
)
def test_only_a_live_loop_asked_for_a_series_or_an_event_takes_on_new_markets(
    selection: Selection, paper: bool, takes_on: bool
) -> None:
    lineup = Lineup([Member(get_strategy("market-maker"), None)])
    options = TradeOptions(strategies=(StrategyChoice("market-maker"),), selection=selection,
                           paper=paper)  # fmt: skip
    feed = _Feed()
    reads = join_reads(options, lineup, object(), feed, None)  # type: ignore[arg-type]
    assert (reads is not None and reads.lists) is takes_on
    assert feed.hears_new is takes_on
    # every live loop reads the markets it holds and does not trade, for their exits
    assert (reads is None) is paper


class _GroupCreatesCounted(httpx.HTTPTransport):
    """The real transport, counting the order group creates it sends once `armed`; `lose`: each
    is made on the exchange and its answer lost (a read timeout), so its outcome is unknown;
    otherwise each meets the simulator's `http_429_rate` fault (refused before it was acted on)."""

    def __init__(self, sim: SimHarness, *, lose: bool) -> None:
        super().__init__()
        self.sim, self.lose = sim, lose
        self.armed = False
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not (self.armed and request.url.path.endswith("/order_groups/create")):
            return super().handle_request(request)
        self.sent += 1
        if self.lose:
            super().handle_request(request).close()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        self.sim.set_faults(http_429_rate=1.0)
        try:
            return super().handle_request(request)
        finally:
            self.sim.clear_faults()


def _two_markets_on_a_shard_whose_group_fails(
    sim: SimHarness, tmp_path: Path, transport: _GroupCreatesCounted
) -> tuple[list[dict[str, object]], int]:
    """A series loop in order groups; a market opens on shard 3, whose group create fails (as
    `transport` makes it), then a second there: what the loop said of each (`market_refused`),
    and how many creates were sent for the first."""
    second = LATER.replace("-A", "-B")
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={},
             selection=Selection(series=SERIES), order_group=True, transport=transport,
             settings={"new_markets_poll_s": 3600.0, "shard_poll_s": 0.2}) as r:  # fmt: skip
        _ticks_until(r, lambda: _placed(r, FIRST), "the loop quoting its first market")
        transport.armed = True
        _open_with_a_book(sim, LATER, shard=3)
        _fund_shard(r, 3)
        _ticks_until(r, lambda: r.events("market_refused"), f"{LATER} refused")
        for_first = transport.sent
        _open_with_a_book(sim, second, shard=3)

        def second_refused() -> list[dict[str, object]]:
            return [e for e in r.events("market_refused") if e["ticker"] == second]

        _ticks_until(r, second_refused, f"{second} refused")
        assert not _placed(r, LATER) and not _placed(r, second)
        return r.events("market_refused"), for_first


def test_after_a_group_create_of_unknown_outcome_no_more_creates_are_made_on_that_shard(
    sim: SimHarness, tmp_path: Path
) -> None:
    transport = _GroupCreatesCounted(sim, lose=True)
    said, for_first = _two_markets_on_a_shard_whose_group_fails(sim, tmp_path, transport)
    # one create of unknown outcome: a second could leave a second unrecorded group
    assert for_first == transport.sent == 1, transport.sent
    second = [e for e in said if e["ticker"] == LATER.replace("-A", "-B")][-1]
    assert "shard 3" in str(second["refused"]) and "unknown" in str(second["refused"]), second
    assert "kalshi order-group list" in str(second["refused"]), second
    assert "kalshi order-group delete" in str(second["refused"]), second


def test_after_a_refused_group_create_the_next_on_that_shard_waits_a_listing_interval(
    sim: SimHarness, tmp_path: Path
) -> None:
    transport = _GroupCreatesCounted(sim, lose=False)
    said, for_first = _two_markets_on_a_shard_whose_group_fails(sim, tmp_path, transport)
    # the listing interval is an hour: the second market, told of at once, makes no create
    assert for_first >= 1 and transport.sent == for_first, (for_first, transport.sent)
    second = [e for e in said if e["ticker"] == LATER.replace("-A", "-B")][-1]
    assert "shard 3" in str(second["refused"]) and "tried again" in str(second["refused"]), second


def test_a_market_refused_for_a_refused_group_create_is_taken_on_at_a_later_listing(
    sim: SimHarness, tmp_path: Path
) -> None:
    transport = _GroupCreatesCounted(sim, lose=False)
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={},
             selection=Selection(series=SERIES), order_group=True, transport=transport,
             settings={"new_markets_poll_s": 0.5, "shard_poll_s": 0.2}) as r:  # fmt: skip
        _ticks_until(r, lambda: _placed(r, FIRST), "the loop quoting its first market")
        transport.armed = True
        _open_with_a_book(sim, LATER, shard=3)
        _fund_shard(r, 3)
        _ticks_until(r, lambda: r.events("market_refused"), f"{LATER} refused")
        transport.armed = False  # the exchange takes creates again
        (added, *_) = _ticks_until(r, lambda: r.events("market_added"), f"{LATER} taken on")
        assert added["ticker"] == LATER and added["shard"] == 3, added
        assert r.group is not None and 3 in r.group.by_shard


class _SeriesFeesUnknown(httpx.HTTPTransport):
    """The real transport; while `armed`, the series is answered with the `flat` fee type, one
    the spec lists whose rates are not published: its markets' fees cannot be priced."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = super().handle_request(request)
        if not (self.armed and request.url.path.endswith(f"/series/{SERIES}")):
            return answer
        body = json.loads(answer.read())
        body["series"]["fee_type"] = "flat"
        return httpx.Response(answer.status_code, json=body)


def test_a_market_refused_for_its_fees_is_taken_on_at_a_later_listing(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A new market whose fees cannot be priced is refused, listed again no more often than
    the listing interval (not every tick), and taken on once they can."""
    transport = _SeriesFeesUnknown()
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={},
             selection=Selection(series=SERIES), transport=transport,
             settings={"new_markets_poll_s": 1.0}) as r:  # fmt: skip
        _ticks_until(r, lambda: _placed(r, FIRST), "the loop quoting its first market")
        transport.armed = True
        _open_with_a_book(sim, LATER)
        (refused, *_) = _ticks_until(r, lambda: r.events("market_refused"), f"{LATER} refused")
        assert refused["ticker"] == LATER and "flat" in str(refused["refused"]), refused
        ticks, began = 0, time.monotonic()

        def three_seconds() -> bool:
            nonlocal ticks
            ticks += 1
            return time.monotonic() - began >= 3.0

        _ticks_until(r, three_seconds, "three seconds of ticks")
        # a listing a second, and one at once for each lifecycle message of the market
        assert len(r.events("market_refused")) <= 1 + 3 + 2 < ticks
        transport.armed = False  # its fees can be priced
        (added, *_) = _ticks_until(r, lambda: r.events("market_added"), f"{LATER} taken on")
        assert added["ticker"] == LATER, added
        _ticks_until(r, lambda: _placed(r, LATER), f"the loop quoting {LATER}")

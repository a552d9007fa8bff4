"""Paper trading (runner/paper.py): `kalshi trade --paper` reads the exchange's live
market data and fills its orders locally, and no write request from it ever reaches the exchange."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.feed.messages import FeedTrade, FillNotice, Lifecycle, order_update
from kalshi_cli.runner.config import StrategyChoice, TradeOptions
from kalshi_cli.runner.paper import (
    PaperClient,
    PaperFeed,
    PaperStateRefused,
    Prefixed,
    refuse_leftovers,
)
from kalshi_cli.store import Store
from kalshi_cli.store.paper import paper_state_path
from kalshi_cli.venue import LocalVenue, MarketInfo, default_info
from kalshi_cli.vocabulary.clock import ManualClock, iso_utc
from kalshi_cli.vocabulary.errors import ConflictError, UsageError
from kalshi_cli.vocabulary.units import BookSide, Side, TimeInForce
from tests.conftest import SimHarness
from tests.fakes import ticks
from tests.runner.simproc import Book, client_for, log_events, trade_command, trade_env

TICKER = "KXPAPER-SIM-A"


def _writes(stats: dict[str, object], key_id: str) -> dict[str, int]:
    accounts = stats["accounts"]
    assert isinstance(accounts, dict)
    requests = accounts.get(key_id, {}).get("requests", {})
    return {name: n for name, n in requests.items() if not name.startswith("GET ")}


def _fills_logged(log: Path) -> list[dict[str, object]]:
    return [e for e in log_events(log) if e["event"] == "fill_received"]


@pytest.mark.slow
def test_a_paper_loop_on_the_live_feed_fills_locally_and_sends_no_write(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    market = Book(client_for(sim.new_account(balance_cents=100_000_000)), TICKER)
    market.quote("0.40", "0.60")
    taker = Book(client_for(sim.new_account(balance_cents=100_000_000)), TICKER)
    paper = sim.new_account(balance_cents=0)  # no money: a paper session needs none
    # a window the exchange announces, long after the run: the paper loop reads it as a live
    # loop does (its trading would stop for it as a live loop's)
    window = int(time.time()) + 86_400
    sim.schedule_maintenance(window, window + 600)
    state = tmp_path / "state.db"
    log = tmp_path / "trade.log"
    env = trade_env(paper, tmp_path / "home", state)
    command = [*trade_command("market-maker", TICKER, log, "--duration", "120"), "--paper"]
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with (
        out.open("w") as stdout,
        err.open("w") as stderr,
        subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr) as proc,
    ):
        try:
            # a live market: public trades on both sides of the paper quotes (inside
            # 0.40/0.60), each one through a paper price, until the session logged a fill of
            # each side; then it is stopped as a trader stops it
            sides = [(BookSide.ASK, "0.40"), (BookSide.BID, "0.60")]
            n = 0
            while proc.poll() is None and len(_fills_logged(log)) < 2:
                book_side, price = sides[n % 2]
                taker.order(book_side, price, "1", TimeInForce.IOC)
                n += 1
                time.sleep(1)  # the market's pace of public trades, not a wait for a condition
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    assert proc.returncode == 0, err.read_text()[-3000:]

    # nothing but reads reached the exchange from the paper session's key
    assert _writes(sim.stats(), paper.key_id) == {}
    # its orders filled locally, in its own state file; the live one was never made
    paper_state = paper_state_path(state, "sim")
    assert paper_state.exists() and not state.exists()
    with Store.open(paper_state) as store:
        fills = list(store.fills.iter_fills())
        assert fills, "the paper quotes should have filled against the live trades"
        assert {f.ticker for f in fills} == {TICKER}
    events = log_events(log)
    started = [e for e in events if e["event"] == "started"]
    assert started and started[0].get("paper") is True
    (scheduled,) = [e for e in events if e["event"] == "maintenance_scheduled"]
    assert scheduled["windows"] == [[iso_utc(window), iso_utc(window + 600)]]
    # PAPER on every line the console printed
    for stream in (out, err):
        lines = [line for line in stream.read_text().splitlines() if line.strip()]
        assert lines, stream
        assert all(line.startswith("PAPER ") for line in lines), stream.read_text()[:2000]


def test_the_paper_client_reads_market_data_from_the_exchange_and_orders_locally(
    sim: SimHarness,
) -> None:
    from kalshi_cli.client.requests import CreateOrder

    sim.create_market(TICKER)
    Book(client_for(sim.new_account(balance_cents=100_000_000)), TICKER).quote("0.40", "0.60")
    account = sim.new_account(balance_cents=0)
    exchange = client_for(account)
    venue = LocalVenue(ManualClock(1_700_000_000.0), [default_info(TICKER)], balance=Decimal(500))
    client = PaperClient(exchange, venue)
    assert client.markets.get_market(TICKER).ticker == TICKER  # from the exchange
    venue.book_changed(
        TICKER, ticks({Decimal("0.40"): Decimal(100)}), ticks({Decimal("0.40"): Decimal(100)})
    )
    placed = client.orders.create_order(
        CreateOrder(
            ticker=TICKER,
            book_side=BookSide.BID,
            price=Decimal("0.60"),
            count=Decimal(2),
            time_in_force=TimeInForce.IOC,
        )
    )
    assert placed.order_id
    assert client.portfolio.get_balance().balance < Decimal(
        500
    )  # the venue's cash, not the account's
    assert [p.ticker for p in client.portfolio.get_positions()] == [TICKER]
    assert _writes(sim.stats(), account.key_id) == {}
    assert sim.stats()["accounts"][account.key_id]["order_create_requests"] == 0
    # the only areas of the exchange's client it holds are market data, and none of their
    # calls writes: every one is a read by its operation's name
    shared = {name for name, area in vars(client).items() if area in vars(exchange).values()}
    assert shared == {"markets", "exchange"}
    calls = [n for name in shared for n in dir(vars(client)[name]) if not n.startswith("_")]
    reads = ("get_", "iter_", "list_", "search_", "batch_market_candlesticks", "market_candles")
    assert calls and all(n.startswith((*reads, "clock_")) for n in calls), calls


def test_a_paper_clients_handle_on_a_subaccount_is_a_paper_client_of_the_same_venue(
    sim: SimHarness,
) -> None:
    """`on_subaccount` (reconcile's and the position limit's reads of one subaccount) on a paper
    client is a paper client too: market data still from the exchange by name, orders, fills
    and positions from the venue on that subaccount, and the client it came from left where it
    was."""
    from kalshi_cli.client.requests import CreateOrder

    sim.create_market(TICKER)
    account = sim.new_account(balance_cents=0)
    with client_for(account) as exchange:
        clock = ManualClock(1_700_000_000.0)
        venue = LocalVenue(clock, [default_info(TICKER)], balance=Decimal(500))
        assert venue.core.subaccounts.create_subaccount(venue.account) == 1
        venue.core.subaccounts.transfer(
            venue.account,
            client_transfer_id="fund-1",
            from_subaccount=0,
            to_subaccount=1,
            amount_cents=20_000,
        )
        client = PaperClient(exchange, venue)
        one = client.on_subaccount(1)
        assert isinstance(one, PaperClient)
        assert one.exchange.get_exchange_status() == exchange.exchange.get_exchange_status()
        assert one.markets.get_market(TICKER).ticker == TICKER
        one.orders.create_order(CreateOrder(TICKER, BookSide.BID, Decimal("0.30"), Decimal(2)))
        assert (client.subaccount, one.subaccount) == (None, 1)
        assert [o.subaccount for o in client.orders.iter_orders(status="resting")] == [1]
        assert list(client.on_subaccount(0).orders.iter_orders(status="resting")) == []
        assert [o.remaining_count for o in one.orders.iter_orders(status="resting")] == [Decimal(2)]
    assert _writes(sim.stats(), account.key_id) == {}


def test_private_events_never_reach_a_paper_loop_and_public_ones_feed_the_venue() -> None:
    class Inner:
        def __init__(self, messages: list[FeedMessage]) -> None:
            self.messages = messages

        def drain_messages(self) -> list[FeedMessage]:
            events, self.messages = self.messages, []
            return events

        def book(self, ticker: str) -> None:
            return None

        # the rest of the feed a PaperFeed wraps: this test never starts or asks it
        def start(self) -> None:
            pass

        def stop(self) -> None:
            pass

        def is_fresh(self, ticker: str) -> bool:
            return True

        def data_age(self, ticker: str) -> float:
            return 0.0

        def last_message_age(self) -> float:
            return 0.0

        mode = "ws"

    class Venue:
        def __init__(self) -> None:
            self.trades: list[tuple[str, Decimal, Decimal, Side]] = []
            self.settled: list[tuple[str, str]] = []
            self.told: list[str] = []  # books and lifecycle changes: none in these events
            self.infos: dict[str, MarketInfo] = {}

        def book_changed(self, ticker: str, yes: Mapping[int, int], no: Mapping[int, int]) -> None:
            self.told.append(f"book {ticker}")

        def lifecycle(self, ticker: str, event_type: object) -> None:
            self.told.append(f"{event_type} {ticker}")

        def trade(self, ticker: str, price: Decimal, count: Decimal, side: Side) -> None:
            self.trades.append((ticker, price, count, side))

        def settle(self, ticker: str, result: str, value: Decimal | None = None) -> None:
            self.settled.append((ticker, result))

    trade = FeedTrade(yes_price=Decimal("0.4200"), count=Decimal("3.00"), taker_side="no")
    events = [
        FeedMessage(MessageKind.FILL, TICKER, payload=FillNotice(order_id="real")),
        FeedMessage(MessageKind.USER_ORDER, TICKER, payload=order_update({})),
        FeedMessage(MessageKind.POSITION, TICKER),
        FeedMessage(MessageKind.TRADE, TICKER, payload=trade),
        FeedMessage(
            MessageKind.LIFECYCLE, TICKER, payload=Lifecycle(event_type="determined", result="no")
        ),
    ]
    venue = Venue()
    feed = PaperFeed(Inner(events), venue)
    kept = feed.drain_messages()
    assert [e.kind for e in kept] == [MessageKind.TRADE, MessageKind.LIFECYCLE]
    assert feed.private_dropped == 3
    assert venue.trades == [(TICKER, Decimal("0.42"), Decimal(3), Side.NO)]
    assert venue.settled == [(TICKER, "no")]
    assert venue.told == []


def test_a_market_paused_then_resumed_takes_paper_orders_again() -> None:
    class Inner:
        def __init__(self) -> None:
            self.messages: list[FeedMessage] = []

        def drain_messages(self) -> list[FeedMessage]:
            events, self.messages = self.messages, []
            return events

    inner = Inner()
    venue = LocalVenue(ManualClock(), [default_info(TICKER)], balance=Decimal(100))
    feed = PaperFeed(inner, venue)  # type: ignore[arg-type]  # drain_messages is all it asks
    order = CreateOrder(TICKER, BookSide.BID, Decimal("0.40"), Decimal(1))
    paused = Lifecycle(TICKER, event_type="deactivated")
    inner.messages = [FeedMessage(MessageKind.LIFECYCLE, TICKER, payload=paused)]
    feed.drain_messages()
    with pytest.raises(ConflictError):
        venue.client.orders.create_order(order)
    resumed = Lifecycle(TICKER, event_type="activated")
    inner.messages = [FeedMessage(MessageKind.LIFECYCLE, TICKER, payload=resumed)]
    feed.drain_messages()
    assert venue.client.orders.create_order(order).remaining_count == 1


@pytest.mark.parametrize("scheduled", ["series", "event"])
def test_a_paper_venue_charges_a_fee_change_the_exchange_scheduled_after_it_started(
    scheduled: str,
) -> None:
    """A series' fee change, or its event's override, scheduled to take effect while the paper
    session runs: the venue's fill of one contract costs the fee the exchange charges its own
    fill of that contract at that time."""
    from typing import cast

    from kalshi_cli.client import KalshiClient
    from kalshi_cli.runner.paper import build_venue
    from kalshi_cli.vocabulary.models import trading_fee
    from tests.runner.fakes import START, FakeClient, new_exchange, trader

    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    real = FakeClient(exchange, trader(exchange), clock=clock)
    market = next(m for t in exchange.reference.markets if (m := real.get_market(t)).is_open)
    if scheduled == "series":
        series = exchange.reference.markets[market.ticker].series_ticker
        exchange.schedule_fee_change(series, "quadratic", "3", START + 60)
    else:
        exchange.schedule_event_fee_change(market.event_ticker, "quadratic", "3", START + 60)
    venue = build_venue(cast("KalshiClient", real), [market], clock, Decimal(1000))
    clock.advance(120)
    exchange.tick()  # the exchange's participants quote
    yes, no = exchange.engine.book(market.ticker)
    venue.book_changed(market.ticker, ticks(dict(yes)), ticks(dict(no)))
    ask = 1 - max(price for price, _ in no)
    order = CreateOrder(market.ticker, BookSide.BID, ask, Decimal(1), time_in_force=TimeInForce.IOC)
    real.create_order(order)
    venue.client.orders.create_order(order)
    (on_exchange,) = exchange.history.fills(real.account_id)
    (on_venue,) = venue.client.portfolio.iter_fills()
    assert (on_venue.yes_price, on_venue.fee) == (on_exchange.price, on_exchange.fee)
    # the change's fee, three times the standard quadratic's taker rate
    assert on_exchange.fee == trading_fee(Decimal(1), ask, Decimal("0.21"))


def test_a_paper_venue_on_a_series_answer_without_its_fee_multiplier_is_refused() -> None:
    """The venue charges the exchange's fees, read from its Series answer: one without a
    `fee_multiplier` (which the spec requires) is not charged a multiplier of 1 made up here;
    the venue is refused, naming the series and the missing field (the session's start is
    refused on it, `preflight.fees_refused`, as on a fee the live loop cannot price)."""
    from typing import Any, cast

    from kalshi_cli.client import KalshiClient
    from kalshi_cli.runner.paper import build_venue
    from kalshi_cli.vocabulary.models import FeeModelError
    from tests.runner.fakes import START, FakeClient, new_exchange, trader

    class NoMultiplier(FakeClient):
        def get_series(self, series_ticker: str) -> dict[str, Any]:
            series = super().get_series(series_ticker)
            return {k: v for k, v in series.items() if k != "fee_multiplier"}

    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    real = NoMultiplier(exchange, trader(exchange), clock=clock)
    market = next(m for t in exchange.reference.markets if (m := real.get_market(t)).is_open)
    series = exchange.reference.markets[market.ticker].series_ticker
    with pytest.raises(FeeModelError) as refused:
        build_venue(cast("KalshiClient", real), [market], clock, Decimal(1000))
    assert series in str(refused.value) and "no fee_multiplier" in str(refused.value)


def test_a_paper_state_file_with_an_earlier_sessions_orders_is_refused(tmp_path: Path) -> None:
    from kalshi_cli.store.records import IntentRecord
    from kalshi_cli.vocabulary.units import Action

    path = paper_state_path(tmp_path / "state.db", "demo")
    assert path.name == "state.paper-demo.db"
    with Store.open(path) as store:
        refuse_leftovers(store, path)  # empty: fine
        store.orders.record_intent(
            IntentRecord(
                "paper-1", TICKER, BookSide.BID, Decimal("0.40"), Decimal(1), Side.YES, Action.BUY
            )
        )
        with pytest.raises(PaperStateRefused, match="earlier paper session") as info:
            refuse_leftovers(store, path)
        assert "move that file aside" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            lambda: TradeOptions(strategies=(StrategyChoice("spike"),), paper=True, live=True),
            "--live",
        ),
        (
            lambda: TradeOptions(strategies=(StrategyChoice("spike"),), paper=True, dry_run=True),
            "--dry-run",
        ),
        (
            lambda: TradeOptions(
                strategies=(StrategyChoice("spike"),), paper=True, paper_balance=Decimal(0)
            ),
            "--paper-balance",
        ),
    ],
)
def test_paper_refuses_flags_that_contradict_it(
    options: Callable[[], TradeOptions], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        options()


def test_every_console_line_says_paper() -> None:
    import io

    raw = io.StringIO()
    stream = Prefixed(raw)
    stream.write("one\ntwo")
    stream.write(" halves\n\nthree\n")
    assert raw.getvalue() == "PAPER one\nPAPER two halves\n\nPAPER three\n"


def test_the_venue_answers_queue_positions_and_an_empty_historical_tier() -> None:
    # the market maker reads queue positions each full tick and reconcile reads the historical
    # tier: a venue (backtest or paper) must answer both as the exchange would
    from kalshi_cli.client.requests import CreateOrder

    venue = LocalVenue(ManualClock(1_700_000_000.0), [default_info(TICKER)], balance=Decimal(500))
    venue.book_changed(
        TICKER, ticks({Decimal("0.40"): Decimal(7)}), ticks({Decimal("0.55"): Decimal(5)})
    )
    placed = venue.client.orders.create_order(
        CreateOrder(
            ticker=TICKER,
            book_side=BookSide.BID,
            price=Decimal("0.40"),
            count=Decimal(2),
            time_in_force=TimeInForce.GTC,
        )
    )
    assert venue.client.orders.get_queue_positions(market_tickers=[TICKER]) == {
        placed.order_id: Decimal(7)
    }
    assert venue.client.orders.get_queue_positions(market_tickers=["KXOTHER-X-Y"]) == {}
    assert venue.client.historical.get_historical_cutoff().trades_created_ts == 0
    assert list(venue.client.historical.iter_historical_fills()) == []
    assert list(venue.client.historical.iter_historical_orders()) == []


def test_a_paper_loop_is_built_only_on_the_paper_client(tmp_path: Path) -> None:
    """A paper loop's kill switch cancels every order its client reaches: on anything but the
    PaperClient (the exchange's own client) it would reach real orders, so no loop is built."""
    from kalshi_cli.runner.assembly import LoopInputs, build_loop
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.config import TradeConfig
    from tests.runner.fakes import START, FakeClient, FakeFeed, new_exchange, trader

    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    me = trader(exchange)
    client = FakeClient(exchange, me, clock=clock)
    markets = [m for m in (client.get_market(t) for t in exchange.reference.markets) if m.is_open]
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        inputs = LoopInputs(
            client, store, FakeFeed(exchange, me, clock), clock, EntryLog(clock, stderr=None)
        )
        with pytest.raises(TypeError, match="a paper loop trades on a PaperClient, not a Fake"):
            build_loop(
                inputs,
                TradeOptions(strategies=(StrategyChoice("spike"),), paper=True),
                TradeConfig(),
                markets,
            )
        assert exchange.history.orders(me) == []


def test_positions_on_two_subaccounts_that_would_net_to_zero_are_still_refused(
    tmp_path: Path,
) -> None:
    """A paper loop can run on a subaccount: an earlier session's long on subaccount 0 and
    short on subaccount 1 are two open positions (the exchange keeps one per subaccount), not
    a flat book, so the state file is refused all the same."""
    from kalshi_cli.store.records import FillRecord

    path = paper_state_path(tmp_path / "state.db", "demo")
    with Store.open(path) as store:
        for n, (subaccount, side) in enumerate(((0, BookSide.BID), (1, BookSide.ASK))):
            store.fills.record_fill(
                FillRecord(
                    f"f{n}", f"o{n}", None, TICKER, side, Decimal("0.40"), Decimal(10),
                    Decimal(0), True, 1.0 + n, subaccount=subaccount,
                )
            )  # fmt: skip
        with pytest.raises(PaperStateRefused, match="2 open position"):
            refuse_leftovers(store, path)


@pytest.mark.slow
@pytest.mark.parametrize("configured", [False, True], ids=["default", "configured"])
def test_a_paper_session_keeps_its_own_log_and_pause_file_never_the_live_loops(
    tmp_path: Path, configured: bool
) -> None:
    """A paper session beside a live loop (the same config, the same state directory) writes
    its events to the log the dashboard reads for the paper state file and pauses on the pause
    file the dashboard's `p` toggles there, never the live loop's: the live loop paused by hand
    does not pause it, and its `started` event (`"paper": true`) never lands in the live log,
    where it would mark the live loop's screen PAPER and turn its `k` into the paper kill switch.
    `configured`: the live loop's files named in the config (`trade.log_file`,
    `trade.pause_file`), else the defaults beside the state file."""
    import os
    import sys

    from kalshi_cli.cli._context import AppContext
    from kalshi_cli.cli.dashboard import load_sources

    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "config.yaml"
    live_dir = tmp_path / "live"
    config.write_text(
        f"trade:\n  log_file: {live_dir / 'trade.log'}\n  pause_file: {live_dir / 'trade.pause'}\n"
        if configured
        else "trade: {}\n",
        encoding="utf-8",
    )
    environ = {**os.environ, "KALSHI_HOME": str(home), "KALSHI_CONFIG": str(config)}
    state = AppContext(environ=environ).settings("sim").state
    live = load_sources(AppContext(environ=environ), state, "sim")
    paper = load_sources(AppContext(environ=environ), paper_state_path(state, "sim"), "sim")
    assert live.pause_file is not None and paper.pause_file is not None
    assert live.log_path is not None and paper.log_path is not None
    live.pause_file.parent.mkdir(parents=True, exist_ok=True)
    live.pause_file.touch()  # the trader paused the live loop
    command = [sys.executable, "-m", "kalshi_cli", "trade", "--strategy", "market-maker"]
    done = subprocess.run(
        [*command, "--paper", "--max-ticks", "3"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not live.log_path.exists(), live.log_path.read_text()[:2000]
    events = log_events(paper.log_path)
    assert [e.get("paper") for e in events if e["event"] == "started"] == [True]
    assert not [e for e in events if e["event"] == "paused"]
    assert live.pause_file.exists()  # still the live loop's, as the trader left it
    assert paper.pause_file != live.pause_file

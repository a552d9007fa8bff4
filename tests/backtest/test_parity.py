"""Parity: the same strategy on the same recording places the same orders in
`kalshi backtest` and in `kalshi trade --paper` fed by a replay of that recording.

The paper side is a paper session's own adapters, put together as `runner.lifecycle.session` puts
them for `--paper`: the exchange's markets, events and series read through a stand-in exchange
client, `paper.build_venue` from them, `paper.PaperClient` around the stand-in and the venue,
the session's `reconcile` and `start_loop`, and `paper.PaperFeed` around an inner feed that
replays the recording the way the live `MarketData` delivers it: books rebuilt by the data
layer's `BookReplay`, one coalesced BOOK message per market per drain (at the place of its first
change), each public trade and lifecycle frame as a TRADE / LIFECYCLE message carrying the
frame's message, freshness as FRESH / STALE. The venue learns everything only from
`PaperFeed.drain_messages`, as a live paper session does. The clock is stepped by the backtest's
own driver loop (`engine._drive`: a tick one poll after the first unseen news, a full pass
every `tick_interval_s`), so both runs decide at the same instants.

One timing difference is the design's, and the test controls it rather than hides it: the
backtest's driver hands each frame to the venue as it applies it, while a paper session's venue
learns a book change or a public trade when the loop drains the feed, at most one poll
(`LoopSettings.poll_s`, 1 ms) later, and sees a market's book as it stands then (the live feed
coalesces a market's changes between two drains). So a fill can be stamped up to one poll later
on the paper side; the orders, and the fills' prices, counts and fees, are the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest

from kalshi_cli.backtest import BacktestSpec, execute
from kalshi_cli.backtest.engine import (
    Driver,
    ReplayFeed,
    _bounded,
    _drive,
    _tickers,
)
from kalshi_cli.backtest.replay_clock import ReplayClock
from kalshi_cli.data.replay import LocalNote, Record, iter_records
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.feed.messages import (
    DeltaMessage,
    LifecycleMessage,
    SnapshotMessage,
    TradeMessage,
    market_of,
)
from kalshi_cli.runner import paper
from kalshi_cli.runner.assembly import LoopInputs, select_markets, start_loop
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import Selection, TradeConfig, TradeOptions
from kalshi_cli.runner.loop.settings import LoopSettings
from kalshi_cli.runner.preflight import reconcile
from kalshi_cli.store import Store
from kalshi_cli.venue import LocalVenue, load_reference

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.feed import MarketData

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
POLL_S = LoopSettings.poll_s
OrderKey = tuple[float, str, str, str, Decimal, Decimal, str, str | None]
FillKey = tuple[float, str, str, Decimal, Decimal, Decimal, bool, str | None]
Run = tuple[list[OrderKey], list[FillKey]]


@pytest.fixture(scope="module")
def spike_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # the default scenario's LAL market spikes 0.50 -> 0.68 every 45 s and reverts over 15 s
    return record_scenario("default", tmp_path_factory.mktemp("spike"), seconds=300, tickers=[LAL])


@pytest.fixture(scope="module")
def default_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("default"), seconds=120)


@pytest.fixture(scope="module")
def event_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # five minutes of the default scenario: its mutually exclusive events price a few pairs
    return record_scenario("default", tmp_path_factory.mktemp("events"), seconds=300)


class ReplayMarketData(ReplayFeed):
    """The inner feed of the paper session: the recording delivered as `MarketData` delivers
    the live stream (module docstring). It feeds no venue: that is `PaperFeed`'s job."""

    def __init__(self, tickers: list[str], clock: ReplayClock) -> None:
        super().__init__(tickers, clock)
        self.dirty: set[str] = set()

    def drain_messages(self) -> list[FeedMessage]:
        events, self.messages, self.dirty = self.messages, [], set()
        return events

    @property
    def pending(self) -> bool:
        return bool(self.messages)


class FrameDriver(Driver):
    """The backtest driver's stepping, with each record delivered to the inner feed as a frame
    of the live stream instead of being handed to the venue."""

    def _apply(self, record: Record, t: float) -> None:
        ns, obj, is_local = record
        self.clock.set(t)
        feed = cast("ReplayMarketData", cast("paper.PaperFeed", self.feed).inner)
        feed.replay.apply_record(ns, obj, is_local)
        if isinstance(obj, LocalNote):
            return
        ticker = market_of(obj)
        if ticker is None or ticker not in feed.tickers:
            return
        if isinstance(obj, DeltaMessage | SnapshotMessage):
            feed.latest = t
            book = feed.replay.books.get(ticker)
            if book is None or not book.fresh:
                return
            self.book_events += 1
            feed.data_at[ticker] = t
            if ticker not in feed.dirty:  # MarketData coalesces a market's book changes
                feed.dirty.add(ticker)
                feed.messages.append(FeedMessage(MessageKind.BOOK, ticker, source="ws"))
        elif isinstance(obj, TradeMessage):
            feed.latest = t
            feed.messages.append(
                FeedMessage(MessageKind.TRADE, ticker, source="ws", payload=obj.msg)
            )
        elif isinstance(obj, LifecycleMessage):
            feed.latest = t
            event = FeedMessage(MessageKind.LIFECYCLE, ticker, source="ws", payload=obj.msg)
            feed.messages.append(event)
        if self.pending_since is None and feed.pending:
            self.pending_since = t


def orders_of(store: Store) -> list[OrderKey]:
    return [
        (
            i.created_at,
            i.ticker,
            i.side.value,
            i.action.value,
            i.price,
            i.count,
            i.time_in_force,
            i.strategy,
        )
        for i in store.orders.intents()
    ]


def fills_of(store: Store) -> list[FillKey]:
    return [
        (f.ts, f.ticker, f.book_side.value, f.yes_price, f.count, f.fee, f.is_taker, f.strategy)
        for f in store.fills.iter_fills()
    ]


def backtest_run(spec: BacktestSpec, workdir: Path) -> Run:
    artifacts = execute(spec)
    with artifacts.store as store:
        return orders_of(store), fills_of(store)


def paper_run(spec: BacktestSpec, workdir: Path) -> Run:
    """A paper session on a replay of `spec.data` (module docstring)."""
    root = Path(spec.data)
    skipped: Counter[str] = Counter()
    tickers = _tickers(spec, root, skipped)
    records = _bounded(iter_records(root, skipped), spec)
    first = next(records)
    clock = ReplayClock(first[0] / 1e9)
    # the stand-in exchange: the recording's reference data answering the market-data reads
    exchange_venue = LocalVenue(clock, load_reference(root).values(), balance=Decimal(0))
    exchange = cast("KalshiClient", exchange_venue.client)
    store = Store.open(workdir / "state.paper-replay.db", clock=clock, durable=False)
    log = EntryLog(clock, path=None, stderr=None)
    venue: LocalVenue | None = None
    try:
        selection = Selection(tuple(tickers))
        # runner.lifecycle.session's `--paper` branch, step by step
        paper.refuse_leftovers(store, workdir / "state.paper-replay.db")
        markets = select_markets(exchange, selection)
        venue = paper.build_venue(exchange, markets, clock, Decimal(spec.balance))
        client = cast("KalshiClient", paper.PaperClient(exchange, venue))
        reconcile(client, store, clock, 0.0)
        inner = ReplayMarketData(tickers, clock)
        feed = paper.PaperFeed(cast("MarketData", inner), venue)
        choices, params = spec.lineup()
        config = TradeConfig(strategies=params, risk=dict(spec.risk), trade=dict(spec.trade))
        options = TradeOptions(strategies=choices, selection=selection, paper=True)
        loop = start_loop(LoopInputs(client, store, feed, clock, log), options, config, markets)
        driver = FrameDriver(_chain(first, records), cast("ReplayFeed", feed), venue, clock)
        _drive(loop, driver, spec)
        # as the backtest ends: the loop stops and withdraws its quotes, the last fills are read
        loop.stop.shutdown(cancel_resting=True)
        loop.executor.fills.sync()
        return orders_of(store), fills_of(store)
    finally:
        log.close()
        store.close()


def _chain(first: Record, rest: Iterator[Record]) -> Iterator[Record]:
    yield first
    yield from rest


EXAMPLES = Path(__file__).parents[2] / "examples" / "models"
# the model strategy, sized to trade often: the anchor model of examples/models/ from each kind
# of source, and the example CSV
MODEL_SIZING = (("bankroll", "1000"), ("max_count", "5"))
MODEL_SOURCES = {
    "python": f"python:{EXAMPLES / 'anchor.py'}:fair",
    "command": f"command:{sys.executable} {EXAMPLES / 'anchor_command.py'}",
    "jq": f"command:sh {EXAMPLES / 'anchor.sh'}",
    "file": f"file:{EXAMPLES / 'fair_values.csv'}",
}


@pytest.mark.parametrize(
    ("strategy", "params", "data"),
    [
        ("spike", (("take_profit", "0.06"), ("order_count", "20")), "spike_data"),
        ("market-maker", (), "default_data"),
        *(
            pytest.param(
                "model", (*MODEL_SIZING, ("source", source)), "spike_data", id=f"model-{kind}"
            )
            for kind, source in MODEL_SOURCES.items()
        ),
        pytest.param(
            "model",
            (*MODEL_SIZING, ("quote", "true"), ("source", MODEL_SOURCES["python"])),
            "spike_data",
            id="model-quote",
        ),
    ],
)
def test_backtest_and_paper_on_a_replay_place_the_same_orders(
    strategy: str,
    params: tuple[tuple[str, str], ...],
    data: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    root = request.getfixturevalue(data)
    spec = BacktestSpec(data=str(root), strategy=strategy, params=params)
    (tmp_path / "bt").mkdir()
    (tmp_path / "paper").mkdir()
    orders, fills = backtest_run(spec, tmp_path / "bt")
    paper_orders, paper_fills = paper_run(spec, tmp_path / "paper")
    assert len(orders) >= 4 and len(fills) >= 4, "the scenario must make the strategy trade"
    # ticker, side, action, price, count, time in force, and the time each was placed, in order
    assert paper_orders == orders
    # and the venue filled them alike: the same fills at the same prices and fees
    assert [f[1:] for f in paper_fills] == [f[1:] for f in fills]
    # a timing difference of the two paths, not a difference of what fills: the backtest's
    # driver hands each frame to the venue as it applies it, a paper session's venue learns it
    # when the loop drains the feed, which is at most one poll (`poll_s`, 1 ms) later
    for (paper_ts, *_), (ts, *_) in zip(paper_fills, fills, strict=True):
        assert 0 <= paper_ts - ts <= POLL_S + 1e-6  # simulated seconds


def test_arbitrage_with_its_markets_at_rest_places_the_same_orders_in_backtest_and_paper(
    event_data: Path, tmp_path: Path
) -> None:
    """Arbitrage, flat and quiet between its sets: most of its markets rest through the full
    passes (runner/loop/schedule.py), live as in a backtest, and the set it finds is the same."""
    spec = BacktestSpec(data=str(event_data), strategy="arbitrage")
    (tmp_path / "bt").mkdir()
    (tmp_path / "paper").mkdir()
    orders, fills = backtest_run(spec, tmp_path / "bt")
    paper_orders, paper_fills = paper_run(spec, tmp_path / "paper")
    assert len(orders) >= 3 and len(fills) >= 3, "the scenario must make a set of three legs"
    assert paper_orders == orders
    assert [f[1:] for f in paper_fills] == [f[1:] for f in fills]


def test_two_strategies_on_one_bankroll_place_the_same_orders_in_backtest_and_paper(
    spike_data: Path, tmp_path: Path
) -> None:
    """Spike and the market maker in one loop: each order and fill is booked to the strategy
    that decided it, and a backtest and a paper replay agree on all of them."""
    spec = BacktestSpec(
        data=str(spike_data),
        strategy="spike",
        params=(("take_profit", "0.06"), ("order_count", "20")),
        beside=(("market-maker", ()),),
    )
    (tmp_path / "bt").mkdir()
    (tmp_path / "paper").mkdir()
    orders, fills = backtest_run(spec, tmp_path / "bt")
    paper_orders, paper_fills = paper_run(spec, tmp_path / "paper")
    assert {o[-1] for o in orders} == {"spike", "market-maker"}, "both must trade"
    assert {f[-1] for f in fills} == {"spike", "market-maker"}, "both must fill"
    assert paper_orders == orders
    # the same fills; a taker fill of one strategy and a maker fill of the other within one
    # poll may be read in the other order on the paper side (the module docstring's timing)
    key = repr  # Decimal and bool and None sort together by their text
    assert sorted((f[1:] for f in paper_fills), key=key) == sorted((f[1:] for f in fills), key=key)


# one backtest, its orders printed in the order they were placed
_RUN = """
import sys
from pathlib import Path
from kalshi_cli.backtest import BacktestSpec, execute
from kalshi_cli.store import Store
artifacts = execute(BacktestSpec(data=sys.argv[1], strategy="market-maker"))
with artifacts.store as store:
    for i in store.orders.intents():
        print(i.created_at, i.ticker, i.side.value, i.action.value, i.price, i.count)
"""


def test_a_backtest_places_its_orders_in_the_same_order_under_any_hash_seed(
    default_data: Path,
) -> None:
    """The markets a pass trades are taken in the order their news arrived, not in a set's
    order: Python randomizes string hashes per process, and a set's order would make the same
    backtest place its orders in another order in another process (and, under a limit shared
    by several markets, place other orders)."""
    runs = []
    for seed in ("0", "1"):
        result = subprocess.run(
            [sys.executable, "-c", _RUN, str(default_data)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(result.stdout.splitlines())
    assert len(runs[0]) >= 4
    assert runs[0] == runs[1]

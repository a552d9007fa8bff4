"""One backtest: recorded data through the production trade loop, on a local venue and a simulated
clock.

`runner.assembly.build_loop` builds the live `TradeLoop` with three inputs swapped: the venue's
`VenueClient`, `ReplayFeed` (the recorded frames through `BookReplay`) and `ReplayClock`, which only
the driver moves. The driver ticks the loop before applying any record at or after the tick's time,
so no decision sees data from its own time or later (`audit`, `LookAheadError`); an order's
`latency_ms` is spent applying that interval's records first. docs/backtesting.md "What runs".
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshi_cli.backtest.dataset import DataSet, refuse_a_missing_data_set
from kalshi_cli.backtest.replay_clock import ReplayClock
from kalshi_cli.data.manifest import read_manifest
from kalshi_cli.data.replay import BookReplay, LocalNote, Record, RecordedFrame
from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.feed.index import VALUE_TYPES, IndexBoard, IndexMessageError, decode_tick
from kalshi_cli.feed.messages import (
    BOOK_TYPES,
    DeltaMessage,
    IndexValueMessage,
    LifecycleMessage,
    Misshapen,
    SnapshotMessage,
    TradeMessage,
    market_of,
)
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.strategy_api import IndexView
from kalshi_cli.strategy_api.params import ParamPairs, ParamValue
from kalshi_cli.venue import FillModel, LocalVenue, MarketInfo, default_info, load_reference
from kalshi_cli.venue.applier import FeedApplier
from kalshi_cli.venue.reference import REFERENCE_FILE
from kalshi_cli.vocabulary.errors import KalshiError, NoDataError
from kalshi_cli.vocabulary.models import Market, Orderbook
from kalshi_cli.vocabulary.names import first_five
from kalshi_cli.vocabulary.process import raise_if_interrupted
from kalshi_cli.vocabulary.units import ZERO

if TYPE_CHECKING:
    from kalshi_cli.runner.config import StrategyChoice
    from kalshi_cli.runner.loop.trade_loop import TradeLoop
    from kalshi_cli.store import Store
    from kalshi_cli.strategy_api import Strategy

# the strategy a spec names (`get_strategy`), or the one the command looked it up to once
Lookup = Callable[[str], "Strategy[Any]"]


# how often a backtest's loop writes its heartbeat, in simulated seconds (live: every second)
BACKTEST_HEARTBEAT_S = 60.0


class LookAheadError(KalshiError):
    """A decision saw data received at or after its own time: the backtest cannot be trusted."""


@dataclass(frozen=True)
class BacktestSpec:
    """Everything one run depends on. Two equal specs over the same data give the same result
    (the sweep's cache key is its hash with the data set's)."""

    data: str  # the data set's directory
    strategy: str  # a built-in's name, an absolute .py path, an import path, an entry point
    params: ParamPairs = ()  # strategy parameters, as given on the command line
    markets: tuple[str, ...] = ()  # empty: every market of the data set
    start_ns: int | None = None
    end_ns: int | None = None  # records at or after this are not read
    fill_model: str = FillModel.OPTIMISTIC.value
    latency_ms: int = 0
    balance: str = "1000"
    risk: tuple[tuple[str, Any], ...] = ()  # the config's `risk:` section
    trade: tuple[tuple[str, Any], ...] = ()  # the config's `trade:` section (tick_interval_s)
    sample_s: float = 10.0
    # the fingerprint of the strategy's code (a file's hash, a distribution's version, the
    # package's version for a built-in): a changed strategy is a new spec, so no cached
    # report of the old code is taken for the new one
    strategy_source: str = ""
    # the data set's fingerprint (dataset.py) as the sweep saw it: a worker whose copy differs
    # refuses the run; empty: whatever is at `data` when the run opens it
    data_fingerprint: str = ""
    # the other strategies run beside `strategy` in the same loop, on the same bankroll, each
    # (spec, its params): each trades only what it owns, as live
    beside: tuple[tuple[str, ParamPairs], ...] = ()
    # each strategy's name, `strategy`'s first: a sweep's NAME.param finds its strategy by it
    # (empty: each named by its spec)
    names: tuple[str, ...] = ()

    def values(self) -> dict[str, ParamValue]:
        """The lineup's params as a sweep names them: a lone strategy's by their own names,
        each of several strategies' as NAME.param."""
        if not self.beside:
            return dict(self.params)
        runs = (self.params, *(pairs for _, pairs in self.beside))
        return {
            f"{n}.{k}": v for n, pairs in zip(self._names(), runs, strict=True) for k, v in pairs
        }

    def with_values(self, values: Mapping[str, str]) -> BacktestSpec:
        """The spec with `values` (named as `values()` names them) laid over its params."""
        merged = self.values() | dict(values)
        if not self.beside:
            return replace(self, params=tuple(sorted(merged.items())))
        runs = [
            tuple(sorted((k[len(n) + 1 :], v) for k, v in merged.items() if k.startswith(f"{n}.")))
            for n in self._names()
        ]
        beside = tuple(
            (spec, pairs) for (spec, _), pairs in zip(self.beside, runs[1:], strict=True)
        )
        return replace(self, params=runs[0], beside=beside)

    def _names(self) -> tuple[str, ...]:
        return self.names or (self.strategy, *(spec for spec, _ in self.beside))

    def lineup(
        self, lookup: Lookup | None = None
    ) -> tuple[tuple[StrategyChoice, ...], dict[str, dict[str, ParamValue]]]:
        """The loop's strategies in order and each one's params by its name: what a backtest
        and a paper replay of this spec run. `lookup`: the command's, which found them once
        already; None: each looked up here."""
        from kalshi_cli.runner.config import StrategyChoice
        from kalshi_cli.strategies import get_strategy

        runs = ((self.strategy, self.params), *self.beside)
        # a file or import path is loaded once in the process that runs (a sweep's worker
        # loads the same file by its path); the loop runs the strategies found here
        find = lookup or get_strategy
        resolved = [(spec, find(spec), values) for spec, values in runs]
        params = {strategy.name: dict(values) for _, strategy, values in resolved}
        choices = tuple(StrategyChoice(spec, strategy=strategy) for spec, strategy, _ in resolved)
        return choices, params


@dataclass
class EquityPoint:
    ts: float  # unix seconds
    equity: Decimal
    exposure: Decimal


@dataclass
class Audit:
    """The look-ahead audit of one run: every tick's decision time against the newest data it
    could have read."""

    decisions: int = 0
    latest_gap_s: float = math.inf  # the smallest (decision time - newest data)


# the distinct errors of a failed run kept with their counts; the rest are counted together
MAX_DISTINCT_ERRORS = 10


@dataclass
class StrategyFailures:
    """The decisions of a run that failed (the loop's `strategy_error` events: the strategy or
    its model raised, hung past its deadline or answered garbage), counted by strategy, kind and
    message. Any of them makes the run a failed run, as does trading stopped until a person
    resumes it, which the run's state file records (`report.build_report`; docs/backtesting.md
    "A failed run")."""

    decisions: int = 0
    errors: Counter[tuple[str, str, str, str | None]] = field(default_factory=Counter)
    other: int = 0  # failed decisions whose message is not among the first distinct ones

    def add(self, fields: Mapping[str, Any]) -> None:
        self.decisions += 1
        strategy, kind, error = (str(fields.get(k)) for k in ("strategy", "kind", "error"))
        key = (strategy, kind, error, fields.get("at"))
        if key in self.errors or len(self.errors) < MAX_DISTINCT_ERRORS:
            self.errors[key] += 1
        else:
            self.other += 1


@dataclass
class RunArtifacts:
    """What a finished run leaves for the report (kept in-process, not pickled)."""

    spec: BacktestSpec
    store: Store  # the run's state, in memory, open until the report has read it
    state_path: Path | None  # where it was saved (`keep_state`), else None
    venue: LocalVenue
    books: dict[str, Orderbook | None]
    equity: list[EquityPoint]
    infos: dict[str, MarketInfo]
    skipped: Counter[str]
    frames: Counter[str]
    book_events: int
    audit: Audit
    signals: list[dict[str, Any]]  # kept only with `keep_signals` (the look-ahead check)
    signal_count: int
    failures: StrategyFailures
    idle: dict[str, str]  # a strategy that trades none of the run's markets: why
    started: float  # unix seconds
    ended: float  # unix seconds


class ReplayFeed:
    """The `MarketFeed` of a backtest: books rebuilt from the recording by `BookReplay`."""

    def __init__(self, tickers: list[str], clock: ReplayClock) -> None:
        self.tickers = set(tickers)
        self.clock = clock
        self.replay = BookReplay(self._on_replay)
        self.messages: list[FeedMessage] = []
        self.changed: dict[str, float] = {}  # since the drain, in the order of first change
        self.data_at: dict[str, float] = {}  # ticker -> time of its last book data, at the drain
        self.latest = -math.inf  # the newest data applied
        # the newest book or trade record of the run's markets: what there is to trade on.
        # An index value is data a decision sees (`latest`), but none of a market's, and a
        # lifecycle message quotes no price
        self.markets_latest = -math.inf
        self.index = IndexBoard()
        self.index_changed: dict[str, None] = {}
        # ticker -> the BOOK message of its change (frozen: one a market, not one a change)
        self._book_said = {t: FeedMessage(MessageKind.BOOK, t, source="replay") for t in tickers}

    def _on_replay(self, ns: int, kind: str, ticker: str | None, reason: str) -> None:
        if ticker is not None and ticker not in self.tickers:
            return
        add = self.messages.append
        if kind == "fresh":
            add(FeedMessage(MessageKind.FRESH, ticker, source="replay"))
        elif kind == "stale":
            add(FeedMessage(MessageKind.STALE, ticker, reason=reason, source="replay"))
        elif kind == "gap":
            add(FeedMessage(MessageKind.GAP, None, reason=reason, source="replay"))

    # the MarketFeed protocol
    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def book(self, ticker: str) -> Orderbook | None:
        # built once per change by the local book itself, however often the loop reads it
        book = self.replay.books.get(ticker)
        if book is None or not book.fresh:
            return None
        return book.to_orderbook()

    def is_fresh(self, ticker: str) -> bool:
        book = self.replay.books.get(ticker)
        return book is not None and book.fresh

    def data_age(self, ticker: str) -> float:
        at = self.changed.get(ticker) or self.data_at.get(ticker)
        return math.inf if at is None else max(self.clock.wall() - at, 0.0)

    def last_message_age(self) -> float:
        return math.inf if self.latest == -math.inf else max(self.clock.wall() - self.latest, 0.0)

    def index_view(self, index_id: str) -> IndexView | None:
        return self.index.view(index_id)

    def drain_messages(self) -> list[FeedMessage]:
        messages = self.messages
        for ticker in self.changed:
            messages.append(self._book_said[ticker])
        self.data_at.update(self.changed)
        for index_id in self.index_changed:
            messages.append(FeedMessage(MessageKind.INDEX, index_id, source="replay"))
        self.messages = []
        self.changed = {}
        self.index_changed = {}
        return messages

    @property
    def pending(self) -> bool:
        return bool(self.messages or self.changed or self.index_changed)


class Driver:
    """Feeds the records to the feed and the venue and ticks the loop (module docstring)."""

    def __init__(
        self, records: Iterator[Record], feed: ReplayFeed, venue: LocalVenue, clock: ReplayClock
    ) -> None:
        self.records = records
        self.next: Record | None = next(records, None)
        self.feed = feed
        self.venue = venue
        self.applier = FeedApplier(venue)
        self.book_changed = self.applier.book  # without its look-ups for each book change
        self._delta = feed.replay.delta
        self.clock = clock
        self.book_events = 0
        self.pending_since: float | None = None  # time of the first unseen news
        self.audit = Audit()

    def advance_to(self, t: float) -> None:  # unix seconds
        """Apply every record received before `t`, then set the clock to `t` (latency)."""
        while self.next is not None and (at := self.next[0] / 1e9) < t:
            self._apply(self.next, at)
            self.next = next(self.records, None)
        self.clock.set(t)

    def _apply(self, record: Record, t: float) -> None:  # t: its receive time, the caller's
        ns, obj, is_local = record
        clock = self.clock
        if t > clock._wall:  # noqa: PLR1730 - `ReplayClock.set` inline, without a call to max
            clock._wall = t
        feed = self.feed
        if type(obj) is DeltaMessage:  # most of the traffic: each record's type is told once
            book = self._delta(ns, obj)  # None unless the book is fresh after it
            ticker: str | None = obj.msg.market_ticker
            # the venue was given the book's mappings, which a delta changes in place: it hears of
            tell = False  # one only where it has matching to do (`matches_in`)
        else:
            tell = True
            feed.replay.apply_record(ns, obj, is_local)
            if type(obj) is SnapshotMessage:
                ticker = obj.msg.market_ticker
            elif isinstance(obj, Misshapen) and obj.type in BOOK_TYPES:
                ticker = obj.market_ticker  # its book is as the replay left it
            else:
                if not isinstance(obj, LocalNote):
                    self._news(t, obj)
                return
            known = None if ticker is None else feed.replay.books.get(ticker)
            book = known if known is not None and known.fresh else None
        if ticker not in feed.tickers:
            return
        feed.latest = feed.markets_latest = t
        if book is None:
            return
        self.book_events += 1
        feed.changed[ticker] = t  # its time is its `data_at` (`ReplayFeed.drain_messages`)
        if tell or self.venue.matches_in(ticker):
            self.book_changed(ticker, book.yes_ticks, book.no_ticks)
        if self.pending_since is None:  # `pending`, inline
            self.pending_since = t

    def _news(self, t: float, obj: RecordedFrame) -> None:
        """A frame other than a book's: a public trade, a market's lifecycle, an index value
        (or one of those not in its message's shape: counted, applied nowhere). One of a
        subscription the live feed does not read is applied nowhere either."""
        feed = self.feed
        if not feed.replay.reads(obj):
            return
        if isinstance(obj, IndexValueMessage):
            self._index(t, obj)
            return
        if isinstance(obj, Misshapen) and obj.type in VALUE_TYPES:
            feed.replay.skipped["bad_index"] += 1
            return
        ticker = market_of(obj)
        if ticker is None or ticker not in feed.tickers:
            return
        if isinstance(obj, TradeMessage):
            feed.latest = feed.markets_latest = t
            self.applier.trade(ticker, obj.msg)
        elif isinstance(obj, LifecycleMessage):
            feed.latest = t
            self.applier.lifecycle(ticker, obj.msg)
            message = FeedMessage(MessageKind.LIFECYCLE, ticker, source="replay", payload=obj.msg)
            feed.messages.append(message)
        elif isinstance(obj, Misshapen) and obj.type == "trade":
            feed.latest = feed.markets_latest = t
            self.applier.skipped["bad_trade"] += 1
        elif isinstance(obj, Misshapen) and obj.type == "market_lifecycle_v2":
            feed.latest = t
            feed.replay.skipped["bad_lifecycle"] += 1
            return
        if self.pending_since is None and (feed.messages or feed.changed):  # `pending`, inline
            self.pending_since = t

    def _index(self, t: float, obj: IndexValueMessage) -> None:
        """A recorded index value, news for a strategy that reads the index."""
        feed = self.feed
        try:
            tick = decode_tick(obj)
        except IndexMessageError:
            feed.replay.skipped["bad_index"] += 1
            return
        if feed.index.apply(tick):
            feed.latest = t
            feed.index_changed[tick.index_id] = None
            if self.pending_since is None:
                self.pending_since = t


def execute(
    spec: BacktestSpec,
    *,
    keep_state: Path | None = None,
    log_path: Path | None = None,
    keep_signals: bool = False,
    source: DataSet | None = None,
    strategies: Lookup | None = None,
    progress: Callable[[int], None] | None = None,
) -> RunArtifacts:
    """The run itself, its state in memory (saved as the state file `keep_state` at the end when
    given: an order action costs no file write), the entry log to `log_path` (none by default:
    formatting every event is costly). `source`: the data set as a worker holds it, else
    `spec.data`'s files. `strategies`: the command's lookup. `progress`: told the percent
    replayed."""
    from kalshi_cli.runner.assembly import LoopInputs, build_loop
    from kalshi_cli.runner.config import Selection, TradeConfig, TradeOptions
    from kalshi_cli.services.reconcile import sync_settlements
    from kalshi_cli.store import Store

    root = Path(spec.data)
    skipped: Counter[str] = Counter()
    tickers = markets_of(spec, skipped, source)
    infos = _infos(root, tickers)
    past: list[int] = []  # a record at or after `end_ns`: the data goes on past the run
    records = _bounded((source or DataSet(root, "")).records(skipped), spec, past)
    first = next(records, None)
    if first is None:
        raise NoDataError(f"no records in {root}{_where(spec, skipped)}")
    start = first[0] / 1e9
    clock = ReplayClock(start)
    feed = ReplayFeed(tickers, clock)

    def advance(t: float) -> None:  # unix seconds; the driver the venue feeds is built next
        driver.advance_to(t)

    venue = LocalVenue(
        clock,
        infos.values(),
        balance=Decimal(spec.balance),
        fill_model=FillModel(spec.fill_model),
        latency_s=spec.latency_ms / 1000,
        advance=advance,
    )
    driver = Driver(itertools.chain((first,), records), feed, venue, clock)
    store = Store.in_memory(clock=clock, kept=keep_state is not None)
    log = _SignalLog(clock, log_path, keep=keep_signals)
    try:
        client = venue.client
        markets = _with_terms([client.markets.get_market(t) for t in tickers], root)
        choices, params = spec.lineup(strategies)
        config = TradeConfig(strategies=params, risk=dict(spec.risk), trade=dict(spec.trade))
        client.subaccounts.set_subaccount_netting(0, config.settings.venue_netting)
        options = TradeOptions(strategies=choices, selection=Selection(tuple(tickers)))
        # a backtest's heartbeat has no reader (no check or dead-man watches a replay), so it
        # is written once a simulated minute rather than every second: 3,600 transactions an
        # hour of data were 8% of a quiet replay (docs/benchmarks.md); its decisions are made
        # on this thread, with no deadline on the machine's time (runner/loop/market_pass.py)
        # what the venue holds of the account is the loop's alone: no fill read while nothing of
        # it can fill
        adjust = partial(
            replace,
            heartbeat_interval_s=BACKTEST_HEARTBEAT_S,
            decide_deadline=False,
            fills_of_its_orders_only=True,
        )
        inputs = LoopInputs(client, store, feed, clock, log, adjust=adjust)
        loop = build_loop(inputs, options, config, markets)
        replayed = None if progress is None else _Replayed.of(spec, root, start, progress)
        equity = _drive(loop, driver, spec, replayed, skipped)
        if replayed is not None:
            replayed.at(replayed.end)  # the last pass may come before the span's end
        if spec.start_ns is not None:
            start = max(start, spec.start_ns / 1e9)
        if feed.markets_latest < start:
            # no book or trade of the run's markets between its bounds (a recording that
            # connected and got nothing, a market the recording had stopped following, one
            # that kept only the index): no strategy could have traded, and a report of zero
            # trades would say it found nothing to trade
            raise NoDataError(
                f"no data of {', '.join(tickers)} in {root}{_where(spec, skipped)}",
                hint="`kalshi data info` shows what the data set holds of each market, and when",
            )
        loop.stop.shutdown(cancel_resting=True)
        if not past:
            # the reference's results are as read when the recording ended: a run that stops
            # before the end of the data (`--to`, a holdout's training part) did not know them
            driver.applier.settle_known()
        sync_settlements(client, store)
        loop.executor.fills.sync()
        equity.append(_equity_point(venue, feed, clock.wall()))
        books = {t: _last_book(feed, t) for t in tickers}
        if keep_state is not None:
            store.backup_to(keep_state)
    except BaseException:
        store.close()
        raise
    finally:
        log.close()
    skipped.update(feed.replay.skipped)
    skipped.update(driver.applier.skipped)
    return RunArtifacts(
        spec=spec,
        store=store,
        state_path=keep_state,
        venue=venue,
        books=books,
        equity=equity,
        infos=venue.infos,  # as the recording's lifecycle left them (results, tick grids)
        skipped=skipped,
        frames=feed.replay.frames,
        book_events=driver.book_events,
        audit=driver.audit,
        signals=log.signals,
        signal_count=log.count,
        failures=log.failures,
        idle=log.idle,
        started=start,
        ended=clock.wall(),
    )


@dataclass
class _Replayed:
    """The percent of a run's span replayed, told to `tell` when it grows, at the loop's full
    passes (once a simulated `tick_interval_s`: no cost per record). The span ends at `--to`
    or the manifest's last record; without either nothing is told."""

    start: float  # unix seconds
    end: float  # unix seconds
    tell: Callable[[int], None]
    shown: int = -1

    @classmethod
    def of(
        cls, spec: BacktestSpec, root: Path, start: float, tell: Callable[[int], None]
    ) -> _Replayed | None:
        if spec.start_ns is not None:
            start = max(start, spec.start_ns / 1e9)
        segments = (read_manifest(root) or {}).get("segments") or {}
        lasts = [s.get("last_ns") for s in segments.values() if isinstance(s, dict)]
        ends = [ns / 1e9 for ns in lasts if isinstance(ns, int)]
        if spec.end_ns is not None:
            ends = [min([*ends, spec.end_ns / 1e9])]
        if not ends or max(ends) <= start:
            return None
        return cls(start, max(ends), tell)

    def at(self, t: float) -> None:  # unix seconds
        percent = min(100, max(0, int((t - self.start) * 100 / (self.end - self.start))))
        if percent > self.shown:
            self.shown = percent
            self.tell(percent)


def _drive(
    loop: TradeLoop,
    driver: Driver,
    spec: BacktestSpec,
    replayed: _Replayed | None = None,
    skipped: Counter[str] | None = None,
) -> list[EquityPoint]:
    """Tick the loop through the records; `skipped` is what the reading has skipped so far,
    named when nothing is left to trade from `--from` on."""
    clock, feed = driver.clock, driver.feed
    poll = loop.settings.poll_s
    interval = loop.settings.tick_interval_s
    if spec.start_ns is not None:
        # `--from`: the records before it build the books (a market's snapshot may be hours
        # older) but nothing trades on them and the strategy gets no news from them
        while driver.next is not None and driver.next[0] < spec.start_ns:
            driver._apply(driver.next, driver.next[0] / 1e9)
            driver.next = next(driver.records, None)
        if driver.next is None:
            raise NoDataError(f"no records in {spec.data}{_where(spec, skipped or Counter())}")
        # no news, but the markets' state: a close or a result among them is the loop's at
        # its first pass, as a loop started then reads its markets' state
        feed.messages = [e for e in feed.drain_messages() if e.kind is MessageKind.LIFECYCLE]
        driver.pending_since = None
        clock.set(spec.start_ns / 1e9)
    next_full = clock.wall()
    # the equity before the first decision: from `--from` the books are there already, and
    # what a first pass's entry costs is a fall from the starting balance
    equity = [_equity_point(driver.venue, feed, clock.wall())]
    next_sample = clock.wall() + spec.sample_s

    def tick_until(t: float) -> None:  # unix seconds
        nonlocal next_full, next_sample
        while True:
            news_at = math.inf if driver.pending_since is None else driver.pending_since + poll
            at = min(news_at, next_full)
            if at > t:
                return
            at = max(at, clock.wall())
            clock.set(at)
            full = next_full <= at
            gap = at - feed.latest
            if gap <= 0:
                raise LookAheadError(
                    f"a decision at {at:.6f} saw data received at {feed.latest:.6f}",
                    hint="this is a bug of the backtest driver; please report it",
                )
            driver.audit.decisions += 1
            driver.audit.latest_gap_s = min(driver.audit.latest_gap_s, gap)
            driver.pending_since = None
            driver.venue.timetable.catch_up()  # what the changes it did not hear of left due
            loop.tick(feed.drain_messages(), full=full)
            if full:
                raise_if_interrupted()  # a Ctrl-C Python discarded stops the run within a pass
                next_full = at + interval
                if replayed is not None:
                    replayed.at(at)
            if at >= next_sample:
                equity.append(_equity_point(driver.venue, feed, at))
                next_sample = at + spec.sample_s

    # the record in hand is `driver.next` while a tick may apply records (`advance_to`)
    apply, records, record = driver._apply, driver.records, driver.next
    while record is not None:
        t = record[0] / 1e9
        # `tick_until`'s own first test, inline: most records fall between two decisions
        pending = driver.pending_since
        if next_full <= t or (pending is not None and pending + poll <= t):
            driver.next = record
            tick_until(t)
            if driver.next is not record:
                record = driver.next
                continue  # an order's latency applied it already
        apply(record, t)
        record = next(records, None)
    driver.next = None
    # the run lasts to its end bound (`--to`), or one poll past the last record
    end = clock.wall() + poll
    if spec.end_ns is not None:
        end = max(end, (spec.end_ns - 1) / 1e9)
    tick_until(end)
    return equity


def _where(spec: BacktestSpec, skipped: Counter[str]) -> str:
    """The end of a no-data message: the run's bounds when it has any, and what the reading
    skipped (a corrupt segment reads as no records)."""
    bounded = spec.start_ns is not None or spec.end_ns is not None
    text = " between the given times" if bounded else ""
    if skipped:
        text += " (skipped: " + ", ".join(f"{n} {why}" for why, n in sorted(skipped.items())) + ")"
    return text


def _equity_point(venue: LocalVenue, feed: ReplayFeed, at: float) -> EquityPoint:
    """Cash and open positions at the best bid of the held side (what they could be sold for:
    the report's marks); at cost with no bid. The exchange's cash already includes what resting
    orders hold: that money is still the trader's, so placing or cancelling an order moves
    nothing here (adding the held amount again counted every quote as a gain)."""
    cash = venue.core.accounts.cash_dollars(venue.account)
    value = ZERO
    exposure = ZERO
    for p in venue.core.accounts.positions(venue.account):
        if p.position == 0:
            continue
        exposure += p.cost_basis
        book = feed.book(p.ticker) or venue.book(p.ticker)
        best = None
        if book is not None:
            best = book.best_yes_bid if p.position > 0 else book.best_no_bid
        value += abs(p.position) * best[0] if best is not None else p.cost_basis
    return EquityPoint(at, cash + value, exposure)


def _last_book(feed: ReplayFeed, ticker: str) -> Orderbook | None:
    book = feed.replay.books.get(ticker)
    return None if book is None else book.to_orderbook()


def markets_of(
    spec: BacktestSpec, skipped: Counter[str] | None = None, source: DataSet | None = None
) -> list[str]:
    """The markets a run of `spec` replays; `NoDataError` if its data set is not there or holds
    none (checked once before a sweep, whose runs happen in workers)."""
    root = Path(spec.data)
    refuse_a_missing_data_set(root)
    return _tickers(spec, root, Counter() if skipped is None else skipped, source)


# what a market's terms are read from (strategy_api.MarketTerms): the recorded body's, which the
# local venue's market (its exchange's, for matching and fees) does not carry
_TERM_FIELDS = (
    "strike_type",
    "floor_strike",
    "cap_strike",
    "close_time",
    "rules_primary",
    "rules_secondary",
)


def _with_terms(markets: list[Market], root: Path) -> list[Market]:
    """The markets with their recorded strike fields, close and rules (reference.json), so a
    strategy sees the terms it would have seen live."""
    try:
        data = json.loads((root / REFERENCE_FILE).read_text("utf-8"))
        bodies = {str(m.get("ticker")): m for m in data.get("markets") or []}
    except (OSError, ValueError, AttributeError):
        return markets
    out = []
    for market in markets:
        body = bodies.get(market.ticker) or {}
        terms = {k: body[k] for k in _TERM_FIELDS if body.get(k) not in (None, "")}
        out.append(market.with_raw({**market.raw, **terms}) if terms else market)
    return out


def _tickers(
    spec: BacktestSpec, root: Path, skipped: Counter[str], source: DataSet | None = None
) -> list[str]:
    manifest = read_manifest(root) or {}
    held = sorted((manifest.get("markets") or {}).keys())
    if not held:
        seen: dict[str, None] = {}
        for _, obj, _ in (source or DataSet(root, "")).records(Counter()):
            ticker = None if isinstance(obj, LocalNote) else market_of(obj)
            if ticker is not None:
                seen[ticker] = None
        held = sorted(seen)
    if not held:
        raise NoDataError(f"no market in {root}")
    if not spec.markets:
        return held
    # a ticker the data set never saw would replay nothing: an empty run stored as a result
    missing = [t for t in spec.markets if t not in held]
    if missing:
        raise NoDataError(
            f"no data for {', '.join(missing)} in {root}",
            hint=f"it holds {first_five(held)}; `kalshi data ls {root}` lists them",
        )
    return list(spec.markets)


def _infos(root: Path, tickers: list[str]) -> dict[str, MarketInfo]:
    """Each market's reference data, trading fractions where the reference says so or where
    its recorded counts showed fractions of a contract (the manifest's `fractional`)."""
    reference = load_reference(root)
    coverage = (read_manifest(root) or {}).get("markets") or {}
    infos = {}
    for t in tickers:
        info = reference.get(t) or default_info(t)
        entry = coverage.get(t)
        if isinstance(entry, dict) and entry.get("fractional") is True:
            info = replace(info, fractional=True)
        infos[t] = info
    return infos


def _bounded(
    records: Iterator[Record], spec: BacktestSpec, past: list[int] | None = None
) -> Iterator[Record]:
    """The records before `end_ns` (those before `start_ns` are read too: they build the
    books; `_drive` trades from `start_ns` on); the time of the first record at or after it
    is put in `past`."""
    hi = spec.end_ns
    if hi is None:
        return records  # no bound: no generator between the reader and the driver

    def before(record: Record) -> bool:
        if record[0] < hi:
            return True
        if past is not None:
            past.append(record[0])
        return False

    return itertools.takewhile(before, records)


class _SignalLog(EntryLog):
    """The loop's entry log, keeping every `signal` (what the strategy decided, before risk)
    with its time (the look-ahead check compares them between runs), and counting the failed
    decisions (`StrategyFailures`)."""

    def __init__(self, clock: ReplayClock, path: Path | None, *, keep: bool) -> None:
        super().__init__(clock, path=path, stderr=None)
        self.keep = keep
        self.count = 0
        # a quoting strategy signals twice per market per pass: a day of them does not fit in
        # memory, so they are kept only when the look-ahead check compares them
        self.signals: list[dict[str, Any]] = []
        self.failures = StrategyFailures()
        self.idle: dict[str, str] = {}
        self.kept = frozenset({"strategy_error", "strategy_idle", *(["signal"] if keep else [])})

    def emit(self, kind: str, fields: Mapping[str, Any] | None = None) -> None:
        if kind == "strategy_error" and fields is not None:
            self.failures.add(fields)
        if kind == "strategy_idle" and fields is not None:
            self.idle[str(fields["strategy"])] = str(fields["why"])
        if kind == "signal":
            self.count += 1
            if self.keep and fields is not None:
                self.signals.append(
                    {"ts": self.clock.wall(), **{k: str(v) for k, v in fields.items()}}
                )
        super().emit(kind, fields)

"""What `kalshi dashboard` shows, as plain values: the state file's side and the exchange's.

`local_snapshot` reads the state file (read-only), the pause file and the trade log's tail: no
network, every second, working while the exchange is down. `remote_snapshot` asks the exchange
(positions by subaccount, resting orders and queue places, the remote checks, the feed's ages) off
the UI thread at a slower pace. Neither raises: what it cannot read goes in `error`. Each subaccount
is read through its own handle (`client.on_subaccount`), never by setting the shared client the kill
switch uses. The Textual app only formats these (docs/dashboard.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kalshi_cli.services.loop_strategies import (
    stopped_strategies,
    strategy_names,
    strategy_rows,
    strategy_text,
)
from kalshi_cli.store.entries import FEED_HEARD_KEY
from kalshi_cli.store.paper import is_paper_state
from kalshi_cli.vocabulary.clock import age_of, day_start
from kalshi_cli.vocabulary.documents import traders_terms
from kalshi_cli.vocabulary.errors import KalshiError, TransportError
from kalshi_cli.vocabulary.units import ZERO

if TYPE_CHECKING:
    from kalshi_cli.checks import CheckResult
    from kalshi_cli.checks.thresholds import Thresholds
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.services.positions import PositionRow
    from kalshi_cli.store import Store
    from kalshi_cli.store.records import AlertLogRecord, IntentRecord
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.models import Level, Order, Orderbook
    from kalshi_cli.vocabulary.units import Action, BookSide, Side

LOG_TAIL_BYTES = 256 * 1024
RECENT_FILLS = 12
RECENT_ALERTS = 8


class DashboardFeed(Protocol):
    """The dashboard's own market-data feed (`kalshi_cli.feed.MarketData` fits)."""

    def data_age(self, ticker: str) -> float: ...

    def is_fresh(self, ticker: str) -> bool: ...

    def book(self, ticker: str) -> Orderbook | None: ...


@dataclass(frozen=True)
class Sources:
    """Where to look. `limit` is `risk.max_position_per_market` (limit use in the positions);
    `risk_section` and `thresholds` are what `kalshi check` would use."""

    state_path: Path
    env: str = "sim"
    pause_file: Path | None = None
    log_path: Path | None = None
    limit: Decimal | None = None
    thresholds: Thresholds | None = None
    risk_section: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------ the values


@dataclass(frozen=True)
class Trip:
    rule: str
    code: str
    detail: str
    at: float


@dataclass(frozen=True)
class Trading:
    state: str
    reason: str
    source: str
    since: float | None
    paused: bool  # the pause file exists
    trips: tuple[Trip, ...] = ()  # today's, newest first
    # a live loop's heartbeat says SIGUSR1 paused it: no file says so, and `p` cannot lift it
    paused_by_signal: bool = False


@dataclass(frozen=True)
class Health:
    heartbeat_at: float | None
    heartbeat_age: float | None
    ticks: int | None
    loop_feed_age: float | None  # seconds since the loop last had market data
    # the subaccount the loop trades (`kalshi trade --subaccount N`), from its heartbeat; None
    # when the heartbeat names none (a loop from before the option)
    loop_subaccount: int | None = None
    # the strategies the loop runs (each name; its file or import path when not a built-in)
    loop_strategy: str | None = None
    # a row per strategy: its open orders and what its fills realized today (as `kalshi status`)
    strategies: tuple[dict[str, Any], ...] = ()
    # why the heartbeat's or the feed's age is unknown (its age is then None): a time not
    # finite or in the future, by the rule the checks grade them by (`clock.age_of`)
    heartbeat_age_unknown: str | None = None
    loop_feed_age_unknown: str | None = None


@dataclass(frozen=True)
class Pnl:
    realized_today: Decimal
    # (fill time, cumulative realized P&L today), from the P&L the loop wrote on each fill
    series: tuple[tuple[float, Decimal], ...] = ()


@dataclass(frozen=True)
class FillLine:
    at: float
    ticker: str
    side: str
    action: str
    price: Decimal  # of the side traded
    count: Decimal
    fee: Decimal
    slippage: Decimal | None  # per contract, against the order's limit; + is worse
    model_fair: Decimal | None
    strategy: str | None
    subaccount: int = 0  # the subaccount the fill is booked on in the state file


@dataclass(frozen=True)
class Denial:
    code: str
    count: int
    last_at: str  # the log's ISO time
    last_ticker: str
    last_detail: str


@dataclass(frozen=True)
class CheckLine:
    name: str
    status: str
    summary: str


@dataclass(frozen=True)
class LocalSnapshot:
    at: float
    env: str
    state_path: Path
    error: str | None  # why the state file could not be read (every local panel is empty)
    trading: Trading
    health: Health
    pnl: Pnl
    fills: tuple[FillLine, ...] = ()  # newest first
    denials: tuple[Denial, ...] = ()
    denials_note: str | None = None  # why the denials panel is empty
    checks: tuple[CheckLine, ...] = ()
    alerts: tuple[AlertLogRecord, ...] = ()
    paper: bool = False  # the loop trades on paper: nothing it does reaches the exchange


@dataclass(frozen=True)
class PositionLine:
    ticker: str
    side: str
    contracts: Decimal
    entry: Decimal | None
    mark: Decimal | None
    unrealized: Decimal | None
    exposure: Decimal
    limit: Decimal | None
    subaccount: int = 0  # the subaccount holding it

    @property
    def limit_use(self) -> Decimal | None:
        """Share of the position limit in use (worst case, resting orders filled)."""
        if self.limit is None or self.limit == 0:
            return None
        return self.exposure / self.limit


@dataclass(frozen=True)
class EventLine:
    """An event held in two markets or more: its worst case at settlement, as `kalshi positions
    --by event` has it (`services.positions.event_rows`), and the outcome that gives it."""

    event_ticker: str
    markets: int  # held
    worst: Decimal
    worst_outcome: str
    subaccount: int = 0


@dataclass(frozen=True)
class OrderLine:
    order_id: str
    ticker: str
    side: str
    action: str
    price: Decimal  # of the side
    remaining: Decimal
    created: str
    strategy: str | None  # None: not placed through this state file
    queue_ahead: Decimal | None = None  # contracts resting ahead of it at its price; None: unknown
    subaccount: int = 0  # the subaccount it rests on


@dataclass(frozen=True)
class FeedLine:
    ticker: str
    age: float | None  # None: no data yet
    fresh: bool
    bid: Level | None = None  # best YES bid (price, size) in the feed's book; None: none or stale
    ask: Level | None = None  # the implied YES ask


@dataclass(frozen=True)
class RemoteSnapshot:
    at: float
    error: str | None  # why there is nothing from the exchange (no client, unreachable)
    positions: tuple[PositionLine, ...] = ()
    unrealized: Decimal | None = None
    events: tuple[EventLine, ...] = ()
    orders: tuple[OrderLine, ...] = ()
    queue_note: str | None = None  # why no order's queue position is known
    feed: tuple[FeedLine, ...] = ()
    checks: tuple[CheckLine, ...] = ()
    subaccounts: tuple[int, ...] = (0,)  # whose positions were read
    subaccounts_note: str | None = None  # why only subaccount 0's positions were read

    @property
    def names_subaccounts(self) -> bool:
        """Rows name their subaccount when any but 0 is in sight: an account on subaccount 0
        alone reads as it did before subaccounts."""
        seen = {*self.subaccounts, *(p.subaccount for p in self.positions)}
        return seen | {o.subaccount for o in self.orders} != {0}

    @property
    def tickers(self) -> list[str]:
        """The markets worth watching: those held and those with resting orders."""
        return sorted({p.ticker for p in self.positions} | {o.ticker for o in self.orders})


# ------------------------------------------------------------------------------ local


def local_snapshot(sources: Sources, clock: Clock) -> LocalSnapshot:
    """Everything the state file, the pause file and the trade log say, now."""
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import utc_day

    now = clock.wall()
    day = utc_day(now)
    paused = sources.pause_file is not None and sources.pause_file.exists()
    lines, note = _log_tail(sources.log_path)
    # what is shown when the state file cannot be read: every local panel empty
    empty = LocalSnapshot(
        at=now,
        env=sources.env,
        state_path=sources.state_path,
        error=None,
        trading=Trading("ACTIVE", "no state file yet", "default", None, paused),
        health=Health(None, None, None, None),
        pnl=Pnl(ZERO),
        denials=_denials(lines),
        denials_note=note,
        paper=is_paper(sources.state_path, lines),
    )

    def unread(error: str) -> LocalSnapshot:
        return replace(empty, error=error, checks=tuple(_local_checks(sources, None)))

    try:
        store = Store.open_readonly(sources.state_path, clock=clock)
    except KalshiError as exc:
        return unread(exc.one_line())
    if store is None:
        return unread(f"no state file at {sources.state_path}")
    try:
        return replace(
            empty,
            trading=_trading(store, day, paused, now),
            health=_health(store, now),
            pnl=_pnl(store, day),
            fills=tuple(_fills(store)),
            checks=tuple(_local_checks(sources, clock)),
            alerts=tuple(store.alerts.alert_log(limit=RECENT_ALERTS)),
        )
    except KalshiError as exc:
        return unread(exc.one_line())
    finally:
        store.close()


def _trading(store: Store, day: str, paused: bool, now: float) -> Trading:
    row = store.trading.trading_state()
    beat = store.entries.loop_heartbeat()
    # a live loop's beat only: an old one's pause says nothing of now (`shown_state`)
    by_signal = beat is not None and beat.live(now) and beat.detail.get("paused_by_signal") is True
    trips = sorted(store.trading.risk_trips(day=day), key=lambda t: t.at, reverse=True)
    return Trading(
        state=row.state,
        reason=row.reason,
        source=row.source,
        since=row.at or None,
        paused=paused,
        trips=tuple(Trip(t.rule, t.code, t.detail, t.at) for t in trips),
        paused_by_signal=by_signal,
    )


def _health(store: Store, now: float) -> Health:
    beat = store.entries.loop_heartbeat()
    heard = store.entries.feed_heard_at()
    feed_age: float | None = None
    feed_unknown: str | None = None
    if heard is not None:
        at, raw = heard
        feed_age, feed_unknown = _age_or_why(age_of(FEED_HEARD_KEY, at, now, repr(raw)))
    if beat is None:
        return Health(None, None, None, feed_age, loop_feed_age_unknown=feed_unknown)
    ticks = beat.detail.get("ticks")
    beat_age, beat_unknown = _age_or_why(beat.age(now))
    return Health(
        heartbeat_at=beat.at,
        heartbeat_age=beat_age,
        ticks=int(ticks) if isinstance(ticks, int) else None,
        loop_feed_age=feed_age,
        loop_subaccount=beat.loop_subaccount,
        loop_strategy=strategy_text(beat.detail),
        strategies=strategy_rows(
            store,
            strategy_names(beat.detail),
            store.orders.open_orders(),
            now,
            beat.loop_subaccount or 0,
            stopped=stopped_strategies(beat.detail),
        ),
        heartbeat_age_unknown=beat_unknown,
        loop_feed_age_unknown=feed_unknown,
    )


def _age_or_why(age: float | str) -> tuple[float | None, str | None]:
    """`age_of`'s answer as (the age, why there is none): one of the two is None."""
    return (None, age) if isinstance(age, str) else (age, None)


def _pnl(store: Store, day: str) -> Pnl:
    from kalshi_cli.vocabulary.clock import utc_day

    realized = store.trading.daily_realized_pnl(day)
    series: list[tuple[float, Decimal]] = []
    total = ZERO
    # the fills of today, oldest first, with the realized P&L the loop wrote on each
    for fill in sorted(store.fills.read(since=day_start(day)), key=lambda f: f.ts):
        if utc_day(fill.ts) != day:
            continue
        total += fill.realized_pnl or ZERO
        series.append((fill.ts, total))
    return Pnl(realized, tuple(series))


def _fills(store: Store) -> Iterable[FillLine]:
    from kalshi_cli.services.metrics import fill_slippage

    for fill in reversed(store.fills.read(limit=RECENT_FILLS)):  # newest first
        intent, (side, action, price) = _in_traders_terms(
            store, fill.client_order_id, fill.book_side, fill.yes_price
        )
        yield FillLine(
            at=fill.ts,
            ticker=fill.ticker,
            side=side.value,
            action=action.value,
            price=price,
            count=fill.count,
            fee=fill.fee,
            slippage=fill_slippage(fill, intent),
            model_fair=intent.model_fair if intent is not None else None,
            strategy=fill.strategy or (intent.strategy if intent is not None else None),
            subaccount=fill.subaccount,
        )


def is_paper(state_path: Path, log_lines: Sequence[bytes] = ()) -> bool:
    """A paper loop's: its state file's name says so, or the last `started` event in the log's
    tail does (`"paper": true`)."""
    if is_paper_state(state_path):
        return True
    for line in reversed(log_lines):
        if b'"started"' not in line:
            continue
        record = _json_line(line)
        if record is not None and record.get("event") == "started":
            return record.get("paper") is True
    return False


def _json_line(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _log_tail(log_path: Path | None) -> tuple[list[bytes], str | None]:
    """The whole lines in the last LOG_TAIL_BYTES of the trade log; or why there are none."""
    if log_path is None:
        return [], "no trade log configured"
    try:
        with open(log_path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - LOG_TAIL_BYTES))
            tail = handle.read()
    except FileNotFoundError:
        return [], f"no trade log at {log_path}"
    except OSError as exc:
        return [], f"cannot read {log_path}: {exc.strerror or exc}"
    lines = tail.split(b"\n")
    if size > LOG_TAIL_BYTES:
        lines = lines[1:]  # the first line was cut
    return lines, None


def _denials(lines: Sequence[bytes]) -> tuple[Denial, ...]:
    counts: dict[str, int] = {}
    last: dict[str, dict[str, Any]] = {}
    for line in lines:
        if b"risk_denied" not in line:
            continue
        record = _json_line(line)
        if record is None:
            continue
        event = record.get("event")
        if event == "risk_denied":
            n = 1
        elif event == "risk_denied_summary":
            n = int(record.get("count", 0) or 0)
        else:
            continue
        code = str(record.get("code", "?"))
        counts[code] = counts.get(code, 0) + n
        last[code] = record
    return tuple(
        Denial(
            code=code,
            count=n,
            last_at=str(last[code].get("ts", "")),
            last_ticker=str(last[code].get("ticker", "")),
            last_detail=str(last[code].get("detail", "")),
        )
        for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )


def _local_checks(sources: Sources, clock: Clock | None) -> Iterable[CheckLine]:
    from kalshi_cli.checks import LOCAL_CHECKS

    yield from _checks(sources, LOCAL_CHECKS, None, clock)


def _checks(
    sources: Sources,
    names: Sequence[str],
    client: Callable[[], KalshiClient] | None,
    clock: Clock | None,
) -> Iterable[CheckLine]:
    from kalshi_cli.checks.run import CheckInputs, run_check
    from kalshi_cli.checks.thresholds import resolve
    from kalshi_cli.vocabulary.clock import SystemClock

    inputs = CheckInputs(
        state_path=sources.state_path,
        thresholds=sources.thresholds or resolve(None),
        risk_section=sources.risk_section,
        client=client,
        clock=clock or SystemClock(),
    )
    try:
        results: list[CheckResult] = [run_check(name, inputs) for name in names]
    finally:
        inputs.close()
    for r in results:
        yield CheckLine(r.name, r.status.name, r.summary)


# ------------------------------------------------------------------------------ remote


def remote_snapshot(
    sources: Sources,
    client: KalshiClient | None,
    clock: Clock,
    *,
    feed: DashboardFeed | None = None,
    no_client_reason: str = "no API key: the exchange's panels need credentials",
) -> RemoteSnapshot:
    """What the exchange says now; every panel carries `error` when it cannot be asked."""
    from kalshi_cli.checks import REMOTE_CHECKS

    now = clock.wall()
    if client is None:
        return RemoteSnapshot(at=now, error=no_client_reason)
    from kalshi_cli.store import Store

    try:
        store = Store.open_readonly(sources.state_path, clock=clock)
    except KalshiError:
        store = None  # the positions are still the exchange's; costs are then unknown
    listed = client.subaccount or 0  # the subaccount of an order that names none
    try:
        numbers, subaccounts_note = _subaccounts(client)
        rows, unrealized = _positions(client, store, numbers, sources.limit)
        events = tuple(_events(client, numbers))
        resting = list(client.orders.iter_orders(status="resting"))
        ahead, queue_note = _queue_positions(client, resting)
        orders = tuple(_order_line(o, store, ahead.get(o.order_id), listed) for o in resting)
    except TransportError as exc:
        return RemoteSnapshot(at=now, error=f"exchange unreachable: {exc.one_line()}")
    except KalshiError as exc:
        return RemoteSnapshot(at=now, error=f"exchange error: {exc.one_line()}")
    finally:
        if store is not None:
            store.close()
    positions = tuple(
        PositionLine(
            ticker=r.ticker,
            side=r.held_side.value if r.held_side else "-",
            contracts=r.contracts,
            entry=r.average_entry,
            mark=r.mark_bid,
            unrealized=r.unrealized,
            exposure=r.exposure,
            limit=r.limit,
            subaccount=number,
        )
        for number, r in rows
    )
    tickers = sorted({p.ticker for p in positions} | {o.ticker for o in orders})
    return RemoteSnapshot(
        at=now,
        error=None,
        positions=positions,
        unrealized=unrealized,
        events=events,
        orders=orders,
        queue_note=queue_note,
        feed=tuple(_feed_lines(feed, tickers)),
        # the positions and exposure checks read each subaccount through a handle of its own
        # (checks/remote.py), never re-scoping `client`, which the kill switch shares
        checks=tuple(_checks(sources, REMOTE_CHECKS, lambda: client, clock)),
        subaccounts=numbers,
        subaccounts_note=subaccounts_note,
    )


def _subaccounts(client: KalshiClient) -> tuple[tuple[int, ...], str | None]:
    """The subaccounts whose positions to read, and why only 0's when that is all: the
    client's own when it acts on one; else every one the account lists (those the key may
    read). An exchange that cannot list them falls back on subaccount 0 with the reason; one
    that does not answer at all is unreachable for every panel (the caller says so)."""
    if client.subaccount is not None:
        return (client.subaccount,), None
    try:
        listed = sorted({b.subaccount for b in client.subaccounts.subaccount_balances()})
    except TransportError:
        raise
    except KalshiError as exc:
        return (0,), f"subaccounts not listed ({exc.one_line()}): subaccount 0's positions only"
    return tuple(listed) or (0,), None


def _positions(
    client: KalshiClient, store: Store | None, numbers: Sequence[int], limit: Decimal | None
) -> tuple[list[tuple[int, PositionRow]], Decimal | None]:
    """(subaccount, row) of every market held on each of `numbers`, each marked against that
    subaccount's own book and resting orders (named even for 0), and their unrealized P&L
    together (None when one is unknown). Each is read through its own handle (`on_subaccount`),
    never by re-scoping `client`, which the kill switch may be using on another thread."""
    from kalshi_cli.services.positions import PositionsView, mark_to_market

    every = PositionsView()
    rows: list[tuple[int, PositionRow]] = []
    for number in numbers:
        one = mark_to_market(client.on_subaccount(number), store, limit=limit)
        every.rows += one.rows
        rows += [(number, r) for r in one.rows]
    return rows, every.unrealized


def _events(client: KalshiClient, numbers: Sequence[int]) -> Iterable[EventLine]:
    """Each event held in two markets or more on each of `numbers`: one held alone is its
    market's row."""
    from kalshi_cli.services.positions import event_rows

    for number in numbers:
        for row in event_rows(client.on_subaccount(number)):
            if len(row.positions) > 1:
                worst = row.outcomes.worst
                yield EventLine(row.event_ticker, len(row.positions), worst.pnl, worst.name, number)


def _queue_positions(
    client: KalshiClient, resting: Sequence[Order]
) -> tuple[dict[str, Decimal], str | None]:
    """Contracts ahead of each resting order, asked for their markets once per subaccount
    they rest on (`queue_positions_of`: the read answers for one subaccount). An exchange
    that cannot say (an error, an older API) leaves every order's place unknown, with why; the
    orders themselves are still shown."""
    if not resting:
        return {}, None
    try:
        tickers = sorted({o.ticker for o in resting})
        return client.orders.queue_positions_of(resting, market_tickers=tickers), None
    except KalshiError as exc:
        return {}, f"queue positions unknown: {exc.one_line()}"


def _order_line(
    order: Order, store: Store | None, queue_ahead: Decimal | None, listed: int
) -> OrderLine:
    """In the trader's words (`traders_terms`: the side its intent named, else its outcome side).
    `listed`: the subaccount of an order that names none (the one the listing was of)."""
    intent, (side, action, price) = _in_traders_terms(
        store, order.client_order_id, order.book_side, order.yes_price
    )
    return OrderLine(
        order_id=order.order_id,
        ticker=order.ticker,
        side=side.value,
        action=action.value,
        price=price,
        remaining=order.remaining_count,
        created=order.created_time or "",
        strategy=intent.strategy if intent is not None else None,
        queue_ahead=queue_ahead,
        subaccount=order.subaccount if order.subaccount is not None else listed,
    )


def _in_traders_terms(
    store: Store | None, client_order_id: str | None, book_side: BookSide, yes_price: Decimal
) -> tuple[IntentRecord | None, tuple[Side, Action, Decimal]]:
    """The state file's record of an order, looked up by its client order id (None: placed
    elsewhere, or no state file), and the order's or its fill's (book side, YES price) in the
    trader's words by it (`traders_terms`): a fill line and an order line name one side."""
    intent = (
        store.orders.get_intent(client_order_id) if store is not None and client_order_id else None
    )
    return intent, traders_terms(book_side, yes_price, intent)


def _feed_lines(feed: DashboardFeed | None, tickers: Sequence[str]) -> Iterable[FeedLine]:
    if feed is None:
        return
    for t in tickers:
        age = feed.data_age(t)
        book = feed.book(t)  # None unless fresh: a stale book is never shown as the market
        yield FeedLine(
            t,
            age if math.isfinite(age) else None,
            feed.is_fresh(t),
            book.best_yes_bid if book is not None else None,
            book.yes_ask if book is not None else None,
        )

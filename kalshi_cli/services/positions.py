"""Positions marked to market, each source trusted for what it knows best: the exchange's
`/portfolio/positions` for the contracts held, the state file's fills and settlements replayed
through `PnlEngine` for costs and realized P&L, and the book's best bid of the held side for the
mark. A disagreement between the state file and the exchange is noted on the row. Each
subaccount is its own book. See docs/pnl.md "`kalshi positions`".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kalshi_cli.client.subaccounts import no_subaccount
from kalshi_cli.services.pnl import MarketPnl, PnlEngine, summarize_store
from kalshi_cli.services.pretrade.holdings import ExchangeHoldings, order_subaccount, views
from kalshi_cli.vocabulary.decisions import Held, PositionView
from kalshi_cli.vocabulary.errors import KalshiError, NotFoundError
from kalshi_cli.vocabulary.models import Orderbook, Position
from kalshi_cli.vocabulary.units import ZERO, fmt_count, fmt_dollars

if TYPE_CHECKING:
    from pathlib import Path

    from kalshi_cli.client import KalshiClient
    from kalshi_cli.client.subaccounts import SubaccountBalance
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.event_outcomes import EventOutcome, EventOutcomes

_USE = Decimal("0.0001")
# how long a read command's catch-up waits for another process's write lock
CATCH_UP_WAIT_S = 2.0
# Differences below this are rounding in the exchange's fixed-point figures, not disagreements.
TOLERANCE = Decimal("0.0001")


# each subaccount read (None: an account of subaccount 0 only) with its positions
Books = list[tuple[int | None, list[Position]]]


def positions_by_subaccount(
    client: KalshiClient,
    subaccount: int | None = None,
    *,
    listing: Sequence[SubaccountBalance] | None = None,
) -> tuple[Books, list[str]]:
    """Each subaccount with its positions: `subaccount` alone when named (an error when the
    exchange does not list it), else every subaccount the exchange lists, for the exchange's
    positions read without one are subaccount 0's alone, while `kalshi trade --subaccount N` holds
    its positions on N. An account with subaccount 0 only is one book numbered None. Each is read
    through its own handle (`client.on_subaccount`). Beside the books, why each subaccount that
    could not be read was not; when none could, the last error is raised. `listing`: the
    exchange's subaccount balances when the caller has read them already, else they are read."""
    if listing is None:
        listing = client.subaccounts.subaccount_balances()
    listed = sorted({b.subaccount for b in listing})
    if subaccount is None:
        numbers = listed
        if numbers in ([], [0]):
            return [(None, client.portfolio.get_positions())], []
    elif subaccount in listed:
        numbers = [subaccount]
    else:
        # the exchange lists an uncreated subaccount's positions as none: that is not "OK"
        raise no_subaccount(subaccount)
    books: Books = []
    unread: list[str] = []
    for number in numbers:
        try:
            books.append((number, client.on_subaccount(number).portfolio.get_positions()))
        except KalshiError as exc:
            if len(unread) + 1 == len(numbers):
                raise
            unread.append(f"subaccount {number} not read: {exc.one_line()}")
    return books, unread


@dataclass(frozen=True)
class Difference:
    """The state file and the exchange disagree about one market figure."""

    ticker: str
    what: str  # position | realized_gross | fees
    ours: Decimal
    exchange: Decimal

    @property
    def delta(self) -> Decimal:
        return self.ours - self.exchange

    def to_json(self) -> dict[str, Any]:
        def fmt(value: Decimal) -> str:
            return fmt_count(value) if self.what == "position" else fmt_dollars(value)

        return {
            "ticker": self.ticker,
            "what": self.what,
            "ours": fmt(self.ours),
            "exchange": fmt(self.exchange),
            "difference": fmt(self.delta),
        }


@dataclass(frozen=True)
class PositionRow(Held):
    ticker: str
    position: Decimal  # signed: + YES, - NO (the exchange's figure when it has one)
    average_entry: Decimal | None
    cost: Decimal
    mark_bid: Decimal | None
    mark_mid: Decimal | None
    unrealized: Decimal | None  # at the best bid
    unrealized_mid: Decimal | None
    realized_gross: Decimal
    fees: Decimal
    exposure: Decimal  # worst-case contracts with every resting order filled
    # `risk.max_position_per_market`: the exposure is held to it, and `kalshi check
    # positions` compares the position with it
    limit: Decimal | None
    differences: tuple[Difference, ...] = ()
    exchange: Position | None = None  # the exchange's own figures for the market

    @property
    def risk_use(self) -> Decimal | None:
        """The position as a share of the limit (1 = at the limit)."""
        if self.limit is None or self.limit <= 0:
            return None
        return self.contracts / self.limit

    @property
    def realized(self) -> Decimal:
        return self.realized_gross - self.fees

    @property
    def over_limit(self) -> bool:
        return self.limit is not None and self.exposure > self.limit

    @property
    def exchange_index(self) -> int | None:
        """The shard the market lives on, as the exchange's position says; None unknown."""
        return None if self.exchange is None else self.exchange.exchange_index

    def to_json(self) -> dict[str, Any]:
        def dollars_or_none(value: Decimal | None) -> str | None:
            return None if value is None else fmt_dollars(value)

        return {
            "ticker": self.ticker,
            "side": self.held_side.value if self.held_side else None,
            "position": fmt_count(self.position),
            "contracts": fmt_count(self.contracts),
            "average_entry": dollars_or_none(self.average_entry),
            "cost": fmt_dollars(self.cost),
            "mark_bid": dollars_or_none(self.mark_bid),
            "mark_mid": dollars_or_none(self.mark_mid),
            "unrealized_pnl": dollars_or_none(self.unrealized),
            "unrealized_pnl_mid": dollars_or_none(self.unrealized_mid),
            "realized_pnl_gross": fmt_dollars(self.realized_gross),
            "fees": fmt_dollars(self.fees),
            "realized_pnl": fmt_dollars(self.realized),
            "exposure": fmt_count(self.exposure),
            "limit": None if self.limit is None else fmt_count(self.limit),
            "over_limit": self.over_limit,
            "differences": [d.to_json() for d in self.differences],
            "exchange": None
            if self.exchange is None
            else {
                "position": fmt_count(self.exchange.position),
                "market_exposure": fmt_dollars(self.exchange.exposure),
                "realized_pnl": fmt_dollars(self.exchange.realized_pnl),
                "fees_paid": fmt_dollars(self.exchange.fees_paid),
                "total_traded": fmt_dollars(self.exchange.total_traded),
            },
            "risk_limit": None if self.limit is None else fmt_count(self.limit),
            "risk_use": None if self.risk_use is None else f"{self.risk_use.quantize(_USE):f}",
            "exchange_index": self.exchange_index,
        }


@dataclass
class PositionsView:
    rows: list[PositionRow] = field(default_factory=list)
    # a paper session's: the state file's positions alone, never compared with the account
    paper: bool = False
    # disagreements about markets now flat (closed out or settled), which have no row
    flat_differences: list[Difference] = field(default_factory=list)

    @property
    def unrealized(self) -> Decimal | None:
        values = [r.unrealized for r in self.rows]
        if any(v is None for v in values):
            return None
        return sum((v for v in values if v is not None), ZERO)

    @property
    def differences(self) -> list[Difference]:
        return [d for r in self.rows for d in r.differences] + self.flat_differences

    def to_json(self) -> dict[str, Any]:
        unrealized = self.unrealized
        return {
            "positions": [r.to_json() for r in self.rows],
            "count": len(self.rows),
            "unrealized_pnl": None if unrealized is None else fmt_dollars(unrealized),
            "cost": fmt_dollars(sum((r.cost for r in self.rows), ZERO)),
            "paper": self.paper,
        }


def build_engine(store: Store, subaccount: int = 0) -> PnlEngine:
    """Replay one subaccount's whole history (average cost) and keep only the end state."""
    return summarize_store(store, subaccount=subaccount).engine


def cross_check(
    market: MarketPnl | None, position: Position | None, ticker: str
) -> tuple[Difference, ...]:
    """Our replayed figures against the exchange's for one market it lists."""
    if position is None:
        return ()
    ours = market or MarketPnl(ticker)
    out = []
    for what, mine, theirs in (
        ("position", ours.position, position.position),
        ("realized_gross", ours.realized_gross, position.realized_pnl),
        ("fees", ours.fees, position.fees_paid),
    ):
        if abs(mine - theirs) > TOLERANCE:
            out.append(Difference(ticker, what, mine, theirs))
    return tuple(out)


def build_row(
    ticker: str,
    *,
    market: MarketPnl | None,
    position: Position | None,
    book: Orderbook | None,
    counted: PositionView | None,
    limit: Decimal | None,
) -> PositionRow:
    """`counted`: the market's position and resting orders as its limit counts them
    (`PositionView.worst_either_way` is the row's exposure); None: the position alone."""
    ours = market or MarketPnl(ticker)
    # the exchange lists every market it holds contracts in: absent means flat
    signed = position.position if position is not None else ZERO
    differences = cross_check(market, position, ticker)
    if position is None and ours.position != 0:
        differences += (Difference(ticker, "position", ours.position, ZERO),)
    return _replayed_row(
        ours, held=signed, book=book,
        exposure=counted.worst_either_way() if counted is not None else abs(signed),
        limit=limit, exchange=position, differences=differences,
    )  # fmt: skip


def _replayed_row(
    ours: MarketPnl,
    *,
    held: Decimal,
    book: Orderbook | None,
    exposure: Decimal,
    limit: Decimal | None,
    exchange: Position | None = None,
    differences: tuple[Difference, ...] = (),
) -> PositionRow:
    """The row of a market whose replayed history is `ours`, `held` contracts held (the
    exchange's count; a paper session's own). Its mark and unrealized P&L come from our cost
    basis, which is only meaningful when it covers the contracts held: otherwise the cost is
    the exchange's and there is no mark."""
    basis_ok = ours.position == held
    bid, mid = ours.mark(book) if basis_ok else (None, None)
    return PositionRow(
        ticker=ours.ticker,
        position=held,
        average_entry=ours.average_entry if basis_ok else None,
        cost=ours.basis if basis_ok else (exchange.exposure if exchange else ZERO),
        mark_bid=bid,
        mark_mid=mid,
        unrealized=ours.unrealized(bid) if basis_ok else None,
        unrealized_mid=ours.unrealized(mid) if basis_ok else None,
        realized_gross=ours.realized_gross,
        fees=ours.fees,
        exposure=exposure,
        limit=limit,
        differences=differences,
        exchange=exchange,
    )


def mark_to_market(
    client: KalshiClient,
    store: Store | None,
    *,
    ticker: str | None = None,
    event_ticker: str | None = None,
    limit: Decimal | None = None,
    engine: PnlEngine | None = None,
    include_flat: bool = False,
    paper: bool = False,
) -> PositionsView:
    """One row per market held (by the exchange's subaccount or the state file's replay of it:
    the client's subaccount, else 0, the exchange's default for positions).

    `engine` is that subaccount's replayed history when the caller already has it (`kalshi
    pnl`). A paper session's state file (`paper`, or `store.paper`) holds no position of the
    account's: its rows are its own replay alone, marked at the book (`paper_view`)."""
    if paper or (store is not None and store.paper):
        if engine is None:
            engine = build_engine(store, client.subaccount or 0) if store else PnlEngine()
        return paper_view(
            client, engine, ticker=ticker, event_ticker=event_ticker, limit=limit
        )  # fmt: skip
    # the client's subaccount, else its key's restriction, else 0 (None: not known)
    number = order_subaccount(client)
    if engine is None:
        book = number or 0
        engine = build_engine(store, book) if store is not None else PnlEngine()
    listed = _listed(client, ticker, event_ticker, include_flat)
    positions = {p.ticker: p for p in listed if p.position != 0}
    flat = [p for p in listed if p.position == 0]
    # the resting orders of the same subaccount as the positions: a listing that names none
    # covers every subaccount's (openapi.yaml 3.31.0), which would count another subaccount's
    # bids in this one's exposure; named, the exchange filters them, whether or not it names
    # each order's subaccount (it does so to direct members only)
    # (not known: read unnamed, which counts every subaccount's orders, never fewer)
    own = client if number is None else client.on_subaccount(number)
    resting = list(
        own.orders.iter_orders(ticker=ticker, event_ticker=event_ticker, status="resting")
    )
    counted = views(ExchangeHoldings(list(positions.values()), resting, []))
    tickers = set(positions)
    if event_ticker is None:
        tickers |= _stray(engine, ticker)
    view = PositionsView()
    for p in flat:
        if p.ticker not in tickers:
            view.flat_differences.extend(cross_check(engine.markets.get(p.ticker), p, p.ticker))
    for t in sorted(tickers):
        view.rows.append(
            build_row(
                t,
                market=engine.markets.get(t),
                position=positions.get(t),
                book=_book(client, t),
                counted=counted.get(t),
                limit=limit,
            )
        )
    return view


def _listed(
    client: KalshiClient, ticker: str | None, event_ticker: str | None, include_flat: bool
) -> list[Position]:
    """The exchange's positions, with the historical tier's when `include_flat`."""
    listed = client.portfolio.get_positions(
        ticker=ticker, event_ticker=event_ticker, include_flat=include_flat
    )
    if include_flat:
        # settled events hand their positions over to the historical tier whole; read after
        # the live listing, an event moving meanwhile is listed twice, never missed
        known = {p.ticker for p in listed}
        archived = client.historical.iter_historical_positions(
            ticker=ticker, event_ticker=event_ticker
        )
        listed += [p for p in archived if p.ticker not in known]
    return listed


def _stray(engine: PnlEngine, ticker: str | None) -> set[str]:
    """Open in the state file but not on the exchange: shown so the difference is seen."""
    return {t for t, m in engine.markets.items() if m.position != 0 and ticker in (None, t)}


def paper_view(
    client: KalshiClient,
    engine: PnlEngine,
    *,
    ticker: str | None = None,
    event_ticker: str | None = None,
    limit: Decimal | None = None,
) -> PositionsView:
    """A paper session's positions: the state file's replay alone, marked at the exchange's
    public book. The account's positions and resting orders are another book's, so none is
    read and nothing is compared with them; the exposure is the position (the session's
    resting orders were its venue's, gone with its process)."""
    view = PositionsView(paper=True)
    for t, ours in sorted(engine.markets.items()):
        # a market's ticker starts with its event's (KXEVENT-26JAN01-T50 of KXEVENT-26JAN01)
        wanted = ticker in (None, t) and (event_ticker is None or t.startswith(f"{event_ticker}-"))
        if ours.position == 0 or not wanted:
            continue
        row = _replayed_row(
            ours, held=ours.position, book=_book(client, t), exposure=abs(ours.position),
            limit=limit,
        )  # fmt: skip
        view.rows.append(row)
    return view


@dataclass
class CaughtUp:
    """The state file after a read command's catch-up (`reconcile.catch_up`): `store` (None when
    there is no file: a read command never creates one) and, when it could not be written, why
    (the figures may then lag the exchange).
    `paper`: a paper session's state file, read as it is (`open_caught_up`)."""

    store: Store | None
    stale_because: str | None = None
    paper: bool = False

    def advice(self) -> str:
        """What to say after a difference with the exchange: only what could close it."""
        if self.store is None and self.stale_because is None:
            return (
                "there is no state file yet (a read command makes none): `kalshi reconcile` "
                "makes it and brings in every fill"
            )
        if self.stale_because is not None:
            return f"the state file could not be brought up to date: {self.stale_because}"
        return (
            "the state file has every fill and settlement the exchange lists now; a fill "
            "listed a moment late is counted on the next run, older ones the exchange keeps "
            "only in its historical tier are not"
        )


def open_caught_up(path: Path, client: KalshiClient, *, now: float) -> CaughtUp:
    """Open the state file at `path` for a read command and bring in the fills and settlements it
    lacks first. A missing file stays missing; one that cannot be written is read as it is, and
    `stale_because` says why. An exchange error propagates. A paper session's state file is read
    as it is: the account's fills are another book's."""
    from kalshi_cli.services.reconcile import catch_up
    from kalshi_cli.store import Store, StoreError
    from kalshi_cli.store.paper import is_paper_state

    if is_paper_state(path):
        return CaughtUp(Store.open_readonly(path), paper=True)
    if not path.exists():
        return CaughtUp(Store.open_readonly(path))
    try:
        store = Store.open(path, create=False)
    except StoreError as exc:
        if not _unwritable(exc):
            raise
        return CaughtUp(Store.open_readonly(path), stale_because=exc.one_line())
    try:
        # a writer (the trade loop) holds the lock for milliseconds; one that holds it longer
        # is not waited for the 10 s a write waits: the figures are shown as they are
        with store.busy_timeout(CATCH_UP_WAIT_S):
            catch_up(client, store, now=now)
    except StoreError as exc:
        store.close()
        if not _unwritable(exc):
            raise
        return CaughtUp(Store.open_readonly(path), stale_because=exc.one_line())
    except BaseException:
        store.close()
        raise
    return CaughtUp(store)


def _unwritable(exc: Exception) -> bool:
    """A state file that is fine to read but cannot be written now (never one that is not a
    state file: that is refused, exit 17)."""
    text = str(exc).lower()
    return any(w in text for w in ("readonly", "read-only", "permission", "locked", "unable"))


def _book(client: KalshiClient, ticker: str) -> Orderbook | None:
    try:
        return client.markets.get_orderbook(ticker, depth=1)
    except NotFoundError:
        return None


@dataclass(frozen=True)
class EventRow:
    """One event the account holds positions in (`kalshi positions --by event`): its markets'
    positions at what they cost (the exchange's `market_exposure_dollars` and the fees paid,
    `fees_paid_dollars`), their worst and best case at settlement by the one rule
    (vocabulary/event_outcomes.py; a market of the event settled keeps only the outcomes that
    agree with its result), and what the exchange holds against them (`event_exposure_dollars`,
    None: not listed)."""

    event_ticker: str
    collateral_return_type: str
    positions: tuple[Position, ...]
    outcomes: EventOutcomes
    exchange_exposure: Decimal | None

    @property
    def cost(self) -> Decimal:
        return sum((held_cost(p) for p in self.positions), ZERO)

    def to_json(self) -> dict[str, Any]:
        def case(outcome: EventOutcome) -> dict[str, str]:
            return {"pnl": fmt_dollars(outcome.pnl), "outcome": outcome.name}

        exposure = self.exchange_exposure
        return {
            "event_ticker": self.event_ticker,
            "collateral_return_type": self.collateral_return_type,
            "rule": self.outcomes.rule,
            "markets": [
                {"ticker": p.ticker, "position": fmt_count(p.position)} for p in self.positions
            ],
            "cost": fmt_dollars(self.cost),
            "worst_case": case(self.outcomes.worst),
            "best_case": case(self.outcomes.best),
            "event_exposure_dollars": None if exposure is None else fmt_dollars(exposure),
        }


def held_cost(position: Position) -> Decimal:
    """What a position held cost: its `market_exposure_dollars` and the fees paid in its
    market (`fees_paid_dollars`), which every outcome of its event has paid."""
    return position.exposure + position.fees_paid


def event_rows(
    client: KalshiClient,
    *,
    event_ticker: str | None = None,
    positions: Sequence[Position] | None = None,
) -> list[EventRow]:
    """The account's positions by event, of the subaccount `mark_to_market` reads (`positions`:
    those read of it already): the markets held read in one listing (100 a request), each
    event's terms once."""
    from kalshi_cli.client.markets import BATCH_MAX
    from kalshi_cli.services.pretrade.events import EventReader
    from kalshi_cli.vocabulary.decisions import PositionView

    number = order_subaccount(client)
    own = client if number is None else client.on_subaccount(number)
    held: dict[str, list[Position]] = {}
    raws: dict[str, dict[str, dict[str, Any]]] = {}
    if positions is None:
        positions = own.portfolio.get_positions(event_ticker=event_ticker)
    tickers = [p.ticker for p in positions]
    found = {
        m.ticker: m
        for at in range(0, len(tickers), BATCH_MAX)
        for m in client.markets.iter_markets(tickers=tickers[at : at + BATCH_MAX])
    }
    for p in positions:
        market = found.get(p.ticker) or client.markets.get_market(p.ticker)
        held.setdefault(market.event_ticker, []).append(p)
        raws.setdefault(market.event_ticker, {})[p.ticker] = market.raw
    listed = {e.event_ticker: e.exposure for e in own.portfolio.get_event_positions()}
    views = {
        p.ticker: PositionView(p.ticker, p.position, entry_cost=held_cost(p))
        for in_event in held.values()
        for p in in_event
    }
    # each event read by the one reader of `GET /events`, as an order's is
    reader = EventReader(client.markets, unknown="no worst case by event is shown")
    rows = []
    for name, in_event in sorted(held.items()):
        # what is held, at its cost and the fees paid: no order counted, no fee still to pay;
        # the event's markets settled, held or not, with their results
        terms = reader.terms(name, lambda t: None, raws[name])
        outcomes = terms.book(lambda t: views.get(t, PositionView(t))).outcomes()
        rows.append(EventRow(name, terms.kind, tuple(in_event), outcomes, listed.get(name)))
    return rows

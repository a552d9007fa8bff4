"""Profit and loss from fills and settlements, by average cost, exact to the last digit.

Positions are netted as Kalshi nets them (a YES buy first closes NO held). A close releases the cost
basis by average cost; settlement closes a position at what a contract paid; fees are expensed when
paid (`realized_net = realized_gross - fees`); unrealized P&L marks open contracts at the held
side's best bid. One arithmetic, `move` and `settle_holding`, serves every figure over a number type
and its `Units` (Decimal, or exact fixed-unit integers for the million-fill pass of `kalshi pnl`).
`PnlEngine` feeds events one at a time; `summarize_store` streams a state file. docs/pnl.md "Method:
average cost" and "The engine".
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from kalshi_cli.vocabulary.clock import parse_iso, utc_day
from kalshi_cli.vocabulary.models import FEE_QUANTUM, is_market_result
from kalshi_cli.vocabulary.units import ONE, ZERO, BookSide, fmt_exact_dollars, to_micro_dollars

if TYPE_CHECKING:
    from kalshi_cli.store import FillRecord, SettlementRecord, Store
    from kalshi_cli.vocabulary.models import Fill, Orderbook, Settlement


def fill_time(fill: Fill) -> float | None:
    """When the fill happened, in unix seconds; None when it says neither `created_time` nor
    `ts` (the spec requires neither). `created_time` first: it has milliseconds, and fills
    within one second must keep their order (average cost is path dependent); `ts` is whole
    seconds."""
    if fill.created_time:
        return parse_iso(fill.created_time).timestamp()
    return None if fill.ts is None else float(fill.ts)


def fill_record_from_api(
    fill: Fill,
    *,
    read_at: float,
    client_order_id: str | None = None,
    strategy: str | None = None,
    subaccount: int | None = None,
) -> FillRecord:
    """The state file's record of an exchange fill. Its subaccount is the one the fill names
    (`subaccount_number`, sent to direct members), else `subaccount` (its order's), else 0
    (the primary, the spec's default). Its time is the fill's own, else (the spec makes both
    `created_time` and `ts` optional) `read_at`, the wall time of the read that brought it:
    the latest it can have happened, and the day its P&L counts in (the daily loss limit)."""
    from kalshi_cli.store import FillRecord

    ts = fill_time(fill)
    return FillRecord(
        fill_id=fill.fill_id,
        order_id=fill.order_id,
        client_order_id=client_order_id,
        ticker=fill.ticker,
        book_side=fill.book_side,
        yes_price=fill.yes_price,
        count=fill.count,
        fee=fill.fee,
        is_taker=fill.is_taker,
        ts=read_at if ts is None else ts,
        strategy=strategy,
        realized_pnl=None,
        subaccount=fill_subaccount(fill, subaccount),
    )


def fill_subaccount(fill: Fill, default: int | None = None) -> int:
    """The subaccount an exchange fill is on: its `subaccount_number`, else `default`, else 0."""
    if fill.subaccount is not None:
        return fill.subaccount
    return 0 if default is None else default


def settlement_record_from_api(s: Settlement, subaccount: int | None = 0) -> SettlementRecord:
    """`subaccount`: the one the listing was made for (the Settlement names none)."""
    from kalshi_cli.store import SettlementRecord

    settled_at = parse_iso(s.settled_time).timestamp()  # never empty (models.Settlement)
    return SettlementRecord(
        ticker=s.ticker,
        event_ticker=s.event_ticker,
        result=s.market_result,
        yes_count=s.yes_count,
        no_count=s.no_count,
        yes_total_cost=s.yes_total_cost,
        no_total_cost=s.no_total_cost,
        revenue=s.revenue,
        fee=s.fee,
        settled_at=settled_at,
        subaccount=subaccount,
    )


N = TypeVar("N", int, Decimal)

# ---------------------------------------------------------------------------------- units


class _Inexact(Exception):
    """A value finer than the fixed-point unit: the pass goes on in Decimal."""


@dataclass(frozen=True)
class Units(Generic[N]):
    """A number type for money and counts, and the few operations that differ between them."""

    zero: N
    dollar: N  # $1.00 in price units
    price: Callable[[str | Decimal], N]  # a price or a per-contract payout
    count: Callable[[str | Decimal], N]
    amount: Callable[[str | Decimal], N]  # a fee (price x count is an amount too)
    release: Callable[[N, N, N], N]  # basis x closed / held, to 1e-6 dollars, half even
    fee_share: Callable[[N, N, N], N]  # fee x part / whole, to `FEE_QUANTUM`, half even
    dollars: Callable[[N], Decimal]  # an amount in dollars, exact
    contracts: Callable[[N], Decimal]  # a count in contracts, exact


def _fixed(scale: int) -> Callable[[str | Decimal], int]:
    def parse(value: str | Decimal) -> int:
        scaled = Decimal(value).scaleb(scale)
        units = int(scaled)
        if units != scaled:
            raise _Inexact(value)
        return units

    return parse


def _unfixed(scale: int) -> Callable[[int], Decimal]:
    return lambda units: Decimal(units).scaleb(-scale)


_PRICE_SCALE = 6  # 1e-6 dollars: Kalshi sends 4-decimal prices, 6-decimal fee strings
_COUNT_SCALE = 2  # 1e-2 contracts: fractional counts have 2 decimals
_AMOUNT_SCALE = _PRICE_SCALE + _COUNT_SCALE  # price x count, basis, P&L, fees: 1e-8 dollars


def _fixed_share(unit: int) -> Callable[[int, int, int], int]:
    """amount x part / whole in amount units, rounded half even to a multiple of `unit`."""

    def share(amount: int, part: int, whole: int) -> int:
        denominator = whole * unit
        q, r = divmod(amount * part, denominator)
        if 2 * r > denominator or (2 * r == denominator and q % 2 == 1):
            q += 1
        return q * unit

    return share


def _decimal_share(quantum: Decimal) -> Callable[[Decimal, Decimal, Decimal], Decimal]:
    return lambda amount, part, whole: (amount * part / whole).quantize(
        quantum, rounding=ROUND_HALF_EVEN
    )


FIXED: Units[int] = Units(
    zero=0,
    dollar=10**_PRICE_SCALE,
    price=_fixed(_PRICE_SCALE),
    count=_fixed(_COUNT_SCALE),
    amount=_fixed(_AMOUNT_SCALE),
    release=_fixed_share(10 ** (_AMOUNT_SCALE - 6)),  # to 1e-6 dollars
    fee_share=_fixed_share(int(FEE_QUANTUM.scaleb(_AMOUNT_SCALE))),
    dollars=_unfixed(_AMOUNT_SCALE),
    contracts=_unfixed(_COUNT_SCALE),
)
DECIMAL: Units[Decimal] = Units(
    zero=ZERO,
    dollar=ONE,
    price=Decimal,
    count=Decimal,
    amount=Decimal,
    release=lambda amount, part, whole: to_micro_dollars(amount * part / whole),
    fee_share=_decimal_share(FEE_QUANTUM),
    dollars=lambda value: value,
    contracts=lambda value: value,
)


# ---------------------------------------------------------------------------- arithmetic


class PositionAndBasis(Protocol[N]):
    """What the arithmetic needs of a market: its netted position and the cost of it."""

    position: N  # + YES, - NO
    basis: N  # what was paid for the open contracts


def move(h: PositionAndBasis[N], count: N, cost: N, units: Units[N]) -> N:
    """The one average-cost step every P&L figure comes from: a fill of `count` contracts
    (positive buys YES, negative buys NO) at `cost` a contract of the side bought (the YES price,
    or $1 less it for NO). It closes the opposite side first, releasing basis by average cost,
    and opens the rest. Returns the realized gross of the close (zero if none): the contracts
    closed sold at $1 less `cost` (selling YES at p is buying NO at 1 - p), less the basis
    released."""
    position = h.position
    if count > 0:
        if position >= 0:
            h.basis += count * cost
            h.position = position + count
            return units.zero
        bought, held = count, -position
    else:
        if position <= 0:
            h.basis -= count * cost
            h.position = position + count
            return units.zero
        bought, held = -count, position
    basis = h.basis
    if bought >= held:
        closed, released = held, basis
    else:
        closed, released = bought, units.release(basis, bought, held)
    h.basis = basis - released + (bought - closed) * cost
    h.position = position + count
    return closed * (units.dollar - cost) - released


def fill_move(buying_yes: bool, price: N, count: N, units: Units[N]) -> tuple[N, N]:
    """A fill by its side and YES price as `move`'s (signed count, cost)."""
    return (count, price) if buying_yes else (-count, units.dollar - price)


def settle_holding(h: PositionAndBasis[N], yes_paid: N | None, units: Units[N]) -> N:
    """Close the whole holding at `yes_paid` a YES contract (1 - it a NO one), or at its cost
    when None (a void result). Returns the realized gross (the caller adds it)."""
    if h.position == 0:
        return units.zero
    held = abs(h.position)
    payout = (
        h.basis
        if yes_paid is None
        else held * (yes_paid if h.position > 0 else units.dollar - yes_paid)
    )
    gross = payout - h.basis
    h.position = units.zero
    h.basis = units.zero
    return gross


def yes_paid(result: str, yes_value: Decimal | None) -> Decimal | None:
    """What one YES contract paid at settlement; None when the cost comes back (void, or a
    scalar result whose value is not known). `yes_value` is the settlement record's own figure
    (a floored market's floor, a scalar result's value), if any."""
    if not is_market_result(result):
        return None
    if yes_value is not None:
        return yes_value
    return {"yes": ONE, "no": ZERO}.get(result)


R_co = TypeVar("R_co", covariant=True)


class Settles(Protocol[R_co]):
    """What books a settlement by its terms: `PnlEngine.apply_settlement`, `PositionBook.settle`
    (services/owner_parts.py), the loop's `Portfolio.apply_settlement`."""

    def __call__(
        self, ticker: str, result: str, *, ts: float, fee: Decimal, yes_value: Decimal | None
    ) -> R_co: ...


def settle_record(settle: Settles[R_co], record: SettlementRecord) -> R_co:
    """A settlement as the state file keeps it, booked by `settle`: the one reading of a record's
    terms (its market, result, time and fee, and what a YES contract paid, `yes_value`)."""
    return settle(
        record.ticker,
        record.result,
        ts=record.settled_at,
        fee=record.fee,
        yes_value=record.yes_value,
    )


# ------------------------------------------------------------------- settlement merge


class SettlementQueue:
    """Settlements waiting for their moment in a stream of fills in time order.

    The one rule every consumer follows: a settlement is applied before the first fill at or
    after its time (`settled_at <= fill ts`); settlements of one moment keep the store's order;
    those after the last fill come last. `next_at` lets a hot loop skip the queue with one
    comparison per fill."""

    def __init__(self, settlements: Iterable[SettlementRecord]) -> None:
        self._pending = sorted(settlements, key=lambda s: s.settled_at)
        self._i = 0
        self.next_at = self._pending[0].settled_at if self._pending else math.inf

    def due(self, ts: float) -> list[SettlementRecord]:
        """The settlements to apply before a fill at `ts` (all of them, not one)."""
        start = i = self._i
        while i < len(self._pending) and self._pending[i].settled_at <= ts:
            i += 1
        self._i = i
        self.next_at = self._pending[i].settled_at if i < len(self._pending) else math.inf
        return self._pending[start:i]

    def rest(self) -> list[SettlementRecord]:
        """What is left after the last fill."""
        rest, self._i, self.next_at = self._pending[self._i :], len(self._pending), math.inf
        return rest


def book_settlements(
    settlements: Iterable[SettlementRecord], subaccount: int
) -> list[SettlementRecord]:
    """The settlements of one subaccount's book: its own (the exchange lists one per subaccount
    that held the market), and those copied before the state file kept whose each is (None),
    which settle whatever this book holds of their market."""
    return [s for s in settlements if s.subaccount in (subaccount, None)]


def book_history(
    store: Store, subaccount: int, ticker: str | None = None, since: float | None = None
) -> Iterator[FillRecord | SettlementRecord]:
    """One subaccount's book as the state file keeps it, `ticker`'s alone if given, from
    `since` on if given: its fills and settlements in time order, as a restart books them."""
    fills = store.fills.iter_fills(subaccount=subaccount, ticker=ticker, since=since)
    settlements = book_settlements(store.settlements.read(ticker=ticker, since=since), subaccount)
    return merge_settlements(fills, settlements)


def merge_settlements(
    fills: Iterable[FillRecord], settlements: Iterable[SettlementRecord]
) -> Iterator[FillRecord | SettlementRecord]:
    """Fills (in time order, as the store streams them) and settlements as one stream of events,
    by `SettlementQueue`'s rule."""
    queue = SettlementQueue(settlements)
    for f in fills:
        if f.ts >= queue.next_at:
            yield from queue.due(f.ts)
        yield f
    yield from queue.rest()


# ------------------------------------------------------------------ the Decimal engine


@dataclass
class MarketPnl:
    ticker: str
    position: Decimal = ZERO  # + YES, - NO
    basis: Decimal = ZERO  # dollars paid for the open contracts
    realized_gross: Decimal = ZERO
    fees: Decimal = ZERO
    fills: int = 0
    settled: bool = False

    @property
    def realized(self) -> Decimal:
        return self.realized_gross - self.fees

    @property
    def average_entry(self) -> Decimal | None:
        if self.position == 0:
            return None
        return to_micro_dollars(self.basis / abs(self.position))

    def mark(self, book: Orderbook | None) -> tuple[Decimal | None, Decimal | None]:
        """(best bid of the held side, mid in that side's terms), or None where unknown."""
        if self.position == 0 or book is None:
            return None, None
        if self.position > 0:
            bid = book.best_yes_bid[0] if book.best_yes_bid else None
            mid = book.mid
        else:
            bid = book.best_no_bid[0] if book.best_no_bid else None
            mid = ONE - book.mid if book.mid is not None else None
        return bid, mid

    def unrealized(self, mark_price: Decimal | None) -> Decimal | None:
        if self.position == 0:
            return ZERO
        if mark_price is None:
            return None
        return abs(self.position) * mark_price - self.basis


@dataclass(frozen=True)
class Realization:
    ts: float
    ticker: str
    gross: Decimal
    fee: Decimal
    strategy: str | None
    is_settlement: bool = False

    @property
    def net(self) -> Decimal:
        return self.gross - self.fee


@dataclass
class PnlEngine:
    """Feed fills and settlements in time order; read positions and realized P&L. Decimal, one
    event at a time: what the trade loop keeps up to date as its fills arrive."""

    markets: dict[str, MarketPnl] = field(default_factory=dict)

    def market(self, ticker: str) -> MarketPnl:
        m = self.markets.get(ticker)
        if m is None:
            m = self.markets[ticker] = MarketPnl(ticker)
        return m

    def apply_fill(
        self,
        ticker: str,
        book_side: BookSide,
        yes_price: Decimal,
        count: Decimal,
        fee: Decimal,
        *,
        ts: float = 0.0,
        strategy: str | None = None,
    ) -> Realization:
        m = self.market(ticker)
        m.fills += 1
        m.fees += fee
        signed, cost = fill_move(book_side is BookSide.BID, yes_price, count, DECIMAL)
        gross = move(m, signed, cost, DECIMAL)
        m.realized_gross += gross
        return Realization(ts, ticker, gross, fee, strategy)

    def apply_settlement(
        self,
        ticker: str,
        result: str,
        *,
        ts: float = 0.0,
        fee: Decimal = ZERO,
        yes_value: Decimal | None = None,
    ) -> Realization:
        """Close the whole position at what each contract paid: `yes_value` a YES contract
        and 1 - `yes_value` a NO one (a floored market pays YES at least its floor); without
        it, $1 to the winning side and $0 to the other. `void` keeps cost."""
        m = self.market(ticker)
        gross = settle_holding(m, yes_paid(result, yes_value), DECIMAL)
        m.realized_gross += gross
        m.fees += fee
        m.settled = True
        return Realization(ts, ticker, gross, fee, None, is_settlement=True)

    def settle(self, s: SettlementRecord) -> Realization:
        return settle_record(self.apply_settlement, s)

    def fill(self, f: FillRecord) -> Realization:
        return self.apply_fill(
            f.ticker, f.book_side, f.yes_price, f.count, f.fee, ts=f.ts, strategy=f.strategy
        )

    # ------------------------------------------------------------------ totals

    @property
    def realized_gross(self) -> Decimal:
        return sum((m.realized_gross for m in self.markets.values()), ZERO)

    @property
    def fees(self) -> Decimal:
        return sum((m.fees for m in self.markets.values()), ZERO)

    @property
    def realized(self) -> Decimal:
        return self.realized_gross - self.fees


def replay_into(
    engine: PnlEngine, fills: Iterable[FillRecord], settlements: Iterable[SettlementRecord]
) -> Iterator[Realization]:
    """Every event of the history through `engine`, settlements merged in by time."""
    from kalshi_cli.store import SettlementRecord

    for event in merge_settlements(fills, settlements):
        yield engine.settle(event) if isinstance(event, SettlementRecord) else engine.fill(event)


def realized_per_fill(
    fills: Iterable[FillRecord], settlements: Iterable[SettlementRecord]
) -> Iterator[tuple[FillRecord, Realization]]:
    """Each fill with the realized event it caused, settlements merged in by time (their own
    events are not yielded). `fills` in time order, as the store streams them."""
    from kalshi_cli.store import SettlementRecord

    engine = PnlEngine()
    for event in merge_settlements(fills, settlements):
        if isinstance(event, SettlementRecord):
            engine.settle(event)
        else:
            yield event, engine.fill(event)


# ----------------------------------------------------------------------- the summary


GROUPINGS = ("market", "day")


@dataclass
class Bucket:
    """Realized P&L of one group (a market or a UTC day)."""

    gross: Decimal = ZERO
    fees: Decimal = ZERO
    fills: int = 0
    settlements: int = 0

    @property
    def net(self) -> Decimal:
        return self.gross - self.fees

    def to_json(self) -> dict[str, Any]:
        return {
            "realized_gross": fmt_exact_dollars(self.gross),
            "fees": fmt_exact_dollars(self.fees),
            "realized": fmt_exact_dollars(self.net),
            "fills": self.fills,
            "settlements": self.settlements,
        }


@dataclass
class PnlSummary:
    """Realized P&L totals and per-group buckets (`groups["market" | "day"]`).

    `engine` holds the positions after the whole history, of the one book summarized;
    `realized`, `realized_gross` and `fees` count only the events at or after `since`.
    """

    _engine: PnlEngine | None  # None: the account of several books (`add_books`)
    groups: dict[str, dict[str, Bucket]]
    # each subaccount's positions, when summarized from a state file (`summarize_store`):
    # every subaccount is its own book
    books: dict[int, PnlEngine] = field(default_factory=dict)
    # what each owner's own part realized, when booked in the pass (`summarize_store`'s `parts`)
    by_owner: dict[str, Decimal] | None = None

    @property
    def engine(self) -> PnlEngine:
        """The positions of the one book summarized. An account of several subaccounts has
        none: a market held YES on one and NO on another is two positions (`book`), and a
        sum of them is no position the exchange holds (so nothing is netted by mistake)."""
        if self._engine is None:
            raise ValueError(
                "the P&L of several subaccounts has one set of positions per subaccount: "
                "read book(n)"
            )
        return self._engine

    def book(self, subaccount: int) -> PnlEngine:
        """One subaccount's positions (empty when it has no fills)."""
        return self.books.get(subaccount) or PnlEngine()

    def _total(self) -> Bucket:
        """The realized figures over every market: what the totals print."""
        total = Bucket()
        for bucket in self.groups["market"].values():
            total.gross += bucket.gross
            total.fees += bucket.fees
        return total

    @property
    def realized_gross(self) -> Decimal:
        return self._total().gross

    @property
    def fees(self) -> Decimal:
        return self._total().fees

    @property
    def realized(self) -> Decimal:
        return self._total().net

    def to_json(self) -> dict[str, Any]:
        total = self._total()
        return {
            "method": "average_cost",
            "realized_gross": fmt_exact_dollars(total.gross),
            "fees": fmt_exact_dollars(total.fees),
            "realized": fmt_exact_dollars(total.net),
            **{
                f"by_{name}": {k: v.to_json() for k, v in sorted(self.groups[name].items())}
                for name in GROUPINGS
            },
        }


FillRow = tuple[str, str, "str | Decimal", "str | Decimal", "str | Decimal", float]
"""(ticker, book_side, yes_price, count, fee, ts): what `Store.iter_fill_rows` streams
(money and counts as their canonical text), or the same from FillRecords (as Decimals)."""

CellKey = tuple[int, str]
"""(UTC day number, ticker): the finest grouping, rolled up into the two."""


@dataclass(slots=True)
class Tally(Generic[N]):
    """One market's running figures in the summary's units."""

    position: N
    basis: N
    realized_gross: N
    fees: N
    fills: int = 0
    settled: bool = False


@dataclass(slots=True)
class Cell(Generic[N]):
    """Realized P&L of one (day, market) counted so far."""

    gross: N
    fees: N
    fills: int = 0
    settlements: int = 0


class _Pass(Generic[N]):
    """The running state of one summary pass: each market's tally and the counted cells."""

    def __init__(self, units: Units[N], since: float | None) -> None:
        self.units: Units[N] = units
        self.cutoff = -math.inf if since is None else since
        self.markets: dict[str, Tally[N]] = {}
        self.cells: dict[CellKey, Cell[N]] = {}
        # parsed values by their text: a history repeats a few hundred prices, counts and fees
        self.prices: dict[str | Decimal, N] = {}
        self.counts: dict[str | Decimal, N] = {}
        self.amounts: dict[str | Decimal, N] = {}

    def tally(self, ticker: str) -> Tally[N]:
        t = self.markets.get(ticker)
        if t is None:
            zero = self.units.zero
            t = self.markets[ticker] = Tally(zero, zero, zero, zero)
        return t

    def cell(self, key: CellKey) -> Cell[N]:
        c = self.cells.get(key)
        if c is None:
            c = self.cells[key] = Cell(self.units.zero, self.units.zero)
        return c

    def run(self, rows: Iterator[FillRow], queue: SettlementQueue) -> FillRow | None:
        """Apply fills in order, each after the settlements due before it, until they run out
        (None) or one holds a value these units cannot (that fill, not applied).

        The hot loop of `kalshi pnl`: what it looks up more than once is held in locals."""
        units, cutoff, cell = self.units, self.cutoff, self.cell
        prices, counts, amounts = self.prices, self.counts, self.amounts
        markets, cells = self.markets, self.cells
        for row in rows:
            ticker, side, price_text, count_text, fee_text, ts = row
            if ts >= queue.next_at:
                for s in queue.due(ts):
                    self.settle(s)
            try:
                price = prices.get(price_text)
                if price is None:
                    price = prices[price_text] = units.price(price_text)
                count = counts.get(count_text)
                if count is None:
                    count = counts[count_text] = units.count(count_text)
                fee = amounts.get(fee_text)
                if fee is None:
                    fee = amounts[fee_text] = units.amount(fee_text)
            except _Inexact:
                return row
            t = markets.get(ticker) or self.tally(ticker)
            t.fees += fee
            t.fills += 1
            signed, cost = fill_move(side == "bid", price, count, units)
            gross = move(t, signed, cost, units)
            t.realized_gross += gross
            if ts >= cutoff:
                key = (int(ts // 86_400), ticker)
                c = cells.get(key) or cell(key)
                c.gross += gross
                c.fees += fee
                c.fills += 1
        return None

    def settle(self, s: SettlementRecord) -> None:
        paid = yes_paid(s.result, s.yes_value)
        yes = None if paid is None else self.units.price(paid)
        fee = self.units.amount(s.fee)
        t = self.tally(s.ticker)
        gross = settle_holding(t, yes, self.units)
        t.realized_gross += gross
        t.fees += fee
        t.settled = True
        if s.settled_at >= self.cutoff:
            c = self.cell((int(s.settled_at // 86_400), s.ticker))
            c.gross += gross
            c.fees += fee
            c.settlements += 1

    def in_decimal(self) -> _Pass[Decimal]:
        """The same state in Decimal, exactly, to go on with values the units cannot hold."""
        u = self.units
        d = _Pass(DECIMAL, None)
        d.cutoff = self.cutoff
        for ticker, t in self.markets.items():
            d.markets[ticker] = Tally(
                u.contracts(t.position),
                u.dollars(t.basis),
                u.dollars(t.realized_gross),
                u.dollars(t.fees),
                t.fills,
                t.settled,
            )
        for key, c in self.cells.items():
            d.cells[key] = Cell(u.dollars(c.gross), u.dollars(c.fees), c.fills, c.settlements)
        return d

    def summary(self) -> PnlSummary:
        u = self.units
        engine = PnlEngine()
        for ticker, t in self.markets.items():
            engine.markets[ticker] = MarketPnl(
                ticker,
                position=_plain(u.contracts(t.position)),
                basis=_plain(u.dollars(t.basis)),
                realized_gross=_plain(u.dollars(t.realized_gross)),
                fees=_plain(u.dollars(t.fees)),
                fills=t.fills,
                settled=t.settled,
            )
        return PnlSummary(engine, roll_up(self.cells, u))


@dataclass(slots=True)
class _Run:
    """One market over one stretch of `_StretchPass`: its position and basis as the stretch
    goes, and what it realized and paid in it (written back to its tally at the end)."""

    tally: Tally[int]
    position: int
    basis: int
    gross: int = 0
    fees: int = 0
    fills: int = 0
    # with owners: the owner whose part is the account's whole position here (`PartsBook.book`
    # said so), the run's figures when it said so, and when the last of its fills since was
    # (None: none yet); those fills are booked to the part as one (`_StretchPass._book_run`)
    whole_owner: str | None = None
    whole_position: int = 0
    whole_basis: int = 0
    whole_gross: int = 0
    whole_fees: int = 0
    whole_at: float | None = None


class _Parsed(dict[str, int]):
    """Texts parsed to `FIXED` units on first sight: a history repeats a few hundred prices,
    counts and fees, so a fill costs a dict look-up per value. A leading '-' negates (a count
    that buys NO); a leading "1-" is $1 less the price after it (the cost of NO)."""

    def __init__(self, parse: Callable[[str], int]) -> None:
        super().__init__()
        self.parse = parse

    def __missing__(self, text: str) -> int:
        if text.startswith("1-"):
            value = FIXED.dollar - self.parse(text[2:])
        elif text.startswith("-"):
            value = -self.parse(text[1:])
        else:
            value = self.parse(text)
        self[text] = value
        return value


class PartsBook(Protocol):
    """Each owner's part of a book, booked beside the account in `FIXED` units by the stretch
    pass (services/owner_parts.py `Owners`): every fill with the account's position after it
    and the account's own step of it (its basis before and after, the gross it realized), a run
    of fills that `book` says move an owner's whole part as one, and every settlement with the
    account's contracts it settled."""

    def book(  # noqa: PLR0917 (the hot path: positional, once a fill or a run)
        self,
        ticker: str,
        count: int,
        cost: int,
        fee: int,
        ts: float,
        owner: str | None,
        whole: int,
        account: tuple[int, int, int] | None = None,
    ) -> bool: ...

    def settle(
        self, ticker: str, paid: int | None, *, ts: float, fee: int, settled: int
    ) -> None: ...

    def day_done(self) -> None: ...

    def realized(self) -> dict[str, Decimal]: ...


class _StretchPass(_Pass[int]):
    """The summary pass over a state file, one stretch at a time: a UTC day's fills between two
    settlements (and the `since` cutoff), each read by its own query (`Store.iter_fill_moves`).
    Within a stretch SQLite folds the side into a signed count and the cost bought, and fees,
    fills and volume are summed per market once a stretch; only the average-cost step, `move`,
    runs per fill. A value finer than the `FIXED` units raises `_Inexact` (the caller sums in
    Decimal).

    It must equal the Decimal engine fill for fill; tests/services/test_pnl_units.py holds it to
    `PnlEngine` on random histories. With `owners`, each fill and settlement is booked to the
    owners' parts too, the account's position after it and its step at hand."""

    def __init__(
        self, since: float | None, subaccount: int | None = None, owners: PartsBook | None = None
    ) -> None:
        super().__init__(FIXED, since)
        self.subaccount = subaccount  # the book replayed (None: the whole file)
        self.owners = owners
        self.count_of = _Parsed(FIXED.count)
        self.cost_of = _Parsed(FIXED.price)
        self.fee_of = _Parsed(FIXED.amount)

    def run_store(
        self, store: Store, settlements: list[SettlementRecord], queue: SettlementQueue
    ) -> None:
        """Apply every fill of `store` in time order, each after the settlements due at or before
        it. Only a settlement whose market still has fills at or after it ends a stretch; one
        whose market has none (the usual case) is applied at the start of the next stretch."""
        book = self.subaccount
        last: dict[str, float | None] = {}
        for s in settlements:
            if s.ticker not in last:
                last[s.ticker] = store.fills.last_fill_ts(s.ticker, subaccount=book)
        bounds = SettlementQueue(
            s for s in settlements if (ts := last[s.ticker]) is not None and ts >= s.settled_at
        )
        at = store.fills.next_fill_ts(None, subaccount=book)
        while at is not None:
            for s in queue.due(at):
                self.settle(s)
            bounds.due(at)
            day = at // 86_400
            until = min((day + 1) * 86_400, bounds.next_at)
            if at < self.cutoff:
                until = min(until, self.cutoff)
            owned = self.owners is not None
            moves = store.fills.iter_fill_moves(at, until, subaccount=book, owned=owned)
            self.stretch(moves, int(day), at >= self.cutoff)
            at = store.fills.next_fill_ts(until, subaccount=book)

    def stretch(
        self, moves: Iterable[tuple[str, str, str, str, Any, str | None]], day: int, counted: bool
    ) -> None:
        """One stretch's fills, in time order (`Store.iter_fill_moves`).

        With owners, a fill of the owner whose part is its market's whole position that leaves
        the contracts on their side moves the part as it moves the account (`PartsBook.book`):
        such fills are booked as one (`_book_run`), before the next fill there of another owner
        or one that empties or turns the position, and at the stretch's end."""
        runs: dict[str, _Run] = {}
        get, tally = runs.get, self.tally
        book = None if self.owners is None else self.owners.book
        counts, costs, fee_of = self.count_of, self.cost_of, self.fee_of
        for ticker, count_text, cost_text, fee_text, ts, owner in moves:
            r = get(ticker)
            if r is None:
                t = tally(ticker)
                r = runs[ticker] = _Run(t, t.position, t.basis)
            count, cost, fee = counts[count_text], costs[cost_text], fee_of[fee_text]
            if book is None:
                r.gross += move(r, count, cost, FIXED)
            else:
                before, paid = r.position, r.basis
                gross = move(r, count, cost, FIXED)
                if owner is not None and owner == r.whole_owner and before * r.position > 0:
                    r.whole_at = ts
                else:
                    if r.whole_owner is not None:
                        self._book_run(ticker, r, before, paid)
                    whole = r.position
                    if book(ticker, count, cost, fee, ts, owner, whole, (paid, r.basis, gross)):
                        r.whole_owner, r.whole_position, r.whole_basis = owner, whole, r.basis
                        r.whole_gross, r.whole_fees = r.gross + gross, r.fees + fee
                r.gross += gross
            r.fees += fee
            r.fills += 1
        if self.owners is not None:
            for ticker, r in runs.items():
                if r.whole_owner is not None:
                    self._book_run(ticker, r, r.position, r.basis)
            self.owners.day_done()
        for ticker, r in runs.items():
            t = r.tally
            t.position, t.basis = r.position, r.basis
            t.realized_gross += r.gross
            t.fees += r.fees
            t.fills += r.fills
            if counted:
                c = self.cell((day, ticker))
                c.gross += r.gross
                c.fees += r.fees
                c.fills += r.fills

    def _book_run(self, ticker: str, r: _Run, position: int, basis: int) -> None:
        """The fills of `r`'s whole owner not booked yet, if any, booked as one, the account's
        `position` and `basis` after them (`PartsBook.book`); `r` has no whole owner after."""
        owner, at = r.whole_owner, r.whole_at
        if at is not None and owner is not None and self.owners is not None:
            count, fees = position - r.whole_position, r.fees - r.whole_fees
            step = (r.whole_basis, basis, r.gross - r.whole_gross)
            self.owners.book(ticker, count, 0, fees, at, owner, position, step)
        r.whole_owner, r.whole_at = None, None

    def settle(self, s: SettlementRecord) -> None:
        held = abs(self.tally(s.ticker).position)
        super().settle(s)
        if self.owners is not None:
            paid = yes_paid(s.result, s.yes_value)
            at, fee = None if paid is None else FIXED.price(paid), FIXED.amount(s.fee)
            self.owners.settle(s.ticker, at, ts=s.settled_at, fee=fee, settled=held)


def summarize_store(
    store: Store,
    *,
    since: float | None = None,
    subaccount: int | None = None,
    parts: Callable[[float], PartsBook] | None = None,
) -> PnlSummary:
    """The summary of a whole state file: one stretch at a time in `FIXED` units (`_StretchPass`)
    when every value fits them, else by `summarize_rows` in Decimal from the first that does not.
    With `parts` (made with the unix seconds `since`, -inf without), each book's owners' parts
    are booked in the stretch pass too, whose stretches end at `since`, and what they realized
    since then is the summary's `by_owner` (None otherwise, or when a book was summed in Decimal:
    `owner_parts.realized_by_owner` books them from each market's last flat moment).

    Each subaccount is its own book: with `subaccount`, that one's fills and settlements (an
    unattributed settlement goes to each book that traded its market, else 0); without, each book is
    replayed alone and the books added (`add_books`), so one subaccount's sale never closes
    another's purchase."""
    if subaccount is None:
        numbers = sorted(
            set(store.fills.fill_subaccounts())
            | {s.subaccount for s in store.settlements.read() if s.subaccount is not None}
        )
        if len(numbers) > 1:
            return add_books(
                {n: summarize_store(store, since=since, subaccount=n, parts=parts) for n in numbers}
            )
        whole = _summarize_book(store, since, None, store.settlements.read(), parts)
        whole.books = {numbers[0]: whole.engine} if numbers else {}
        return whole
    everyone = store.settlements.read()
    traded = store.fills.fill_tickers(subaccount=subaccount)
    if subaccount == 0:
        traded |= {s.ticker for s in everyone} - store.fills.fill_tickers()
    # its own settlements, each once; one copied before they were kept per subaccount (None)
    # goes to every book that traded its market
    settlements = [
        s
        for s in everyone
        if s.subaccount == subaccount or (s.subaccount is None and s.ticker in traded)
    ]
    book = _summarize_book(store, since, subaccount, settlements, parts)
    book.books = {subaccount: book.engine}
    return book


def _summarize_book(
    store: Store,
    since: float | None,
    subaccount: int | None,
    settlements: list[SettlementRecord],
    parts: Callable[[float], PartsBook] | None,
) -> PnlSummary:
    if _fits(settlements):
        queue = SettlementQueue(settlements)
        owners = None if parts is None else parts(-math.inf if since is None else since)
        state = _StretchPass(since, subaccount, owners)
        try:
            state.run_store(store, settlements, queue)
        except _Inexact:
            pass  # a value finer than the units (never one Kalshi sends): the text, in Decimal
        else:
            for s in queue.rest():
                state.settle(s)
            summary = state.summary()
            summary.by_owner = None if owners is None else owners.realized()
            return summary
    return summarize_rows(
        store.fills.iter_fill_rows(subaccount=subaccount), settlements, since=since
    )


def add_books(books: dict[int, PnlSummary]) -> PnlSummary:
    """The account's summary from its subaccounts' books: every bucket added; the positions
    stay each book's own (`PnlSummary.book`), as the exchange keeps them."""
    groups: dict[str, dict[str, Bucket]] = {name: {} for name in GROUPINGS}
    by_owner: dict[str, Decimal] | None = {}
    for summary in books.values():
        for name, buckets in summary.groups.items():
            for key, b in buckets.items():
                total = groups[name].setdefault(key, Bucket())
                total.gross += b.gross
                total.fees += b.fees
                total.fills += b.fills
                total.settlements += b.settlements
        if by_owner is not None and summary.by_owner is not None:
            for owner, realized in summary.by_owner.items():
                by_owner[owner] = by_owner.get(owner, ZERO) + realized
        else:
            by_owner = None  # a book without its owners' parts: none of them counts
    owned = None if by_owner is None else dict(sorted(by_owner.items()))
    return PnlSummary(None, groups, {n: b.engine for n, b in books.items()}, owned)


def roll_up(cells: dict[CellKey, Cell[N]], units: Units[N]) -> dict[str, dict[str, Bucket]]:
    """The (day, market) cells summed into the two groupings."""
    sums: dict[str, dict[Any, Cell[N]]] = {name: {} for name in GROUPINGS}
    zero = units.zero
    for (day, ticker), cell in cells.items():
        for name, group in (("day", day), ("market", ticker)):
            total = sums[name].get(group)
            if total is None:
                total = sums[name][group] = Cell(zero, zero)
            total.gross += cell.gross
            total.fees += cell.fees
            total.fills += cell.fills
            total.settlements += cell.settlements

    def bucket(c: Cell[N]) -> Bucket:
        return Bucket(
            _plain(units.dollars(c.gross)), _plain(units.dollars(c.fees)), c.fills, c.settlements
        )

    return {
        "day": {utc_day(d * 86_400): bucket(c) for d, c in sums["day"].items()},
        "market": {k: bucket(c) for k, c in sums["market"].items()},
    }


def _plain(value: Decimal) -> Decimal:
    """The shortest exact form: no trailing zeros, no exponent."""
    value = value.normalize()
    return value.quantize(ONE) if value.as_tuple().exponent > 0 else value  # type: ignore[operator]


def summarize(
    fills: Iterable[FillRecord],
    settlements: Iterable[SettlementRecord],
    *,
    since: float | None = None,
) -> PnlSummary:
    """`summarize_rows` over FillRecords."""
    rows = ((f.ticker, f.book_side.value, f.yes_price, f.count, f.fee, f.ts) for f in fills)
    return summarize_rows(rows, settlements, since=since)


def summarize_rows(
    rows: Iterable[FillRow],
    settlements: Iterable[SettlementRecord],
    *,
    since: float | None = None,
) -> PnlSummary:
    """One streaming pass: realized P&L (gross, fees, net) per day and market, and every market's
    position at the end, by average cost. Positions are built from the full history; `since` only
    limits which realized events count. `rows` must be in time order; settlements are merged by
    `SettlementQueue`. Runs in `FIXED` units, then `DECIMAL` from the first value they cannot
    hold."""
    pending = list(settlements)
    queue = SettlementQueue(pending)
    state: _Pass[int] | _Pass[Decimal]
    state = _Pass(FIXED, since) if _fits(pending) else _Pass(DECIMAL, since)
    fills = iter(rows)
    stopped = state.run(fills, queue)
    if stopped is not None:
        state = state.in_decimal()
        state.run(itertools.chain([stopped], fills), queue)
    for s in queue.rest():
        state.settle(s)
    return state.summary()


def _fits(settlements: Iterable[SettlementRecord]) -> bool:
    """Whether every settlement's payout and fee fit the fixed units (the few that might not are
    checked before the pass, so that only a fill can switch it to Decimal)."""
    try:
        for s in settlements:
            paid = yes_paid(s.result, s.yes_value)
            if paid is not None:
                FIXED.price(paid)
            FIXED.amount(s.fee)
    except _Inexact:
        return False
    return True

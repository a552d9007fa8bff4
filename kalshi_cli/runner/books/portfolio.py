"""The loop's own view of its markets, positions and resting orders, kept in memory.

Placing an order must not wait for REST calls, so the loop keeps what the risk engine needs:
positions and average cost from fills (a `PnlEngine` fed every fill once), the account's resting
orders in the traded markets (from the state file at start, then from the loop's own submissions
and the `user_orders` channel), and a short history of each market's mid for the strategies.
Every fill is first written to the state file, so after a restart the same view is rebuilt from
the file by `replay`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.runner.books.fees import FeeChange
from kalshi_cli.services.pnl import MarketPnl, PnlEngine, RealizedEvent
from kalshi_cli.strategy_api import FLAT, Holding, PositionView, RestingOrder
from kalshi_cli.strategy_api.window import MidSeries, MidWindow
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.models import (
    MAKER_FEE_RATE,
    ONE,
    TAKER_FEE_RATE,
    ZERO,
    Action,
    BookSide,
    FeeModel,
    Market,
    Orderbook,
    Side,
    from_book,
)

if TYPE_CHECKING:
    from kalshi_cli.store import FillRecord


@dataclass
class OpenOrder:
    order_id: str
    client_order_id: str
    ticker: str
    side: Side
    action: Action
    price: Decimal  # of `side`
    remaining: Decimal
    strategy: str | None

    @property
    def view(self) -> RestingOrder:
        return RestingOrder(self.order_id, self.side, self.action, self.price, self.remaining)


def open_order(
    *,
    order_id: str,
    client_order_id: str,
    ticker: str,
    book_side: BookSide,
    yes_price: Decimal,
    side: Side | None,
    remaining: Decimal,
    strategy: str | None,
) -> OpenOrder:
    """From exchange (book side, YES price) terms, as seen from `side` (YES when unknown)."""
    seen_from = side or Side.YES
    action, price = from_book(book_side, yes_price, seen_from)
    return OpenOrder(
        order_id, client_order_id, ticker, seen_from, action, price, remaining, strategy
    )


class Portfolio:
    def __init__(self, markets: Iterable[Market]) -> None:
        self.markets: dict[str, Market] = {m.ticker: m for m in markets}
        # each market's fee model (runner/books/fees.py); a market without one is priced at the
        # standard taker rate and the maker rate, the most a maker pays on a standard series
        self.fees: dict[str, FeeModel] = {}
        # the scheduled fee changes still to come, by time (runner/books/fees.py)
        self.fee_changes: list[FeeChange] = []
        self.pnl = PnlEngine()
        self.orders: dict[str, OpenOrder] = {}  # order id -> resting order
        # the same orders by market, in the same order: a market's view reads its own only
        self._orders_of: dict[str, dict[str, OpenOrder]] = {}
        self.opened_at: dict[str, float] = {}
        # the positions each strategy's own fills built (`PositionView.own`): what it may
        # close without touching what a person, another strategy or an earlier run opened
        self.owners = Owners()
        # the risk engine reads every market's view for each intent (total exposure); a view
        # only changes with a fill, a settlement or an order of its market, so it is kept, and
        # so is each strategy's (its own part added) until the market changes
        self._views: dict[str, PositionView] = {}
        self._owner_views: dict[str, dict[str, PositionView]] = {}  # market -> owner -> view
        # the total exposure is kept as a sum, each market's part as counted in it, and the
        # markets changed since: an order then costs the markets it changed, not every one
        self._exposure = ZERO
        self._exposures: dict[str, Decimal] = {}
        self._changed: set[str] = set()
        # told each market whose view changed (the outbox keeps what its pending orders add)
        self.listeners: list[Callable[[str], None]] = []
        # ticker -> (its fee model, its rates outside a waiver): the loop reads them for every
        # market on every pass; a new model (a fee change) is a new object and is read afresh
        self._rates: dict[str, tuple[FeeModel, tuple[Decimal, Decimal]]] = {}

    def fee_rates(self, ticker: str, at: float) -> tuple[Decimal, Decimal]:  # unix s
        """(taker, maker) fee rates of a market at time `at`."""
        fees = self.fees.get(ticker)
        if fees is None:
            return (TAKER_FEE_RATE, MAKER_FEE_RATE)
        if fees.waiver_until is not None and at < fees.waiver_until:
            return fees.rates(at=at)
        cached = self._rates.get(ticker)
        if cached is None or cached[0] is not fees:
            cached = self._rates[ticker] = (fees, fees.rates(at=at))
        return cached[1]

    def apply_fee_changes(self, now: float) -> list[FeeChange]:  # unix seconds
        """Switch the fees of every market whose scheduled change is due at `now`; the
        changes applied, in order."""
        due = 0
        while due < len(self.fee_changes) and self.fee_changes[due].at <= now:
            change = self.fee_changes[due]
            self.fees[change.ticker] = change.fees
            due += 1
        applied, self.fee_changes = self.fee_changes[:due], self.fee_changes[due:]
        return applied

    # ---------------------------------------------------------------- positions

    def position(self, ticker: str) -> Decimal:
        m = self.pnl.markets.get(ticker)
        return ZERO if m is None else m.position

    def apply_fill(
        self,
        ticker: str,
        book_side: BookSide,
        yes_price: Decimal,
        count: Decimal,
        fee: Decimal,
        *,
        ts: float,
        strategy: str | None,
    ) -> RealizedEvent:
        """One fill into the account's position, and into the part of the strategy that sent
        its order when that strategy runs in this loop (`Owners`)."""
        self._forget(ticker)
        fill = (ticker, book_side, yes_price, count, fee, ts, strategy)
        event = _apply(self.pnl, self.opened_at, fill)
        self.owners.apply(fill, self.pnl.markets[ticker].position)
        return event

    def give_fills(self, owner: str, fills: Iterable[FillRecord]) -> None:
        """Fills already in the account's position, booked as nobody's (their order's answer
        was lost, and the lookup that found it came after them), given to the strategy that
        sent the order: its part counts them from now, as a restarted loop's would."""
        wholes = {f.ticker: self.position(f.ticker) for f in fills}
        for ticker in wholes:
            self._forget(ticker)  # the views built before, with the parts as they were
        self.owners.give(owner, fills, wholes)

    def apply_settlement(
        self,
        ticker: str,
        result: str,
        *,
        ts: float,
        fee: Decimal,
        yes_value: Decimal | None = None,
    ) -> None:
        self._forget(ticker)
        self.pnl.apply_settlement(ticker, result, ts=ts, fee=fee, yes_value=yes_value)
        if self.position(ticker) == 0:
            self.opened_at.pop(ticker, None)
        self.owners.settle(ticker, result, ts=ts, yes_value=yes_value)

    def open_positions(self) -> list[MarketPnl]:
        return [m for m in self.pnl.markets.values() if m.position != 0]

    # ---------------------------------------------------------------- resting orders

    def add_order(self, order: OpenOrder) -> None:
        self._forget(order.ticker)
        if order.remaining > 0:
            self.orders[order.order_id] = order
            self._orders_of.setdefault(order.ticker, {})[order.order_id] = order
        else:
            self._drop_order(order.order_id)

    def update_order(self, order_id: str, *, remaining: Decimal, status: str) -> None:
        order = self.orders.get(order_id)
        if order is None:
            return
        self._forget(order.ticker)
        if status != "resting" or remaining <= 0:
            self._drop_order(order_id)
        else:
            order.remaining = remaining

    def _drop_order(self, order_id: str) -> None:
        order = self.orders.pop(order_id, None)
        if order is not None:
            of_market = self._orders_of[order.ticker]
            del of_market[order_id]
            if not of_market:
                del self._orders_of[order.ticker]

    def resting(self, ticker: str) -> list[OpenOrder]:
        return list(self._orders_of.get(ticker, {}).values())

    # ---------------------------------------------------------------- what the risk engine reads

    def _forget(self, ticker: str) -> None:
        if self._views.pop(ticker, None) is not None:
            self._owner_views.pop(ticker, None)
        self._changed.add(ticker)
        for tell in self.listeners:
            tell(ticker)

    def view(self, ticker: str) -> PositionView:
        """The account's view of one market, as the risk rules count it (`own` flat)."""
        view = self._views.get(ticker)
        if view is None:
            view = self._views[ticker] = self._make_view(ticker)
        return view

    def assign(self, owner: str, ticker: str, ts: float) -> Decimal:
        """`owner` takes the unowned part of the account's position in `ticker`
        (`Owners.assign`)."""
        given = self.owners.assign(owner, ticker, self.view(ticker).whole, ts)
        if given:
            self._forget(ticker)
        return given

    def view_for(self, ticker: str, owner: str) -> PositionView:
        """What `owner` decides on: the part of the position its own fills built as the
        view's `position` (and `own`), the account's whole position as `account` (the same
        object until the market changes). Its own resting orders are the market pass's to
        pick (runner/schedule/market_pass.py)."""
        view = self.view(ticker)
        if view.position == 0:
            return view  # nothing held: nobody's part, nothing of the account's to show
        of_market = self._owner_views.setdefault(ticker, {})
        mine = of_market.get(owner)
        if mine is None:
            own = self.owners.holding(owner, ticker, view.position)
            mine = of_market[owner] = replace(
                view,
                position=own.position,
                avg_entry_price=own.avg_entry_price,
                entry_cost=own.entry_cost,
                opened_at=own.opened_at,
                own=own,
                account=view.whole,
            )
        return mine

    def _make_view(self, ticker: str) -> PositionView:
        m = self.pnl.markets.get(ticker)
        resting = tuple(o.view for o in self.resting(ticker))
        if m is None or m.position == 0:
            return PositionView(ticker, resting=resting)
        contracts = abs(m.position)
        return PositionView(
            ticker,
            position=m.position,
            avg_entry_price=m.basis / contracts,
            entry_cost=m.basis,
            opened_at=self.opened_at.get(ticker),
            resting=resting,
        )

    def total_exposure(self) -> Decimal:
        """Dollars at risk over every market (`PositionView.exposure` summed): the kept sum,
        brought up to date with the markets changed since it was last read. A market flat and
        without orders counts nothing, as it would in the sum."""
        for ticker in self._changed:
            exposure = self.view(ticker).exposure()
            self._exposure += exposure - self._exposures.pop(ticker, ZERO)
            if exposure:
                self._exposures[ticker] = exposure
        self._changed.clear()
        return self._exposure

    def unrealized(self, books: dict[str, Orderbook | None]) -> Decimal:
        """Open positions marked at the best bid of the held side; unknown marks count 0."""
        total = ZERO
        for m in self.open_positions():
            bid, _ = m.mark(books.get(m.ticker))
            value = m.unrealized(bid)
            total += value if value is not None else ZERO
        return total


# (ticker, book side, YES price, count, fee, unix seconds, strategy)
_Fill = tuple[str, BookSide, Decimal, Decimal, Decimal, float, str | None]


class Owners:
    """Each strategy's own part of the account's positions (`PositionView.own`): built by the
    fills of its own orders (an order carries the strategy that sent it, in the state file too,
    so a restarted loop rebuilds the same parts), and never more, all parts together, than the
    account holds on that side: a fill that leaves the account holding less (a person selling
    by hand, the stop-loss, another program) cuts the newest parts first, and one that empties
    or flips the position ends every part there. A strategy then never sells what it did not
    buy. The account's own rules never read these."""

    def __init__(self) -> None:
        self.engines: dict[str, PnlEngine] = {}
        self.opened_at: dict[str, dict[str, float]] = {}
        # owner -> market -> (UTC day, the P&L its own fills and settlements there realized
        # that day): what its daily loss limit reads (risk/budget.py), summed over the markets.
        # Kept by market so that one market's parts can be rebuilt alone (`give`)
        self._days: dict[str, dict[str, tuple[str, Decimal]]] = {}

    def own(self, owner: str) -> None:
        """`owner` is a strategy of this loop: its fills build its part from now on."""
        if owner not in self.engines:
            self.engines[owner] = PnlEngine()
            self.opened_at[owner] = {}

    def apply(self, fill: _Fill, whole: Decimal) -> None:
        """A fill of the account, `whole` the account's position after it."""
        owner = fill[6]
        if owner is not None and owner in self.engines:
            event = _apply(self.engines[owner], self.opened_at[owner], fill)
            self._realized(owner, event.ticker, event.ts, event.net)
        self._clip(fill[0], whole, fill[5])

    def give(self, owner: str, fills: Iterable[FillRecord], wholes: Mapping[str, Decimal]) -> None:
        """Fills of `owner`'s order that were applied as nobody's, now its (`Portfolio.
        give_fills`): into its part, oldest first, which is then held to the account's
        position (`wholes`, by market) as after any fill. A strategy not of this loop has no
        part to give them to."""
        if owner not in self.engines:
            return
        for fill in fills:
            book = (
                fill.ticker,
                fill.book_side,
                fill.yes_price,
                fill.count,
                fill.fee,
                fill.ts,
                owner,
            )
            event = _apply(self.engines[owner], self.opened_at[owner], book)
            self._realized(owner, event.ticker, event.ts, event.net)
            self._clip(fill.ticker, wholes[fill.ticker], fill.ts)

    def _realized(self, owner: str, ticker: str, ts: float, net: Decimal) -> None:
        day = utc_day(ts)
        days = self._days.setdefault(owner, {})
        before = days.get(ticker)
        if before is not None and day < before[0]:
            # an earlier day's (a fill given to it late, `give`): what the limit reads is the
            # day kept, which that day's P&L is no part of
            return
        days[ticker] = (day, net + (before[1] if before and before[0] == day else ZERO))

    def realized_today(self, owner: str, day: str) -> Decimal:
        """The P&L `owner`'s own fills and settlements realized on the UTC `day`, fees counted:
        today's (a market's earlier day is dropped once it realizes on a later one)."""
        kept = self._days.get(owner, {}).values()
        return sum((net for seen, net in kept if seen == day), ZERO)

    def _clip(self, ticker: str, whole: Decimal, ts: float) -> None:
        parts = []
        for owner, engine in self.engines.items():
            mine = engine.markets.get(ticker)
            if mine is None or mine.position == 0:
                continue
            if whole == 0 or (mine.position > 0) != (whole > 0):
                _reduce(engine, self.opened_at[owner], ticker, abs(mine.position), ts)
            else:
                parts.append((self.opened_at[owner].get(ticker, 0.0), owner, mine.position))
        excess = sum((abs(p) for _, _, p in parts), ZERO) - abs(whole)
        for _, owner, position in sorted(parts, reverse=True):  # the newest part first
            if excess <= 0:
                return
            cut = min(excess, abs(position))
            _reduce(self.engines[owner], self.opened_at[owner], ticker, cut, ts)
            excess -= cut

    def settle(self, ticker: str, result: str, *, ts: float, yes_value: Decimal | None) -> None:
        for owner, engine in self.engines.items():
            mine = engine.markets.get(ticker)
            if mine is not None and mine.position != 0:
                event = engine.apply_settlement(
                    ticker, result, ts=ts, fee=ZERO, yes_value=yes_value
                )
                self._realized(owner, ticker, ts, event.net)
                self.opened_at[owner].pop(ticker, None)

    def assign(self, owner: str, ticker: str, whole: Holding, ts: float) -> Decimal:
        """Give `owner` the part of the account's position `whole` that no strategy owns, at
        the account's average cost (`kalshi trade --assign NAME:TICKER`): contracts bought by
        hand become that strategy's to exit. The contracts given (0: nothing unowned)."""
        held = whole.held_side
        if held is None:
            return ZERO
        owned = ZERO
        yes = held is Side.YES
        for engine in self.engines.values():
            mine = engine.markets.get(ticker)
            if mine is not None and mine.position != 0 and (mine.position > 0) == yes:
                owned += abs(mine.position)
        free = whole.contracts - owned
        if free <= 0:
            return ZERO
        book_side = BookSide.BID if held is Side.YES else BookSide.ASK
        yes_price = whole.avg_entry_price if held is Side.YES else ONE - whole.avg_entry_price
        fill = (ticker, book_side, yes_price, free, ZERO, ts, None)
        _apply(self.engines[owner], self.opened_at[owner], fill)
        return free

    def holding(self, owner: str, ticker: str, whole: Decimal) -> Holding:
        """`owner`'s part of a position: never more contracts than the account holds, never
        the other side (a person who sold what the strategy bought has taken it back)."""
        engine = self.engines.get(owner)
        mine = None if engine is None else engine.markets.get(ticker)
        if mine is None or mine.position == 0 or (mine.position > 0) != (whole > 0):
            return FLAT
        held = min(abs(mine.position), abs(whole))
        per = mine.basis / abs(mine.position)
        return Holding(
            position=held if whole > 0 else -held,
            avg_entry_price=per,
            entry_cost=per * held,
            opened_at=self.opened_at[owner].get(ticker),
        )


def _reduce(
    engine: PnlEngine, opened_at: dict[str, float], ticker: str, count: Decimal, ts: float
) -> None:
    """Take `count` contracts off an owner's part at their own average cost (no P&L: the
    account's P&L is the account engine's)."""
    mine = engine.markets[ticker]
    per = mine.basis / abs(mine.position)  # of the held side
    if mine.position > 0:
        fill = (ticker, BookSide.ASK, per, count, ZERO, ts, None)
    else:
        fill = (ticker, BookSide.BID, ONE - per, count, ZERO, ts, None)
    _apply(engine, opened_at, fill)


def _apply(pnl: PnlEngine, opened_at: dict[str, float], fill: _Fill) -> RealizedEvent:
    ticker, book_side, yes_price, count, fee, ts, strategy = fill
    held = pnl.markets.get(ticker)
    before = ZERO if held is None else held.position
    event = pnl.apply_fill(ticker, book_side, yes_price, count, fee, ts=ts, strategy=strategy)
    after = pnl.markets[ticker].position
    if after == 0:
        opened_at.pop(ticker, None)
    elif before == 0 or (before > 0) != (after > 0):
        opened_at[ticker] = ts
    return event


class MidHistory:
    """Each market's (ts, YES mid) points within `horizon_s`: a point when the mid changes, and
    at least one every `resample_s` while it does not, so a window always starts near its edge
    (a mid that sat still for a minute and then jumped is a spike, not a missing history)."""

    def __init__(self, horizon_s: float, *, resample_s: float = 1.0) -> None:
        self.horizon_s = horizon_s
        self.resample_s = resample_s
        self._points: dict[str, MidSeries] = {}

    def record(self, ticker: str, ts: float, book: Orderbook) -> MidWindow:
        """The market's points after this one, as a window that later points leave unchanged
        (O(1): strategy_api/window.py)."""
        points = self._points.get(ticker)
        if points is None:
            points = self._points[ticker] = MidSeries()
        mid = book.mid
        last = points.last()
        if mid is not None and (last is None or last[1] != mid or ts - last[0] >= self.resample_s):
            points.append(ts, mid)
        points.drop_before(ts - self.horizon_s)
        return points.window()

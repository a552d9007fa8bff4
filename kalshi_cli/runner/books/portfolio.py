"""The loop's own view of its markets, positions and resting orders, kept in memory.

Placing an order must not wait for REST calls, so the loop keeps what the risk engine needs:
positions and average cost from fills (a `PnlEngine`), the resting orders of its markets, and each
market's recent mids. Every fill is written to the state file first, so a restart rebuilds the same
view (`rebuild`). Whose each contract is, and the views the risk engine reads: `PositionBook`
(services/owner_parts.py); an order resting as the books keep it: `OpenOrder`
(services/pretrade/books.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.runner.books.fees import FeeChange
from kalshi_cli.services.owner_parts import PositionBook, fill_of
from kalshi_cli.services.pnl import MarketPnl, Realization, settle_record
from kalshi_cli.services.pretrade.books import OpenOrder
from kalshi_cli.strategy_api import PositionView
from kalshi_cli.strategy_api.window import MidSeries, MidWindow
from kalshi_cli.vocabulary.models import FeeModel, Market, Orderbook
from kalshi_cli.vocabulary.units import ZERO, BookSide, fmt_count

if TYPE_CHECKING:
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.store import FillRecord, SettlementRecord


class Portfolio:
    def __init__(self, markets: Iterable[Market]) -> None:
        self.markets: dict[str, Market] = {m.ticker: m for m in markets}
        # each market's fee model, read for every market at the start (runner/books/fees.py
        # `load_fees`); `fee_rates` refuses a market without one rather than price it at a rate
        # nobody chose
        self.fees: dict[str, FeeModel] = {}
        # the scheduled fee changes still to come, by time (runner/books/fees.py)
        self.fee_changes: list[FeeChange] = []
        # the account's positions and each strategy's own part of them (`PositionView.own`:
        # what it may close without touching what a person, another strategy or an earlier run
        # opened), booked by one rule with `kalshi status` (services/owner_parts.py); named here
        # by the loop's readers, the same objects for the portfolio's life
        self.book = PositionBook()
        self.pnl = self.book.pnl
        self.opened_at = self.book.opened_at
        self.owners = self.book.owners
        self.orders: dict[str, OpenOrder] = {}  # order id -> resting order
        # the same orders by market, in the same order: a market's view reads its own only
        self._orders_of: dict[str, dict[str, OpenOrder]] = {}
        # contracts the exchange says an order filled whose fills are not applied here yet (an
        # order's answer, a `user_orders` message or a cancel told of them before a fill read
        # listed them): by market, order id -> the order with those contracts as `remaining`,
        # and how many fill reads had been sent when they were last told. The limits count them
        # as resting (`PositionView.unbooked`) until the order's fills are applied, or a fill
        # read sent after them is (`fills_read`): until then they are in no position
        self._unbooked: dict[str, dict[str, tuple[OpenOrder, int]]] = {}
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
        # moves whenever a market's position, resting orders or fills told change (`_forget`):
        # what is worked out from them all (the held markets, the breaches) holds while it stays
        self.changes = 0
        # told each market whose view changed (the outbox keeps what its pending orders add)
        self.listeners: list[Callable[[str], None]] = []
        # ticker -> (its fee model, its rates outside a waiver): the loop reads them for every
        # market on every pass; a new model (a fee change) is a new object and is read afresh
        self._rates: dict[str, tuple[FeeModel, tuple[Decimal, Decimal]]] = {}

    def fee_rates(self, ticker: str, at: float) -> tuple[Decimal, Decimal]:  # unix s
        """(taker, maker) fee rates of a market at time `at`. KeyError for a market whose fees
        were not read: no rate is assumed."""
        fees = self.fees.get(ticker)
        if fees is None:
            raise KeyError(f"no fee model was read for {ticker}")
        if waived(fees, at):
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
        fill_id: str | None = None,
        order_id: str | None = None,
    ) -> Realization:
        """One fill into the account's position, and into the part of the strategy (or the
        assistant) that sent its order (`Owners`). `fill_id` names it for `give_fills`, should
        it be booked as nobody's and found to be a strategy's later; `order_id`, its order,
        whose contracts told filled and not read yet it now holds."""
        self._forget(ticker)
        if order_id is not None:
            self._unbooked_read(ticker, order_id, count)
        return self.book.fill((ticker, book_side, yes_price, count, fee, ts, strategy), fill_id)

    def replay_fill(self, record: FillRecord) -> Realization:
        """A fill as the state file keeps it, replayed into the view at the start (`replay`,
        services/pretrade/books.py): booked as its strategy's, with no order told filled."""
        self._forget(record.ticker)
        return self.book.fill(fill_of(record))

    def give_fills(self, owner: str, fills: Iterable[FillRecord]) -> None:
        """Fills already in the account's position, booked as nobody's (their order's answer
        was lost, and the lookup that found it came after them), given to the strategy that
        sent the order: the parts of their markets become those a restarted loop would build
        (`Owners.give`)."""
        given = list(fills)
        for ticker in {f.ticker for f in given}:
            self._forget(ticker)  # the views built before, with the parts as they were
        self.owners.give(owner, {f.fill_id for f in given})

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
        # a settled market's fills were listed before its settlement: none is still to come
        self._unbooked.pop(ticker, None)
        self.book.settle(ticker, result, ts=ts, fee=fee, yes_value=yes_value)

    def book_settlement(self, record: SettlementRecord) -> None:
        """A settlement as the state file keeps it (`apply_settlement`): the start's rebuild
        and the running loop's reads book it alike."""
        settle_record(self.apply_settlement, record)

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

    def update_order(
        self,
        order_id: str,
        *,
        remaining: Decimal,
        status: str,
        price: Decimal | None = None,
    ) -> None:
        """What the exchange says of an order the view holds: what rests now and its status
        (one no longer resting, or with nothing left, is dropped); `price`, of its side, when
        an amend moved it (the same order at its new price)."""
        order = self.orders.get(order_id)
        if order is None:
            return
        self._forget(order.ticker)
        if status != "resting" or remaining <= 0:
            self._drop_order(order_id)
            return
        order.remaining = remaining
        if price is not None:
            order.price = price

    def _drop_order(self, order_id: str) -> None:
        order = self.orders.pop(order_id, None)
        if order is not None:
            of_market = self._orders_of[order.ticker]
            del of_market[order_id]
            if not of_market:
                del self._orders_of[order.ticker]

    def resting(self, ticker: str) -> list[OpenOrder]:
        return list(self._orders_of.get(ticker, {}).values())

    # ---------------------------------------------------------------- fills told, not read yet

    def unbooked(self, ticker: str, order_id: str) -> Decimal:
        """The contracts of the order told filled whose fills are not applied yet."""
        kept = self._unbooked.get(ticker, {}).get(order_id)
        return ZERO if kept is None else kept[0].remaining

    def unbooked_orders(self, ticker: str | None = None) -> list[OpenOrder]:
        """Each order with contracts told filled and not read yet (of `ticker`, or of every
        market), those contracts as its `remaining`."""
        markets = self._unbooked.values() if ticker is None else [self._unbooked.get(ticker, {})]
        return [order for of_market in markets for order, _ in of_market.values()]

    def set_unbooked(self, order: OpenOrder, count: Decimal, *, reads_sent: int) -> None:
        """`count` contracts of `order` filled at the exchange and are not applied here yet
        (0: none), as of `reads_sent` fill reads sent: a read sent after now lists them."""
        ticker = order.ticker
        of_market = self._unbooked.get(ticker)
        if count <= 0 and (of_market is None or order.order_id not in of_market):
            return
        self._forget(ticker)
        if count > 0:
            kept = replace(order, remaining=count)
            self._unbooked.setdefault(ticker, {})[order.order_id] = (kept, reads_sent)
            return
        assert of_market is not None
        del of_market[order.order_id]
        if not of_market:
            del self._unbooked[ticker]

    def _unbooked_read(self, ticker: str, order_id: str, count: Decimal) -> None:
        """A fill of `count` contracts of the order applied: as many are no longer unbooked."""
        kept = self._unbooked.get(ticker, {}).get(order_id)
        if kept is not None:
            order, reads_sent = kept
            self.set_unbooked(order, order.remaining - count, reads_sent=reads_sent)

    def fills_read(self, read: int, *, but: Collection[str] = ()) -> None:
        """The `read`-th fill read sent is applied: every fill made before it was sent is in
        the positions now, so the contracts told before it (`reads_sent` below `read`) are
        no longer counted apart, except in the markets `but` (fills held back there)."""
        for ticker in [t for t in self._unbooked if t not in but]:
            of_market = self._unbooked[ticker]
            kept = {k: v for k, v in of_market.items() if v[1] >= read}
            if len(kept) == len(of_market):
                continue
            self._forget(ticker)
            if kept:
                self._unbooked[ticker] = kept
            else:
                del self._unbooked[ticker]

    # ---------------------------------------------------------------- what the risk engine reads

    def _forget(self, ticker: str) -> None:
        if self._views.pop(ticker, None) is not None:
            self._owner_views.pop(ticker, None)
        self._changed.add(ticker)
        self.changes += 1
        for tell in self.listeners:
            tell(ticker)

    def view(self, ticker: str) -> PositionView:
        """The account's view of one market, as the risk rules count it (`own` flat)."""
        view = self._views.get(ticker)
        if view is None:
            resting = tuple(o.view for o in self.resting(ticker))
            told = self._unbooked.get(ticker)
            unbooked = tuple(o.view for o, _ in told.values()) if told else ()
            view = self._views[ticker] = self.book.view(ticker, resting, unbooked)
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
        pick (runner/loop/market_pass.py)."""
        view = self.view(ticker)
        if view.position == 0:
            return view  # nothing held: nobody's part, nothing of the account's to show
        of_market = self._owner_views.setdefault(ticker, {})
        mine = of_market.get(owner)
        if mine is None:
            mine = of_market[owner] = self.book.owner_view(view, owner)
        return mine

    def owned_view(
        self, ticker: str, owner: str, owner_of: Callable[[OpenOrder], str | None]
    ) -> PositionView:
        """`owner`'s view (`view_for`) with only the contracts its own orders (`owner_of`) were
        told filled and not read yet: what its budget and its withdrawal count, not another
        strategy's fills."""
        view = self.view_for(ticker, owner)
        if view.unbooked:
            told = self.unbooked_orders(ticker)
            view = replace(view, unbooked=tuple(o.view for o in told if owner_of(o) == owner))
        return view

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

    def unrealized(self, books: dict[str, Orderbook | None]) -> Decimal | None:
        """Open positions marked at the best bid of the held side; None when one has no mark
        (no book, or no bid on its side): an unknown mark is never counted as $0."""
        total = ZERO
        for m in self.open_positions():
            bid, _ = m.mark(books.get(m.ticker))
            value = m.unrealized(bid)
            if value is None:
                return None
            total += value
        return total


def give_assigned(
    portfolio: Portfolio,
    assigned: Mapping[str, str],
    running: Collection[str],
    now: float,
    log: EntryLog,
    *,
    tickers: Collection[str] | None = None,
) -> None:
    """The contracts nobody in the loop built in each market given to the strategy `kalshi trade
    --assign` named for it (`assigned`: ticker -> strategy, as the state file keeps them), if it
    is `running` and the loop trades the market, each said (`position_assigned`): at the start,
    and for a market taken on while the loop runs (`tickers`: those alone)."""
    for ticker, name in assigned.items():
        if name not in running or ticker not in portfolio.markets:
            continue
        if tickers is not None and ticker not in tickers:
            continue
        given = portfolio.assign(name, ticker, now)
        log.emit(
            "position_assigned", {"strategy": name, "ticker": ticker, "count": fmt_count(given)}
        )


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


def waived(fees: FeeModel | None, at: float) -> bool:  # unix seconds
    """A waiver of the market's fees is in force at `at`: its rates are read at that time, and
    change with the time alone when it ends (no fee model read: none)."""
    return fees is not None and fees.waiver_until is not None and at < fees.waiver_until

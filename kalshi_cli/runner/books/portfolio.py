"""The loop's own view of its markets, positions and resting orders, kept in memory.

Placing an order must not wait for REST calls, so the loop keeps what the risk engine needs:
positions and average cost from fills (a `PnlEngine` fed every fill once), the account's resting
orders in the traded markets (from the state file at start, then from the loop's own submissions
and the `user_orders` channel), and a short history of each market's mid for the strategies.
Every fill is first written to the state file, so after a restart the same view is rebuilt from
the file by `replay`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from kalshi_cli.runner.books.fees import FeeChange
from kalshi_cli.services.pnl import MarketPnl, PnlEngine, RealizedEvent
from kalshi_cli.strategy_api import FLAT, Holding, PositionView, RestingOrder
from kalshi_cli.strategy_api.window import MidSeries, MidWindow
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.models import (
    FEE_QUANTUM,
    ONE,
    ZERO,
    Action,
    BookSide,
    FeeModel,
    Market,
    Orderbook,
    Side,
    from_book,
)
from kalshi_cli.vocabulary.owners import NO_PART, STOP_LOSS

if TYPE_CHECKING:
    from kalshi_cli.store import FillRecord, IntentRecord, SettlementRecord


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


def resting_order(intent: IntentRecord) -> OpenOrder:
    """The state file's record of an order it holds resting, as the loop's books keep it:
    what rests is the row's `remaining` (its `count` when no answer said)."""
    assert intent.order_id is not None  # resting: the exchange named it
    return open_order(
        order_id=intent.order_id,
        client_order_id=intent.client_order_id,
        ticker=intent.ticker,
        book_side=intent.book_side,
        yes_price=intent.price,
        side=intent.side,
        remaining=intent.remaining if intent.remaining is not None else intent.count,
        strategy=intent.strategy,
    )


class Portfolio:
    def __init__(self, markets: Iterable[Market]) -> None:
        self.markets: dict[str, Market] = {m.ticker: m for m in markets}
        # each market's fee model, read for every market at the start (runner/books/fees.py
        # `load_fees`); `fee_rates` refuses a market without one rather than price it at a rate
        # nobody chose
        self.fees: dict[str, FeeModel] = {}
        # the scheduled fee changes still to come, by time (runner/books/fees.py)
        self.fee_changes: list[FeeChange] = []
        self.pnl = PnlEngine()
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
        """(taker, maker) fee rates of a market at time `at`. KeyError for a market whose fees
        were not read: no rate is assumed."""
        fees = self.fees.get(ticker)
        if fees is None:
            raise KeyError(f"no fee model was read for {ticker}")
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
        fill_id: str | None = None,
        order_id: str | None = None,
    ) -> RealizedEvent:
        """One fill into the account's position, and into the part of the strategy (or the
        assistant) that sent its order (`Owners`). `fill_id` names it for `give_fills`, should
        it be booked as nobody's and found to be a strategy's later; `order_id`, its order,
        whose contracts told filled and not read yet it now holds."""
        self._forget(ticker)
        if order_id is not None:
            self._unbooked_read(ticker, order_id, count)
        fill = (ticker, book_side, yes_price, count, fee, ts, strategy)
        event = _apply(self.pnl, self.opened_at, fill)
        self.owners.apply(fill, self.pnl.markets[ticker].position, fill_id)
        return event

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
        settled = abs(self.position(ticker))
        self.pnl.apply_settlement(ticker, result, ts=ts, fee=fee, yes_value=yes_value)
        if self.position(ticker) == 0:
            self.opened_at.pop(ticker, None)
        self.owners.settle(ticker, result, ts=ts, yes_value=yes_value, fee=fee, settled=settled)

    def book_settlement(self, record: SettlementRecord) -> None:
        """A settlement as the state file keeps it (`apply_settlement`): the start's rebuild
        and the running loop's reads book it alike."""
        self.apply_settlement(
            record.ticker,
            record.result,
            ts=record.settled_at,
            fee=record.fee,
            yes_value=record.yes_value,
        )

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

    def _make_view(self, ticker: str) -> PositionView:
        m = self.pnl.markets.get(ticker)
        resting = tuple(o.view for o in self.resting(ticker))
        told = self._unbooked.get(ticker)
        unbooked = tuple(o.view for o, _ in told.values()) if told else ()
        if m is None or m.position == 0:
            return PositionView(ticker, resting=resting, unbooked=unbooked)
        contracts = abs(m.position)
        return PositionView(
            ticker,
            position=m.position,
            avg_entry_price=m.basis / contracts,
            entry_cost=m.basis,
            opened_at=self.opened_at.get(ticker),
            resting=resting,
            unbooked=unbooked,
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


# (ticker, book side, YES price, count, fee, unix seconds, strategy)
_Fill = tuple[str, BookSide, Decimal, Decimal, Decimal, float, str | None]
# an owner's part of one market: its P&L there, when the part opened, and the (UTC day,
# realized that day) it counts there; None where it has none
_Part = tuple[MarketPnl | None, float | None, tuple[str, Decimal] | None]


@dataclass
class _Booked:
    """A fill of a market whose parts may be replayed, as it was applied."""

    fill_id: str | None
    fill: _Fill  # its owner is the one thing a replay may change (`Owners.give`)
    whole: Decimal  # the account's position after it


@dataclass(frozen=True)
class _Settled:
    result: str
    ts: float  # unix seconds
    yes_value: Decimal | None
    fee: Decimal
    settled: Decimal  # the account's contracts it settled


@dataclass
class _Replay:
    """A market's parts as they were when an order there became of unknown outcome, and its
    fills and settlements since, in the order applied: what a restart replays from there."""

    parts: dict[str, _Part]  # by owner
    events: list[_Booked | _Settled] = field(default_factory=list)


class Owners:
    """Each strategy's own part of the account's positions (`PositionView.own`): built by the
    fills of its own orders (an order carries the strategy that sent it, in the state file too,
    so a restarted loop rebuilds the same parts), and never more, all parts together, than the
    account holds on that side. Every owner but a person and the stop-loss has a part
    (`NO_PART`), a strategy this loop does not run and the assistant's too, so whoever reads
    the state file (a loop of any lineup, the assistant) splits it alike: a fill that leaves
    the account holding less (a person selling by hand, the stop-loss, another program) cuts
    the newest parts first, and one that empties or flips the position ends every part there;
    what the stop-loss cuts is the strategy's loss (`_cut`). A strategy then never sells what
    it did not buy. The account's own rules never read these.

    A fill whose order's answer was lost may be booked as nobody's before the lookup that finds
    the order (runner/execution/unknown_orders.py): a sell then cuts the newest parts, perhaps
    another strategy's, at no P&L, and no fill given to its owner afterwards can undo that cut.
    So while an order of a market is of unknown outcome, the market's parts as they were when
    it was lost are kept with every fill and settlement of the market since (`keep_replay`),
    and a fill given to its owner replays them, by the same rule every fill follows: the parts
    and the day's P&L come out as a restart's from the state file."""

    def __init__(self) -> None:
        self.engines: dict[str, PnlEngine] = {}
        self.opened_at: dict[str, dict[str, float]] = {}
        # owner -> market -> (UTC day, the P&L its own fills and settlements there realized
        # that day): what its daily loss limit reads (risk/budget.py), summed over the markets.
        # Kept by market so that one market's parts can be rebuilt alone (`give`)
        self._days: dict[str, dict[str, tuple[str, Decimal]]] = {}
        # the markets with an order of unknown outcome: what a replay of each starts from.
        # Dropped once none is (`drop_replay`): what is kept is a market's fills while an
        # order there may still land, not the run's
        self._replays: dict[str, _Replay] = {}

    def parts(self, ticker: str) -> tuple[Decimal, ...]:
        """Each owner's part of the position in `ticker` (+YES / -NO), in the owners' order:
        what tells a change of whose the contracts are from one of the orders alone."""
        return tuple(
            ZERO if (m := engine.markets.get(ticker)) is None else m.position
            for engine in self.engines.values()
        )

    def own(self, owner: str) -> None:
        """`owner` has a part, empty until its fills build it: a strategy of this loop has one
        from the start (its budget reads it); any other owner of a fill from its first
        (`_book`)."""
        if owner not in self.engines:
            self.engines[owner] = PnlEngine()
            self.opened_at[owner] = {}

    def keep_replay(self, ticker: str) -> None:
        """An order in `ticker` is of unknown outcome from now, and its fills may be booked as
        nobody's before it is found: the market's parts as they are, and every fill and
        settlement of it from now, are kept for `give` until `drop_replay`."""
        if ticker not in self._replays:
            parts = {owner: self._part(owner, ticker) for owner in self.engines}
            self._replays[ticker] = _Replay(parts)

    def drop_replay(self, ticker: str) -> None:
        """No order in `ticker` is of unknown outcome any more: none of its fills is given."""
        self._replays.pop(ticker, None)

    def apply(self, fill: _Fill, whole: Decimal, fill_id: str | None = None) -> None:
        """A fill of the account, `whole` the account's position after it."""
        replay = self._replays.get(fill[0])
        if replay is not None:
            replay.events.append(_Booked(fill_id, fill, whole))
        self._book(fill, whole)

    def _book(self, fill: _Fill, whole: Decimal) -> None:
        owner = fill[6]
        if owner is not None and owner not in NO_PART:
            # every owner's fills build its part, a strategy this loop does not run (one
            # removed from the lineup) and the assistant's included: the newest part first
            # gives up what a sale by hand takes, so a reader that left an owner out would
            # take that sale from the owner's contracts and leave the part it does know
            # holding them, for its strategy to sell
            self.own(owner)
            event = _apply(self.engines[owner], self.opened_at[owner], fill)
            self._realized(owner, event.ticker, event.ts, event.net)
        self._clip(fill, whole)

    def give(self, owner: str, fill_ids: Collection[str]) -> None:
        """Fills applied as nobody's, now `owner`'s (`Portfolio.give_fills`): each market they
        are in is replayed from the parts kept when its order became of unknown outcome
        (`keep_replay`), its fills and settlements since in the order applied, these now
        `owner`'s, through `_book` and `_settle` as when they were applied. What they cut from
        another strategy's part is that part's again, and each owner's P&L of the day there is
        what the replay realizes (a fill of an earlier day leaves today's alone): the parts a
        restart builds from the state file. Every fill booked while an order of its market was
        of unknown outcome is in that market's replay; any other is left as it was booked."""
        for ticker, replay in self._replays.items():
            given = [e for e in replay.events if isinstance(e, _Booked) and e.fill_id in fill_ids]
            if not given:
                continue
            for booked in given:
                booked.fill = (*booked.fill[:6], owner)
            for name in self.engines:
                self._restore(name, ticker, replay.parts.get(name, (None, None, None)))
            for event in replay.events:
                if isinstance(event, _Booked):
                    self._book(event.fill, event.whole)
                else:
                    self._settle(ticker, event)

    def _part(self, owner: str, ticker: str) -> _Part:
        mine = self.engines[owner].markets.get(ticker)
        return (
            None if mine is None else replace(mine),
            self.opened_at[owner].get(ticker),
            self._days.get(owner, {}).get(ticker),
        )

    def _restore(self, owner: str, ticker: str, part: _Part) -> None:
        """`owner`'s part of `ticker` as `_part` kept it (a copy: a replay may run again)."""
        mine, opened_at, day = part
        _put(self.engines[owner].markets, ticker, None if mine is None else replace(mine))
        _put(self.opened_at[owner], ticker, opened_at)
        _put(self._days.setdefault(owner, {}), ticker, day)

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

    def _clip(self, fill: _Fill, whole: Decimal) -> None:
        """Cut the parts of `fill`'s market to what the account holds after it, `whole`."""
        ticker = fill[0]
        cuts: list[tuple[str, Decimal]] = []  # (owner, contracts cut), in the order cut
        parts = []
        for owner, engine in self.engines.items():
            mine = engine.markets.get(ticker)
            if mine is None or mine.position == 0:
                continue
            if whole == 0 or (mine.position > 0) != (whole > 0):
                cuts.append((owner, abs(mine.position)))
            else:
                parts.append((self.opened_at[owner].get(ticker, 0.0), owner, mine.position))
        excess = sum((abs(p) for _, _, p in parts), ZERO) - abs(whole)
        for _, owner, position in sorted(parts, reverse=True):  # the newest part first
            if excess <= 0:
                break
            cut = min(excess, abs(position))
            cuts.append((owner, cut))
            excess -= cut
        # each cut's share of the fill's fee: the whole fee when every contract the fill closed
        # was a part's
        shares = fee_shares(fill[4], fill[3], [count for _, count in cuts])
        for (owner, count), share in zip(cuts, shares, strict=True):
            self._cut(owner, fill, count, share)

    def _cut(self, owner: str, fill: _Fill, count: Decimal, share: Decimal) -> None:
        """Take `count` contracts off `owner`'s part of `fill`'s market. The stop-loss closes
        them for the strategy (the account's floor under its position): the part is closed at
        the stop-loss fill's price with `share` of its fee, and the strategy's day counts the
        loss. Any other fill (a sale by hand, another program's, a strategy's buying the other
        side) takes them back at the part's own cost, realizing nothing for it."""
        ticker, book_side, yes_price, _, _, ts, strategy = fill
        engine, opened_at = self.engines[owner], self.opened_at[owner]
        closes = (engine.markets[ticker].position > 0) == (book_side is BookSide.ASK)
        if strategy != STOP_LOSS or not closes:
            _reduce(engine, opened_at, ticker, count, ts)
            return
        event = _apply(engine, opened_at, (ticker, book_side, yes_price, count, share, ts, None))
        self._realized(owner, ticker, ts, event.net)

    def settle(
        self,
        ticker: str,
        result: str,
        *,
        ts: float,
        yes_value: Decimal | None,
        fee: Decimal = ZERO,
        settled: Decimal = ZERO,
    ) -> None:
        """Settle every part of `ticker`, each bearing its share of the settlement's `fee` by
        the contracts it held of the account's `settled` ones (`fee_shares`)."""
        event = _Settled(result, ts, yes_value, fee, settled)
        replay = self._replays.get(ticker)
        if replay is not None:
            replay.events.append(event)
        self._settle(ticker, event)

    def _settle(self, ticker: str, settled: _Settled) -> None:
        held = [
            (owner, engine, mine)
            for owner, engine in self.engines.items()
            if (mine := engine.markets.get(ticker)) is not None and mine.position != 0
        ]
        counts = [abs(mine.position) for _, _, mine in held]
        shares = fee_shares(settled.fee, settled.settled, counts)
        for (owner, engine, _), share in zip(held, shares, strict=True):
            event = engine.apply_settlement(
                ticker, settled.result, ts=settled.ts, fee=share, yes_value=settled.yes_value
            )
            self._realized(owner, ticker, settled.ts, event.net)
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


_V = TypeVar("_V")


def fee_shares(fee: Decimal, whole: Decimal, counts: Sequence[Decimal]) -> list[Decimal]:
    """Each count's share of `fee`, which `whole` contracts paid, in the fee's own unit (a
    third of $0.07 is $0.0233), rounded on the running total of the counts: the shares add up
    to the fee of all of them, the whole fee when they are every contract (three shares of
    $0.0349 rounded alone came to $0.0348)."""
    shares: list[Decimal] = []
    so_far = charged = ZERO
    for count in counts:
        so_far += count
        upto = fee if so_far >= whole else (fee * so_far / whole).quantize(FEE_QUANTUM)
        shares.append(upto - charged)
        charged = upto
    return shares


def _put(kept: MutableMapping[str, _V], key: str, value: _V | None) -> None:
    """`kept[key] = value`, or no `key` when `value` is None."""
    if value is None:
        kept.pop(key, None)
    else:
        kept[key] = value


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

"""A local venue: our orders matched against a book someone else recorded (or is streaming).

The venue holds the simulator's exchange core as its components, in-process, without the served
exchange's journal, tick, RFQs or keys. The rest of the market is the recorded book, put in for each
request by a "crowd" account and taken off again. `LocalVenue` adds each resting order's place in
its queue (`QueueSpot`, venue/queue.py: the fill model) and settlement, and has the latency, the
markets' closes, our orders' expiry and the compaction as a part (`Timetable`, venue/timetable.py);
`VenueClient` is what the trade loop calls instead of `KalshiClient`, answering with the same models
and no network code. docs/backtesting.md "The venue and the fill model".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from kalshi_cli.client.requests import (
    AmendOrder,
    AmendResult,
    CancelResult,
    CreateOrder,
    CreateOrderResult,
    DecreaseResult,
)
from kalshi_cli.sim.core.components import CoreComponents
from kalshi_cli.sim.core.records import (
    ExchangeError,
    PlaceRequest,
    SimFill,
    SimOrder,
    keeps_place,
)
from kalshi_cli.venue import answers
from kalshi_cli.venue.client import VenueClient, api_error
from kalshi_cli.venue.queue import FillModel, QueueSpot
from kalshi_cli.venue.reference import MarketInfo, install
from kalshi_cli.venue.taken import TakenLevels
from kalshi_cli.venue.timetable import Timetable
from kalshi_cli.vocabulary.clock import Clock
from kalshi_cli.vocabulary.models import Orderbook, is_market_result
from kalshi_cli.vocabulary.units import (
    ONE,
    PRICE_TICKS,
    ZERO,
    BookSide,
    SelfTradePrevention,
    Side,
    TimeInForce,
    count_hundredths,
    dollars_to_cents,
    hundredths_count,
    price_ticks,
    ticks_price,
)

CROWD_CASH_CENTS = 10**15  # the crowd account: never short of collateral
# a side of the recorded book as the local book holds it: price ticks -> size hundredths (units
# "Integer money"); read in integers, converted to Decimal where it meets the exchange core
Levels = Mapping[int, int]


@dataclass
class VenueStats:
    """What the report shows of order handling: how orders fared, not what they earned."""

    orders: int = 0
    rejected: int = 0
    cancels: int = 0
    amends: int = 0
    taker_contracts: Decimal = ZERO
    maker_contracts: Decimal = ZERO
    contracts_ordered: Decimal = ZERO
    queue_waits: list[float] = field(default_factory=list)

    def took(self, fills: list[SimFill]) -> None:
        """A write of ours filled `fills` as the taker."""
        if fills:  # most of a quoting run's writes fill nothing
            self.taker_contracts += sum((f.count for f in fills), ZERO)


@dataclass
class _Resting:
    order_id: str
    ticker: str
    yes: bool  # a YES bid (book side bid), else a NO bid (ask)
    own: Decimal  # its price on its own side (YES price for a bid, NO price for an ask)
    tick: int  # `own` in ticks: the key of its level in the recorded book
    arrived: float  # time
    spot: QueueSpot
    ledger: str  # the core's account of the subaccount it rests on
    queued: int  # when it joined its level's queue, as a count: the core's queue order
    # the recorded level at `tick` in hundredths, as `spot` last heard it (`spot.level`): a
    # book change that leaves it, with nothing pending in the spot, is nothing to tell it
    level: int
    first_fill: float | None = None  # time


@dataclass
class _Placed:
    """A crowd order placed for one request, and our resting orders it stands ahead of."""

    order_id: str
    behind: list[_Resting]


@dataclass
class _Taking:
    """What one request of ours meets: the crowd orders placed for it, and our own resting
    orders it crosses (self-trade prevention may cancel them)."""

    placed: list[_Placed] = field(default_factory=list)
    ours: list[_Resting] = field(default_factory=list)
    tick: int | None = None  # the request's own price in ticks: where it rests, if it rests


class LocalVenue:
    """Our orders matched against a recorded (or streamed) book (module docstring). Takes the
    clock it reads, the markets it lists, the account's starting `balance`, the fill model,
    the latency every write of ours waits, and `advance`: what moves the data (and the clock)
    forward by that latency (a backtest's driver; None: the latency is not waited for)."""

    def __init__(
        self,
        clock: Clock,
        markets: Iterable[MarketInfo],
        *,
        balance: Decimal,
        fill_model: FillModel = FillModel.OPTIMISTIC,
        latency_s: float = 0.0,
        advance: Callable[[float], None] | None = None,  # time
    ) -> None:
        self.clock = clock  # the venue's client reads it for its answers' times
        self._fill_model = fill_model
        # the simulator's exchange core, without the served exchange's journal, tick, RFQs and
        # API keys (sim/core/exchange.py); with no default fees, for each market's series is
        # installed with the fees its `MarketInfo` names (venue/reference.py `install`)
        self.core = CoreComponents.build(clock, None)
        self.stats = VenueStats()
        self.infos = {info.ticker: info for info in install(self.core, markets, clock.wall())}
        self.account = self.core.accounts.create_account(
            key_id="backtest", public_key_pem="", cash_cents=dollars_to_cents(balance)
        ).account_id
        self._crowd = self.core.accounts.create_account(
            key_id="recorded-crowd", public_key_pem="", cash_cents=CROWD_CASH_CENTS
        ).account_id
        # arrival after the latency, the markets' closes, our orders' expiry, the compaction
        self.timetable = Timetable(
            clock,
            self.core,
            self.infos,
            latency_s=latency_s,
            advance=advance,
            expired=self._expired,
            accounts=(self.account, self._crowd),
        )
        self._books: dict[str, tuple[Levels, Levels]] = {}
        # ticker -> (yes side?, own price) -> contracts our orders took from that recorded
        # level, and the level's size when last seen: by market, so a book change reads its
        # own market's alone
        self._taken = TakenLevels()
        self._resting: dict[str, _Resting] = {}
        self._by_ticker: dict[str, set[str]] = {}
        # the next place in queue order (`_Resting.queued`): an order of ours that joins the
        # back of its level now stands behind every one of ours that joined before (the core's
        # time priority)
        self._queue_order = itertools.count(1)
        # the core's account of each of our subaccounts asked for: a subaccount, once made,
        # is never removed, so its ledger is looked up once rather than on every request
        self._ledgers: dict[int, str] = {}
        self.client = VenueClient(self)

    # ------------------------------------------------------------------ fed by the data

    def book_changed(self, ticker: str, yes: Levels, no: Levels) -> None:
        """The recorded bids of `ticker` are now `yes` and `no` (price -> size). The mappings
        are read, not copied, until the next call for this market: a feed that changes them in
        place (a replay's delta) need not call again for a market it does not `matches_in`."""
        self.timetable.catch_up()
        now = self.clock.wall()
        self._books[ticker] = (yes, no)
        if ticker in self._taken.markets:  # levels our orders took from: the market takes them
            self._taken.book_changed(ticker, yes, no)
        ids = self._by_ticker.get(ticker)
        if not ids:
            return  # no order of ours rests here: nothing to match
        crossed: list[_Resting] = []
        # each side's best bid, read once for every order of ours here: an order is crossed
        # when the other side's best meets it (`_crossed_levels` has a level then)
        best_yes, best_no = (max(yes) if yes else None), (max(no) if no else None)
        for order_id in ids:
            r = self._resting.get(order_id)
            if r is None:
                continue
            own_side, best_other = (yes, best_no) if r.yes else (no, best_yes)
            size, spot = own_side.get(r.tick, 0), r.spot
            # `level_changed` returns at once on an unchanged level with nothing pending: most
            # changes are at other prices, so that is asked here, without the call
            if size != r.level or spot.pending or spot.unmatched_trades:
                r.level = size
                spot.level_changed(hundredths_count(size), now)
            if best_other is not None and best_other >= PRICE_TICKS - r.tick:
                crossed.append(r)
        if crossed:
            self._trade_through(ticker, crossed, yes, no)

    def matches_in(self, ticker: str) -> bool:
        """Whether a change of `ticker`'s book is matching work here: an order of ours rests
        there, or our orders took from its recorded levels (`TakenLevels`). Elsewhere a change
        moves nothing of ours: a feed that changes the mappings `book_changed` was given in
        place has nothing to tell."""
        if self._by_ticker.get(ticker):  # told by its truth, without a call to bool
            return True
        return ticker in self._taken.markets

    def trade(self, ticker: str, yes_price: Decimal, count: Decimal, taker_side: Side) -> None:
        """A recorded public trade. A YES taker bought at `yes_price`, meeting NO bids at
        1 - yes_price; a NO taker met YES bids at `yes_price`."""
        if self.timetable.due(self.clock.wall()):
            self.timetable.expire_due()
        ids = self._by_ticker.get(ticker)
        if not ids:
            return
        if not self.timetable.trading(ticker):
            return  # a market that does not trade fills nothing
        hit_yes = taker_side is Side.NO  # the side whose resting bids the trade met
        price = yes_price if hit_yes else ONE - yes_price
        now = self.clock.wall()
        left = count
        mine = sorted(
            (r for i in ids if (r := self._resting.get(i)) is not None and r.yes == hit_yes),
            key=lambda r: (-r.own, r.queued),
        )
        for r in mine:
            if left <= 0 or r.own < price:
                break
            if r.own > price:
                got = r.spot.traded_through(left)
            else:
                got = r.spot.traded_at_our_price(left, now)
            if got > 0:
                left -= got
                self._fill_resting(r, got)

    def lifecycle(self, ticker: str, event_type: object) -> None:
        """A `market_lifecycle_v2` event's effect on trading (`Timetable.lifecycle`)."""
        self.timetable.lifecycle(ticker, event_type)

    def settle(self, ticker: str, result: str, value: Decimal | None = None) -> None:
        """Settle at the data's result (a `scalar` one paying YES `value` a contract): resting
        orders are cancelled, positions paid."""
        if not is_market_result(result) or ticker not in self.infos:
            return
        if result == "scalar" and value is None:
            return  # a scalar result is paid at its value: none known, nothing to pay
        self.timetable.expire_due()
        market = self.core.reference.markets[ticker]
        if market.status == "settled":
            return
        for order_id in list(self._by_ticker.get(ticker, ())):
            self._forget(order_id)
        self.core.settlement.settle(
            ticker,
            result,
            at=self.timetable.settled_at(ticker),
            value=value if result == "scalar" else None,
        )

    def book(self, ticker: str) -> Orderbook | None:
        levels = self._books.get(ticker)
        if levels is None:
            return None
        yes, no = levels
        return Orderbook.of(ticker, yes, no)

    # ------------------------------------------------------------------ matching

    def _take(self, ticker: str, buy_yes: bool, own: Decimal) -> _Taking:
        """Place, for this instant, the recorded liquidity an incoming bid for YES
        (`buy_yes`) or NO at `own` would meet, as the crowd account's orders. Where our own
        orders rest at a level, the recorded contracts still ahead of each
        (`QueueSpot.before_us`) go in front of it, so the incoming order meets them first, as
        it would on the exchange, and reaches ours (self-trade prevention) only after them."""
        taking = _Taking(ours=self._ours_crossed(ticker, not buy_yes, ONE - own))
        levels = self._books.get(ticker)
        try:
            own_tick = taking.tick = price_ticks(own)
        except ValueError:
            return taking  # no price of any market: the core refuses the order
        if levels is None:
            return taking
        other = levels[1] if buy_yes else levels[0]  # NO bids meet a YES bid, and back
        for tick in _crossed_levels(other, own_tick):
            visible = self._taken.visible(ticker, not buy_yes, tick, other[tick])
            if visible <= 0:
                continue
            price, size = ticks_price(tick), hundredths_count(visible)
            ours = [r for r in taking.ours if r.tick == tick]
            before = ZERO  # recorded contracts placed so far at this level
            for i, r in enumerate(ours):
                ahead = min(max(r.spot.before_us, before), size)
                if ahead > before:
                    taking.placed += self._place_crowd(
                        ticker, buy_yes, price, ahead - before, ours[i:]
                    )
                    before = ahead
                # to the back, each in turn: ours keep their order, with the crowd between
                self.core.desk.to_back_of_queue(r.ledger, r.order_id)
                r.queued = next(self._queue_order)
            if size > before:
                taking.placed += self._place_crowd(ticker, buy_yes, price, size - before, [])
        return taking

    def _ours_crossed(self, ticker: str, yes_side: bool, limit: Decimal) -> list[_Resting]:
        """Our orders resting on one side of a market at `limit` or better (the ones an
        incoming order at `limit` crosses), in the core's queue order at each price."""
        ours = []
        resting = self._resting
        for i in self._by_ticker.get(ticker, ()):  # a loop, not a comprehension: no call
            r = resting.get(i)
            if r is not None and r.yes == yes_side and r.own >= limit:
                ours.append(r)
        if len(ours) > 1:  # most requests cross none of ours
            ours.sort(key=_queue_place)
        return ours

    def _place_crowd(
        self,
        ticker: str,
        buy_yes: bool,
        price: Decimal,
        size: Decimal,
        behind: list[_Resting],
    ) -> list[_Placed]:
        """One crowd order of `size` at the recorded level `price` (in its own side's price),
        met by an incoming bid for YES (`buy_yes`) or NO; `behind` are our orders it stands
        ahead of. Empty when the core refuses it."""
        try:
            result = self.core.desk.place_order(
                self._crowd,
                PlaceRequest(
                    ticker=ticker,
                    book_side=BookSide.ASK if buy_yes else BookSide.BID,
                    price=ONE - price if buy_yes else price,
                    count=size,
                    time_in_force=TimeInForce.GTC,
                    self_trade_prevention=SelfTradePrevention.TAKER_AT_CROSS,
                    post_only=True,
                ),
            )
        except ExchangeError:
            return []  # it would cross our own resting order: the trade-through's business
        return [_Placed(result.order.order_id, behind)]

    def _untake(self, ticker: str, taking: _Taking) -> None:
        """Take the crowd's orders off again: what ours took stays taken (`TakenLevels`), and
        is no longer ahead of the orders of ours it stood in front of; our orders the request
        cancelled (self-trade prevention) are forgotten."""
        for p in taking.placed:
            order = self.core.history.order(self._crowd, p.order_id)
            took = order.fill_count
            if order.status == "resting":
                self.core.desk.cancel_order(self._crowd, p.order_id)
            if took > 0:
                yes_side = order.book_side is BookSide.BID
                tick = price_ticks(order.price if yes_side else ONE - order.price)
                levels = self._books.get(ticker)
                size = None if levels is None else levels[0 if yes_side else 1].get(tick, 0)
                self._taken.took(ticker, yes_side, tick, count_hundredths(took), size)
                for r in p.behind:
                    r.spot.took_ahead(took)
        for r in taking.ours:
            if self.core.history.order(r.ledger, r.order_id).status != "resting":
                self._forget(r.order_id)

    def _trade_through(self, ticker: str, crossed: list[_Resting], yes: Levels, no: Levels) -> None:
        """Our resting bids `crossed`, which the recorded other side now crosses, fill against
        it."""
        if not self.timetable.trading(ticker):
            return
        for r in sorted(crossed, key=lambda r: (-r.own, r.queued)):
            other = no if r.yes else yes
            for tick in _crossed_levels(other, r.tick):
                if r.spot.remaining <= 0:
                    break
                size = self._taken.visible(ticker, not r.yes, tick, other[tick])
                got = r.spot.traded_through(hundredths_count(size)) if size > 0 else ZERO
                if got > 0:
                    self._taken.took(ticker, not r.yes, tick, count_hundredths(got), other[tick])
                    self._fill_resting(r, got)

    def _fill_resting(self, r: _Resting, count: Decimal) -> None:
        """The crowd account meets our resting order for `count` at its price. The core fills
        our orders at that price in the order they joined it, which the queue estimates need
        not follow (one that joined later can be estimated nearer the front): the core's fill
        is the one that stands, on whichever of ours it went to."""
        order = self.core.history.order(r.ledger, r.order_id)
        count = min(count, order.remaining_count)
        if count <= 0 or order.status != "resting":
            self._forget(r.order_id)
            return
        level = [
            o
            for i in self._by_ticker[r.ticker]
            if (o := self._resting[i]).yes == r.yes and o.own == r.own
        ]
        before = {
            o.order_id: self.core.history.order(o.ledger, o.order_id).remaining_count for o in level
        }
        self.core.desk.place_order(
            self._crowd,
            PlaceRequest(
                ticker=r.ticker,
                book_side=BookSide.ASK if r.yes else BookSide.BID,
                price=order.price,
                count=count,
                time_in_force=TimeInForce.IOC,
                self_trade_prevention=SelfTradePrevention.TAKER_AT_CROSS,
            ),
        )
        now = self.clock.wall()
        self.stats.maker_contracts += count
        for o in level:
            after = self.core.history.order(o.ledger, o.order_id)
            if after.remaining_count < before[o.order_id] and o.first_fill is None:
                o.first_fill = now
                self.stats.queue_waits.append(now - o.arrived)
            o.spot.remaining = after.remaining_count
            if after.status != "resting":
                self._forget(o.order_id)

    def _expired(self, order_id: str) -> None:
        """The expiration time of our order `order_id` has come: forgotten unless it still
        rests."""
        r = self._resting.get(order_id)
        if r is not None and self.core.history.order(r.ledger, order_id).status != "resting":
            self._forget(order_id)

    def _forget(self, order_id: str) -> None:
        r = self._resting.pop(order_id, None)
        if r is not None:
            self._by_ticker.get(r.ticker, set()).discard(order_id)

    # ------------------------------------------------------------------ requests

    def ledger(self, subaccount: int) -> str:
        """The core's account of our `subaccount` (0: `account`), created by the core's
        `create_subaccount`; one not created is refused as the exchange refuses a write to it
        (400)."""
        found = self._ledgers.get(subaccount)
        if found is None:
            try:
                found = self.core.subaccounts.subaccount_ledger(self.account, subaccount)
            except ExchangeError as exc:
                raise api_error(exc) from exc
            self._ledgers[subaccount] = found
        return found

    def place(self, request: CreateOrder, *, subaccount: int = 0) -> CreateOrderResult:
        """Place our order on `subaccount` (its order group is not sent: a venue has none); the
        create-order answer the exchange would give."""
        self.timetable.arrive()
        ledger = self.ledger(subaccount)
        self.stats.orders += 1
        ticker = request.ticker
        buy_yes = request.book_side is BookSide.BID
        own = request.price if buy_yes else ONE - request.price
        # a post-only order is planned against the recorded book too: one that would cross it
        # is refused, as the exchange refuses it
        placed = self._take(ticker, buy_yes, own)
        try:
            result = self.core.desk.place_order(
                ledger,
                PlaceRequest(
                    ticker=ticker,
                    book_side=request.book_side,
                    price=request.price,
                    count=request.count,
                    time_in_force=request.time_in_force,
                    self_trade_prevention=request.self_trade_prevention,
                    client_order_id=request.client_order_id,
                    post_only=request.post_only,
                    reduce_only=request.reduce_only,
                    expiration_time=request.expiration_time,
                ),
            )
        except ExchangeError as exc:
            self.stats.rejected += 1
            raise api_error(exc) from exc
        finally:
            self._untake(ticker, placed)
        order = result.order
        self.stats.contracts_ordered += request.count
        self.stats.took(result.fills)
        live = self.core.history.order(ledger, order.order_id)
        if live.status == "resting":
            self._rest(
                live.order_id,
                ticker,
                buy_yes,
                own,
                live.remaining_count,
                ledger=ledger,
                tick=placed.tick,
            )
            self.timetable.watch_expiry(live.order_id, live.expiration_time)
        return answers.created(live, result.fills, self.clock.wall())

    def _rest(
        self,
        order_id: str,
        ticker: str,
        yes: bool,
        own: Decimal,
        left: Decimal,
        *,
        ledger: str,
        tick: int | None = None,
    ) -> None:
        """Our order `order_id` rests at `own` (`tick`: its ticks, when the caller has them)."""
        if tick is None:
            tick = price_ticks(own)
        levels = self._books.get(ticker)
        level = 0 if levels is None else (levels[0] if yes else levels[1]).get(tick, 0)
        self._resting[order_id] = _Resting(
            order_id,
            ticker,
            yes,
            own,
            tick,
            self.clock.wall(),
            QueueSpot.join(left, hundredths_count(level), self._fill_model),
            ledger,
            next(self._queue_order),
            level,
        )
        ids = self._by_ticker.get(ticker)  # not `setdefault(ticker, set())`: no set made each time
        if ids is None:
            ids = self._by_ticker[ticker] = set()
        ids.add(order_id)
        # what our own orders took of that level stood at its front: it is not ahead of us
        taken = self._taken.of(ticker, yes, tick)
        if taken:
            self._resting[order_id].spot.took_ahead(hundredths_count(taken))

    def cancel(self, order_id: str, *, subaccount: int = 0) -> CancelResult:
        self.timetable.arrive()
        ledger = self.ledger(subaccount)
        try:
            order, reduced = self.core.desk.cancel_order(ledger, order_id)
        except ExchangeError as exc:
            raise api_error(exc) from exc
        self._forget(order_id)
        self.stats.cancels += 1
        return CancelResult(order.order_id, reduced)

    def amend(self, order_id: str, terms: AmendOrder, *, subaccount: int = 0) -> AmendResult:
        """Kalshi's amend to `terms`: a new price (or a larger count) loses the queue place; a
        smaller count at the same price keeps it."""
        self.timetable.arrive()
        ledger = self.ledger(subaccount)
        ticker, price, count = terms.ticker, terms.price, terms.count
        desk = self.core.desk
        try:
            order = desk.owned_resting(ledger, order_id)
        except ExchangeError as exc:
            raise api_error(exc) from exc
        placed, keeps = self._take_for_amend(order, terms)
        try:
            old, new, fills = desk.amend_resting(
                order,
                ticker=ticker,
                book_side=terms.book_side,
                price=price,
                count=count,
                updated_client_order_id=terms.updated_client_order_id,
                expiration_time=terms.expiration_time,
            )
        except ExchangeError as exc:
            raise api_error(exc) from exc
        finally:
            self._untake(ticker, placed)
        self.stats.amends += 1
        # the count is the order's new total: what it adds to the order's filled and resting
        # contracts is ordered now, as a new order's would be (a requote after a partial fill)
        self.stats.contracts_ordered += max(count - old.fill_count - old.remaining_count, ZERO)
        self.stats.took(fills)
        # replaced here below; an order that rests on under its id keeps it in `_by_ticker`
        kept = self._resting.pop(order_id, None)
        new_id = new.order_id
        if kept is not None and (new_id != order_id or new.status != "resting"):
            self._by_ticker[kept.ticker].discard(order_id)
        if new.status == "resting":
            if keeps and kept is not None:
                kept.order_id = new_id
                kept.spot.remaining = new.remaining_count
                self._resting[new_id] = kept
                self._by_ticker[ticker].add(new_id)
            else:
                yes = new.book_side is BookSide.BID
                own = new.price if yes else ONE - new.price
                tick = placed.tick  # the new price's ticks, from the take
                self._rest(new_id, ticker, yes, own, new.remaining_count, ledger=ledger, tick=tick)
            self.timetable.watch_expiry(new_id, new.expiration_time)
        return answers.amended(old, new, fills, self.clock.wall())

    def _take_for_amend(self, order: SimOrder, terms: AmendOrder) -> tuple[_Taking, bool]:
        """The recorded liquidity an amend of the resting `order` meets: none when it keeps its
        place (the same price, no more contracts), else what the order at its new price would
        meet, as a new order. An amend the core will refuse (another market or side) meets
        none. With it, whether the amend keeps the order's place (`keeps_place`, read here
        once: what the order meets cannot change it)."""
        ticker, book_side, price = terms.ticker, terms.book_side, terms.price
        if order.ticker != ticker or order.book_side is not book_side:
            return _Taking(), False
        if keeps_place(order, price, terms.count):
            return _Taking(), True
        buy_yes = book_side is BookSide.BID
        return self._take(ticker, buy_yes, price if buy_yes else ONE - price), False

    def decrease(
        self,
        order_id: str,
        *,
        reduce_by: Decimal | None,
        reduce_to: Decimal | None,
        subaccount: int = 0,
    ) -> DecreaseResult:
        self.timetable.arrive()
        ledger = self.ledger(subaccount)
        try:
            order = self.core.desk.decrease_order(
                ledger, order_id, reduce_by=reduce_by, reduce_to=reduce_to
            )
        except ExchangeError as exc:
            raise api_error(exc) from exc
        r = self._resting.get(order_id)
        if order.status != "resting":
            self._forget(order_id)
        elif r is not None:
            r.spot.remaining = order.remaining_count
        return answers.decreased(order, self.clock.wall())

    # ------------------------------------------------------------------ reads

    def resting_order_ids(self) -> list[str]:
        self.timetable.expire_due()
        return list(self._resting)

    def queue_ahead(self, order_id: str) -> Decimal | None:
        self.timetable.expire_due()
        r = self._resting.get(order_id)
        return None if r is None else r.spot.before_us

    def queue_positions(
        self,
        ledgers: list[str],
        *,
        market_tickers: list[str] | None = None,
        event_ticker: str | None = None,
    ) -> dict[str, Decimal]:
        """order id -> contracts ahead of it in its queue, of the orders resting on `ledgers` (of
        these markets, of this event): as the exchange counts them, whoever's they are (the
        spec's "preceding shares"), so the recorded contracts the fill model estimates ahead
        of it, and our own orders ahead of it at its price, which the core's book (holding
        only ours between requests) queues exactly."""
        out: dict[str, Decimal] = {}
        for r in self._resting.values():
            if r.ledger not in ledgers:
                continue
            if market_tickers is not None and r.ticker not in market_tickers:
                continue
            if event_ticker is not None and self.core.reference.event_of(r.ticker) != event_ticker:
                continue
            out[r.order_id] = r.spot.before_us + self.core.desk.queue_position(r.ledger, r.order_id)
        return out


def _queue_place(r: _Resting) -> int:
    return r.queued


def _crossed_levels(other: Levels, own: int) -> list[int]:
    """The prices (in ticks) of the other side's recorded levels that a bid at `own` (its own
    side's price in ticks) meets, best first: a NO bid at p meets a YES bid at `own` when
    p + own >= 1, and back. The one crossing rule of an incoming order (`_take`) and a resting
    one (`_trade_through`)."""
    limit = PRICE_TICKS - own
    return sorted([p for p in other if p >= limit], reverse=True)  # a list: no generator

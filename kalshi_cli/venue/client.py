"""The client of a local venue: what the trade loop, the order service and the start-up checks ask
of `KalshiClient`, answered by a `LocalVenue` through the same areas, names and signatures
(tests/venue/test_venue.py). Orders, fills and settlements are the core's records as models
(answers.py); markets, events and series are the bodies the exchange sends, as read live. No
HTTP: a write can only reach the local venue.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from itertools import islice, takewhile
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

from kalshi_cli.client.historical import HistoricalCutoff
from kalshi_cli.client.orders import placed_with
from kalshi_cli.client.requests import (
    AmendOrder,
    AmendResult,
    CancelResult,
    CreateOrder,
    CreateOrderResult,
    DecreaseResult,
)
from kalshi_cli.client.subaccounts import SubaccountBalance
from kalshi_cli.sim.core import serialize as ser
from kalshi_cli.sim.core.records import ExchangeError, ledger_id, not_found, owner
from kalshi_cli.venue import answers
from kalshi_cli.vocabulary.errors import ApiError, NotFoundError
from kalshi_cli.vocabulary.models import (
    Balance,
    Fill,
    Market,
    Order,
    Orderbook,
    Position,
    Settlement,
    decode_answer,
)
from kalshi_cli.vocabulary.units import ZERO

if TYPE_CHECKING:
    from kalshi_cli.sim.core.components import CoreComponents
    from kalshi_cli.sim.core.records import SimFill, SimOrder
    from kalshi_cli.venue.timetable import Timetable
    from kalshi_cli.vocabulary.clock import Clock

R = TypeVar("R")


def api_error(exc: ExchangeError) -> ApiError:
    body: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.details:
        body["details"] = exc.details
    return ApiError.from_response(exc.status, {"error": body}, what="local venue")


class Venue(Protocol):
    """What the client asks of its venue (`LocalVenue` is the one): the components of the exchange
    core it reads and the account in them, the books it was fed, and the writes it checks and
    applies."""

    clock: Clock
    core: CoreComponents
    account: str
    timetable: Timetable  # read after it catches up with the clock (`expire_due`)

    def book(self, ticker: str) -> Orderbook | None: ...

    def ledger(self, subaccount: int) -> str: ...

    def queue_positions(
        self,
        ledgers: list[str],
        *,
        market_tickers: list[str] | None = ...,
        event_ticker: str | None = ...,
    ) -> dict[str, Decimal]: ...

    def place(self, request: CreateOrder, *, subaccount: int = ...) -> CreateOrderResult: ...

    def cancel(self, order_id: str, *, subaccount: int = ...) -> CancelResult: ...

    def amend(self, order_id: str, terms: AmendOrder, *, subaccount: int = ...) -> AmendResult: ...

    def decrease(
        self,
        order_id: str,
        *,
        reduce_by: Decimal | None,
        reduce_to: Decimal | None,
        subaccount: int = ...,
    ) -> DecreaseResult: ...


class VenueClient:
    """A `LocalVenue`'s client (see the module docstring): an object per area, each answering
    from the venue, and the subaccount they act on."""

    # the subaccount the client acts on, as `KalshiClient.subaccount` (None: the exchange's
    # defaults): the venue's subaccounts are the core's (`Subaccounts.create_subaccount` on
    # `venue.account`), and each call acts on the one the exchange would (see `ledgers`)
    subaccount: int | None = None

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.subaccount = None
        # subaccount -> its handle (`on_subaccount`), one table for the venue's every handle:
        # the loop asks for its own subaccount's on each fill read, and a handle holds nothing
        # but the venue and the number
        self._handles: dict[int | None, Self] = {}
        self._attach()

    def _attach(self) -> None:
        self.markets = VenueMarkets(self)
        self.exchange = VenueExchange(self)
        self.portfolio = VenuePortfolio(self)
        self.orders = VenueOrders(self)
        self.subaccounts = VenueSubaccounts(self)
        self.historical = VenueHistorical(self)
        self.order_groups = VenueOrderGroups(self)

    def on_subaccount(self, subaccount: int | None) -> Self:
        """This client acting on `subaccount`, as `KalshiClient.on_subaccount`: a second
        handle on the same venue; this client keeps acting on what it did."""
        handle = self._handles.get(subaccount)
        if handle is None:
            handle = self._handles[subaccount] = copy.copy(self)
            handle.subaccount = subaccount
            handle._attach()
        return handle

    def number(self, named: int | None = None) -> int:
        """The subaccount a write acts on: the one it names, else the client's, else 0."""
        if named is not None:
            return named
        return self.subaccount or 0

    def ledgers(self, named: int | None = None, *, all_by_default: bool) -> list[str]:
        """The core's accounts a read covers, as the exchange's `read_ledgers`: the subaccount
        it names, else the client's; with neither, every subaccount (the order, fill and
        settlement listings) or 0 (positions, queue positions). One not created holds nothing."""
        user = self.venue.account
        number = named if named is not None else self.subaccount
        numbers = self.core.subaccounts.subaccount_numbers(user)
        if number is None:
            return [ledger_id(user, n) for n in (numbers if all_by_default else [0])]
        return [ledger_id(user, number)] if number in numbers else []

    def newest_first(
        self,
        rows: Callable[[str], Sequence[R]],
        when: Callable[[R], float | None],
        named: int | None = None,
    ) -> Sequence[R]:
        """A listing's rows of every subaccount it covers (`ledgers`), newest first, as
        the exchange merges them."""
        ledgers = self.ledgers(named, all_by_default=True)
        if len(ledgers) == 1:
            return rows(ledgers[0])
        merged = [r for ledger in ledgers for r in rows(ledger)]
        return sorted(merged, key=lambda r: when(r) or 0.0, reverse=True)

    @property
    def core(self) -> CoreComponents:
        """The venue's exchange core, to read from: a read sees the orders the clock has
        expired as gone."""
        self.venue.timetable.expire_due()
        return self.venue.core


class _Area:
    """An area of the venue's client, answering from the client's venue (as `client.Area` of
    `KalshiClient`, over its connection)."""

    def __init__(self, client: VenueClient) -> None:
        self._c = client


class VenueMarkets(_Area):
    """The market reads: the venue's reference data, and its books."""

    def get_market(self, ticker: str) -> Market:
        market = self._c.core.reference.markets.get(ticker)
        if market is None:
            raise NotFoundError(f"unknown ticker {ticker}", status=404)
        return decode_answer(Market, ser.market_json(self._c.venue.core.engine, market))

    def iter_markets(
        self,
        *,
        limit: int | None = None,
        page_size: int = 1000,
        on_page: Callable[[int], None] | None = None,
        **filters: Any,
    ) -> Iterator[Market]:
        status = filters.get("status")
        series = filters.get("series_ticker")
        event = filters.get("event_ticker")
        markets = (
            decode_answer(Market, ser.market_json(self._c.venue.core.engine, m))
            for m in self._c.core.reference.markets.values()
            if (not series or m.series_ticker == series) and (not event or m.event_ticker == event)
        )
        yield from islice((m for m in markets if status != "open" or m.is_open), limit)

    def get_event(self, event_ticker: str, *, with_nested_markets: bool = False) -> dict[str, Any]:
        event = self._c.core.reference.events.get(event_ticker)
        if event is None:
            raise NotFoundError(f"unknown event {event_ticker}", status=404)
        markets = [
            ser.market_json(self._c.venue.core.engine, m)
            for m in self._c.core.reference.event_markets(event_ticker)
        ]
        reference = self._c.core.reference
        series = reference.series.get(event.series_ticker)
        # the override in effect now, as the exchange sends it
        override = reference.fees.event_fee_override(event_ticker)
        if with_nested_markets:
            return {"event": ser.event_json(event, series, markets, override)}
        return {"event": ser.event_json(event, series, None, override), "markets": markets}

    def get_series(self, series_ticker: str) -> dict[str, Any]:
        series = self._c.core.reference.series.get(series_ticker)
        if series is None:
            raise NotFoundError(f"unknown series {series_ticker}", status=404)
        return ser.series_json(series, self._c.core.reference.fees.series_fees(series_ticker))

    def get_orderbook(self, ticker: str, depth: int = 0) -> Orderbook:
        book = self._c.venue.book(ticker)
        if book is None:
            return Orderbook(ticker=ticker, yes_bids=(), no_bids=())
        return book


class VenueExchange(_Area):
    """The scheduled fee changes of series and events the venue's core charges by (the
    reference data's), listed as the exchange lists them."""

    def get_series_fee_changes(
        self, *, series_ticker: str | None = None, show_historical: bool = False
    ) -> list[dict[str, Any]]:
        return ser.series_fee_changes_json(
            self._c.core.reference.fees.fee_changes(series_ticker),
            self._c.venue.clock.wall(),
            historical=show_historical,
        )

    def iter_event_fee_changes(
        self, *, event_ticker: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every change of an event's fee override, those in effect too (the operation has no
        `show_historical`)."""
        changes = self._c.core.reference.fees.event_fee_changes(event_ticker)
        return iter([ser.event_fee_change_json(c) for c in changes])


class VenuePortfolio(_Area):
    """Balance, positions, fills and settlements of the venue's account."""

    def get_balance(self) -> Balance:
        """The client's subaccount's (0's when it names none; 400 for one not created)."""
        ledger = self._c.venue.ledger(self._c.number())
        account = self._c.core.accounts.account(ledger)
        return Balance(
            balance_cents=account.cash_cents,
            balance_dollars=account.balance,
            portfolio_value_cents=self._c.core.accounts.portfolio_value_cents(ledger),
            updated_ts=int(self._c.core.accounts.balance_updated(ledger)),
        )

    def get_positions(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        include_flat: bool = False,
    ) -> list[Position]:
        out = []
        held = [
            p
            for ledger in self._c.ledgers(all_by_default=False)
            for p in self._c.core.accounts.positions(ledger)
        ]
        for p in held:
            if ticker is not None and p.ticker != ticker:
                continue
            if (
                event_ticker is not None
                and self._c.core.reference.event_of(p.ticker) != event_ticker
            ):
                continue
            position = Position(
                ticker=p.ticker,
                position=p.position,
                exposure=p.cost_basis,
                realized_pnl=p.realized_pnl,
                fees_paid=p.fees_paid,
                total_traded=p.total_traded,
            )
            if include_flat or position.position != ZERO:
                out.append(position)
        return out

    def iter_fills(
        self,
        *,
        ticker: str | None = None,
        order_id: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        limit: int | None = None,
    ) -> Iterator[Fill]:
        history = self._c.core.history

        def made_since(ledger: str) -> list[SimFill]:
            # only the archived fills made at or after `min_ts` are rebuilt: the loop reads
            # its recent fills on every sync, and a long run archives thousands
            return history.fills(ledger, since=min_ts)

        # newest first, as the exchange lists them; fills are kept in time order, so the first
        # one older than `min_ts` ends the listing (the loop reads only its recent fills)
        listed = takewhile(
            lambda f: min_ts is None or int(f.ts) >= min_ts,
            self._c.newest_first(made_since, lambda f: f.ts),
        )
        chosen = (
            f
            for f in listed
            if (ticker is None or f.ticker == ticker)
            and (order_id is None or f.order_id == order_id)
            and (max_ts is None or int(f.ts) <= max_ts)
        )
        yield from map(answers.fill, islice(chosen, limit))

    def iter_settlements(
        self,
        *,
        ticker: str | None = None,
        min_ts: int | None = None,
        limit: int | None = None,
        subaccount: int | None = None,
    ) -> Iterator[Settlement]:
        listed = self._c.newest_first(
            self._c.core.accounts.settlements, lambda s: s.settled_time, subaccount
        )
        chosen = (
            s
            for s in listed
            if (ticker is None or s.ticker == ticker)
            and (min_ts is None or s.settled_time >= min_ts)
        )
        yield from map(answers.settlement, islice(chosen, limit))


class VenueOrders(_Area):
    """Orders, written to the local venue only; listed and looked up; their queue positions."""

    def iter_orders(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Order]:
        history = self._c.core.history
        rows: Callable[[str], Sequence[SimOrder]] = history.orders
        if status == "resting":
            # a resting order is never archived (`History.archive_orders`), so the archive, of
            # every finished order of the run, is not rebuilt to list the resting ones (a
            # loop's stop proves none is left with this listing)
            rows = functools.partial(history.orders, since=math.inf)
        reference = self._c.core.reference
        chosen = (
            o
            for o in self._c.newest_first(rows, lambda o: o.created_time)
            if (ticker is None or o.ticker == ticker)
            and (status is None or o.status == status)
            and (event_ticker is None or reference.event_of(o.ticker) == event_ticker)
        )
        yield from map(answers.order, islice(chosen, limit))

    def get_order(self, order_id: str) -> Order:
        """The order on any subaccount: the exchange's read of one order names none."""
        core = self._c.core
        user = self._c.venue.account
        for n in core.subaccounts.subaccount_numbers(user):
            try:
                return answers.order(core.history.order(ledger_id(user, n), order_id))
            except ExchangeError:
                continue
        raise api_error(not_found())

    def find_order_by_client_id(self, client_order_id: str, ticker: str) -> Order | None:
        return placed_with(self.iter_orders(ticker=ticker), client_order_id)

    def get_queue_positions(
        self,
        *,
        market_tickers: list[str] | None = None,
        event_ticker: str | None = None,
        subaccount: int | None = None,
    ) -> dict[str, Decimal]:
        """order id -> contracts ahead of it in the estimated queue (the fill model's), of the
        orders of `subaccount` (else the client's, else 0)."""
        return self._c.venue.queue_positions(
            self._c.ledgers(subaccount, all_by_default=False),
            market_tickers=market_tickers,
            event_ticker=event_ticker,
        )

    def create_order(self, request: CreateOrder) -> CreateOrderResult:
        return self._c.venue.place(request, subaccount=self._c.number())

    def cancel_order(
        self, order_id: str, *, ticker: str | None = None, subaccount: int | None = None
    ) -> CancelResult:
        """The order on `subaccount` (else the client's, else 0): another's is not found."""
        return self._c.venue.cancel(order_id, subaccount=self._c.number(subaccount))

    def cancel_all_orders(self) -> None:
        """Every resting order of the client's subaccount (of every subaccount when it names
        none), as the exchange's cancel-all: the kill switch of a paper loop (paper_kill.py)
        runs on this."""
        for ledger in self._c.ledgers(all_by_default=True):
            _, number = owner(ledger)
            for order_id in [o.order_id for o in self._c.core.accounts.resting_orders(ledger)]:
                if self._c.core.history.order(ledger, order_id).status == "resting":
                    self._c.venue.cancel(order_id, subaccount=number)

    def batch_cancel(
        self,
        orders: list[tuple[str, str | None]],
        *,
        subaccounts: dict[str, int] | None = None,
    ) -> list[CancelResult]:
        """Per-order failures come back as `CancelResult.error`, as the exchange answers them.
        Each item acts on the client's subaccount, else the one `subaccounts` names for it,
        else 0 (the exchange's reading of an item that names none), as `KalshiClient` sends."""
        where = subaccounts or {}
        results: list[CancelResult] = []
        for order_id, _ in orders:
            number = (
                self._c.subaccount if self._c.subaccount is not None else where.get(order_id, 0)
            )
            try:
                results.append(self._c.venue.cancel(order_id, subaccount=number))
            except ApiError as exc:
                results.append(CancelResult(order_id, ZERO, exc.one_line()))
        return results

    def amend_order(
        self,
        order_id: str,
        terms: AmendOrder,
        *,
        subaccount: int | None = None,
    ) -> AmendResult:
        """The order on `subaccount` (else the client's, else 0): another's is not found."""
        return self._c.venue.amend(order_id, terms, subaccount=self._c.number(subaccount))

    def decrease_order(
        self,
        order_id: str,
        *,
        reduce_by: Decimal | None = None,
        reduce_to: Decimal | None = None,
        ticker: str | None = None,
        subaccount: int | None = None,
    ) -> DecreaseResult:
        """The order on `subaccount` (else the client's, else 0): another's is not found. The
        venue finds an order by its id on any shard, so `ticker` routes nothing here."""
        return self._c.venue.decrease(
            order_id,
            reduce_by=reduce_by,
            reduce_to=reduce_to,
            subaccount=self._c.number(subaccount),
        )


class VenueSubaccounts(_Area):
    """The subaccounts' balances and netting, the core's."""

    def subaccount_balances(self) -> list[SubaccountBalance]:
        """Every subaccount of the venue, 0 first."""
        core = self._c.core
        user = self._c.venue.account
        return [
            SubaccountBalance(
                n,
                core.accounts.account(ledger_id(user, n)).balance,
                int(core.accounts.balance_updated(ledger_id(user, n))),
            )
            for n in core.subaccounts.subaccount_numbers(user)
        ]

    def subaccount_netting(self) -> dict[int, bool]:
        return self._c.core.subaccounts.netting(self._c.venue.account)

    def set_subaccount_netting(self, subaccount: int, enabled: bool) -> None:
        """With netting on, an event's positions hold only their worst-case loss, as on Kalshi
        (sim/core/collateral.py `CollateralReturn.net_event`)."""
        self._c.core.subaccounts.set_netting(self._c.venue.account, subaccount, enabled)


class VenueHistorical(_Area):
    """The historical tier: a venue's history lives in memory for one run, nothing is archived."""

    def get_historical_cutoff(self) -> HistoricalCutoff:
        return HistoricalCutoff(0.0, 0.0, 0.0, None)

    def iter_historical_fills(
        self,
        *,
        ticker: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        limit: int | None = None,
    ) -> Iterator[Any]:
        """Nothing: the archived fills, and orders, of a venue are none."""
        return iter(())

    iter_historical_orders = iter_historical_fills


class VenueOrderGroups(_Area):
    """Order groups: a venue has none."""

    def trigger_order_group(
        self,
        order_group_id: str,
        *,
        subaccount: int | None = None,
        exchange_index: int | None = None,
    ) -> None:
        """A venue has no order groups: every group is unknown to it, as a deleted one is."""
        raise NotFoundError(f"order group {order_group_id} not found", status=404)

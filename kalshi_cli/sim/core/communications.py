"""RFQs and quotes on the simulated exchange (openapi.yaml tag `communications`): a requester asks
for a price on a size, makers quote, the requester accepts one side, the maker confirms, and the
confirmation starts the execution timer (15 s on a standard market). At the first
`Exchange.tick()` after it ends, the quote's two orders go on the public book through the core's
ordinary order path, the maker's first. Every write and execution is one journal record
(`Exchange.journaled`). `Core` names the part of `Exchange` used here. docs/simulator.md "RFQs
and quotes".
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

import msgspec

from kalshi_cli.sim.core.records import (
    ExchangeError,
    PlaceRequest,
    bad_request,
    from_journal,
    journal,
    ledger_id,
    not_found,
)
from kalshi_cli.vocabulary.models import price_on_grid, trading_fee
from kalshi_cli.vocabulary.units import ONE, ZERO, BookSide, SelfTradePrevention, TimeInForce

if TYPE_CHECKING:
    from kalshi_cli.sim.core.accounts import Ledger
    from kalshi_cli.sim.core.history import History
    from kalshi_cli.sim.core.order_desk import OrderDesk
    from kalshi_cli.sim.core.reference import Reference

MAX_OPEN_RFQS = 100
# docs.kalshi.com "Request for Quote (RFQ)", Timing: the execution timer of a standard market
# (a High Volatility Market's is 1 s; the simulator designates no market one). A scenario sets
# its own (`rfq: {execution_timer_seconds: N}`, sim/core/scenarios.py).
EXECUTION_TIMER_S = 15.0
RfqStatus = Literal["open", "closed"]
QuoteStatus = Literal["open", "accepted", "confirmed", "executed", "cancelled"]


@dataclass
class SimRfq:
    rfq_id: str
    creator: str  # account id
    market_ticker: str
    event_ticker: str
    contracts: Decimal | None
    target_cost: Decimal | None
    rest_remainder: bool
    obscure_creator_id: bool
    target_cost_excludes_fees: bool
    created_ts: float
    status: RfqStatus = "open"
    updated_ts: float = 0.0
    cancelled_ts: float | None = None
    cancellation_reason: str = ""
    executed: bool = False
    order_id: str = ""  # the requester's order, once executed
    subaccount: int = 0  # the creator's subaccount whose ledger trades it


@dataclass
class SimQuote:
    quote_id: str
    rfq_id: str
    creator: str  # account id
    market_ticker: str
    yes_bid: Decimal
    no_bid: Decimal
    yes_contracts: Decimal
    no_contracts: Decimal
    rest_remainder: bool
    post_only: bool
    created_ts: float
    status: QuoteStatus = "open"
    updated_ts: float = 0.0
    accepted_side: str | None = None
    accepted_ts: float | None = None
    confirmed_ts: float | None = None
    executed_ts: float | None = None
    cancelled_ts: float | None = None
    cancellation_reason: str = ""
    order_id: str = ""  # the maker's order, once executed
    client_order_id: str = ""
    rfq_order_id: str = ""
    rfq_client_order_id: str = ""
    subaccount: int = 0  # the maker's subaccount whose ledger trades it


class RfqRequest(msgspec.Struct, frozen=True):
    """The terms of an RFQ (`CreateRFQRequest`) as `create_rfq` checks them and the journal writes
    and replays them; `subaccount` is the creator's whose ledger trades it."""

    market_ticker: str
    contracts: Decimal | None
    target_cost: Decimal | None
    rest_remainder: bool
    replace_existing: bool = False
    obscure_creator_id: bool = False
    target_cost_excludes_fees: bool = False
    subaccount: int = 0


class QuoteRequest(msgspec.Struct, frozen=True):
    """The terms of a quote (`CreateQuoteRequest`) as `create_quote` checks them and the journal
    writes and replays them; `subaccount` is the maker's whose ledger trades it."""

    rfq_id: str
    yes_bid: Decimal
    no_bid: Decimal
    rest_remainder: bool
    post_only: bool = False
    subaccount: int = 0


@dataclass
class CommsNotice:
    """One `communications` message: `kind` is its asyncapi `type` (rfq_created, rfq_deleted,
    quote_created, quote_accepted, quote_executed); `to` the accounts that may see it (None:
    everyone subscribed to the channel)."""

    kind: str
    to: frozenset[str] | None
    rfq: SimRfq
    quote: SimQuote | None = None


CommsListener = Callable[[CommsNotice], None]


class Core(Protocol):
    """What of `Exchange` (sim/core/exchange.py) the RFQs use."""

    rfqs: dict[str, SimRfq]
    quotes: dict[str, SimQuote]
    reference: Reference
    accounts: Ledger
    history: History
    desk: OrderDesk

    def journaled(self, op: str, **fields: Any) -> AbstractContextManager[float]: ...


def uuid_or_400(value: str, what: str) -> str:
    """`value` when it is a UUID; else Kalshi's 400 naming `what` (an id in a path, a body or
    a query)."""
    try:
        uuid.UUID(value)
    except ValueError:
        raise bad_request(f"{what} is not a UUID") from None
    return value


@dataclass
class Communications:
    exchange: Core
    listeners: list[CommsListener] = field(default_factory=list)
    execution_timer_s: float = EXECUTION_TIMER_S
    # the ids of the confirmed quotes waiting for their execution, oldest confirmation first;
    # None until first needed, then gathered from the quotes (a snapshot may have restored
    # them) and kept up to date by the confirmations and executions
    _awaiting: dict[str, None] | None = field(default=None, repr=False)

    @property
    def rfqs(self) -> dict[str, SimRfq]:
        return self.exchange.rfqs

    @property
    def quotes(self) -> dict[str, SimQuote]:
        return self.exchange.quotes

    # identities ---------------------------------------------------------------------------

    @staticmethod
    def communications_id(account_id: str) -> str:
        """A public id for an account that does not reveal the account id."""
        return hashlib.sha256(("communications:" + account_id).encode()).hexdigest()[:32]

    def _emit(self, notice: CommsNotice) -> None:
        for listener in self.listeners:
            listener(notice)

    # RFQs ---------------------------------------------------------------------------------

    def create_rfq(self, account_id: str, request: RfqRequest, rfq_id: str | None = None) -> SimRfq:
        """Check, journal and open an RFQ. `rfq_id`: given only by the replay of its journal
        record."""
        self.exchange.accounts.account(ledger_id(account_id, request.subaccount))
        market_ticker = request.market_ticker
        market = self.exchange.reference.markets.get(market_ticker)
        if market is None:
            raise ExchangeError(404, "market_not_found", f"market {market_ticker} not found")
        if market.status != "open":
            raise bad_request(f"{market_ticker} is {market.status}", "market_closed")
        _check_rfq_size(
            request.contracts, request.target_cost, excludes_fees=request.target_cost_excludes_fees
        )
        mine = [r for r in self.rfqs.values() if r.creator == account_id and r.status == "open"]
        if request.replace_existing:  # it closes them all, which a confirmed quote forbids
            for old in mine:
                self._refuse_withdrawal(old)
        else:
            if any(r.market_ticker == market_ticker for r in mine):
                raise ExchangeError(
                    409, "already_exists", "an open RFQ on this market already exists"
                )
            if len(mine) >= MAX_OPEN_RFQS:
                raise bad_request(f"at most {MAX_OPEN_RFQS} open RFQs at a time", "too_many_rfqs")
        rfq_id = rfq_id or str(uuid.uuid4())
        record = journal(request, account_id=account_id, rfq_id=rfq_id)
        with self.exchange.journaled("rfq_create", **record) as now:
            if request.replace_existing:
                for old in mine:
                    self._close(old, "replaced by a new RFQ", now)
            rfq = SimRfq(
                rfq_id,
                account_id,
                market.ticker,
                market.event_ticker,
                request.contracts,
                request.target_cost,
                request.rest_remainder,
                request.obscure_creator_id,
                request.target_cost_excludes_fees,
                now,
                updated_ts=now,
                subaccount=request.subaccount,
            )
            self.rfqs[rfq.rfq_id] = rfq
            self._emit(CommsNotice("rfq_created", None, rfq))
        return rfq

    def rfq(self, rfq_id: str) -> SimRfq:
        found = self.rfqs.get(uuid_or_400(rfq_id, "rfq_id"))
        if found is None:
            raise not_found()
        return found

    def delete_rfq(self, account_id: str, rfq_id: str) -> None:
        rfq = self.rfq(rfq_id)
        if rfq.creator != account_id or rfq.status != "open":
            raise not_found()
        self._refuse_withdrawal(rfq)
        with self.exchange.journaled("rfq_delete", account_id=account_id, rfq_id=rfq_id) as now:
            self._close(rfq, "deleted by its creator", now)

    def _close(self, rfq: SimRfq, reason: str, now: float) -> None:
        rfq.status = "closed"
        rfq.updated_ts = rfq.cancelled_ts = now
        rfq.cancellation_reason = reason
        for quote in self.quotes.values():
            if quote.rfq_id == rfq.rfq_id and quote.status in ("open", "accepted"):
                self._cancel(quote, "the RFQ was closed", now)
        self._emit(CommsNotice("rfq_deleted", None, rfq))

    def creator_id_seen(self, rfq: SimRfq, viewer: str) -> str:
        if rfq.obscure_creator_id and viewer != rfq.creator and not rfq.executed:
            return "0"
        return self.communications_id(rfq.creator)

    # quotes -------------------------------------------------------------------------------

    def create_quote(
        self, account_id: str, request: QuoteRequest, quote_id: str | None = None
    ) -> SimQuote:
        """Check, journal and open a quote, replacing the maker's open one on the RFQ.
        `quote_id`: given only by the replay of its journal record."""
        self.exchange.accounts.account(ledger_id(account_id, request.subaccount))
        rfq = self.rfq(request.rfq_id)
        yes_bid, no_bid = request.yes_bid, request.no_bid
        if rfq.status != "open":
            raise bad_request("the RFQ is closed", "rfq_closed")
        if rfq.creator == account_id:
            raise bad_request("you cannot quote on your own RFQ")
        if yes_bid == 0 and no_bid == 0:
            raise bad_request("yes_bid and no_bid cannot both be 0", "invalid_price")
        market = self.exchange.reference.markets[rfq.market_ticker]
        for name, price in (("yes_bid", yes_bid), ("no_bid", no_bid)):
            if price != 0 and not price_on_grid(price, market.price_ranges):
                raise bad_request(f"{name} is not on the market's grid", "invalid_price")
        quote_id = quote_id or str(uuid.uuid4())
        record = journal(request, account_id=account_id, quote_id=quote_id)
        with self.exchange.journaled("quote_create", **record) as now:
            yes_contracts = self._size(rfq, yes_bid, now)
            no_contracts = self._size(rfq, no_bid, now)
            for old in self.quotes.values():
                if old.rfq_id == rfq.rfq_id and old.creator == account_id and old.status == "open":
                    self._cancel(old, "replaced by a new quote", now)
            return self._add_quote(
                SimQuote(
                    quote_id,
                    rfq.rfq_id,
                    account_id,
                    rfq.market_ticker,
                    yes_bid,
                    no_bid,
                    yes_contracts,
                    no_contracts,
                    request.rest_remainder,
                    request.post_only,
                    now,
                    updated_ts=now,
                    subaccount=request.subaccount,
                )
            )

    def _add_quote(self, quote: SimQuote) -> SimQuote:
        self.quotes[quote.quote_id] = quote
        self._emit_quote("quote_created", quote)
        return quote

    def _size(self, rfq: SimRfq, price: Decimal, now: float) -> Decimal:
        """The contracts a side of a quote is for: the RFQ's, or what its target cost buys at
        `now`. A target cost that includes fees caps principal plus the requester's taker fee
        (openapi.yaml `target_cost_excludes_fees`), at the rate the market's fills are charged
        then: its series' (or its event's override), none while its fee waiver runs."""
        if rfq.contracts is not None:
            return rfq.contracts
        assert rfq.target_cost is not None
        if price == 0:
            return ZERO
        count = (rfq.target_cost / price).to_integral_value(rounding=ROUND_FLOOR)
        if not rfq.target_cost_excludes_fees:
            rate = self.exchange.reference.fees.fee_model(rfq.market_ticker, now).rates(at=now)[0]
            while count > 0 and count * price + trading_fee(count, price, rate) > rfq.target_cost:
                count -= 1
        return count

    def quote(self, quote_id: str, rfq_id: str | None = None) -> SimQuote:
        found = self.quotes.get(uuid_or_400(quote_id, "quote_id"))
        if rfq_id is not None:
            self.rfq(rfq_id)
            if found is not None and found.rfq_id != rfq_id:
                found = None
        if found is None:
            raise not_found()
        return found

    def visible(self, quote: SimQuote, account_id: str) -> bool:
        return account_id in (quote.creator, self.rfqs[quote.rfq_id].creator)

    def delete_quote(self, account_id: str, quote_id: str, rfq_id: str | None = None) -> None:
        quote = self.quote(quote_id, rfq_id)
        if quote.creator != account_id or quote.status not in ("open", "accepted"):
            raise not_found()
        with self.exchange.journaled(
            "quote_delete", account_id=account_id, quote_id=quote.quote_id
        ) as now:
            self._cancel(quote, "deleted by its creator", now)

    def _cancel(self, quote: SimQuote, reason: str, now: float) -> None:
        quote.status = "cancelled"
        quote.updated_ts = quote.cancelled_ts = now
        quote.cancellation_reason = reason

    def accept_quote(
        self, account_id: str, quote_id: str, side: str, rfq_id: str | None = None
    ) -> SimQuote:
        quote = self.quote(quote_id, rfq_id)
        rfq = self.rfqs[quote.rfq_id]
        if rfq.creator != account_id:
            raise not_found()
        if side not in ("yes", "no"):
            raise bad_request("accepted_side must be yes or no")
        if quote.status != "open" or rfq.status != "open":
            raise bad_request(f"the quote is {quote.status}", "quote_not_open")
        if (quote.yes_bid if side == "yes" else quote.no_bid) == 0:
            raise bad_request(f"the quote declines the {side} side")
        if (quote.yes_contracts if side == "yes" else quote.no_contracts) <= 0:
            raise bad_request("the target cost buys no whole contract", "invalid_count")
        self._refuse_withdrawal(rfq)
        with self.exchange.journaled(
            "quote_accept", account_id=account_id, quote_id=quote.quote_id, side=side
        ) as now:
            quote.status = "accepted"
            quote.accepted_side = side
            quote.accepted_ts = quote.updated_ts = now
            self._emit_quote("quote_accepted", quote)
        return quote

    def confirm_quote(self, account_id: str, quote_id: str, rfq_id: str | None = None) -> SimQuote:
        """The maker confirms its accepted quote: the execution timer starts, and nothing is
        placed until it runs out (`execute_due`)."""
        quote = self.quote(quote_id, rfq_id)
        if quote.creator != account_id:
            raise not_found()
        if quote.status != "accepted":
            raise bad_request(f"the quote is {quote.status}", "quote_not_accepted")
        self._refuse_withdrawal(self.rfqs[quote.rfq_id])  # another quote of it is confirmed
        with self.exchange.journaled(
            "quote_confirm", account_id=account_id, quote_id=quote.quote_id
        ) as now:
            quote.status = "confirmed"
            quote.confirmed_ts = quote.updated_ts = now
            self._awaiting_execution()[quote.quote_id] = None
        return quote

    # the execution timer --------------------------------------------------------------------

    def _awaiting_execution(self) -> dict[str, None]:
        if self._awaiting is None:
            confirmed = [q for q in self.quotes.values() if q.status == "confirmed"]
            confirmed.sort(key=lambda q: q.confirmed_ts or 0.0)
            self._awaiting = dict.fromkeys(q.quote_id for q in confirmed)
        return self._awaiting

    def _refuse_withdrawal(self, rfq: SimRfq) -> None:
        """The guide: "Once confirmed, neither party can withdraw". An RFQ with a confirmed
        quote is neither deleted nor replaced, and no other quote of it accepted or confirmed,
        until the execution."""
        for quote_id in self._awaiting_execution():
            if self.quotes[quote_id].rfq_id == rfq.rfq_id:
                raise bad_request("a quote on this RFQ is confirmed and awaits its execution")

    def execute_due(self, now: float) -> None:
        """Execute every confirmed quote whose execution timer has run out by `now` (called by
        `Exchange.tick`, on the exchange's clock)."""
        for quote_id in list(self._awaiting_execution()):
            confirmed_ts = self.quotes[quote_id].confirmed_ts
            assert confirmed_ts is not None  # set with the status
            if confirmed_ts + self.execution_timer_s <= now:
                self.execute(quote_id)

    def execute(self, quote_id: str, *, client_order_ids: tuple[str, str] | None = None) -> None:
        """Place a confirmed quote's two orders on the public book, or, when the exchange
        refuses one, cancel the quote with the reason (the confirmation was answered long
        ago: the quote is where a refusal shows). `client_order_ids` (the maker's order's, the
        requester's): given only by the replay of its journal record."""
        quote = self.quotes[quote_id]
        maker_coid, requester_coid = client_order_ids or (str(uuid.uuid4()), str(uuid.uuid4()))
        with self.exchange.journaled(
            "quote_execute",
            quote_id=quote_id,
            client_order_id=maker_coid,
            rfq_client_order_id=requester_coid,
        ) as now:
            self._awaiting_execution().pop(quote_id, None)
            try:
                self._execute(quote, maker_coid, requester_coid, now)
            except ExchangeError as exc:
                reason = exc.message if exc.details is None else f"{exc.message} ({exc.details})"
                self._cancel(quote, f"execution refused: {reason}", now)

    def _execute(self, quote: SimQuote, maker_coid: str, requester_coid: str, now: float) -> None:
        rfq = self.rfqs[quote.rfq_id]
        buys_yes = quote.accepted_side == "yes"
        price = quote.yes_bid if buys_yes else quote.no_bid
        count = quote.yes_contracts if buys_yes else quote.no_contracts
        yes_price = price if buys_yes else ONE - price
        requester_side = BookSide.BID if buys_yes else BookSide.ASK
        maker_side = BookSide.ASK if buys_yes else BookSide.BID
        exchange = self.exchange
        maker_ledger = ledger_id(quote.creator, quote.subaccount)

        def request(side: BookSide, coid: str, rests: bool, post_only: bool) -> PlaceRequest:
            return PlaceRequest(
                ticker=quote.market_ticker,
                book_side=side,
                price=yes_price,
                count=count,
                time_in_force=TimeInForce.GTC if rests else TimeInForce.IOC,
                self_trade_prevention=SelfTradePrevention.TAKER_AT_CROSS,
                client_order_id=coid,
                post_only=post_only,
            )

        # The maker's order goes first, as any order does: it takes what of the public book
        # crosses it (a post-only one is refused instead: `Quote.post_only`), and its rest rests
        # there. The requester's order follows at the same price and meets the whole book in
        # price-time priority, the maker's order among the rest. Each order's remainder rests or
        # is cancelled as its side's `rest_remainder` says ("whether to rest the remainder ...
        # after execution").
        maker = exchange.desk.place_order(
            maker_ledger, request(maker_side, maker_coid, True, quote.post_only)
        ).order
        try:
            requester = exchange.desk.place_order(
                ledger_id(rfq.creator, rfq.subaccount),
                request(requester_side, requester_coid, rfq.rest_remainder, False),
            ).order
        except ExchangeError:
            # the trade the maker's order was placed for will not happen
            self._withdraw(maker_ledger, maker.order_id)
            raise
        if not quote.rest_remainder:
            self._withdraw(maker_ledger, maker.order_id)
        quote.status = "executed"
        quote.executed_ts = quote.updated_ts = now
        quote.order_id, quote.client_order_id = maker.order_id, maker.client_order_id or ""
        quote.rfq_order_id = requester.order_id
        quote.rfq_client_order_id = requester.client_order_id or ""
        rfq.executed = True
        rfq.order_id = requester.order_id
        rfq.status = "closed"
        rfq.updated_ts = now
        for other in self.quotes.values():
            if other.rfq_id == rfq.rfq_id and other.status in ("open", "accepted"):
                self._cancel(other, "the RFQ was executed", now)
        self._emit_quote("quote_executed", quote)

    def _withdraw(self, ledger: str, order_id: str) -> None:
        if self.exchange.history.order(ledger, order_id).status == "resting":
            self.exchange.desk.cancel_order(ledger, order_id)

    def _emit_quote(self, kind: str, quote: SimQuote) -> None:
        rfq = self.rfqs[quote.rfq_id]
        self._emit(CommsNotice(kind, frozenset({quote.creator, rfq.creator}), rfq, quote))

    # the journal --------------------------------------------------------------------------

    OPS = frozenset(
        {
            "rfq_create",
            "rfq_delete",
            "quote_create",
            "quote_delete",
            "quote_accept",
            "quote_confirm",
            "quote_execute",
        }
    )

    def replay(self, rec: dict[str, Any]) -> None:
        """Apply one journal record again (`Exchange._replay`, at the record's time)."""
        op = rec["op"]
        if op == "quote_execute":  # the exchange's own write: no account made it
            self.execute(rec["quote_id"], client_order_ids=_executed_ids(rec))
            return
        account_id = rec["account_id"]
        if op == "rfq_create":
            self.create_rfq(account_id, from_journal(RfqRequest, rec), rec["rfq_id"])
        elif op == "rfq_delete":
            self.delete_rfq(account_id, rec["rfq_id"])
        elif op == "quote_create":
            self.create_quote(account_id, from_journal(QuoteRequest, rec), rec["quote_id"])
        elif op == "quote_delete":
            self.delete_quote(account_id, rec["quote_id"])
        elif op == "quote_accept":
            self.accept_quote(account_id, rec["quote_id"], rec["side"])
        elif op == "quote_confirm":
            self.confirm_quote(account_id, rec["quote_id"])
            if "client_order_id" in rec:
                # written by a version whose confirmation executed at once, with these ids
                self.execute(rec["quote_id"], client_order_ids=_executed_ids(rec))
        else:
            raise ValueError(f"not an RFQ record: {op!r}")


def _executed_ids(rec: dict[str, Any]) -> tuple[str, str]:
    """The client order ids of a recorded execution's two orders: the quote's, the RFQ's."""
    return rec["client_order_id"], rec["rfq_client_order_id"]


def _check_rfq_size(
    contracts: Decimal | None, target_cost: Decimal | None, *, excludes_fees: bool
) -> None:
    """An RFQ asks for a positive number of contracts or a positive cost, not both."""
    if (contracts is None) == (target_cost is None):
        raise bad_request("give exactly one of contracts and target_cost_dollars")
    if contracts is not None and contracts <= 0:
        raise bad_request("contracts must be positive", "invalid_count")
    if target_cost is not None and target_cost <= 0:
        raise bad_request("target_cost_dollars must be positive")
    if excludes_fees and target_cost is None:
        raise bad_request("target_cost_excludes_fees is only valid together with a target cost")

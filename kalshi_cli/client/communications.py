"""RFQs and quotes (`/communications/...`): a requester asks for a price on a size, makers quote a
YES and a NO bid, the requester accepts one side, the maker confirms, and the exchange places
both orders. Values no market allows are refused here (the tick grid is the caller's); a write
whose answer was lost, or whose success carries an `error` object, is `OrderOutcomeUnknown`
naming the read that tells (`_write`). docs/orders.md "RFQs and quotes".
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Literal

import msgspec

from kalshi_cli.client.connection import Area, Id, Params, path_segment
from kalshi_cli.client.order_groups import checked_subaccount
from kalshi_cli.client.retry import Resend, UnknownOutcome
from kalshi_cli.vocabulary.errors import KalshiError, ValidationError
from kalshi_cli.vocabulary.models import Answer
from kalshi_cli.vocabulary.order_terms import check_count
from kalshi_cli.vocabulary.units import (
    ONE,
    ZERO,
    fmt_count,
    fmt_dollars,
)


class Rfq(Answer, frozen=True, kw_only=True):
    """A request for quote as the exchange shows it to the caller (`creator_user_id` only to
    its creator: `mine`)."""

    rfq_id: str = msgspec.field(name="id")
    market_ticker: str
    status: str
    contracts: Decimal = msgspec.field(name="contracts_fp")
    target_cost: Decimal | None = msgspec.field(default=None, name="target_cost_dollars")
    rest_remainder: bool = False
    creator_id: str
    created_ts: str
    cancellation_reason: str = ""
    creator_user_id: str = ""

    @property
    def mine(self) -> bool:
        return bool(self.creator_user_id)


class Quote(Answer, frozen=True, kw_only=True):
    """A quote as the exchange shows it: to its maker and to the RFQ's creator only (`mine`:
    to its maker). The order ids of an execution are there for the party whose order it is."""

    quote_id: str = msgspec.field(name="id")
    rfq_id: str
    market_ticker: str
    status: str
    yes_bid: Decimal = msgspec.field(name="yes_bid_dollars")
    no_bid: Decimal = msgspec.field(name="no_bid_dollars")
    yes_contracts: Decimal | None = msgspec.field(default=None, name="yes_contracts_fp")
    no_contracts: Decimal | None = msgspec.field(default=None, name="no_contracts_fp")
    contracts: Decimal = msgspec.field(name="contracts_fp")
    accepted_side: str | None = None
    created_ts: str
    updated_ts: str
    creator_order_id: str = ""
    rfq_creator_order_id: str = ""
    cancellation_reason: str = ""
    creator_user_id: str = ""

    def __post_init__(self) -> None:
        # no defaults in money: a bid that is no price, or a size that is no count, would be
        # offered for acceptance as it reads (`buy 10 at NaN`)
        for price, name in ((self.yes_bid, "yes_bid_dollars"), (self.no_bid, "no_bid_dollars")):
            if not (price.is_finite() and ZERO <= price <= ONE):
                raise ValueError(f"`{name}` {price} is not a price")
        if not (self.contracts.is_finite() and self.contracts >= ZERO):
            raise ValueError(f"`contracts_fp` {self.contracts} is not a count")

    @property
    def mine(self) -> bool:
        return bool(self.creator_user_id)


RFQS = "/communications/rfqs"
QUOTES = "/communications/quotes"
QuoteSide = Literal["yes", "no"]


def _id(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} must be a non-empty string", code="bad_id")
    return value.strip()


def check_bid(price: object, what: str) -> Decimal:
    """A quote's price for one side: a Decimal in [0, 1), 0 declining that side."""
    if not isinstance(price, Decimal) or not price.is_finite():
        raise ValidationError(f"{what} must be a Decimal, got {price!r}", code="bad_price")
    if not ZERO <= price < ONE:
        raise ValidationError(f"{what} {price} must be at least 0 and below 1", code="bad_price")
    if price != price.quantize(Decimal("0.0001")):
        raise ValidationError(f"{what} {price} is finer than $0.0001", code="bad_price")
    return price


class CommunicationsApi(Area):
    """RFQs and quotes (see the module docstring)."""

    def _write(
        self,
        method: str,
        path: str,
        *,
        what: str,
        unknown: str,
        read_back: str,
        json: dict[str, Any] | None = None,
    ) -> None:
        """Send one write the spec answers 204 with no body, again only while it certainly never
        left (`Connection.write`): an answer lost after sending raises `OrderOutcomeUnknown`,
        and so does a 2xx carrying an `error` object (`Connection.unless_error`); `unknown` says
        what may or may not be so, `read_back` the command that tells."""
        told = UnknownOutcome.read_by(what, unknown, read_back)
        response = self._conn.write(method, path, told, json=json, resend=Resend.IF_UNSENT)
        self._conn.unless_error(response, told)

    def _create(
        self,
        path: str,
        body: dict[str, Any],
        *,
        subaccount: int | None,
        what: str,
        unknown: str,
        read_back: str,
    ) -> str:
        """A create sent as `_write` sends a write, on `subaccount` when it names one (checked
        first), and the id of what it made. An answer that cannot be read, or reads without an
        id, is no failure either: `read_back` finds it."""
        if checked_subaccount(subaccount) is not None:
            body = body | {"subaccount": subaccount}
        told = UnknownOutcome.read_by(what, unknown, read_back)
        response = self._conn.write("POST", path, told, json=body, resend=Resend.IF_UNSENT)
        fields = self._conn.written(response, told, self._conn.fields)
        try:
            found: str = self._conn.field(fields, "id", Id, f"answer to {what}")
        except KalshiError as exc:
            raise told.error(
                f"the exchange made {what} but its id could not be read ({exc.message})"
            ) from exc
        return found

    def communications_id(self) -> str:
        """The account's public id in RFQs and quotes (it does not reveal the account id)."""
        found: str = self._conn.get_field(
            "/communications/id", "communications_id", Id, "communications id", auth=True
        )
        return found

    # RFQs -------------------------------------------------------------------------------------

    def iter_rfqs(
        self,
        *,
        market_ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
        mine: bool = False,
        creator_user_id: str | None = None,
        subaccount: int | None = None,
        limit: int | None = None,
        page_size: int = 100,
    ) -> Iterator[Rfq]:
        """RFQs, newest first, across every page; `mine`: only the caller's."""
        params: Params = {
            "market_ticker": market_ticker,
            "event_ticker": event_ticker,
            "status": status,
            "creator_user_id": creator_user_id,
            "user_filter": "self" if mine else None,
            "subaccount": checked_subaccount(subaccount),
        }
        return self._conn.iterate(
            RFQS,
            "rfqs",
            Rfq,
            params=params,
            limit=limit,
            page_size=min(page_size, 100),
            auth=True,
            cursor_required=False,
        )

    def get_rfq(self, rfq_id: str) -> Rfq:
        fields = self._conn.get_fields(
            f"{RFQS}/{path_segment(_id(rfq_id, 'an RFQ id'))}", auth=True
        )
        return self._conn.item(Rfq, fields, "rfq", "RFQ")

    def create_rfq(
        self,
        market_ticker: str,
        *,
        contracts: Decimal | None = None,
        target_cost: Decimal | None = None,
        rest_remainder: bool = False,
        replace_existing: bool = False,
        obscure_creator_id: bool = False,
        target_cost_excludes_fees: bool = False,
        subaccount: int | None = None,
    ) -> str:
        """Ask for quotes on `contracts` of `market_ticker`, or on what `target_cost` dollars
        buy (exactly one of the two); returns the RFQ's id."""
        if (contracts is None) == (target_cost is None):
            raise ValidationError(
                "give exactly one of contracts and target_cost", code="bad_rfq_size"
            )
        body: dict[str, Any] = {
            "market_ticker": _id(market_ticker, "a market ticker"),
            "rest_remainder": rest_remainder,
        }
        if contracts is not None:
            body["contracts_fp"] = fmt_count(check_count(contracts, "contracts"))
        if target_cost is not None:
            if not isinstance(target_cost, Decimal) or not target_cost > 0:
                raise ValidationError(
                    f"target cost {target_cost!r} must be a positive Decimal", code="bad_price"
                )
            body["target_cost_dollars"] = fmt_dollars(target_cost)
            body["target_cost_excludes_fees"] = target_cost_excludes_fees
        elif target_cost_excludes_fees:
            raise ValidationError(
                "target_cost_excludes_fees needs a target cost", code="bad_rfq_size"
            )
        if replace_existing:
            body["replace_existing"] = True
        if obscure_creator_id:
            body["obscure_creator_id"] = True
        return self._create(
            RFQS,
            body,
            subaccount=subaccount,
            what=f"a new RFQ on {body['market_ticker']}",
            unknown="the RFQ may or may not exist",
            read_back="kalshi rfq list --mine",
        )

    def delete_rfq(self, rfq_id: str) -> None:
        """Close an RFQ of yours; its open quotes are cancelled."""
        rfq_id = _id(rfq_id, "an RFQ id")
        self._write(
            "DELETE",
            f"{RFQS}/{path_segment(rfq_id)}",
            what=f"the close of RFQ {rfq_id}",
            unknown="it may or may not be closed",
            read_back=f"kalshi rfq show {rfq_id}",
        )

    # quotes -----------------------------------------------------------------------------------

    def iter_quotes(
        self,
        *,
        rfq_id: str | None = None,
        status: str | None = None,
        mine: bool = False,
        on_my_rfqs: bool = False,
        limit: int | None = None,
        page_size: int = 500,
    ) -> Iterator[Quote]:
        """Quotes the caller may see (its own, and those on its RFQs), newest first; `mine`:
        only its own; `on_my_rfqs`: only those on its RFQs."""
        params: Params = {
            "rfq_id": rfq_id,
            "status": status,
            "user_filter": "self" if mine else None,
            "rfq_user_filter": "self" if on_my_rfqs else None,
        }
        return self._conn.iterate(
            QUOTES,
            "quotes",
            Quote,
            params=params,
            limit=limit,
            page_size=min(page_size, 500),
            auth=True,
            cursor_required=False,
        )

    def _quote_path(self, quote_id: str, rfq_id: str | None) -> str:
        quote = path_segment(_id(quote_id, "a quote id"))
        if rfq_id is None:
            return f"{QUOTES}/{quote}"
        return f"{RFQS}/{path_segment(_id(rfq_id, 'an RFQ id'))}/quotes/{quote}"

    def get_quote(self, quote_id: str, *, rfq_id: str | None = None) -> Quote:
        fields = self._conn.get_fields(self._quote_path(quote_id, rfq_id), auth=True)
        return self._conn.item(Quote, fields, "quote", "quote")

    def create_quote(
        self,
        rfq_id: str,
        *,
        yes_bid: Decimal,
        no_bid: Decimal,
        rest_remainder: bool = False,
        post_only: bool = False,
        subaccount: int | None = None,
    ) -> str:
        """Quote on someone's RFQ: the price per YES contract and per NO contract the requester
        may buy at (0 declines that side; not both). Returns the quote's id."""
        yes = check_bid(yes_bid, "yes bid")
        no = check_bid(no_bid, "no bid")
        if yes == 0 and no == 0:
            raise ValidationError("a quote cannot decline both sides", code="bad_price")
        body: dict[str, Any] = {
            "rfq_id": _id(rfq_id, "an RFQ id"),
            "yes_bid": fmt_dollars(yes),
            "no_bid": fmt_dollars(no),
            "rest_remainder": rest_remainder,
        }
        if post_only:
            body["post_only"] = True
        return self._create(
            QUOTES,
            body,
            subaccount=subaccount,
            what=f"a new quote on RFQ {body['rfq_id']}",
            unknown="the quote may or may not exist",
            read_back=f"kalshi quote list --mine --rfq {body['rfq_id']}",
        )

    def delete_quote(self, quote_id: str, *, rfq_id: str | None = None) -> None:
        """Cancel a quote of yours (open or accepted)."""
        self._write(
            "DELETE",
            self._quote_path(quote_id, rfq_id),
            what=f"the cancel of quote {quote_id}",
            unknown="it may or may not be cancelled",
            read_back=f"kalshi quote show {quote_id}",
        )

    def accept_quote(self, quote_id: str, side: QuoteSide, *, rfq_id: str | None = None) -> None:
        """Accept one side of a quote on your RFQ: you buy `side` at the quote's price for it,
        once the maker confirms. Sent once, as every write (`_write`): a lost answer is
        `OrderOutcomeUnknown`, the quote's status says whether it was accepted."""
        if side not in ("yes", "no"):
            raise ValidationError(f"accepted side {side!r} must be yes or no", code="bad_side")
        self._write(
            "PUT",
            self._quote_path(quote_id, rfq_id) + "/accept",
            json={"accepted_side": side},
            what=f"the acceptance of quote {quote_id}",
            unknown=f"it may or may not be accepted: you buy {side} once the maker confirms",
            read_back=f"kalshi quote show {quote_id}",
        )

    def confirm_quote(self, quote_id: str, *, rfq_id: str | None = None) -> None:
        """Confirm your accepted quote: the exchange places both orders.

        Sent once. An answer lost after sending (a timeout, a dropped connection, a 5xx)
        raises `OrderOutcomeUnknown`: the orders may or may not have been placed, and the
        quote's status says which (`get_quote`); confirming again is refused once executed."""
        self._write(
            "PUT",
            self._quote_path(quote_id, rfq_id) + "/confirm",
            what=f"the confirmation of quote {quote_id}",
            unknown="its orders may or may not exist",
            read_back=f"kalshi quote show {quote_id}",
        )

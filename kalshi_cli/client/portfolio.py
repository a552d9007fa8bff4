"""The portfolio (openapi.yaml 3.31.0, tag `portfolio`): balance (with its split by exchange
shard), positions, fills, settlements, the moves of money between shards (intra-exchange
transfers) and the target allocation Kalshi rebalances the balance to. Orders are their own
area (orders.py), and so are subaccounts (subaccounts.py).

A transfer between shards carries no idempotency key: the exchange cannot tell a repeat from a
second transfer. So `send_transfer` sends once, and an answer lost after sending is
`TransferOutcomeUnknown`, to be looked up in the transfer history, never sent again
(services/shards.py does that). docs/shards.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import msgspec

from kalshi_cli.client.connection import Area, Id, Params, path_segment
from kalshi_cli.client.historical import fill_listing
from kalshi_cli.client.retry import UnknownOutcome
from kalshi_cli.vocabulary.errors import OrderOutcomeUnknown, ValidationError
from kalshi_cli.vocabulary.models import Balance, EventPosition, Fill, Position, Settlement
from kalshi_cli.vocabulary.units import ZERO, fmt_money

TRANSFERS_PAGE_MAX = 500  # TransfersLimitQuery's maximum
CENTICENTS = Decimal(10_000)  # a transfer's amount is sent in 1/10,000 dollar
EVENT_CONTRACT = "event_contract"  # the exchange instance of event contracts (`ExchangeInstance`)
Shard = Annotated[int, msgspec.Meta(ge=0)]


class TransferStatus(StrEnum):
    """`IntraExchangeInstanceTransferStatus`."""

    PENDING = "pending"
    COMPLETE = "complete"


class Transfer(msgspec.Struct, frozen=True, kw_only=True):
    """One intra-exchange transfer as the history lists it (`IntraExchangeInstanceTransfer`):
    it names the shards, not the subaccounts."""

    transfer_id: Id
    source: str
    destination: str
    source_shard: Shard = msgspec.field(name="source_exchange_shard")
    destination_shard: Shard = msgspec.field(name="destination_exchange_shard")
    amount: Decimal  # dollars
    status: str
    created_ts: int

    def __post_init__(self) -> None:
        if not self.amount.is_finite() or self.amount <= ZERO:
            raise ValueError(f"transfer {self.transfer_id}'s amount is not a positive number")

    @property
    def complete(self) -> bool:
        return self.status == TransferStatus.COMPLETE


class _TransferAnswer(msgspec.Struct, frozen=True):
    transfer: Transfer


class Reservation(StrEnum):
    """`RestingMarginReservation`: what a rebalance leaves behind for resting orders."""

    NONE = "none"
    MAX = "max"
    SUM = "sum"


class ShardShare(msgspec.Struct, frozen=True):
    """One shard's target percentage of the sweepable balance (`TargetBalanceAllocation`)."""

    exchange_index: Shard
    percent: Annotated[int, msgspec.Meta(ge=0, le=100)]


class TargetAllocation(msgspec.Struct, frozen=True):
    """`GET /portfolio/target_balance_allocation`: no shares means no rebalancing."""

    allocations: tuple[ShardShare, ...]
    resting_margin_reservation: Reservation

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.allocations, key=lambda s: s.exchange_index))
        msgspec.structs.force_setattr(self, "allocations", ordered)


class TransferOutcomeUnknown(OrderOutcomeUnknown):
    """A transfer was sent and no clear answer came back: the money may or may not be moving.
    The request has no idempotency key, so it is looked up in the transfer history, never sent
    again."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        told = hint or (
            "`kalshi shard transfers` lists what the exchange has; move again only once you "
            "know this one is not there"
        )
        super().__init__(message, client_order_id="", hint=told)


def transfer_amount(dollars: Decimal) -> int:
    """A transfer's amount in the request's unit (centi-cents); refused unless it is a positive
    whole number of them."""
    centicents = dollars * CENTICENTS
    if not dollars.is_finite() or dollars <= ZERO or centicents != centicents.to_integral_value():
        raise ValidationError(f"a transfer moves a positive amount to $0.0001, not {dollars}")
    return int(centicents)


class PortfolioApi(Area):
    """Balance, positions, fills and settlements."""

    def get_balance(self) -> Balance:
        response = self._conn.request("GET", "/portfolio/balance", auth=True)
        return self._conn.answer(Balance, response, "balance")

    def get_positions(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        include_flat: bool = False,
    ) -> list[Position]:
        """Every market position that is not flat, across all pages; with `include_flat`, also
        the markets traded and since closed out (for cross-checking realized P&L and fees)."""
        count_filter = "total_traded" if include_flat else "position"
        params: Params = {
            "ticker": ticker,
            "event_ticker": event_ticker,
            "count_filter": count_filter,
        }
        positions = self._conn.listing(
            "/portfolio/positions",
            "market_positions",
            Position,
            params,
            private=True,
            cursor_required=False,
        )
        return [p for p in positions if include_flat or p.position != ZERO]

    def get_event_positions(self, *, event_ticker: str | None = None) -> list[EventPosition]:
        """Each event's line of the positions listing, across all pages."""
        params: Params = {"event_ticker": event_ticker, "count_filter": "position"}
        listed = self._conn.listing(
            "/portfolio/positions",
            "event_positions",
            EventPosition,
            params,
            private=True,
            cursor_required=False,
        )
        return list(listed)

    def iter_fills(
        self,
        *,
        ticker: str | None = None,
        order_id: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        limit: int | None = None,
    ) -> Iterator[Fill]:
        params: Params = {
            "ticker": ticker,
            "order_id": order_id,
            "min_ts": min_ts,
            "max_ts": max_ts,
        }
        return fill_listing(self._conn, "/portfolio/fills", params, limit)

    def iter_settlements(
        self,
        *,
        ticker: str | None = None,
        min_ts: int | None = None,
        limit: int | None = None,
        subaccount: int | None = None,
    ) -> Iterator[Settlement]:
        """The settlements of `subaccount` (the client's own when None; every subaccount's when
        that is None too, the spec's default), settled at or after `min_ts` (unix seconds) when
        given. The Settlement names no subaccount: list one subaccount at a time to know whose
        each is."""
        params: Params = {"ticker": ticker, "min_ts": min_ts, "subaccount": subaccount}
        return self._conn.listing(
            "/portfolio/settlements",
            "settlements",
            Settlement,
            params,
            limit,
            private=True,
            cursor_required=False,
        )

    # ----------------------------------------------------------------------------------------
    # shards: the balance on each, the moves between them, the target allocation

    def get_shard_balance(self, exchange_index: int) -> Balance:
        """The balance and portfolio value of one shard (`exchange_index`)."""
        response = self._conn.request(
            "GET", "/portfolio/balance", params={"exchange_index": exchange_index}, auth=True
        )
        return self._conn.answer(Balance, response, "balance")

    def send_transfer(
        self,
        amount: Decimal,
        *,
        from_shard: int,
        to_shard: int,
        from_subaccount: int = 0,
        to_subaccount: int = 0,
    ) -> str:
        """Ask the exchange to move `amount` dollars between shards (and subaccounts); returns
        the transfer id. It is carried out asynchronously (`pending`, then `complete`: see
        `get_transfer`). Sent once: the request has no idempotency key, so an answer lost after
        sending raises `TransferOutcomeUnknown` (look it up in `iter_transfers`)."""
        body = {
            "source": EVENT_CONTRACT,
            "destination": EVENT_CONTRACT,
            "amount": transfer_amount(amount),
            "source_exchange_shard": from_shard,
            "destination_exchange_shard": to_shard,
            "source_subaccount": from_subaccount,
            "destination_subaccount": to_subaccount,
        }
        what = f"the transfer of {fmt_money(amount)} from shard {from_shard} to shard {to_shard}"
        unknown = UnknownOutcome(
            what,
            "the money may or may not be moving",
            TransferOutcomeUnknown,
            lost=f"{what} may or may not have been made",
        )
        response = self._conn.write(
            "POST", "/portfolio/intra_exchange_instance_transfer", unknown, json=body
        )
        transfer_id: str = self._written_field(response, unknown, "transfer_id", Id, "transfer")
        return transfer_id

    def get_transfer(self, transfer_id: str) -> Transfer:
        response = self._conn.request(
            "GET",
            f"/portfolio/intra_exchange_instance_transfers/{path_segment(transfer_id)}",
            auth=True,
        )
        return self._conn.decode(
            response,
            lambda content: msgspec.json.decode(content, type=_TransferAnswer).transfer,
            "transfer",
        )

    def iter_transfers(self, *, limit: int | None = None) -> Iterator[Transfer]:
        """The account's intra-exchange transfers as the exchange lists them, page by page."""
        return self._conn.iterate(
            "/portfolio/intra_exchange_instance_transfers",
            "transfers",
            Transfer,
            params={},
            limit=limit,
            page_size=TRANSFERS_PAGE_MAX,
            auth=True,
            cursor_required=False,
        )

    def get_target_allocation(self) -> TargetAllocation:
        response = self._conn.request("GET", "/portfolio/target_balance_allocation", auth=True)
        return self._conn.decode(
            response,
            lambda content: msgspec.json.decode(content, type=TargetAllocation),
            "target balance allocation",
        )

    def set_target_allocation(
        self, shares: Mapping[int, int], reservation: Reservation | None = None
    ) -> None:
        """Replace the target allocation: `shares` maps a shard to its percentage of the
        sweepable balance, and must total 100 (refused here, before anything is sent).
        `reservation` None is the exchange's default (`sum`). The request replaces what was
        there, so sending it again does no harm."""
        total = sum(shares.values())
        if not shares or total != 100 or any(not 0 <= p <= 100 for p in shares.values()):
            raise ValidationError(f"the shares must each be 0 to 100 and total 100, not {total}")
        self._allocate([{"exchange_index": i, "percent": p} for i, p in sorted(shares.items())],
                       reservation)  # fmt: skip

    def clear_target_allocation(self) -> None:
        """No target allocation: Kalshi stops rebalancing the balance between shards."""
        self._allocate([], None)

    def _allocate(self, allocations: list[dict[str, int]], reservation: Reservation | None) -> None:
        body: dict[str, object] = {"allocations": allocations}
        if reservation is not None:
            body["resting_margin_reservation"] = reservation.value
        self._conn.request("POST", "/portfolio/target_balance_allocation", json=body, auth=True)

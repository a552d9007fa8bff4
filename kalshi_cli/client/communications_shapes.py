"""An RFQ and a quote as `client/communications.py` returns them (`Rfq`, `Quote`), re-exported
by that module and loaded on first use, so a client that never asks for them does not generate
their dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kalshi_cli.units import (
    parse_count,
    parse_dollars,
    parse_optional_dollars,
)


def _opt_count(value: Any) -> Decimal | None:
    return None if value is None or value == "" else parse_count(value)


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Rfq:
    """A request for quote as the exchange shows it to the caller (`creator_user_id` only to
    its creator)."""

    rfq_id: str
    market_ticker: str
    status: str
    contracts: Decimal
    target_cost: Decimal | None
    rest_remainder: bool
    creator_id: str
    created_ts: str
    cancellation_reason: str = ""
    mine: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Rfq:
        return cls(
            rfq_id=str(data["id"]),
            market_ticker=str(data["market_ticker"]),
            status=str(data["status"]),
            contracts=parse_count(data["contracts_fp"]),
            target_cost=parse_optional_dollars(data.get("target_cost_dollars")),
            rest_remainder=bool(data.get("rest_remainder", False)),
            creator_id=str(data["creator_id"]),
            created_ts=str(data["created_ts"]),
            cancellation_reason=_text(data, "cancellation_reason"),
            mine=bool(data.get("creator_user_id")),
            raw=data,
        )


@dataclass(frozen=True)
class Quote:
    """A quote as the exchange shows it: to its maker and to the RFQ's creator only. The order
    ids of an execution are there for the party whose order it is."""

    quote_id: str
    rfq_id: str
    market_ticker: str
    status: str
    yes_bid: Decimal
    no_bid: Decimal
    yes_contracts: Decimal | None
    no_contracts: Decimal | None
    contracts: Decimal
    accepted_side: str | None
    created_ts: str
    updated_ts: str
    creator_order_id: str = ""
    rfq_creator_order_id: str = ""
    cancellation_reason: str = ""
    mine: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Quote:
        side = data.get("accepted_side")
        return cls(
            quote_id=str(data["id"]),
            rfq_id=str(data["rfq_id"]),
            market_ticker=str(data["market_ticker"]),
            status=str(data["status"]),
            yes_bid=parse_dollars(data["yes_bid_dollars"]),
            no_bid=parse_dollars(data["no_bid_dollars"]),
            yes_contracts=_opt_count(data.get("yes_contracts_fp")),
            no_contracts=_opt_count(data.get("no_contracts_fp")),
            contracts=parse_count(data["contracts_fp"]),
            accepted_side=None if side is None else str(side),
            created_ts=str(data["created_ts"]),
            updated_ts=str(data["updated_ts"]),
            creator_order_id=_text(data, "creator_order_id"),
            rfq_creator_order_id=_text(data, "rfq_creator_order_id"),
            cancellation_reason=_text(data, "cancellation_reason"),
            mine=bool(data.get("creator_user_id")),
            raw=data,
        )

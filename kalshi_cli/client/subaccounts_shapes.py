"""A subaccount's balance and a transfer as `client/subaccounts.py` returns them
(`SubaccountBalance`, `SubaccountTransfer`), re-exported by that module and loaded on first
use, so a client that never asks for them does not generate their dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kalshi_cli.units import parse_dollars


@dataclass(frozen=True)
class SubaccountBalance:
    subaccount: int
    balance: Decimal
    updated_ts: int

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> SubaccountBalance:
        return cls(
            int(data["subaccount_number"]), parse_dollars(data["balance"]), int(data["updated_ts"])
        )


@dataclass(frozen=True)
class SubaccountTransfer:
    transfer_id: str
    from_subaccount: int
    to_subaccount: int
    amount_cents: int
    created_ts: int

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> SubaccountTransfer:
        return cls(
            str(data["transfer_id"]),
            int(data["from_subaccount"]),
            int(data["to_subaccount"]),
            int(data["amount_cents"]),
            int(data["created_ts"]),
        )

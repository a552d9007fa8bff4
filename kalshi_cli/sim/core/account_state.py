"""What the simulated exchange keeps for one account (`AccountState`): cash per shard, holds,
positions, orders, fills and settlements. `accounts.Ledger` keeps one per account and moves money
between them; docs/simulator.md "Accounts: money, fees and collateral".
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import Any, ClassVar

from kalshi_cli.sim.core.client_ids import UsedClientIds
from kalshi_cli.sim.core.records import Account, SimFill, SimOrder, SimPosition, SimSettlement
from kalshi_cli.vocabulary.models import FEE_QUANTUM
from kalshi_cli.vocabulary.units import ZERO


def floor_cents(dollars: Decimal) -> int:
    cents = dollars * 100
    whole = int(cents)  # exact, toward zero: one step down for a negative fraction
    return whole - 1 if cents < whole else whole


class AccountState:
    """Everything the exchange keeps for one account."""

    __slots__ = (
        "account",
        "agg",
        "cash",
        "client_ids",
        "fills",
        "held",
        "held_on",
        "orders",
        "positions",
        "resting",
        "settlements",
    )

    # a snapshot of 0.2.0 (one shard) holds `cash` as one amount and `held_total`
    snapshot_former_slots: ClassVar[tuple[str, ...]] = ("held_total",)

    def __init__(self, account: Account, cash: Decimal) -> None:
        self.account = account
        # shard -> exact dollars there, including what is held there for resting orders; `cash`
        # starts on shard 0
        self.cash: dict[int, Decimal] = {0: cash}
        self.held: dict[str, Decimal] = {}  # ticker -> what is held for it
        self.held_on: dict[int, Decimal] = {}  # shard -> `held` over its markets
        self.positions: dict[str, SimPosition] = {}
        self.orders: list[SimOrder] = []  # oldest first
        self.client_ids = UsedClientIds()  # every id any order had (sim/core/client_ids.py)
        self.fills: list[SimFill] = []
        self.settlements: list[SimSettlement] = []
        self.resting: dict[str, dict[str, SimOrder]] = {}  # ticker -> order id -> order
        # ticker -> [YES bids' cost, YES bids' count, NO bids' cost, NO bids' count, maker fee
        # reserve] over the resting orders, kept up to date so a hold is O(1) in the usual case
        self.agg: dict[str, list[Decimal]] = {}

    @staticmethod
    def snapshot_upgrade(read: dict[str, Any]) -> dict[str, Any]:
        """The attributes of a snapshot of 0.2.0 as this version keeps them: its cash and its
        holds were shard 0's (journal.py `_Reader._schema`)."""
        if isinstance(read.get("cash"), Decimal):
            read["cash"] = {0: read["cash"]}
        if "held_total" in read:
            total = read.pop("held_total")
            read["held_on"] = {0: total} if total else {}
        return read

    def available(self, shard: int) -> Decimal:
        """What the account may spend on `shard`: its cash there less what is held there,
        floored to $0.0001."""
        cash = self.cash.get(shard, ZERO) - self.held_on.get(shard, ZERO)
        return cash.quantize(FEE_QUANTUM, ROUND_FLOOR)

    def balances(self) -> dict[int, Decimal]:
        """What is available on each shard the account ever had money on (`available`): the
        balance breakdown."""
        return {shard: self.available(shard) for shard in sorted(self.cash)}

    def move(self, shard: int, amount: Decimal) -> None:
        """Add `amount` (negative: take it) to the cash on `shard`; the caller has checked what
        is available there."""
        self.cash[shard] = self.cash.get(shard, ZERO) + amount
        self.sync()

    def sync(self) -> None:
        """The account's balance: what is available on each shard, summed (so the per-shard
        breakdown adds up to it)."""
        held_on = self.held_on
        total = ZERO
        for shard, cash in self.cash.items():
            total += (cash - held_on.get(shard, ZERO)).quantize(FEE_QUANTUM, ROUND_FLOOR)
        self.account.balance = total
        self.account.cash_cents = floor_cents(total)

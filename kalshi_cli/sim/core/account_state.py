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

HUNDRED = Decimal(100)  # a Decimal times an int converts the int each time


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
        "opened",
        "orders",
        "positions",
        "resting",
        "settlements",
        "stamps",
    )

    # a snapshot of 0.2.0 (one shard) holds `cash` as one amount and `held_total`
    snapshot_former_slots: ClassVar[tuple[str, ...]] = ("held_total",)

    def __init__(self, account: Account, cash: Decimal, opened: float) -> None:
        self.account = account
        self.opened = opened  # when the account was made (unix seconds; 0: not known)
        # shard -> (what is available there, when that last changed): the balance's
        # `updated_ts`, "Unix timestamp of the last update to the balance" (the spec's
        # GetBalanceResponse); a shard without one has had nothing since `opened`
        self.stamps: dict[int, tuple[Decimal, float]] = {}
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
        if "stamps" not in read:  # written before balances kept their time: not known (0)
            held_on = read.get("held_on", {})
            read["opened"] = 0.0
            read["stamps"] = {
                shard: ((cash - held_on.get(shard, ZERO)).quantize(FEE_QUANTUM, ROUND_FLOOR), 0.0)
                for shard, cash in read["cash"].items()
            }
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

    def move(self, shard: int, amount: Decimal, now: float) -> None:
        """Add `amount` (negative: take it) to the cash on `shard` at `now`; the caller has
        checked what is available there."""
        self.cash[shard] = self.cash.get(shard, ZERO) + amount
        self.sync(now)

    def sync(self, now: float) -> None:
        """The account's balance after a change at `now`: what is available on each shard,
        summed (so the per-shard breakdown adds up to it), and the time of each shard's last
        change (`stamps`). Runs for every account an order touches, so the rounding is given
        by position (a keyword to a C method costs a dict each call) and `floor_cents` is
        inline."""
        held_on = self.held_on
        stamps = self.stamps
        total = ZERO
        for shard, cash in self.cash.items():
            here = (cash - held_on.get(shard, ZERO)).quantize(FEE_QUANTUM, ROUND_FLOOR)
            total += here
            stamp = stamps.get(shard)
            if (ZERO if stamp is None else stamp[0]) != here:
                stamps[shard] = (here, now)
        account = self.account
        account.balance = total
        cents = total * HUNDRED
        whole = int(cents)  # exact, toward zero: one step down for a negative fraction
        # (`is_signed` first: only a negative amount can have been truncated upwards, and a
        # Decimal compared with an int converts the int each time)
        account.cash_cents = whole - 1 if cents.is_signed() and cents < whole else whole

    def updated(self, shard: int | None) -> float:
        """When the balance on `shard` (None: on any) last changed; `opened` when it never did."""
        stamps = self.stamps
        times = [t for s, (_, t) in stamps.items() if shard is None or s == shard]
        return max(times, default=self.opened)

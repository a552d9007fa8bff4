"""Money moved between exchange shards: intra-exchange-instance transfers, a part of the `Exchange`
(sim/core/exchange.py) over its ledger and subaccounts.

What the spec says of `POST /portfolio/intra_exchange_instance_transfer`, and this part does:
- "When `source_exchange_shard` and `destination_exchange_shard` are the same, Kalshi treats the
  request as a subaccount transfer. The returned transfer ID appears in the subaccount transfer
  history": that transfer is made at once (`Subaccounts.transfer` on the shard) and is complete.
- Across shards, "The transfer is processed asynchronously" (status `pending`, then `complete`):
  the money moves when the transfer is due, `delay_s` after it was made (a scenario's
  `shards.transfer_delay_seconds`), on the exchange's tick (`run_due`).
- "Cross-exchange-index subaccount transfers run in up to three non-atomic steps. If a later step
  fails, completed steps are not undone, so funds may remain in the primary account on the source
  or destination exchange index": the steps are the source subaccount to the primary on the
  source shard (unless the source is the primary), the primary's money from the source shard to
  the destination shard, and the primary to the destination subaccount there (unless it is the
  primary). A step fails when what it moves is no longer available, or when the fault control
  (`run_due`'s `fail_step`) says so; the steps after it are not run and the transfer is complete
  (the spec's status has no other end) with `failed_step` naming it.
Every transfer is journaled when made and when run, so a restart keeps both, and a client whose
answer was lost finds the transfer in the listing (the request carries no idempotency key).

The target balance allocation ("Kalshi rebalance[s] the sweepable balance across shards"; an
empty list "disables automatic rebalancing") is kept per user and applied to the primary account
every `rebalance_s` (a scenario's `shards.rebalance_seconds`: how often Kalshi does it is not
stated). Our reading of the sweepable balance: what is available on a shard (money held for
resting orders is never moved: the shard's engine holds it) less the reservation the allocation
names, sized on the shard's resting orders: `none` nothing, `max` "the largest single market-side
commitment", `sum` "the summed margin of every resting order". The sweepable total is split by the
percentages, in whole cents (the remainder to the first shard listed), and each shard's cash
moves to its share, journaled as one record.
docs/simulator.md "Intra-exchange-instance transfers" and "Money beyond trading".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

import msgspec

from kalshi_cli.sim.core.account_state import floor_cents
from kalshi_cli.sim.core.accounts import Ledger
from kalshi_cli.sim.core.records import bad_request, from_journal, journal, ledger_id
from kalshi_cli.sim.core.reference import Reference, check_shard
from kalshi_cli.sim.core.subaccounts import Subaccounts, require_available

PENDING, COMPLETE = "pending", "complete"
CENTICENTS_PER_CENT = 100
CENTICENTS_PER_DOLLAR = 10_000
DEFAULT_REBALANCE_S = 60.0  # how often a scenario that sets none rebalances


@dataclass
class SimShardTransfer:
    transfer_id: str
    user: str
    source_subaccount: int
    destination_subaccount: int
    source_shard: int
    destination_shard: int
    created_ts: float  # unix seconds
    due_ts: float  # unix seconds: when its steps run
    status: str = PENDING
    steps_done: int = 0
    failed_step: int = 0  # the step (1 to 3) that failed, 0 when none did
    # the amount in the spec's unit, centi-cents ($0.0001); a snapshot written before kept
    # whole cents (`amount_cents`, upgraded below)
    amount_centicents: int = 0

    snapshot_former_slots: ClassVar[tuple[str, ...]] = ("amount_cents",)

    @staticmethod
    def snapshot_upgrade(read: dict[str, Any]) -> dict[str, Any]:
        if "amount_cents" in read:
            read["amount_centicents"] = read.pop("amount_cents") * CENTICENTS_PER_CENT
        return read

    @property
    def amount(self) -> Decimal:
        """In dollars."""
        return Decimal(self.amount_centicents) / CENTICENTS_PER_DOLLAR


@dataclass
class SimAllocation:
    """A user's target balance allocation: (exchange_index, percent) each, and the reservation
    (`none`, `max`, `sum`)."""

    allocations: list[tuple[int, int]] = field(default_factory=list)
    reservation: str = "sum"


RESERVATIONS = ("none", "max", "sum")


@dataclass
class ShardTransferBook:
    """Every user's transfers, oldest first, and the ones not run yet, by when they are due;
    every user's target balance allocation, and when the last rebalance ran."""

    by_user: dict[str, list[SimShardTransfer]] = field(default_factory=dict)
    pending: list[SimShardTransfer] = field(default_factory=list)
    allocations: dict[str, SimAllocation] = field(default_factory=dict)
    rebalanced_ts: float = 0.0  # unix seconds


class ShardTransferRequest(msgspec.Struct, frozen=True):
    """The terms of an intra-exchange transfer (`IntraExchangeInstanceTransferRequest`) as `make`
    checks them and the journal writes and replays them."""

    source_subaccount: int
    destination_subaccount: int
    source_shard: int
    destination_shard: int
    amount_centicents: int  # the spec's unit: 10 is $0.001


Step = tuple[str, int, str, int]  # (from ledger, its shard, to ledger, its shard)


class ShardTransfers:
    """Intra-exchange-instance transfers (see the module docstring)."""

    def __init__(self, reference: Reference, ledger: Ledger, subaccounts: Subaccounts) -> None:
        self._ref = reference
        self._ledger = ledger
        self._subaccounts = subaccounts
        self.book = ShardTransferBook()
        self.delay_s = 0.0  # how long a cross-shard transfer stays pending (the scenario's)
        self.rebalance_s = DEFAULT_REBALANCE_S  # how often allocations are applied (the scenario's)

    def start(
        self,
        user: str,
        *,
        source_subaccount: int,
        destination_subaccount: int,
        source_shard: int,
        destination_shard: int,
        amount_centicents: int,
    ) -> SimShardTransfer:
        """`make` of a transfer given as its terms."""
        request = ShardTransferRequest(
            source_subaccount=source_subaccount, destination_subaccount=destination_subaccount,
            source_shard=source_shard, destination_shard=destination_shard,
            amount_centicents=amount_centicents,
        )  # fmt: skip
        return self.make(user, request)

    def make(self, user: str, request: ShardTransferRequest) -> SimShardTransfer:
        """Make a transfer of `amount_centicents` (the spec's unit), checked now: the
        subaccounts and shards exist, the source has the amount available. One within a shard
        is a subaccount transfer, made and complete, and moves whole cents, as those do."""
        source_sub, source_shard = request.source_subaccount, request.source_shard
        destination_sub, destination_shard = (
            request.destination_subaccount,
            request.destination_shard,
        )
        for number in (source_sub, destination_sub):
            self._subaccounts.subaccount_ledger(user, number)
        for shard in (source_shard, destination_shard):
            check_shard(self._ref, shard)
        if request.amount_centicents <= 0:
            raise bad_request("amount must be positive")
        if source_shard == destination_shard:
            cents, rest = divmod(request.amount_centicents, CENTICENTS_PER_CENT)
            if rest:
                raise bad_request(
                    "a transfer within a shard is a subaccount transfer, which moves whole "
                    "cents: amount must be a multiple of 100 centi-cents"
                )
            return self._within_shard(user, source_sub, destination_sub, source_shard, cents)
        source = self._ledger.acct(ledger_id(user, source_sub))
        amount = Decimal(request.amount_centicents) / CENTICENTS_PER_DOLLAR
        require_available(source, source_sub, source_shard, amount)
        now = self._ref.log("shard_transfer", **journal(request, account_id=user))
        made = SimShardTransfer(
            self._ref.new_id(),
            user,
            source_sub,
            destination_sub,
            source_shard,
            destination_shard,
            now,
            now + self.delay_s,
            amount_centicents=request.amount_centicents,
        )
        self.book.by_user.setdefault(user, []).append(made)
        self.book.pending.append(made)
        return made

    def _within_shard(
        self, user: str, source: int, destination: int, shard: int, amount_cents: int
    ) -> SimShardTransfer:
        """A subaccount transfer on `shard`, listed here too; one journal record (the
        subaccount transfer's, whose client id marks it as made here)."""
        made = self._subaccounts.transfer(
            user,
            client_transfer_id=f"{INTRA_PREFIX}{self._ref.seq + 1:x}",
            from_subaccount=source,
            to_subaccount=destination,
            amount_cents=amount_cents,
            exchange_index=shard,
        )
        return self._listed(user, made.transfer_id, made.created_ts, (source, destination, shard))

    def _listed(
        self, user: str, transfer_id: str, ts: float, route: tuple[int, int, int]
    ) -> SimShardTransfer:
        source, destination, shard = route
        cents = next(
            t.amount_cents
            for t in self._subaccounts.transfers(user)
            if t.transfer_id == transfer_id
        )
        listed = SimShardTransfer(
            transfer_id,
            user,
            source,
            destination,
            shard,
            shard,
            ts,
            ts,
            COMPLETE,
            1,
            amount_centicents=cents * CENTICENTS_PER_CENT,
        )
        self.book.by_user.setdefault(user, []).append(listed)
        return listed

    def adopt(self, user: str, transfer_id: str) -> None:
        """List a subaccount transfer made through `_within_shard` (its replay, and a restored
        snapshot's, go through `Subaccounts`)."""
        if any(t.transfer_id == transfer_id for t in self.book.by_user.get(user, [])):
            return
        made = next(t for t in self._subaccounts.transfers(user) if t.transfer_id == transfer_id)
        route = (made.from_subaccount, made.to_subaccount, made.exchange_index)
        self._listed(user, transfer_id, made.created_ts, route)

    def transfers(self, user: str) -> list[SimShardTransfer]:
        """Newest first."""
        return self.book.by_user.get(user, [])[::-1]

    def run_due(self, now: float, fail_step: int = 0) -> list[SimShardTransfer]:
        """Run the steps of every pending transfer due by `now` (unix seconds); `fail_step` (a
        fault control, 1 to 3; 0: none) fails that step of each. Returns the transfers run."""
        due = [t for t in self.book.pending if t.due_ts <= now]
        for transfer in due:
            self.run(transfer.transfer_id, fail_step)
        return due

    def run(self, transfer_id: str, fail_step: int = 0) -> SimShardTransfer:
        transfer = next(t for t in self.book.pending if t.transfer_id == transfer_id)
        now = self._ref.log("shard_transfer_run", transfer_id=transfer_id, fail_step=fail_step)
        for number, step in enumerate(self._steps(transfer), start=1):
            if number == fail_step or not self._move(step, transfer.amount, now):
                transfer.failed_step = number
                break
            transfer.steps_done = number
        transfer.status = COMPLETE
        self.book.pending.remove(transfer)
        return transfer

    def _steps(self, t: SimShardTransfer) -> list[Step]:
        """Up to three: the source subaccount to the primary (source shard), the primary across
        the shards, the primary to the destination subaccount (destination shard)."""
        primary = t.user
        source = ledger_id(t.user, t.source_subaccount)
        destination = ledger_id(t.user, t.destination_subaccount)
        steps: list[Step] = []
        if source != primary:
            steps.append((source, t.source_shard, primary, t.source_shard))
        steps.append((primary, t.source_shard, primary, t.destination_shard))
        if destination != primary:
            steps.append((primary, t.destination_shard, destination, t.destination_shard))
        return steps

    def _move(self, step: Step, amount: Decimal, now: float) -> bool:
        """One step of `amount` dollars at `now`: False (nothing moved) when the amount is no
        longer available."""
        source, source_shard, target, target_shard = step
        if self._ledger.acct(source).available(source_shard) < amount:
            return False
        self._ledger.acct(source).move(source_shard, -amount, now)
        self._ledger.acct(target).move(target_shard, amount, now)
        return True

    # the target balance allocation -------------------------------------------------------------

    def allocation(self, user: str) -> SimAllocation:
        self._ledger.acct(user)
        return self.book.allocations.get(user, SimAllocation())

    def set_allocation(
        self, user: str, allocations: list[tuple[int, int]], reservation: str = "sum"
    ) -> None:
        """Replace the user's allocation: percentages of existing shards totalling 100, or none
        (rebalancing off)."""
        self._ledger.acct(user)
        for shard, percent in allocations:
            check_shard(self._ref, shard)
            if not 0 <= percent <= 100:
                raise bad_request("percent must be between 0 and 100")
        if len({shard for shard, _ in allocations}) != len(allocations):
            raise bad_request("each exchange_index at most once")
        if allocations and sum(p for _, p in allocations) != 100:
            raise bad_request("percentages must total 100")
        if reservation not in RESERVATIONS:
            raise bad_request("resting_margin_reservation must be none, max or sum")
        self._ref.log(
            "allocation",
            account_id=user,
            allocations=[list(a) for a in allocations],
            reservation=reservation,
        )
        self.book.allocations[user] = SimAllocation(list(allocations), reservation)

    def rebalance_due(self, now: float) -> None:
        """Every `rebalance_s`, apply each user's allocation (see the module docstring)."""
        if not self.rebalance_s or now - self.book.rebalanced_ts < self.rebalance_s:
            return
        self.book.rebalanced_ts = now
        for user, allocation in self.book.allocations.items():
            moves = self._moves(user, allocation)
            if any(moves.values()):
                at = self._ref.log(
                    "rebalance", account_id=user, moves={str(s): c for s, c in moves.items()}
                )
                self._apply(user, moves, at)

    def _moves(self, user: str, allocation: SimAllocation) -> dict[int, int]:
        """Cents to add (negative: take) on each shard to bring its sweepable balance to its
        share."""
        if not allocation.allocations:
            return {}
        acct = self._ledger.acct(user)
        shards = set(acct.cash) | {s for s, _ in allocation.allocations}
        sweepable = {
            s: max(floor_cents(acct.available(s) - self._reserved(user, s, allocation)), 0)
            for s in sorted(shards)
        }
        total = sum(sweepable.values())
        shares = {s: total * p // 100 for s, p in allocation.allocations}
        first = allocation.allocations[0][0]
        shares[first] += total - sum(shares.values())
        return {s: shares.get(s, 0) - sweepable[s] for s in sweepable}

    def _reserved(self, user: str, shard: int, allocation: SimAllocation) -> Decimal:
        """What the reservation leaves behind on `shard` beside what its resting orders hold."""
        if allocation.reservation == "none":
            return Decimal(0)
        acct = self._ledger.acct(user)
        markets = self._ref.markets
        if allocation.reservation == "max":
            sides = [
                (a[0], a[2]) for t, a in acct.agg.items() if markets[t].exchange_index == shard
            ]
            return max((side for pair in sides for side in pair), default=Decimal(0))
        return acct.held_on.get(shard, Decimal(0))

    def _apply(self, user: str, moves: dict[int, int], now: float) -> None:
        for shard, cents in moves.items():
            if cents:
                self._ledger.acct(user).move(shard, Decimal(cents) / 100, now)

    # the journal -----------------------------------------------------------------------------

    def replay(self, rec: dict[str, Any]) -> bool:
        """Apply a journal record of this part; False when the record is not one of them."""
        if rec["op"] == "shard_transfer":
            # a record written before transfers kept the spec's unit holds whole cents
            terms = {**rec, "amount_centicents": _centicents(rec)}
            self.make(rec["account_id"], from_journal(ShardTransferRequest, terms))
            return True
        if rec["op"] == "shard_transfer_run":
            self.run(rec["transfer_id"], int(rec["fail_step"]))
            return True
        if rec["op"] == "allocation":
            pairs = [(int(s), int(p)) for s, p in rec["allocations"]]
            self.set_allocation(rec["account_id"], pairs, rec["reservation"])
            return True
        if rec["op"] == "rebalance":
            self.book.rebalanced_ts = float(rec["ts"])
            moves = {int(s): int(c) for s, c in rec["moves"].items()}
            self._apply(rec["account_id"], moves, float(rec["ts"]))
            return True
        return False


# the client transfer id of a subaccount transfer made by an intra-exchange transfer within a
# shard (the subaccount route takes UUIDs only, so none of its own begins so)
INTRA_PREFIX = "intra-exchange-"


def _centicents(rec: dict[str, Any]) -> int:
    """A journaled transfer's amount in centi-cents: a record written before transfers kept the
    spec's unit holds whole cents (`amount_cents`)."""
    if "amount_cents" in rec:
        return int(rec["amount_cents"]) * CENTICENTS_PER_CENT
    return int(rec["amount_centicents"])

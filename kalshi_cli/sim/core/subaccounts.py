"""Subaccounts and API keys of the simulated exchange: a part of the `Exchange`
(sim/core/exchange.py) over its ledger, whose accounts the subaccounts are. Subaccount n of user
U is the ledger account `U/n` (U itself for 0), so matching, fees and settlement need no change;
self-trade prevention compares users, cash moves between subaccounts only by `transfer`, and
every change is journaled. See docs/simulator.md "Subaccounts and API keys".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

import msgspec

from kalshi_cli.sim.core.account_state import AccountState
from kalshi_cli.sim.core.accounts import Ledger
from kalshi_cli.sim.core.records import (
    Account,
    ExchangeError,
    bad_request,
    from_journal,
    journal,
    ledger_id,
)
from kalshi_cli.sim.core.reference import Reference, check_shard
from kalshi_cli.vocabulary.request_ranges import SUBACCOUNT_MAX
from kalshi_cli.vocabulary.units import ZERO

# the scopes of a key created without any (the spec's default: "full access")
DEFAULT_SCOPES = ("read", "write")
SCOPES = (
    "read",
    "write",
    "read::block_trade_accept",
    "read::portfolio_balance",
    "write::trade",
    "write::transfer",
    "write::fcm_risk",
    "write::block_trade_accept",
)


def require_available(source: AccountState, subaccount: int, shard: int, amount: Decimal) -> None:
    """Refuse (insufficient balance) a move of `amount` dollars out of `subaccount` on `shard`
    that what the subaccount has available there ($0.0001 steps) does not cover."""
    available = source.available(shard)
    if amount > available:
        raise bad_request(
            f"subaccount {subaccount} has ${available} available on exchange_index {shard}",
            "insufficient_balance",
        )


@dataclass(frozen=True)
class SimTransfer:
    transfer_id: str
    client_transfer_id: str
    from_subaccount: int
    to_subaccount: int
    amount_cents: int
    created_ts: float  # unix seconds
    exchange_index: int = 0  # the shard whose balances it moved money between


class TransferRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    """The terms of a transfer between two subaccounts as `move` checks them and the journal
    writes and replays them (a transfer on shard 0 is written without its `exchange_index`, as
    before shards were kept apart)."""

    client_transfer_id: str
    from_subaccount: int
    to_subaccount: int
    amount_cents: int
    exchange_index: int = 0  # the shard whose balances it moves money between


class ApiKeyRequest(msgspec.Struct, frozen=True):
    """The terms of an API key as `add_key` checks them and the journal writes and replays
    them."""

    name: str
    public_key_pem: str
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    subaccount: int | None = None  # restricted to this subaccount when set


@dataclass(frozen=True)
class SimApiKey:
    api_key_id: str
    account_id: str  # the user
    name: str
    public_key_pem: str
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    subaccount: int | None = None  # restricted to this subaccount when set


@dataclass
class UserAccounts:
    """What the exchange keeps per user beyond the ledger: its subaccounts and their history."""

    count: int = 0  # numbered subaccounts created (1..count exist)
    transfers: list[SimTransfer] = field(default_factory=list)  # oldest first
    by_client_id: dict[str, SimTransfer] = field(default_factory=dict)
    netting: dict[int, bool] = field(default_factory=dict)

    # a snapshot written before each balance kept the time of its last change (AccountState
    # `stamps`) holds the times of subaccount transfers here; dropped on reading
    snapshot_former_slots: ClassVar[tuple[str, ...]] = ("updated",)

    @staticmethod
    def snapshot_upgrade(read: dict[str, Any]) -> dict[str, Any]:
        read.pop("updated", None)
        return read


@dataclass
class Keyring:
    """The keys added after an account was created, and the first keys since deleted."""

    added: dict[str, SimApiKey] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)


class Subaccounts:
    """Subaccounts, transfers, netting settings and API keys (see the module docstring)."""

    def __init__(self, reference: Reference, ledger: Ledger) -> None:
        self._ref = reference
        self._ledger = ledger
        self.users: dict[str, UserAccounts] = {}
        self.keyring = Keyring()

    # subaccounts -----------------------------------------------------------------------------

    def _user(self, user: str) -> UserAccounts:
        self._ledger.acct(user)
        found = self.users.get(user)
        if found is None:
            found = self.users[user] = UserAccounts()
        return found

    def subaccount_numbers(self, user: str) -> list[int]:
        return list(range(self._user(user).count + 1))

    def subaccount_ledger(self, user: str, subaccount: int) -> str:
        """The ledger id of an existing subaccount; 400 for one the user has not created."""
        if not 0 <= subaccount <= self._user(user).count:
            raise bad_request(f"subaccount {subaccount} does not exist")
        return ledger_id(user, subaccount)

    def create_subaccount(self, user: str) -> int:
        accounts = self._user(user)
        if accounts.count >= SUBACCOUNT_MAX:
            raise bad_request(f"at most {SUBACCOUNT_MAX} numbered subaccounts per user")
        now = self._ref.log("subaccount", account_id=user)
        accounts.count += 1
        number = accounts.count
        lid = ledger_id(user, number)
        self._ledger.states[lid] = AccountState(Account(lid, "", "", 0, ZERO), ZERO, now)
        return number

    def transfer(
        self,
        user: str,
        *,
        client_transfer_id: str,
        from_subaccount: int,
        to_subaccount: int,
        amount_cents: int,
        exchange_index: int = 0,
    ) -> SimTransfer:
        """`move` of a transfer given as its terms."""
        request = TransferRequest(
            client_transfer_id=client_transfer_id, from_subaccount=from_subaccount,
            to_subaccount=to_subaccount, amount_cents=amount_cents, exchange_index=exchange_index,
        )  # fmt: skip
        return self.move(user, request)

    def move(self, user: str, request: TransferRequest) -> SimTransfer:
        """Move `amount_cents` between two subaccounts' balances on shard `exchange_index`; a
        `client_transfer_id` used before answers the transfer it made, when the terms match."""
        accounts = self._user(user)
        earlier = accounts.by_client_id.get(request.client_transfer_id)
        if earlier is not None:
            if _request_of(earlier) != request:
                raise bad_request(
                    f"client_transfer_id {request.client_transfer_id} was used for another transfer"
                )
            return earlier
        source_n, target_n, shard = (
            request.from_subaccount,
            request.to_subaccount,
            request.exchange_index,
        )
        source = self._ledger.acct(self.subaccount_ledger(user, source_n))
        target = self._ledger.acct(self.subaccount_ledger(user, target_n))
        if source_n == target_n:
            raise bad_request("a transfer needs two subaccounts")
        if request.amount_cents <= 0:
            raise bad_request("amount_cents must be positive")
        check_shard(self._ref, shard)
        amount = Decimal(request.amount_cents) / 100
        require_available(source, source_n, shard, amount)
        now = self._ref.log("transfer", **journal(request, account_id=user))
        source.move(shard, -amount, now)
        target.move(shard, amount, now)
        made = SimTransfer(
            self._ref.new_id(),
            request.client_transfer_id,
            source_n,
            target_n,
            request.amount_cents,
            now,
            shard,
        )
        accounts.transfers.append(made)
        accounts.by_client_id[request.client_transfer_id] = made
        return made

    def transfers(self, user: str) -> list[SimTransfer]:
        """Newest first."""
        return self._user(user).transfers[::-1]

    def set_netting(self, user: str, subaccount: int, enabled: bool) -> None:
        """Refused (insufficient balance) when turning netting on would hold more than the
        subaccount has available (`CollateralReturn.can_net`)."""
        lid = self.subaccount_ledger(user, subaccount)
        if enabled and not self._ledger.collateral.can_net(self._ledger.acct(lid)):
            raise bad_request(
                "insufficient balance to hold the resting orders that close a position",
                "insufficient_balance",
            )
        now = self._ref.log("netting", account_id=user, subaccount=subaccount, enabled=enabled)
        self._user(user).netting[subaccount] = enabled
        self._ledger.set_netting(lid, enabled, now)

    def netting(self, user: str) -> dict[int, bool]:
        accounts = self._user(user)
        return {n: accounts.netting.get(n, False) for n in range(accounts.count + 1)}

    # API keys --------------------------------------------------------------------------------

    def account_by_key(self, key_id: str) -> Account | None:
        added = self.keyring.added.get(key_id)
        if added is not None:
            return self._ledger.states[added.account_id].account
        if key_id in self.keyring.deleted:
            return None
        return self._ledger.account_by_key(key_id)

    def api_key(self, key_id: str) -> SimApiKey | None:
        """The key with its scopes and restriction, or None for a key that does not (or no
        longer) authenticate."""
        added = self.keyring.added.get(key_id)
        if added is not None:
            return added
        account = self.account_by_key(key_id)
        if account is None:
            return None
        return SimApiKey(key_id, account.account_id, "default", account.public_key_pem)

    def public_key_of(self, key_id: str) -> str | None:
        key = self.api_key(key_id)
        return None if key is None else key.public_key_pem

    def api_keys(self, user: str) -> list[SimApiKey]:
        """The user's keys, the first one first."""
        account = self._ledger.acct(user).account
        first = self.api_key(account.key_id) if account.key_id else None
        added = [k for k in self.keyring.added.values() if k.account_id == user]
        return ([first] if first is not None else []) + added

    def add_api_key(
        self,
        user: str,
        *,
        name: str,
        public_key_pem: str,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        subaccount: int | None = None,
    ) -> SimApiKey:
        """`add_key` of a key given as its terms."""
        request = ApiKeyRequest(
            name=name, public_key_pem=public_key_pem, scopes=scopes, subaccount=subaccount
        )
        return self.add_key(user, request)

    def add_key(self, user: str, request: ApiKeyRequest) -> SimApiKey:
        """Register a public key (PEM, already checked by the caller) for `user`. Its id comes
        from the exchange's one id counter, as an order's does, live and in a replay alike: an
        id made only live would shift every later id a replay makes (the orders a journal
        names), and the journal would no longer replay."""
        self._ledger.acct(user)
        scopes = tuple(request.scopes)
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown:
            raise bad_request(f"unknown scope {unknown[0]!r}")
        if "write" in scopes and "read" not in scopes:
            raise bad_request("a key with the write scope needs the read scope too")
        if request.subaccount is not None:
            self.subaccount_ledger(user, request.subaccount)
        new_id = self._ref.new_id()
        self._ref.log("api_key", **journal(request, account_id=user, key_id=new_id))
        key = SimApiKey(
            new_id, user, request.name, request.public_key_pem, scopes, request.subaccount
        )
        self.keyring.added[new_id] = key
        return key

    def delete_api_key(self, user: str, key_id: str) -> None:
        key = self.api_key(key_id)
        if key is None or key.account_id != user:
            raise ExchangeError(404, "not_found", "API key not found")
        self._ref.log("api_key_delete", account_id=user, key_id=key_id)
        if self.keyring.added.pop(key_id, None) is None:
            self.keyring.deleted.add(key_id)

    # the journal -----------------------------------------------------------------------------

    def replay(self, rec: dict[str, Any]) -> bool:
        """Apply a journal record of this layer; False when the record is not one of them."""
        op = rec["op"]
        user = rec.get("account_id", "")
        if op == "subaccount":
            self.create_subaccount(user)
        elif op == "transfer":
            self.move(user, from_journal(TransferRequest, rec))
        elif op == "netting":
            self.set_netting(user, int(rec["subaccount"]), bool(rec["enabled"]))
        elif op == "api_key":
            key = self.add_key(user, from_journal(ApiKeyRequest, rec))
            if key.api_key_id != rec["key_id"]:
                raise ExchangeError(
                    500, "internal_server_error", f"key {rec['key_id']} replays as {key.api_key_id}"
                )
        elif op == "api_key_delete":
            self.delete_api_key(user, rec["key_id"])
        else:
            return False
        return True


def _request_of(made: SimTransfer) -> TransferRequest:
    """The terms a transfer was made with (to compare a retry's with)."""
    return TransferRequest(
        client_transfer_id=made.client_transfer_id, from_subaccount=made.from_subaccount,
        to_subaccount=made.to_subaccount, amount_cents=made.amount_cents,
        exchange_index=made.exchange_index,
    )  # fmt: skip

"""Subaccounts (openapi.yaml 3.31.0): create, balances, transfers, netting. A transfer is idempotent
by its `client_transfer_id`, so it is safely retried with the same id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Protocol

import msgspec

from kalshi_cli.client.connection import PORTFOLIO_PAGE_MAX, Area
from kalshi_cli.client.retry import Resend, UnknownOutcome
from kalshi_cli.vocabulary.errors import KalshiError, NotFoundError


class SubaccountBalance(msgspec.Struct, frozen=True):
    """One subaccount's balance on one shard: the exchange answers a row per shard it holds
    money on. `exchange_index` None: the answer does not say which (a venue sums its shards),
    never read as shard 0."""

    subaccount: int = msgspec.field(name="subaccount_number")
    balance: Decimal  # dollars
    updated_ts: int
    exchange_index: int | None = None


class SubaccountTransfer(msgspec.Struct, frozen=True):
    transfer_id: str
    from_subaccount: int
    to_subaccount: int
    amount_cents: int
    created_ts: int


class _Netting(msgspec.Struct, frozen=True):
    subaccount: int = msgspec.field(name="subaccount_number")
    enabled: bool


class KeyMemory(Protocol):
    """Where a key's restriction, once learned, is kept for later commands (the state file:
    cli/_services.py). A restriction never changes once the key is made (openapi.yaml 3.31.0
    has no operation that changes it) and a key id is unique, so what is kept stays true."""

    def recall(self, key_id: str) -> int | None: ...

    def keep(self, key_id: str, subaccount: int) -> None: ...


def no_subaccount(number: int) -> NotFoundError:
    """What a subaccount the account does not have is called, by whatever asks for it."""
    return NotFoundError(
        f"the account has no subaccount {number}",
        status=404,
        code="UNKNOWN_SUBACCOUNT",
        hint="`kalshi subaccount list` shows them; `kalshi subaccount create` adds the next "
        "one and `kalshi subaccount transfer` funds it",
    )


def has_subaccount(number: int, balances: Callable[[], Iterable[SubaccountBalance]]) -> bool:
    """Whether the account has subaccount `number` (0, the primary, it always has), by one
    listing of the subaccounts' `balances`; a listing that fails raises, and each caller decides
    what not knowing means (a command goes on, `kalshi trade` does not start, an order is not
    sent)."""
    return number == 0 or number in {b.subaccount for b in balances()}


class SubaccountsApi(Area):
    """Subaccounts of the account (see the module docstring)."""

    def create_subaccount(self) -> int:
        """A new numbered subaccount (1-63); returns its number. Sent again only while it
        certainly never left (`Connection.write`): a repeat of one the exchange took makes a
        second subaccount, so an answer lost after sending is `OrderOutcomeUnknown`, and
        `kalshi subaccount list` tells."""
        unknown = UnknownOutcome.read_by(
            "a new subaccount", "the subaccount may or may not exist", "kalshi subaccount list"
        )
        response = self._conn.write(
            "POST", "/portfolio/subaccounts", unknown, json={}, resend=Resend.IF_UNSENT
        )
        number: int = self._written_field(
            response, unknown, "subaccount_number", int, "new subaccount"
        )
        return number

    def require_subaccount(self, number: int) -> None:
        """`number` names a subaccount the account has, else `no_subaccount`: the exchange
        refuses a balance read of one it does not have (400) and lists nothing of it, so a read
        naming it would say "nothing matched" of an account that is not there."""
        try:
            held = has_subaccount(number, self.subaccount_balances)
        except KalshiError:
            # cannot tell (the exchange unreachable, a key that may not list them): the
            # command's own request says what the exchange says, and a kill switch still halts
            return
        if not held:
            raise no_subaccount(number)

    def subaccount_balances(self) -> list[SubaccountBalance]:
        fields = self._conn.get_fields("/portfolio/subaccounts/balances", auth=True)
        return self._conn.items(
            SubaccountBalance, fields, "subaccount_balances", "subaccount balance"
        )

    def transfer_between_subaccounts(
        self,
        *,
        from_subaccount: int,
        to_subaccount: int,
        amount_cents: int,
        client_transfer_id: str | None = None,
        exchange_index: int | None = None,
    ) -> str:
        """Move cash on shard `exchange_index` (None: the exchange's default, 0); returns the
        `client_transfer_id` used (retry with it, never a new one). Sent again with the same id
        while its answer is lost; lost still at the end, it is `OrderOutcomeUnknown` naming the
        id, since the money may have moved."""
        transfer_id = client_transfer_id or str(uuid.uuid4())
        # the same transfer again: its id and, when it named one, its shard
        same = f"--client-transfer-id {transfer_id}" + (
            "" if exchange_index is None else f" --exchange-index {exchange_index}"
        )
        unknown = UnknownOutcome.read_by(
            f"the transfer {transfer_id} between subaccounts",
            "the money may or may not have moved",
            "kalshi subaccount list",
            hint=(
                "`kalshi subaccount list` shows the balances; send it again only with "
                f"`{same}`, which the exchange moves once"
            ),
        )
        self._conn.write(
            "POST",
            "/portfolio/subaccounts/transfer",
            unknown,
            json={
                "client_transfer_id": transfer_id,
                "from_subaccount": from_subaccount,
                "to_subaccount": to_subaccount,
                "amount_cents": amount_cents,
                **({} if exchange_index is None else {"exchange_index": exchange_index}),
            },
            resend=Resend.ALWAYS,
        )
        return transfer_id

    def subaccount_transfers(self, *, limit: int | None = None) -> list[SubaccountTransfer]:
        return list(
            self._conn.iterate(
                "/portfolio/subaccounts/transfers",
                "transfers",
                SubaccountTransfer,
                params={},
                limit=limit,
                page_size=PORTFOLIO_PAGE_MAX,
                auth=True,
                cursor_required=False,
            )
        )

    def subaccount_netting(self) -> dict[int, bool]:
        fields = self._conn.get_fields("/portfolio/subaccounts/netting", auth=True)
        configs: list[_Netting] | None = (
            self._conn.field(fields, "netting_configs", list[_Netting] | None, "netting")
            if "netting_configs" in fields
            else None
        )
        return {c.subaccount: c.enabled for c in configs or []}

    def set_subaccount_netting(self, subaccount: int, enabled: bool) -> None:
        self._conn.request(
            "PUT",
            "/portfolio/subaccounts/netting",
            json={"subaccount_number": subaccount, "enabled": enabled},
            auth=True,
        )

"""Subaccounts: create, balances, transfers, netting (openapi.yaml 3.31.0), and the subaccount
a client acts on.

`client.subaccount = N` makes every portfolio and order call of the client act on subaccount N
(client/subaccount_scope.py, applied by the transport to each request). A client another thread
uses at the same time is never re-scoped that way (the dashboard's kill switch runs while its
panels read): `client.on_subaccount(N)` is a second handle on N that leaves it alone.

A transfer is idempotent by its `client_transfer_id` (the exchange answers a repeat with the
same terms without moving money again), so it is safely retried with the same id; a new id is a
new transfer.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Protocol, Self

import msgspec

from kalshi_cli.client.base import PORTFOLIO_PAGE_MAX, ClientBase

__all__ = [
    "SubaccountBalance",
    "SubaccountTransfer",
    "SubaccountsApi",
]


class SubaccountBalance(msgspec.Struct, frozen=True):
    subaccount: int = msgspec.field(name="subaccount_number")
    balance: Decimal  # dollars
    updated_ts: int


class SubaccountTransfer(msgspec.Struct, frozen=True):
    transfer_id: str
    from_subaccount: int
    to_subaccount: int
    amount_cents: int
    created_ts: int


class KeyMemory(Protocol):
    """Where a key's restriction, once learned, is kept for later commands (the state file:
    cli/_services.py). A restriction never changes once the key is made (openapi.yaml 3.31.0
    has no operation that changes it) and a key id is unique, so what is kept stays true."""

    def recall(self, key_id: str) -> int | None: ...

    def keep(self, key_id: str, subaccount: int) -> None: ...


class SubaccountsApi(ClientBase):
    """Subaccounts of the account (see the module docstring)."""

    # the key's restriction as `own_subaccount` found it: (n,) or (None,) once asked, None before
    _key_subaccount: tuple[int | None] | None = None
    # where `own_subaccount` looks before asking the exchange, and keeps what it learns
    key_memory: KeyMemory | None = None

    def own_subaccount(self, *, strict: bool = False) -> int | None:
        """The subaccount an order or read naming none acts on: `subaccount` when set; else
        the one this API key is restricted to, 0 for an unrestricted key (GET /api_keys lists
        each key's `subaccount`: "if set, the API key is restricted to this single
        sub-account", openapi.yaml 3.31.0). None when it cannot be told (no key, the key not
        listed, the read refused or failed): the caller then reads unnamed. `strict` (the trade
        loop's start): an exchange that could not answer (unreachable, 5xx or 429 after the
        retries) raises that error instead, and nothing is cached. Asked of the
        exchange at most once per client, whatever the answer (a handle made after inherits
        it), and not at all when `key_memory` recalls it; a known answer is kept there, an
        unknown one never (the next client asks again)."""
        if self.subaccount is not None:
            return self.subaccount
        if self._key_subaccount is None:
            self._key_subaccount = (self._key_restriction(strict),)
        return self._key_subaccount[0]

    def _key_restriction(self, strict: bool) -> int | None:
        own_key = self._auth.key_id if self._auth is not None else None
        if own_key is None:
            return None
        memory = self.key_memory
        known = memory.recall(own_key) if memory is not None else None
        if known is not None:
            return known
        restriction = self._listed_restriction(own_key, strict)
        if memory is not None and restriction is not None:
            memory.keep(own_key, restriction)
        return restriction

    def _listed_restriction(self, own_key: str, strict: bool) -> int | None:
        from kalshi_cli.vocabulary.errors import (
            KalshiError,
            RateLimitedError,
            ServerError,
            TransportError,
        )

        try:
            listed = self._get("/api_keys", auth=True)
        except (TransportError, RateLimitedError, ServerError):
            # not an unknown restriction: an exchange that cannot be traded with now (after the
            # retries); a strict caller gets its error and exit code, and nothing is cached
            if strict:
                raise
            return None
        except KalshiError:
            return None
        rows = [k for k in listed.get("api_keys") or [] if k.get("api_key_id") == own_key]
        if len(rows) != 1:
            return None
        restriction = rows[0].get("subaccount")
        if restriction is None:
            return 0
        if isinstance(restriction, bool) or not isinstance(restriction, int):
            return None
        return restriction

    def on_subaccount(self, subaccount: int | None) -> Self:
        """This client acting on `subaccount` (None: the exchange's defaults), as a second
        handle: it shares the connection, the rate limits and the stats, and this client keeps
        acting on what it did, whatever thread is using it. Close this client, never the
        handle (closing either closes the shared connection)."""
        import copy

        handle = copy.copy(self)
        handle.subaccount = subaccount
        return handle

    def create_subaccount(self) -> int:
        """A new numbered subaccount (1-63); returns its number."""
        response = self._request("POST", "/portfolio/subaccounts", json={}, auth=True)
        body = self._body(response)
        return self._parse(lambda b: int(b["subaccount_number"]), body, "subaccount")

    def subaccount_balances(self) -> list[SubaccountBalance]:
        fields = self._get_fields("/portfolio/subaccounts/balances", auth=True)
        return self._items(SubaccountBalance, fields, "subaccount_balances", "subaccount balance")

    def transfer_between_subaccounts(
        self,
        *,
        from_subaccount: int,
        to_subaccount: int,
        amount_cents: int,
        client_transfer_id: str | None = None,
    ) -> str:
        """Move cash; returns the `client_transfer_id` used (retry with it, never a new one)."""
        transfer_id = client_transfer_id or str(uuid.uuid4())
        self._request(
            "POST",
            "/portfolio/subaccounts/transfer",
            json={
                "client_transfer_id": transfer_id,
                "from_subaccount": from_subaccount,
                "to_subaccount": to_subaccount,
                "amount_cents": amount_cents,
            },
            auth=True,
        )
        return transfer_id

    def subaccount_transfers(self, *, limit: int | None = None) -> list[SubaccountTransfer]:
        return list(
            self._iterate(
                "/portfolio/subaccounts/transfers",
                "transfers",
                SubaccountTransfer,
                params={},
                limit=limit,
                page_size=PORTFOLIO_PAGE_MAX,
                auth=True,
            )
        )

    def subaccount_netting(self) -> dict[int, bool]:
        body = self._get("/portfolio/subaccounts/netting", auth=True)
        return {
            int(c["subaccount_number"]): bool(c["enabled"])
            for c in body.get("netting_configs") or []
        }

    def set_subaccount_netting(self, subaccount: int, enabled: bool) -> None:
        self._request(
            "PUT",
            "/portfolio/subaccounts/netting",
            json={"subaccount_number": subaccount, "enabled": enabled},
            auth=True,
        )

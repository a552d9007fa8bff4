"""Order groups (`/portfolio/order_groups`): a contracts limit the exchange enforces over a rolling
15-second window, cancelling the group's orders and refusing new ones until it is reset: a stop
that holds on the exchange's side even when the process that placed the orders is gone. A group
belongs to one subaccount, and every call takes `subaccount=N`; it lives on one exchange shard
(created with `exchange_index=N`, default 0), and delete, reset, trigger and a new limit find it
only when they name that shard. See docs/order-groups.md.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec

from kalshi_cli.client.connection import Area, Id, Params, path_segment
from kalshi_cli.client.pagination import listed_items
from kalshi_cli.client.retry import Resend, UnknownOutcome
from kalshi_cli.vocabulary.errors import ValidationError
from kalshi_cli.vocabulary.models import Answer, decode_answer
from kalshi_cli.vocabulary.order_terms import check_count
from kalshi_cli.vocabulary.request_ranges import SUBACCOUNT_MAX
from kalshi_cli.vocabulary.units import fmt_count


class OrderGroup(Answer, frozen=True):
    """A group as the exchange shows it. `orders` (the ids of the orders placed in it) comes
    with `get_order_group` only; a listing leaves it empty. A listed group is named by its
    `id`; `get_order_group`'s answer names none, so it is the id asked for."""

    order_group_id: str = msgspec.field(default="", name="id")
    contracts_limit: Decimal | None = msgspec.field(default=None, name="contracts_limit_fp")
    auto_cancel: bool = msgspec.field(default=False, name="is_auto_cancel_enabled")
    orders: tuple[str, ...] = ()
    # the shard the group lives on; an answer that leaves it out is of the exchange's default, 0
    exchange_index: int = 0


def _listed_group(item: msgspec.Raw) -> OrderGroup:
    group = decode_answer(OrderGroup, item)
    if not group.order_group_id:
        raise KeyError("id")
    return group


def _group_answer(group_id: str) -> Callable[[bytes], OrderGroup]:
    def decode(content: bytes) -> OrderGroup:
        group = decode_answer(OrderGroup, content)
        msgspec.structs.force_setattr(group, "order_group_id", group_id)
        return group

    return decode


GROUPS = "/portfolio/order_groups"


def _group_id(order_group_id: str) -> str:
    if not isinstance(order_group_id, str) or not order_group_id.strip():
        raise ValidationError("an order group id must be a non-empty string", code="bad_group")
    return order_group_id


def _group_path(order_group_id: str, action: str = "") -> str:
    """The path of one group, its id checked and escaped; with `action`, of that action on it."""
    path = f"{GROUPS}/{path_segment(_group_id(order_group_id))}"
    return f"{path}/{action}" if action else path


def _limit_body(contracts_limit: Decimal) -> dict[str, str]:
    return {"contracts_limit_fp": fmt_count(check_count(contracts_limit, "contracts limit"))}


def checked_subaccount(subaccount: int | None) -> int | None:
    """A request's `subaccount` (None: the client's own, else the default), refused unless a
    whole number 0 (primary) to SUBACCOUNT_MAX: `True` is no subaccount 1."""
    if subaccount is None:
        return None
    if isinstance(subaccount, bool) or not isinstance(subaccount, int):
        raise ValidationError("a subaccount is a whole number", code="bad_subaccount")
    if not 0 <= subaccount <= SUBACCOUNT_MAX:
        raise ValidationError(
            f"a subaccount is 0 (primary) to {SUBACCOUNT_MAX}", code="bad_subaccount"
        )
    return subaccount


def _subaccount(subaccount: int | None) -> Params:
    """The `subaccount` parameter (empty when None)."""
    return {} if checked_subaccount(subaccount) is None else {"subaccount": subaccount}


def _shard(exchange_index: int | None) -> Params:
    """The `exchange_index` of a group's shard (empty when None: the exchange's default, 0)."""
    if exchange_index is None:
        return {}
    if (
        isinstance(exchange_index, bool)
        or not isinstance(exchange_index, int)
        or exchange_index < 0
    ):
        raise ValidationError("an exchange shard is a whole number from 0", code="bad_shard")
    return {"exchange_index": exchange_index}


def _where(subaccount: int | None, exchange_index: int | None) -> Params:
    """The query of a write to one group: its subaccount and its shard."""
    return {**_subaccount(subaccount), **_shard(exchange_index)}


class OrderGroupsApi(Area):
    """Order groups: create, list, get, delete, reset, trigger and a new limit."""

    def create_order_group(
        self,
        contracts_limit: Decimal,
        *,
        subaccount: int | None = None,
        exchange_index: int | None = None,
    ) -> str:
        """A new group with `contracts_limit` contracts per rolling 15 s, on `subaccount` and the
        shard `exchange_index` (None: the exchange's default, 0); returns its id. Sent again
        only while it certainly never left (`Connection.write`): an
        answer lost after sending is `OrderOutcomeUnknown`, and `kalshi order-group list`
        tells whether the group was made."""
        body: dict[str, Any] = {
            **_limit_body(contracts_limit),
            **_subaccount(subaccount),
            **_shard(exchange_index),
        }
        where = subaccount if subaccount is not None else self._conn.subaccount
        listing = "kalshi order-group list" + ("" if where is None else f" --subaccount {where}")
        unknown = UnknownOutcome.read_by(
            f"a new order group of {contracts_limit.normalize():f} contracts",
            "the order group may or may not exist",
            listing,
        )
        response = self._conn.write(
            "POST", GROUPS + "/create", unknown, json=body, resend=Resend.IF_UNSENT
        )
        group_id: str = self._written_field(
            response, unknown, "order_group_id", Id, "answer to a new group"
        )
        return group_id

    def list_order_groups(self, *, subaccount: int | None = None) -> list[OrderGroup]:
        """The groups of `subaccount`; of every subaccount when None (and the client has
        none)."""
        fields = self._conn.get_fields(GROUPS, params=_subaccount(subaccount), auth=True)
        # the one listing whose answer the spec lets leave its list out (GetOrderGroupsResponse
        # requires no field): an account without groups may be answered `{}`
        listed = self._conn.parse(
            lambda f: listed_items(f, "order_groups", required=False), fields, "order groups"
        )
        return [self._conn.parse(_listed_group, item, "order group") for item in listed]

    def get_order_group(self, order_group_id: str, *, subaccount: int | None = None) -> OrderGroup:
        path = _group_path(order_group_id)
        response = self._conn.request("GET", path, params=_subaccount(subaccount), auth=True)
        return self._conn.decode(response, _group_answer(order_group_id), "order group")

    def delete_order_group(
        self,
        order_group_id: str,
        *,
        subaccount: int | None = None,
        exchange_index: int | None = None,
    ) -> None:
        """Delete the group; the exchange cancels its orders."""
        self._on_group(
            "DELETE", order_group_id, "", subaccount=subaccount, exchange_index=exchange_index
        )

    def trigger_order_group(
        self,
        order_group_id: str,
        *,
        subaccount: int | None = None,
        exchange_index: int | None = None,
    ) -> None:
        """Cancel the group's orders and refuse new ones in it until a reset."""
        self._on_group(
            "PUT", order_group_id, "trigger", subaccount=subaccount, exchange_index=exchange_index
        )

    def reset_order_group(
        self,
        order_group_id: str,
        *,
        subaccount: int | None = None,
        exchange_index: int | None = None,
    ) -> None:
        """Set the group's matched count to zero and let orders in again."""
        self._on_group(
            "PUT", order_group_id, "reset", subaccount=subaccount, exchange_index=exchange_index
        )

    def set_order_group_limit(
        self,
        order_group_id: str,
        contracts_limit: Decimal,
        *,
        subaccount: int | None = None,
        exchange_index: int | None = None,
    ) -> None:
        """A new limit; the exchange triggers the group at once if it is already reached."""
        self._on_group(
            "PUT",
            order_group_id,
            "limit",
            subaccount=subaccount,
            exchange_index=exchange_index,
            contracts_limit=contracts_limit,
        )

    def _on_group(
        self,
        method: str,
        order_group_id: str,
        action: str,
        *,
        subaccount: int | None,
        exchange_index: int | None,
        contracts_limit: Decimal | None = None,
    ) -> None:
        """A write to one group (`action` on it, or the group itself; with `contracts_limit`,
        its new limit): found only on its subaccount and the shard it lives on, so every write
        names both (`_where`)."""
        path = _group_path(order_group_id, action)
        body = None if contracts_limit is None else _limit_body(contracts_limit)
        params = _where(subaccount, exchange_index)
        self._conn.request(method, path, params=params, json=body, auth=True)

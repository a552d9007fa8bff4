"""Subaccounts on the wire: create, balances, transfers, netting (openapi.yaml 3.31.0), and which
subaccount each portfolio and order route acts on.

The spec's defaults: a write acts on subaccount 0 unless the request names one; the order, fill and
settlement listings and cancel-all cover every subaccount; positions, the balance and queue
positions default to 0. A key restricted to a subaccount acts on it, and naming another is a 403. A
subaccount not created is a 400 for a write and the balance, empty for a listing.
"""

from __future__ import annotations

import uuid
from typing import Any

from kalshi_cli.sim.core.records import ExchangeError, bad_request, ledger_id
from kalshi_cli.sim.core.reference import check_shard
from kalshi_cli.sim.server.routing import (
    Endpoint,
    Json,
    RequestContext,
    SimState,
    field_bool,
    field_given,
    field_req,
    paginate,
    query_int,
    query_str,
    query_subaccount,
)
from kalshi_cli.vocabulary.request_ranges import SUBACCOUNT_MAX
from kalshi_cli.vocabulary.units import ZERO, fmt_dollars


def forbidden(message: str) -> ExchangeError:
    """A key that may not do this: 403, in Kalshi's nested error shape (the spec's
    ForbiddenError; no 403 code was observed on the wire, so the simulator names it plainly)."""
    return ExchangeError(403, "forbidden", message)


def _restricted(ctx: RequestContext, wanted: int | None) -> int | None:
    """`wanted` as the key's restriction allows it: its own subaccount when omitted, 403 for
    another."""
    own = ctx.key_subaccount
    if own is None:
        return wanted
    if wanted is not None and wanted != own:
        raise forbidden(f"this API key is restricted to subaccount {own}")
    return own


def _number(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SUBACCOUNT_MAX:
        raise bad_request(f"{name} must be a subaccount number from 0 to {SUBACCOUNT_MAX}")
    return value


def write_ledger(state: SimState, ctx: RequestContext, value: Any = None) -> str:
    """The ledger a write acts on: `value` (a body field) or the `subaccount` query parameter,
    else 0."""
    wanted = _number(value, "subaccount")
    if wanted is None:
        wanted = query_subaccount(ctx)
    number = _restricted(ctx, wanted)
    return state.exchange.subaccounts.subaccount_ledger(ctx.account_id, number or 0)


def read_ledgers(state: SimState, ctx: RequestContext, *, all_by_default: bool) -> list[str]:
    """The ledgers a listing covers (empty for a subaccount not created)."""
    number = _restricted(ctx, query_subaccount(ctx))
    numbers = state.exchange.subaccounts.subaccount_numbers(ctx.account_id)
    if number is None:
        return [ledger_id(ctx.account_id, n) for n in (numbers if all_by_default else [0])]
    return [ledger_id(ctx.account_id, number)] if number in numbers else []


def read_ledger(state: SimState, ctx: RequestContext) -> str:
    """The one ledger a read that defaults to 0 acts on (400 for one not created)."""
    number = _restricted(ctx, query_subaccount(ctx))
    return state.exchange.subaccounts.subaccount_ledger(ctx.account_id, number or 0)


def lookup_ledger(ctx: RequestContext) -> str:
    """The ledger a write that defaults to 0 finds its object in (order groups): the
    `subaccount` query parameter, else 0. A subaccount not created holds nothing, so the
    caller's lookup answers 404 rather than a 400 the operation does not document."""
    number = _restricted(ctx, query_subaccount(ctx))
    return ledger_id(ctx.account_id, number or 0)


def _visible(ctx: RequestContext, numbers: list[int]) -> list[int]:
    own = ctx.key_subaccount
    return numbers if own is None else [n for n in numbers if n == own]


# --------------------------------------------------------------------------------------------


def body_shard(state: SimState, body: Json) -> int:
    """The shard a body's `exchange_index` names ("Defaults to 0"); 400 for one the exchange
    does not run."""
    shard: int = body.get("exchange_index") or 0
    check_shard(state.exchange.reference, shard)
    return shard


def handle_create_subaccount(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    # a subaccount holds a balance on every shard: the one named only has to exist
    body_shard(state, ctx.body or {})
    if state.tier.name == "basic":
        # the spec: "available to all users on the Advanced API tier and above"
        raise bad_request("subaccounts need the Advanced API tier or above")
    return 201, {"subaccount_number": state.exchange.subaccounts.create_subaccount(ctx.account_id)}


def handle_transfer(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    body = ctx.body
    shard = body_shard(state, body)
    client_transfer_id = field_req(body, "client_transfer_id")
    try:
        uuid.UUID(client_transfer_id)
    except ValueError:
        raise bad_request("client_transfer_id must be a UUID") from None
    numbers = {
        name: field_given(body, name)
        for name in ("from_subaccount", "to_subaccount", "amount_cents")
    }
    source = _number(numbers["from_subaccount"], "from_subaccount")
    target = _number(numbers["to_subaccount"], "to_subaccount")
    assert source is not None and target is not None
    state.exchange.subaccounts.transfer(
        ctx.account_id,
        client_transfer_id=client_transfer_id,
        from_subaccount=source,
        to_subaccount=target,
        amount_cents=int(numbers["amount_cents"]),
        exchange_index=shard,
    )
    return 200, {}


def handle_balances(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    user = ctx.account_id
    rows = []
    for n in _visible(ctx, state.exchange.subaccounts.subaccount_numbers(user)):
        # a row per shard the subaccount has money on (shard 0 always)
        ledger = ledger_id(user, n)
        balances = state.exchange.accounts.acct(ledger).balances()
        for shard, balance in sorted({0: ZERO, **balances}.items()):
            rows.append(
                {
                    "subaccount_number": n,
                    "exchange_index": shard,
                    "balance": fmt_dollars(balance),
                    "updated_ts": int(state.exchange.accounts.balance_updated(ledger, shard)),
                }
            )
    return 200, {"subaccount_balances": rows}


def handle_transfers(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    limit = query_int(ctx, "limit", 100, 1, 1000) or 100
    own = ctx.key_subaccount
    found = [
        t
        for t in state.exchange.subaccounts.transfers(ctx.account_id)
        if own is None or own in (t.from_subaccount, t.to_subaccount)
    ]
    page, cursor = paginate(found, lambda t: t.transfer_id, limit, query_str(ctx, "cursor"))
    return 200, {
        "transfers": [
            {
                "transfer_id": t.transfer_id,
                "from_subaccount": t.from_subaccount,
                "to_subaccount": t.to_subaccount,
                "amount_cents": t.amount_cents,
                "created_ts": int(t.created_ts),
                "exchange_index": t.exchange_index,
            }
            for t in page
        ],
        "cursor": cursor,
    }


def handle_update_netting(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    body = ctx.body
    if body.get("subaccount_number") is None or body.get("enabled") is None:
        raise bad_request("subaccount_number and enabled are required", "missing_parameters")
    number = _number(body["subaccount_number"], "subaccount_number")
    assert number is not None
    state.exchange.subaccounts.set_netting(ctx.account_id, number, field_bool(body, "enabled"))
    return 200, None


def handle_get_netting(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    settings = state.exchange.subaccounts.netting(ctx.account_id)
    return 200, {
        "netting_configs": [
            {"subaccount_number": n, "enabled": settings[n], "exchange_index": 0}
            for n in _visible(ctx, sorted(settings))
        ]
    }


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("POST", "/portfolio/subaccounts", handle_create_subaccount),
    Endpoint("POST", "/portfolio/subaccounts/transfer", handle_transfer),
    Endpoint("GET", "/portfolio/subaccounts/balances", handle_balances),
    Endpoint("GET", "/portfolio/subaccounts/transfers", handle_transfers),
    Endpoint("PUT", "/portfolio/subaccounts/netting", handle_update_netting),
    Endpoint("GET", "/portfolio/subaccounts/netting", handle_get_netting),
)

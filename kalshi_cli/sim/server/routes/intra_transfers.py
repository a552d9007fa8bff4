"""Intra-exchange-instance transfers. The simulator runs one instance, `event_contract`, on shard 0,
so the one transfer it carries out is the core's journaled subaccount transfer; one to or from
another instance or shard is refused 400. docs/simulator.md "Intra-exchange-instance transfers".
"""

from __future__ import annotations

import uuid
import weakref
from dataclasses import dataclass, field
from decimal import Decimal

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import bad_request
from kalshi_cli.sim.core.subaccounts import MAX_SUBACCOUNT, SimTransfer
from kalshi_cli.sim.server.routing import (
    Endpoint,
    Json,
    RequestContext,
    SimState,
    found,
    paginate,
    query_int,
    query_str,
)
from kalshi_cli.vocabulary.units import fmt_dollars

INSTANCES = ("event_contract", "margined")
MAX_SHARD = 100


@dataclass
class _Made:
    by_account: dict[str, list[str]] = field(default_factory=dict)  # transfer ids, oldest first


_BY_EXCHANGE: weakref.WeakKeyDictionary[Exchange, _Made] = weakref.WeakKeyDictionary()


def _made(exchange: Exchange) -> _Made:
    return _BY_EXCHANGE.setdefault(exchange, _Made())


def _int(body: Json, name: str, lo: int, hi: int | None) -> int:
    """An integer field (the body decoded into the request's struct: an integer or absent)."""
    value: int = body.get(name) or 0
    if value < lo or (hi is not None and value > hi):
        top = "" if hi is None else f" to {hi}"
        raise bad_request(f"{name} must be an integer from {lo}{top}")
    return value


def _json(t: SimTransfer) -> Json:
    return {
        "transfer_id": t.transfer_id,
        "source": "event_contract",
        "destination": "event_contract",
        "source_exchange_shard": 0,
        "destination_exchange_shard": 0,
        "amount": fmt_dollars(Decimal(t.amount_cents) / 100),
        "status": "complete",
        "created_ts": int(t.created_ts),
    }


def handle_transfer(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    body = ctx.body
    for name in ("source", "destination", "amount"):
        if body.get(name) is None:
            raise bad_request(f"{name} is required", "missing_parameters")
    source, destination = body["source"], body["destination"]
    for name, value in (("source", source), ("destination", destination)):
        if value not in INSTANCES:
            raise bad_request(f"{name} must be one of {', '.join(INSTANCES)}")
    amount = _int(body, "amount", 1, None)
    shards = [
        _int(body, n, 0, MAX_SHARD) for n in ("source_exchange_shard", "destination_exchange_shard")
    ]
    from_sub = _int(body, "source_subaccount", 0, MAX_SUBACCOUNT)
    to_sub = _int(body, "destination_subaccount", 0, MAX_SUBACCOUNT)
    if source != "event_contract" or destination != "event_contract":
        raise bad_request("the simulator runs the event_contract exchange instance only")
    if shards != [0, 0]:
        raise bad_request("the simulator has exchange_index 0 only")
    if amount % 100:
        raise bad_request("amount must be whole cents (a multiple of 100 centi-cents)")
    made = state.exchange.subaccounts.transfer(
        ctx.account_id,
        client_transfer_id=str(uuid.uuid4()),
        from_subaccount=from_sub,
        to_subaccount=to_sub,
        amount_cents=amount // 100,
    )
    _made(state.exchange).by_account.setdefault(ctx.account_id, []).append(made.transfer_id)
    return 200, {"transfer_id": made.transfer_id}


def _mine(state: SimState, ctx: RequestContext) -> list[SimTransfer]:
    """This user's transfers made through this route, newest first; for a key restricted to a
    subaccount, those touching it (as the subaccount transfer history shows it)."""
    ids = set(_made(state.exchange).by_account.get(ctx.account_id, []))
    own = ctx.key_subaccount
    return [
        t
        for t in state.exchange.subaccounts.transfers(ctx.account_id)
        if t.transfer_id in ids and (own is None or own in (t.from_subaccount, t.to_subaccount))
    ]


def handle_transfers(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    limit = query_int(ctx, "limit", 100, 1, 500) or 100
    page, cursor = paginate(
        _mine(state, ctx), lambda t: t.transfer_id, limit, query_str(ctx, "cursor")
    )
    body: Json = {"transfers": [_json(t) for t in page]}
    if cursor:  # the spec: "Omitted when there are no further pages"
        body["cursor"] = cursor
    return 200, body


def handle_get_transfer(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    wanted = ctx.path_param("transfer_id")
    transfer = next((t for t in _mine(state, ctx) if t.transfer_id == wanted), None)
    return 200, {"transfer": _json(found(transfer, f"transfer {wanted}"))}


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("POST", "/portfolio/intra_exchange_instance_transfer", handle_transfer),
    Endpoint("GET", "/portfolio/intra_exchange_instance_transfers", handle_transfers),
    Endpoint(
        "GET", "/portfolio/intra_exchange_instance_transfers/{transfer_id}", handle_get_transfer
    ),
)

"""Intra-exchange-instance transfers: money between the shards of the one exchange instance the
simulator runs, `event_contract` (`margined` is refused). The core's `ShardTransfers`
(sim/core/shard_transfers.py) makes, runs and lists them; this route parses the request and
refuses a transfer touching a shard whose transfers are paused (sim/server/shards.py).
docs/simulator.md "Intra-exchange-instance transfers".
"""

from __future__ import annotations

from kalshi_cli.sim.core.records import bad_request
from kalshi_cli.sim.core.shard_transfers import SimShardTransfer
from kalshi_cli.sim.server.routing import (
    Endpoint,
    Json,
    RequestContext,
    SimState,
    field_given,
    found,
    paginate,
    query_int,
    query_str,
)
from kalshi_cli.vocabulary.request_ranges import SHARD_MAX, SUBACCOUNT_MAX
from kalshi_cli.vocabulary.units import fmt_dollars

INSTANCES = ("event_contract", "margined")


def _int(body: Json, name: str, lo: int, hi: int | None) -> int:
    """An integer field (the body decoded into the request's struct: an integer or absent)."""
    value: int = body.get(name) or 0
    if value < lo or (hi is not None and value > hi):
        top = "" if hi is None else f" to {hi}"
        raise bad_request(f"{name} must be an integer from {lo}{top}")
    return value


def _json(t: SimShardTransfer) -> Json:
    return {
        "transfer_id": t.transfer_id,
        "source": "event_contract",
        "destination": "event_contract",
        "source_exchange_shard": t.source_shard,
        "destination_exchange_shard": t.destination_shard,
        "amount": fmt_dollars(t.amount),
        "status": t.status,
        "created_ts": int(t.created_ts),
    }


def handle_transfer(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    body = ctx.body
    source, destination, _ = (field_given(body, n) for n in ("source", "destination", "amount"))
    for name, value in (("source", source), ("destination", destination)):
        if value not in INSTANCES:
            raise bad_request(f"{name} must be one of {', '.join(INSTANCES)}")
    amount = _int(body, "amount", 1, None)
    shards = [
        _int(body, n, 0, SHARD_MAX) for n in ("source_exchange_shard", "destination_exchange_shard")
    ]
    from_sub = _int(body, "source_subaccount", 0, SUBACCOUNT_MAX)
    to_sub = _int(body, "destination_subaccount", 0, SUBACCOUNT_MAX)
    if source != "event_contract" or destination != "event_contract":
        raise bad_request("the simulator runs the event_contract exchange instance only")
    for shard in shards:
        state.shards.check_transfers(shard)
    made = state.exchange.shard_transfers.start(
        ctx.account_id,
        source_subaccount=from_sub,
        destination_subaccount=to_sub,
        source_shard=shards[0],
        destination_shard=shards[1],
        amount_centicents=amount,
    )
    return 200, {"transfer_id": made.transfer_id}


def _mine(state: SimState, ctx: RequestContext) -> list[SimShardTransfer]:
    """This user's intra-exchange transfers, newest first; for a key restricted to a
    subaccount, those touching it (as the subaccount transfer history shows it)."""
    own = ctx.key_subaccount
    return [
        t
        for t in state.exchange.shard_transfers.transfers(ctx.account_id)
        if own is None or own in (t.source_subaccount, t.destination_subaccount)
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

"""API keys on the wire (list, create, generate, delete; openapi.yaml 3.31.0) and the scope check
every authenticated request passes (`scope_refusal`, called by the pipeline in
sim/server/server.py right after the signature is verified): `read`, `write` and their child
scopes, and a key restricted to a subaccount. The simulator keeps public keys only. See
docs/simulator.md "Subaccounts and API keys".
"""

from __future__ import annotations

from typing import Any

from kalshi_cli.sim.core.records import ExchangeError, bad_request
from kalshi_cli.sim.core.subaccounts import DEFAULT_SCOPES, SimApiKey
from kalshi_cli.sim.server.operations import OPERATIONS
from kalshi_cli.sim.server.routes.subaccounts import forbidden
from kalshi_cli.sim.server.routing import (
    Endpoint,
    Json,
    RequestContext,
    SimState,
    field_req,
    field_str,
    query_str,
)
from kalshi_cli.vocabulary.keys import (
    KEY_TYPES,
    generate_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
)
from kalshi_cli.vocabulary.request_ranges import SUBACCOUNT_MAX

# `write::trade` lets a key write orders and order groups: every operation of the spec that does
TRADE_OPERATIONS = frozenset(
    operation
    for method, template, operation in OPERATIONS
    if method != "GET"
    and template.startswith(("/portfolio/events/orders", "/portfolio/order_groups"))
)
TRANSFER_OPERATIONS = frozenset({"ApplySubaccountTransfer", "IntraExchangeInstanceTransfer"})
_PREMIER_TIERS = ("premier", "paragon", "prime")


def scope_refusal(key: SimApiKey, method: str, operation: str) -> ExchangeError | None:
    """Why `key` may not call `operation` (None when it may)."""
    granted = set(key.scopes)
    if method == "GET":
        allowed = "read" in granted or (
            operation == "GetBalance" and "read::portfolio_balance" in granted
        )
    else:
        allowed = (
            "write" in granted
            or (operation in TRADE_OPERATIONS and "write::trade" in granted)
            or (operation in TRANSFER_OPERATIONS and "write::transfer" in granted)
        )
    if not allowed:
        return forbidden(
            f"this API key's scopes ({', '.join(key.scopes)}) do not allow {operation}"
        )
    if key.subaccount is not None and method != "GET" and operation not in TRADE_OPERATIONS:
        return forbidden(
            f"this API key is restricted to subaccount {key.subaccount}: "
            "it may only read and trade on it"
        )
    return None


def key_json(key: SimApiKey) -> Json:
    return {
        "api_key_id": key.api_key_id,
        "name": key.name,
        "scopes": list(key.scopes),
        "subaccount": key.subaccount,
    }


def _scopes(body: Json) -> tuple[str, ...]:
    scopes = body.get("scopes")
    return DEFAULT_SCOPES if scopes is None else tuple(scopes)


def _subaccount(body: Json) -> int | None:
    value: Any = body.get("subaccount")
    if value is None:
        return None
    if not 0 <= value <= SUBACCOUNT_MAX:
        raise bad_request(f"subaccount must be from 0 to {SUBACCOUNT_MAX}")
    return int(value)


def _no_fcm(body: Json) -> None:
    if field_str(body, "fcm_subtrader_id", required=False) is not None:
        raise forbidden("fcm_subtrader_id needs an FCM member; the simulator has none")


def handle_list(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    keys = state.exchange.subaccounts.api_keys(ctx.account_id)
    if query_str(ctx, "fcm_subtrader_id") is not None:
        keys = []  # no key is bound to an FCM subtrader here
    return 200, {"api_keys": [key_json(k) for k in keys]}


def handle_create(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    body = ctx.body
    _no_fcm(body)
    name = field_req(body, "name")
    pem = field_req(body, "public_key")
    if state.tier.name not in _PREMIER_TIERS:
        raise forbidden("creating an API key from a public key needs the Premier tier or above")
    try:
        load_public_key(pem)
    except (ValueError, TypeError, UnicodeError):
        raise bad_request("public_key must be an RSA or Ed25519 public key in PEM") from None
    key = state.exchange.subaccounts.add_api_key(
        ctx.account_id,
        name=name,
        public_key_pem=pem,
        scopes=_scopes(body),
        subaccount=_subaccount(body),
    )
    return 201, {"api_key_id": key.api_key_id}


def handle_generate(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    body = ctx.body
    _no_fcm(body)
    name = field_req(body, "name")
    kind = field_str(body, "key_type", required=False) or "rsa"
    if kind not in KEY_TYPES:
        raise bad_request("key_type must be rsa or ed25519")
    scopes, subaccount = _scopes(body), _subaccount(body)
    private = generate_private_key("ed25519" if kind == "ed25519" else "rsa")
    key = state.exchange.subaccounts.add_api_key(
        ctx.account_id,
        name=name,
        public_key_pem=public_key_pem(private),
        scopes=scopes,
        subaccount=subaccount,
    )
    return 201, {
        "api_key_id": key.api_key_id,
        "key_type": kind,
        "private_key": private_key_pem(private).decode("ascii"),
    }


def handle_delete(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    state.exchange.subaccounts.delete_api_key(ctx.account_id, ctx.path_param("api_key"))
    return 204, None


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/api_keys", handle_list),
    Endpoint("POST", "/api_keys", handle_create),
    Endpoint("POST", "/api_keys/generate", handle_generate),
    Endpoint("DELETE", "/api_keys/{api_key}", handle_delete),
)

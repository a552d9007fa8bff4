"""The simulator decodes each request body into the struct openapi.yaml names for its operation,
with the field types the spec gives: the table is generated from the spec (a change of the spec
changes it), and every served route decodes its operation's own struct."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from kalshi_cli.sim.server.request_bodies import (
    GO_BATCHES,
    GO_STRUCTS,
    OPTIONAL_BODIES,
    REQUEST_BODIES,
)
from kalshi_cli.sim.server.routing import UndecodableBody, decode_body
from kalshi_cli.sim.server.server import ENDPOINTS
from tests.openapi_check import SPEC_PATH, raw_spec

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> ModuleType:
    path = ROOT / "scripts" / "gen_sim_operations.py"
    spec = importlib.util.spec_from_file_location("gen_sim_operations", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_served_route_decodes_the_struct_the_spec_names_for_its_operation() -> None:
    decoding = [ep for ep in ENDPOINTS if ep.body is not None]
    assert decoding  # the orders, order groups, RFQs, subaccounts, keys... all decode a body
    for ep in decoding:
        assert ep.body == REQUEST_BODIES[ep.operation], ep.operation
        assert ep.body in GO_STRUCTS or ep.body in GO_BATCHES
    # a route that decodes nothing has no body in the spec, or an empty optional one
    for ep in ENDPOINTS:
        if ep.body is None:
            assert REQUEST_BODIES.get(ep.operation, "EmptyResponse") == "EmptyResponse"
            assert "EmptyResponse" in OPTIONAL_BODIES


def test_the_table_follows_the_spec(tmp_path: Path) -> None:
    """A field's type, a new field and an optional body in the spec are what the table says."""
    spec = copy.deepcopy(raw_spec())
    schemas = spec["components"]["schemas"]
    schemas["CreateOrderV2Request"]["properties"]["count"] = {"type": "integer"}
    schemas["AcceptQuoteRequest"]["properties"]["note"] = {"type": "boolean"}
    schemas["AcceptQuoteRequest"]["properties"]["legs"] = {"type": "array", "items": {}}
    spec["paths"]["/portfolio/subaccounts/transfer"]["post"]["requestBody"]["required"] = False
    changed = tmp_path / "openapi.yaml"
    changed.write_text(yaml.safe_dump(spec))
    namespace: dict[str, object] = {}
    exec(_generator().render_bodies(changed), namespace)
    structs = namespace["GO_STRUCTS"]
    assert isinstance(structs, dict)
    assert structs["CreateOrderV2Request"]["count"] == "int"
    assert structs["AcceptQuoteRequest"] == {"accepted_side": "string", "note": "bool"}
    assert "ApplySubaccountTransferRequest" in namespace["OPTIONAL_BODIES"]  # type: ignore[operator]
    # and the pinned spec's own table is the one the simulator has
    assert structs != GO_STRUCTS
    exec(_generator().render_bodies(SPEC_PATH), namespace)
    assert namespace["GO_STRUCTS"] == GO_STRUCTS and namespace["GO_BATCHES"] == GO_BATCHES


@pytest.mark.parametrize(
    ("struct", "body", "refusal"),
    [
        # the spec's types, through $ref (FixedPointCount), allOf (ExchangeIndex) and enums
        (
            "CreateOrderV2Request",
            {"count": 10},
            "json: cannot unmarshal number into Go struct field CreateOrderV2Request.count of "
            "type string",
        ),
        (
            "CreateOrderV2Request",
            {"exchange_index": "0"},
            "json: cannot unmarshal string into Go struct field CreateOrderV2Request."
            "exchange_index of type int",
        ),
        (
            "CreateApiKeyRequest",
            {"scopes": ["read", 1]},
            "json: cannot unmarshal number into Go struct field CreateApiKeyRequest.scopes of "
            "type []ApiKeyScope",
        ),
        (
            "BatchCancelOrdersV2Request",
            {"orders": [{"order_id": 7}]},
            "json: cannot unmarshal number into Go struct field BatchCancelOrdersV2Request.orders."
            "order_id of type string",
        ),
    ],
)
def test_a_body_is_refused_with_the_type_of_the_spec(
    struct: str, body: dict[str, object], refusal: str
) -> None:
    with pytest.raises(UndecodableBody) as refused:
        decode_body(body, struct)
    assert refused.value.details == refusal

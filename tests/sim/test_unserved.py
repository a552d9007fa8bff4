"""An unserved operation is unmistakable: every operation of openapi.yaml that the simulator
does not serve answers 404 `not_implemented` (naming the operation), never a resource 404, and
every operation it serves answers something else. The table the unserved routes are built from
is generated from the spec and must not go stale."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from kalshi_cli.sim.server.operations import OPERATIONS
from kalshi_cli.sim.server.server import ENDPOINTS
from tests.conftest import SimHarness
from tests.openapi_check import raw_spec

ROOT = Path(__file__).resolve().parents[2]
NOT_IMPLEMENTED = "not_implemented"


def spec_operations() -> list[tuple[str, str, str]]:
    spec = raw_spec()
    return [
        (method.upper(), template, operation["operationId"])
        for template, item in spec["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def test_the_operations_table_is_the_spec() -> None:
    assert sorted(OPERATIONS) == sorted(spec_operations())
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_sim_operations.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_every_served_route_is_an_operation_of_the_spec() -> None:
    known = {(method, template) for method, template, _ in OPERATIONS}
    assert {(ep.method, ep.template) for ep in ENDPOINTS} <= known


def test_a_served_route_asks_for_a_signature_exactly_where_the_spec_does() -> None:
    """Each route's `private` is written by hand beside it: it must say what the operation's
    `security` in openapi.yaml says (none given: public)."""
    spec = raw_spec()
    default = spec.get("security") or []
    signed = {
        (method.upper(), template): bool(operation.get("security", default))
        for template, item in spec["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }
    wrong = [
        (ep.method, ep.template) for ep in ENDPOINTS if ep.private != signed[ep.method, ep.template]
    ]
    assert wrong == []


def _code(body: object) -> object:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return inner.get("code")
    return None


def test_each_operation_of_the_spec_is_served_or_answers_not_implemented(
    sim: SimHarness,
) -> None:
    served = {(ep.method, ep.template) for ep in ENDPOINTS}
    me = sim.account
    unserved = 0
    for method, template, operation_id in OPERATIONS:
        path = re.sub(r"\{[^}]+\}", "x", template)
        answer = sim.signed(me, method, path, json={} if method in ("POST", "PUT") else None)
        code = _code(answer.json()) if answer.content else None
        where = f"{operation_id} {method} {template}: {answer.status_code} {answer.text[:200]}"
        if (method, template) in served:
            assert code != NOT_IMPLEMENTED, where
        else:
            unserved += 1
            assert answer.status_code == 404, where
            assert code == NOT_IMPLEMENTED, where
            message = answer.json()["error"]["message"]
            assert operation_id in message and "not implemented by the simulator" in message
    assert unserved == len(OPERATIONS) - len(served)


def test_an_unserved_operation_is_not_implemented_even_unsigned(sim: SimHarness) -> None:
    served = {(e.method, e.template) for e in ENDPOINTS}
    unserved = [(m, t) for m, t, _ in OPERATIONS if (m, t) not in served]
    method, template = unserved[0]
    answer = sim.http.request(method, sim.account.api_base + re.sub(r"\{[^}]+\}", "x", template))
    assert answer.status_code == 404
    assert _code(answer.json()) == NOT_IMPLEMENTED


def test_a_path_outside_the_spec_is_still_a_plain_404(sim: SimHarness) -> None:
    answer = sim.signed(sim.account, "GET", "/no/such/path")
    assert answer.status_code == 404
    assert _code(answer.json()) == "not_found"


def test_a_method_the_spec_does_not_have_on_a_path_is_a_405(sim: SimHarness) -> None:
    answer = sim.signed(sim.account, "PUT", "/markets")
    assert answer.status_code == 405


def test_a_path_with_an_empty_segment_is_a_404_not_a_redirect(sim: SimHarness) -> None:
    """Found by the fuzz pass: an order id of "/" (sent as %2F) made the path end in "//", and
    Starlette answered 307 to the path without the trailing slash, a status no operation of the
    spec has. Kalshi's paths have no redirects."""
    for path in ("/portfolio/orders/%2F", "/markets/", "/markets//orderbook"):
        answer = sim.signed(sim.account, "GET", path)
        assert answer.status_code == 404, (path, answer.status_code)
        assert _code(answer.json()) == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/portfolio/orders"),
        ("POST", "/portfolio/orders/batched"),
        ("DELETE", "/portfolio/orders/batched"),
        ("DELETE", "/portfolio/orders/ord-1"),
        ("POST", "/portfolio/orders/ord-1/amend"),
        ("POST", "/portfolio/orders/ord-1/decrease"),
    ],
)
def test_a_retired_v1_order_write_is_410_gone_and_changes_nothing(
    sim: SimHarness, method: str, path: str
) -> None:
    """REFERENCE.md: after the V1 order writes were cut off, Kalshi answered them 410 Gone."""
    body = {"ticker": "KXGONE-1", "side": "yes", "action": "buy", "count": 1, "type": "limit",
            "yes_price": 40} if method == "POST" else None  # fmt: skip
    answer = sim.signed(sim.account, method, path, json=body)
    assert answer.status_code == 410, answer.text
    assert _code(answer.json()) == "gone"
    assert sim.signed(sim.account, "GET", "/portfolio/orders").json()["orders"] == []

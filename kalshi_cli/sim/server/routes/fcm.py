"""The FCM operations (`/fcm/*`, a futures commission merchant's view of its subtraders). No
simulated account is an FCM member, so each is authenticated and then refused as the spec
documents for a non-FCM member: 403, with the `permission_denied` code the wire answered the
FCM-only `total_resting_order_value` with (REFERENCE.md, docs/simulator.md "Money beyond
trading").
"""

from __future__ import annotations

from kalshi_cli.sim.core.records import ExchangeError
from kalshi_cli.sim.server.operations import OPERATIONS
from kalshi_cli.sim.server.routing import Endpoint, Json, RequestContext, SimState


def not_an_fcm_member(what: str) -> ExchangeError:
    return ExchangeError(
        403, "permission_denied", f"{what} is for FCM members; this account is not"
    )


def _refused(state: SimState, ctx: RequestContext) -> tuple[int, Json | None]:
    raise not_an_fcm_member("this operation")


# a write's body still decodes into the struct the spec names before the refusal, as every route's
ENDPOINTS: tuple[Endpoint, ...] = tuple(
    Endpoint(method, template, _refused)
    for method, template, _ in OPERATIONS
    if template.startswith("/fcm/")
)

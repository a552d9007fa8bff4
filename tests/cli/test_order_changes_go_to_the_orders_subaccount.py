"""`kalshi order amend`, `decrease` and `cancel` of an order resting on another subaccount than
the primary, in-process against the simulator. The exchange reads a write naming no subaccount
as subaccount 0's (openapi.yaml 3.31.0), and names an order's subaccount to direct members only
(the simulator always names it; a wire that drops it stands for the others). The three commands
take one rule for the subaccount an order is on: the one the order names, else the one the
state file placed it on; `--subaccount` that says otherwise is refused before anything is sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, connect, make_markets
from tests.services.test_restricted_key_imports import _NamingNoSubaccount

# the simulator's request counts name the route, not the order
_CHANGES = ("/amend", "/decrease")


def _order_writes(harness: SimHarness) -> int:
    """Amends, decreases and cancels of one order the simulator was sent, for every key."""
    total = 0
    for account in harness.stats()["accounts"].values():
        for endpoint, count in account["requests"].items():
            method, _, path = endpoint.partition(" ")
            one_order = path.startswith("/portfolio/events/orders/") and not path.endswith(
                "/batched"
            )
            if one_order and (path.endswith(_CHANGES) or method == "DELETE"):
                total += int(count)
    return total


def _the_order(harness: SimHarness, order_id: str) -> dict[str, Any]:
    answer = harness.signed(harness.account, "GET", f"/portfolio/orders/{order_id}")
    order: dict[str, Any] = answer.json()["order"]
    return order


def _fund_subaccount_1(kalshi: Kalshi) -> None:
    assert kalshi("subaccount", "create").exit_code == 0
    moved = kalshi("subaccount", "transfer", "--from", "0", "--to", "1", "--amount", "50.00")
    assert moved.exit_code == 0, moved.output


def _on_subaccount_1(kalshi: Kalshi, ticker: str, **run: Any) -> str:
    """A bid of 2 at 0.30 placed here with `--subaccount 1` (a funded subaccount 1): its id."""
    _fund_subaccount_1(kalshi)
    placed = kalshi(
        "order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "2",
        "--price", "0.30", "--subaccount", "1", "--json", **run,
    )  # fmt: skip
    assert placed.exit_code == 0, placed.output
    order_id: str = json.loads(placed.stdout)["order"]["order_id"]
    return order_id


def _unnamed(prime: SimHarness) -> Callable[[], KalshiClient]:
    return lambda: connect(prime.account, transport=_NamingNoSubaccount())


@pytest.mark.parametrize("names_it", [True, False], ids=["order-names-it", "order-names-none"])
def test_amend_decrease_and_cancel_without_subaccount_act_where_the_order_rests(
    prime: SimHarness, kalshi: Kalshi, names_it: bool
) -> None:
    """Placed here with `--subaccount 1`, then changed without the flag: the amend and the
    decrease were read as subaccount 0's and failed as not found (the cancel found its way);
    each now goes to subaccount 1, named by the order or, when it names none, by its row in
    the state file."""
    (ticker,) = make_markets(prime, 1)
    run: dict[str, Any] = {} if names_it else {"client": _unnamed(prime)}
    order_id = _on_subaccount_1(kalshi, ticker, **run)

    amended = kalshi("order", "amend", order_id, "--price", "0.31", "--json", **run)
    assert amended.exit_code == 0, amended.output
    decreased = kalshi("order", "decrease", order_id, "--by", "1", "--json", **run)
    assert decreased.exit_code == 0, decreased.output
    order = _the_order(prime, order_id)
    assert (order["subaccount_number"], order["status"]) == (1, "resting")
    assert (order["yes_price_dollars"], order["remaining_count_fp"]) == ("0.3100", "1.00")

    cancelled = kalshi("order", "cancel", order_id, "--json", **run)
    assert cancelled.exit_code == 0, cancelled.output
    assert json.loads(cancelled.stdout)["reduced_by"] == "1.00"
    assert _the_order(prime, order_id)["status"] == "canceled"


@pytest.mark.parametrize(
    "change",
    [("amend", "--price", "0.31"), ("decrease", "--by", "1"), ("cancel",)],
    ids=["amend", "decrease", "cancel"],
)
@pytest.mark.parametrize("names_it", [True, False], ids=["order-names-it", "order-names-none"])
def test_a_subaccount_flag_that_is_not_the_orders_is_refused_with_nothing_sent(
    prime: SimHarness, kalshi: Kalshi, change: tuple[str, ...], names_it: bool
) -> None:
    """`--subaccount 0` for an order this state file placed on subaccount 1: the command names
    the order's subaccount and exits 9; no amend, decrease or cancel reaches the exchange and
    the order rests as it was. (The cancel went on to cancel it on 1 regardless; the amend and
    the decrease were sent to 0 and answered not found.)"""
    (ticker,) = make_markets(prime, 1)
    run: dict[str, Any] = {} if names_it else {"client": _unnamed(prime)}
    order_id = _on_subaccount_1(kalshi, ticker, **run)
    before = _order_writes(prime)

    verb, *terms = change
    refused = kalshi("order", verb, order_id, *terms, "--subaccount", "0", **run)
    assert refused.exit_code == ExitCode.REJECTED, refused.output
    assert "is on subaccount 1" in refused.stderr, refused.stderr
    assert _order_writes(prime) == before
    order = _the_order(prime, order_id)
    assert (order["status"], order["yes_price_dollars"], order["remaining_count_fp"]) == (
        "resting",
        "0.3000",
        "2.00",
    )


def test_an_order_placed_elsewhere_is_amended_on_the_subaccount_it_names(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    """An order the state file does not hold, placed on subaccount 1 by another program: it
    names its subaccount (to a direct member), and the amend without `--subaccount` goes
    there."""
    (ticker,) = make_markets(prime, 1)
    _fund_subaccount_1(kalshi)
    created = prime.signed(
        prime.account,
        "POST",
        "/portfolio/events/orders",
        json={
            "ticker": ticker,
            "side": "bid",
            "count": "2.00",
            "price": "0.30",
            "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross",
            "subaccount": 1,
        },
    )
    assert created.status_code == 201, created.text
    order_id = created.json()["order_id"]

    amended = kalshi("order", "amend", order_id, "--price", "0.31", "--json")
    assert amended.exit_code == 0, amended.output
    order = _the_order(prime, order_id)
    assert (order["subaccount_number"], order["yes_price_dollars"]) == (1, "0.3100")

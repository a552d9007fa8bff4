"""`kalshi order amend`, `decrease` and `cancel` of an order resting on another subaccount than
the primary, in-process against the simulator. The exchange reads a write naming no subaccount
as subaccount 0's (openapi.yaml 3.31.0), and names an order's subaccount to direct members only
(the simulator always names it; a wire that drops it stands for the others). The three commands
take one rule for the subaccount an order is on: the one the order names, else the one the
state file placed it on; `--subaccount` that says otherwise is refused before anything is sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, connect, make_markets, state_path
from tests.services.test_restricted_key_imports import _NamingNoSubaccount
from tests.wire import order_body

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


def _placed_elsewhere_on_subaccount_1(prime: SimHarness, kalshi: Kalshi, ticker: str) -> str:
    """A bid of 2 at 0.30 another program placed on subaccount 1 (funded here): its id. The
    state file does not hold it."""
    _fund_subaccount_1(kalshi)
    return str(
        prime.placed(prime.account, order_body(ticker, price="0.30", count="2.00", subaccount=1))[
            "order_id"
        ]
    )


def test_an_order_placed_elsewhere_is_amended_on_the_subaccount_it_names(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    """An order the state file does not hold, placed on subaccount 1 by another program: it
    names its subaccount (to a direct member), and the amend without `--subaccount` goes
    there."""
    (ticker,) = make_markets(prime, 1)
    order_id = _placed_elsewhere_on_subaccount_1(prime, kalshi, ticker)

    amended = kalshi("order", "amend", order_id, "--price", "0.31", "--json")
    assert amended.exit_code == 0, amended.output
    order = _the_order(prime, order_id)
    assert (order["subaccount_number"], order["yes_price_dollars"]) == (1, "0.3100")


# each change, and what the order of 2 at 0.30 shows after it (its status, price, and what
# rests of an order still resting)
Change = tuple[tuple[str, ...], tuple[str, ...]]
_EACH_CHANGE: list[Change] = [
    (("amend", "--price", "0.31"), ("resting", "0.3100", "2.00")),
    (("decrease", "--by", "1"), ("resting", "0.3000", "1.00")),
    (("cancel",), ("canceled", "0.3000")),
]
_CHANGE_IDS = ["amend", "decrease", "cancel"]


def _shows(harness: SimHarness, order_id: str) -> tuple[Any, ...]:
    """The order's subaccount, status, price, and what rests while it rests."""
    order = _the_order(harness, order_id)
    shown = (order["subaccount_number"], order["status"], order["yes_price_dollars"])
    return (*shown, order["remaining_count_fp"]) if order["status"] == "resting" else shown


@pytest.mark.parametrize("change", _EACH_CHANGE, ids=_CHANGE_IDS)
def test_an_order_nothing_here_places_goes_to_the_subaccount_given(
    prime: SimHarness, kalshi: Kalshi, change: Change
) -> None:
    """An order the state file does not hold, resting on subaccount 1, read through a wire
    that names no subaccount: only `--subaccount 1` says where it rests, and the amend, the
    decrease and the cancel go there. Taken as the order's own subaccount, the missing one
    refused the flag ("is on subaccount None"); left out, the write went to the primary and
    was refused as not found."""
    (ticker,) = make_markets(prime, 1)
    order_id = _placed_elsewhere_on_subaccount_1(prime, kalshi, ticker)

    (verb, *terms), after = change
    changed = kalshi(
        "order", verb, order_id, *terms, "--subaccount", "1", "--json", client=_unnamed(prime)
    )
    assert changed.exit_code == 0, changed.output
    assert _shows(prime, order_id) == (1, *after)


@pytest.mark.parametrize("change", _EACH_CHANGE, ids=_CHANGE_IDS)
@pytest.mark.parametrize("rests_on", [1, 0], ids=["on-1-row-0", "on-0-row-1"])
def test_a_state_file_row_on_another_subaccount_gives_way_to_the_one_the_exchange_names(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path, change: Change, rests_on: int
) -> None:
    """A state file can place an order where the exchange does not: one written before it
    kept subaccounts books every order on the primary (docs/state-file.md,
    `0003_order_fill_subaccount`) until `kalshi reconcile` corrects it. The exchange names the
    order's subaccount, and the amend, the decrease and the cancel without `--subaccount` go
    there, not where the row says: the amend and the decrease read the order first, and the
    cancel, sent where the row says and refused as not found, is sent again where the read
    names."""
    (ticker,) = make_markets(prime, 1)
    if rests_on == 1:
        order_id = _on_subaccount_1(kalshi, ticker)
    else:
        _fund_subaccount_1(kalshi)
        placed = kalshi(
            "order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "2",
            "--price", "0.30", "--json",
        )  # fmt: skip
        assert placed.exit_code == 0, placed.output
        order_id = json.loads(placed.stdout)["order"]["order_id"]
    row_says = 1 - rests_on
    with Store.open(state_path(tmp_path)) as store:
        store._conn.execute(
            "UPDATE orders SET subaccount = ? WHERE order_id = ?", (row_says, order_id)
        )
        assert store.orders.intent_by_order_id(order_id).subaccount == row_says  # type: ignore[union-attr]

    (verb, *terms), after = change
    changed = kalshi("order", verb, order_id, *terms, "--json")
    assert changed.exit_code == 0, changed.output
    assert _shows(prime, order_id) == (rests_on, *after)


def test_an_amend_without_subaccount_meets_the_position_limit_where_the_order_rests(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """`risk.max_position_per_market` is 5; the order of 2 rests on subaccount 1. An amend to 6
    without `--subaccount` would rest 6 there, as `kalshi order place --count 4 --subaccount 1`
    beside it would, and is refused as that order is. Counted over subaccount 0's holdings
    (none: the client's), it went out and rested 6."""
    (ticker,) = make_markets(prime, 1)
    (tmp_path / "home").mkdir(parents=True, exist_ok=True)
    (tmp_path / "home" / "config.yaml").write_text("risk:\n  max_position_per_market: 5\n")
    order_id = _on_subaccount_1(kalshi, ticker)
    before = _order_writes(prime)

    refused = kalshi("order", "amend", order_id, "--count", "6")

    assert refused.exit_code == ExitCode.REJECTED, refused.output
    assert "risk.max_position_per_market" in refused.stderr, refused.stderr
    assert _order_writes(prime) == before
    assert _shows(prime, order_id) == (1, "resting", "0.3000", "2.00")

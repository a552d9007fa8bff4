"""An order placed elsewhere (on the website, by another program with the same key) reads in
the side it positions the account for, the spec's `outcome_side` (`ask`: NO), bought, by the
one rule of fills and orders (`vocabulary.documents.traders_terms`): in `kalshi order list`
before and after `kalshi reconcile` records it, in the row it is recorded as, in its fills, and
in the price `kalshi order amend --price` takes.
A NO order is never recorded as YES, whose fills would read `sell yes`."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, another_accounts_order, make_markets, state_path


def _listed_terms(kalshi: Kalshi) -> list[tuple[str, str, str]]:
    listed = kalshi("order", "list", "--status", "resting", "--json")
    assert listed.exit_code == 0, listed.output
    return [(o["side"], o["action"], o["price"]) for o in json.loads(listed.stdout)["orders"]]


def test_a_no_order_placed_elsewhere_is_recorded_and_filled_as_no(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    """Before: `reconcile` recorded it as YES (`sell yes` at 0.60), so its fill read `sell yes`
    while a fill of an order it did not know read `buy no`."""
    (ticker,) = make_markets(prime, 1)
    # buy NO 3 at 0.40 from another program: the book's ask at YES 0.60, not through kalshi-cli
    placed = client.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.60"), D(3)))
    assert _listed_terms(kalshi) == [("no", "buy", "0.4000")]

    assert kalshi("reconcile", "--json").exit_code == 0
    with Store.open(state_path(tmp_path)) as store:
        recorded = store.orders.intent_by_order_id(placed.order_id)
    assert recorded is not None and recorded.strategy == "external"
    assert (recorded.side, recorded.action, recorded.book_side) == (
        Side.NO,
        Action.BUY,
        BookSide.ASK,
    )
    assert _listed_terms(kalshi) == [("no", "buy", "0.4000")]

    another_accounts_order(prime, ticker, BookSide.BID, "0.60", 3)  # takes it
    assert kalshi("reconcile", "--json").exit_code == 0
    listed = kalshi("fills", "--json")
    assert listed.exit_code == 0, listed.output
    (fill,) = json.loads(listed.stdout)["fills"]
    assert (fill["order_id"], fill["side"], fill["action"], fill["price"]) == (
        placed.order_id,
        "no",
        "buy",
        "0.4000",
    )
    assert fill["strategy"] == "external"


def test_an_amend_of_an_order_placed_elsewhere_takes_the_price_of_the_side_it_lists(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi
) -> None:
    """`order list` reads a NO order placed elsewhere as `buy no` at 0.40; `order amend
    --price 0.38` moves it to NO 0.38 (YES 0.62), the side it lists, never to YES 0.38."""
    (ticker,) = make_markets(prime, 1)
    placed = client.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.60"), D(3)))
    amended = kalshi("order", "amend", placed.order_id, "--price", "0.38", "--json")
    assert amended.exit_code == 0, amended.output
    order = json.loads(amended.stdout)["order"]
    assert (order["side"], order["price"], order["yes_price"]) == ("no", "0.3800", "0.6200")
    assert client.orders.get_order(placed.order_id).yes_price == D("0.62")

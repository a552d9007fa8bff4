"""An order a subaccount-restricted key placed outside kalshi-cli, imported into the state file
(orders.py `_apply_order`, reconcile.py `import_order`): on the key's subaccount, the one the
exchange put it on, not 0.

An order may name no subaccount (`Order.subaccount_number` is optional, nullable and
`x-omitempty` in openapi.yaml 3.31.0; the simulator always names it, so the wire here drops
it, as the spec allows): the state file then books it on the subaccount its client acts on,
and with no `--subaccount` that is the key's own (`own_subaccount`), asked only when an order is
imported."""

from __future__ import annotations

import json
import time
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.config import load_settings
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.services.reconcile import catch_up
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.checks.test_check_cli import buy
from tests.checks.test_subaccount_checks import sim  # noqa: F401  (fixture)
from tests.conftest import SimHarness
from tests.prime_tier import another_accounts_order
from tests.services.test_restricted_key_exposure import (
    _restricted_client,
    _restricted_holding,
    _run,
)


def test_a_restricted_keys_order_placed_elsewhere_is_imported_on_its_subaccount(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Before: `kalshi order decrease` imported it on subaccount 0, so 1's book in the state
    file (what a loop on 1 starts from) lacked an order resting there."""
    env, order_id = _placed_elsewhere(sim, tmp_path, "KXRKI-1")
    result = _run(env, "order", "decrease", order_id, "--by", "1", "--json")
    assert result.exit_code == 0, result.stdout + str(result.stderr)
    with Store.open(load_settings(environ=env).state) as store:
        intent = store.orders.intent_by_order_id(order_id)
        on_1 = [i.order_id for i in store.orders.open_orders(subaccount=1)]
    assert intent is not None and intent.strategy == "external"
    assert (intent.subaccount, intent.remaining) == (1, D(4))
    assert on_1 == [order_id]


class _NamingNoSubaccount(httpx.BaseTransport):
    """The real simulator, except that orders and fills come back without `subaccount_number`
    (the spec lets the exchange leave it out)."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if not request.url.path.endswith(("/orders", "/fills")) and "/orders/" not in (
            request.url.path
        ):
            return response
        body = json.loads(response.read())
        listed = [*(body.get("orders") or []), *(body.get("fills") or [])]
        for row in [body.get("order"), *listed]:
            if isinstance(row, dict):
                row.pop("subaccount_number", None)
        return httpx.Response(response.status_code, json=body)

    def close(self) -> None:
        self._inner.close()


def _unnamed_client(env: dict[str, str]) -> KalshiClient:
    key, _ = load_private_key(path=Path(env["KALSHI_PRIVATE_KEY_PATH"]))
    return KalshiClient(
        api_base=env["KALSHI_API_BASE"],
        key_id=env["KALSHI_API_KEY_ID"],
        private_key=key,
        transport=_NamingNoSubaccount(),
    )


def _placed_elsewhere(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
    ticker: str,
) -> tuple[dict[str, str], str]:
    """A key restricted to subaccount 1 (its environment) and a bid of 5 it placed on 1 from
    another program (its order id)."""
    env = _restricted_holding(sim, tmp_path, ticker, 1)
    with _restricted_client(env) as elsewhere:  # another program with the same key
        placed = elsewhere.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.10"), D(5)))
    return env, placed.order_id


def _imported(store: Store, order_id: str) -> tuple[Any, ...]:
    intent = store.orders.intent_by_order_id(order_id)
    assert intent is not None
    return intent.strategy, intent.subaccount


def test_an_order_naming_no_subaccount_is_imported_on_the_keys_own(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Before: imported on 0 (`client.subaccount`, None), outside the book of subaccount 1
    where it rests, and so outside the book a loop on 1 starts from."""
    env, order_id = _placed_elsewhere(sim, tmp_path, "KXRKI-2")
    with _unnamed_client(env) as client, Store.open(tmp_path / "state.db") as store:
        decreased = OrderService(client, store).cancels.decrease(order_id, by=D(1)).order
        assert decreased.subaccount is None  # the wire named none
        assert _imported(store, order_id) == ("external", 1)
        assert [i.order_id for i in store.orders.open_orders(subaccount=1)] == [order_id]
        reads = client.stats.snapshot()
    assert sum(reads["GET api_keys"].outcomes.values()) == 1


def test_a_known_order_is_applied_without_asking_the_keys_restriction(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The restriction is asked only for an order to import: applying the answer to one the
    state file knows sends no GET /api_keys."""
    env, order_id = _placed_elsewhere(sim, tmp_path, "KXRKI-3")
    with Store.open(tmp_path / "state.db") as store:
        with _unnamed_client(env) as first:
            OrderService(first, store).cancels.decrease(order_id, by=D(1))
        with _unnamed_client(env) as second:
            OrderService(second, store).cancels.decrease(order_id, by=D(1))
            reads = second.stats.snapshot()
        intent = store.orders.intent_by_order_id(order_id)
    assert intent is not None and (intent.subaccount, intent.remaining) == (1, D(3))
    assert "GET api_keys" not in reads


def test_reconcile_books_a_restricted_keys_unnamed_orders_and_fills_on_its_subaccount(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    """`kalshi reconcile` with such a key: the resting bid it did not place and the fill of 1
    it never saw are 1's. Before: both booked on 0, so 1's book in the state file missed a
    position the exchange shows on 1 (a loop on 1 then refused to start: positions differ)."""
    env, order_id = _placed_elsewhere(sim, tmp_path, "KXRKI-4")  # 1 held on subaccount 1
    with _unnamed_client(env) as client, Store.open(tmp_path / "state.db") as store:
        OrderService(client, store).reconcile()
        imported = _imported(store, order_id)
        fills = [(f.subaccount, f.count) for f in store.fills.iter_fills(ticker="KXRKI-4")]
        reads = client.stats.snapshot()
    assert imported == ("external", 1)
    assert fills == [(1, D(1))]
    # the key's subaccount is the one the account's listing names: each is listed on its own,
    # so nothing asks the key's restriction
    assert "GET api_keys" not in reads


def _naming_none(sim: SimHarness, subaccount: int | None) -> KalshiClient:  # noqa: F811
    """The account's own key, on `subaccount`, through a wire that names no subaccount."""
    key, _ = load_private_key(path=Path(sim.account.private_key_path))
    made = KalshiClient(
        api_base=sim.account.api_base,
        key_id=sim.account.key_id,
        private_key=key,
        transport=_NamingNoSubaccount(),
    )
    made.subaccount = subaccount
    return made


def test_a_fill_naming_no_subaccount_is_the_subaccounts_it_was_listed_for(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    """2 YES bought on subaccount 1 by a program this state file does not know, the fill
    listed naming no subaccount. `catch_up` (what `kalshi positions` runs first) lists each
    subaccount's fills on its own, and `kalshi reconcile --subaccount 1` lists 1's: either way
    the fill is 1's. Booked on 0, 1's book would miss a position the exchange shows there."""
    sim.create_market("KXRKI-5")
    buy(sim, "KXRKI-5", 2, subaccount=1)

    with _naming_none(sim, None) as every, Store.open(tmp_path / "caught-up.db") as store:
        catch_up(every, store, now=time.time())
        caught_up = [(f.subaccount, f.count) for f in store.fills.iter_fills(ticker="KXRKI-5")]
    with _naming_none(sim, 1) as on_1, Store.open(tmp_path / "reconciled.db") as store:
        OrderService(on_1, store).reconcile()
        reconciled = [(f.subaccount, f.count) for f in store.fills.iter_fills(ticker="KXRKI-5")]
    assert caught_up == reconciled == [(1, D(2))]


def test_a_fill_naming_no_subaccount_of_an_order_placed_here_is_its_orders_subaccounts(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A bid of 2 this state file placed on subaccount 1, filled; `kalshi reconcile` without
    `--subaccount` lists every subaccount's fills, this one naming none: it is its order's."""
    sim.create_market("KXRKI-6")
    buy(sim, "KXRKI-6", 1, subaccount=1)  # subaccount 1 made and funded
    with Store.open(tmp_path / "state.db") as store:
        with _naming_none(sim, 1) as on_1:
            service = OrderService(on_1, store)
            request = OrderRequest("KXRKI-6", Side.YES, Action.BUY, D(2), D("0.40"))
            placed = service.place(service.prepare(request))
        another_accounts_order(sim, "KXRKI-6", BookSide.ASK, "0.40", 2)
        with _naming_none(sim, None) as every:
            OrderService(every, store).reconcile()
        fills = store.fills.iter_fills(ticker="KXRKI-6")
        ours = [(f.subaccount, f.count) for f in fills if f.order_id == placed.order_id]
    assert ours == [(1, D(2))]

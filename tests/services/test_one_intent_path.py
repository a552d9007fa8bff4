"""One path creates an order's intent in the state file (`OrderService.record_intent`), and the
subaccount it books is decided there once: a batch under a key restricted to subaccount 1
books its orders on 1, where the exchange holds them, as `order place` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.config import load_settings
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from tests.checks.test_subaccount_checks import sim  # noqa: F401  (fixture)
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, make_markets, state_path
from tests.runner.fakes import make_rig
from tests.services.test_restricted_key_exposure import (
    _restricted_client,
    _restricted_holding,
    _run,
)


def test_a_batch_under_a_restricted_key_books_its_orders_on_the_keys_subaccount(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
) -> None:
    env = _restricted_holding(sim, tmp_path, "KXOIP-1", 1)
    rows = tmp_path / "orders.csv"
    rows.write_text(
        "ticker,side,action,count,price\nKXOIP-1,yes,buy,2,0.10\nKXOIP-1,yes,buy,3,0.11\n"
    )
    result = _run(env, "order", "batch", "--file", str(rows), "--json")
    assert result.exit_code == 0, result.stdout + str(result.stderr)
    with _restricted_client(env) as client:
        held = {o.order_id: o.subaccount for o in client.orders.iter_orders(status="resting")}
    assert list(held.values()) == [1, 1]
    with Store.open(load_settings(environ=env).state) as store:
        booked = {i.order_id: i.subaccount for i in store.orders.intents()}
    assert booked == held


class _Spy:
    """`OrderService.record_intent`, wrapped: each client order id that went through it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[str] = []
        real = OrderService.record_intent

        def spied(service: OrderService, create: CreateOrder, **kwargs: Any) -> None:
            self.seen.append(create.client_order_id)
            real(service, create, **kwargs)

        monkeypatch.setattr(OrderService, "record_intent", spied)


def test_place_batch_and_the_loop_create_their_intents_through_one_path(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every intent the state file holds after `order place`, `order batch` and a trade loop's
    quotes went through `OrderService.record_intent`: none was written by a copy of it."""
    spy = _Spy(monkeypatch)
    (ticker,) = make_markets(prime, 1)
    placed = kalshi(
        "order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "1",
        "--price", "0.10", "--yes", "--json",
    )  # fmt: skip
    assert placed.exit_code == 0, placed.output
    rows = tmp_path / "orders.csv"
    rows.write_text(f"ticker,side,action,count,price\n{ticker},yes,buy,2,0.11\n")
    batch = kalshi("order", "batch", "--file", str(rows), "--json")
    assert batch.exit_code == 0, batch.output
    with Store.open(state_path(tmp_path)) as store:
        by_cli = [i.client_order_id for i in store.orders.intents()]
    assert len(by_cli) == 2 and sorted(spy.seen) == sorted(by_cli)

    rig = make_rig(tmp_path / "loop.db", strategy="market-maker")
    rig.step(0.1)
    quoted = [r.client_order_id for r in rig.client.requests]
    assert quoted, "the market maker quoted nothing"
    in_loop_file = [i.client_order_id for i in rig.store.orders.intents()]
    assert sorted(in_loop_file) == sorted(quoted)
    assert set(quoted) <= set(spy.seen)

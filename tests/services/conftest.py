"""Fixtures of the service tests, on the prime-tier simulator (tests/prime_tier.py): one market
listed (`ticker`), and the order service of the `prime` account's client and state file
(`service`); a manual clock and a state file reading its times from it (`clocked_store`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from tests.conftest import SimHarness
from tests.prime_tier import make_markets


@pytest.fixture
def ticker(prime: SimHarness) -> str:
    """The one market listed on the `prime` simulator."""
    (only,) = make_markets(prime, 1)
    return only


@pytest.fixture
def service(client: KalshiClient, store: Store) -> OrderService:
    """The order service of the `prime` account's client and state file, with no limits."""
    return OrderService(client, store)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def clocked_store(tmp_path: Path, clock: ManualClock) -> Iterator[Store]:
    """The state file, its times read from `clock`."""
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        yield store

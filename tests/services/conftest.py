"""Fixtures of the service tests, on the prime-tier simulator (tests/prime_tier.py): one market
listed (`ticker`), and the order service of the `prime` account's client and state file
(`service`)."""

from __future__ import annotations

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
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

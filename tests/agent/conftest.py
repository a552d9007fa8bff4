"""The assistant's tests run on the prime tier: the simulator's (`sim`) and, through `environ`,
the command line's client's (`KALSHI_TIER`), so a tool's reads are not paced by the basic tier's
budget. What these tests prove is what the tools decide, never the pacing: that the client keeps
to its tier's budget is tests/client/test_client_ratelimit.py's and
tests/runner/lifecycle/test_trade_paces_by_tier.py's to prove."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SimHarness, tier_simulator
from tests.prime_tier import TIER


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimHarness]:
    yield from tier_simulator(tmp_path, TIER)

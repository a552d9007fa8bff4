"""Fixtures of the check tests that post alerts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.checks.test_check_alerts_e2e import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback, stopped when the test ends."""
    r = Receiver()
    yield r
    r.stop()

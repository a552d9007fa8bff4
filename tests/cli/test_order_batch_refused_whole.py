"""A batch request the exchange refuses whole before acting on it (a 4xx answer to the whole
request, not to its items) placed nothing: its rows are reported not sent, with the refusal's
own exit code, and left out of the state file, so running the file again sends them, each once.

The refusal is the exchange's own: the simulator runs the basic tier, which takes at most 10
orders a batch, while the client is told `prime`, a trader's slip that sends larger batches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests import prime_tier
from tests.cli.test_order_batch import batch_requests, creates, intents, ladder
from tests.conftest import SimHarness
from tests.openapi_check import RECORDER
from tests.prime_tier import Kalshi, make_markets


@pytest.fixture
def prime(tmp_path: Path) -> Iterator[SimHarness]:
    """The `prime` simulator (tests/prime_tier.py) on the basic tier: 100 write tokens, 10 an
    order."""
    harness = SimHarness(
        start_simulator(
            tmp_path / "sim", scenario="empty", tier="basic", response_hook=RECORDER.hook
        )
    )
    prime_tier._ACCOUNT[:] = [harness.account]
    yield harness
    prime_tier._ACCOUNT.clear()
    harness.close()


def test_rows_of_a_batch_refused_whole_are_sent_by_the_next_run(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    tickers = make_markets(prime, 2)
    path = tmp_path / "orders.csv"
    path.write_text(ladder(tickers, 12))
    # told prime, the client sends the 12 rows as one request
    result = kalshi("order", "batch", "--file", str(path), "--json", KALSHI_TIER="prime")
    assert result.exit_code == ExitCode.REJECTED, (result.exit_code, result.output)
    rows = json.loads(result.stdout)["batch"]["rows"]
    assert [r["status"] for r in rows] == ["not_sent"] * 12
    assert "run the file again" in rows[0]["note"] and "HTTP 400" in rows[0]["note"]
    assert creates(prime) == 0
    assert intents(tmp_path) == []  # nothing recorded that a rerun would skip

    # the tier put right, the same file: two requests on the basic tier, 9 rows then 3
    again = kalshi("order", "batch", "--file", str(path), "--json", KALSHI_TIER="basic")
    assert again.exit_code == 0, again.output
    rows = json.loads(again.stdout)["batch"]["rows"]
    assert [r["status"] for r in rows] == ["resting"] * 12
    assert (creates(prime), batch_requests(prime)) == (12, 3)  # the refused request, then two
    assert intents(tmp_path) == ["resting"] * 12

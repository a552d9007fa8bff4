"""A crypto recording as a user makes and judges one: `kalshi record --series` on the simulator's
live crypto scenario keeps the books and the index the markets' rules name, and `kalshi backtest
--strategy crypto` over it trades from that index (its orders priced by the built-in model)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshi_cli.data.replay import LocalNote, iter_records
from kalshi_cli.feed.messages import type_of
from tests.cli.test_cli_data import environ, run
from tests.conftest import SimHarness, _start


def _clear_of_a_close(quarter_s: int = 900, margin_s: float = 15.0) -> None:
    """The 15-minute markets close on the quarter hour, on the machine's clock: a recording
    that spans a close holds markets with seconds left, which no model trades. Start after it."""
    left = quarter_s - time.time() % quarter_s
    if left < margin_s:
        time.sleep(left + 2.0)


@pytest.fixture
def crypto_sim(tmp_path: Path) -> Iterator[SimHarness]:
    _clear_of_a_close()
    harness = _start(tmp_path / "sim", "crypto")
    yield harness
    harness.close()


@pytest.mark.slow
def test_record_then_backtest_a_crypto_series(crypto_sim: SimHarness, tmp_path: Path) -> None:
    env = environ(crypto_sim, tmp_path)
    out = tmp_path / "rec"
    recorded = run(["record", "--series", "KXBTC15M", "--out", str(out), "--duration", "8"], env)
    assert recorded.returncode == 0, recorded.stderr
    assert "and the indices BRTI to" in recorded.stderr
    kinds = Counter(
        type_of(obj) for _, obj, _ in iter_records(out, Counter()) if not isinstance(obj, LocalNote)
    )
    assert kinds["cfbenchmarks_value"] >= 5 and kinds["cfbenchmarks_value_5hz"] >= 25
    assert kinds["orderbook_snapshot"] >= 5

    tested = run(
        [
            "backtest",
            "--strategy",
            "crypto",
            "--data",
            str(out),
            # every strike near an even chance: the model disagrees with the outer quotes
            "--param",
            "min_sigma=0.001",
            "--param",
            "min_returns=5",
            "--json",
        ],
        env,
    )
    assert tested.returncode == 0, tested.stderr
    report = json.loads(tested.stdout)
    assert report["totals"]["orders"] > 0 and report["totals"]["fills"] > 0, (
        report["audit"],
        report["data"],
    )
    assert report["data"]["skipped"].get("unknown_type", 0) == 0
    assert report["data"]["frames"]["cfbenchmarks_value"] == kinds["cfbenchmarks_value"]

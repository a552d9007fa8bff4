"""A comma-separated list of markets (`--tickers A,B`) reads the same in every command that takes
one: each name trimmed, so `--tickers "A, B"` names A and B. `kalshi markets`, `trade`, `backtest`
and `data download` trimmed already; `record` and `watch` asked the exchange for " B" and exited
6 (unknown ticker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from kalshi_cli.data.manifest import read_manifest
from tests.feed.helpers import SimBooks

from .test_cli_data import environ, run

if TYPE_CHECKING:
    from tests.conftest import SimHarness


def test_record_takes_a_list_with_spaces_after_its_commas(sim: SimHarness, tmp_path: Path) -> None:
    books = SimBooks(sim)
    first, second = books.market("TRIM-A"), books.market("TRIM-B")
    out = tmp_path / "rec"
    done = run(
        ["record", "--tickers", f"{first}, {second}", "--out", str(out), "--duration", "1"],
        environ(sim, tmp_path),
    )
    assert done.returncode == 0, done.stderr
    manifest = read_manifest(out)
    assert manifest is not None
    assert manifest["tickers"] == [first, second]


def test_watch_takes_a_list_with_spaces_after_its_commas(sim: SimHarness, tmp_path: Path) -> None:
    books = SimBooks(sim)
    first, second = books.market("TRIM-C"), books.market("TRIM-D")
    done = run(
        ["watch", "orderbook", "--tickers", f" {first} ,{second} ", "--max-events", "2"],
        environ(sim, tmp_path),
    )
    assert done.returncode == 0, done.stderr
    snapshots = [json.loads(line)["msg"]["market_ticker"] for line in done.stdout.splitlines()]
    assert sorted(snapshots) == [first, second]

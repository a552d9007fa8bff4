"""A clean recording, stopped by its `--duration`, has no gap: the recorder's own stop is the
end of its coverage, not a disconnect of every market (each used to report "1 gaps")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from kalshi_cli.data.manifest import read_manifest
from tests.feed.helpers import SimBooks

from .test_cli_data import environ, run

if TYPE_CHECKING:
    from tests.conftest import SimHarness


def test_a_clean_recording_reports_no_gap(sim: SimHarness, tmp_path: Path) -> None:
    books = SimBooks(sim)
    tickers = [books.market(f"CLEAN-{i}") for i in range(2)]
    for ticker in tickers:
        books.rest_orders(ticker, 3)
    out = tmp_path / "rec"
    env = environ(sim, tmp_path)
    done = run(
        ["record", "--tickers", ",".join(tickers), "--out", str(out), "--duration", "1"], env
    )
    assert done.returncode == 0, done.stderr
    assert "; 0 gaps," in done.stderr, done.stderr
    manifest = read_manifest(out)
    assert manifest is not None and manifest["status"] == "complete"
    assert manifest["gaps"] == []
    for ticker in tickers:
        market = manifest["markets"][ticker]
        assert market["gaps"] == [], market
        ((start, end),) = market["ranges"]
        assert start < end <= manifest["ended_ns"]
    info = run(["data", "info", str(out), "--json"], env)
    described = json.loads(info.stdout)
    assert [m["gaps"] for m in described["market_list"]] == [[], []]

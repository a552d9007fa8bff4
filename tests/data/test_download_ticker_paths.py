"""`kalshi data download` names its staged files after the exchange's tickers: a ticker that is
a path (absolute, or climbing out with `../`) must not write a file outside `--out`. The
simulator's admin route creates markets with such tickers; the download reads them back from
`GET /markets` as it would read any exchange's answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshi_cli.sim.server.embed import start_simulator
from tests.conftest import SimHarness
from tests.prime_tier import TIER

from .test_download import kalshi

EVENT = "KXPATH-26JAN01"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimHarness]:
    harness = SimHarness(start_simulator(tmp_path / "sim", scenario="empty", tier=TIER))
    yield harness
    harness.close()


def every_file(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("kind", ["markets", "trades"])
def test_a_ticker_that_is_a_path_writes_nothing_outside_out(
    sim: SimHarness, tmp_path: Path, kind: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "work" / "a" / "b" / "set"
    tickers = [
        f"{EVENT}-PLAIN",
        str(outside / "ABSOLUTE"),  # an absolute path
        "../../../../../../outside/CLIMB",  # from DIR/.download/KIND up to tmp_path/outside
        "..",
    ]
    for ticker in tickers:
        sim.create_market(ticker, event_ticker=EVENT, series_ticker="KXPATH")
    before = every_file(tmp_path) - every_file(out)
    result = kalshi(
        sim, tmp_path / "home", "data", "download", kind, "--event", EVENT, "--out", str(out),
        "--json",
    )  # fmt: skip
    written = every_file(tmp_path) - every_file(out) - before
    assert {p for p in written if "home" not in p.relative_to(tmp_path).parts} == set(), (
        result.output
    )
    assert list(outside.iterdir()) == []
    if kind == "markets":
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["markets"] == len(tickers)

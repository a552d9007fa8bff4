"""Sweeps (kalshi_cli/backtest/sweep.py): the grid, the cache keyed by data and parameters, the
ranking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.backtest import BacktestSpec
from kalshi_cli.backtest.sweep import grid, parse_params, rank, run_sweep
from kalshi_cli.vocabulary.errors import UsageError


def test_the_grid_is_every_combination_over_the_base_parameters() -> None:
    base = BacktestSpec(data="d", strategy="spike", params=(("max_hold_s", "120"),))
    axes = parse_params(["window_s=30,60,90", "spike_share=0.05,0.1"])
    specs = grid(base, axes)
    assert len(specs) == 6
    assert {dict(s.params)["max_hold_s"] for s in specs} == {"120"}
    assert {(dict(s.params)["window_s"], dict(s.params)["spike_share"]) for s in specs} == {
        (w, s) for w in ("30", "60", "90") for s in ("0.05", "0.1")
    }


@pytest.mark.parametrize("bad", ["window_s", "=3", "window_s="])
def test_a_malformed_param_is_refused(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_params([bad])


def _fake_data(root: Path) -> Path:
    (root / "frames").mkdir(parents=True)
    (root / "manifest.json").write_text("{}")
    (root / "frames" / "20260101T00Z.000.ndjson.gz").write_bytes(b"x")
    return root


def test_results_are_cached_by_data_and_parameters(tmp_path: Path) -> None:
    data = _fake_data(tmp_path / "data")
    calls: list[BacktestSpec] = []

    def run(spec: BacktestSpec) -> dict[str, Any]:
        calls.append(spec)
        return {"totals": {"net": dict(spec.params)["x"]}}

    specs = grid(BacktestSpec(data=str(data), strategy="spike"), {"x": ["1", "2"]})
    cache = tmp_path / "cache"
    first = run_sweep(specs, jobs=1, cache_dir=cache, run=run)
    assert len(calls) == 2 and not any(cached for _, _, cached in first)
    again = run_sweep(specs, jobs=1, cache_dir=cache, run=run)
    assert len(calls) == 2 and all(cached for _, _, cached in again)
    assert [r for _, r, _ in again] == [r for _, r, _ in first]
    # the data set changed: a new key
    (data / "manifest.json").write_text('{"status": "complete"}')
    run_sweep(specs, jobs=1, cache_dir=cache, run=run)
    assert len(calls) == 4


def test_ranking_puts_the_best_first_and_the_undefined_last() -> None:
    def result(net: str | None, dd: str) -> tuple[BacktestSpec, dict[str, Any], bool]:
        spec = BacktestSpec(data="d", strategy="spike", params=(("n", str(net)),))
        return spec, {"totals": {"net": net, "max_drawdown": dd}}, False

    runs = [result("1", "5"), result(None, "0"), result("3", "9"), result("-2", "1")]
    assert [r[1]["totals"]["net"] for r in rank(runs, "net")] == ["3", "1", "-2", None]
    assert [r[1]["totals"]["max_drawdown"] for r in rank(runs, "max_drawdown")] == [
        "0", "1", "5", "9",
    ]  # fmt: skip
    with pytest.raises(UsageError):
        rank(runs, "luck")

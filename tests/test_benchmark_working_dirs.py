"""The trade-loop benchmarks (`bench_loop_memory.py`, `bench_loop_lag.py`) remove their working
directory (the scenario, the simulator's data, the state file, the trade log) when they end,
however they end, unless `--keep` is asked: then they print where it is. Each runs the cheapest
way there is, for no time at all, which ends on its "run longer" error: the path on which a
directory left behind was the likeliest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
# each script, its working directory's prefix, and the arguments of a run of no time
RUNS = {
    "bench_loop_memory.py": ("bench-mem-", ["--minutes", "0", "--markets", "2"]),
    "bench_loop_lag.py": ("bench-lag-", ["--seconds", "0", "--warmup", "0", "--markets", "2"]),
}


def _run(script: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    tmp.mkdir()
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *RUNS[script][1], *extra],
        env={**os.environ, "TMPDIR": str(tmp)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("script", sorted(RUNS))
def test_a_loop_benchmark_leaves_no_working_directory(script: str, tmp_path: Path) -> None:
    ended = _run(script, tmp_path / "tmp")
    assert "run longer than" in ended.stderr, ended.stderr
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("script", sorted(RUNS))
def test_a_loop_benchmark_keeps_its_working_directory_when_asked(
    script: str, tmp_path: Path
) -> None:
    ended = _run(script, tmp_path / "tmp", "--keep")
    assert "run longer than" in ended.stderr, ended.stderr
    (kept,) = (tmp_path / "tmp").iterdir()
    assert kept.name.startswith(RUNS[script][0])
    assert (kept / "trade.log").exists() and (kept / "sim" / "exchange.journal").exists()
    assert f"working directory kept: {kept}" in ended.stdout

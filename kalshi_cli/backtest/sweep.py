"""Parameter sweeps: the grid of `--param k=v1,v2` values, one process per run, ranked, cached.

`grid` turns the parameters into one `BacktestSpec` per combination; `run_sweep` maps the pure
top-level `run_backtest` over them, each in a fresh interpreter (`python -m
kalshi_cli.backtest.worker`, one at a time per core by default: each run is single-threaded
Python), and `rank` orders the reports by a metric of their totals.

Cache: each report is kept as JSON under `cache_dir`, named by the SHA-256 of the data set's
fingerprint and the spec (which holds the strategy's source fingerprint: a file's hash, a
distribution's version, the package's version for a built-in, so a changed strategy is run
again). The fingerprint is the manifest and `reference.json` (their bytes)
and each segment's name, size and modification time: a data set that grows (a recording still
running) or is replaced gets a new key, and reading it costs no pass over the frames. A run
that fails is not cached.

On a cluster the same map runs on Ray (`ray.get([ray.remote(run_backtest).remote(s) for s in
specs])`) or Dask (`client.gather(client.map(run_backtest, specs))`): `run_backtest` needs
only its spec, and the data set's path must be readable where it runs (a shared file system,
or the data set copied to each node first). docs/backtesting.md, "Sweeps".
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from kalshi_cli.backtest.engine import BacktestSpec
from kalshi_cli.backtest.runs import run_backtest
from kalshi_cli.data.segments import segment_paths
from kalshi_cli.errors import KalshiError, UsageError

# metric -> (path in the report's totals, higher is better)
METRICS: dict[str, tuple[str, bool]] = {
    "net": ("net", True),
    "sharpe": ("sharpe", True),
    "sortino": ("sortino", True),
    "profit_factor": ("profit_factor", True),
    "win_rate": ("win_rate", True),
    "expectancy": ("expectancy_per_contract", True),
    "max_drawdown": ("max_drawdown", False),
    "fees": ("fees", False),
}


def parse_params(raw: Iterable[str]) -> dict[str, list[str]]:
    """`["window_s=30,60", "spike_share=0.05"]` -> `{"window_s": ["30", "60"], ...}`."""
    axes: dict[str, list[str]] = {}
    for item in raw:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--param {item!r}: expected NAME=VALUE or NAME=V1,V2,...")
        if key in axes:
            raise UsageError(f"--param {key} given twice", hint="list the values: NAME=V1,V2")
        choices = [v.strip() for v in values.split(",") if v.strip()]
        if not choices:
            raise UsageError(f"--param {key}: no value")
        for choice in choices:
            _finite_if_a_number(key, choice)
        axes[key] = choices
    return axes


def _finite_if_a_number(key: str, value: str) -> None:
    """A value that reads as a number must be a finite one: a NaN passes every comparison of a
    parameter's range, and an infinite window or share is no setting at all."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        return  # not a number: the strategy's own parameters say what they take
    if not number.is_finite():
        raise UsageError(f"--param {key}={value}: not a finite number")


def grid(base: BacktestSpec, axes: Mapping[str, Sequence[str]]) -> list[BacktestSpec]:
    """One spec per combination of the axes' values, over `base`'s own parameters."""
    names = list(axes)
    specs = []
    for combo in itertools.product(*(axes[n] for n in names)):
        params = dict(base.params) | dict(zip(names, combo, strict=True))
        specs.append(replace(base, params=tuple(sorted(params.items()))))
    return specs


def fingerprint(data: Path) -> str:
    h = hashlib.sha256()
    for name in ("manifest.json", "reference.json"):
        path = data / name
        if path.exists():
            h.update(name.encode())
            h.update(path.read_bytes())
    for path in segment_paths(data):
        st = path.stat()
        h.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def cache_key(spec: BacktestSpec, data_fingerprint: str) -> str:
    from kalshi_cli import __version__

    body = json.dumps(
        {"spec": asdict(spec), "data": data_fingerprint, "version": __version__},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kalshi" / "backtests"


def run_sweep(
    specs: Sequence[BacktestSpec],
    *,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    run: Callable[[BacktestSpec], dict[str, Any]] = run_backtest,
) -> list[tuple[BacktestSpec, dict[str, Any], bool]]:
    """Every spec's report (spec, report, from the cache?), in the order of `specs`. Runs not
    in the cache go to a pool of `jobs` processes (default: one per core; 1: in this
    process)."""
    fingerprints: dict[str, str] = {}
    keys: list[str | None] = []
    results: list[dict[str, Any] | None] = []
    for spec in specs:
        key = None
        if cache_dir is not None:
            fp = fingerprints.get(spec.data)
            if fp is None:
                fp = fingerprints[spec.data] = fingerprint(Path(spec.data))
            key = cache_key(spec, fp)
        keys.append(key)
        results.append(_cached(cache_dir, key))
    todo = [i for i, r in enumerate(results) if r is None]
    workers = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    if workers == 1 or run is not run_backtest:
        fresh = [run(specs[i]) for i in todo]
    else:
        # a fresh interpreter per run (backtest/worker.py): it inherits nothing of this
        # process (open files, threads, the state of a previous run, the launcher's
        # `__main__`), as a Ray or Dask worker would not
        with ThreadPoolExecutor(max_workers=workers) as pool:
            fresh = list(pool.map(_in_worker, [specs[i] for i in todo]))
    for i, report in zip(todo, fresh, strict=True):
        results[i] = report
        _store(cache_dir, keys[i], report)
    return [
        (spec, report, i not in todo)
        for i, (spec, report) in enumerate(zip(specs, results, strict=True))
        if report is not None
    ]


def _in_worker(spec: BacktestSpec) -> dict[str, Any]:
    from kalshi_cli.backtest.worker import spec_to_json

    done = subprocess.run(
        [sys.executable, "-m", "kalshi_cli.backtest.worker"],
        input=spec_to_json(spec),
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        answer: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise KalshiError(f"a sweep worker failed (exit {done.returncode}): {last}") from None
    if "error" in answer:
        params = " ".join(f"{k}={v}" for k, v in spec.params)
        raise KalshiError(f"the run with {params or 'the base params'} failed: {answer['error']}")
    report: dict[str, Any] = answer["report"]
    return report


def _cached(cache_dir: Path | None, key: str | None) -> dict[str, Any] | None:
    if cache_dir is None or key is None:
        return None
    path = cache_dir / f"{key}.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data


def _store(cache_dir: Path | None, key: str | None, report: dict[str, Any]) -> None:
    if cache_dir is None or key is None:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{key}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(report, default=str))
    tmp.replace(cache_dir / f"{key}.json")


def metric_value(report: Mapping[str, Any], metric: str) -> float | None:
    key, _ = METRICS[metric]
    value = report["totals"].get(key)
    return None if value is None else float(value)  # ranking only


def rank(
    results: Sequence[tuple[BacktestSpec, dict[str, Any], bool]], metric: str
) -> list[tuple[BacktestSpec, dict[str, Any], bool]]:
    """Best first by `metric`; runs where it is undefined (no trades) last."""
    return sorted(results, key=lambda item: order_key(item[1], metric))


def order_key(report: Mapping[str, Any], metric: str) -> tuple[int, float]:
    """Sorts reports best first by `metric`, those where it is undefined last."""
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r}", hint=f"choose one of: {', '.join(METRICS)}")
    value = metric_value(report, metric)
    if value is None:
        return (1, 0.0)
    return (0, -value if METRICS[metric][1] else value)

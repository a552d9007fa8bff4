"""Parameter sweeps: the grid of `--param k=v1,v2` values (`grid`), mapped over an executor
(`run_sweep`), ranked (`rank`), and cached as JSON keyed by the SHA-256 of the data set's
fingerprint and the spec. A failed run (`report.failed`) is not cached, has no figure and ranks
last. docs/backtesting.md "Sweeps".
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from kalshi_cli.backtest.dataset import fingerprint
from kalshi_cli.backtest.engine import BacktestSpec
from kalshi_cli.backtest.executors import Executor, Progress, open_executor
from kalshi_cli.backtest.report import failed
from kalshi_cli.vocabulary.errors import UsageError
from kalshi_cli.vocabulary.files import write_whole
from kalshi_cli.vocabulary.names import names_in

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
        choices = names_in(values)
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
    """One spec per combination of the axes' values (named as `BacktestSpec.values` names
    them), over `base`'s own parameters."""
    names = list(axes)
    return [
        base.with_values(dict(zip(names, combo, strict=True)))
        for combo in itertools.product(*(axes[n] for n in names))
    ]


def cache_key(spec: BacktestSpec, data_fingerprint: str) -> str:
    from kalshi_cli import __version__

    body = json.dumps(
        {"spec": asdict(spec), "data": data_fingerprint, "version": __version__},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def default_cache_dir(leaf: str = "backtests") -> Path:
    """kalshi's cache directory `leaf` ($XDG_CACHE_HOME, else ~/.cache): the sweep's cache of
    runs by default, a search's studies (`command.default_studies_dir`)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kalshi" / leaf


def run_sweep(
    specs: Sequence[BacktestSpec],
    *,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    run: Callable[[BacktestSpec], dict[str, Any]] | None = None,
    executor: Executor | None = None,
    progress: Progress | None = None,
) -> list[tuple[BacktestSpec, dict[str, Any], bool]]:
    """Every spec's report (spec, report, from the cache?), in the order of `specs`. Runs not
    in the cache go to `executor` (executors.py; default: a local pool of `jobs` processes,
    one per core by default, 1: this process, opened for this call), each spec carrying the
    data set's fingerprint as seen here, so a worker whose data set differs refuses its run.
    `run` maps a function of this process instead (tests)."""
    fingerprints: dict[str, str] = {}
    keys: list[str | None] = []
    results: list[dict[str, Any] | None] = []
    for spec in specs:
        fp = fingerprints.get(spec.data)
        if fp is None:
            fp = fingerprints[spec.data] = fingerprint(Path(spec.data))
        key = None if cache_dir is None else cache_key(spec, fp)
        keys.append(key)
        results.append(_cached(cache_dir, key))
    todo = [i for i, r in enumerate(results) if r is None]
    # a worker elsewhere (another directory, another machine) finds the data set by its
    # absolute path, and refuses it unless it is the one seen here
    pinned = [
        replace(
            specs[i],
            data=str(Path(specs[i].data).absolute()),
            data_fingerprint=fingerprints[specs[i].data],
        )
        for i in todo
    ]
    if run is not None:
        fresh = [run(spec) for spec in pinned]
    elif executor is not None:
        fresh = executor.map(pinned, progress)
    else:
        with open_executor("local", jobs=jobs) as local:
            fresh = local.map(pinned, progress)
    for i, report in zip(todo, fresh, strict=True):
        results[i] = report
        _store(cache_dir, keys[i], report)
    return [
        (spec, report, i not in todo)
        for i, (spec, report) in enumerate(zip(specs, results, strict=True))
        if report is not None
    ]


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
    if cache_dir is None or key is None or failed(report):
        return
    write_whole(cache_dir / f"{key}.json", json.dumps(report, default=str))


def metric_value(report: Mapping[str, Any], metric: str) -> float | None:
    """The run's figure for `metric`; None where it is undefined, and for a failed run, whose
    figures are not the strategy's."""
    if failed(report):
        return None
    key, _ = METRICS[metric]
    value = report["totals"].get(key)
    return None if value is None else float(value)  # ranking only


def rank(
    results: Sequence[tuple[BacktestSpec, dict[str, Any], bool]], metric: str
) -> list[tuple[BacktestSpec, dict[str, Any], bool]]:
    """Best first by `metric`; runs where it is undefined (no trades) after, failed runs last."""
    return sorted(results, key=lambda item: order_key(item[1], metric))


def order_key(report: Mapping[str, Any], metric: str) -> tuple[int, float]:
    """Sorts reports best first by `metric`, those where it is undefined after, failed last."""
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r}", hint=f"choose one of: {', '.join(METRICS)}")
    if failed(report):
        return (2, 0.0)
    value = metric_value(report, metric)
    if value is None:
        return (1, 0.0)
    return (0, -value if METRICS[metric][1] else value)

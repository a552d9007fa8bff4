"""Runs you can find again: every backtest and sweep the command runs is kept, one JSON file per
run in the runs directory, with what produced it (spec, strategy file hash, data fingerprint,
version), so a figure a trader acted on can be traced, shown again and compared (`compare`).
See docs/backtesting.md "Stored runs: `kalshi backtest runs`".
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
from collections.abc import Mapping
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from kalshi_cli.backtest.dataset import fingerprint
from kalshi_cli.backtest.engine import BacktestSpec, Lookup
from kalshi_cli.strategy_api.params import ParamValue
from kalshi_cli.vocabulary.errors import KalshiError, UsageError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.files import write_whole

FORMAT = "kalshi-backtest-run/1"


class RunNotFound(KalshiError):
    """No stored run by that id."""

    exit_code = ExitCode.NOT_FOUND


def strategy_source(
    name: str, params: Mapping[str, ParamValue], strategies: Lookup | None = None
) -> dict[str, Any]:
    """The strategy's module file, the SHA-256 of its bytes (None when it has no file), and
    `modules`: each module of the trader's it imports by its SHA-256, each installed library
    by its version (strategies/code.py), with those of the model's source when it names one
    (`source`, the `model` strategy's). `strategies`: the command's lookup, which found the
    strategy once."""
    from kalshi_cli.strategies import get_strategy
    from kalshi_cli.strategies.code import code_sources
    from kalshi_cli.strategies.model.sources import source_files

    strategy = (strategies or get_strategy)(name)
    module = inspect.getmodule(getattr(strategy, "decide_fn", None) or strategy)
    path = getattr(module, "__file__", None)
    source = params.get("source") if strategy.name == "model" else None
    model = source if isinstance(source, str) else None
    files = [p for p in source_files(model) if p.suffix == ".py"] if model else []
    if not path or not Path(path).is_file():
        return {"name": name, "file": None, "sha256": None, "modules": code_sources(files)}
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    modules = code_sources([Path(path), *files])
    return {"name": name, "file": str(path), "sha256": digest, "modules": modules}


def provenance(spec: BacktestSpec, strategies: Lookup | None = None) -> dict[str, Any]:
    """What produced a run of `spec`, besides the spec itself (its strategy as `strategies`,
    the command's lookup, found it)."""
    from kalshi_cli import __version__

    data = Path(spec.data)
    return {
        "spec": json.loads(json.dumps(asdict(spec), default=str)),
        "params": spec.values(),
        "strategy": strategy_source(spec.strategy, dict(spec.params), strategies),
        "data": {"path": str(data.resolve()), "fingerprint": fingerprint(data)},
        "version": __version__,
    }


class RunStore:
    """The stored runs in `root`; a listing or a reading never creates it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, record: Mapping[str, Any], *, now: float | None = None) -> str:
        body = {"format": FORMAT, **record}
        text = json.dumps(body, sort_keys=True, default=str)
        moment = time.time() if now is None else now
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(moment))
        # the milliseconds keep ids in the order stored (`last`) for runs of one second
        millis = int(moment * 1000) % 1000
        run_id = f"{stamp}{millis:03d}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
        body = {"id": run_id, "stored_at": stamp, **body}
        # in the order written: `runs show --json` gives the report as the run printed it
        write_whole(self.root / f"{run_id}.json", json.dumps(body, indent=1, default=str))
        return run_id

    def ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*.json"))

    def get(self, ref: str) -> dict[str, Any]:
        """A run by its id, a unique start of one, or `last`."""
        ids = self.ids()
        if ref == "last":
            found = ids[-1:]
        else:
            found = [i for i in ids if i == ref] or [i for i in ids if i.startswith(ref)]
        if not found:
            raise RunNotFound(
                f"no stored backtest run {ref!r}", hint="`kalshi backtest runs list` lists them"
            )
        if len(found) > 1:
            raise UsageError(
                f"{ref!r} names {len(found)} runs", hint="give more of the id: " + ", ".join(found)
            )
        data: dict[str, Any] = json.loads((self.root / f"{found[0]}.json").read_text("utf-8"))
        return data

    def summaries(self) -> list[dict[str, Any]]:
        """One line's worth of each run, oldest first."""
        return [summary(self.get(i)) for i in self.ids()]


def summary(run: Mapping[str, Any]) -> dict[str, Any]:
    """One line's worth of a stored run. A sweep's figures (`net`, `fills`, `sharpe`) are its
    best set's (`best_params`), `runs` how many sets ran and `failed` how many of them failed;
    a walk-forward's are its test parts' together. A run without figures of the strategy's has
    them null and `failure` says why (`failure` below)."""
    failure_ = failure(run)
    totals = {} if failure_ else _totals(run)
    best = _best(run)
    if run.get("kind") == "walk-forward":
        best_params = run.get("chosen")  # the last window's choice
    else:
        best_params = None if best is None else best["params"]
    return {
        "id": run["id"],
        "kind": run.get("kind"),
        # the whole lineup, in the loop's order
        "strategy": ", ".join(run["spec"].get("names") or [run["strategy"]["name"]]),
        "data": run["data"]["path"],
        "params": run.get("params", {}),
        "runs": _count(run),
        "failed": _failed(run),
        "failure": failure_,
        "net": totals.get("net"),
        "fills": totals.get("fills"),
        "sharpe": totals.get("sharpe"),
        "best_params": best_params,
        "axes": sorted(run.get("axes") or {}),
        "version": run.get("version"),
    }


def _best(run: Mapping[str, Any]) -> dict[str, Any] | None:
    """A sweep's best set: a holdout's is the set chosen on its training part, none when it
    chose none (the first by the holdout's figures would be a choice made on the holdout); a
    plain sweep's the first ranked that did not fail (None when every set failed)."""
    from kalshi_cli.backtest.research import holdout_choice

    if run.get("kind") != "sweep":
        return None
    runs: list[dict[str, Any]] = list(run.get("runs") or [])
    if run.get("holdout") is not None:
        chosen = holdout_choice(runs)
        return None if chosen is None else dict(chosen)
    return next((r for r in runs if not r.get("failed")), None)


def _failed(run: Mapping[str, Any]) -> int:
    """How many of a stored run's runs failed (a single run: 1 or 0)."""
    from kalshi_cli.backtest.report import failed

    if run.get("kind") == "run":
        return 1 if failed(run.get("report") or {}) else 0
    parts = [*(run.get("runs") or []), *(run.get("windows") or [])]
    return sum(
        1
        for part in parts
        if any(p.get("failed") for p in (part, part.get("train") or {}, part.get("test") or {}))
    )


def _count(run: Mapping[str, Any]) -> int:
    if run.get("kind") == "sweep":
        return len(run.get("runs") or [])
    if run.get("kind") == "walk-forward":
        return len(run.get("windows") or [])
    return 1


def _totals(run: Mapping[str, Any]) -> dict[str, Any]:
    if run.get("kind") == "walk-forward":  # the test parts together
        return dict(run.get("out_of_sample") or {})
    if run.get("kind") == "sweep":
        best = _best(run)
        return {} if best is None else dict(best["totals"])
    return dict((run.get("report") or {}).get("totals") or {})


def _figures(run: Mapping[str, Any]) -> dict[str, Any]:
    """The figures of a run, flat: totals, then statistics (`statistics.sharpe.value`...)."""
    out: dict[str, Any] = {}
    for key, value in _totals(run).items():
        _flatten(out, f"totals.{key}", value)
    stats = (run.get("report") or {}).get("statistics")
    if run.get("kind") == "sweep":
        stats = (_best(run) or {}).get("statistics")
    for key, value in (stats or {}).items():
        if key not in ("notes", "calibration"):
            _flatten(out, f"statistics.{key}", value)
    if stats and stats.get("calibration"):
        out["statistics.calibration.brier"] = stats["calibration"].get("brier")
    return out


def _flatten(out: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(out, f"{key}.{k}", v)
    elif not isinstance(value, list):
        out[key] = value


def failure(run: Mapping[str, Any]) -> str | None:
    """Why a stored run has no figures of the strategy's (None when it has them): a failed run, a
    sweep with no set run or every set failed, a holdout or walk-forward window that chose no set
    (or whose set failed)."""
    from kalshi_cli.backtest.report import failed, failure_line
    from kalshi_cli.backtest.research import (
        NO_SET_RAN,
        holdout_none_chosen,
        window_failed,
        windows_failure,
    )

    if run.get("kind") == "walk-forward":
        windows = [w["window"] for w in run.get("windows") or [] if window_failed(w)]
        return windows_failure(windows) if windows else None
    if run.get("kind") == "sweep" and run.get("holdout") is not None:
        why = holdout_none_chosen(run.get("runs") or [])
        return None if why is None else f"none chosen: {why}"
    if run.get("kind") == "sweep" and not run.get("runs"):
        return NO_SET_RAN
    if run.get("kind") == "sweep":
        return "every set failed" if _best(run) is None else None
    failure_ = failed(run.get("report") or {})
    return None if failure_ is None else failure_line(failure_)


def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Two runs side by side: what produced each where they differ, then every figure of either with
    the difference (b - a) where both are numbers. A run without figures (`failed`) has none
    here; `none_compared` says why there is no figure at all."""
    inputs = []
    for key in ("strategy", "params", "data", "version"):
        left, right = a.get(key), b.get(key)
        if isinstance(left, dict) and isinstance(right, dict):
            # only the entries that differ: a run stores every param, most at their default
            keys = [k for k in dict.fromkeys([*left, *right]) if left.get(k) != right.get(k)]
            left = {k: left[k] for k in keys if k in left}
            right = {k: right[k] for k in keys if k in right}
        if left != right:
            inputs.append({"what": key, "a": left, "b": right})
    spec_a, spec_b = a.get("spec") or {}, b.get("spec") or {}
    for key in dict.fromkeys([*spec_a, *spec_b]):
        if key not in ("params", "data", "strategy") and spec_a.get(key) != spec_b.get(key):
            inputs.append({"what": f"spec.{key}", "a": spec_a.get(key), "b": spec_b.get(key)})
    failures = {"a": failure(a), "b": failure(b)}
    fa = {} if failures["a"] else _figures(a)
    fb = {} if failures["b"] else _figures(b)
    rows = []
    for key in list(dict.fromkeys([*fa, *fb])):
        left, right = fa.get(key), fb.get(key)
        rows.append({"figure": key, "a": left, "b": right, "difference": _difference(left, right)})
    return {
        "a": a["id"],
        "b": b["id"],
        "failed": failures,
        "none_compared": None if rows else _none_compared(failures),
        "inputs": inputs,
        "figures": rows,
    }


def _none_compared(failures: Mapping[str, str | None]) -> str:
    """Why two runs have no figure to compare; each run's failure is in `failures`."""
    why = "neither run has figures to compare"
    return f"{why}: both failed" if failures["a"] and failures["b"] else why


def _difference(left: Any, right: Any) -> str | float | None:  # ratios
    if isinstance(left, bool) or isinstance(right, bool) or left is None or right is None:
        return None
    if isinstance(left, str) and isinstance(right, str):
        try:
            return format(Decimal(right) - Decimal(left), "f")  # money stays Decimal
        except InvalidOperation:
            return None
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return right - left
    return None


def describe(run: Mapping[str, Any]) -> list[str]:
    """A stored run for a terminal: what produced it, then its report, its ranking or its
    windows as the command printed them (the same functions print both)."""
    from kalshi_cli.backtest.report import params_text, render_text

    strategy, data = run["strategy"], run["data"]
    params = params_text(run.get("params"))
    lines = [
        f"run {run['id']} ({run.get('kind')}), stored {run.get('stored_at')}, "
        f"kalshi-cli {run.get('version')}",
        f"strategy {strategy['name']} ({strategy.get('file')}, sha256 {strategy.get('sha256')})",
        f"params   {params or 'defaults'}",
        f"data     {data['path']} (fingerprint {data['fingerprint']})",
        "",
    ]
    if run.get("kind") == "walk-forward":
        from kalshi_cli.backtest.research import out_of_sample_line, skipped_lines, window_lines

        for w in run.get("windows") or []:
            lines += window_lines(w, run["rank_by"])
        lines.append(out_of_sample_line(run.get("out_of_sample") or {}))
        return lines + skipped_lines(run.get("skipped"))
    if run.get("kind") == "sweep":
        from kalshi_cli.backtest.research import holdout_lines, skipped_lines, sweep_lines

        runs, search = run.get("runs") or [], run.get("search")
        if run.get("holdout") is not None:
            lines += holdout_lines(runs, run["rank_by"], run["holdout"], search)
        else:
            lines += sweep_lines(runs, run["rank_by"], search)
        return lines + skipped_lines(run.get("skipped"))
    return lines + render_text(run["report"])


__all__ = [
    "FORMAT",
    "RunNotFound",
    "RunStore",
    "compare",
    "describe",
    "failure",
    "provenance",
    "strategy_source",
    "summary",
]

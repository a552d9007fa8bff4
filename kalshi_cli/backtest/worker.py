"""A local sweep's worker process: `python -m kalshi_cli.backtest.worker` serves runs one after
another, one JSON request a line on stdin, one JSON answer a line on stdout, until stdin closes.

    {"spec": {...a BacktestSpec...}}  ->  {"report": {...}} or {"error": "...", "exit_code": N}
    {"stats": true}                   ->  {"stats": {...dataset_stats()...}}

Not `multiprocessing`: its spawned workers import the launcher's `__main__` again. A worker
knows only the spec: the strategy it names is loaded here from its source, and the data set is
opened by its path once for all runs (dataset.py). What a run prints goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import fields
from typing import Any

from kalshi_cli.backtest.dataset import dataset_stats
from kalshi_cli.backtest.engine import BacktestSpec
from kalshi_cli.backtest.executors import failure
from kalshi_cli.backtest.runs import run_backtest
from kalshi_cli.strategy_api.params import ParamPairs


def spec_from_dict(raw: dict[str, Any]) -> BacktestSpec:
    values: dict[str, Any] = {}
    for f in fields(BacktestSpec):
        if f.name not in raw:
            continue  # the field's default
        value = raw[f.name]
        # JSON has no tuples: the spec's pairs and lists come back as lists
        if f.name == "params":
            value = _param_pairs(value)
        elif f.name in ("risk", "trade"):
            value = tuple(tuple(pair) for pair in value)
        elif f.name in ("markets", "names"):
            value = tuple(value)
        elif f.name == "beside":
            value = tuple((spec, _param_pairs(params)) for spec, params in value)
        values[f.name] = value
    return BacktestSpec(**values)


def _param_pairs(pairs: list[list[Any]]) -> ParamPairs:
    """A spec's params from JSON, a list parameter's items a tuple again."""
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in pairs)


def answer(request: dict[str, Any]) -> dict[str, Any]:
    if request.get("stats"):
        return {"stats": dataset_stats()}
    try:
        return {"report": run_backtest(spec_from_dict(request["spec"]))}
    except Exception as exc:  # the launcher shows it as the run's failure, in one line
        message, code = failure(exc)
        return {"error": message, "exit_code": code}


def main() -> int:
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    with answers:
        for line in sys.stdin:
            answers.write(json.dumps(answer(json.loads(line)), default=str) + "\n")
            answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

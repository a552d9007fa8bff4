"""One run of a sweep in a process of its own: `python -m kalshi_cli.backtest.worker` reads a
`BacktestSpec` as JSON on stdin and writes its report as JSON on stdout.

A sweep starts its workers this way rather than through `multiprocessing`, whose spawned
workers import the launcher's `__main__` again (so a script without an
`if __name__ == "__main__":` guard would start the sweep once more in every worker, and a
strategy it registered would not be there). A worker knows only the spec: the strategy it
names (a built-in, an absolute `.py` path, an import path or an entry point) is loaded here,
from its source, as the launcher loaded it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, fields
from typing import Any

from kalshi_cli.backtest.engine import BacktestSpec
from kalshi_cli.backtest.runs import run_backtest


def spec_to_json(spec: BacktestSpec) -> str:
    return json.dumps(asdict(spec))


def spec_from_json(text: str) -> BacktestSpec:
    raw = json.loads(text)
    values: dict[str, Any] = {}
    for f in fields(BacktestSpec):
        value = raw[f.name]
        # JSON has no tuples: the spec's pairs and lists come back as lists
        if f.name in ("params", "risk", "trade"):
            value = tuple(tuple(pair) for pair in value)
        elif f.name == "markets":
            value = tuple(value)
        values[f.name] = value
    return BacktestSpec(**values)


def main() -> int:
    spec = spec_from_json(sys.stdin.read())
    try:
        report = run_backtest(spec)
    except Exception as exc:  # the launcher shows it as the run's failure, in one line
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        sys.stdout.write(json.dumps({"error": message}))
        return 1
    sys.stdout.write(json.dumps({"report": report}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

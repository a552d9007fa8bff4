"""docs/output.md documents the `kalshi backtest --json` shape; this checks its example against
the report of a run that traded: the same keys at every level, the same types where the example
has a value."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from kalshi_cli.backtest import BacktestSpec, run_backtest
from kalshi_cli.data.scenario_recording import record_scenario

DOC = Path(__file__).resolve().parents[2] / "docs" / "output.md"


def documented() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8")
    (body,) = re.findall(r"### `kalshi backtest --json`\n.*?```json\n(.*?)```", text, re.S)
    data: dict[str, Any] = json.loads(body)
    del data["run_id"]  # the command's: it names the stored run
    return data


# maps keyed by data (tickers, days, strategies, frame types): compared value to value
BY_DATA = {
    "$.data.frames",
    "$.data.skipped",
    "$.markets",
    "$.by_day",
    "$.by_strategy",
    "$.exit_reasons",
    "$.assumptions.defaults_used",
    "$.idle",
}


def same_shape(real: Any, doc: Any, where: str = "$") -> None:
    if isinstance(doc, dict):
        assert isinstance(real, dict), where
        if where in BY_DATA:
            if doc and real:
                same_shape(next(iter(real.values())), next(iter(doc.values())), f"{where}.*")
            return
        assert list(real) == list(doc), f"{where}: keys differ: {list(real)} vs {list(doc)}"
        for key in doc:
            same_shape(real[key], doc[key], f"{where}.{key}")
    elif isinstance(doc, list):
        assert isinstance(real, list), where
        if doc and real:
            same_shape(real[0], doc[0], f"{where}[0]")
    elif doc is not None and real is not None:
        assert type(real) is type(doc), f"{where}: {type(real).__name__} vs {type(doc).__name__}"


def test_the_documented_shape_is_the_real_one(tmp_path: Path) -> None:
    data = record_scenario(
        "default", tmp_path / "d", seconds=120, tickers=["KXNBAGAME-SIM-LALGSW-LAL"]
    )
    spec = BacktestSpec(data=str(data), strategy="spike", params=(("take_profit", "0.06"),))
    same_shape(run_backtest(spec), documented())

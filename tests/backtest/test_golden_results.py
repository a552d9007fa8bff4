"""Golden results of the backtest: recorded data sets replayed by each built-in strategy, alone
and all four in one loop, under both fill models and with latency, and a market settling
mid-run. Each run's fills and orders as the venue served them, the state file's intents, and
the whole report (P&L to the cent, by-strategy and by-market tables, statistics, equity) are
compared with the JSON files in tests/backtest/golden/, written by the engine before its hot
path changed. Any difference is a change of behaviour: a bug, unless docs/backtesting.md names
it as a rounding fixed on purpose.

Ids are random per exchange (a salt) and per run, so each id is replaced by its order of first
appearance, a set of legs' id in its orders' reasons too; the data set's temporary path is left
out. `python
tests/backtest/test_golden_results.py --write` rewrites the records (only when a change of
behaviour is intended and argued)."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kalshi_cli.backtest.engine import BacktestSpec, RunArtifacts, execute
from kalshi_cli.backtest.report import build_report
from kalshi_cli.data.scenario_recording import record_scenario

GOLDEN = Path(__file__).parent / "golden"
LAL = "KXNBAGAME-SIM-LALGSW-LAL"
ALL = (("mean-reversion", ()), ("arbitrage", ()), ("market-maker", ()))
CASES: dict[str, dict[str, Any]] = {
    "spike": {"strategy": "spike"},
    "mean_reversion": {"strategy": "mean-reversion"},
    "arbitrage": {"strategy": "arbitrage"},
    "market_maker": {"strategy": "market-maker"},
    "four_in_one_loop": {"strategy": "spike", "beside": ALL},
    "market_maker_pessimistic_latency": {
        "strategy": "market-maker",
        "fill_model": "pessimistic",
        "latency_ms": 50,
        "trade": (("tick_interval_s", 3600),),
    },
}
_SET_TAG = re.compile(r"\(set ([0-9a-f]+)\)")  # store/leg_sets.py set_tag
_ID_KEYS = frozenset({"order_id", "fill_id", "trade_id", "client_order_id", "intent_id"})


def _record(root: Path, settle: bool) -> Path:
    if settle:
        return record_scenario(
            "default", root / "settling", seconds=240, tickers=[LAL], settle={LAL: (150.0, "no")}
        )
    return record_scenario("default", root / "default", seconds=300)


def _run(spec: BacktestSpec, workdir: Path) -> dict[str, Any]:
    artifacts = execute(spec)
    report = build_report(artifacts)
    report["spec"].pop("data")
    report["data"].pop("path")
    portfolio = artifacts.venue.client.portfolio
    fills = [_given(msgspec.to_builtins(f)) for f in portfolio.iter_fills()]
    orders = [_given(msgspec.to_builtins(o)) for o in artifacts.venue.client.orders.iter_orders()]
    record: dict[str, Any] = {"report": report, "fills": fills, "orders": orders}
    return dict(_ids_in_order({**record, **_state(artifacts)}))


def _state(artifacts: RunArtifacts) -> dict[str, Any]:
    with artifacts.store as store:
        intents = [_plain(asdict(i)) for i in store.orders.iter_intents()]
        fills = [
            {"fill_id": f.fill_id, "order_id": f.order_id, "strategy": f.strategy}
            for f in store.fills.iter_fills()
        ]
    return {"intents": intents, "stored_fills": fills}


def _given(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.value if isinstance(v, Enum) else _text(v) for k, v in row.items()}


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _ids_in_order(value: Any, seen: dict[str, str] | None = None) -> Any:
    seen = {} if seen is None else seen
    if isinstance(value, str):
        return _SET_TAG.sub(lambda m: f"(set {seen.setdefault(m[1], f'id{len(seen)}')})", value)
    if isinstance(value, dict):
        return {
            k: (
                seen.setdefault(v, f"id{len(seen)}")
                if k in _ID_KEYS and isinstance(v, str)
                else _ids_in_order(v, seen)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_ids_in_order(v, seen) for v in value]
    return value


def _runs(root: Path) -> dict[str, dict[str, Any]]:
    data = _record(root, settle=False)
    runs = {}
    for name, fields in CASES.items():
        spec = BacktestSpec(data=str(data), balance="10000", **fields)
        runs[name] = _run(spec, root / name)
    settling = _record(root, settle=True)
    params = (("take_profit", "0.5"), ("max_hold_s", "1000"), ("order_count", "10"))
    spec = BacktestSpec(data=str(settling), strategy="spike", params=params)
    runs["spike_settled_mid_run"] = _run(spec, root / "settled")
    return runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return _runs(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("name", [*CASES, "spike_settled_mid_run"])
def test_a_backtest_gives_its_golden_results(runs: dict[str, dict[str, Any]], name: str) -> None:
    golden = json.loads((GOLDEN / f"{name}.json").read_text())
    got = json.loads(json.dumps(runs[name]))
    for part in ("fills", "orders", "intents", "stored_fills", "report"):
        assert got[part] == golden[part], f"{name}: its {part} changed"


def test_the_golden_runs_trade() -> None:
    """The records pin behaviour only if the runs they hold fill orders, amend and settle."""
    records = {p.stem: json.loads(p.read_text()) for p in GOLDEN.glob("*.json")}
    assert all(len(records[n]["fills"]) > 0 for n in CASES if n != "arbitrage")
    assert records["market_maker"]["report"]["totals"]["amends"] > 0
    assert len(records["four_in_one_loop"]["report"]["by_strategy"]) == 4
    assert records["spike_settled_mid_run"]["report"]["exit_reasons"] == {"settlement": 1}


def _lines(record: dict[str, Any]) -> str:
    """One fill, order or intent a line, so that a change shows as the lines it touches."""
    out = []
    for key, value in sorted(record.items()):
        rows = value if isinstance(value, list) else [value]
        body = ",\n".join(json.dumps(r, sort_keys=True, separators=(",", ":")) for r in rows)
        out.append(f"{json.dumps(key)}:" + (f"[\n{body}\n]" if isinstance(value, list) else body))
    return "{\n" + ",\n".join(out) + "\n}\n"


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for name, record in _runs(Path(tmp)).items():
            (GOLDEN / f"{name}.json").write_text(_lines(record))

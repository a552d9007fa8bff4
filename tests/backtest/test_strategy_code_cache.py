"""A strategy is all the code it imports: the sweep's cache and a run's provenance are keyed on
the strategy file and every module of the trader's it reaches (a module beside it, a package of
their own), and on the versions of the installed libraries it imports. Editing such a module is a
new run, never the old figures answered "(cached)"."""

from __future__ import annotations

import json
from pathlib import Path

from kalshi_cli.backtest.engine import BacktestSpec
from kalshi_cli.backtest.history import provenance
from kalshi_cli.data.importer import import_jsonl
from tests.backtest.in_process import kalshi_process
from tests.backtest.test_fractional_replay import _frames

STRATEGY = """
from decimal import Decimal

import msgspec

from fairs import FAIR
from kalshi_cli.strategy_api import Params, Side, Strategy, buy_at_ask


class HelpedParams(Params, frozen=True):
    order_count: Decimal = Decimal("20")


def decide(snapshot, position, params):
    if position.own.held_side is not None or position.resting:
        return []
    intent = buy_at_ask(
        snapshot, Side.YES, count=params.order_count, fair=FAIR, reason="helped",
        strategy="helped", min_edge=Decimal("0"),
    )
    return [] if intent is None else [intent]


STRATEGY = Strategy("helped", HelpedParams, decide)
"""


def _sweep(strategy: Path, data: Path, home: Path) -> list[dict[str, object]]:
    args = ["backtest", "--strategy", str(strategy), "--data", str(data)]
    done = kalshi_process([*args, "--param", "order_count=20,5", "--jobs", "1", "--json"], home)
    assert done.returncode == 0, done.stderr
    runs: list[dict[str, object]] = json.loads(done.stdout)["runs"]
    return runs


def test_editing_a_module_the_strategy_imports_is_a_cache_miss(tmp_path: Path) -> None:
    source = tmp_path / "capture.jsonl"
    _frames(source)
    data = tmp_path / "set"
    import_jsonl(source, data)
    code = tmp_path / "code"
    code.mkdir()
    strategy = code / "helped.py"
    strategy.write_text(STRATEGY)
    fairs = code / "fairs.py"
    fairs.write_text('from decimal import Decimal\n\nFAIR = Decimal("0.90")\n')

    first = _sweep(strategy, data, tmp_path)
    assert [r["cached"] for r in first] == [False, False]
    assert sorted(r["totals"]["contracts_filled"] for r in first) == ["5.00", "8.41"]  # type: ignore[index]
    assert [r["cached"] for r in _sweep(strategy, data, tmp_path)] == [True, True]

    # the imported module alone changes: the strategy file is the same bytes
    fairs.write_text('from decimal import Decimal\n\nFAIR = Decimal("0.10")\n')
    edited = _sweep(strategy, data, tmp_path)
    assert [r["cached"] for r in edited] == [False, False]
    assert [r["totals"]["orders"] for r in edited] == [0, 0]  # type: ignore[index]


def test_a_runs_provenance_names_each_module_and_library_the_strategy_imports(
    tmp_path: Path,
) -> None:
    import hashlib

    import msgspec

    source = tmp_path / "capture.jsonl"
    _frames(source)
    data = tmp_path / "set"
    import_jsonl(source, data)
    strategy = tmp_path / "helped.py"
    strategy.write_text(STRATEGY)
    fairs = tmp_path / "fairs.py"
    fairs.write_text('from decimal import Decimal\n\nFAIR = Decimal("0.90")\n')
    made = provenance(BacktestSpec(data=str(data), strategy=str(strategy)))
    modules = made["strategy"]["modules"]
    assert modules["fairs"] == "sha256:" + hashlib.sha256(fairs.read_bytes()).hexdigest()
    assert modules["msgspec"] == f"msgspec=={msgspec.__version__}"
    assert "decimal" not in modules  # the standard library comes with Python

"""`bench_loop_memory.py --census-at`: a census counts the live objects by type, strings and
numbers held by containers included, so objects kept between two censuses show as the growth of
their type; and `holders` names what holds the newest of a type, up to its owner's attributes."""

from __future__ import annotations

import importlib.util
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_loop_memory.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_loop_memory", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Kept:
    def __init__(self, i: int) -> None:
        self.figure = Decimal(i) / 7


class Keeper:
    def __init__(self) -> None:
        self.kept: dict[int, Kept] = {}


def test_objects_kept_between_two_censuses_are_their_types_growth(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench = _bench()
    keeper = Keeper()
    first = bench.census()
    keeper.kept.update((i, Kept(i)) for i in range(500))
    last = bench.census()
    name = f"{__name__}.Kept"
    assert last[name][0] - first.get(name, (0, 0))[0] == 500
    # the decimals are no container: counted as their holders' referents
    assert last["decimal.Decimal"][0] - first["decimal.Decimal"][0] >= 500
    bench.print_census_growth((1.0, first), (2.0, last))
    assert name in capsys.readouterr().out
    bench.holders([name])
    held = capsys.readouterr().out
    assert "__dict__ of Keeper" in held, held

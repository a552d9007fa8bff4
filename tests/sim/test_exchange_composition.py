"""The simulator's exchange core is composed, not a tower: `Exchange` has its components (the
reference data, the ledger, the matching engine, settlement, order groups, subaccounts), and
no class of the core inherits a class of the simulator. The matching engine works on the
exchange's own ledger."""

from __future__ import annotations

import ast
from decimal import Decimal as D
from pathlib import Path

import kalshi_cli.sim
from kalshi_cli.sim.core.accounts import Ledger
from kalshi_cli.sim.core.matching import MatchingEngine
from tests.sim.test_core import ASK, BID, Env

CORE_MODULES = (
    "records",
    "reference",
    "accounts",
    "matching",
    "settlement",
    "order_groups",
    "subaccounts",
    "exchange",
)


def _sim_classes() -> set[str]:
    """Every class defined anywhere in the simulator package."""
    root = Path(kalshi_cli.sim.__file__).parent
    names: set[str] = set()
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names |= {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    return names


def test_no_class_of_the_exchange_core_inherits_a_class_of_the_simulator() -> None:
    root = Path(kalshi_cli.sim.__file__).parent
    ours = _sim_classes()
    towers = []
    for module in CORE_MODULES:
        tree = ast.parse((root / "core" / f"{module}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = [b.id for b in node.bases if isinstance(b, ast.Name)]
                towers += [f"{module}.{node.name}({b})" for b in bases if b in ours]
    assert towers == []


def test_the_exchange_has_one_engine_over_its_own_ledger() -> None:
    env = Env()
    engine = env.ex.engine
    assert isinstance(engine, MatchingEngine)
    assert isinstance(env.ex.accounts, Ledger)
    accounts = env.ex.accounts
    assert engine._accounts is accounts
    env.place(env.a, BID, "0.40", 3)
    env.place(env.b, ASK, "0.40", 1)  # a taker: one contract fills against the resting bid
    # what the engine keeps is what the exchange answers with, and the fill reached the ledger
    assert env.ex.engine.book("M") == ([(D("0.40"), D(2))], [])
    assert engine.books["M"].yes.depth(0) == [(D("0.40"), D(2))]
    assert accounts.states[env.a].positions["M"].position == D(1)
    assert accounts.states[env.a].held["M"] == D("0.80")
    assert [t.count for t in engine.trades] == [D(1)]

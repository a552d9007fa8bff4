"""The fees a strategy is priced at outside the trade loop: `kalshi strategy check` hands each
snapshot the fee rates of the fees it names in its output (the standard ones unless the caller
chooses others), and every snapshot the package builds names its fee rates rather than taking
the defaults a trader's own test may lean on."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

from kalshi_cli.strategies import get_strategy
from kalshi_cli.strategies.check import check_strategy
from kalshi_cli.strategy_api import (
    Decision,
    MarketSnapshot,
    Params,
    PositionView,
    Side,
    Strategy,
    buy_at_ask,
)
from kalshi_cli.vocabulary.models import FeeModel, FeeType

PACKAGE = Path(__file__).resolve().parents[2] / "kalshi_cli"


class _Params(Params, frozen=True):
    pass


def _fee_aware(snap: MarketSnapshot, pos: PositionView, params: _Params) -> list[Decision]:
    """Buys YES once, the reason naming the rates the snapshot carried."""
    if pos.own.held_side is not None:
        return []
    intent = buy_at_ask(
        snap,
        Side.YES,
        count=Decimal(1),
        fair=Decimal("0.99"),
        reason=f"taker {snap.fee_rate} maker {snap.maker_fee_rate}",
        strategy="fee-aware",
        min_edge=Decimal(0),
    )
    return [] if intent is None else [intent]


FEE_AWARE = Strategy("fee-aware", _Params, _fee_aware)


def test_the_check_names_the_fees_it_hands_the_strategy() -> None:
    """Unless told otherwise, the check prices a strategy at Kalshi's standard fees (the
    series' `quadratic_with_maker_fees` at multiplier 1), and says so."""
    result = check_strategy(FEE_AWARE, _Params())
    assert [d["reason"] for d in result.decisions] == ["taker 0.07 maker 0.0175"]
    assert result.to_json()["fees"] == {
        "fee_type": "quadratic_with_maker_fees",
        "multiplier": "1",
        "taker_rate": "0.07",
        "maker_rate": "0.0175",
        "waiver_until": None,
    }
    head = result.lines()[0]
    assert "fees quadratic_with_maker_fees x1 (taker 0.07, maker 0.0175)" in head, head


def test_the_check_prices_the_strategy_at_the_fees_it_is_given() -> None:
    doubled = FeeModel(FeeType.QUADRATIC, Decimal(2), None)
    result = check_strategy(FEE_AWARE, _Params(), fees=doubled)
    assert [d["reason"] for d in result.decisions] == ["taker 0.14 maker 0"]
    assert "taker 0.14, maker 0" in result.lines()[0]
    waived = FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES, Decimal(1), waiver_until=4e9)
    result = check_strategy(FEE_AWARE, _Params(), fees=waived)
    assert [d["reason"] for d in result.decisions] == ["taker 0 maker 0"]
    assert "(taker 0, maker 0, waived until 2096-10-02T07:06:40.000Z)" in result.lines()[0]
    assert result.to_json()["fees"]["waiver_until"] == "2096-10-02T07:06:40.000Z"


def test_a_fee_aware_built_in_decides_by_the_fees_the_check_names() -> None:
    """The market maker quotes only a side whose edge after the maker fee clears `min_edge`:
    at a high enough maker rate it quotes nothing, and the check says at which rate."""
    maker = get_strategy("market-maker")
    params = maker.params({})
    assert check_strategy(
        maker, params, fees=FeeModel(FeeType.QUADRATIC, Decimal(1), None)
    ).decisions
    dear = FeeModel(FeeType.QUADRATIC_WITH_COMBO_MAKER_FEES, Decimal(5), None)
    assert check_strategy(maker, params, fees=dear).decisions == []


# --------------------------------------------------------------------------------------------
# Every snapshot the package builds names its fees


def _snapshots_without_fees(root: Path) -> list[str]:
    """`file:line` of each `MarketSnapshot(...)` call under `root` that leaves `fee_rate` or
    `maker_fee_rate` to the struct's defaults."""
    missing = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name != "MarketSnapshot":
                continue
            given = {k.arg for k in node.keywords}
            if None in given:  # a `**kwargs`: what it holds is not known here
                missing.append(f"{path}:{node.lineno} (**kwargs)")
            elif not {"fee_rate", "maker_fee_rate"} <= given:
                missing.append(f"{path}:{node.lineno}")
    return missing


def test_every_snapshot_the_package_builds_names_its_fee_rates() -> None:
    """The struct's defaults (the standard rates) are for a trader's own tests; a snapshot of
    the package's prices a strategy at the fees it was handed, by name."""
    assert _snapshots_without_fees(PACKAGE) == []


def test_the_snapshot_scan_sees_one_that_leaves_its_fees_out(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "MarketSnapshot('T', 0.0, book)\n"
        "snapshot.MarketSnapshot('T', 0.0, book, fee_rate=r)\n"
        "MarketSnapshot('T', 0.0, book, fee_rate=r, maker_fee_rate=m)\n",
        encoding="utf-8",
    )
    assert _snapshots_without_fees(tmp_path) == [f"{tmp_path / 'm.py'}:1", f"{tmp_path / 'm.py'}:2"]

"""`kalshi strategy new NAME`: a strategy file, its params file and a pytest test that runs it
over the synthetic replay of `kalshi strategy check`, ready to edit."""

from __future__ import annotations

import re
from pathlib import Path

from kalshi_cli.vocabulary.errors import UsageError
from kalshi_cli.vocabulary.files import write_whole

_STRATEGY = '''\
"""{name}: buy the side offered below the fair value by at least `edge`; take the profit when
its bid rises `take_profit` above what this strategy paid. Edit `decide` to make it yours
(docs/strategies.md, "Write your own")."""

from decimal import Decimal
from typing import Annotated

from kalshi_cli.strategy_api import (
    Decision,
    MarketSnapshot,
    Params,
    PositionView,
    Range,
    Search,
    Side,
    Strategy,
    Updatable,
    best_bid,
    buy_at_ask,
    close_at_bid,
    side_value,
)

NAME = "{name}"


class {cls}(Params, frozen=True):
    fair: Annotated[Decimal, Range(gt=0, lt=1), Updatable] = Decimal("0.50")
    # Search: the values `kalshi backtest --search` tries (low, high, step)
    edge: Annotated[Decimal, Range(ge=0, lt=1), Updatable, Search("0.01", "0.06", "0.01")] = (
        Decimal("0.03")
    )
    take_profit: Annotated[Decimal, Range(gt=0, lt=1), Search("0.02", "0.10", "0.02")] = (
        Decimal("0.05")
    )
    order_count: Annotated[Decimal, Range(gt=0)] = Decimal("5")


def decide(snapshot: MarketSnapshot, position: PositionView, params: {cls}) -> list[Decision]:
    own = position.own  # what this strategy's orders bought: never more
    if own.held_side is not None:
        bid = best_bid(snapshot.book, own.held_side)
        if bid is None or bid.price < own.avg_entry_price + params.take_profit:
            return []
        exit_ = close_at_bid(
            snapshot, own, fair=bid.price, reason=f"{{NAME}}: take-profit", strategy=NAME
        )
        return [] if exit_ is None else [exit_]
    if position.resting:
        return []
    for side in (Side.YES, Side.NO):
        if position.held_side not in (None, side):
            continue
        intent = buy_at_ask(
            snapshot,
            side,
            count=params.order_count,
            fair=side_value(side, params.fair),
            reason=f"{{NAME}}: {{side.value}} below fair",
            strategy=NAME,
            min_edge=params.edge,
        )
        if intent is not None:
            return [intent]
    return []


STRATEGY = Strategy(NAME, {cls}, decide)
'''

_PARAMS = """\
# Parameters of {module}.py (--params {module}.yaml); fair and edge reload on `kill -HUP`.
fair: 0.50
edge: 0.03
take_profit: 0.05
order_count: 5
"""

_TEST = '''\
"""{name} over a short synthetic replay: it loads, its params validate, and it trades."""

from pathlib import Path

from kalshi_cli import check_strategy, load_params, load_strategy

HERE = Path(__file__).parent


def test_{module}_trades_over_a_synthetic_replay() -> None:
    strategy = load_strategy(str(HERE / "{module}.py"))
    params = load_params(strategy, HERE / "{module}.yaml")
    result = check_strategy(strategy, params)
    kinds = [(d["action"], d["side"]) for d in result.decisions]
    assert ("buy", "yes") in kinds, result.lines()  # the mid falls to 0.40: YES is cheap
    assert ("sell", "yes") in kinds, result.lines()  # and recovers: the profit is taken
'''


def scaffold(name: str, directory: Path) -> list[Path]:
    """Write NAME's strategy, params and test files into `directory`; nothing is overwritten."""
    if not re.fullmatch(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*", name):
        raise UsageError(
            f"strategy name {name!r}: use lower-case letters, digits and - or _",
            hint="for example: kalshi strategy new fair-value",
        )
    from kalshi_cli.strategies import BUILT_IN
    from kalshi_cli.strategies.loader import name_refusal

    refused = name_refusal(name)
    if refused is not None:
        raise UsageError(refused, hint="choose another name, for example my-strategy")
    if name in {s.name for s in BUILT_IN}:
        raise UsageError(
            f"strategy name {name!r} is a built-in's: a file of that name would never be loaded",
            hint=f"choose another name, for example my-{name}",
        )
    module = name.replace("-", "_")
    cls = "".join(part.capitalize() for part in module.split("_")) + "Params"
    files = {
        directory / f"{module}.py": _STRATEGY.format(name=name, cls=cls),
        directory / f"{module}.yaml": _PARAMS.format(module=module),
        directory / f"test_{module}.py": _TEST.format(name=name, module=module),
    }
    taken = [p for p in files if p.exists()]
    if taken:
        raise UsageError(f"{taken[0]} exists already", hint="choose another name or --dir")
    for path, text in files.items():
        write_whole(path, text)
    return list(files)

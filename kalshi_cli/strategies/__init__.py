"""Strategies by name: `get_strategy("spike").decide(snapshot, position, params)`.

Each strategy is a pure function plus a frozen params dataclass whose defaults are the documented
ones (docs/strategies.md); `Strategy.params(config["strategies"][name])` reads the config,
refusing unknown keys and ill-typed values.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from kalshi_cli.errors import UsageError
from kalshi_cli.strategies import arbitrage, market_maker, mean_reversion, model, spike
from kalshi_cli.strategies.base import (
    Cancel,
    Decision,
    Intent,
    MarketSnapshot,
    PositionView,
    RestingOrder,
    parse_params,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

P = TypeVar("P", bound="DataclassInstance")  # a params dataclass (`parse_params`)


@dataclass(frozen=True)
class Strategy(Generic[P]):
    name: str
    params_type: type[P]
    decide_fn: Callable[[MarketSnapshot, PositionView, P], Sequence[Decision]]
    # reads `snapshot.complement`: the loop pairs the markets of two-outcome events for it
    uses_complements: bool = False
    # reads `RestingOrder.queue_position`: the loop reads the queue positions of its orders
    uses_queue_positions: bool = False
    # reads `snapshot.mids`: without it the loop keeps no mid history and hands none
    reads_mids: bool = True
    # for a position like this one, `decide` reads the time only through the mids of its
    # window (`snapshot.window(snapshot.ts - window_s)`, `window_s` being the loop's history
    # horizon), so with the same book, mids, position and fees it decides the same: the loop
    # skips such a call after one that decided nothing (runner/loop.py, "quiet markets").
    # None (a strategy of your own, by default): it may read the clock, and is always called
    clock_free: Callable[[PositionView], bool] | None = None

    def params(self, raw: Mapping[str, Any] | None = None) -> P:
        return parse_params(self.params_type, raw, where=f"strategies.{self.name}")

    def decide(
        self, snapshot: MarketSnapshot, position: PositionView, params: P
    ) -> Sequence[Decision]:
        return self.decide_fn(snapshot, position, params)


def _always(_: PositionView) -> bool:
    return True


def _when_flat(position: PositionView) -> bool:
    # spike's time stop reads the clock while it holds a position
    return position.held_side is None


_REGISTRY: dict[str, Strategy[Any]] = {
    s.name: s
    for s in (
        Strategy(spike.NAME, spike.SpikeParams, spike.decide, clock_free=_when_flat),
        Strategy(
            mean_reversion.NAME,
            mean_reversion.MeanReversionParams,
            mean_reversion.decide,
            clock_free=_always,
        ),
        Strategy(
            arbitrage.NAME,
            arbitrage.ArbitrageParams,
            arbitrage.decide,
            uses_complements=True,
            reads_mids=False,
            clock_free=_always,
        ),
        Strategy(
            market_maker.NAME,
            market_maker.MarketMakerParams,
            market_maker.decide,
            uses_queue_positions=True,
            reads_mids=False,
            clock_free=_always,
        ),
        # asks its source on every call (the answer may change with nothing else): never quiet
        Strategy(model.NAME, model.ModelParams, model.decide),
    )
}


def register_strategy(strategy: Strategy[Any]) -> None:
    """Add a strategy of your own (a plugin's, a test's): chosen by name from then on, like the
    five built in, by `kalshi trade` and `kalshi backtest` run in this process. A name already
    taken is refused."""
    if strategy.name in _REGISTRY:
        raise UsageError(f"a strategy called {strategy.name!r} exists already")
    _REGISTRY[strategy.name] = strategy


def strategy_names() -> list[str]:
    return list(_REGISTRY)


def get_strategy(name: str) -> Strategy[Any]:
    """The strategy called `name`, in its one spelling (hyphenated, as config sections are);
    `mean_reversion` is refused with a "did you mean", exactly as `strategies.mean_reversion:`
    is in the config (kalshi_cli.config.refuse_unknown)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        pass
    close = [n for n in _REGISTRY if n.replace("-", "_") == name.replace("-", "_")]
    close = close or difflib.get_close_matches(name, list(_REGISTRY), n=1)
    hint = f"did you mean `{close[0]}`?" if close else f"choose one of: {', '.join(_REGISTRY)}"
    raise UsageError(f"unknown strategy {name!r}", hint=hint)


__all__ = [
    "Cancel",
    "Decision",
    "Intent",
    "MarketSnapshot",
    "PositionView",
    "RestingOrder",
    "Strategy",
    "get_strategy",
    "register_strategy",
    "strategy_names",
]

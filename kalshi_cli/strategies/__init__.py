"""Strategies by name, by file and by import path: `get_strategy(spec)` reads a spec as `--strategy`
does: a registered name (the built-ins, `register_strategy`), an entry point (group
`kalshi_cli.strategies`), a `.py` path, or `package.module:attr` (strategies/loader.py).
"""

from __future__ import annotations

from typing import Any

from kalshi_cli.strategies import arbitrage, crypto, market_maker, mean_reversion, model, spike
from kalshi_cli.strategy_api.strategy import Strategy
from kalshi_cli.vocabulary.decode import did_you_mean
from kalshi_cli.vocabulary.errors import UsageError

BUILT_IN: tuple[Strategy[Any], ...] = (
    spike.STRATEGY,
    mean_reversion.STRATEGY,
    arbitrage.STRATEGY,
    market_maker.STRATEGY,
    model.STRATEGY,
    crypto.STRATEGY,
)

_REGISTRY: dict[str, Strategy[Any]] = {s.name: s for s in BUILT_IN}


def register_strategy(strategy: Strategy[Any]) -> None:
    """Add a strategy of your own (a plugin's, a test's): chosen by name from then on, like the
    six built in, by `kalshi trade` and `kalshi backtest` run in this process. A name already
    taken is refused."""
    if strategy.name in _REGISTRY:
        raise UsageError(f"a strategy called {strategy.name!r} exists already")
    _REGISTRY[strategy.name] = strategy


def strategy_source(strategy: Strategy[Any]) -> str:
    """What a backtest cache is keyed on for the strategy's code: the loader's fingerprint, or
    this package's version for a built-in (or one registered in-process)."""
    from kalshi_cli import __version__

    return strategy.source or f"kalshi-cli=={__version__}"


def strategy_names() -> list[str]:
    """The names registered in this process (the built-ins first)."""
    return list(_REGISTRY)


def get_strategy(spec: str) -> Strategy[Any]:
    """The strategy `spec` names: a registered name in its one spelling (hyphenated, as config
    sections are; `mean_reversion` is refused with a "did you mean", exactly as
    `strategies.mean_reversion:` is in the config), an installed entry point, a `.py` file or
    `package.module:attr`."""
    found = _REGISTRY.get(spec)
    if found is not None:
        return found
    from kalshi_cli.strategies.loader import entry_point_names, is_path_spec, load

    if is_path_spec(spec) or spec in entry_point_names():
        return load(spec)
    hint = strategy_hint(spec, [*_REGISTRY, *entry_point_names()])
    raise UsageError(f"unknown strategy {spec!r}", hint=hint)


def strategy_hint(spec: str, names: list[str], *, code: bool = True) -> str:
    """The name `spec` is close to, or every name (and a file or import path, if `code`)."""
    close = did_you_mean(spec, names)
    if close:
        return f"did you mean `{close}`?"
    code_too = ", a .py file or package.module:attr" if code else ""
    return f"choose one of: {', '.join(names)}{code_too}"


class StrategyLookup:
    """The strategies of one command, each looked up once (`get_strategy`) by the spec that
    names it, however many checks ask: a file is imported once, and the run runs the very
    object its checks saw, whatever the registry holds later. A command makes one and hands
    it down; its config check looks the config's own strategies up through it too."""

    def __init__(self) -> None:
        self._found: dict[str, Strategy[Any]] = {}

    def __call__(self, spec: str) -> Strategy[Any]:
        found = self._found.get(spec)
        if found is None:
            found = self._found[spec] = get_strategy(spec)
            # the spelling it is named by from here on (an absolute path) finds it too
            self._found.setdefault(found.spec or found.name, found)
        return found

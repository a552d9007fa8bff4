"""`kalshi strategy list`: every strategy there is, with where it comes from and its params."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

from kalshi_cli.strategies import get_strategy, strategy_names
from kalshi_cli.strategies.loader import ENTRY_POINT_GROUP
from kalshi_cli.strategy_api import Strategy, param_fields
from kalshi_cli.vocabulary.errors import KalshiError


def list_strategies(
    configured: Mapping[str, str], lookup: Callable[[str], Strategy[Any]] = get_strategy
) -> list[dict[str, Any]]:
    """Built-in (and registered) first, then installed (entry points), then configured (the
    config's `strategies.NAME.strategy`), each found by `lookup` (the command's, which the
    config check loaded the configured ones through). An installed or configured one that
    does not load is listed with its error, not left out."""
    docs = [_doc(lookup(name), "built-in") for name in strategy_names()]
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        docs.append(_loaded(lookup, ep.name, "installed", ep.value))
    for name, source in configured.items():
        docs.append(_loaded(lookup, source, "configured", source, name=name))
    return docs


def _loaded(
    lookup: Callable[[str], Strategy[Any]],
    spec: str,
    kind: str,
    shown: str,
    *,
    name: str | None = None,
) -> dict[str, Any]:
    try:
        return _doc(lookup(spec), kind)
    except KalshiError as exc:
        return {
            "name": name or spec,
            "origin": kind,
            "spec": shown,
            "source": None,
            "params": [],
            "error": exc.message,
        }


def _doc(strategy: Strategy[Any], kind: str) -> dict[str, Any]:
    return {
        "name": strategy.name,
        "origin": kind,
        "spec": strategy.spec or strategy.name,
        "source": strategy.source or None,
        "params": [f.to_json() for f in param_fields(strategy.params_type)],
    }

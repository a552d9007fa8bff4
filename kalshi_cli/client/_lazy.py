"""Names an area module exports but loads from its `_shapes` module on first use (PEP 562)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def load_on_first_use(module: str, source: str, names: frozenset[str]) -> Callable[[str], Any]:
    """The module `__getattr__` of `module`: each of `names` is read from `source` when first
    used, so a client that never calls an area does not generate its response dataclasses at
    start-up; any other name is the usual AttributeError."""

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(source), name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__

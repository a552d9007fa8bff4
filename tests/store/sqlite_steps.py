"""How much work a call makes SQLite do, counted in its virtual machine's steps (in hundreds):
the measure the cost tests hold still while the state file grows."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from kalshi_cli.store import Store

T = TypeVar("T")


def sqlite_steps(store: Store, call: Callable[[], T]) -> tuple[int, T]:
    """`call`'s answer and the SQLite steps (in hundreds) it took on `store`'s connection."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    store._conn.set_progress_handler(count, 100)
    try:
        answer = call()
    finally:
        store._conn.set_progress_handler(None, 0)
    return steps, answer

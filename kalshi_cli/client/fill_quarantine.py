"""The fills a listing leaves out because they cannot be read as a `Fill`: held for a person to
read and told once to each listener, never applied to a position or P&L (docs/pnl.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kalshi_cli.vocabulary.models import Fill, QuarantinedFill, decode_answer


class FillQuarantine:
    """Fills a listing left out because they lack a field the spec requires (a count, a price,
    a fee, a direction: `models.Fill`): never applied to a position or P&L. Each is told once to
    every listener (the trade loop logs, counts and alerts it, and stops trading its market);
    `held` keeps them for a person to read. Shared by every area of one client."""

    MAX_HELD = 1000

    def __init__(self) -> None:
        self.listeners: list[Callable[[QuarantinedFill], None]] = []
        self.held: dict[str, QuarantinedFill] = {}

    def listen(self, listener: Callable[[QuarantinedFill], None]) -> Callable[[], None]:
        """Tell `listener` of each fill quarantined from now on; what is returned stops it (a
        trade loop's, when the loop closes: one built and discarded at start must not count
        the fills of the one that runs)."""
        self.listeners.append(listener)

        def stop() -> None:
            if listener in self.listeners:
                self.listeners.remove(listener)

        return stop

    def add(self, raw: Mapping[str, Any], reason: str) -> None:
        found = QuarantinedFill.of(raw, reason)
        if found.key in self.held:
            return  # listed again by a later read: told once
        if len(self.held) >= self.MAX_HELD:
            self.held.pop(next(iter(self.held)))
        self.held[found.key] = found
        for listener in list(self.listeners):
            listener(found)

    def fill_or_none(self, item: Any) -> Fill | None:
        """One listed item as a Fill, or None when it is quarantined."""
        if not isinstance(item, Mapping):
            self.add({"item": item}, "a fill that is not an object")
            return None
        try:
            return decode_answer(Fill, item)
        except (TypeError, ValueError) as exc:
            self.add(item, str(exc))
            return None

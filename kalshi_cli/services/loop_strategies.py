"""What a trade loop's heartbeat says of its strategies, and a row per strategy from the state
file: read by `kalshi status` (services/orders.py) and the dashboard alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kalshi_cli.vocabulary.clock import day_start, utc_day
from kalshi_cli.vocabulary.models import ZERO
from kalshi_cli.vocabulary.units import fmt_exact_dollars

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from decimal import Decimal

    from kalshi_cli.store import IntentRecord, Store


def strategy_text(detail: Mapping[str, Any]) -> str | None:
    """The heartbeat's `strategy`: `NAME` for a built-in, `NAME (SPEC)` for one loaded from a
    file or a package, comma separated for several (a heartbeat from before the lineup names
    its spec apart, as `strategy_spec`)."""
    name, spec = detail.get("strategy"), detail.get("strategy_spec")
    if not isinstance(name, str):
        return None
    return name if spec in (None, name) else f"{name} ({spec})"


def strategy_names(detail: Mapping[str, Any]) -> list[str]:
    """The names of the strategies the loop runs, in order (none listed: none)."""
    listed = detail.get("strategies")
    if not isinstance(listed, list):
        return []
    return [s["name"] for s in listed if isinstance(s, dict) and isinstance(s.get("name"), str)]


def strategy_rows(
    store: Store, names: Sequence[str], open_orders: Sequence[IntentRecord], now: float
) -> tuple[dict[str, Any], ...]:
    """A row per strategy: its open orders and the P&L its fills realized today (UTC)."""
    if not names:
        return ()
    realized: dict[str, Decimal] = dict.fromkeys(names, ZERO)
    for fill in store.fills.iter_fills(since=day_start(utc_day(now))):
        if fill.strategy in realized and fill.realized_pnl is not None:
            realized[fill.strategy] += fill.realized_pnl
    return tuple(
        {
            "strategy": name,
            "open_orders": sum(1 for i in open_orders if i.strategy == name),
            "realized_today": fmt_exact_dollars(realized[name]),
        }
        for name in names
    )

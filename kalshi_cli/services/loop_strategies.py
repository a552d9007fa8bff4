"""What a trade loop's heartbeat says of its strategies (which run, which are stopped and why),
and a row per strategy from the state file: read by `kalshi status` (services/orders/status.py),
`kalshi check heartbeat`, the metrics and the dashboard alike. `kalshi resume --strategy NAME`
asks a running loop to take a stopped strategy back through a row of the state file
(`ask_resume`), which the loop reads when the file changes (runner/loop/trade_loop.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kalshi_cli.vocabulary.clock import day_start, utc_day
from kalshi_cli.vocabulary.units import fmt_exact_dollars

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

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


def stopped_strategies(detail: Mapping[str, Any]) -> dict[str, str]:
    """The strategies the loop of that heartbeat had stopped, each with why."""
    listed = detail.get("strategies")
    if not isinstance(listed, list):
        return {}
    return {
        s["name"]: s["stopped"]
        for s in listed
        if isinstance(s, dict) and isinstance(s.get("name"), str) and s.get("stopped")
    }


def resume_key(name: str) -> str:
    """The state file's row whose every new value asks the loop to resume strategy `name`."""
    return f"strategy_resume.{name}"


def ask_resume(store: Store, name: str) -> str | None:
    """Ask the trade loop of the state file's last heartbeat to take strategy `name` back (a
    stop for lateness or failures; a daily loss limit holds until the UTC day ends); why it
    was stopped at that heartbeat (None: it was not). A name the loop does not run is refused."""
    import time

    from kalshi_cli.vocabulary.errors import UsageError

    beat = store.entries.loop_heartbeat()
    names = strategy_names(beat.detail) if beat is not None else []
    if beat is None or name not in names:
        runs = f"it runs {', '.join(names)}" if names else "no trade loop has written a heartbeat"
        raise UsageError(f"no strategy {name} in the trade loop of this state file: {runs}")
    store.entries.set_kv(resume_key(name), str(time.time_ns()))  # a new value each time
    return stopped_strategies(beat.detail).get(name)


def strategy_rows(
    store: Store,
    names: Sequence[str],
    open_orders: Sequence[IntentRecord],
    now: float,
    subaccount: int = 0,
    *,
    stopped: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], ...]:
    """A row per strategy: why it is `stopped` (None: it is not), its open orders and what its
    own part of the positions realized today (UTC), fees and settlements counted: the figure
    its daily loss limit reads, booked from the state file by the loop's own rule
    (`owner_parts.realized_by_owner`) on the loop's `subaccount`. Not the P&L written on its
    fills, which is the account's average cost (a person's contracts bought cheaper average in)
    and leaves settlements out."""
    if not names:
        return ()
    from kalshi_cli.services.owner_parts import realized_by_owner

    day = utc_day(now)
    realized = realized_by_owner(store, day_start(day), subaccount)
    stopped = stopped or {}
    return tuple(
        {
            "strategy": name,
            "stopped": stopped.get(name),
            "open_orders": sum(1 for i in open_orders if i.strategy == name),
            "realized_today": fmt_exact_dollars(realized.get(name, Decimal(0))),
        }
        for name in names
    )

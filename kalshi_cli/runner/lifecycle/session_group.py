"""The session's order group as a run starts and stops (runner/execution/order_group.py):
whether it wants one, the group made (or the start refused), and the group ended in the stop."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from typing import TYPE_CHECKING

from kalshi_cli.runner.config import TradeConfig, TradeOptions
from kalshi_cli.runner.execution.order_group import end_session_group, open_session_group
from kalshi_cli.runner.preflight import StartupRefused
from kalshi_cli.vocabulary.errors import KalshiError, OrderOutcomeUnknown

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.loop.trade_loop import TradeLoop
    from kalshi_cli.store import Store


def wants_group(options: TradeOptions) -> bool:
    return options.order_group and not options.dry_run and not options.paper


def open_group(client: KalshiClient, store: Store, config: TradeConfig, log: EntryLog) -> str:
    """The session's order group (runner/execution/order_group.py), or no trading at all. A
    create of unknown outcome refuses the start too: the loop does not know the group's id, and
    a listed group it took for its own could be another program's, whose orders its kill switch
    would then stop. A group so made holds no order; the refusal says how to find and delete
    it."""
    try:
        return open_session_group(client, store, config, log)
    except OrderOutcomeUnknown as exc:
        refused = StartupRefused(
            f"whether the session's order group was made is unknown: {exc.message}; not trading",
            hint=f"{exc.hint}; a group made so holds no order: delete it (`kalshi order-group "
            "delete ID`), then start again",
        )
        refused.exit_code = exc.exit_code
        raise refused from exc
    except KalshiError as exc:
        refused = StartupRefused(
            f"could not create the session's order group: {exc.message}; not trading",
            hint="check the connection (`kalshi health-check`); `--no-order-group` trades "
            "without one",
        )
        refused.exit_code = exc.exit_code
        raise refused from exc


def end_group(client: KalshiClient, loop: TradeLoop, group: str, abandon: threading.Event) -> None:
    """The session's group ended, as part of the stop, so under what is left of its one
    deadline: a delete held by a slow exchange must not keep the process past the service
    manager's stop timeout (the group, kept, stays listed for the kill switch)."""
    deadline = loop.stop.stop_deadline
    with deadline.scope() if deadline is not None else nullcontext():
        # on the loop's own orders: one placed by hand is not in the group
        end_session_group(
            client,
            loop.stop.store,
            group,
            loop.log,
            own_resting=len(loop.stop.own.resting()),
            unknown=sorted(loop.executor.unknown_orders.unknown),
            abandon=abandon,
        )

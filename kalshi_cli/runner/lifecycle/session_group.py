"""The session's order group as a run starts and stops (runner/execution/order_group.py):
whether it wants one, the group made (or the start refused), the loop's orders put in it, and
the group ended in the stop."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from typing import TYPE_CHECKING

from kalshi_cli.runner.config import TradeConfig, TradeOptions
from kalshi_cli.runner.execution.order_group import (
    SessionGroups,
    end_session_group,
    open_session_group,
)
from kalshi_cli.runner.preflight import StartupRefused
from kalshi_cli.vocabulary.errors import KalshiError, OrderOutcomeUnknown

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.loop.trade_loop import TradeLoop
    from kalshi_cli.store import Store


def wants_group(options: TradeOptions) -> bool:
    return options.order_group and not options.dry_run and not options.paper


def open_group(
    client: KalshiClient, store: Store, config: TradeConfig, log: EntryLog, shards: set[int]
) -> SessionGroups:
    """The session's order groups (runner/execution/order_group.py), one on each of the shards
    its markets are on, or no trading at all. A create of unknown outcome refuses the start too:
    the loop does not know the group's id, and a listed group it took for its own could be
    another program's, whose orders its kill switch would then stop. A group so made holds no
    order; the refusal says how to find and delete it."""
    try:
        return open_session_group(client, store, config, log, shards=shards or {0})
    except OrderOutcomeUnknown as exc:
        raise StartupRefused(
            f"whether the session's order group was made is unknown: {exc.message}; not trading",
            hint=f"{exc.hint}; a group made so holds no order: delete it (`kalshi order-group "
            "delete ID`), then start again",
            exit_code=exc.exit_code,
        ) from exc
    except KalshiError as exc:
        raise StartupRefused(
            f"could not create the session's order group: {exc.message}; not trading",
            hint="check the connection (`kalshi health-check`); `--no-order-group` trades "
            "without one",
            exit_code=exc.exit_code,
        ) from exc


def join_session_group(executor: LoopExecutor, groups: SessionGroups) -> None:
    """Every order the loop places from now goes into the session's group of its market's
    shard. The orders it holds resting now (an earlier run's, adopted at the start) are outside
    the group, and an amend keeps an order where it is: a requote of one of them goes as a
    cancel and a new order in the group (runner/execution/amends.py `Amends.group_made`)."""
    executor.answers.order_groups = groups.by_shard  # one map: a group made later is in both
    executor.amends.group_made()


def end_group(
    client: KalshiClient, loop: TradeLoop, group: SessionGroups, abandon: threading.Event
) -> None:
    """The session's groups ended, as part of the stop, so under what is left of its one
    deadline: a delete held by a slow exchange must not keep the process past the service
    manager's stop timeout (a group kept stays listed for the kill switch)."""
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

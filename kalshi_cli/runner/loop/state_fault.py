"""The trade loop when its state file stops taking writes mid-session. An intent must be on disk
before its order leaves, so the loop withdraws what it left on the exchange without writing, as
its stop does and within the stop's deadline (the session's order groups triggered first, then
the rest cancelled), and ends with `StateFileFailed` (exit 21). docs/trade-loop.md "When the
state file fails".
"""

from __future__ import annotations

import threading
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kalshi_cli.runner.execution.give_up import GivenUp
from kalshi_cli.runner.execution.order_group import trigger_each
from kalshi_cli.runner.execution.stop_shares import STOP_SHARES
from kalshi_cli.runner.execution.unknown_orders import LostAnswer, wait_out_unknown
from kalshi_cli.store.errors import StoreError
from kalshi_cli.vocabulary.clock import Deadline
from kalshi_cli.vocabulary.errors import KalshiError, NotFoundError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.units import ZERO

if TYPE_CHECKING:
    from kalshi_cli.runner.loop.trade_loop import TradeLoop


# how a state file that stopped taking writes is made to take them again, said in every hint
MAKE_WRITABLE = "free space on its disk, its permissions, or stop the process holding its lock"


class StateFileFailed(KalshiError):
    """The trade loop stopped because its state file could not be written."""

    exit_code = ExitCode.STATE_WRITE_FAILED


@dataclass
class Withdrawal:
    """What the stop took off the exchange: order ids cancelled, and what may still rest."""

    cancelled: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # order ids, or client order ids if unknown
    groups_triggered: list[str] = field(default_factory=list)  # the session's, by shard
    # client order ids of the orders decided before the failure whose request the stop, or
    # the failed drain that held it for its commit, dropped before it left: never on the
    # exchange (an intent that reached the file stays pending there; one the failed commit
    # took with it never did)
    never_sent: list[str] = field(default_factory=list)

    def text(self) -> str:
        said = f"{len(self.cancelled)} resting order(s) of the loop cancelled on the exchange"
        if self.never_sent:
            said += f"; {len(self.never_sent)} decided order(s) never sent"
        if self.left:
            said += f"; {len(self.left)} may still rest: {', '.join(self.left)}"
        if self.groups_triggered:
            said += f"; its order group(s) {', '.join(self.groups_triggered)} triggered"
        elif self.left:
            said += " (`kalshi cancel-all` takes them)"
        return said


def stop_on_state_failure(
    loop: TradeLoop, exc: StoreError, abandon: threading.Event | None = None
) -> StateFileFailed:
    """Withdraw the loop's orders without writing, say why, and return the error to raise."""
    path = loop.stop.store.path
    loop.log.emit("state_file_failed", {"path": str(path), "error": exc.message})
    withdrawal = withdraw_unrecorded(loop, abandon)
    summary = (
        f"{_cause(exc)}; the trade loop stopped placing orders: {withdrawal.text()}; what the "
        "state file missed (answers, cancels, fills) is on the exchange"
    )
    loop.log.emit(
        "stopped",
        {
            "reason": "state file failed",
            "cancelled": len(withdrawal.cancelled),
            "left": withdrawal.left,
            "never_sent": withdrawal.never_sent,
            "order_groups_triggered": withdrawal.groups_triggered,
        },
    )
    if loop.stop.alerts is not None:
        loop.stop.alerts.post("state_file_failed", "", summary, {"state_file": str(path)})
        loop.stop.alerts.beat("fail", loop.heartbeat.text(f"state file failed: {exc.message}"))
    return StateFileFailed(
        summary,
        hint=f"make it writable again ({MAKE_WRITABLE}), then run `kalshi reconcile`, which "
        "copies that from the exchange, before starting the loop again",
    )


def refused_by_state_file(exc: StoreError) -> StateFileFailed:
    """A state file that failed while no order of the run rests: before the first order (the
    start-up's reconcile, binding, order group) or after a clean stop."""
    return StateFileFailed(
        f"{_cause(exc)}; kalshi trade stopped with none of its orders resting",
        hint=f"make it writable again ({MAKE_WRITABLE}), then start again: it reconciles "
        "before it trades",
    )


def withdraw_unrecorded(loop: TradeLoop, abandon: threading.Event | None = None) -> Withdrawal:
    """Withdraw, writing nothing, as the loop's stop does (runner/loop/stop.py) and within its one
    deadline (the stop's own when the state file failed during one, else one of the same
    length): the session's order groups triggered first (within their share, as the stop's),
    then the loop's resting orders outside a triggered group cancelled one by one, its orders of
    unknown outcome looked up (one still waiting for a send worker is dropped, never sent).
    Without every group triggered, an order of unknown outcome is looked up once a second until
    it shows or can no longer land, as at a shutdown, while the deadline lasts. What the
    deadline or a second Ctrl-C (`abandon`) leaves is named in `left`."""
    # a call decided before the failure and still waiting for a send worker never leaves: it
    # would go out after the lookups below, an order nobody manages (one already on a worker
    # is in flight, looked up below)
    loop.dispatch.close()
    client, done = loop.stop.client, Withdrawal()
    stop_s = loop.stop.settings.stop_deadline_s
    deadline = loop.stop.stop_deadline or Deadline.after(loop.clock, stop_s)
    in_flight = loop.executor.answers.in_flight
    done.never_sent = sorted(in_flight.unsent)
    for client_order_id in done.never_sent:
        intent = in_flight.intents[client_order_id]
        loop.log.emit(
            "intent_dropped",
            {
                "ticker": intent.ticker,
                "client_order_id": client_order_id,
                "reason": "never sent: the state file failed before a send worker took it",
            },
        )
    own = loop.stop.own.resting()
    answers = loop.executor.answers
    groups = answers.order_groups
    untriggered = set(groups.values())
    if groups and not (abandon is not None and abandon.is_set()):
        # the one call that takes every order of a group off at once goes first, within its
        # share even when the failed stop spent the deadline: it is what leaves nothing resting
        with suppress(GivenUp), Deadline.within(loop.clock, STOP_SHARES.triggers * stop_s):
            untriggered = trigger_each(loop.stop.trigger_group, groups, loop.log, len(own), abandon)
    done.groups_triggered = [g for _, g in sorted(groups.items()) if g not in untriggered]
    with deadline.scope():
        for order in own:
            if answers.group_of(order.ticker) in done.groups_triggered:
                continue  # its group's trigger took it off
            if deadline.passed() or (abandon is not None and abandon.is_set()):
                done.left.append(order.order_id)
                continue
            try:
                client.orders.cancel_order(order.order_id, ticker=order.ticker)
            except NotFoundError:
                continue  # no longer resting: filled or cancelled already
            except KalshiError as exc:
                loop.log.emit(
                    "cancel_failed", {"order_id": order.order_id, "error": exc.one_line()}
                )
                done.left.append(order.order_id)
                continue
            done.cancelled.append(order.order_id)
            loop.portfolio.update_order(order.order_id, remaining=ZERO, status="canceled")
        refused_later = bool(groups) and not untriggered
        done.left.extend(_look_up_unknown(loop, done, abandon, refused_later=refused_later))
    return done


def _look_up_unknown(
    loop: TradeLoop, done: Withdrawal, abandon: threading.Event | None, *, refused_later: bool
) -> list[str]:
    """The loop's orders of unknown outcome, and those whose request is still out, looked up and
    cancelled where found resting: once when every group of the session was triggered (it
    refuses what lands later), else until each shows or can no longer land, under the stop's
    deadline (`wait_out_unknown`). The client order ids of those still unknown."""
    client = loop.stop.client
    # a copy: the executor's stays the record of what the state file missed
    unknown = dict(loop.executor.unknown_orders.unknown)
    # an order whose request is still out (a send worker's) or whose answer was never booked
    # may land after this stop began: of unknown outcome from now, looked up as one
    now = loop.clock.monotonic()
    landing_s = loop.executor.unknown_orders.landing_s
    for client_order_id, intent in loop.executor.answers.in_flight.may_land().items():
        unknown.setdefault(client_order_id, LostAnswer(intent.ticker, now))

    def look() -> None:
        for client_order_id, lost in list(unknown.items()):
            try:
                found = client.orders.find_order_by_client_id(client_order_id, lost.ticker)
                if found is not None and found.status == "resting":
                    client.orders.cancel_order(found.order_id, ticker=found.ticker)
                    done.cancelled.append(found.order_id)
            except KalshiError as exc:
                loop.log.emit(
                    "cancel_failed", {"client_order_id": client_order_id, "error": exc.one_line()}
                )
                continue  # looked up again while the wait lasts, else left
            if found is not None or loop.clock.monotonic() - lost.since >= landing_s:
                del unknown[client_order_id]  # settled, or it can no longer land

    if refused_later or (abandon is not None and abandon.is_set()):
        look()  # once: what may still land, the triggered group refuses
    else:
        # no group to refuse it: wait, as a shutdown does, until it shows or cannot land
        wait_out_unknown(unknown, look, loop.clock, loop.log, abandon, landing_s=landing_s)
    return sorted(unknown)


def _cause(exc: StoreError) -> str:
    """The state file's own error (the path and what SQLite said), under any wrapping."""
    root: BaseException = exc
    while isinstance(root.__cause__, StoreError):
        root = root.__cause__
    return root.message if isinstance(root, KalshiError) else str(root)

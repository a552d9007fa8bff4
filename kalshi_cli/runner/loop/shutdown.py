"""The trade loop's stop, in one deadline (`trade.stop_deadline_s`): the calls still out answered
and booked, each set of legs not ended settled and unwound, the loop's orders withdrawn and
proven gone (runner/loop/stop.py), the fills read once more, a last heartbeat, and the summary
`kalshi trade` prints; and what the loop listens to outside let go of, once (`let_go`).

`LoopStop` is what a stop reads of the loop (runner/loop/stop.py `StoppingLoop`), and keeps what
the last stop found: the orders it could not prove gone, the sets it left broken, its deadline.
It is given more than six collaborators because a stop reaches everything that may leave an
order on the exchange or a line unsaid: the client and the dispatch whose calls are out, the
executor's answers, unknown orders and fills, the loop's own orders, the sets of legs, the
trading records of the state file, the heartbeat and the alerts that report it, the strategies
whose workers it closes, the clock of its deadline and the log.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from kalshi_cli.runner.execution.stop_shares import STOP_SHARES
from kalshi_cli.runner.loop.shared import alert_through
from kalshi_cli.runner.loop.stop import withdraw_at_stop
from kalshi_cli.runner.loop.stop_proof import not_proven_text
from kalshi_cli.vocabulary.clock import Deadline

if TYPE_CHECKING:
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.books.records import LoopTradingRecords
    from kalshi_cli.runner.execution.dispatch import Dispatch
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.execution.leg_sets import LegSets
    from kalshi_cli.runner.execution.order_group import TriggersGroup
    from kalshi_cli.runner.execution.own_orders import OwnOrders
    from kalshi_cli.runner.loop.alerting import TradeAlerts
    from kalshi_cli.runner.loop.heartbeat import Heartbeat
    from kalshi_cli.runner.loop.settings import LoopSettings
    from kalshi_cli.runner.loop.shared import Tuning
    from kalshi_cli.runner.loop.summary import Summary
    from kalshi_cli.runner.ports import LoopClient
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import Clock


class LoopStop:
    def __init__(
        self,
        *,
        client: LoopClient,
        clock: Clock,
        log: EntryLog,
        executor: LoopExecutor,
        dispatch: Dispatch,
        own: OwnOrders,
        records: LoopTradingRecords,
        legs: LegSets,
        heartbeat: Heartbeat,
        alerts: TradeAlerts | None,
        tuning: Tuning,
        trigger_group: TriggersGroup | None = None,
        on_let_go: Callable[[], None] | None = None,
    ) -> None:
        self.client, self.clock, self.log = client, clock, log
        self.executor, self.dispatch, self.own = executor, dispatch, own
        self.records, self.legs, self.heartbeat = records, legs, heartbeat
        self.alerts = alerts
        self._alert = alert_through(alerts)
        self._tuning = tuning
        # the trigger of the session's order groups, called with a group's id and its shard
        # (runner/loop/stop.py)
        self.trigger_group = trigger_group
        # what to let go of once (the client's fill quarantine): after the stop's last read of
        # the fills, or when a loop built at start is discarded
        self._on_let_go = on_let_go
        # the loop's orders its last stop could not prove gone (empty: proven, or no stop yet)
        self.not_proven: tuple[str, ...] = ()
        # the sets of legs its last stop left broken (runner/execution/leg_sets.py)
        self.broken_sets: tuple[str, ...] = ()
        self.sets_held: tuple[str, ...] = ()
        self.unlisted = ""  # why no listing proved the stop ("": one did)
        # the stop's one deadline (`trade.stop_deadline_s`), from its start: what ends the
        # session's order group after it runs under what is left (None: no stop yet)
        self.stop_deadline: Deadline | None = None
        # what the last stop met and went on past (an answer's booking, a step of its withdrawal),
        # logged where it was met and raised once the stop ran to its end (None: nothing)
        self.failed: Exception | None = None

    @property
    def store(self) -> Store:
        """The state file (the trading records read from it)."""
        return self.records.store

    @property
    def settings(self) -> LoopSettings:
        return self._tuning.settings

    def let_go(self) -> None:
        """Close the strategies' workers, and stop listening outside the loop (`on_let_go`),
        once."""
        for member in self._tuning.lineup:
            member.close()
        if self._on_let_go is not None:
            let_go, self._on_let_go = self._on_let_go, None
            let_go()

    def _before_withdrawal(self, abandon: threading.Event | None) -> Exception | None:
        """The stop's steps before its withdrawal, under the deadline the caller runs them in:
        the calls still out answered and booked, the sets of legs settled and unwound. The
        failure of a booking, raised once the stop has withdrawn."""
        # the calls still out are answered and booked first (within the stop's deadline),
        # so the orders they placed are known to the withdrawal; an order whose answer is
        # still not back may yet land: it is an order of unknown outcome to the stop; a
        # second SIGINT or SIGTERM ends this wait as it ends the withdrawal's; an order a
        # failed drain never made (runner/execution/dispatch.py) is no such order. The wait
        # ends within its share, so the sets of legs keep theirs (runner/execution/stop_shares.py)
        calls_out_s = STOP_SHARES.calls_out * self.settings.stop_deadline_s
        settled = self.dispatch.settle(self.clock, calls_out_s, abandon)
        # an answer whose booking failed (a bug, or a call that raised what no booking
        # expects) ends the run as a crash, but only once the stop has withdrawn what the
        # other answers placed: the order it concerned may rest, so the exit is never 0
        failed = self.dispatch.failed
        if failed is not None:
            self.log.emit("shutdown_booking_failed", {"error": repr(failed)})
        # the calls no worker took are dropped before what is out is called unknown: their
        # orders never leave, so neither this stop nor the next start waits for them to land
        self.dispatch.close()
        self.executor.answers.never_made()
        if not settled:
            self.executor.unknown_orders.unanswered(
                self.executor.answers.in_flight.may_land(),
                "its answer was not back when the loop stopped",
            )
        # each set of legs not ended is settled and unwound before the withdrawal: once the
        # session's order group is triggered it refuses the sales back too. A set left broken
        # is not proven either
        if not self.settings.dry_run:
            broken, held = self.legs.finish_at_stop(abandon)
            self.broken_sets, self.sets_held = tuple(broken), tuple(held)
        return failed

    def shutdown(self, *, cancel_resting: bool, abandon: threading.Event | None = None) -> Summary:
        """Withdraw the orders this loop placed (never orders placed by hand) and prove it,
        all within `trade.stop_deadline_s` (runner/loop/stop.py), read the fills once more,
        write a last heartbeat, and return the final summary, which names the orders not proven
        gone. Once `abandon` is set (a second Ctrl-C: the person will not wait for an exchange that
        answers slowly), what is left is given up and logged, and fills are not read again."""
        self.failed = None
        self.executor.stopping = True  # what the answers booked below would send, is not
        # nor, in a stop that withdraws, what still waits for a send worker (`--once` ends its
        # one pass with its orders sent and left resting)
        self.dispatch.stopping = cancel_resting
        deadline = self.stop_deadline = Deadline.after(self.clock, self.settings.stop_deadline_s)
        with deadline.scope():
            abandoned = False
            withdraws = cancel_resting and not self.settings.dry_run
            # the steps before the withdrawal leave it its share of the deadline, whatever they
            # take: else its trigger and cancels, made past the deadline, are never sent
            kept_s = STOP_SHARES.withdrawal * self.settings.stop_deadline_s if withdraws else 0.0
            with Deadline.within(self.clock, self.settings.stop_deadline_s - kept_s):
                failed = self._before_withdrawal(abandon)
            if withdraws:
                proof = withdraw_at_stop(self, deadline, abandon)
                self.not_proven, abandoned = proof.left, proof.abandoned
                failed = failed or proof.failed
                self.unlisted = proof.unlisted
                if not proof.proven and not abandoned:
                    self._alert(
                        "stop_not_proven",
                        "stop",
                        not_proven_text(proof.left, proof.unlisted, most=10),
                        {
                            "left_resting": ", ".join(proof.left),
                            "unlisted": proof.unlisted,
                        },
                    )
            # a second interrupt that came once the proof had looked still means no more waiting
            if not abandoned and not (abandon is not None and abandon.is_set()):
                self.executor.fills.sync()  # with what the stop's deadline leaves
        # only now: a fill that last read left out for a missing field is still told
        self.let_go()
        self.heartbeat.beat()
        summary = replace(
            self.heartbeat.summary(),
            not_proven=self.not_proven,
            unlisted=self.unlisted,
            broken_sets=self.broken_sets,
            sets_held=self.sets_held,
        )
        self.log.emit("stopped", summary.to_json())
        self.failed = failed
        if failed is not None:
            raise failed
        return summary

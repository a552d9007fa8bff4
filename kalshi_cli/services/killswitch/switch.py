"""The kill switch: halt, cancel everything, then prove nothing is left.

`KillSwitch.run` takes the steps of docs/kill-switch.md in order: record HALTED, trigger the trade
loop's order groups (`order_groups`), the exchange's cancel-all or batched cancels under a filter
(`cancel`), close the RFQ side (`rfqs`), then list and cancel again until a listing taken after
the read lag comes back empty while no order of the state file can still land, or the run's one
`clock.Deadline` is spent (`proof`). Only such a listing is proof; the cancels go out whatever the
state file does. Each step reads what the ones before it saw from the run's `Pull`, and every call
to the exchange is tried under that deadline by the run's one `Tries` (`pull`).
"""

from __future__ import annotations

import random
from contextlib import suppress
from typing import TYPE_CHECKING

from kalshi_cli.services.killswitch.cancel import KillCancels
from kalshi_cli.services.killswitch.order_groups import GroupTriggers
from kalshi_cli.services.killswitch.proof import Proof
from kalshi_cli.services.killswitch.pull import DeadlinePassed, Pull, Tries
from kalshi_cli.services.killswitch.report import (
    LOCK_HELD,
    KillReport,
    Trail,
    locked,
)
from kalshi_cli.services.killswitch.rfqs import RfqSide
from kalshi_cli.services.reconcile import DEFAULT_READ_LAG_S
from kalshi_cli.store import AccountStateUnknown, StoreError
from kalshi_cli.store.records import PENDING, RESTING, UNKNOWN
from kalshi_cli.vocabulary.clock import Deadline
from kalshi_cli.vocabulary.errors import KalshiError

if TYPE_CHECKING:
    from collections.abc import Callable

    from kalshi_cli.client.pacing import Pacing
    from kalshi_cli.services.killswitch.pull import CancelsOrders, ClosesRfqs
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import Clock

# How long the switch keeps cancelling and listing before it gives up proving (docs/kill-switch.md).
DEFAULT_DEADLINE_S = 60.0


class KillSwitch:
    def __init__(
        self,
        client: CancelsOrders,
        store: Store | None,
        clock: Clock,
        *,
        deadline_s: float = DEFAULT_DEADLINE_S,
        batch_size: int | None = None,
        rng: random.Random | None = None,
        halt_wait_s: float = 1.0,
        record_wait_s: float = 10.0,
        state_error: str | None = None,
        read_lag_s: float = DEFAULT_READ_LAG_S,
        communications: ClosesRfqs | None = None,
        state_fault: KalshiError | None = None,
        pace: Callable[[], Pacing] | None = None,
    ) -> None:
        """`halt_wait_s`/`record_wait_s`: how long HALTED, then what is recorded at the end,
        may wait for another writer's lock. `batch_size`: cancels a batch (None: as many as one
        request of the client carries, `cancels_per_batch`). `state_error`/`state_fault`: why
        there is no `store` (a lock held by another writer is no proof). `communications`: the
        RFQ side closed in step 2b (None on a paper loop). `pace`: see `_pace`."""
        self._client = client
        self._store = store
        self._clock = clock
        self._deadline_s = deadline_s
        self._halt_wait_s = halt_wait_s
        self._record_wait_s = record_wait_s
        self._state_error = state_error
        self._state_fault = state_fault
        self._read_lag_s = read_lag_s
        self._pacing = pace
        tries = Tries(clock, rng or random.Random())
        self._groups = GroupTriggers(client, store, tries, clock, deadline_s, halt_wait_s)
        self._cancels = KillCancels(client, tries, clock, deadline_s, read_lag_s, batch_size)
        self._rfqs = RfqSide(client, communications, tries, clock, deadline_s, read_lag_s)
        self._proof = Proof(store, self._cancels, tries, clock, read_lag_s)

    def run(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        source: str = "cancel-all",
        on_progress: Callable[[str], None] | None = None,
        unconfirmed: str | None = None,
    ) -> KillReport:
        """The steps of docs/kill-switch.md, in the order they go out. `unconfirmed`: why the
        exchange did not confirm the scope's spelling; no listing of it then proves anything."""
        run = self._start(ticker, event_ticker, source, on_progress)
        self._halt(run)  # 1
        # the client's requests run under the deadline too (the module docstring)
        with Deadline.after(self._clock, self._deadline_s).scope() as deadline:
            run.deadline = deadline.at
            self._read_known(run)
            self._groups.trigger(run)  # 2
            self._pace(run)  # 2a, with a filter
            try:
                self._cancels.exchange_cancel_all(run)  # 3, with no filter
                self._cancels.cancel_known(run)  # 3 with a filter, before any listing
                self._rfqs.close(run)  # 2b
                self._proof.cancel_and_prove_in_rounds(run)  # 3 with a filter, and 4
            except DeadlinePassed:
                run.report.proven = False
            self._rfqs.prove_closed(run)
            self._cancels.count_what_the_cancel_all_cancelled(run)
            self._cancels.look_up_what_lost_cancels_left(run)
            self._name_what_may_be_left(run)
            self._record_halted_at_last(run)
            self._refuse_proof_while_a_loop_may_place(run)
            self._refuse_proof_of_an_unconfirmed_scope(run, unconfirmed)
            self._groups.book(run)
            # the orders confirmed cancelled or proven gone, and the `kill_switch_result` event
            gone = self._gone(run)
            self._cancels.read_what_ended_uncancelled(run, gone)
            wait_s = self._halt_wait_s if run.report.halted else 0.0
            run.trail.result(wait_s, run.listed.values(), gone, run.read_back)
        return run.report

    def _start(
        self,
        ticker: str | None,
        event_ticker: str | None,
        source: str,
        on_progress: Callable[[str], None] | None,
    ) -> Pull:
        report = KillReport()
        scope = ticker or event_ticker or "all markets"
        trail = Trail(
            self._store,
            report,
            reason=f"kill switch ({scope})",
            source=source,
            started={"ticker": ticker, "event_ticker": event_ticker},
        )
        if self._store is not None:
            with suppress(StoreError):  # the cancels matter more than this list
                report.broken_sets = self._store.leg_sets.not_ended()
        if self._store is None:
            report.state_error = self._state_error or "no state file"
            trail.locked = locked(self._state_fault)
            report.account_state_unknown = isinstance(self._state_fault, AccountStateUnknown)
        return Pull(
            report=report,
            trail=trail,
            say=on_progress or (lambda _msg: None),
            ticker=ticker,
            event_ticker=event_ticker,
        )

    def _halt(self, run: Pull) -> None:
        """Step 1: HALTED first, so a running trade loop stops placing while we cancel; but
        never in their way (it waits at most `halt_wait_s` for another writer's lock)."""
        run.halt(self._halt_wait_s, self._clock)
        if not run.report.halted:
            run.say(f"HALTED not recorded ({run.report.state_error}); cancelling anyway")
        run.settled_at = self._clock.monotonic() + self._read_lag_s

    def _pace(self, run: Pull) -> None:
        """Step 2a: with a filter, batched cancels go at the account's own rate limits
        (`client/pacing.py`); the one cancel-all request without a filter does not wait on it."""
        if self._pacing is not None and (run.ticker or run.event_ticker):
            run.say(f"rate limits: {self._pacing().describe()}")

    def _read_known(self, run: Pull) -> None:
        """The state file's orders that may rest in scope (none by event, which a row does not
        name), read before any cancel: step 3's with a filter, and what an unproven report
        names."""
        if self._store is None or run.event_ticker is not None:
            return
        scope = self._client.subaccount
        with suppress(StoreError):
            for intent in self._store.orders.intents(
                status=[PENDING, UNKNOWN, RESTING], ticker=run.ticker
            ):
                if intent.order_id and (scope is None or intent.subaccount == scope):
                    run.known[intent.order_id] = intent

    def _name_what_may_be_left(self, run: Pull) -> None:
        """Not proven with no listing read after the cancels: every order known (the state
        file's and any listing's) not confirmed cancelled may be left. And every order named
        gets its client order id and strategy, the state file's when it knows them."""
        report = run.report
        if not report.proven and run.latest is None:
            confirmed = set(report.cancelled)
            report.left = [i for i in {**run.listed, **run.known} if i not in confirmed]
        for order_id in dict.fromkeys([*report.cancelled, *report.left]):
            intent = run.known.get(order_id)
            listed = run.listed.get(order_id)
            if intent is None and self._store is not None:
                with suppress(StoreError):
                    intent = self._store.orders.intent_by_order_id(order_id)
                    if intent is None and listed is not None and listed.client_order_id:
                        # its create's answer was lost: the row knows it by its client order id
                        intent = self._store.orders.get_intent(listed.client_order_id)
            coid = intent.client_order_id if intent else listed.client_order_id if listed else ""
            report.owners[order_id] = (coid or None, intent.strategy if intent else None)

    def _record_halted_at_last(self, run: Pull) -> None:
        """What could not be recorded yet gets one more chance, waiting for a lock a little;
        a HALTED recorded only after the proof's listing must not have let an order by."""
        report = run.report
        remaining = max(0.0, run.deadline - self._clock.monotonic())
        was_halted = report.halted
        run.halt(max(self._halt_wait_s, min(remaining, self._record_wait_s)), self._clock)
        if report.halted and not was_halted:
            run.say("HALTED recorded, after the cancels")
            self._proof.late_halted(run)

    @staticmethod
    def _gone(run: Pull) -> list[str]:
        """The orders the state file held resting in scope before the cancels, or any listing of
        this run showed, that no cancel of this run confirmed and that the proof's empty listing
        shows resting no longer: the exchange ended them itself (their market settled, their
        group triggered, its cancel-all took them uncounted) or they filled. Each is booked as the
        exchange shows it read by its id (`read_what_ended_uncancelled`); one not read, as the
        trade loop books an order it no longer sees listed (`book_cancel`: a fill already booked
        wins), and `kalshi reconcile` copies any fills."""
        if not run.report.proven:
            return []
        cancelled = set(run.report.cancelled)
        resting = [i for i, intent in run.known.items() if intent.status == RESTING]
        return [i for i in dict.fromkeys([*resting, *run.listed]) if i not in cancelled]

    @staticmethod
    def _refuse_proof_of_an_unconfirmed_scope(run: Pull, unconfirmed: str | None) -> None:
        """An empty listing of a spelling the exchange never confirmed is no proof: typed in
        another case than the market's, it lists nothing while the market's orders rest."""
        if unconfirmed is None:
            return
        run.report.proven = False
        run.report.errors.append(
            f"{unconfirmed}; run `kalshi cancel-all` again once the exchange answers, or "
            "`kalshi cancel-all` without --ticker or --event"
        )

    def _refuse_proof_while_a_loop_may_place(self, run: Pull) -> None:
        """HALTED reached no loop that may place after the listing: another writer held the
        lock to the end (a loop waiting for it places next), or the account's own state file
        could not be told (a live loop on it re-quotes at once)."""
        report = run.report
        if not report.proven or report.halted:
            return
        if run.trail.locked:
            report.proven = False
            report.errors.append(LOCK_HELD)
        elif report.account_state_unknown and report.state_error is not None:
            report.proven = False
            report.errors.append(report.state_error)


def run_kill_switch(
    client: CancelsOrders,
    open_store: Callable[[], Store],
    clock: Clock,
    *,
    deadline_s: float = DEFAULT_DEADLINE_S,
    read_lag_s: float = DEFAULT_READ_LAG_S,
    ticker: str | None = None,
    event_ticker: str | None = None,
    source: str = "cancel-all",
    on_progress: Callable[[str], None] | None = None,
    communications: ClosesRfqs | None = None,
    pace: Callable[[], Pacing] | None = None,
    unconfirmed: str | None = None,
) -> KillReport:
    """Halt, cancel, prove, whatever the state file does: `open_store` failing is named in the
    report (`state_error`) and the cancels go out anyway. `unconfirmed`: why the exchange did
    not confirm the spelling of `ticker` or `event_ticker` (`refuse_an_unknown_scope`).
    `kalshi cancel-all` and the dashboard's kill key both pull the switch through here."""
    store = None
    state_error = None
    state_fault: KalshiError | None = None
    try:
        store = open_store()
    except KalshiError as exc:
        state_error, state_fault = exc.one_line(), exc
    try:
        switch = KillSwitch(
            client,
            store,
            clock,
            deadline_s=deadline_s,
            state_error=state_error,
            read_lag_s=read_lag_s,
            communications=communications,
            state_fault=state_fault,
            pace=pace,
        )
        return switch.run(
            ticker=ticker,
            event_ticker=event_ticker,
            source=source,
            on_progress=on_progress,
            unconfirmed=unconfirmed,
        )
    finally:
        if store is not None:
            store.close()

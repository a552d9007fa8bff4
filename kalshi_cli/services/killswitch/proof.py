"""Step 4 of the kill switch, the proof: list and cancel in rounds until a listing requested
after the read lag comes back empty while no order of the state file can still land, or the
run's deadline is spent. Only such a listing is proof; and a HALTED recorded only after it
reads the state file again, as of that listing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kalshi_cli.store import StoreError
from kalshi_cli.store.records import IN_FLIGHT_S, PENDING, RESTING, UNKNOWN

if TYPE_CHECKING:
    from kalshi_cli.services.killswitch.cancel import KillCancels
    from kalshi_cli.services.killswitch.pull import Pull, Tries
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.clock import Clock


@dataclass
class Proof:
    store: Store | None
    cancels: KillCancels
    tries: Tries
    clock: Clock
    read_lag_s: float

    def cancel_and_prove_in_rounds(self, run: Pull) -> None:
        """Step 4 (with a filter its first round is step 3's listing and cancels): list,
        cancel what is still resting, until a listing that counts as proof comes back empty
        or the deadline passes."""
        while not self._round(run):
            pass

    def _round(self, run: Pull) -> bool:
        """One listing and what it calls for. True: it is the proof."""
        report = run.report
        report.rounds += 1
        if run.cancelled_since_listing:
            # a listing any sooner could still show what was just cancelled
            self.tries.wait_until(run.settled_at, run.deadline)
        asked, asked_wall = self.clock.monotonic(), self.clock.wall()
        resting = self.cancels.list_resting(run)
        run.latest = {o.order_id for o in resting}
        report.left = [o.order_id for o in resting]
        if resting:
            self.cancels.cancel_round(run, resting)
            return False
        if asked < run.settled_at:
            # it may predate HALTED: an order placed just before may not be listed yet
            run.say(f"round {report.rounds}: none resting, listing again after the read lag")
            self.tries.wait_until(run.settled_at, run.deadline)
            return False
        waiting = self._why_empty_is_no_proof(run, asked, asked_wall)
        if waiting is None:
            report.proven = True
            run.proof_asked = asked_wall
            return True
        if waiting not in report.errors:
            report.errors.append(waiting)
        run.say(f"round {report.rounds}: none resting, but {waiting}")
        self.tries.pause(report.rounds, run.deadline)
        return False

    def _why_empty_is_no_proof(self, run: Pull, asked: float, asked_wall: float) -> str | None:
        """Why an empty listing requested at `asked` is no proof, by the state file's order
        intents, or, when they cannot be read, by the time since HALTED (None: it is proof)."""
        try:
            return self._waiting(run.ticker, asked_wall, run.landed)
        except StoreError as exc:
            # no row can say what is still in the network: only time since HALTED
            run.halt(0.0, self.clock)
            return self._unreadable(exc, asked, run.halted_at)

    def late_halted(self, run: Pull) -> None:
        """HALTED was recorded only after the proof's listing: a loop that got the state file's
        lock before the switch may have recorded an intent in between, and sent its order after
        that listing. The intents are read again, as of that listing: one it cannot account for
        takes the proof back (and is named even when the RFQ side took it back already)."""
        if run.proof_asked is None:  # no empty listing counted
            return
        try:
            waiting = self._waiting(run.ticker, run.proof_asked, run.landed)
        except StoreError as exc:
            waiting = f"the state file's order intents cannot be read ({exc.one_line()})"
        if waiting is not None:
            run.report.proven = False
            run.report.errors.append(
                f"HALTED was recorded only after the last listing, and {waiting} "
                "(run `kalshi cancel-all` again)"
            )

    def _waiting(
        self,
        ticker: str | None,
        asked: float,  # wall time
        landed: set[str],
    ) -> str | None:
        """Why an empty listing requested at `asked` is no proof, by the state file's order
        intents (None: it is proof). Raises StoreError when they cannot be read."""
        if self._in_flight(ticker, asked):
            # an order whose intent is still pending may land after this listing
            return "an order of this state file is still awaiting its answer"
        late = self._may_still_land(ticker, landed)
        if not late:
            return None
        # a request held in the network can land after this listing
        from kalshi_cli.client.client import LANDING_WINDOW_S

        return (
            f"{late} order(s) whose answer was lost may still land "
            f"(up to {LANDING_WINDOW_S:g}s after the answer was lost)"
        )

    def _in_flight(self, ticker: str | None, asked: float) -> bool:  # wall time
        """Could an order of this state file be missing from a listing requested at `asked`?
        A `pending` intent younger than IN_FLIGHT_S may still land (an older one is a crash's
        leftover), and one acknowledged (`resting`) within the read lag may not be listed yet."""
        if self.store is None:
            return False
        unsettled = self.store.orders.intents(status=[PENDING, RESTING], ticker=ticker)
        now = self.clock.wall()
        return any(
            now - intent.created_at < IN_FLIGHT_S
            if intent.status == PENDING
            else intent.updated_at > asked - self.read_lag_s
            for intent in unsettled
        )

    def _may_still_land(self, ticker: str | None, landed: set[str]) -> int:
        """How many orders of this state file whose answer was lost (`unknown`) could still
        reach the exchange: none marked more than LANDING_WINDOW_S ago (its signature has
        expired), and none a listing of this run showed (it landed and was cancelled)."""
        from kalshi_cli.client.client import LANDING_WINDOW_S

        if self.store is None:
            return 0
        lost = self.store.orders.intents(status=UNKNOWN, ticker=ticker)
        now = self.clock.wall()
        return sum(
            1
            for intent in lost
            if intent.client_order_id not in landed and now - intent.updated_at < LANDING_WINDOW_S
        )

    def _unreadable(
        self,
        exc: StoreError,
        asked: float,  # monotonic
        halted_at: float | None,  # monotonic
    ) -> str | None:
        """Why an empty listing requested at `asked` is no proof when the state file's order
        intents cannot be read (None: it is proof). Then only time can say: no intent is
        recorded once HALTED is, and one recorded before lands within IN_FLIGHT_S, so a
        listing whose read lag reaches past that since HALTED shows every one. Without HALTED
        recorded, a running trade loop may still place, and no listing is proof."""
        why = f"the state file's order intents cannot be read ({exc.one_line()})"
        if halted_at is None:
            return f"{why} and HALTED is not recorded: a running trade loop may still place orders"
        if asked - self.read_lag_s >= halted_at + IN_FLIGHT_S:
            return None
        return (
            f"{why}: an order of it may still land until {IN_FLIGHT_S:g}s after HALTED was recorded"
        )

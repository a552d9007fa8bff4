"""Step 3 of the kill switch, the cancels: the exchange's own cancel-all with no filter, the
state file's orders with one, then in each round of the proof what a listing still shows
resting, each cancel item naming its order's subaccount; and, after the proof, which orders the
cancel-all took off the book rather than let fill."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from kalshi_cli.services.killswitch.batch_shares import (
    BatchRefused,
    cancel_in_shares,
    cancels_per_batch,
    refused_whole,
)
from kalshi_cli.services.killswitch.pull import DeadlinePassed
from kalshi_cli.services.reconcile import account_resting, account_subaccounts
from kalshi_cli.vocabulary.clock import Deadline, parse_iso
from kalshi_cli.vocabulary.errors import (
    MAY_PASS,
    ApiError,
    KalshiError,
    NotSentPastDeadline,
    refuses_the_key,
)
from kalshi_cli.vocabulary.units import ZERO

if TYPE_CHECKING:
    from kalshi_cli.client.requests import CancelResult
    from kalshi_cli.services.killswitch.pull import CancelsOrders, Pull, Tries
    from kalshi_cli.store import IntentRecord
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.models import Order

# The share of the deadline the listing before the exchange's cancel-all may spend (it only
# names what the cancel-all took), so a slow listing never holds the cancel-all back.
LIST_FIRST_SHARE = 0.05
# The share of the deadline the exchange's cancel-all is tried again in. It is one request for
# every shard: failing past this share (a 5xx, no answer), the rounds cancel order by order,
# each cancel routed to its market's shard, rather than leave every order resting to the end.
CANCEL_ALL_SHARE = 0.25


@dataclass
class KillCancels:
    client: CancelsOrders
    tries: Tries
    clock: Clock
    deadline_s: float
    read_lag_s: float
    batch_size: int | None  # None: as many as one request of the client carries

    def exchange_cancel_all(self, run: Pull) -> None:
        """Step 3 with no filter: list the resting orders once within `LIST_FIRST_SHARE` of the
        deadline (so the report can name them), then the exchange's own cancel-all. A slow or
        failed first listing must not hold it back."""
        if not run.every_market:
            return
        listed = False
        with (
            suppress(DeadlinePassed),
            Deadline.within(self.clock, LIST_FIRST_SHARE * self.deadline_s) as step,
        ):
            self.list_resting(run, min(run.deadline, step.at))
            listed = True
        refused: list[ApiError] = []
        failed: list[KalshiError] = []

        def cancel_all() -> None:
            try:
                self.client.orders.cancel_all_orders()
            except NotSentPastDeadline:
                raise  # its share was spent before it went out: no failure of the exchange's
            except MAY_PASS as exc:
                failed.append(exc)
                raise  # retried
            except ApiError as exc:
                if refuses_the_key(exc):
                    failed.append(exc)
                    raise
                refused.append(exc)

        share = CANCEL_ALL_SHARE * self.deadline_s
        try:
            with Deadline.within(self.clock, share) as step:
                self.tries.call(cancel_all, min(run.deadline, step.at), run.report)
        except DeadlinePassed:
            if not self._may_go_on_after(failed, run):
                raise
            run.say(f"the exchange's cancel-all failed for {share:g}s: cancelling order by order")
            from kalshi_cli.client.retry import may_have_acted  # the client: not for `config show`

            if any(map(may_have_acted, failed)):  # an answer lost: it may have gone through
                run.report.exchange_cancel_all = True
                run.report.uncounted = not listed
                self._sent(run)
            return
        if refused:
            # refused for this call (a key that may cancel only its own subaccount's orders):
            # the rounds below cancel what rests order by order, and prove it
            run.report.errors.append(refused[0].one_line())
            run.say("the exchange refused its cancel-all: cancelling order by order")
            return
        run.report.exchange_cancel_all = True
        run.report.uncounted = not listed  # what rested before it is not known
        self._sent(run)
        run.say(f"exchange cancel-all sent ({len(run.listed)} resting before)")

    def _may_go_on_after(self, failed: list[KalshiError], run: Pull) -> bool:
        """Whether the run may go on with its other requests once one request's share of the
        deadline is spent (the cancel-all's: the rounds cancel order by order; a batch's: the
        other batches go out) after `failed`: not when the run's deadline is spent, nor after a
        failure that will not pass (a refused key), nor once no connection has reached the
        exchange for long enough to give the run up (`Tries.call`)."""
        if self.clock.monotonic() >= run.deadline or self.tries.given_up_unreachable():
            return False
        return not failed or isinstance(failed[-1], MAY_PASS)

    def cancel_known(self, run: Pull) -> None:
        """Step 3 without the exchange's cancel-all (a filter, or a cancel-all refused): the
        state file's orders in scope are cancelled before any listing, which a slow exchange
        may not answer in time; the rounds then list and cancel what else rests."""
        if run.report.exchange_cancel_all or not run.known:
            return
        run.say(f"cancelling the state file's {len(run.known)} order(s) first")
        with suppress(DeadlinePassed):
            self._cancel_batch(list(run.known.values()), run)
            self._sent(run)

    def cancel_round(self, run: Pull, resting: list[Order]) -> None:
        """Cancel in batches what a listing still showed resting."""
        report = run.report
        run.say(f"round {report.rounds}: {len(resting)} resting, cancelling")
        run.halt(0.0, self.clock)  # if the state file has become writable since, not waiting
        self._cancel_batch(resting, run)
        self._sent(run)
        if report.rounds > 1:
            # an order the exchange keeps refusing to cancel must not turn the proof into a
            # loop that spends the whole rate budget until the deadline
            self.tries.pause(report.rounds - 1, run.deadline)
        if self.clock.monotonic() >= run.deadline:
            raise DeadlinePassed

    def _sent(self, run: Pull) -> None:
        """Cancels were answered: a listing requested within the read lag may not show them."""
        run.settled_at = self.clock.monotonic() + self.read_lag_s
        run.cancelled_since_listing = True

    def list_resting(self, run: Pull, deadline: float | None = None) -> list[Order]:
        orders = self.tries.call(
            lambda: self._named(run, self._resting_in_scope(run, self.client)),
            run.deadline if deadline is None else deadline,
            run.report,
        )
        for order in orders:
            run.listed.setdefault(order.order_id, order)
            run.landed.add(order.client_order_id)
        return orders

    @staticmethod
    def _resting_in_scope(run: Pull, client: CancelsOrders) -> list[Order]:
        orders = client.orders.iter_orders(
            ticker=run.ticker, event_ticker=run.event_ticker, status="resting"
        )
        return list(orders)

    def _named(self, run: Pull, orders: list[Order]) -> list[Order]:
        """`orders`, each naming its subaccount. A listing on no subaccount covers every one,
        but an order names its subaccount to direct members only, and a cancel item naming none
        is the primary's (openapi.yaml): such an order is found in its own subaccount's listing,
        each once (`run.whose`), or its cancel would be refused round after round."""
        if self.client.subaccount is not None:
            return orders  # its own subaccount's alone, and its cancels go there
        if any(o.subaccount is None and o.order_id not in run.whose for o in orders):
            try:
                numbers = account_subaccounts(self.client)
                if len(numbers) > 1:
                    each = account_resting(
                        self.client,
                        numbers=numbers,
                        ticker=run.ticker,
                        event_ticker=run.event_ticker,
                    )
                    run.whose.update({i: order.subaccount for i, order in each.items()})
            except KalshiError as exc:
                # costs the orders whose subaccount it would tell, never the listing: the
                # others are cancelled all the same
                run.report.errors.append(
                    f"could not tell the subaccount of every order: {exc.one_line()}"
                )
            for order in orders:  # one subaccount, or not listed on its own: as the exchange
                run.whose.setdefault(order.order_id, None)  # reads an item naming none
        return [
            msgspec.structs.replace(o, subaccount=found)
            if o.subaccount is None and (found := run.whose.get(o.order_id)) is not None
            else o
            for o in orders
        ]

    def count_what_the_cancel_all_cancelled(self, run: Pull) -> None:
        """The orders of the first listing that the latest no longer shows, and that no batch
        confirmed, were taken off by the exchange's cancel-all or filled: an order was cancelled
        with what its listed count leaves after all its fills. Fills are read from the oldest
        order's creation (a listing of fills is never older than a listing of orders, and by
        now it is past the read lag of the cancel-all)."""
        report = run.report
        if not report.exchange_cancel_all:
            return
        if run.latest is None:  # no listing after it could be read
            report.uncounted = True
            return
        confirmed = set(report.cancelled)
        gone = [
            order
            for order_id, order in run.listed.items()
            if order_id not in run.latest and order_id not in confirmed
        ]
        if not gone:
            return
        try:
            since: int | None = (
                min(int(parse_iso(o.created_time or "").timestamp()) for o in gone) - 1
            )
        except ValueError:
            since = None  # a creation time that does not parse: every fill
        try:
            fills = self.tries.call(
                lambda: list(self.client.portfolio.iter_fills(min_ts=since)), run.deadline, report
            )
        except DeadlinePassed:
            report.errors.append(
                f"{len(gone)} order(s) gone after the cancel-all, not counted: their fills could "
                "not be read (`kalshi reconcile` settles them)"
            )
            report.uncounted = True
            return
        filled: dict[str, Decimal] = {}
        for fill in fills:
            filled[fill.order_id] = filled.get(fill.order_id, ZERO) + fill.count
        for order in gone:
            left = order.fill_count + order.remaining_count - filled.get(order.order_id, ZERO)
            if left > 0:
                report.cancelled.append(order.order_id)
                report.contracts_cancelled += left

    def _batch_cancel(self, chunk: Sequence[Order | IntentRecord]) -> list[CancelResult]:
        """A listing covers every subaccount, and a cancel item the exchange reads as
        subaccount 0's unless it names another: each item names its order's."""
        pairs: list[tuple[str, str | None]] = [(o.order_id or "", o.ticker) for o in chunk]
        elsewhere = {o.order_id or "": o.subaccount for o in chunk if o.subaccount}
        if elsewhere:
            return self.client.orders.batch_cancel(pairs, subaccounts=elsewhere)
        return self.client.orders.batch_cancel(pairs)

    def _cancel_batch(self, orders: Sequence[Order | IntentRecord], run: Pull) -> None:
        """`orders` cancelled in batches as large as one request of the client carries
        (`cancels_per_batch`, unless `batch_size` says), each within its share of what is left
        until the run's deadline (`cancel_in_shares`)."""

        def send(chunk: list[Order | IntentRecord], ends: float, lost: bool) -> None:
            share = ends - self.clock.monotonic()
            try:
                results = self._send(chunk, run, ends, lost=lost)
            except BatchRefused:
                said = f"a batch of {len(chunk)} cancel(s) was refused"
                run.say(f"{said}: cancelling its orders one by one")
                raise
            if results is None:
                run.say(f"a batch of {len(chunk)} cancel(s) failed for {share:g}s: going on")
                return  # its orders still rest: the next listing shows them
            self._count_answered(results, run)

        size = self.batch_size or cancels_per_batch(self.client.orders, len(orders))
        cancel_in_shares(self.clock, orders, size, run.deadline, send)

    @staticmethod
    def _count_answered(results: list[CancelResult], run: Pull) -> None:
        """Each order's cancel counted as its batch was answered. One refused only when sent
        again after its answer was lost, by the client's retries or the switch's own, is
        `doubted`: the lost cancel may have taken it, or it filled (`look_up_...`)."""
        report = run.report
        for r in results:
            if r.error is None:
                report.cancelled.append(r.order_id)
                report.contracts_cancelled += r.reduced_by
            elif r.after_lost_answer:
                run.doubted[r.order_id] = r.error
            else:
                report.errors.append(f"{r.order_id}: {r.error}")

    def _send(
        self, chunk: Sequence[Order | IntentRecord], run: Pull, until: float, *, lost: bool
    ) -> list[CancelResult] | None:
        """One batch's results, tried again until `until` (its share of the deadline), each
        try's request cut to it as well: one the exchange never answers ends with the share,
        not the run. Each refused one marked when an earlier try's answer was lost, or `lost`
        (the orders sent again from a batch whose try lost its answer). None when the share
        was spent on failures that pass and the run goes on (`_may_go_on_after`);
        `BatchRefused` when the exchange refused a request of several orders whole (not the
        key). A request of one order refused whole is that order's refusal, as its item's
        would be: marked so too, it is in doubt whatever the size of the batch it first went
        in (`_count_answered`)."""
        # the client: not for `config show`
        from kalshi_cli.client.requests import CancelResult, after_lost_answer
        from kalshi_cli.client.retry import may_have_acted

        failed: list[KalshiError] = []

        def send() -> list[CancelResult]:
            try:
                return self._batch_cancel(chunk)
            except KalshiError as exc:
                failed.append(exc)
                raise

        try:
            with Deadline(self.clock, until).scope() as share:  # never past the run's
                results = self.tries.call(send, share.at, run.report)
        except DeadlinePassed:
            last = failed[-1] if failed else None
            if last is None or not refused_whole(last):
                if self._may_go_on_after(failed, run):
                    return None
                raise
            if len(chunk) > 1:
                raise BatchRefused(lost=lost or any(map(may_have_acted, failed))) from last
            results = [CancelResult(chunk[0].order_id or "", ZERO, error=last.message)]
        return after_lost_answer(results) if lost or any(map(may_have_acted, failed)) else results

    def look_up_what_lost_cancels_left(self, run: Pull) -> None:
        """Each order `doubted` that no later cancel confirmed and the latest listing no longer
        shows resting, read by its id (`GET /portfolio/orders/{id}`) within the deadline:
        `canceled` is counted cancelled (with what it had left after its fills), `executed`
        filled; not read at all, it is gone for no cause the exchange tells. None is asked
        when no cancel's answer was lost."""
        report = run.report
        for order_id, told in run.doubted.items():
            if order_id in report.cancelled or run.latest is None or order_id in run.latest:
                report.errors.append(f"{order_id}: {told}")  # the listings decide, as ever
                continue
            read = self._read_back(run, order_id)
            if read is not None and read.status == "canceled":
                report.cancelled.append(order_id)
                report.contracts_cancelled += max(
                    ZERO, self._count(run, order_id) - read.fill_count
                )
            elif read is not None and read.status == "executed":
                report.filled.append(order_id)
            elif read is not None:  # a read that lags the listing: the next run's listing decides
                report.errors.append(f"{order_id}: {told}; read by its id: {read.status}")
            else:
                report.gone.append(order_id)
                report.errors.append(
                    f"{order_id}: gone, cause unknown: its cancel's answer was lost, the cancel "
                    f"sent again answered {told}, and the order could not be read by its id "
                    "(`kalshi reconcile` settles it)"
                )

    def read_what_ended_uncancelled(self, run: Pull, gone: list[str]) -> None:
        """Each order of `gone` (resting before the cancels, no cancel of this run confirmed,
        the proof's listing no longer shows it) that the state file holds and no lookup read
        yet, read by its id within the deadline,
        so that the state file books it as the exchange ended it: filled, or cancelled by the
        exchange itself. A listing that lagged a fill showed it resting, and its cancel was
        refused: booked cancelled, its fill would be lost until `kalshi reconcile`."""
        for order_id in gone:
            if order_id in run.doubted or order_id not in run.known:
                continue  # looked up already (`look_up_what_lost_cancels_left`), or no row
            if self._read_back(run, order_id) is None:
                return  # the deadline passed: the others are booked gone unread

    def _read_back(self, run: Pull, order_id: str) -> Order | None:
        """The order as the exchange shows it by its id, on its own subaccount (None: not read
        within the deadline, or the exchange does not know it by that id)."""
        listed, intent = run.listed.get(order_id), run.known.get(order_id)
        where = listed.subaccount if listed else intent.subaccount if intent else None
        client = self.client
        if where and where != client.subaccount:
            client = client.on_subaccount(where)
        try:
            read = self.tries.call(
                lambda: client.orders.get_order(order_id), run.deadline, run.report
            )
        except DeadlinePassed:
            return None
        run.read_back[order_id] = read
        return read

    @staticmethod
    def _count(run: Pull, order_id: str) -> Decimal:
        """The order's count as this run knew it before its cancel, filled and resting."""
        listed = run.listed.get(order_id)
        if listed is not None:
            return listed.fill_count + listed.remaining_count
        return run.known[order_id].count

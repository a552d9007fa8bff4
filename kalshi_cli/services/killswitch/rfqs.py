"""Step 2b of the kill switch, the RFQ side: the account's open RFQs deleted and its own quotes
that may still execute cancelled, right after the exchange's cancel-all (first, with a filter),
and listed again at the end for the proof."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from kalshi_cli.services.killswitch.pull import DeadlinePassed

if TYPE_CHECKING:
    from kalshi_cli.client.communications import Quote, Rfq
    from kalshi_cli.services.killswitch.pull import CancelsOrders, ClosesRfqs, Pull, Tries
    from kalshi_cli.vocabulary.clock import Clock

# The share of the deadline step 2b may spend, so an RFQ service that does not answer never
# holds back the cancels that come after it.
RFQ_STEP_SHARE = 0.2


@dataclass
class RfqSide:
    client: CancelsOrders
    communications: ClosesRfqs | None  # None on a paper loop, whose venue knows no RFQs
    tries: Tries
    clock: Clock
    deadline_s: float
    read_lag_s: float

    def close(self, run: Pull) -> None:
        """Step 2b: delete the open RFQs and our open or accepted quotes in scope, within
        `RFQ_STEP_SHARE` of the deadline. A failure is reported and never holds the order
        cancels back; one to list leaves the RFQ side to the proof's listing."""
        comms, report = self.communications, run.report
        if comms is None:
            return
        deadline = min(run.deadline, self.clock.monotonic() + RFQ_STEP_SHARE * self.deadline_s)
        try:
            rfqs, quotes = self.tries.call(partial(self._open, comms, run), deadline, report)
        except DeadlinePassed:
            report.errors.append("RFQs and quotes not listed: none closed")
            run.rfq_side_unlisted = True
            return
        for rfq in rfqs:
            with suppress(DeadlinePassed):
                self.tries.call(partial(comms.delete_rfq, rfq.rfq_id), deadline, report)
                report.rfqs_closed.append(rfq.rfq_id)
        for quote in quotes:
            with suppress(DeadlinePassed):
                delete = partial(comms.delete_quote, quote.quote_id, rfq_id=quote.rfq_id)
                self.tries.call(delete, deadline, report)
                report.quotes_cancelled.append(quote.quote_id)
        if rfqs or quotes:
            closed, cancelled = len(report.rfqs_closed), len(report.quotes_cancelled)
            run.say(f"{closed} RFQ(s) closed, {cancelled} quote(s) cancelled")
            run.closed_at = self.clock.monotonic()
            run.settled_at = max(run.settled_at, run.closed_at + self.read_lag_s)
            run.cancelled_since_listing = True

    def prove_closed(self, run: Pull) -> None:
        """Step 2b's proof, once it sent a delete (refused or not) or could not list: a listing
        requested after the read lag of the last delete shows nothing of ours still open; else
        the run is not proven."""
        comms, report = self.communications, run.report
        if comms is None or (run.closed_at is None and not run.rfq_side_unlisted):
            return
        try:
            self.tries.wait_until(run.settled_at, run.deadline)
            rfqs, quotes = self.tries.call(partial(self._open, comms, run), run.deadline, report)
        except DeadlinePassed:
            report.errors.append("RFQs and quotes not listed again: their closing is not proven")
            report.proven = False
            return
        report.communications_left = [r.rfq_id for r in rfqs] + [q.quote_id for q in quotes]
        if report.communications_left:
            report.proven = False

    def _open(self, comms: ClosesRfqs, run: Pull) -> tuple[list[Rfq], list[Quote]]:
        """The account's open RFQs, and its own quotes that may still execute (open, accepted,
        or confirmed: that one's delete is refused, and the proof's listing names it), in the
        switch's scope. With `--event` only the confirmed ones: an open or accepted quote of
        ours executes only on our confirmation, which HALTED refuses; a quote names its market,
        not its event, so it is in the event when its RFQ is listed there."""
        ticker, event_ticker = run.ticker, run.event_ticker
        rfqs = list(
            comms.iter_rfqs(
                market_ticker=ticker,
                event_ticker=event_ticker,
                status="open",
                mine=True,
                subaccount=self.client.subaccount,
            )
        )
        quotes: list[Quote] = []
        if event_ticker is None:
            for status in ("open", "accepted", "confirmed"):
                quotes += [
                    q
                    for q in comms.iter_quotes(status=status, mine=True)
                    if ticker is None or q.market_ticker == ticker
                ]
            return rfqs, quotes
        confirmed = list(comms.iter_quotes(status="confirmed", mine=True))
        if confirmed:
            # a confirmed quote's RFQ stays open until the execution
            in_event = {r.rfq_id for r in comms.iter_rfqs(event_ticker=event_ticker, status="open")}
            quotes = [q for q in confirmed if q.rfq_id in in_event]
        return rfqs, quotes

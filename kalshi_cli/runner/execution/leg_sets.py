"""Sets of legs: orders that only pay together (an arbitrage set across an event, any group of legs
in one decision), a part of the trade loop beside the `LoopExecutor`'s single-order path. One rule:
a set ends whole or flat, and says which.

Every leg must pass the risk engine with the legs before it counted, and none may be one the loop
holds (`LoopExecutor.held`), or none is sent; until it goes a leg counts as resting, holds its
slot of the order-rate cap and spends what it would commit on its shard's balance
(`LoopExecutor.hold_apart`). The legs then go one after
another, each for no more than the leg before it filled (an IOC leg fills what it can at once), none
once a leg filled nothing; what the legs hold beyond the whole sets is sold back, one leg after
another, by reducing IOC sells at the price that sells it all into the bids now. Around that:

- a leg or a sale back whose answer was lost is settled by its client order id, through the loop's
  lookups of orders of unknown outcome (unknown_orders.py `when_settled`), before the set decides
  anything; what it filled is then acted on;
- a leg after the first, or a sale back, held by the API error guard's backoff (or refused for an
  API error) goes when the backoff ends (`resume`, every tick); a sale back the loop holds (its
  market's shard does not trade) waits likewise, saying why, until the loop no longer holds it;
- a sale back takes no more than the set holds of its leg, what the strategy's other sets hold
  there left to them (store/leg_sets.py `held_by_others`); one the risk engine refuses is said
  with its rules (`group_unwind_failed`) and the set left broken; the stop asks the risk engine
  of each sale back before it sends it, as the run does;
- a sale back larger than the largest order allowed (`risk.max_order_count`) goes in orders
  within it (`RiskEngine.split`), each asked of the risk engine, the next once one fills in full;
- a stopping loop unwinds each set not ended within its stop deadline (`finish_at_stop`), a set
  found at start and not unwound yet too; a set left broken makes the exit NOT_PROVEN
  (runner/loop/stop_proof.py `SetsLeftBroken`), one held to its settlement by design does not
  (store/leg_sets.py `held_to_settlement`: said `group_left_held`);
- a leg in a market that no longer trades (closed, determined or settled: the loop's `closed`)
  is never sold back: it is held to its settlement (`group_held_to_settlement`), the legs that
  still trade are unwound, and the set stays broken until the settlement takes the leg, then
  ends as a set with a leg settled since does; its row names the legs so held (`settling`), which
  `kalshi check orders` says and does not grade, and `kalshi status` and `kalshi cancel-all` say
  as held;
- a sale back goes only when it is not sure to lose against holding: a leg sure to be paid more
  at settlement than the bids bring after the fee (runner/execution/leg_worth.py: in a mutually
  exclusive event, a NO once another market is determined YES) is held to its settlement as a
  leg that no longer trades is, and judged again every tick: sold back once its bids bring,
  after the fee, at least what it is sure to be paid; a leg nothing is sure of is sold at any
  bid;
- a set left broken during the run with sales back given up (nobody bid, one filled short, the
  risk engine refused one) is unwound again on a clock (`again_s`: the first wait, doubling up
  to the longest), through the same holds and risk engine, its line saying when;
- each set is a row of the state file (store/leg_sets.py) and its orders name it in their reason,
  so a start after a kill finds a set not ended, says so (`group_broken`) and unwinds it.

Each log line names what the set holds, leg by leg (`held`). docs/strategies.md "arbitrage". It is
given more than six collaborators because a set meets each at its own step: the risk engine's slots
when it is allowed, the executor's single-order path for each order, the state file for its row,
the feed for the bids its sales back go into, what a leg is sure to be paid for whether a sale back
goes, the sender for a stop's sales back, and the clock and the entry log.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING

from kalshi_cli.runner.execution.answers import intent_fields
from kalshi_cli.runner.execution.open_sets import (
    LegHoldings,
    OpenSet,
    SaleBack,
    rules_said,
    sale_of,
)
from kalshi_cli.runner.execution.stop_shares import STOP_SHARES
from kalshi_cli.runner.execution.whole_sets import WholeSets
from kalshi_cli.runner.ports import book_data_at
from kalshi_cli.store.leg_sets import SetLeg, held_to_settlement, set_tag
from kalshi_cli.vocabulary.clock import Deadline
from kalshi_cli.vocabulary.units import ZERO, Action, TimeInForce

if TYPE_CHECKING:
    import threading

    from kalshi_cli.risk.engine import RiskEngine
    from kalshi_cli.risk.rules import Verdict
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.execution.leg_worth import LegWorth
    from kalshi_cli.runner.execution.open_sets import Kept
    from kalshi_cli.runner.execution.sender import Sender
    from kalshi_cli.runner.ports import MarketFeed
    from kalshi_cli.store import Store
    from kalshi_cli.store.leg_sets import LegSetRecord
    from kalshi_cli.vocabulary.clock import Clock
    from kalshi_cli.vocabulary.decisions import Intent


class LegSets:
    def __init__(
        self,
        *,
        executor: LoopExecutor,
        risk: RiskEngine,
        sender: Sender,
        store: Store,
        feed: MarketFeed,
        hold_markets: Callable[[Sequence[str]], Callable[[], None]],
        closed: Collection[str],
        worth: LegWorth,
        clock: Clock,
        log: EntryLog,
        subaccount: int,
        again_s: tuple[float, float],
    ) -> None:
        """`executor`: the single-order path each leg and sale back goes through (its risk
        verdict, holds and answers); `sender`: a stop's sales back, sent on its own thread once
        the dispatch takes no more calls; `hold_markets`: keeps a set's markets busy until it
        ends (runner/execution/dispatch.py `Dispatch.hold`); `closed`: the markets that no
        longer trade, as the loop knows them (runner/loop/gate.py `MarketGate.closed`);
        `worth`: what a leg is sure to be paid at settlement, so that no sale back loses
        against holding it; `subaccount`: the loop's, whose sets it sends and takes up at start
        and whose whole sets the stop-loss leaves; `again_s`: how long a set left broken during
        the run waits before it is unwound again, the first time and at most (each wait
        doubling)."""
        self._executor = executor
        self._risk = risk
        self._sender = sender
        self._store = store
        self._feed = feed
        self._hold_markets = hold_markets
        self._closed = closed
        self._worth = worth
        self._clock = clock
        self._log = log
        self._subaccount = subaccount
        self._again_s = again_s
        self._finishing = False  # the stop is selling back (`finish_at_stop`)
        self._holdings = LegHoldings(executor, store, subaccount)
        self.sale_back = SaleBack(feed, closed, worth)
        self._unknown = executor.unknown_orders
        self._guard = executor.guard
        self._open: dict[str, OpenSet] = {}
        # the sets a start found not ended in the state file, unwound once their books are fresh
        self._found = store.leg_sets.unfinished(subaccount)
        # the sets ended whole, which the stop-loss leaves alone while every leg is held
        self.whole = WholeSets(store.leg_sets.whole(subaccount))

    # ---------------------------------------------------------------- a set decided

    def execute(self, intents: list[Intent], *, last_data_at: float | None) -> bool:
        """Send a set (module docstring); False when it was dropped before anything went, or its
        first leg filled nothing."""
        risk = self._risk
        if risk.rate_cap.count() + len(intents) > risk.rate_cap.limit:
            return self._dropped(intents[0], "the order-rate cap has no room for every leg")
        set_id = uuid.uuid4().hex[:16]
        tag = set_tag(set_id)
        legs = [replace(risk.priced(i), reason=f"{i.reason} {tag}") for i in intents]
        kept = self._allowed(legs, last_data_at)
        if kept is None:
            return False
        # every leg's market takes no other decision until the set ends
        release = self._hold_markets([g.ticker for g in legs])
        s = OpenSet(set_id, legs, kept, decided_on=last_data_at, release=release)
        if not self._executor.dry_run:  # a dry run's set holds nothing to find again
            self._store.leg_sets.begin(set_id, legs[0].strategy, _set_legs(legs), self._subaccount)
        self._open[set_id] = s
        self._send_leg(s, 0, legs[0].count)
        return s.sent == 0 or s.held[0] > 0

    def _allowed(self, legs: list[Intent], last_data_at: float | None) -> list[Kept] | None:
        """Each leg judged with the legs before it counted as resting; None (each let go) when
        one is held (as the single-order path would hold it: `LoopExecutor.held`, its market's
        shard paused say) or denied: a leg held once the legs before it filled would have
        them sold back at a loss."""
        kept: list[Kept] = []
        for leg in legs:
            why = self._executor.held(leg)
            if why is None and self._executor.denials(leg, last_data_at=last_data_at):
                why = "a leg was denied by the risk engine"
            if why is not None:
                self._let_go(kept)
                self._dropped(leg, why)
                return None
            kept.append((self._executor.hold_apart(leg), self._risk.record_sent()))
        return kept

    def _let_go(self, kept: Sequence[Kept]) -> None:
        for answered, slot in kept:
            answered()
            self._risk.give_back(slot)

    def _dropped(self, intent: Intent, reason: str) -> bool:
        self._log.emit("group_dropped", {"ticker": intent.ticker, "reason": reason})
        return False

    # ---------------------------------------------------------------- the legs

    def _send_leg(self, s: OpenSet, n: int, count: Decimal) -> None:
        if n > 0 and self._held_back(s, partial(self._send_leg, s, n, count)):
            return
        # judged again as it goes, with what changed since (the legs before it filled): its own
        # room and slot no longer held apart, it takes them afresh if allowed
        self._let_go(s.kept[n : n + 1])
        leg = s.legs[n]
        going = leg if count == leg.count else replace(leg, count=count)
        self._go(s, going, partial(self._leg_filled, s, n, going))

    def _go(
        self,
        s: OpenSet,
        intent: Intent,
        filled: Callable[[Decimal], None],
        refused: Callable[[list[Verdict]], None] = lambda denials: None,
    ) -> None:
        """One order of the set through the single-order path; `filled` is told what it filled
        once that is known: at its answer, or once a lookup settles an answer lost; `refused`,
        first, the risk engine's denials when it refuses the order."""
        s.going(intent)
        s.why = None  # what it waited for, if anything, is over

        def booked(got: Decimal | None) -> None:
            lost = self._unknown.lost_as(intent) if got is None else None
            if lost is None:
                s.settled()
                return filled(got or ZERO)
            s.lost(lost)
            self._log.emit(
                "group_leg_unknown",
                {
                    "set": s.set_id,
                    "ticker": intent.ticker,
                    "client_order_id": lost,
                    "held": s.held_text(),
                    "reason": "its answer was lost: the set waits for its lookup",
                },
            )

            def settled(got_then: Decimal | None) -> None:
                s.settled()
                if got_then is None and intent.action is Action.SELL:
                    # a sale back never placed: what it would sell is still held, and goes
                    # again (once the backoff ends)
                    return self._unwind(s)
                return filled(got_then or ZERO)

            self._unknown.when_settled(lost, settled)

        at = self._data_for(s, intent.ticker)
        self._executor.execute_one(intent, last_data_at=at, then=booked, refused=refused)

    def _data_for(self, s: OpenSet, ticker: str) -> float | None:
        """The data an order of the set is judged on: what the set was decided on, or the
        market's own data if newer. A leg or sale back may go long after the decision (a lookup,
        a backoff), its book fresh all along; one that goes at once is judged as decided, as the
        other legs' books were read with the deciding market's."""
        own = book_data_at(self._feed, ticker, self._clock.wall())
        decided_at = s.decided_on
        if own is None or (decided_at is not None and decided_at >= own):
            return decided_at
        return own

    def _leg_filled(self, s: OpenSet, n: int, going: Intent, got: Decimal) -> None:
        s.held[n] += got
        s.sent = n + 1
        self._log.emit(
            "group_leg",
            {**intent_fields(going), "filled": got, "set": s.set_id, "held": s.held_text()},
        )
        if got > 0 and n + 1 < len(s.legs):
            return self._send_leg(s, n + 1, min(got, s.legs[n + 1].count))
        self._let_go(s.kept[n + 1 :])
        s.kept = []
        self._end_or_unwind(s, "a leg did not fill in full")

    def _end_or_unwind(self, s: OpenSet, why: str) -> None:
        """A set none of whose legs is still to be sent: ended when each leg holds its whole
        sets; else said broken (`group_broken`, `why` what cut it) and what each leg holds
        beyond the whole sets sold back."""
        sets = s.sets
        if all(h == sets for h in s.held):
            return self._end(s)
        self._log.emit(
            "group_broken",
            {
                "set": s.set_id,
                "ticker": s.legs[0].ticker,
                "sets": sets,
                "held": s.held_text(),
                "reason": f"{why}: what each leg holds beyond {sets} whole set(s) is sold back",
            },
        )
        return self._unwind(s)

    def _held_back(
        self,
        s: OpenSet,
        step: Callable[[], None],
        *,
        slot: bool = False,
        order: Intent | None = None,
    ) -> bool:
        """The step waits: for the end of the backoff, or (`slot`: a sale back, whose slot of
        the order-rate cap the set did not keep) for room under the cap, or for the loop to
        stop holding `order` (`LoopExecutor.held`: its market's shard does not trade), each
        tick asked again (`resume`); or for the stop (`finish_at_stop`)."""
        if self._executor.stopping:
            return True
        cap = self._risk.rate_cap
        held = None if order is None else self._executor.held(order)
        if self._guard.backing_off:
            why = "backing off after API errors"
        elif slot and cap.count() >= cap.limit:
            why = "the order-rate cap has no room for the sale back"
        elif held is not None:
            why = f"the sale back is held: {held}"
        else:
            return False
        if why != s.why:  # said once while it waits for the same thing, tick after tick
            s.why = why
            self._log.emit("group_waits", {"set": s.set_id, "held": s.held_text(), "reason": why})
        s.hold(step)
        return True

    # ---------------------------------------------------------------- selling back

    def _unwind(self, s: OpenSet) -> None:
        """Sell back what the next leg holds beyond the whole sets; once none is left (or none
        can be sold), the set ends."""
        sets = s.sets
        todo = [i for i, h in enumerate(s.held) if h > sets and i not in s.given_up | s.settling]
        if not todo:
            return self._end(s)
        if self._held_back(s, partial(self._unwind, s), slot=True):
            return None
        sell = self._sale(s, todo[0], s.held[todo[0]] - sets)
        if sell is None:
            return self._unwind(s)
        if self._held_back(s, partial(self._unwind, s), order=sell):
            return None
        self._go(s, sell, partial(self._sold, s, todo[0], sell), partial(s.refuse, todo[0]))
        return None

    def _sale(self, s: OpenSet, i: int, extra: Decimal) -> Intent | None:
        """The reducing IOC sell of `extra` of leg `i` into the bids, no more than the strategy
        holds of it now beyond what its other sets hold there (None: nothing left to sell, or
        nobody bids)."""
        leg = s.legs[i]
        # what is gone is no longer the set's, and what the strategy's other sets hold of the
        # leg is theirs, never sold back for this one
        held = self._holdings.now(s, i, extra)
        if held < extra:
            s.held[i] -= extra - held
            extra = held
        if extra <= 0:
            return None
        if leg.ticker in self._closed:
            s.hold_to_settlement(i, extra, self._log)
            return None
        at = self.sale_back.price(leg.ticker, leg.side, extra)
        worse = self._worth.worse_than_holding(leg.ticker, leg.side, extra, at)
        if worse is not None:
            s.hold_to_settlement(i, extra, self._log, worse)
            return None
        if at is None:
            s.given_up.add(i)
            self._unwind_failed(s, leg, extra, "nobody bids to sell into")
            return None
        # a leg held beyond the largest order allowed goes in orders within it, the first here
        # and the rest as each before it fills in full (`RiskEngine.split`)
        piece = self._risk.split(replace(sale_of(leg, extra), replaces=()))[0]
        return replace(
            piece,
            price=at,
            model_fair=at,
            reason=f"unwinding {piece.count} of {extra} beyond the whole sets: {leg.reason}",
        )

    def _sold(self, s: OpenSet, i: int, sell: Intent, got: Decimal) -> None:
        refused = s.refused.get(i) if got == 0 else s.refused.pop(i, None)
        if refused is not None and got == 0:
            # never sent: the risk engine refused it, and nothing else is to be hoped of it
            s.given_up.add(i)
            self._refused_sale(s, sell, refused)
            return self._unwind(s)
        s.held[i] -= got
        self._log.emit(
            "group_leg",
            {**intent_fields(sell), "filled": got, "set": s.set_id, "held": s.held_text()},
        )
        # a sale refused for an API error goes again once the backoff ends (`_unwind` waits for
        # it); one that found too few bids at its price is given up
        if got < sell.count and not self._guard.backing_off:
            s.given_up.add(i)
            self._unwind_failed(s, sell, sell.count - got, "the sale back filled short")
        return self._unwind(s)

    def _refused_sale(self, s: OpenSet, sell: Intent, rules: str) -> None:
        """The sale back refused by the risk engine, said with its rules: the set is left
        broken, sold back once the risk engine allows it (`_unwind_failed` says when it asks
        again)."""
        self._unwind_failed(
            s,
            sell,
            sell.count,
            f"the sale back was refused by the risk engine ({rules})",
            then="the set is left broken until the risk engine allows its sale back",
        )

    def _unwind_failed(
        self,
        s: OpenSet,
        leg: Intent,
        count: Decimal,
        reason: str,
        *,
        then: str = "the set is left broken, the stop-loss and the position limit covering it",
    ) -> None:
        """Said with when the sale back is tried again: on the clock during the run (`_end`),
        by a stop under way before it exits, or at the next start once the stop gave it up."""
        if self._finishing:
            again = "the next start sells it back"
        elif self._executor.stopping:
            again = "the stop tries it again before it exits, else the next start"
        else:
            wait, most = s.wait(self._again_s), self._again_s[1]
            again = (
                f"its sale back is tried again in {wait:g} s (each wait doubling, up to "
                f"{most:g} s) and at the stop"
            )
        self._log.emit(
            "group_unwind_failed",
            {
                "set": s.set_id,
                "ticker": leg.ticker,
                "count": count,
                "held": s.held_text(),
                "reason": f"{reason}; {then}; {again}",
            },
        )

    def _end(self, s: OpenSet) -> None:
        """The set whole, flat, or left broken (a sale back found no bid or filled short): said,
        written, and its markets free again."""
        status = s.status()
        self._log.emit(
            "group_done",
            {"set": s.set_id, "status": status, "sets": s.sets, "held": s.held_text()},
        )
        self._store.leg_sets.mark(s.set_id, status, _note(s), s.settling)
        if status != "broken":
            self._open.pop(s.set_id, None)
        elif s.given_up:
            s.again_at = self._clock.monotonic() + s.wait(self._again_s)
            s.left += 1
        if status == "whole":
            self.whole.add(_set_legs(s.legs), s.sets)
        s.steps()
        s.free()

    # ---------------------------------------------------------------- every tick

    def resume(self) -> None:
        """The steps the backoff held, once it is over; the legs held to their settlement judged
        again (`_settling_ends`); and the sets a start found not ended, once their books are
        fresh."""
        if self._executor.stopping or self._guard.backing_off:
            return
        for s in list(self._open.values()):
            for step in s.steps():
                step()
            if self._settling_ends(s):
                self._unwind(s)
            elif s.again_at is not None and self._clock.monotonic() >= s.again_at:
                # its wait over: sold back again, through the same holds and risk engine
                s.again(self._hold_markets([g.ticker for g in s.legs]))
                self._end_or_unwind(s, f"left broken {s.left} time(s) during the run, tried again")
        found, self._found = self._found, []
        for record in found:
            if not all(self._feed.is_fresh(g.ticker) for g in record.legs):
                self._found.append(record)
                continue
            # a set the state file holds not ended (the loop was killed, or a sale back failed):
            # what each leg holds read from its orders, said, and unwound to the whole sets
            s = self._reopened(record, self._hold_markets([g.ticker for g in record.legs]))
            self._end_or_unwind(s, f"found {record.status} in the state file at start")

    def _settling_ends(self, s: OpenSet) -> bool:
        """Whether legs of `s` held to their settlement are to be unwound again (each taken
        out of `settling`): every one once a leg holds less now (the settlement took it), or
        those a sale back no longer loses on (`SaleBack.beats_holding`)."""
        if not s.settling or s.sending is not None:
            return False
        holdings = self._holdings
        if any(holdings.now(s, i, s.held[i]) < s.held[i] for i in s.settling):
            s.settling.clear()
            return True
        selling = {i for i in s.settling if self.sale_back.beats_holding(s, i)}
        s.settling -= selling
        return bool(selling)

    def _reopened(self, record: LegSetRecord, release: Callable[[], None]) -> OpenSet:
        """A set found in the state file, open again: what each leg holds read from its
        orders."""
        legs = [_found_leg(g, record.strategy, set_tag(record.set_id)) for g in record.legs]
        s = OpenSet(record.set_id, legs, [], decided_on=None, release=release)
        s.held = self._store.leg_sets.held(record)
        s.sent = len(legs)
        self._open[s.set_id] = s
        return s

    # ---------------------------------------------------------------- the stop

    def finish_at_stop(self, abandon: threading.Event | None = None) -> tuple[list[str], list[str]]:
        """At the stop, under its deadline, once the dispatch takes no more calls: each set not
        ended has its legs of unknown outcome settled (within a share of the deadline), then what
        it holds beyond its whole sets sold back on this thread. The ids of the sets left broken
        (each logged `group_left_broken`: the exit is then NOT_PROVEN), and of those left held
        to their settlement by design (store/leg_sets.py `held_to_settlement`; each logged
        `group_left_held`, not broken: they end as their markets settle)."""
        left: list[str] = []
        held: list[str] = []
        self._finishing = True
        # a set found at start and not unwound yet (its books were not fresh) is unwound too
        found, self._found = self._found, []
        for record in found:
            self._reopened(record, lambda: None)
        for s in list(self._open.values()):
            self._settle_out(s, abandon)
            s.given_up.clear()
            self._sell_back_now(s, abandon)
            status = s.status() if s.sending is None else "broken"
            self._store.leg_sets.mark(s.set_id, status, _note(s), s.settling)
            kept = s.sending is None and held_to_settlement(status, s.unhedged(), s.settling)
            event = "group_done" if status != "broken" else "group_left_broken"
            self._log.emit(
                "group_left_held" if kept else event,
                {"set": s.set_id, "status": status, "sets": s.sets, "held": s.held_text()},
            )
            if status == "broken":
                (held if kept else left).append(s.set_id)
            else:
                self._open.pop(s.set_id, None)
            s.free()
        return left, held

    def _settle_out(self, s: OpenSet, abandon: threading.Event | None) -> None:
        """The set's order out (its answer not booked when the dispatch closed, or lost) looked
        up until it is settled, within a share of what the stop's deadline leaves."""
        if s.sending is None:
            return
        lost = s.waiting or self._unknown.lost_as(s.sending)
        if lost is None:
            s.settled()  # its call was never made: nothing of it left
            return
        if s.waiting is None:
            # settled by the lookup below: what it filled is booked to its leg
            intent = s.sending
            i = next(
                i
                for i, g in enumerate(s.legs)
                if (g.ticker, g.side) == (intent.ticker, intent.side)
            )
            sign = 1 if intent.action is Action.BUY else -1
            s.lost(lost)

            def settled(got: Decimal | None) -> None:
                s.settled()
                s.held[i] += sign * (got or ZERO)
                s.sent = max(s.sent, i + 1) if sign > 0 else s.sent

            self._unknown.when_settled(lost, settled)
        ticker = s.sending.ticker
        deadline = Deadline.current()
        share = None if deadline is None else deadline.remaining() * STOP_SHARES.leg_waits
        until = None if share is None else self._clock.monotonic() + share
        while s.waiting is not None and not (abandon is not None and abandon.is_set()):
            self._unknown.resolve(guarded=False, markets=[ticker])
            if s.waiting is None or (until is not None and self._clock.monotonic() >= until):
                return
            self._clock.sleep(0.5)

    def _sell_back_now(self, s: OpenSet, abandon: threading.Event | None) -> None:
        """What each leg holds beyond the whole sets, sold back one leg after another on this
        thread (`Sender.submit_now`)."""
        if s.sending is not None:
            return  # a leg still of unknown outcome: nothing is known to sell
        sets = s.sets
        for i in range(len(s.held)):
            while s.held[i] > sets and not (abandon is not None and abandon.is_set()):
                sell = self._sale(s, i, s.held[i] - sets)
                if sell is None or self._refused_at_stop(s, sell):
                    break
                self._risk.record_sent()  # its slot of the order-rate cap, as the run's take
                got = self._sender.submit_now(sell, self._guard.stamp)
                if got is None and self._unknown.lost_as(sell) is not None:
                    s.going(sell)  # sold or not: unknown
                    return
                s.held[i] -= got or ZERO
                self._log.emit(
                    "group_leg",
                    {
                        **intent_fields(sell),
                        "filled": got or ZERO,
                        "set": s.set_id,
                        "held": s.held_text(),
                    },
                )
                # filled in full: the next piece of a leg larger than the largest order
                # allowed goes; refused for an API error (a 429, a 5xx): it goes again once the
                # backoff ends, if that is within the stop's share of its deadline
                if got is not None and got < sell.count:
                    break
                if got is None and not self._backoff_waited():
                    break

    def _refused_at_stop(self, s: OpenSet, sell: Intent) -> bool:
        """At the stop, a sale back asked of the risk engine as one during the run is: the stop
        sends nothing it refuses, says the refusal with its rules, and the set is then left
        broken."""
        denials = self._executor.denials(sell, last_data_at=self._data_for(s, sell.ticker))
        if not denials:
            return False
        self._refused_sale(s, sell, rules_said(denials))
        return True

    def _backoff_waited(self) -> bool:
        """At the stop, the API error guard's backoff waited out, when it ends within the
        share of what the stop's deadline leaves that the sets may spend (False: no backoff,
        or it ends past that)."""
        if not self._guard.backing_off:
            return False
        ends = self._guard.backoff_until
        deadline = Deadline.current()
        now = self._clock.monotonic()
        if deadline is not None and ends - now > deadline.remaining() * STOP_SHARES.leg_waits:
            return False
        self._clock.sleep(ends - now)
        return True


def _note(s: OpenSet) -> str:
    """What the set holds, leg by leg, for its row."""
    return ", ".join(f"{k} {v}" for k, v in s.held_text().items())


def _set_legs(legs: Sequence[Intent]) -> list[SetLeg]:
    """A set's legs as its row holds them: each one's market, side, price and count."""
    return [SetLeg(g.ticker, g.side, g.price, g.count) for g in legs]


def _found_leg(leg: SetLeg, strategy: str | None, tag: str) -> Intent:
    """A leg of a set found in the state file, as the intent its sale back is made from."""
    from kalshi_cli.vocabulary.decisions import Intent

    return Intent(
        leg.ticker,
        leg.side,
        Action.BUY,
        leg.price,
        leg.count,
        leg.price,
        f"a set found not ended at start {tag}",
        strategy=strategy or "",
        time_in_force=TimeInForce.IOC,
    )

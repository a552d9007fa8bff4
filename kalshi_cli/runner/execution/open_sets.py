"""A set of legs on its way (runner/execution/leg_sets.py), as `LegSets` keeps it: its legs, what
each holds and the step out (`OpenSet`); what a sale back of a leg may take now (`LegHoldings`) and
what it brings (`SaleBack`)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_cli.vocabulary.units import ZERO, Action, Side, TimeInForce

if TYPE_CHECKING:
    from kalshi_cli.risk.rules import Verdict
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.execution.leg_worth import LegWorth
    from kalshi_cli.runner.ports import MarketFeed
    from kalshi_cli.store import Store
    from kalshi_cli.vocabulary.decisions import Intent

# a leg allowed and not sent yet: counted as resting, and what it would commit spent on its shard,
# until the function is called (`LoopExecutor.hold_apart`); and the moment its slot of the
# order-rate cap was taken
Kept = tuple[Callable[[], None], float]


class OpenSet:
    """One set on its way: its legs (each order's reason naming the set), what each holds, the
    step out (its order, and its client order id once its answer was lost) and the step the
    backoff holds."""

    def __init__(
        self,
        set_id: str,
        legs: list[Intent],
        kept: list[Kept],
        *,
        decided_on: float | None,
        release: Callable[[], None],
    ) -> None:
        self.set_id = set_id
        # when the data the set was decided on came (None: no fresh book); a set found at start
        # was decided on none
        self.decided_on = decided_on
        self.legs = legs
        self.held = [ZERO] * len(legs)
        self.sent = 0  # legs booked so far
        self.kept = kept  # the legs not sent yet, counted as resting
        self.sending: Intent | None = None
        self.waiting: str | None = None
        self.waits: list[Callable[[], None]] = []  # the step the backoff holds (one)
        self.why: str | None = None  # what the step waits for, as last said (`group_waits`)
        self.given_up: set[int] = set()  # legs whose sale back found no bid or filled short
        # legs in a market that no longer trades, held to its settlement (each said once)
        self.settling: set[int] = set()
        # leg -> the risk engine's denial of its last sale back (its rules, said)
        self.refused: dict[int, str] = {}
        # left broken with sales back given up: when it is unwound again (monotonic), and how
        # many times it was left so
        self.again_at: float | None = None
        self.left = 0
        self._release: Callable[[], None] | None = release

    def going(self, intent: Intent) -> None:
        """An order of the set on its way, its answer not booked."""
        self.sending = intent

    def lost(self, client_order_id: str) -> None:
        """Its answer lost: the set waits for the lookup of `client_order_id`."""
        self.waiting = client_order_id

    def settled(self) -> None:
        """What the order on its way filled is known (or it never left)."""
        self.sending = self.waiting = None

    def refuse(self, leg: int, denials: list[Verdict]) -> None:
        """The risk engine refused `leg`'s sale back: its rules, said once the sale's answer is
        booked."""
        self.refused[leg] = rules_said(denials)

    def hold_to_settlement(
        self, i: int, extra: Decimal, log: EntryLog, why: str | None = None
    ) -> None:
        """What leg `i` holds beyond the whole sets (`extra`) is held to its settlement, never
        sold: its market no longer trades, or (`why`) a sale would be sure to lose against
        holding it; said once."""
        if i in self.settling:
            return
        self.settling.add(i)
        leg = self.legs[i]
        held = f"its {leg.side.value.upper()} {extra} beyond the whole sets"
        log.emit(
            "group_held_to_settlement",
            {
                "set": self.set_id,
                "ticker": leg.ticker,
                "count": extra,
                "held": self.held_text(),
                "reason": f"{leg.ticker} {why or 'no longer trades'}: {held} is held to its "
                "settlement, and the set stays broken until then",
            },
        )

    def hold(self, step: Callable[[], None]) -> None:
        """The step the backoff holds, run when it ends (the one latest)."""
        self.waits = [step]

    def steps(self) -> list[Callable[[], None]]:
        """The steps held, taken."""
        steps, self.waits = self.waits, []
        return steps

    def wait(self, again_s: tuple[float, float]) -> float:
        """How long the set, left broken now, waits before it is unwound again: the first of
        `again_s`, doubled for each time it was left broken before, never past the second."""
        first, most = again_s
        return float(min(first * 2 ** min(self.left, 32), most))

    def again(self, release: Callable[[], None]) -> None:
        """A set left broken, unwound again: what was given up is tried again, its markets held
        again until it ends (`release`)."""
        self.given_up.clear()
        self.refused.clear()
        self.again_at = None
        self._release = release

    def free(self) -> None:
        """The set's markets free again, once."""
        release, self._release = self._release, None
        if release is not None:
            release()

    @property
    def sets(self) -> Decimal:
        """The whole sets held: none until every leg went."""
        return min(self.held) if self.sent == len(self.legs) else ZERO

    def held_text(self) -> dict[str, Decimal]:
        return {f"{g.ticker} {g.side.value}": h for g, h in zip(self.legs, self.held, strict=True)}

    def unhedged(self) -> list[int]:
        """The legs holding beyond the whole sets."""
        sets = self.sets
        return [i for i, h in enumerate(self.held) if h > sets]

    def status(self) -> str:
        sets = self.sets
        if any(h != sets for h in self.held):
            return "broken"
        return "whole" if sets > 0 else "flat"


class LegHoldings:
    """What a set's leg holds now, as a sale back of it may take it: what the strategy holds of
    it beyond what the strategy's other sets hold there. A market settled since (a set found at
    start), or contracts sold by another path, leave less than the set's orders say."""

    def __init__(self, executor: LoopExecutor, store: Store, subaccount: int) -> None:
        self._executor = executor
        self._store = store
        self._subaccount = subaccount

    def now(self, s: OpenSet, i: int, count: Decimal) -> Decimal:
        """What a sale back of `count` of leg `i` of `s` may take now."""
        leg = s.legs[i]
        others = self._store.leg_sets.held_by_others(
            s.set_id, leg.strategy, leg.ticker, leg.side, self._subaccount
        )
        return max(self._executor.room(sale_of(leg, count)) - others, ZERO)


def sale_of(leg: Intent, count: Decimal) -> Intent:
    """A sale back of `count` of `leg`: a reducing IOC sell."""
    return replace(
        leg, action=Action.SELL, count=count, reduce_only=True, time_in_force=TimeInForce.IOC
    )


class SaleBack:
    """What a sale back of a set's leg brings now: the price that sells it all into its
    market's bids, and whether that beats holding the leg to its settlement."""

    def __init__(self, feed: MarketFeed, closed: Collection[str], worth: LegWorth) -> None:
        self._feed = feed
        self._closed = closed
        self._worth = worth

    def price(self, ticker: str, side: Side, count: Decimal) -> Decimal | None:
        """The price a reducing IOC sell of `count` contracts of `side` needs to sell them all
        into the market's bids now (the bid at which their depth covers `count`, the last bid
        when none does); None when nobody bids or the book is stale."""
        book = self._feed.book(ticker)
        bids = () if book is None else (book.yes_bids if side is Side.YES else book.no_bids)
        covered = ZERO
        for level in bids:
            covered += level.size
            if covered >= count:
                return level.price
        return bids[-1].price if bids else None

    def beats_holding(self, s: OpenSet, i: int) -> bool:
        """Leg `i`, held to its settlement, is worth selling now: its market still trades and
        its bids bring, after the fee, at least what it is sure to be paid there (its bids rose
        since it was held)."""
        leg = s.legs[i]
        extra = s.held[i] - s.sets
        if extra <= 0 or leg.ticker in self._closed:
            return False
        at = self.price(leg.ticker, leg.side, extra)
        if at is None:
            return False  # nobody bids: nothing to sell into
        return self._worth.worse_than_holding(leg.ticker, leg.side, extra, at) is None


def rules_said(denials: list[Verdict]) -> str:
    """The risk engine's denials of an order, each rule by its code and its word."""
    return "; ".join(f"{v.code}: {v.detail}" for v in denials)

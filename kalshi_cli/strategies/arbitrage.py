"""Arbitrage: buy a set of contracts whose settlement pays more than its asks plus fees, whatever
happens. Three sets are known:

- YES and NO of one market pay $1.00: one settles YES, the other NO.
- One NO in every market of a mutually exclusive event of N markets (openapi.yaml `EventData`:
  at most one settles YES) pays at least N - 1: every NO pays but the one YES's, if any. Where a
  market's YES settles at a floor (`settlement_bounds_type` floor), its NO is paid only the rest
  of $1 on a NO result, so the set pays what the one rule (vocabulary/event_outcomes.py) says.
- One YES in every market of such an event pays $1.00 only if one of them must settle YES. The
  exchange says at most one, never at least one (Kalshi's mutually exclusive events need not be
  exhaustive), so this set is bought only for an event the trader states is exhaustive
  (`exhaustive_events`) and whose every market the loop trades; the reason says so.

A set is sized by the depth at each ask, `max_cost` and `max_count` (the most sets of an event
held at once; pairs in one market net out), and the loop's limit on the event's loss
(`MarketSnapshot.max_event_loss`: `risk.max_event_loss` or the strategy's budget's, the
tighter). The legs go one after another and a leg may fill while the next does not, so the
limit counts a leg filled alone: the set is the largest whose every partial fill (its first k
legs filled, for each k, fees paid) keeps its worst case inside the limit, by the one rule;
where not one set fits, a `Note` says so, with what one set filled in part can lose. The set is
decided once, from the market with the lowest ticker. Its legs are IOC buys that the loop sends
one after another, each for what the leg before filled, selling back what a short leg left over
(runner/execution/leg_sets.py): a set ends whole or flat. Each leg's fair value carries an equal
share of the set's edge. See docs/strategies.md "arbitrage".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Annotated

from kalshi_cli.strategy_api import (
    ONE,
    ZERO,
    Action,
    Decision,
    EventLimit,
    EventView,
    Intent,
    MarketSnapshot,
    Note,
    Params,
    PositionView,
    Side,
    Strategy,
    TimeInForce,
    Updatable,
    require,
    trading_fee,
)
from kalshi_cli.vocabulary.event_outcomes import MECNET, EventLeg, event_outcomes
from kalshi_cli.vocabulary.units import fmt_money

NAME = "arbitrage"


class ArbitrageParams(Params, frozen=True):
    max_count: Annotated[Decimal, Updatable] = Decimal("50")
    max_cost: Annotated[Decimal, Updatable] = Decimal("100")
    min_edge: Annotated[Decimal, Updatable] = Decimal("0.01")
    exhaustive_events: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        require(self.max_count > 0, "max_count must be positive")
        require(self.max_cost > 0, "max_cost must be positive")
        require(self.min_edge >= 0, "min_edge must not be negative")


# one leg of a set: (ticker, side bought, ask, depth at the ask, the market's taker fee rate)
Leg = tuple[str, Side, Decimal, Decimal, Decimal]


def set_cost(legs: Sequence[Leg], count: Decimal) -> Decimal:
    """What `count` sets cost: every leg's ask and fee."""
    return sum((count * ask + trading_fee(count, ask, rate) for _, _, ask, _, rate in legs), ZERO)


def set_edge(legs: Sequence[Leg], payout: Decimal, count: Decimal) -> Decimal:
    """Locked profit per set after every leg's fee, at `count` sets: the least the set pays less
    its asks and fees."""
    return payout - set_cost(legs, count) / count


def decide(snap: MarketSnapshot, pos: PositionView, params: ArbitrageParams) -> Sequence[Decision]:
    notes: list[Decision] = []  # a set the event-loss limit lets none of through, said
    yes_ask, no_ask = snap.book.yes_ask, snap.book.no_ask
    if yes_ask is not None and no_ask is not None:
        here = [
            (snap.ticker, Side.YES, yes_ask[0], yes_ask[1], snap.fee_rate),
            (snap.ticker, Side.NO, no_ask[0], no_ask[1], snap.fee_rate),
        ]
        limit = Limit(
            snap.max_event_loss, _floors(snap, None), snap.ticker, snap.ticker, snap.event_limits
        )
        why = "YES and NO of one market pay 1"
        legs = _buy_set(here, ONE, params.max_count, params, why, limit=limit)
        if _trades(legs):
            return legs
        notes += legs
    event = snap.event
    if event is None or any(m.ticker < snap.ticker for m in event.others):
        return notes  # the set is decided from the event's lowest ticker only
    n = len(event.others) + 1
    # the sets held: whole sets only (the loop sells back a partial one), so this market's
    # NO (YES) contracts of the strategy's own count the NO (YES) sets
    held = pos.position
    floors = _floors(snap, event)
    limit = Limit(snap.max_event_loss, floors, snap.ticker, event.event_ticker, snap.event_limits)
    nos = _event_legs(snap, event, Side.NO)
    if nos is not None:
        paid = _no_set_paid(snap, event)
        why = f"NO in each of {n} markets of {event.event_ticker} (at most one YES) pay {paid}"
        room = params.max_count - max(-held, ZERO)
        legs = _buy_set(nos, paid, room, params, why, limit=limit)
        if _trades(legs):
            return legs
        notes += legs
    yeses = _event_legs(snap, event, Side.YES)
    if yeses is None or not event.complete or event.event_ticker not in params.exhaustive_events:
        return notes
    why = (
        f"YES in each of {n} markets of {event.event_ticker} pay 1: exhaustive as stated in "
        "exhaustive_events"
    )
    legs = _buy_set(yeses, ONE, params.max_count - max(held, ZERO), params, why, limit=limit)
    return legs if _trades(legs) else [*notes, *legs]


def _trades(decided: Sequence[Decision]) -> bool:
    return any(isinstance(d, Intent) for d in decided)


@dataclass(frozen=True)
class Limit:
    """The loop's limit on the event's loss (None: none), what each market's YES settles at
    least at (its floor; None: a floor not given), which the worst case reads, and where a
    note that no set fits is said (the deciding market, and the event it is said once for);
    `books`: each limit the loop holds the event to with what its book holds there already
    (`MarketSnapshot.event_limits`; empty: `max_loss` over the set alone)."""

    max_loss: Decimal | None
    floors: Mapping[str, Decimal | None]
    ticker: str
    event: str
    books: tuple[EventLimit, ...] = ()

    def none_fits(self, legs: Sequence[Leg]) -> Note:
        """The word that not one set fits, with what one set filled in part can lose beside
        what the tightest book holds already."""
        tightest = min(self.books, key=lambda b: b.max_loss) if self.books else EventLimit(ZERO)
        worst = partial_worst(legs, ONE, self.floors, tightest.held, tightest.kind)
        limit = fmt_money(-(self.max_loss or ZERO))
        return Note(
            self.ticker,
            f"event_loss:{self.event}",
            f"arbitrage: no set in {self.event} fits the event-loss limit ({limit}): one set "
            f"filled in part can lose {fmt_money(worst)}",
        )

    def fits(self, legs: Sequence[Leg], count: Decimal) -> bool:
        """Whether `count` sets keep the event's worst case inside every limit however they
        fill: the first k legs filled alone, for each k (the loop sends them one after
        another), beside what each limit's book holds in the event already."""
        if self.books:
            return all(
                partial_worst(legs, count, self.floors, b.held, b.kind) >= -b.max_loss
                for b in self.books
            )
        return self.max_loss is None or partial_worst(legs, count, self.floors) >= -self.max_loss


def partial_worst(
    legs: Sequence[Leg],
    count: Decimal,
    floors: Mapping[str, Decimal | None],
    held: Sequence[EventLeg] = (),
    kind: str = MECNET,
) -> Decimal:
    """The least worst case at settlement (the one rule, for an event of `kind`) of what is
    `held` in the event with the set's first k legs filled at `count` and the rest not, over
    every k, fees paid: what a partial fill can lose."""
    book = {leg.ticker: leg for leg in held}
    worst: Decimal | None = None
    for ticker, side, ask, _depth, rate in legs:
        leg = book.get(ticker) or EventLeg(ticker, floor=floors.get(ticker, ZERO))
        fee = trading_fee(count, ask, rate)
        book[ticker] = leg.filled(side.value, count, ask, fee)
        now = event_outcomes(kind, list(book.values())).worst.pnl
        worst = now if worst is None else min(worst, now)
    return ZERO if worst is None else worst


def _floors(snap: MarketSnapshot, event: EventView | None) -> dict[str, Decimal | None]:
    """Each market's floor (`MarketTerms.settlement_floor`), terms not known: none."""
    held = [(snap.ticker, snap.terms)]
    held += [(m.ticker, m.terms) for m in event.others] if event is not None else []
    return {t: ZERO if terms is None else terms.settlement_floor for t, terms in held}


def _no_set_paid(snap: MarketSnapshot, event: EventView) -> Decimal:
    """The least one NO in this market and in each of the event's others is paid: N - 1, less
    where a market's YES settles at a floor (terms not known: none)."""
    held = [(snap.ticker, snap.terms), *((m.ticker, m.terms) for m in event.others)]
    legs = [
        EventLeg(t, no=ONE, floor=ZERO if terms is None else terms.settlement_floor)
        for t, terms in held
    ]
    return event_outcomes(MECNET, legs).worst.pnl


def _event_legs(snap: MarketSnapshot, event: EventView, side: Side) -> list[Leg] | None:
    """One leg of `side` at its ask in this market and each of the event's others; None when a
    market has no ask on that side."""
    books = [(snap.ticker, snap.book, snap.fee_rate)]
    books += [(m.ticker, m.book, m.fee_rate) for m in event.others]
    legs: list[Leg] = []
    for ticker, book, rate in books:
        ask = book.yes_ask if side is Side.YES else book.no_ask
        if ask is None:
            return None
        legs.append((ticker, side, ask[0], ask[1], rate))
    return legs


def _buy_set(
    legs: Sequence[Leg],
    payout: Decimal,
    room: Decimal,
    params: ArbitrageParams,
    why: str,
    *,
    limit: Limit,
) -> list[Decision]:
    asks = sum((ask for _, _, ask, _, _ in legs), ZERO)
    if payout - asks < params.min_edge:
        return []  # fees only lower the edge: no set at these asks at any size (the usual case)
    count = min(*(depth for *_, depth, _ in legs), room)
    count = min(count, (params.max_cost // asks).max(ZERO))
    while count > 0 and set_cost(legs, count) > params.max_cost:
        count -= 1  # the fees took it over `max_cost`: a contract fewer
    if count <= 0:
        return []
    count = _within(limit, legs, count)
    if count <= 0:
        return [limit.none_fits(legs)]
    edge = set_edge(legs, payout, count)
    if edge < params.min_edge:
        return []
    prices = " + ".join(f"{ask}" for _, _, ask, _, _ in legs)
    reason = f"arbitrage: {why}; asks {prices} + fees leave {edge:.4f} a set"
    decisions: list[Decision] = []
    for i, (ticker, side, ask, _depth, rate) in enumerate(legs, 1):
        fee_each = trading_fee(count, ask, rate) / count
        decisions.append(
            Intent(
                ticker=ticker,
                side=side,
                action=Action.BUY,
                price=ask,
                count=count,
                model_fair=min(ask + fee_each + edge / len(legs), ONE),
                reason=f"{reason} (leg {i} of {len(legs)}: {side} {ticker})",
                strategy=NAME,
                time_in_force=TimeInForce.IOC,
                fee_rate=rate,
            )
        )
    return decisions


def _within(limit: Limit, legs: Sequence[Leg], count: Decimal) -> Decimal:
    """The most whole sets, `count` at most, that `limit` lets through however they fill: a
    partial fill loses more the more sets, so the largest is found by halving (0: not one)."""
    if limit.fits(legs, count):
        return count
    low, high = ZERO, count  # `low` fits (no set loses nothing), `high` does not
    while high - low > 1:
        mid = ((low + high) / 2).to_integral_value(ROUND_FLOOR)
        low, high = (mid, high) if limit.fits(legs, mid) else (low, mid)
    return low


def _always(_: PositionView) -> bool:
    return True


STRATEGY = Strategy(
    NAME,
    ArbitrageParams,
    decide,
    uses_events=True,
    reads_mids=False,
    reads_top=True,  # of its book, the asks (its event's books are compared whole)
    clock_free=_always,
)

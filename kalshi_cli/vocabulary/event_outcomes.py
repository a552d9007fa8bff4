"""What an event's positions can pay at settlement: every outcome the event allows, and its worst
and best case. One rule for the simulator's collateral return, the risk limit on an event's loss,
`kalshi positions --by event` and arbitrage across an event (docs/risk.md "An event's worst case").

An event's markets settle together, and which results can occur together depends on the event's
`collateral_return_type` (openapi.yaml `EventData`):

- `MECNET` (mutually exclusive): at most one market settles YES, and none may (Kalshi's mutually
  exclusive events need not be exhaustive), so the outcomes are "T yes" for each market held and
  "none yes", which also stands for a market not held settling YES.
- `DIRECNET` (a directional ladder): every market settles on one expiration value against its own
  strike (`strike_type`, `floor_strike`, `cap_strike`), so the outcomes are the intervals of that
  value between the strikes held; a strike itself is an interval of its own where `greater` and
  `greater_or_equal` part. A market whose strike the rule cannot read leaves the event to the
  next rule.
- otherwise the markets are independent: any combination of results can occur, so the worst case
  is each market's worst case summed (the best likewise), without enumerating 2^n outcomes.

A market already settled fixes its own result, and only the outcomes that agree with it remain;
results no outcome agrees with (two YES in a mutually exclusive event) fall back to independent
markets, whose worst case is never above the event's.

A holding's P&L in an outcome is its settlement payout less its cost: exact Decimal dollars, the
payout as settlement pays it (whole cents, rounded down: `settlement_paid`), the cost being what
was paid, fees included. A fill adds its price times its count and its fee
(`EventLeg.filled`); a resting order may fill or not, so it counts as filled in each outcome where
it loses and as unfilled where it gains (`EventLeg.resting`): no order resting on the other side
of a market, which may never fill, makes room for more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal

from kalshi_cli.vocabulary.reference_index import StrikeError, settles_yes
from kalshi_cli.vocabulary.units import CENT, ONE, ZERO

MECNET = "MECNET"
DIRECNET = "DIRECNET"
INDEPENDENT = "independent"
Bound = tuple[Decimal | None, bool]  # a value (None: unbounded) and whether it is included


@dataclass(frozen=True, slots=True)
class MarketStrike:
    """A market's strike as the spec's `Market` gives it."""

    strike_type: str
    floor: Decimal | None = None
    cap: Decimal | None = None

    @property
    def readable(self) -> bool:
        """Whether one expiration value settles the market: a comparison with its bounds."""
        try:
            self.pays_yes(ZERO)
        except StrikeError:
            return False
        return True

    def pays_yes(self, x: Decimal) -> bool:
        return settles_yes(self.strike_type, self.floor, self.cap, x)

    def values(self) -> tuple[Decimal, ...]:
        return tuple(v for v in (self.floor, self.cap) if v is not None)


def settlement_paid(value: Decimal) -> Decimal:
    """What settlement pays of `value` (contracts times their side's value): whole cents,
    rounded down, the rest a settlement fee (Kalshi's "Market Settlement" fees: $0.75 paid and
    $0.0075 the fee of 3 contracts at a floor of $0.2525)."""
    return value.quantize(CENT, ROUND_DOWN)


@dataclass(frozen=True, slots=True)
class EventLeg:
    """One market's part of an event: contracts held on each side, what they cost (dollars, fees
    included), the market's strike (a ladder needs it), what a YES contract is paid when the
    market settles NO (`settlement_bounds_type` floor; NO is paid the rest of $1; None: a floor
    the market does not give, counted at its worst), and the market's result once settled."""

    ticker: str
    yes: Decimal = ZERO
    no: Decimal = ZERO
    cost: Decimal = ZERO
    strike: MarketStrike | None = None
    floor: Decimal | None = ZERO
    result: str | None = None  # "yes" | "no" once settled
    # what the market's resting orders can take off the P&L when it settles YES, and NO: each
    # counted where it loses and never where it gains, as any of them may fill or not
    losing_yes: Decimal = ZERO
    losing_no: Decimal = ZERO

    def pnl(self, yes: bool) -> Decimal:
        """The P&L of the holding when the market settles YES (`yes`) or NO, its resting orders
        filled where they lose."""
        return self.payout(yes) - self.cost + (self.losing_yes if yes else self.losing_no)

    def payout(self, yes: bool) -> Decimal:
        """What the holding is paid when the market settles YES (`yes`) or NO: a YES/NO pair
        $1, the rest its side's value as settlement pays it."""
        if yes:
            return self.yes
        if self.floor is None:  # paid yes * f + no * (1 - f) for some f in [0, 1]: the least
            return min(self.yes, self.no)
        if not self.floor:
            return self.no
        # a pair is redeemed at $1 as it forms; what settles, NO at the rest of $1 or YES at the
        # floor, is paid in whole cents (3 NO at $0.7475 are paid $2.24, not $2.2425)
        pairs = min(self.yes, self.no)
        rest = (self.yes - pairs) * self.floor + (self.no - pairs) * (ONE - self.floor)
        return pairs + settlement_paid(rest)

    def filled(self, side: str, count: Decimal, price: Decimal, fee: Decimal = ZERO) -> EventLeg:
        """This holding with `count` more contracts of `side` ("yes"/"no") bought at `price`
        (that side's price) for `fee`: an order filled."""
        cost = self.cost + count * price + fee
        if side == "yes":
            return replace(self, yes=self.yes + count, cost=cost)
        return replace(self, no=self.no + count, cost=cost)

    def resting(self, side: str, count: Decimal, price: Decimal, fee: Decimal = ZERO) -> EventLeg:
        """This holding with an order resting for `count` contracts of `side` at `price` and
        `fee` filled: counted filled in the result where it loses, unfilled where it gains."""
        order = EventLeg(self.ticker, floor=self.floor).filled(side, count, price, fee)
        return replace(
            self,
            losing_yes=self.losing_yes + min(order.pnl(True), ZERO),
            losing_no=self.losing_no + min(order.pnl(False), ZERO),
        )


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """One way the event can settle, named for a person, and the P&L of the holdings in it."""

    name: str
    pnl: Decimal


@dataclass(frozen=True, slots=True)
class EventOutcomes:
    """Every outcome the rule allows (independent markets: the worst and the best only), the rule
    that applied (`MECNET`, `DIRECNET` or `independent`), and the worst and best case."""

    rule: str
    outcomes: tuple[EventOutcome, ...]
    worst: EventOutcome
    best: EventOutcome


def event_outcomes(collateral_return_type: str, holdings: Sequence[EventLeg]) -> EventOutcomes:
    """The settlement P&L of `holdings`, one event's markets, in every outcome the event allows
    (the module docstring says which)."""
    found: list[EventOutcome] | None = None
    rule = collateral_return_type
    if rule == MECNET:
        found = _exclusive(holdings)
    elif rule == DIRECNET:
        found = _ladder(holdings)
    if not found:
        return _independent(holdings)
    worst = min(found, key=lambda o: o.pnl)
    best = max(found, key=lambda o: o.pnl)
    return EventOutcomes(rule, tuple(found), worst, best)


def _settled(holdings: Sequence[EventLeg], yes: Callable[[EventLeg], bool]) -> Decimal:
    """The P&L when each market settles as `yes` says."""
    return sum((h.pnl(yes(h)) for h in holdings), ZERO)


def _exclusive(holdings: Sequence[EventLeg]) -> list[EventOutcome]:
    winners = [h.ticker for h in holdings if h.result == "yes"]
    if len(winners) > 1:
        return []
    candidates: list[str | None] = [
        h.ticker for h in holdings if h.result != "no" and (not winners or h.ticker in winners)
    ]
    if not winners:
        candidates.append(None)
    # P&L with every market NO, then each candidate's swap of its NO payout for its YES payout
    base = _settled(holdings, lambda h: False)
    by_ticker = {h.ticker: h for h in holdings}
    found = []
    for ticker in candidates:
        if ticker is None:
            found.append(EventOutcome("none yes", base))
        else:
            h = by_ticker[ticker]
            found.append(EventOutcome(f"{ticker} yes", base + h.pnl(True) - h.pnl(False)))
    return found


def _ladder(holdings: Sequence[EventLeg]) -> list[EventOutcome]:
    strikes = [h.strike for h in holdings if h.strike is not None and h.strike.readable]
    if not holdings or len(strikes) < len(holdings):
        return []
    values = sorted({v for s in strikes for v in s.values()})
    found: list[EventOutcome] = []
    last: tuple[bool, ...] | None = None
    start: Bound = (None, False)
    for x, lo, hi in _regions(values):
        pays = tuple(s.pays_yes(x) for s in strikes)
        if any(
            h.result is not None and (h.result == "yes") != p
            for h, p in zip(holdings, pays, strict=True)
        ):
            last = None  # no outcome here: the regions either side are not one
            continue
        if pays == last:  # the same results as the region before: one wider outcome
            found[-1] = EventOutcome(_interval(start, hi), found[-1].pnl)
            continue
        start, last = lo, pays
        pnl = sum((h.pnl(p) for h, p in zip(holdings, pays, strict=True)), ZERO)
        found.append(EventOutcome(_interval(lo, hi), pnl))
    return found


def _regions(values: list[Decimal]) -> list[tuple[Decimal, Bound, Bound]]:
    """The expiration values' regions between `values`, in order: each open interval and each
    value alone, with a value inside it and its two bounds."""
    if not values:
        return []
    regions: list[tuple[Decimal, Bound, Bound]] = [
        (values[0] - ONE, (None, False), (values[0], False))
    ]
    for i, v in enumerate(values):
        regions.append((v, (v, True), (v, True)))
        upper = values[i + 1] if i + 1 < len(values) else None
        inside = v + ONE if upper is None else (v + upper) / 2
        regions.append((inside, (v, False), (upper, False)))
    return regions


def _interval(lo: Bound, hi: Bound) -> str:
    (low, low_in), (high, high_in) = lo, hi
    if low is not None and low == high:
        return f"x = {low}"
    if high is None and low is not None:
        return f"x {'>=' if low_in else '>'} {low}"
    left = "" if low is None else f"{low} {'<=' if low_in else '<'} "
    right = "" if high is None else f" {'<=' if high_in else '<'} {high}"
    return f"{left}x{right}"


def _independent(holdings: Sequence[EventLeg]) -> EventOutcomes:
    def side(h: EventLeg, worst: bool) -> bool:
        if h.result is not None:
            return h.result == "yes"
        yes, no = h.pnl(True), h.pnl(False)
        return yes < no if worst else yes > no

    def outcome(worst: bool) -> EventOutcome:
        name = ", ".join(f"{h.ticker} {'yes' if side(h, worst) else 'no'}" for h in holdings)
        return EventOutcome(name or "any", _settled(holdings, lambda h: side(h, worst)))

    worst, best = outcome(True), outcome(False)
    return EventOutcomes(INDEPENDENT, (worst, best), worst, best)

"""The limit on what one event can lose (`risk.max_event_loss`, and a strategy's own in
`trade.budgets.NAME.max_event_loss`): the event's worst case at settlement by the one rule
(vocabulary/event_outcomes.py), every resting order counted as filled, paying the taker fee, in
each outcome where it loses (and as unfilled where it gains: it may never fill).
An order that would carry it past the limit is refused (`EVENT_LOSS`, risk/rules.py
`EventLossRule`), unless it makes it no worse (a hedge). docs/risk.md "The limit on an event's
loss".

A market of the event already settled stays in its book with its result, held or not: only the
outcomes that agree with it remain (A settled YES leaves no "C yes" in a mutually exclusive
event). `kalshi positions --by event`, its `--json`, the dashboard, the metric, the assistant's
tool and `kalshi check positions` read the same book (services/positions.py `event_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kalshi_cli.strategy_api.index import MarketTerms
from kalshi_cli.vocabulary.event_outcomes import (
    DIRECNET,
    MECNET,
    EventLeg,
    EventOutcome,
    EventOutcomes,
    MarketStrike,
    event_outcomes,
)
from kalshi_cli.vocabulary.models import FeeModel
from kalshi_cli.vocabulary.units import ZERO, BookSide, added_price

if TYPE_CHECKING:
    from kalshi_cli.vocabulary.decisions import Intent, PositionView


def market_strike(terms: MarketTerms) -> MarketStrike | None:
    """A market's strike from its terms (None: it names none)."""
    if not terms.strike_type:
        return None
    return MarketStrike(terms.strike_type, terms.floor_strike, terms.cap_strike)


@dataclass(frozen=True)
class EventTerms:
    """An event as the limit reads it, once: its `collateral_return_type`, and each of its
    markets known with its strike and where its fees are found (None: priced at no fee), and
    the floor YES settles at in those whose `settlement_bounds_type` is `floor` (NO is paid
    the rest of $1; None: a floor not given), and the result of each market settled ("yes" or
    "no")."""

    event_ticker: str
    kind: str
    strikes: Mapping[str, MarketStrike | None]
    fees: Callable[[str], FeeModel | None]
    floors: Mapping[str, Decimal | None] = field(default_factory=dict)
    results: Mapping[str, str] = field(default_factory=dict)

    def book(self, view: Callable[[str], PositionView]) -> EventBook:
        """The event's markets with something in them (`view` of each), and always the market
        of the order at hand: the views are read when `worst` asks."""
        return EventBook(self, view)


def event_terms(
    answer: Mapping[str, Any],
    fees: Callable[[str], FeeModel | None],
    markets: Mapping[str, Mapping[str, Any]] | None = None,
) -> EventTerms:
    """From the `GET /events/{event_ticker}` body (its markets at the top level) and the
    markets of the event read already, ticker -> body (one the listing leaves out counts)."""
    event = answer.get("event", {})
    raws = {m["ticker"]: m for m in answer.get("markets", [])} | dict(markets or {})
    terms = {t: MarketTerms.from_market(raw) for t, raw in raws.items()}
    strikes = {t: market_strike(market) for t, market in terms.items()}
    floors = {t: f for t, market in terms.items() if (f := market.settlement_floor) != ZERO}
    results = {t: r for t, raw in raws.items() if (r := raw.get("result")) in ("yes", "no")}
    kind = str(event.get("collateral_return_type") or "")
    return EventTerms(str(event.get("event_ticker", "")), kind, strikes, fees, floors, results)


@dataclass(frozen=True)
class EventBook:
    terms: EventTerms
    view: Callable[[str], PositionView]

    def worst(self, intent: Intent | None = None) -> EventOutcome:
        """The worst outcome of the event's holdings, `intent` resting in its market too."""
        return self.outcomes(intent).worst

    def outcomes(self, intent: Intent | None = None) -> EventOutcomes:
        """Every outcome of the event's holdings, `intent` resting in its market too."""
        return event_outcomes(self.terms.kind, self.legs(intent))

    def legs(self, intent: Intent | None = None) -> list[EventLeg]:
        """The event's holdings, market by market, as the one rule reads them (`intent` resting
        in its market too): each market held, resting or told filled, and each settled one
        whose result rules out outcomes."""
        legs = []
        markets = dict(self.terms.strikes)
        if intent is not None:
            markets.setdefault(intent.ticker, None)  # a market the event's listing left out
        for ticker, strike in markets.items():
            view = self.view(ticker)
            result = self.terms.results.get(ticker)
            if intent is not None and ticker == intent.ticker:
                view = view.after(intent)
            elif not (_held(view) or _rules_out(self.terms.kind, strike, result)):
                continue
            floor = self.terms.floors.get(ticker, ZERO)
            legs.append(_leg(view, strike, self.terms.fees(ticker), floor, result))
        return legs


def _held(view: PositionView) -> bool:
    return bool(view.position or view.resting or view.unbooked)


def _rules_out(kind: str, strike: MarketStrike | None, result: str | None) -> bool:
    """Whether a market settled with `result`, held or not, rules out outcomes of its event:
    one at most YES of (`MECNET`), or a ladder's strike the rule can read (independent markets,
    or a strike unread, say nothing of the others)."""
    if result is None:
        return False
    return kind == MECNET or (kind == DIRECNET and strike is not None and strike.readable)


def _leg(
    view: PositionView,
    strike: MarketStrike | None,
    fees: FeeModel | None,
    floor: Decimal | None,
    result: str | None,
) -> EventLeg:
    """A market's holding: what is held at what it cost, each fill not read yet added at its
    price and the taker fee, and each resting order so too where it loses (`EventLeg.resting`:
    it may fill or not); and its result once settled."""
    yes, no = max(view.position, ZERO), max(-view.position, ZERO)
    leg = EventLeg(view.ticker, yes, no, view.entry_cost, strike, floor, result)
    for filled, orders in ((True, view.unbooked), (False, view.resting)):
        for order in orders:
            bid = order.book_side is BookSide.BID
            price = added_price(order.action, order.price)
            fee = fees.most_fee(order.remaining, price) if fees is not None else ZERO
            add = leg.filled if filled else leg.resting
            leg = add("yes" if bid else "no", order.remaining, price, fee)
    return leg

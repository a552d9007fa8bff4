"""What `decide` is handed: one market at one moment (`MarketSnapshot`), and the book and price
grid helpers every strategy may use (the four built in use these and nothing more).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import msgspec

from kalshi_cli.strategy_api.index import IndexView, MarketTerms
from kalshi_cli.strategy_api.window import MidWindow
from kalshi_cli.vocabulary.decisions import Holding, Intent, PositionView, best_ask, best_bid
from kalshi_cli.vocabulary.event_outcomes import MECNET, EventLeg
from kalshi_cli.vocabulary.models import (
    MAKER_FEE_RATE,
    PRICE_STRUCTURES,
    TAKER_FEE_RATE,
    Orderbook,
    PriceRange,
)
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce

LINEAR_CENT = PRICE_STRUCTURES["linear_cent"]


# --------------------------------------------------------------------------------------------
# What a strategy sees


@dataclass(frozen=True)
class EventMarket:
    """Another market of this market's mutually exclusive event: its book, tick grid, taker
    fee rate and how it settles (`terms`; None: not known)."""

    ticker: str
    book: Orderbook
    price_ranges: tuple[PriceRange, ...] = LINEAR_CENT
    fee_rate: Decimal = TAKER_FEE_RATE
    terms: MarketTerms | None = None


@dataclass(frozen=True)
class EventView:
    """The event of a market the exchange flags `mutually_exclusive` (openapi.yaml `EventData`:
    at most one of its markets settles YES, and none may): the other selected markets of it that
    are open and have a fresh book (`others`, in ticker order), and whether this market and
    `others` are every market the event lists (`complete`). Neither the flag nor the market data
    says that one of the markets must settle YES."""

    event_ticker: str
    others: tuple[EventMarket, ...]
    complete: bool = False


@dataclass(frozen=True)
class EventLimit:
    """A limit the loop holds the market's event to (`max_loss`, dollars at settlement) and what
    its book holds in the event already (`held`, market by market as the one rule reads them,
    vocabulary/event_outcomes.py): the account's limit (`risk.max_event_loss`) over everything
    the account holds and rests there, whoever's; a strategy's own budget over its own part.
    An order is refused that would carry the event's worst case, with `held` counted, past
    `max_loss`. `kind`: the event's `collateral_return_type`, which outcomes the rule reads
    (`MECNET`: at most one market settles YES)."""

    max_loss: Decimal
    held: tuple[EventLeg, ...] = ()
    kind: str = MECNET


class MarketSnapshot(msgspec.Struct, frozen=True):
    """One market at one moment. `mids` is the recent (ts, YES mid) history, oldest first, including
    the current mid (the loop hands a `MidWindow`; any sequence of pairs works). `event` is its
    mutually exclusive event, for a strategy that `uses_events`. `terms` are how the market
    settles; `index` is its reference index now, for a strategy that `reads_index`. `fee_rate`
    and `maker_fee_rate` are the market's own; their defaults (Kalshi's standard rates) are for a
    trader's test. `max_event_loss` is the most the loop lets the market's event lose at
    settlement, in dollars: the tighter of `risk.max_event_loss` and the strategy's own budget's
    (None: neither is set), so a strategy can size what it sends to what the limit lets
    through; `event_limits` are those limits each with what its book holds in the event already
    (for a strategy that `uses_events`; empty: no limit, or the event not known), so what it
    sends can fit beside what is held. A frozen msgspec Struct, built per strategy call
    (`msgspec.structs.replace` makes a changed copy)."""

    ticker: str
    ts: float
    book: Orderbook
    mids: Sequence[tuple[float, Decimal]] = ()
    price_ranges: tuple[PriceRange, ...] = LINEAR_CENT
    fee_rate: Decimal = TAKER_FEE_RATE
    maker_fee_rate: Decimal = MAKER_FEE_RATE
    event: EventView | None = None
    terms: MarketTerms | None = None
    index: IndexView | None = None
    max_event_loss: Decimal | None = None
    event_limits: tuple[EventLimit, ...] = ()

    def mids_since(self, since: float) -> list[Decimal]:
        return self.window(since).values()

    def window(self, since: float) -> MidWindow:
        """The mids with `since <= ts <= self.ts`, with their count and exact sums at hand."""
        return MidWindow.of(self.mids).between(since, self.ts)


# --------------------------------------------------------------------------------------------
# Book and grid helpers shared by the strategies


def close_at_bid(
    snap: MarketSnapshot,
    pos: PositionView | Holding,
    *,
    fair: Decimal,
    reason: str,
    strategy: str,
) -> Intent | None:
    """A reducing IOC sell of `pos` at the best bid for the held side (Kalshi has no market
    orders); None when flat or nobody bids. In a loop the view's `position` is the strategy's
    own part, and the loop cuts any reduce-only order to that part; elsewhere it is what the
    caller's view holds."""
    held = pos.held_side
    bid = None if held is None else best_bid(snap.book, held)
    if held is None or bid is None:
        return None
    return Intent(
        ticker=snap.ticker,
        side=held,
        action=Action.SELL,
        price=bid[0],
        count=pos.contracts,
        model_fair=fair,
        reason=reason,
        strategy=strategy,
        reduce_only=True,
        time_in_force=TimeInForce.IOC,
        fee_rate=snap.fee_rate,
    )


def buy_at_ask(
    snap: MarketSnapshot,
    side: Side,
    *,
    count: Decimal,
    fair: Decimal,
    reason: str,
    strategy: str,
    min_edge: Decimal,
) -> Intent | None:
    """An IOC buy of `side` at its best ask (rounded down to the market's grid), for at most
    `count` contracts or what the ask offers; None when nobody offers, no tick fits, or the
    edge after fees is below `min_edge`."""
    ask = best_ask(snap.book, side)
    price = None if ask is None else snap_to_grid(ask[0], snap.price_ranges, up=False)
    if ask is None or price is None:
        return None
    intent = Intent(
        ticker=snap.ticker,
        side=side,
        action=Action.BUY,
        price=price,
        count=min(count, ask[1]),
        model_fair=fair,
        reason=reason,
        strategy=strategy,
        time_in_force=TimeInForce.IOC,
        fee_rate=snap.fee_rate,
    )
    return intent if intent.edge_after_fees >= min_edge else None


def snap_to_grid(price: Decimal, ranges: tuple[PriceRange, ...], *, up: bool) -> Decimal | None:
    """The nearest valid tick at or below `price` (or at or above, with `up`); None when there
    is none inside the market's range. Buyers round down and sellers up, so a rounded price is
    never worse for us than the one computed."""
    candidates: list[Decimal] = []
    for r in ranges:
        if price < r.start:
            if up:
                candidates.append(r.start)
            continue
        if price > r.end:
            if not up:
                candidates.append(r.end)
            continue
        steps = (price - r.start) // r.step
        below = r.start + steps * r.step
        if below == price or not up:
            candidates.append(below)
        elif below + r.step <= r.end:
            candidates.append(below + r.step)
    if not candidates:
        return None
    return min(candidates) if up else max(candidates)

"""Background participants that move the simulated markets: price paths, a liquidity provider and
noise traders. A path is a pure function of scenario time, and participants trade only through
the exchange's public methods, so a restart picks up where it was. Each keeps at most
`FINISHED_KEPT` finished orders and fills.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Protocol

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import ExchangeError, PlaceRequest
from kalshi_cli.vocabulary.models import PriceRange, price_bounds
from kalshi_cli.vocabulary.units import ONE, BookSide, SelfTradePrevention, TimeInForce


def _ratio(x: float) -> Decimal:
    """A time fraction (never a price) as a Decimal with 4 places, so prices stay Decimal."""
    return Decimal(f"{min(max(x, 0.0), 1.0):.4f}")


class PricePath(Protocol):
    def at(self, t: float) -> Decimal:
        """The fair YES price at scenario time `t` seconds."""


@dataclass(frozen=True)
class FlatPath:
    price: Decimal

    def at(self, t: float) -> Decimal:
        return self.price


@dataclass(frozen=True)
class DriftPath:
    """A slow triangle wave between `low` and `high` over `period` seconds."""

    low: Decimal
    high: Decimal
    period: float

    def at(self, t: float) -> Decimal:
        phase = (t % self.period) / self.period
        up = phase * 2 if phase < 0.5 else 2 - phase * 2
        return self.low + (self.high - self.low) * _ratio(up)


@dataclass(frozen=True)
class SpikePath:
    """Flat at `base`; every `period` seconds, from `start` into the cycle, it jumps to `peak`
    over `rise` seconds, holds for `hold`, and reverts to `base` over `revert`."""

    base: Decimal
    peak: Decimal
    period: float
    start: float
    rise: float
    hold: float
    revert: float

    def at(self, t: float) -> Decimal:
        s = t % self.period - self.start
        if s < 0:
            return self.base
        if s < self.rise:
            share = _ratio(s / self.rise)
        elif s < self.rise + self.hold:
            share = ONE
        elif s < self.rise + self.hold + self.revert:
            share = ONE - _ratio((s - self.rise - self.hold) / self.revert)
        else:
            return self.base
        return self.base + (self.peak - self.base) * share


@dataclass(frozen=True)
class DipWindow:
    """Pushes another path down by `dip` for `duration` seconds of every `period` (from
    `start`): used on the second leg of a two-outcome event so that, for a while, the two YES
    asks add up to less than $1.00."""

    base: PricePath
    dip: Decimal
    period: float
    start: float
    duration: float

    def at(self, t: float) -> Decimal:
        s = t % self.period - self.start
        return self.base.at(t) - (self.dip if 0 <= s < self.duration else 0)


@dataclass(frozen=True)
class ComplementPath:
    """1 - another market's path: the other outcome of a two-outcome event."""

    of: PricePath

    def at(self, t: float) -> Decimal:
        return ONE - self.of.at(t)


def snap(price: Decimal, ranges: tuple[PriceRange, ...], *, up: bool) -> Decimal:
    """The nearest valid tick at or below (or above, `up`) `price`, clamped into the range."""
    low, high = price_bounds(ranges)
    price = min(max(price, low), high)
    for r in ranges:
        if r.start <= price <= r.end:
            steps = ((price - r.start) / r.step).to_integral_value(
                rounding=ROUND_CEILING if up else ROUND_FLOOR
            )
            return min(r.start + steps * r.step, r.end)
    return price


FINISHED_KEPT = 100  # finished orders a participant keeps in the exchange (see above)


@dataclass(frozen=True)
class QuoteLadder:
    """How the liquidity provider quotes one market: `levels` bids below and asks above the
    fair price, `half_spread` from it and `step` apart, `size` contracts each."""

    half_spread: Decimal
    size: Decimal
    levels: int = 2
    step: Decimal = Decimal("0.01")


class LiquidityProvider:
    def __init__(
        self,
        exchange: Exchange,
        account_id: str,
        books: dict[str, tuple[PricePath, QuoteLadder]],
        *,
        origin: float,
        speed: float = 1.0,
        refresh: float = 1.0,
        finished_kept: int = FINISHED_KEPT,
    ) -> None:
        self._exchange = exchange
        self.account_id = account_id
        self.books = books  # the crypto markets add and drop theirs
        self._origin = origin
        self._speed = speed
        self._refresh = refresh
        self._finished_kept = finished_kept
        self._last = -math.inf

    def fair(self, ticker: str, now: float) -> Decimal:
        return self.books[ticker][0].at((now - self._origin) * self._speed)

    def targets(self, ticker: str, now: float) -> dict[tuple[BookSide, Decimal], Decimal]:
        """(book side, YES price) -> size the provider wants resting in `ticker` now."""
        _, quote = self.books[ticker]
        ranges = self._exchange.reference.markets[ticker].price_ranges
        fair = self.fair(ticker, now)
        wanted: dict[tuple[BookSide, Decimal], Decimal] = {}
        for i in range(quote.levels):
            offset = quote.half_spread + quote.step * i
            bid = snap(fair - offset, ranges, up=False)
            ask = snap(fair + offset, ranges, up=True)
            if bid < ask:
                wanted[(BookSide.BID, bid)] = quote.size
                wanted[(BookSide.ASK, ask)] = quote.size
        return wanted

    def __call__(self, now: float) -> None:
        if now - self._last < self._refresh:
            return
        self._last = now
        for ticker in self.books:
            if self._exchange.reference.markets[ticker].status == "open":
                self._requote(ticker, now)
        self._exchange.history.forget_finished_orders(self.account_id, self._finished_kept)

    def _requote(self, ticker: str, now: float) -> None:
        wanted = self.targets(ticker, now)
        for order in self._exchange.accounts.resting_orders(self.account_id, ticker):
            key = (order.book_side, order.price)
            size = wanted.get(key)
            if size is not None and order.remaining_count * 2 >= size:
                del wanted[key]
            else:
                self._exchange.desk.cancel_order(self.account_id, order.order_id)
        # asks first when the path rises (they moved away), bids first when it falls
        for (side, price), size in sorted(wanted.items(), key=lambda kv: kv[0][1], reverse=True):
            try:
                self._exchange.desk.place_order(
                    self.account_id,
                    PlaceRequest(
                        ticker=ticker,
                        book_side=side,
                        price=price,
                        count=size,
                        time_in_force=TimeInForce.GTC,
                        self_trade_prevention=SelfTradePrevention.MAKER,
                    ),
                )
            except ExchangeError:
                continue  # out of cash or the market just closed: quote less, never crash


class NoiseTrader:
    """Every so often (exponential waits around `mean_interval` seconds) takes the best price on
    one side of a random open market with a small immediate-or-cancel order."""

    def __init__(
        self,
        exchange: Exchange,
        account_id: str,
        tickers: list[str],
        *,
        rng: random.Random,
        mean_interval: float,
        max_size: int,
        finished_kept: int = FINISHED_KEPT,
    ) -> None:
        self._exchange = exchange
        self._account_id = account_id
        self._tickers = tickers
        self._rng = rng
        self._mean_interval = mean_interval
        self._max_size = max_size
        self._finished_kept = finished_kept
        self._next: float | None = None

    def __call__(self, now: float) -> None:
        if self._next is None:
            self._next = now + self._rng.expovariate(1 / self._mean_interval)
            return
        if now < self._next:
            return
        self._next = now + self._rng.expovariate(1 / self._mean_interval)
        open_tickers = [
            t for t in self._tickers if self._exchange.reference.markets[t].status == "open"
        ]
        if not open_tickers:
            return
        ticker = self._rng.choice(open_tickers)
        buy_yes = self._rng.random() < 0.5
        best_yes, best_no = self._exchange.engine.best_bids(ticker)
        best_other = best_no if buy_yes else best_yes
        if best_other is None:
            return
        yes_price = ONE - best_other if buy_yes else best_other
        try:
            self._exchange.desk.place_order(
                self._account_id,
                PlaceRequest(
                    ticker=ticker,
                    book_side=BookSide.BID if buy_yes else BookSide.ASK,
                    price=yes_price,
                    count=Decimal(self._rng.randint(1, self._max_size)),
                    time_in_force=TimeInForce.IOC,
                    self_trade_prevention=SelfTradePrevention.TAKER_AT_CROSS,
                ),
            )
        except ExchangeError:
            return  # out of cash: sit this one out
        self._exchange.history.forget_finished_orders(self._account_id, self._finished_kept)
